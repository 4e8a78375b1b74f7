"""Optimizers (PyTorch's update rules) and learning-rate schedulers.

``fcnn.optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad`` update a
model's Parameters in place; ``fcnn.optim.lr_scheduler`` holds PyTorch's
schedulers, which steer an optimizer's ``param_groups[0]["lr"]``. Both save
their state with ``state_dict()``; ``flatten_state_dict`` turns such a dict into
JSON plus named arrays (for safetensors) and ``unflatten_state_dict`` back.
"""

from __future__ import annotations

from . import lr_scheduler
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
