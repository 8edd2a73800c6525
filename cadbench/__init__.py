"""cadbench: an evaluation-first benchmark harness for image-to-CadQuery code generators."""

__version__ = "0.1.0"
