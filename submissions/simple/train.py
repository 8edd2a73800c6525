"""Training and prediction for the simple model: targets from programs, the loss, the loop.

Targets: each training program is parsed into the IR and encoded as tokens (tokens.py).
Loss: cross-entropy per position over the tokens its type allows. Numeric positions (grid
coordinates, fractions) get soft targets, a Gaussian of `SOFT_SIGMA` bins around the true
bin, so that a near miss costs less than a far one; fields of empty body slots are ignored.
Prediction: argmax for categorical positions; for numeric ones the mean of the distribution
in a window around its mode (a regression estimate that stays on the grid).
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import tokens as T

SOFT_SIGMA = 1.0      # bins
MEAN_WINDOW = 3       # bins either side of the mode averaged at prediction time


@dataclass(frozen=True)
class TypeBlock:
    """The positions of one token type, laid out together in the head's output."""
    type: str
    positions: np.ndarray   # (P,) sequence positions of this type
    size: int               # tokens of this type
    offset: int             # first logit of the block; the block is P x size, row-major


def layout() -> list[TypeBlock]:
    types = T.position_types()
    blocks, off = [], 0
    for t in T.TYPE_VALUES:
        pos = np.array([i for i, x in enumerate(types) if x == t], dtype=np.int64)
        size = len(T.TYPE_VALUES[t])
        blocks.append(TypeBlock(t, pos, size, off))
        off += len(pos) * size
    return blocks


def n_logits() -> int:
    return sum(len(b.positions) * b.size for b in layout())


