"""pytest-visionevals: evaluate vision-language models on declarative YAML cases with pytest."""

from __future__ import annotations

__version__ = "0.1.0"
