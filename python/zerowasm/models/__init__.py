"""Real models running as zerowasm guests (imported lazily: each pulls in its own code)."""

from __future__ import annotations

from typing import Any

__all__ = ["LLM", "MiniLM", "SmolLM"]


def __getattr__(name: str) -> Any:
    if name == "MiniLM":
        from .minilm import MiniLM

        return MiniLM
    if name == "LLM":
        from .llm import LLM

        return LLM
    if name == "SmolLM":
        from .smollm import SmolLM

        return SmolLM
    raise AttributeError(name)
