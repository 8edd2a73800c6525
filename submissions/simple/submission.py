"""`simple`: the small CNN + MLP submission (see docs/simple.md).

A 64x64 image goes through a small CNN to a 128-D feature; an MLP maps it to one distribution
per position of a fixed 56-token sequence (tokens.py), which the grammar-aware detokenizer
turns into a GenCAD-Code program that always runs. torch is imported only inside methods.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cadbench.errors import InputError
from cadbench.submissions import ModelCard, Submission, register_submission

WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


@register_submission
class SimpleSubmission(Submission):
    name = "simple"
    description = ("Small CNN + MLP: 64x64 image -> a fixed 56-token program sketch (bodies, "
                   "planes, boxes, shapes, holes), decoded to always-valid GenCAD-Code.")
    dependencies = ("torch",)
    needs_training = True
    default_options = {"batch_size": 256, "epochs": 20, "lr": 2e-3, "threads": 2,
                       "val_samples": 16, "grid": 8}
    card = ModelCard("CNN (64x64 input) + MLP heads over a fixed 56-token program sketch",
                     training_data="synth train (5,000 programs), 20 epochs")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.model = None
        self.history: list[dict] = []
        self.repair_counts: dict[str, int] = {}   # detokenizer repairs over all generate calls
        self.programs_generated = 0
        self.programs_repaired = 0

    # -- training ----------------------------------------------------------------------------
    def fit(self, train, val=None, *, epochs=None, seed=0):
        from .train import TrainConfig, fit_model

        cfg = TrainConfig(epochs=int(epochs if epochs is not None else self.options["epochs"]),
                          lr=float(self.options["lr"]), threads=int(self.options["threads"]),
                          val_samples=int(self.options["val_samples"]), seed=int(seed),
                          grid=int(self.options["grid"]))
        self.model, self.history = fit_model(train, val, cfg)

    # -- generation --------------------------------------------------------------------------
    def _require_model(self):
        if self.model is None:
            raise InputError("simple: no trained model; run `cadbench train --model simple` "
                             "or load a checkpoint")
        return self.model

    def predict_tokens(self, samples):
        """Samples -> (N, SEQ_LEN) token ids."""
        import numpy as np
        import torch

        from .model import images_to_tensor
        from .train import logits_to_ids

        model = self._require_model()
        missing = [s.id for s in samples if s.image is None]
        if missing:
            raise InputError(f"simple: sample {missing[0]} has no image "
                             f"({len(missing)} without images)")
        torch.set_num_threads(int(self.options["threads"]))
        out = []
        with torch.inference_mode():
            for i in range(0, len(samples), 256):
                x = images_to_tensor([s.image for s in samples[i:i + 256]])
                out.append(logits_to_ids(model(x)))
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.int64)

    def generate(self, samples):
        from .tokens import decode_tokens

        codes = []
        for ids in self.predict_tokens(samples):
            code, repairs = decode_tokens(ids)
            self.programs_generated += 1
            if repairs:
                self.programs_repaired += 1
                for k, v in repairs.counts.items():
                    self.repair_counts[k] = self.repair_counts.get(k, 0) + v
            codes.append(code)
        return codes

    # -- checkpoints -------------------------------------------------------------------------
    def save(self, dir: Path) -> None:
        import torch

        model = self._require_model()
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        # float16 halves the committed file; weights are cast back to float32 on load
        state = {k: (v.half() if v.is_floating_point() else v)
                 for k, v in model.state_dict().items()}
        torch.save(state, dir / WEIGHTS_FILE)
        info = {"format_version": FORMAT_VERSION, "n_logits": model.n_logits,
                "num_parameters": self.num_parameters(), "grid": model.grid,
                "options": self.options,
                "history": self.history}
        (dir / CONFIG_FILE).write_text(json.dumps(info, indent=2) + "\n")

    @classmethod
    def load(cls, dir: Path, **options: Any) -> "SimpleSubmission":
        import torch

        from .model import SimpleCadNet
        from .train import n_logits

        dir = Path(dir)
        cfg_path, w_path = dir / CONFIG_FILE, dir / WEIGHTS_FILE
        if not cfg_path.is_file() or not w_path.is_file():
            raise InputError(f"{dir}: not a simple checkpoint (needs {CONFIG_FILE} and "
                             f"{WEIGHTS_FILE})")
        info = json.loads(cfg_path.read_text())
        if info.get("format_version") != FORMAT_VERSION or info.get("n_logits") != n_logits():
            raise InputError(f"{cfg_path}: checkpoint format {info.get('format_version')} / "
                             f"{info.get('n_logits')} logits does not match this code "
                             f"({FORMAT_VERSION} / {n_logits()}); retrain with "
                             f"`cadbench train --model simple`")
        sub = cls(**options)
        grid = int(info.get("grid", 4))  # the first checkpoints pooled to 4 x 4
        sub.options["grid"] = grid
        model = SimpleCadNet(n_logits(), grid=grid)
        state = torch.load(w_path, map_location="cpu", weights_only=True)
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v)
                               for k, v in state.items()})
        model.eval()
        sub.model = model
        sub.history = info.get("history", [])
        return sub

    @classmethod
    def default_checkpoint(cls) -> Path:
        return Path(__file__).resolve().parent / "checkpoint"

    # -- description -------------------------------------------------------------------------
    def num_parameters(self) -> int:
        from .model import SimpleCadNet, count_parameters
        from .train import n_logits

        if self.model is not None:
            return count_parameters(self.model)
        # before training: the count of the architecture the options describe
        return count_parameters(SimpleCadNet(n_logits(), grid=int(self.options["grid"])))

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["programs_generated"] = self.programs_generated
        meta["programs_repaired"] = self.programs_repaired
        meta["repairs"] = dict(self.repair_counts)
        return meta
