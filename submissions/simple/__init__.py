"""The `simple` submission: a small CNN + MLP predicting a fixed-length program sketch."""

from .submission import SimpleSubmission

__all__ = ["SimpleSubmission"]
