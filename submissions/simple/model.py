"""The simple model: a small CNN encoder and an MLP head that predicts a fixed-length token
sequence in one shot (no autoregression), one distribution per position.

Positions have types (see tokens.py): the head's last layer computes, for each position, only
the logits of the tokens its type allows. That is the vocab x seq_len output with the grammar
mask applied, without computing the logits the mask would throw away.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 64  # the 224 px renders are downsampled to 64x64 RGB


class SimpleCadNet(nn.Module):
    """CNN (3 -> 32 -> 64 channels, pooling -> 128-D features) + MLP (128 -> 256 -> vocab x seq_len)."""

    def __init__(self, n_logits: int, grid: int = 8):
        super().__init__()
        self.n_logits = n_logits
        self.grid = grid
        # Strided convolutions do the first poolings: 3x cheaper than conv + pool at full
        # resolution, which is what lets training fit in minutes on two CPU cores.
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 5, stride=2, padding=2), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            # 32 x 32 x 32
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            # 64 x 16 x 16
            nn.MaxPool2d(2),                                    # 64 x 8 x 8
            # No global pooling: the part's position and size in the image are the answer,
            # so the 128-D feature is read off a grid x grid map (8: every cell kept).
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
            nn.Linear(64 * grid * grid, 128), nn.ReLU(inplace=True),  # the 128-D image feature
        )
        self.head = nn.Sequential(
            nn.Linear(128, 256), nn.ReLU(inplace=True), nn.Dropout(0.1),
            nn.Linear(256, n_logits),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images float (B, 3, 64, 64) in [0, 1] -> (B, n_logits), laid out by `Layout`."""
        return self.head(self.encoder(images * 2.0 - 1.0))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def images_to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) images of any size -> float (B, 3, 64, 64) in [0, 1] (area downsampling)."""
    from PIL import Image

    out = np.empty((len(images), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        arr = arr[:, :, :3].astype(np.uint8, copy=False)
        if arr.shape[:2] != (IMAGE_SIZE, IMAGE_SIZE):
            arr = np.asarray(Image.fromarray(arr).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX))
        out[i] = arr
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
