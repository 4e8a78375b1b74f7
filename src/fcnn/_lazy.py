"""Attributes of a package loaded on first use (PEP 562), for ``fcnn`` and ``fcnn.export``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def attach(package: str, table: dict[str, str], names: list[str]) -> tuple[Callable[[str], Any],
                                                                          Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``table`` maps a name to the
    submodule (relative to the package) that defines it; the value is imported on first
    use and kept in the package's namespace. ``__dir__`` lists ``names`` (its ``__all__``)
    too, so that IPython completes names not loaded yet."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
