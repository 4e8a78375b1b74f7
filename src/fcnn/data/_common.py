"""What every part of ``fcnn.data`` shares: its exceptions and message helpers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Union

from ..errors import FcnnError

PathLike = Union[str, "os.PathLike[str]"]


class DatasetError(FcnnError, ValueError):
    """A dataset could not be loaded, encoded or split: bad file, column, value or labels."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A data file does not exist (also a ``FileNotFoundError``)."""


def list_names(names: Sequence[Any], limit: int = 20) -> str:
    """``'a', 'b', ... (30 in all)``: column or value names for a message."""
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def python_scalar(value: Any) -> Any:
    """A NumPy scalar as the Python scalar it holds (JSON-able); others unchanged."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value
