"""The box regressor: a second small ViT that reads a part's bounding box off its image.

Why: IoU is measured in the dataset frame, so a program whose shape is right but sits 0.1
off, or is 20% too big, scores low. The decoder writes shapes better than it writes absolute
numbers (on synth test its pose-invariant IoU is near retrieval's, its frame IoU far below),
so after decoding, `box_fit.fit_to_box` moves and scales the program onto this model's box.

What one view shows: the synth images are orthographic renders along one direction (the
renderer's `iso` view). Sliding a part along that direction changes no pixel, so a box has
only five observable numbers: its three side lengths and its centre's two screen
coordinates (right, up). The regressor predicts those five. The sixth, the centre's depth
along the view, is synth v2's convention (docs/datasets.md): every part's box centre c lies
on the plane D . c = 0 through the origin, D the view direction, so the depth is 0. (v1
placed parts at random depths; the rule was then the middle of the depths that keep the box
in the cube, and even the true programs scored IoU 0.646 that way.) The frame is not learned
from images: `ViewFrame` records the view and the cube, measured on the training programs.

The ViT is the trained encoder's architecture, initialised from its weights (it already
tells parts apart), with an MLP over all its patch tokens (no pooling: where the part is
in the image is the answer). It is trained after the decoder, on the training programs'
boxes from `cadbench.program` (no CAD kernel), inside the same time budget.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cadbench.program import from_code
from cadbench.render import camera_basis

BOX_DIR = "box_regressor"      # inside a checkpoint folder
N_OBSERVABLES = 5              # sizes x, y, z; centre right, up
LOSS_SCALE = 4.0               # smooth-L1 on errors x 4: its quadratic zone is +-0.25 units
MIN_SIDE = 0.01                # a predicted side is at least this long


@dataclass(frozen=True)
class ViewFrame:
    """The camera direction of the training images and the cube the parts lie in (`extent`:
    v1's depth rule needed it; kept so checkpoints read and write the same)."""
    view: tuple[float, float, float]
    extent: float

    def basis(self) -> np.ndarray:
        """(3, 3) rows: screen right, screen up, towards the viewer."""
        return camera_basis(self.view)

    def observables(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """(n, 5): the sides and the centre's screen coordinates of boxes (n, 3), (n, 3)."""
        b = self.basis()
        centre = (lo + hi) / 2
        return np.concatenate([hi - lo, centre @ b[0][:, None], centre @ b[1][:, None]],
                              axis=1).astype(np.float32)

    def box(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The box of five observables, its centre at depth 0 along the view (synth v2's
        convention: D . c = 0). Screen right and up are orthogonal to D, so the centre is
        their combination alone; no retraining: the observables are unchanged."""
        b = self.basis()
        half = np.maximum(np.asarray(obs[:3], dtype=np.float64), MIN_SIDE) / 2
        centre = float(obs[3]) * b[0] + float(obs[4]) * b[1]
        return centre - half, centre + half

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ViewFrame":
        return cls(view=tuple(float(x) for x in d["view"]), extent=float(d["extent"]))


def program_boxes(programs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, ok) of the programs' boxes; ok is False for a program the parser cannot read."""
    lo = np.zeros((len(programs), 3))
    hi = np.zeros((len(programs), 3))
    ok = np.zeros(len(programs), dtype=bool)
    for i, code in enumerate(programs):
        try:
            lo[i], hi[i] = from_code(code).bounds_hint()
            ok[i] = True
        except Exception:  # noqa: BLE001 - an unreadable program just has no box target
            pass
    return lo, hi, ok


def frame_for(programs_lo: np.ndarray, programs_hi: np.ndarray, view="iso") -> ViewFrame:
    """The view of the renders and the smallest grid-step cube (1/128) holding every box."""
    extent = float(max(np.abs(programs_lo).max(), np.abs(programs_hi).max()))
    extent = math.ceil(extent * 128 - 1e-6) / 128
    direction = camera_basis(view)[2]
    return ViewFrame(view=tuple(float(x) for x in direction), extent=extent)


class BoxRegressor(torch.nn.Module):
    """A ViT + an MLP over its patch tokens -> the five observables of the part's box."""

    def __init__(self, vit, hidden: int = 256):
        super().__init__()
        self.vit = vit
        n_tokens = vit.embeddings.patch_embeddings.num_patches
        width = vit.config.hidden_size
        self.n_tokens = n_tokens
        self.head = torch.nn.Sequential(torch.nn.Linear(width * n_tokens, hidden),
                                        torch.nn.GELU(),
                                        torch.nn.Linear(hidden, N_OBSERVABLES))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        tokens = self.vit(pixel_values=pixel_values).last_hidden_state[:, -self.n_tokens:]
        return self.head(tokens.flatten(1))


@dataclass(frozen=True)
class BoxTrainConfig:
    epochs: int = 20
    max_minutes: float = 0.0   # 0: no budget
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    progress: bool = True


@dataclass
class BoxTrainSummary:
    epochs_done: int = 0
    seconds: float = 0.0
    stopped_by: str = "epochs"
    val_mae: list[float] | None = None   # sides x, y, z, centre right, up on the val images

    def to_dict(self) -> dict:
        return asdict(self)


def new_regressor(encoder) -> BoxRegressor:
    """A BoxRegressor whose ViT starts as a copy of `encoder` (same config, same weights)."""
    from transformers import ViTModel
    vit = ViTModel(encoder.config, add_pooling_layer=False)
    # not strict: a pretrained encoder may carry a pooler, which the regressor does not use
    copied = vit.load_state_dict(encoder.state_dict(), strict=False)
    if copied.missing_keys:
        raise RuntimeError(f"box regressor: the encoder lacks {copied.missing_keys[:3]}")
    return BoxRegressor(vit)


def predict(regressor: BoxRegressor, images_uint8: np.ndarray, image_spec, device: str,
            batch_size: int = 64) -> np.ndarray:
    """(n, 5) observables for (n, H, W, 3) uint8 images."""
    from .preprocess import to_pixel_values
    regressor.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images_uint8), batch_size):
            px = to_pixel_values(images_uint8[i:i + batch_size], image_spec, device)
            out.append(regressor(px).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, N_OBSERVABLES), np.float32)


