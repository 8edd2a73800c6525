"""`retrieval`: nearest neighbour on image embeddings; returns the closest training program.

Embedding: the image in grayscale, downsampled to `pixels` x `pixels`, projected on the
training set's top `dims` principal components (PCA by numpy's SVD). No learning beyond that:
a strong non-learned baseline that every learned model must beat to matter.

Checkpoint: one compressed `.npz` holding the PCA basis, the training embeddings (float16) and
the training programs; the committed one lives in `baselines/checkpoints/retrieval/`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cadbench.errors import InputError
from cadbench.submissions import ModelCard, Submission, register_submission

CHECKPOINT_FILE = "retrieval.npz"


def embed_pixels(images: list[np.ndarray], pixels: int) -> np.ndarray:
    """(n, pixels*pixels) float32 in [0, 1]: grayscale, area-downsampled images."""
    from PIL import Image
    out = np.empty((len(images), pixels * pixels), dtype=np.float32)
    for i, img in enumerate(images):
        gray = Image.fromarray(np.asarray(img, dtype=np.uint8)).convert("L")
        small = gray.resize((pixels, pixels), Image.Resampling.BOX)
        out[i] = np.asarray(small, dtype=np.float32).ravel() / 255.0
    return out


def _images(samples, what: str) -> list[np.ndarray]:
    missing = [s.id for s in samples if s.image is None]
    if missing:
        raise InputError(f"retrieval needs images; {what} sample(s) without one: "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return [s.image for s in samples]


@register_submission
class RetrievalSubmission(Submission):
    name = "retrieval"
    description = ("Nearest neighbour: PCA of downsampled grayscale pixels; returns the "
                   "closest training image's program.")
    needs_training = True
    default_options = {"pixels": 32, "dims": 48, "batch_size": 256}
    card = ModelCard("nearest neighbour on a PCA of 32x32 grayscale pixels",
                     pretrained="fitted (PCA), no neural weights",
                     training_data="synth train (5,000 programs)")

    def __init__(self, **options):
        super().__init__(**options)
        self.mean: np.ndarray | None = None         # (p,) float32
        self.components: np.ndarray | None = None   # (dims, p) float32
        self.embeddings: np.ndarray | None = None   # (n, dims) float16
        self.programs: list[str] = []
        self.train_ids: list[str] = []

    # -- fitting -------------------------------------------------------------------------
    def fit(self, train, val=None, *, epochs=None, seed=0):
        if not train:
            raise InputError("retrieval: empty training set")
        pixels, dims = int(self.options["pixels"]), int(self.options["dims"])
        x = embed_pixels(_images(train, "training"), pixels)
        self.mean = x.mean(axis=0)
        # Rows of vt are the principal directions, strongest first.
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vt[:dims].astype(np.float32)
        self.embeddings = self._project(x).astype(np.float16)
        self.programs = [s.code for s in train]
        self.train_ids = [s.id for s in train]

    def _project(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.components.T

    # -- generation ----------------------------------------------------------------------
    def nearest(self, samples) -> np.ndarray:
        """Index of the nearest training image for each sample."""
        if self.embeddings is None:
            raise InputError("retrieval: not fitted; run `cadbench train --model retrieval`")
        q = self._project(embed_pixels(_images(samples, "input"),
                                       int(self.options["pixels"])))
        base = self.embeddings.astype(np.float32)
        # Squared Euclidean distance without materialising the (n_q, n_train, dims) cube.
        d = (q * q).sum(1)[:, None] - 2.0 * q @ base.T + (base * base).sum(1)[None, :]
        return d.argmin(axis=1)

    def generate(self, samples):
        return [self.programs[i] for i in self.nearest(samples)]

    # -- checkpoint ----------------------------------------------------------------------
    def save(self, dir):
        if self.embeddings is None:
            raise InputError("retrieval: nothing to save, fit first")
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        blob = json.dumps({"programs": self.programs, "ids": self.train_ids})
        tmp = dir / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp.npz"  # replaced atomically below
        np.savez_compressed(tmp, mean=self.mean, components=self.components,
                            embeddings=self.embeddings,
                            options=np.frombuffer(json.dumps(self.options).encode(), np.uint8),
                            train=np.frombuffer(blob.encode(), np.uint8))
        os.replace(tmp, dir / CHECKPOINT_FILE)

    @classmethod
    def load(cls, dir, **options):
        path = Path(dir) / CHECKPOINT_FILE
        if not path.is_file():
            raise InputError(f"{path}: no retrieval checkpoint")
        with np.load(path) as z:
            saved = json.loads(z["options"].tobytes().decode())
            for key in ("pixels", "dims"):  # the embedding is fixed by the checkpoint
                if key in options and int(options[key]) != int(saved[key]):
                    raise InputError(f"{path}: checkpoint has {key}={saved[key]}, "
                                     f"not {options[key]}; retrain to change it")
            self = cls(**{**{k: saved[k] for k in ("pixels", "dims")}, **options})
            self.mean, self.components = z["mean"], z["components"]
            self.embeddings = z["embeddings"]
            train = json.loads(z["train"].tobytes().decode())
        self.programs, self.train_ids = train["programs"], train["ids"]
        return self

    @classmethod
    def default_checkpoint(cls):
        return Path(__file__).resolve().parent / "checkpoints" / "retrieval"

    def num_parameters(self):
        """Stored numbers: PCA mean and basis plus the training embeddings."""
        if self.embeddings is None:
            return 0
        return int(self.mean.size + self.components.size + self.embeddings.size)
