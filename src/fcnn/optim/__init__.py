"""Optimizers (PyTorch's update rules) and learning-rate schedulers.

``fcnn.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad`` update a
model's Parameters in place; ``fcnn.optim.lr_scheduler`` holds PyTorch's
schedulers, which steer an optimizer's ``param_groups[0]["lr"]``. Both save
their state with ``state_dict()``; ``flatten_state_dict`` turns such a dict into
JSON plus named arrays (for safetensors) and ``unflatten_state_dict`` back.
"""

from __future__ import annotations

from typing import Any

from ._state import flatten_state_dict, unflatten_state_dict
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "flatten_state_dict",
    "lr_scheduler",
    "unflatten_state_dict",
]


def __getattr__(name: str) -> Any:
    # the schedulers load on first use (``fcnn.optim.lr_scheduler``): import fcnn stays lean
    if name == "lr_scheduler":
        import importlib

        return importlib.import_module(f"{__name__}.lr_scheduler")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
