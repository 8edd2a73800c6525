"""Local Hugging Face image-to-text checkpoint submission (`hf`). torch/transformers are
imported when the submission is built, never at import time."""

from .submission import HFSubmission

__all__ = ["HFSubmission"]
