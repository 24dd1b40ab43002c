"""The exceptions `glassbox` raises.

Every one is a :class:`GlassboxError`. The native layer raises them with the
library's own message, which names the model, the row and the field.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GlassboxError",
    "ContractError",
    "LoadError",
    "SignatureError",
    "ModelError",
    "LimitError",
    "CompileError",
    "ConversionMismatch",
]


class GlassboxError(Exception):
    """Anything that went wrong loading, compiling or calling a model."""


class ContractError(GlassboxError, ValueError):
    """The input breaks the model's contract.

    ``violations`` lists the first problems (at most 100), each a dict with
    ``row`` (0-based, within the call), ``field``, ``expected`` and ``got``;
    ``total`` counts all of them.
    """

    def __init__(self, message: str, violations: list[dict[str, Any]] | None = None, total: int | None = None):
        super().__init__(message)
        self.violations: list[dict[str, Any]] = list(violations or [])
        self.total: int = len(self.violations) if total is None else total


class LoadError(GlassboxError):
    """The bytes are not a usable model (not a component, another contract
    version, a forbidden import, an inconsistent description)."""


class SignatureError(LoadError):
    """A trusted signature is required and the component lacks one, or its
    signer is not trusted, or its bytes changed after signing."""


class ModelError(GlassboxError):
    """The model failed the call: it trapped, refused the batch, or answered
    something its own declaration does not allow."""


class LimitError(ModelError):
    """The call went past a limit: its deadline, its memory, its stack, or the
    size of a batch."""


class CompileError(GlassboxError):
    """An estimator or ONNX pipeline could not be compiled (the message names
    the node or the step)."""


class ConversionMismatch(CompileError):
    """The compiled component disagrees with the fitted estimator on its own
    training rows: the converter changed what the model computes.

    ``rows`` counts the rows that disagree, ``checked`` the rows compared,
    and ``examples`` holds a few of them (row, what the estimator said, what
    the component said).
    """

    def __init__(self, message: str, rows: int = 0, checked: int = 0, examples: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.rows = rows
        self.checked = checked
        self.examples = list(examples or [])