def targets_from_codes(codes: list[str]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Programs -> (token ids (N, SEQ_LEN), loss weights (N, SEQ_LEN), encoding stats)."""
    from cadbench.program import ProgramParseError

    ids = np.zeros((len(codes), T.SEQ_LEN), dtype=np.int64)
    weight = np.zeros((len(codes), T.SEQ_LEN), dtype=np.float32)
    stats = {"exact": 0, "approximated": 0, "unparsable": 0}
    nf = len(T.FIELDS)
    for i, code in enumerate(codes):
        try:
            enc = T.encode_code(code)
        except (ProgramParseError, ValueError):
            stats["unparsable"] += 1
            continue                           # weight stays 0: the sample teaches nothing
        stats["exact" if enc.exact else "approximated"] += 1
        ids[i] = T.specs_to_tokens(enc.specs)
        for k in range(T.N_BODIES):
            if k < len(enc.specs):
                weight[i, k * nf:(k + 1) * nf] = 1.0
            else:
                weight[i, k * nf] = 1.0        # an empty slot: only its op ("none") counts
    return ids, weight, stats


def _soft_table(size: int, sigma: float):
    import torch
    idx = torch.arange(size, dtype=torch.float32)
    table = torch.exp(-0.5 * ((idx[None, :] - idx[:, None]) / sigma) ** 2)
    return table / table.sum(dim=1, keepdim=True)


class Loss:
    def __init__(self):
        self.blocks = layout()
        self.tables = {b.type: _soft_table(b.size, SOFT_SIGMA) for b in self.blocks
                       if b.type in T.NUMERIC_TYPES}

    def __call__(self, logits, ids, weight):
        """Mean per-position cross-entropy over the positions with weight."""
        import torch
        total = logits.new_zeros(())
        for b in self.blocks:
            P = len(b.positions)
            lg = logits[:, b.offset:b.offset + P * b.size].view(-1, P, b.size)
            tgt = ids[:, b.positions] - T.TYPE_RANGE[b.type][0]
            logp = torch.log_softmax(lg, dim=-1)
            if b.type in self.tables:
                nll = -(self.tables[b.type][tgt] * logp).sum(-1)
            else:
                nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
            total = total + (nll * weight[:, b.positions]).sum()
        return total / weight.sum().clamp(min=1.0)


def logits_to_ids(logits) -> np.ndarray:
    """(B, n_logits) -> (B, SEQ_LEN) token ids (always of the right type per position)."""
    import torch
    B = logits.shape[0]
    out = torch.zeros((B, T.SEQ_LEN), dtype=torch.long)
    for b in layout():
        P = len(b.positions)
        lg = logits[:, b.offset:b.offset + P * b.size].view(B, P, b.size)
        mode = lg.argmax(-1)
        if b.type in T.NUMERIC_TYPES:
            prob = torch.softmax(lg, dim=-1)
            idx = torch.arange(b.size).view(1, 1, -1)
            near = ((idx - mode.unsqueeze(-1)).abs() <= MEAN_WINDOW).float()
            w = prob * near
            mode = ((w * idx).sum(-1) / w.sum(-1).clamp(min=1e-12)).round().long()
        out[:, b.positions] = mode + T.TYPE_RANGE[b.type][0]
    ids = out.numpy()
    ids[:, 0] = T.TYPE_RANGE["op"][0] + T.OPS.index("union")  # the base body always exists
    return ids


# ----------------------------------------------------------------------------- training

@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    threads: int = 2
    val_samples: int = 16      # val programs executed and scored (VSR, IoU) after each epoch
    seed: int = 0
    grid: int = 8              # the encoder's last feature map, grid x grid cells


def set_determinism(seed: int, threads: int) -> None:
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class ValScorer:
    """Executes a few val references once, then scores predicted programs against them."""

    def __init__(self, samples):
        from cadbench.config import ExecConfig
        from cadbench.execute import Sandbox

        self.samples = samples
        self.sandbox = Sandbox(ExecConfig(timeout_s=20.0)).__enter__()
        self.refs = [self.sandbox.run(s.code).mesh for s in samples]

    def score(self, codes: list[str]) -> tuple[float, float]:
        """(VSR, mean voxel IoU with failures as 0) of `codes` against the references."""
        from cadbench.config import MetricConfig
        from cadbench.geometry.metrics import compute_metrics

        cfg = MetricConfig(compute_best=False, compute_exact=False, compute_chamfer=False)
        ok, ious = 0, []
        for ref, code in zip(self.refs, codes):
            res = self.sandbox.run(code)
            if res.status != "ok" or res.mesh is None:
                ious.append(0.0)
                continue
            ok += 1
            if ref is None:
                continue
            iou = compute_metrics(ref, res.mesh, cfg).get("iou")
            ious.append(float(iou) if iou is not None else 0.0)
        return ok / max(1, len(codes)), float(np.mean(ious)) if ious else 0.0

    def close(self) -> None:
        self.sandbox.__exit__(None, None, None)


def fit_model(train, val, config: TrainConfig):
    """Train a fresh SimpleCadNet on samples (image + code); returns (model, history)."""
    import torch
    from tqdm import tqdm

    from .model import SimpleCadNet, images_to_tensor

    set_determinism(config.seed, config.threads)
    t0 = time.perf_counter()
    train = [s for s in train if s.image is not None]
    if not train:
        from cadbench.errors import InputError
        raise InputError("simple: no training sample has an image")
    x = images_to_tensor([s.image for s in train])
    ids, weight, stats = targets_from_codes([s.code for s in train])
    _say(f"simple: {len(train)} training samples ({stats['exact']} encoded exactly, "
         f"{stats['approximated']} approximated, {stats['unparsable']} unparsable, skipped); "
         f"prepared in {time.perf_counter() - t0:.1f} s")
    y, w = torch.from_numpy(ids), torch.from_numpy(weight)

    model = SimpleCadNet(n_logits(), grid=config.grid)
    loss_fn = Loss()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, pct_start=0.15,
                                                total_steps=config.epochs * steps_per_epoch)
    val_with_images = [s for s in (val or []) if s.image is not None]
    scorer = ValScorer(val_with_images[:config.val_samples]) if (
        val_with_images and config.val_samples > 0) else None
    if val_with_images:
        xv = images_to_tensor([s.image for s in val_with_images])
        yv_np, wv_np = targets_from_codes([s.code for s in val_with_images])[:2]
        yv, wv = torch.from_numpy(yv_np), torch.from_numpy(wv_np)
    gen = torch.Generator().manual_seed(config.seed)
    history = []
    try:
        for epoch in range(config.epochs):
            model.train()
            perm = torch.randperm(len(train), generator=gen)
            bar = tqdm(range(steps_per_epoch), desc=f"simple epoch {epoch + 1}/{config.epochs}",
                       file=sys.stderr, leave=False)
            run_loss = 0.0
            for step in bar:
                idx = perm[step * config.batch_size:(step + 1) * config.batch_size]
                loss = loss_fn(model(x[idx]), y[idx], w[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                run_loss += float(loss.detach())
                bar.set_postfix(loss=f"{run_loss / (step + 1):.3f}")
            bar.close()
            entry = {"epoch": epoch + 1, "train_loss": round(run_loss / steps_per_epoch, 4),
                     "elapsed_s": round(time.perf_counter() - t0, 1)}
            if val_with_images:
                model.eval()
                with torch.no_grad():
                    vl = [loss_fn(model(xv[i:i + 256]), yv[i:i + 256], wv[i:i + 256])
                          * wv[i:i + 256].sum() for i in range(0, len(xv), 256)]
                    entry["val_loss"] = round(float(sum(vl) / wv.sum()), 4)
                    if scorer is not None:
                        pred = logits_to_ids(model(xv[:len(scorer.samples)]))
                        codes = [T.decode_tokens(p)[0] for p in pred]
                        vsr, iou = scorer.score(codes)
                        entry["val_vsr"], entry["val_iou"] = round(vsr, 3), round(iou, 3)
            history.append(entry)
            _say("simple: " + ", ".join(f"{k} {v}" for k, v in entry.items()))
    finally:
        if scorer is not None:
            scorer.close()
    model.eval()
    return model, history
