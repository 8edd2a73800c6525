"""The training loop: teacher-forced cross-entropy on program tokens given the image.

- Number tokens (tokenizer "code-num") are ordered values: their target is a Gaussian over
  the neighbouring values (`number_sigma` grid steps), so a prediction one step off is
  nearly right rather than as wrong as any other token (`number_aware_loss`).
- CPU or GPU (auto), mixed precision on GPU (bf16 where supported, else fp16 + loss scaling).
- Gradient accumulation; AdamW; linear warmup then cosine decay. With a wall-clock budget
  (`max_minutes`), the schedule's progress is max(steps done / planned, time used / budget),
  so the learning rate anneals before the budget ends and the run stops in time and saves.
- Batches group programs of similar token length (less padding, ~2x faster on CPU); order
  is a pure function of (seed, epoch), so a resumed run continues the same sequence.
- Checkpoint (`train_state.pt`: weights, optimiser, position, elapsed time, RNG states) at
  each epoch end, every `save_every_minutes`, and when stopping; `resume` continues from it.
- Progress bar with the running loss; an optional `validate()` after each epoch (VSR/IoU).
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .preprocess import ImageSpec, to_pixel_values

STATE_FILE = "train_state.pt"


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    max_minutes: float = 0.0          # 0 = no wall-clock budget
    save_every_minutes: float = 5.0
    seed: int = 0
    device: str = "cpu"
    checkpoint_dir: Path | None = None
    resume: bool = True
    progress: bool = True
    number_sigma: float = 0.0         # > 0: Gaussian targets over number tokens (grid steps)
    box_weight: float = 0.0           # > 0: auxiliary geometry loss on the encoder's tokens


@dataclass
class TrainSummary:
    epochs_done: float = 0.0
    steps: int = 0
    seconds: float = 0.0
    samples_seen: int = 0
    final_loss: float | None = None
    stopped_by: str = "epochs"        # "epochs", "time budget"
    resumed_from_step: int | None = None
    history: list[dict] = field(default_factory=list)   # per epoch: loss, validation, time

    def to_dict(self) -> dict:
        return asdict(self)


def pick_device(requested: str) -> str:
    if requested in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from cadbench.errors import InputError
        raise InputError(f"device {requested!r} requested but torch sees no CUDA device")
    return requested


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index batches of one epoch: shuffled, then sorted by length inside pools of 50
    batches (similar lengths together), then the batch order shuffled again."""
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(perm), pool):
        chunk = perm[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def make_labels(token_lists: list[list[int]], idx: np.ndarray, eos_id: int,
                max_len: int) -> torch.Tensor:
    """(B, T) targets: program tokens + EOS, padded with -100 (ignored by the loss)."""
    seqs = [token_lists[i][:max_len - 1] + [eos_id] for i in idx]
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), -100, dtype=torch.long)
    for r, s in enumerate(seqs):
        out[r, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def number_aware_loss(logits: torch.Tensor, labels: torch.Tensor, number_ids: range | None,
                      sigma: float) -> torch.Tensor:
    """Mean per-token loss: cross-entropy, except that a number target is a Gaussian of
    width `sigma` (in grid steps) over the number tokens, centred on the true value."""
    mask = labels != -100
    target = labels.clamp(min=0)
    logp = logits.float().log_softmax(-1)
    loss = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    if number_ids is not None and sigma > 0:
        start, stop = number_ids.start, number_ids.stop
        is_number = mask & (target >= start) & (target < stop)
        if bool(is_number.any()):
            centre = (target[is_number] - start).float()
            grid = torch.arange(stop - start, device=logits.device, dtype=torch.float32)
            weights = torch.exp(-0.5 * ((grid[None, :] - centre[:, None]) / sigma) ** 2)
            weights = weights / weights.sum(-1, keepdim=True)
            soft = -(weights * logp[is_number][:, start:stop]).sum(-1)
            loss = loss.masked_scatter(is_number, soft)
    return (loss * mask).sum() / mask.sum().clamp(min=1)


GEOMETRY_SCALE = 4.0  # errors in units x 4: a quarter-unit error costs ~1, like a token


class GeometryHead(torch.nn.Module):
    """Auxiliary head for training (geometry_targets.py says what it reads): linear in every
    image token, no pooling, since where the part is in the image is the answer. It makes
    the encoder carry the part's extent and position in its tokens, where the decoder's
    cross-attention reads them."""

    def __init__(self, width: int, n_tokens: int, n_out: int):
        super().__init__()
        self.n_tokens = n_tokens
        self.proj = torch.nn.Linear(width * n_tokens, n_out)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        patches = hidden[:, -self.n_tokens:]          # the image tokens, without [CLS]
        return self.proj(patches.flatten(1))


def geometry_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked smooth-L1, the mean over the targets that exist."""
    per = torch.nn.functional.smooth_l1_loss(pred * GEOMETRY_SCALE, target * GEOMETRY_SCALE,
                                             reduction="none")
    return (per * mask).sum() / mask.sum().clamp(min=1.0)


def shift_right(labels: torch.Tensor, start_id: int) -> torch.Tensor:
    """Decoder inputs: the start token, then the labels without their last position (the
    padding after the end, -100 in `labels`, is fed as the start id and masked anyway)."""
    inputs = labels.new_full(labels.shape, start_id)
    inputs[:, 1:] = labels[:, :-1].clamp(min=0)
    inputs[:, 1:][labels[:, :-1] == -100] = start_id
    return inputs


def lr_at(cfg: TrainConfig, step: int, total_steps: int, elapsed_s: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    if cfg.max_minutes > 0:
        progress = max(progress, elapsed_s / (cfg.max_minutes * 60.0))
    progress = min(1.0, progress)
    floor = cfg.min_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _autocast(device: str):
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype), dtype
    return torch.autocast("cpu", enabled=False), torch.float32


def train(model, images_uint8: np.ndarray, token_lists: list[list[int]], eos_id: int,
          max_len: int, image_spec: ImageSpec, cfg: TrainConfig,
          validate: Callable[[], dict] | None = None,
          number_ids: range | None = None,
          geometry: tuple[np.ndarray, np.ndarray] | None = None) -> TrainSummary:
    """Train `model` in place. `images_uint8[i]` pairs with `token_lists[i]`; `number_ids`
    is the tokenizer's block of ordered number tokens (None: plain cross-entropy).
    `geometry` = (values, masks), (n, k) each (geometry_targets.targets_for): with
    `cfg.box_weight` > 0 they add the auxiliary GeometryHead loss; the head is for training
    only and is not saved."""
    device = cfg.device
    model.to(device).train()
    geometry_head = None
    if cfg.box_weight > 0 and geometry is not None:
        n_tokens = model.encoder.embeddings.patch_embeddings.num_patches  # the ViT's own count
        geo_values = torch.as_tensor(geometry[0], dtype=torch.float32, device=device)
        geo_masks = torch.as_tensor(geometry[1], dtype=torch.float32, device=device)
        geometry_head = GeometryHead(model.encoder.config.hidden_size, n_tokens,
                                     geo_values.shape[1])
        geometry_head = geometry_head.to(device).train()
    start_id = int(model.config.decoder_start_token_id)
    n = len(token_lists)
    lengths = np.array([min(len(t) + 1, max_len) for t in token_lists])
    steps_per_epoch = math.ceil(math.ceil(n / cfg.batch_size) / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    params = list(model.named_parameters()) + (
        list(geometry_head.named_parameters()) if geometry_head is not None else [])
    decay = [p for name, p in params if p.ndim >= 2]
    no_decay = [p for name, p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr,
                            betas=(0.9, 0.98))
    autocast, amp_dtype = _autocast(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    summary = TrainSummary()
    seed_everything(cfg.seed)

    epoch, batch_pos, step, elapsed_before = 0, 0, 0, 0.0
    state_path = Path(cfg.checkpoint_dir) / STATE_FILE if cfg.checkpoint_dir else None
    if cfg.resume and state_path is not None and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        if geometry_head is not None:
            geometry_head.load_state_dict(state["geometry_head"])
        opt.load_state_dict(state["optimizer"])
        epoch, batch_pos, step = state["epoch"], state["batch_pos"], state["step"]
        elapsed_before = state["elapsed_s"]
        summary = TrainSummary(**state["summary"])
        summary.resumed_from_step = step
        random.setstate(state["rng_python"])
        np.random.set_state(state["rng_numpy"])
        torch.set_rng_state(state["rng_torch"])
        print(f"vit_gpt2: resuming from {state_path} (epoch {epoch + 1}, step {step})",
              file=sys.stderr)

    t0 = time.monotonic()
    last_save = t0

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - t0

    def save_state() -> None:
        if state_path is None:
            return
        state_path.parent.mkdir(parents=True, exist_ok=True)
        summary.seconds = elapsed()
        tmp = state_path.with_suffix(".tmp")
        head = geometry_head.state_dict() if geometry_head is not None else None
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "geometry_head": head,
                    "epoch": epoch, "batch_pos": batch_pos, "step": step,
                    "elapsed_s": elapsed(), "summary": summary.to_dict(),
                    "rng_python": random.getstate(), "rng_numpy": np.random.get_state(),
                    "rng_torch": torch.get_rng_state(), "config": {
                        k: str(v) for k, v in asdict(cfg).items()}}, tmp)
        tmp.replace(state_path)

    out_of_time = False
    while epoch < cfg.epochs and not out_of_time:
        batches = epoch_batches(lengths, cfg.batch_size, cfg.seed, epoch)
        bar = None
        if cfg.progress:
            from tqdm import tqdm
            bar = tqdm(total=len(batches), initial=batch_pos, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       unit="batch", file=sys.stderr, dynamic_ncols=True)
        running, total, seen = 0.0, 0.0, 0
        opt.zero_grad(set_to_none=True)
        while batch_pos < len(batches):
            if cfg.max_minutes > 0 and elapsed() >= cfg.max_minutes * 60:
                out_of_time = True  # checked first: a resumed, finished run trains nothing
                break
            idx = batches[batch_pos]
            px = to_pixel_values(images_uint8[idx], image_spec, device)
            labels = make_labels(token_lists, idx, eos_id, max_len).to(device)
            # decoder inputs are the labels shifted right: position 0 is the start token
            dec_mask = torch.ones_like(labels)
            dec_mask[:, 1:] = (labels[:, :-1] != -100).long()
            with autocast:
                enc = model.encoder(pixel_values=px)
                logits = model(encoder_outputs=enc,
                               decoder_input_ids=shift_right(labels, start_id),
                               decoder_attention_mask=dec_mask).logits
            loss = number_aware_loss(logits, labels, number_ids, cfg.number_sigma)
            if geometry_head is not None:
                rows = torch.as_tensor(idx, device=device)
                loss = loss + cfg.box_weight * geometry_loss(
                    geometry_head(enc.last_hidden_state.float()), geo_values[rows], geo_masks[rows])
            scaler.scale(loss / cfg.grad_accum).backward()
            batch_pos += 1
            summary.samples_seen += len(idx)
            value = loss.item()
            running = 0.9 * running + 0.1 * value if seen else value  # for the bar
            total += value
            seen += 1
            if batch_pos % cfg.grad_accum == 0 or batch_pos == len(batches):
                lr = lr_at(cfg, step, total_steps, elapsed())
                for g in opt.param_groups:
                    g["lr"] = lr
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                step += 1
                if bar is not None:
                    bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}", refresh=False)
            if bar is not None:
                bar.update(1)
            if time.monotonic() - last_save >= cfg.save_every_minutes * 60:
                save_state()
                last_save = time.monotonic()
        if bar is not None:
            bar.close()
        if seen == 0:  # the budget was already spent: nothing new to record
            break
        mean_loss = total / max(seen, 1)   # this epoch's mean training loss
        summary.final_loss = mean_loss
        record = {"epoch": epoch + 1, "loss": round(mean_loss, 4),
                  "minutes": round(elapsed() / 60, 2), "partial": out_of_time}
        if not out_of_time:
            epoch, batch_pos = epoch + 1, 0
        summary.epochs_done = epoch + (batch_pos / len(batches) if out_of_time else 0.0)
        if validate is not None:
            model.eval()
            record["val"] = validate()
            model.train()
        summary.history.append(record)
        print(f"vit_gpt2: epoch {record['epoch']}: loss {record['loss']}"
              + (f", val {record['val']}" if "val" in record else "")
              + f", {record['minutes']} min", file=sys.stderr)
        save_state()
        last_save = time.monotonic()
    summary.steps = step
    summary.seconds = elapsed()
    summary.stopped_by = "time budget" if out_of_time else "epochs"
    model.eval()
    return summary
