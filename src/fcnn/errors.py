"""Exceptions raised by fcnn.

Every class subclasses a built-in (``ValueError`` or ``TypeError``) so code that
catches the built-in keeps working; the fcnn class lets callers be precise.
"""

from __future__ import annotations

__all__ = [
    "DivergenceError",
    "FcnnError",
    "LabelError",
    "ModelFileError",
    "NonFiniteError",
    "NotReadyError",
    "ShapeError",
]


class FcnnError(Exception):
    """Base class of every error fcnn raises on purpose."""


class ShapeError(FcnnError, ValueError):
    """An array has the wrong number of dimensions or the wrong shape."""


class LabelError(FcnnError, ValueError):
    """Class labels are not integers in ``[0, C)`` or have the wrong shape."""


class NonFiniteError(FcnnError, ValueError):
    """An input or a target holds NaN or infinity."""


class NotReadyError(FcnnError, ValueError, RuntimeError):
    """A method was called out of order (``backward`` before ``forward``, ...)."""


class ModelFileError(FcnnError, ValueError):
    """A model file is missing, foreign, truncated, corrupted or tampered with."""


class DivergenceError(FcnnError, ValueError):
    """Training produced a NaN or infinite loss.

    ``history`` holds what was recorded up to the last finite step; the model
    keeps the weights it had before the failing step.
    """

    def __init__(self, message: str, history: object = None) -> None:
        super().__init__(message)
        self.history = history
