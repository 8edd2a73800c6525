"""A user's own dataset: a folder of `<id>.py` programs, each with an optional `<id>.png`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Sample


def load_folder(path: str | Path, with_images: bool = True, render_missing: bool = False,
                image_size: int = 224, limit: int | None = None) -> list[Sample]:
    """Samples sorted by id. A missing PNG gives image None, or (render_missing) an image
    rendered from the program (meta["image_source"] = "rendered")."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    programs = sorted(root.glob("*.py"))
    if not programs:
        raise InputError(f"{root}: no <id>.py files (a folder dataset holds one CadQuery "
                         "program per file, with an optional <id>.png image beside it)")
    samples = []
    for py in programs[:limit]:
        try:
            code = py.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{py}: not UTF-8 text ({e.reason})") from None
        meta = {"source": "folder", "path": str(py), "family": "folder"}
        image = None
        png = py.with_suffix(".png")
        if with_images and png.exists():
            from PIL import Image
            try:
                with Image.open(png) as im:
                    image = np.asarray(im.convert("RGB"))
            except OSError as e:
                raise InputError(f"{png}: not a readable image ({e})") from None
            meta["image_source"] = "dataset"
        elif with_images and render_missing:
            from .gencad import render_reference
            image = render_reference(code, image_size, where=str(py))
            meta["image_source"] = "rendered" if image is not None else "missing"
        else:
            meta["image_source"] = "missing"
        samples.append(Sample(py.stem, code, image, meta))
    return samples
