"""The unit of every dataset: one sample with an image and its ground-truth program."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    id: str
    code: str                        # ground-truth CadQuery program (final solid in `solid`)
    image: np.ndarray | None = None  # (H, W, 3) uint8 RGB, None when not available
    meta: dict[str, Any] = field(default_factory=dict)  # family, params, split, source, ...
