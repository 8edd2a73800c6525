"""ViT encoder + GPT-2 decoder submission (`vit_gpt2`). Heavy imports happen on use only."""

from .submission import VitGpt2Submission

__all__ = ["VitGpt2Submission"]
