"""The `vit_gpt2` submission: a ViT encoder + GPT-2 decoder that writes CadQuery programs.

Offline first: pretrained halves come only from local folders or the local Hugging Face cache
(weights.py); when none is found the model is initialised from config at the requested size
and says so. torch/transformers are imported inside methods only (`cadbench list` imports
this module to read its description).

Checkpoint folder (`save` / `load`):
    model/              VisionEncoderDecoderModel.save_pretrained (float16 weights by default)
    box_regressor/      the box regressor (box_regressor.py), when one was trained
    tokenizer.json      + code_tokenizer.json: the tokenizer and its special ids
    vit_gpt2.json       architecture, image preprocessing, output length, token-length
                        distribution, training summary
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cadbench.errors import InputError
from cadbench.submissions import ModelCard, Sampling, Submission

from . import weights

META_FILE = "vit_gpt2.json"
FORMAT_VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoint"
# Options that decide the architecture: a checkpoint's own values win over the caller's.
ARCH_OPTIONS = ("size", "encoder", "decoder", "image_size", "vocab_size", "numbers")
SIZE_DEFAULTS = {  # epochs, learning rate, wall-clock budget of the training loop (0: none)
    "micro": {"epochs": 1, "lr": 1e-3, "max_minutes": 0.0},
    "tiny": {"epochs": 40, "lr": 1e-3, "max_minutes": 30.0},
    "base": {"epochs": 10, "lr": 1e-4, "max_minutes": 0.0},
}


# Of a training budget, left for what surrounds the two stages (data loading, saving).
MARGIN_MIN = 0.25
BOX_VAL_SAMPLES = 500  # val images whose box error the box regressor prints per epoch


def say(msg: str) -> None:
    print(f"vit_gpt2: {msg}", file=sys.stderr, flush=True)


# Not decorated with @register_submission: it is a built-in (BUILTIN_SUBMISSIONS maps
# "vit_gpt2" to submissions.vit_gpt2:VitGpt2Submission, this class re-exported by __init__),
# and the decorator would warn because the class is defined in a submodule.
class VitGpt2Submission(Submission):
    name = "vit_gpt2"
    description = ("ViT encoder + GPT-2 decoder with cross-attention (transformers "
                   "VisionEncoderDecoderModel); offline: local pretrained weights or from "
                   "config, size tiny (CPU) or base; a second small ViT reads the part's box "
                   "and outputs are fitted onto it.")
    dependencies = ("torch", "transformers", "tokenizers")
    needs_training = True
    stochastic = True          # generate_many samples --samples K candidates per image
    default_options: dict[str, Any] = {
        "size": "tiny",            # tiny | base (| micro: tests and smoke runs)
        "encoder": "",             # local folder or cached hub name; "" = size default; none
        "decoder": "",             # idem (base defaults: google/vit-base-patch16-224-in21k, gpt2)
        "require_pretrained": False,  # error instead of from-config init when not found
        "image_size": 0,           # 0 = the size's (or pretrained encoder's) own
        "vocab_size": 0,           # code-bpe vocabulary; 0 = the size's default
        "numbers": "grid",         # grid: one token per number (1/256 grid) | bpe: BPE pieces
        "number_sigma": 1.5,       # Gaussian width of number targets, grid steps (0: plain CE)
        "box_weight": 1.0,         # auxiliary loss: part/body boxes from the encoder (0: off)
        "box_regressor": True,     # train the box regressor after the decoder (box_regressor.py)
        "box_epochs": 20,          # its epochs ...
        "box_minutes": 3.0,        # ... and its share of the training budget (max_minutes)
        "box_fit": True,           # generation: move/scale outputs onto the regressor's box
        "rerank": 8,               # generation: K samples besides the greedy one, one is kept
        "rerank_by": "render",     # render: closest render to the input (render_judge.py) | box
        "render_size": 96,         # px of the render comparison
        "refine_box": True,        # adjust the box so the output's render matches the image
        "number_grammar": True,    # decoding: number tokens only where a literal can stand
        "epochs": 0,               # 0 = the size's default
        "batch_size": 32,          # training and generation batch
        "grad_accum": 1,
        "lr": 0.0,                 # 0 = the size's default
        "max_minutes": 0.0,        # training-loop budget; 0 = size default (tiny 30), <0 = none
        "device": "auto",          # auto | cpu | cuda[:N]
        "threads": 0,              # torch CPU threads; 0 = auto (1 on an overloaded machine)
        "val_samples": 16,         # validation programs run in the sandbox after each epoch
        "checkpoint_dir": "",      # training state for resume; "" = runs/vit_gpt2-<size>-train
        "resume": True,
        "beams": 1,                # 1 = greedy
        "max_new_tokens": 0,       # 0 = from the training split's longest program (+25%)
        "temperature": 0.8,        # sampling, for generate_many (best-of-N)
        "top_p": 0.95,
        "repair": True,            # light syntax repair of outputs (counted separately)
        "fix_arcs": True,          # a degenerate threePointArc becomes a line (counted apart)
        "save_dtype": "float16",   # float16 | float32 weights in saved checkpoints
        "progress": True,
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        from .model import size_spec  # validates `size` early, with a clear message
        size_spec(self.options["size"])
        if self.options["rerank_by"] not in ("render", "box"):
            raise InputError(f"vit_gpt2: rerank_by={self.options['rerank_by']!r}; choose "
                             f"render or box")
        self.model = None
        self.tokenizer = None
        self.image_spec = None
        self.meta: dict[str, Any] = {}
        self._repair_stats = None
        self._device: str | None = None
        self.box = None            # (BoxRegressor, ViewFrame) when trained or loaded
        self._render_judge = None  # render_judge.RenderJudge, started on first use
        # generation counts beyond the repair's: outputs fitted onto the box / not readable,
        # reranked outputs that are not the greedy decode, pools where no candidate ran
        self._gen_stats = {"decoded": 0, "box_fitted": 0, "box_unreadable": 0, "box_refined": 0,
                           "rerank_not_greedy": 0, "rerank_none_ran": 0}

    # -- building --------------------------------------------------------------------------
    def _resolve_half(self, which: str) -> weights.LocalModel | None:
        size = self.options["size"]
        spec = str(self.options[which]).strip()
        if spec.lower() == "none":
            return None
        if not spec:
            if size != "base":
                return None
            spec = weights.DEFAULT_ENCODER if which == "encoder" else weights.DEFAULT_DECODER
        found = weights.resolve(spec, role=which)  # a whole imported model gives its half
        if found is None:
            msg = (f"{which} {spec!r} not found on this machine (looked in "
                   f"{weights.models_dir()} and the Hugging Face cache {weights.hf_hub_cache()}; "
                   f"nothing is downloaded)")
            if self.options["require_pretrained"]:
                raise InputError(msg + "; import it with `cadbench models import DIR --name "
                                 f"{spec}` or drop require_pretrained")
            say(msg + f"; initialising the {which} from config at size {size!r} (random "
                f"weights). To use pretrained weights: `cadbench models import DIR --name {spec}`")
            return None
        say(f"{which}: {found.name} from {found.path} ({found.source}, {found.model_type})")
        return found

    def _device_name(self) -> str:
        if self._device is None:
            import torch

            from .train import pick_device
            torch.set_num_threads(_thread_count(int(self.options["threads"])))
            self._device = pick_device(str(self.options["device"]))
        return self._device

    def _build(self, programs: list[str], state_dir: Path, fingerprint: str) -> None:
        from . import model as M
        from .preprocess import image_spec_for
        from .tokenizer import CodeTokenizer, NumericCodeTokenizer, length_stats
        spec = M.size_spec(self.options["size"])
        enc, dec = self._resolve_half("encoder"), self._resolve_half("decoder")

        saved_tok = state_dir / "tokenizer"
        if self.options["resume"] and _fingerprint_of(state_dir) == fingerprint and \
                (saved_tok / "tokenizer.json").is_file():
            tokenizer = CodeTokenizer.load(saved_tok)
        elif dec is not None and dec.has_tokenizer:
            tokenizer = CodeTokenizer.from_model_folder(Path(dec.path))
        else:
            vocab = int(self.options["vocab_size"]) or spec.vocab_size
            numbers = str(self.options["numbers"])
            if numbers not in ("grid", "bpe"):
                raise InputError(f"vit_gpt2: numbers={numbers!r}; choose grid or bpe")
            kind = NumericCodeTokenizer if numbers == "grid" else CodeTokenizer
            tokenizer = kind.train(programs, vocab_size=vocab)
        stats = length_stats([len(t) for t in tokenizer.encode_batch(programs)])
        say(f"tokenizer {tokenizer.kind} ({tokenizer.vocab_size} tokens): {stats.line()} "
            f"(characters: max {max(len(p) for p in programs)})")

        need = stats.max + 2  # start token + program + end token
        n_positions = max(spec.n_positions, 64 * -(-int(need * 1.25) // 64))
        wanted = int(self.options["image_size"])
        if enc:
            encoder = M.encoder_from_folder(enc.path)
            image_size = int(getattr(encoder.config, "image_size", 0) or spec.image_size)
            if wanted and wanted != image_size:
                say(f"image_size={wanted} ignored: the pretrained encoder takes {image_size} px")
        else:
            image_size = wanted or spec.image_size
            encoder = M.encoder_from_config(replace(spec, image_size=image_size))
        if dec:
            decoder = M.decoder_from_folder(dec.path)
            n_positions = int(getattr(decoder.config, "n_positions", 0) or
                              getattr(decoder.config, "max_position_embeddings", need))
            if need > n_positions:
                say(f"warning: the longest program needs {need} positions, the pretrained "
                    f"decoder has {n_positions}: longer targets are cut")
        else:
            decoder = M.decoder_from_config(spec, tokenizer.vocab_size, n_positions,
                                            tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)
        self.model = M.assemble(encoder, decoder, tokenizer.bos_id, tokenizer.eos_id,
                                tokenizer.pad_id, tokenizer.vocab_size)
        if isinstance(tokenizer, NumericCodeTokenizer):
            import torch
            ids = tokenizer.number_ids
            M.init_number_embeddings(self.model, ids, torch.tensor(
                [float(tokenizer.number_text(i)) for i in ids]))
        self.tokenizer = tokenizer
        self.image_spec = image_spec_for(image_size, enc.path if enc else None)
        max_new = int(self.options["max_new_tokens"]) or int(stats.max * 1.25) + 8
        self.meta = {
            "format_version": FORMAT_VERSION, "size": self.options["size"],
            "encoder": enc.to_dict() if enc else None, "decoder": dec.to_dict() if dec else None,
            "image": self.image_spec.to_dict(), "n_positions": n_positions,
            "max_new_tokens": min(max_new, n_positions - 1),
            "tokenizer": tokenizer.describe(), "token_lengths": stats.to_dict(),
            "num_parameters": M.count_parameters(self.model),
        }
        say(f"model: {self.meta['num_parameters']:,} parameters, {image_size} px input, "
            f"outputs up to {self.meta['max_new_tokens']} tokens")

    # -- training --------------------------------------------------------------------------
    def fit(self, train, val=None, *, epochs=None, seed=0):
        from .evaluate import QuickValidator, safe_score
        from .geometry_targets import targets_for
        from .preprocess import resize_images
        from .train import TrainConfig, train as train_loop
        if not train:
            raise InputError("vit_gpt2: empty training set")
        bad = [s.id for s in train if not s.code or not s.code.strip()]
        if bad:
            raise InputError(f"vit_gpt2: training sample(s) without a program: {bad[:5]}")
        started = time.monotonic()
        size = self.options["size"]
        epochs = int(epochs or self.options["epochs"] or SIZE_DEFAULTS[size]["epochs"])
        lr = float(self.options["lr"] or SIZE_DEFAULTS[size]["lr"])
        budget = float(self.options["max_minutes"] or SIZE_DEFAULTS[size]["max_minutes"])
        budget = max(budget, 0.0)
        # The budget covers both stages: the decoder gets it less `box_minutes`, the box
        # regressor what the decoder left (so a run that ends by time stays inside it).
        with_box = bool(self.options["box_regressor"])
        box_minutes = float(self.options["box_minutes"]) if with_box else 0.0
        decoder_budget = budget
        if budget and with_box:
            if box_minutes >= budget:
                raise InputError(f"vit_gpt2: box_minutes={box_minutes:g} leaves nothing of the "
                                 f"{budget:g} min budget for the decoder")
            decoder_budget = budget - box_minutes
        device = self._device_name()
        state_dir = Path(self.options["checkpoint_dir"] or f"runs/vit_gpt2-{size}-train")
        fingerprint = self._fingerprint(train, epochs, lr, seed)
        if self.options["resume"] and (state_dir / "fingerprint.txt").is_file() and \
                _fingerprint_of(state_dir) != fingerprint:
            say(f"{state_dir} holds a training state for other data or options: starting "
                f"afresh (it is replaced)")
            (state_dir / "train_state.pt").unlink(missing_ok=True)

        import torch
        torch.manual_seed(seed)
        programs = [s.code for s in train]
        self._build(programs, state_dir, fingerprint)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(state_dir / "tokenizer")
        (state_dir / "fingerprint.txt").write_text(fingerprint + "\n")

        say(f"preparing {len(train)} images at {self.image_spec.size} px")
        images = resize_images(train, self.image_spec.size)
        tokens = self.tokenizer.encode_batch(programs)

        validate = None
        val_set = list(val or [])[: int(self.options["val_samples"])]
        validator = QuickValidator()
        if val_set:
            val_images = resize_images(val_set, self.image_spec.size)

            def validate() -> dict:
                preds = self._generate_texts(val_images, progress=False)
                return safe_score(validator, [p[0] for p in preds], [s.code for s in val_set])

        cfg = TrainConfig(epochs=epochs, batch_size=int(self.options["batch_size"]),
                          grad_accum=int(self.options["grad_accum"]), lr=lr,
                          warmup_steps=min(200, max(10, epochs * len(train) //
                                                    int(self.options["batch_size"]) // 20)),
                          max_minutes=decoder_budget, seed=seed,
                          device=device, checkpoint_dir=state_dir,
                          resume=bool(self.options["resume"]),
                          progress=bool(self.options["progress"]),
                          number_sigma=float(self.options["number_sigma"]),
                          box_weight=float(self.options["box_weight"]))
        say(f"training on {device}: {len(train)} samples, {epochs} epochs, batch "
            f"{cfg.batch_size} x {cfg.grad_accum}, lr {lr:g}"
            + (f", budget {cfg.max_minutes:g} min" if cfg.max_minutes else "")
            + f"; state in {state_dir}")
        try:
            summary = train_loop(self.model, images, tokens, self.tokenizer.eos_id,
                                 self.meta["n_positions"] - 1, self.image_spec, cfg, validate,
                                 number_ids=getattr(self.tokenizer, "number_ids", None),
                                 geometry=targets_for(programs) if cfg.box_weight > 0 else None)
        finally:
            validator.close()
        self.meta["training"] = {**summary.to_dict(), "n_train": len(train),
                                 "epochs_planned": epochs, "lr": lr, "seed": seed,
                                 "device": device}
        loss = "n/a" if summary.final_loss is None else f"{summary.final_loss:.4f}"
        say(f"trained {summary.epochs_done:.2f} epochs in {summary.seconds / 60:.1f} min "
            f"(stopped by {summary.stopped_by}), final loss {loss}")
        if with_box:
            box_budget = 0.0  # no budget: box_epochs alone
            if budget:  # summary.seconds includes the time before a resume
                spent = max(summary.seconds, time.monotonic() - started) / 60
                box_budget = max(min(box_minutes, budget - spent - MARGIN_MIN), 0.01)
            self._fit_box_regressor(images, programs, list(val or []), box_budget, seed)

    def _fit_box_regressor(self, images, programs: list[str], val: list, minutes: float,
                           seed: int) -> None:
        """Second stage: the box regressor, on the training programs' boxes (box_regressor.py)."""
        from . import box_regressor as B
        from .preprocess import resize_images
        lo, hi, ok = B.program_boxes(programs)
        if not ok.any():
            raise InputError("vit_gpt2: no training program is readable by cadbench.program, "
                             "so there are no boxes to train the box regressor on; pass "
                             "--opt box_regressor=false")
        frame = B.frame_for(lo[ok], hi[ok])
        val_pair = None
        val_with_images = [s for s in val[:BOX_VAL_SAMPLES] if s.image is not None]
        if val_with_images:
            vlo, vhi, vok = B.program_boxes([s.code for s in val_with_images])
            if vok.any():
                kept = [s for s, k in zip(val_with_images, vok) if k]
                val_pair = (resize_images(kept, self.image_spec.size),
                            frame.observables(vlo[vok], vhi[vok]))
        cfg = B.BoxTrainConfig(epochs=int(self.options["box_epochs"]), max_minutes=minutes,
                               batch_size=int(self.options["batch_size"]), seed=seed,
                               device=self._device_name(),
                               progress=bool(self.options["progress"]))
        say(f"box regressor: {int(ok.sum())} boxes, {cfg.epochs} epochs"
            + (f", budget {minutes:.2f} min" if minutes else "")
            + f"; view {tuple(round(v, 3) for v in frame.view)}, cube +-{frame.extent:g}")
        regressor = B.new_regressor(self.model.encoder)
        summary = B.train_regressor(regressor, images, frame.observables(lo, hi), ok,
                                    self.image_spec, cfg, val_pair, say=say)
        self.box = (regressor, frame)
        self.meta["box_regressor"] = {**summary.to_dict(), "frame": frame.to_dict(),
                                      "n_boxes": int(ok.sum())}
        say(f"box regressor: {summary.epochs_done} epochs in {summary.seconds / 60:.1f} min"
            + (f", val MAE {summary.val_mae}" if summary.val_mae else ""))

    def _fingerprint(self, train, epochs: int, lr: float, seed: int) -> str:
        keys = {k: self.options[k] for k in (*ARCH_OPTIONS, "batch_size", "grad_accum",
                                             "number_sigma", "box_weight")}
        blob = json.dumps({"ids": [s.id for s in train], "epochs": epochs, "lr": lr,
                           "seed": seed, **keys}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()

    # -- generation ------------------------------------------------------------------------
    def _decode_config(self, **kw):
        from .decode import DecodeConfig
        base = dict(max_new_tokens=int(self.options["max_new_tokens"] or
                                       self.meta["max_new_tokens"]),
                    beams=int(self.options["beams"]), batch_size=int(self.options["batch_size"]),
                    repair=bool(self.options["repair"]),
                    number_grammar=bool(self.options["number_grammar"]),
                    fix_arcs=bool(self.options["fix_arcs"]),
                    temperature=float(self.options["temperature"]),
                    top_p=float(self.options["top_p"]))
        base.update(kw)
        return DecodeConfig(**base)

    def _generate_texts(self, images, progress: bool, seed: int | None = None, **kw):
        from .decode import generate_texts
        from .repair import RepairStats
        if self.model is None:
            raise InputError("vit_gpt2: no model: train it (`cadbench train --model vit_gpt2`)"
                             " or load a checkpoint")
        if self._repair_stats is None:
            self._repair_stats = RepairStats()
        return generate_texts(self.model, self.tokenizer, images, self.image_spec,
                              self._decode_config(**kw), self._device_name(),
                              self._repair_stats, seed=seed, progress=progress)

    def _boxes(self, images) -> list | None:
        """The regressor's (lo, hi) box per image, None without a regressor or with box_fit off."""
        if self.box is None or not self.options["box_fit"]:
            return None
        from . import box_regressor as B
        regressor, frame = self.box
        observables = B.predict(regressor, images, self.image_spec, self._device_name())
        return [frame.box(obs) for obs in observables]

    def _fit(self, code: str, box) -> tuple[str, bool]:
        """(`code` moved and scaled onto `box` (box_fit.py), True), or (code as generated,
        False) when cadbench.program cannot read it or there is no box."""
        if box is None:
            return code, False
        from .box_fit import fit_code
        fitted = fit_code(code, *box)
        return (code, False) if fitted is None else (fitted, True)

    def _judge(self):
        if self._render_judge is None:
            from .render_judge import RenderJudge
            self._render_judge = RenderJudge(size=int(self.options["render_size"]))
        return self._render_judge

    def _choose(self, pool: list[str], box, image) -> tuple[int, object]:
        """(index of the candidate to keep, its mesh when it was run): by render distance
        (render_judge.py) or by the text-only rule (rerank.py)."""
        from .rerank import pick
        if self.options["rerank_by"] == "render":
            judged = self._judge().judge(pool, image)
            best = int(np.argmin([d for d, _ in judged]))
            if judged[best][1] is not None:
                return best, judged[best][1]
            self._gen_stats["rerank_none_ran"] += 1   # then the text-only rule decides
        return pick(pool, *(box or (None, None))), None

    def _refine(self, code: str, mesh, box, image) -> str:
        """`code` (fitted onto `box`) fitted again onto the box that makes its render match
        the image best (render_judge.RenderJudge.refine; the depth by the regressor's rule)."""
        from .box_fit import fit_code
        judge = self._judge()
        if mesh is None:
            [(_, mesh)] = judge.judge([code], image)
            if mesh is None:
                return code
        frame = self.box[1]
        basis = frame.basis()
        sizes, centre, before, after = judge.refine(mesh, box[0], box[1], image, basis)
        if not after < before:
            return code
        refit = fit_code(code, *frame.box(np.array([*sizes, centre @ basis[0],
                                                    centre @ basis[1]])))
        if refit is None:
            return code
        self._gen_stats["box_refined"] += 1
        return refit

    def generate(self, samples):
        """Greedy decoding (or beam search); with `rerank=K`, K samples more per image and
        one is kept (`rerank_by`); every candidate is first fitted onto the regressor's box."""
        return self._generate_one(samples, Sampling())

    def _generate_one(self, samples, sampling: Sampling) -> list[str]:
        from .preprocess import resize_images
        images = resize_images(samples, self.image_spec.size) if samples else []
        if not len(images):
            return []
        pools = self._generate_texts(images, progress=False)
        k = int(self.options["rerank"])
        if k > 0:
            sampled = self._sample_each(samples, images, sampling, k)
            pools = [first + more for first, more in zip(pools, sampled)]
        self._gen_stats["decoded"] += sum(len(pool) for pool in pools)
        boxes = self._boxes(images) or [None] * len(pools)
        out = []
        for sample, pool, box in zip(samples, pools, boxes):
            fitted = [self._fit(code, box) for code in pool]
            best, mesh = 0, None
            if len(pool) > 1:
                best, mesh = self._choose([code for code, _ in fitted], box, sample.image)
                self._gen_stats["rerank_not_greedy"] += int(best != 0)
            code, was_fitted = fitted[best]
            if box is not None:
                self._gen_stats["box_fitted" if was_fitted else "box_unreadable"] += 1
                if was_fitted and self.options["refine_box"]:
                    code = self._refine(code, mesh, box, sample.image)
            out.append(code)
        return out

    def _sample_each(self, samples, images, sampling: Sampling, n: int) -> list[list[str]]:
        """n sampled programs per image, each image seeded from the run seed and its own id
        alone (`sampling.seed_for`): the batch it shares, and what a resumed run has left to
        do, change none of them. --temperature/--top-p override the options."""
        kw: dict[str, Any] = {"sample": True, "num_return": n, "beams": 1}
        if sampling.temperature is not None:
            kw["temperature"] = float(sampling.temperature)
        if sampling.top_p is not None:
            kw["top_p"] = float(sampling.top_p)
        return [self._generate_texts(images[i:i + 1], progress=False,
                                     seed=sampling.seed_for(smp.id), **kw)[0]
                for i, smp in enumerate(samples)]

    def generate_many(self, samples, sampling: Sampling):
        """sampling.k candidates per image: k independent samples (temperature, top-p), each
        image seeded by `sampling.seed_for(id)`, each fitted onto the regressor's box; k = 1
        is `generate` (greedy + rerank) with the rerank samples seeded the same way."""
        if sampling.k == 1:
            return [[c] for c in self._generate_one(samples, sampling)]
        from .preprocess import resize_images
        images = resize_images(samples, self.image_spec.size)
        texts = self._sample_each(samples, images, sampling, sampling.k)
        boxes = self._boxes(images) or [None] * len(texts)
        return [[self._fit(c, box)[0] for c in codes] for codes, box in zip(texts, boxes)]

    # -- checkpoints -----------------------------------------------------------------------
    @classmethod
    def default_checkpoint(cls) -> Path | None:
        return CHECKPOINT_DIR

    def save(self, dir) -> None:
        if self.model is None:
            raise InputError("vit_gpt2: nothing to save: the model is not trained or loaded")
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        from .model import quiet_transformers, state_for_saving
        state = state_for_saving(self.model, str(self.options["save_dtype"]))
        with quiet_transformers():
            self.model.save_pretrained(str(dir / "model"), state_dict=state)
        self.tokenizer.save(dir)
        meta = {**self.meta, "options": {k: self.options[k] for k in ARCH_OPTIONS},
                "saved_dtype": self.options["save_dtype"]}
        (dir / META_FILE).write_text(json.dumps(meta, indent=1, default=str) + "\n")
        if self.box is not None:
            from . import box_regressor as B
            regressor, frame = self.box
            B.save(regressor, frame, dir, dtype=str(self.options["save_dtype"]))

    @classmethod
    def load(cls, dir, **options) -> "VitGpt2Submission":
        from .model import load_saved
        from .preprocess import ImageSpec
        from .tokenizer import CodeTokenizer
        dir = Path(dir)
        meta_path = dir / META_FILE
        if not meta_path.is_file():
            raise InputError(f"{dir}: not a vit_gpt2 checkpoint (no {META_FILE}); train one "
                             f"with `cadbench train --model vit_gpt2 --out {dir}`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{meta_path}: format_version {meta.get('format_version')!r}, "
                             f"this code reads {FORMAT_VERSION}")
        saved = meta.get("options", {})
        for key in ARCH_OPTIONS:
            if key in options and str(options[key]) != str(saved.get(key)):
                raise InputError(f"{dir}: checkpoint has {key}={saved.get(key)!r}, but "
                                 f"{key}={options[key]!r} was asked; train that model or pass "
                                 f"another --checkpoint")
        sub = cls(**{**{k: v for k, v in saved.items() if k in cls.default_options}, **options})
        sub.meta = meta
        sub.tokenizer = CodeTokenizer.load(dir)
        sub.image_spec = ImageSpec.from_dict(meta["image"])
        sub.model = load_saved(dir / "model", sub._device_name())
        from . import box_regressor as B
        sub.box = B.load(dir, sub._device_name())  # None for a checkpoint without one
        return sub

    # -- description -----------------------------------------------------------------------
    def num_parameters(self) -> int:
        """The encoder-decoder's parameters plus the box regressor's."""
        if self.model is None:
            return int(self.meta.get("num_parameters", 0))
        n = sum(p.numel() for p in self.model.parameters())
        if self.box is not None:
            n += sum(p.numel() for p in self.box[0].parameters())
        return n

    def training_seconds(self) -> float | None:
        """Both stages, with the time before a resume: the decoder's loop and the box
        regressor's (what surrounds them, such as preparing images, is not counted)."""
        if "training" not in self.meta:
            return None
        return float(self.meta["training"].get("seconds", 0.0)) + float(
            self.meta.get("box_regressor", {}).get("seconds", 0.0))

    def model_card(self) -> ModelCard:
        """What this checkpoint is: its size, whether its halves were pretrained, and the
        test-time search its options switch on (the row name alone suggests ViT-B + GPT-2)."""
        size = self.meta.get("size") or self.options.get("size")
        halves = [self.meta.get(h) for h in ("encoder", "decoder")]
        pretrained = ("from scratch (both halves from config)" if not any(halves) else
                      "pretrained: " + ", ".join(str((h or {}).get("name", h)) for h in halves
                                                 if h))
        n = int(self.meta.get("num_parameters") or 0)
        n_box = self.num_parameters() - n if self.box is not None else 0
        arch = (f"ViT encoder + GPT-2 decoder, size {size} ({n / 1e6:.1f}M parameters)"
                + (f", plus a {n_box / 1e6:.1f}M ViT box regressor" if n_box > 0 else ""))
        k = int(self.options["rerank"])
        if k > 0:
            search = (f"greedy + {k} sampled programs per image, each executed in the sandbox "
                      f"and ranked by {'its render against the image' if self.options['rerank_by'] == 'render' else 'a text rule'}")
            if self.options["refine_box"] and self.options["rerank_by"] == "render":
                search += "; the kept one's box refined by render"
        else:
            search = "none (greedy decoding)"
        return ModelCard(arch, pretrained=pretrained,
                         training_data="synth train (5,000 programs), 30-minute CPU budget",
                         test_time_search=search)

    def compute_used(self) -> dict[str, float]:
        """Programs executed to choose an answer (render judge), and decoder calls."""
        out: dict[str, float] = {"decoded_programs": float(self._gen_stats.get("decoded", 0))}
        if self._render_judge is not None:
            out["candidates_executed"] = float(self._render_judge.runs)
        return out

    def metadata(self) -> dict[str, Any]:
        out = super().metadata()
        out["architecture"] = {k: self.meta.get(k) for k in (
            "size", "encoder", "decoder", "image", "n_positions", "max_new_tokens",
            "tokenizer", "token_lengths")}
        if "training" in self.meta:
            out["training"] = {k: v for k, v in self.meta["training"].items() if k != "history"}
        if "box_regressor" in self.meta:
            out["box_regressor"] = self.meta["box_regressor"]
        if self._repair_stats is not None:
            out["generation"] = self._repair_stats.to_dict()
            out["generation"].update(self._gen_stats)
            if self._render_judge is not None:
                out["generation"]["render_runs"] = self._render_judge.runs
                out["generation"]["render_failed"] = self._render_judge.failed
        return out


def _fingerprint_of(state_dir: Path) -> str | None:
    p = Path(state_dir) / "fingerprint.txt"
    return p.read_text().strip() if p.is_file() else None


def _thread_count(requested: int) -> int:
    """CPU threads for torch. Auto: every core, but 1 when the machine is already busier than
    its core count: measured on the shared 2-core machine at load 10, one thread trained 4x
    faster than two (two threads spin-wait on each other while other processes hold a core)."""
    import os
    if requested > 0:
        return requested
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return 1 if load > cores else cores
