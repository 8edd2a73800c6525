"""OpenAI-compatible chat-completions submission (`openai`). Standard library only."""

from .submission import OpenAISubmission

__all__ = ["OpenAISubmission"]
