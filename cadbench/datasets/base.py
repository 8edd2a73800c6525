"""The unit of every dataset: one sample with an image and its ground-truth program, and the
task view of it that a submission is given (`TaskInput`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The only `Sample.meta` keys a submission may see: facts about the input, none derived from
# the ground truth (not family, params, geom_key, volume) and no path beside the data
# (image_path's folder holds the programs). An allow-list, so a key a loader adds later stays
# hidden until someone decides it is part of the task.
TASK_META_KEYS: tuple[str, ...] = ("source", "split", "image_source")


@dataclass
class Sample:
    id: str
    code: str                        # ground-truth CadQuery program (final solid in `solid`)
    image: np.ndarray | None = None  # (H, W, 3) uint8 RGB, None when not available
    meta: dict[str, Any] = field(default_factory=dict)  # family, params, split, source, ...


@dataclass(frozen=True)
class TaskInput:
    """What `Submission.generate` gets: the inputs of the task, nothing else."""

    id: str
    image: np.ndarray | None = None            # read-only view of the sample's image
    # a copy (plain, so inputs stay picklable for submissions that use worker processes)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, sample: Sample) -> "TaskInput":
        image = sample.image
        if isinstance(image, np.ndarray):
            image = image.view()
            image.flags.writeable = False   # a submission cannot alter what others are shown
        meta = {k: sample.meta[k] for k in TASK_META_KEYS
                if k in sample.meta and isinstance(sample.meta[k], (str, int, float, bool))}
        return cls(id=str(sample.id), image=image, meta=meta)
