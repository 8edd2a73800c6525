"""One training step (forward + backward + AdamW update) of vit_gpt2 at size `base` on CPU.

`base` has the shapes of google/vit-base-patch16-224-in21k + gpt2 (~239M parameters with the
cross-attention layers). When both are available locally (`cadbench models list`), they are
loaded (offline); otherwise the model is built from config at those shapes. The target
sequence is `--tokens` GPT-2 tokens long (default 320: a typical synth program of ~720
characters is ~300 GPT-2 tokens). Prints the time of each phase and the peak memory; the
machine may be shared, so the load average is printed too.

    nice -n 10 python benchmarks/bench_vit_base_step.py [--batch 1] [--tokens 320] [--steps 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=320)
    ap.add_argument("--steps", type=int, default=2, help="steps timed (the first is warm-up)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args()

    from submissions.vit_gpt2 import weights
    weights.enforce_offline()
    import torch

    from submissions.vit_gpt2 import model as M
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores), "
          f"torch threads {torch.get_num_threads()}")
    spec = M.SIZES["base"]
    t0 = time.perf_counter()
    enc, dec = weights.resolve(weights.DEFAULT_ENCODER), weights.resolve(weights.DEFAULT_DECODER)
    encoder = M.encoder_from_folder(enc.path) if enc else M.encoder_from_config(spec)
    decoder = (M.decoder_from_folder(dec.path) if dec else
               M.decoder_from_config(spec, spec.vocab_size, spec.n_positions, 50256, 50256, 50256))
    model = M.assemble(encoder, decoder, 50256, 50256, 50256, spec.vocab_size).train()
    built = time.perf_counter() - t0
    n = M.count_parameters(model)
    print(f"built base ({'pretrained' if enc else 'from config'} encoder, "
          f"{'pretrained' if dec else 'from config'} decoder): {n / 1e6:.1f}M parameters "
          f"in {built:.1f} s")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    g = torch.Generator().manual_seed(0)
    px = torch.randn(args.batch, 3, spec.image_size, spec.image_size, generator=g)
    labels = torch.randint(0, spec.vocab_size, (args.batch, args.tokens), generator=g)
    mask = torch.ones_like(labels)
    for step in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = model(pixel_values=px, labels=labels, decoder_attention_mask=mask).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        assert torch.isfinite(loss), "non-finite loss"
        print(f"step {step + 1}{' (warm-up)' if step == 0 and args.steps > 1 else ''}: "
              f"loss {loss.item():.3f}, forward {t1 - t0:.2f} s, backward {t2 - t1:.2f} s, "
              f"update {t3 - t2:.2f} s, total {t3 - t0:.2f} s wall, "
              f"{time.process_time() - c0:.2f} s CPU "
              f"(batch {args.batch} x {args.tokens} tokens, {spec.image_size} px)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak_mb:.0f} MB; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
