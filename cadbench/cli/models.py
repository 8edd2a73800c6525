"""`cadbench models`: check and import pretrained model folders, with no network.

    cadbench models list                 what is on this machine (imported + Hugging Face cache)
    cadbench models import DIR [--name N] [--link]
                                         copy a Hugging Face-format folder so that
                                         `--opt encoder=N` / `--opt decoder=N` (vit_gpt2)
                                         or `--model hf --opt model=N` finds it; a whole
                                         VisionEncoderDecoder is also split into N/encoder
                                         and N/decoder
"""

from __future__ import annotations


def register(subparsers) -> None:
    import argparse

    p = subparsers.add_parser("models", help="list or import local pretrained model folders "
                              "(offline; used by vit_gpt2 and hf)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = sub.add_parser("list", help="model folders found on this machine")
    ls.add_argument("--json", action="store_true", help="print JSON rows")
    ls.set_defaults(handler=handle_list)
    imp = sub.add_parser("import", help="import a Hugging Face-format model folder")
    imp.add_argument("dir", metavar="DIR", help="folder with config.json and model weights")
    imp.add_argument("--name", default=None,
                     help="name to find it by (default: the folder's name), e.g. gpt2 or "
                          "google/vit-base-patch16-224-in21k")
    imp.add_argument("--link", action="store_true", help="symlink instead of copying")
    imp.set_defaults(handler=handle_import)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def handle_list(args) -> int:
    import json

    from submissions.vit_gpt2 import weights
    rows = weights.list_models()
    if args.json:
        for m in rows:
            print(json.dumps(m.to_dict()))
        return 0
    from tabulate import tabulate
    print(f"imported models: {weights.models_dir()}")
    print(f"Hugging Face cache: {weights.hf_hub_cache()} (read only; nothing is downloaded)")
    if rows:
        print(tabulate([(m.name, m.model_type, m.source, "yes" if m.has_weights else "NO",
                         "yes" if m.has_tokenizer else "no", m.path) for m in rows],
                       headers=["name", "type", "source", "weights", "tokenizer", "path"]))
    else:
        print("no model folders found")
    for role, name in (("encoder", weights.DEFAULT_ENCODER), ("decoder", weights.DEFAULT_DECODER)):
        found = weights.resolve(name)
        print(f"vit_gpt2 size=base default {role} {name}: "
              + (f"found ({found.path})" if found else
                 "missing: size=base will start from random weights; "
                 f"import it with `cadbench models import DIR --name {name}`"))
    return 0


def handle_import(args) -> int:
    from pathlib import Path

    from submissions.vit_gpt2 import weights
    m = weights.import_model(Path(args.dir), name=args.name, link=args.link)
    print(f"imported {m.name} ({m.model_type}, tokenizer: {'yes' if m.has_tokenizer else 'no'})"
          f" -> {m.path}")
    halves = weights.imported_halves(m.name) if m.model_type == weights.VED_TYPE else {}
    for half in halves.values():
        print(f"  split: {half.name} ({half.model_type}) -> {half.path}")
    if halves:
        print(f"use it with: --model hf --opt model={m.name}  or  vit_gpt2's "
              f"--opt encoder={m.name}/encoder --opt decoder={m.name}/decoder")
    else:
        print(f"use it with: --opt encoder={m.name}  or  --opt decoder={m.name}  (an "
              f"image-to-text model: --model hf --opt model={m.name})")
    return 0
