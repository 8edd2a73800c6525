"""Dataset statistics and contact sheets for `cadbench data show`."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .base import Sample

# Code tokens for statistics: identifiers, numbers (with sign-less decimals and exponents)
# and single punctuation characters. Not a model's tokenizer: a stable, model-free count.
TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|\S")


def count_tokens(code: str) -> int:
    return len(TOKEN_RE.findall(code))


def _summary(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "median": float(np.median(a)), "min": float(a.min()),
            "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def dataset_stats(samples: list[Sample]) -> dict:
    if not samples:
        return {"n": 0}
    fam = Counter(str(s.meta.get("family", "n/a")) for s in samples)
    src = Counter(str(s.meta.get("image_source", "n/a")) for s in samples)
    return {
        "n": len(samples),
        "families": dict(sorted(fam.items(), key=lambda kv: (-kv[1], kv[0]))),
        "image_source": dict(src),
        "with_image": sum(s.image is not None for s in samples),
        "code_chars": _summary([len(s.code) for s in samples]),
        "code_tokens": _summary([count_tokens(s.code) for s in samples]),
        "bodies": _summary([s.code.count(".extrude(") for s in samples]),
    }


def format_stats(stats: dict, title: str = "dataset") -> str:
    if stats.get("n", 0) == 0:
        return f"{title}: no samples"
    lines = [f"{title}: {stats['n']} samples ({stats['with_image']} with an image; "
             f"image source {stats['image_source']})", "families:"]
    for name, n in stats["families"].items():
        lines.append(f"  {name:20s} {n:6d}  {100 * n / stats['n']:5.1f}%")
    for key, label in (("code_chars", "code length (characters)"),
                       ("code_tokens", "code length (regex tokens)"),
                       ("bodies", "extrude calls per program")):
        s = stats[key]
        lines.append(f"{label:28s} mean {s['mean']:8.1f}  median {s['median']:8.1f}  "
                     f"min {s['min']:6.0f}  p95 {s['p95']:8.1f}  max {s['max']:6.0f}")
    return "\n".join(lines)


def contact_sheet(samples: list[Sample], path: str | Path, n: int = 48, cols: int = 8,
                  tile: int = 160) -> int:
    """A grid PNG of the first n samples that have images, each labelled id / family."""
    from PIL import Image, ImageDraw
    chosen = [s for s in samples if s.image is not None][:n]
    if not chosen:
        chosen_img = Image.new("RGB", (tile * 2, 40), "white")
        ImageDraw.Draw(chosen_img).text((4, 12), "no images in this dataset", fill=(0, 0, 0))
        chosen_img.save(path)
        return 0
    rows = (len(chosen) + cols - 1) // cols
    label_h = 14
    sheet = Image.new("RGB", (cols * tile, rows * (tile + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, s in enumerate(chosen):
        r, c = divmod(k, cols)
        im = Image.fromarray(s.image).convert("RGB").resize((tile, tile), Image.BILINEAR)
        x, y = c * tile, r * (tile + label_h)
        sheet.paste(im, (x, y))
        label = f"{s.id} {s.meta.get('family', '')}"[: tile // 6]
        draw.text((x + 2, y + tile), label, fill=(40, 40, 40))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return len(chosen)


def cached_synth_splits() -> list[tuple[Path, int]]:
    """(folder, sample count) of every synth split in the cache."""
    from ..config import cadbench_home
    root = cadbench_home() / "datasets" / "synth"
    out = []
    for manifest in sorted(root.glob("*/*/manifest.json")):
        try:
            n = int(json.loads(manifest.read_text())["n_samples"])
        except (ValueError, KeyError, OSError):
            continue
        out.append((manifest.parent, n))
    return out