def train_regressor(regressor: BoxRegressor, images_uint8: np.ndarray, targets: np.ndarray,
                    mask: np.ndarray, image_spec, cfg: BoxTrainConfig,
                    val: tuple[np.ndarray, np.ndarray] | None = None,
                    say=print) -> BoxTrainSummary:
    """AdamW with a cosine schedule; smooth-L1 on the observables of readable programs."""
    from .preprocess import to_pixel_values
    rows = np.flatnonzero(mask)
    y = torch.as_tensor(targets, dtype=torch.float32, device=cfg.device)
    regressor.to(cfg.device)
    opt = torch.optim.AdamW(regressor.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = max(1, cfg.epochs * steps_per_epoch)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    summary = BoxTrainSummary()
    t0, step = time.monotonic(), 0
    for epoch in range(cfg.epochs):
        regressor.train()
        order = rows[rng.permutation(len(rows))]
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start:start + cfg.batch_size]
            # cosine over max(steps done, time used): a budget cut still ends annealed
            progress = step / total
            if cfg.max_minutes:
                progress = max(progress, (time.monotonic() - t0) / (cfg.max_minutes * 60))
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
            px = to_pixel_values(images_uint8[batch], image_spec, cfg.device)
            pred = regressor(px)
            loss = torch.nn.functional.smooth_l1_loss(pred * LOSS_SCALE,
                                                      y[batch] * LOSS_SCALE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        summary.epochs_done = epoch + 1
        summary.seconds = time.monotonic() - t0
        line = f"box regressor epoch {epoch + 1}/{cfg.epochs}: loss {loss.item():.4f}"
        if val is not None and len(val[0]):
            err = np.abs(predict(regressor, val[0], image_spec, cfg.device) - val[1]).mean(0)
            summary.val_mae = [round(float(e), 4) for e in err]
            line += (f", val MAE sides {err[:3].mean():.3f} centre {err[3:].mean():.3f}")
        if cfg.progress:
            say(f"{line} ({summary.seconds / 60:.1f} min)")
        # stop when the next epoch would end past the budget
        if cfg.max_minutes and summary.seconds * (epoch + 2) / (epoch + 1) > cfg.max_minutes * 60:
            summary.stopped_by = "time"
            break
    summary.seconds = time.monotonic() - t0
    return summary


def save(regressor: BoxRegressor, frame: ViewFrame, dir: Path, dtype: str = "float16") -> None:
    """Into `dir`/box_regressor/: weights.pt and box_regressor.json (frame, ViT config); its
    training summary is in the checkpoint's vit_gpt2.json."""
    dir = Path(dir) / BOX_DIR
    dir.mkdir(parents=True, exist_ok=True)
    from .model import state_for_saving
    torch.save(state_for_saving(regressor, dtype), dir / "weights.pt")
    (dir / "box_regressor.json").write_text(json.dumps({
        "frame": frame.to_dict(), "vit_config": regressor.vit.config.to_dict(),
        "hidden": regressor.head[0].out_features},
        indent=1) + "\n")


def load(dir: Path, device: str) -> tuple[BoxRegressor, ViewFrame] | None:
    """The checkpoint's box regressor, or None when it has none (older checkpoints)."""
    from transformers import ViTConfig, ViTModel
    dir = Path(dir) / BOX_DIR
    meta_path = dir / "box_regressor.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    vit = ViTModel(ViTConfig.from_dict(meta["vit_config"]), add_pooling_layer=False)
    regressor = BoxRegressor(vit, hidden=int(meta["hidden"]))
    state = torch.load(dir / "weights.pt", map_location=device, weights_only=True)
    regressor.load_state_dict({k: v.float() for k, v in state.items()})
    regressor.to(device).eval()
    return regressor, ViewFrame.from_dict(meta["frame"])
