"""The lab's names, as thin wrappers of fcnn's own classes.

``from fcnn.lab import *`` makes every cell of the lab run unchanged. Like the
lab, these draw their initial weights from NumPy's global generator with the
lab's ``randn * 0.1``, so ``np.random.seed(n)`` reproduces a lab run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import layers as _layers
from . import network as _network
from . import optim as _optim
from .gradcheck import check_gradient
from .init import lab as _lab_init
from .layers import Sigmoid
from .losses import NLLLoss, grad_mse, mse
from .parameter import Parameter

__all__ = [
    "Linear",
    "NLLLoss",
    "NeuralNetwork",
    "Optimizer",
    "Parameters",
    "Relu",
    "Sigmoid",
    "check_gradient",
    "grad_mse",
    "mse",
]


class Parameters(Parameter):
    """The lab's ``Parameters(shape)``: ``randn(*shape) * 0.1`` weights, zero grad."""

    __slots__ = ()

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(np.random.randn(*shape) * 0.1)


class Linear(_layers.Linear):
    """The lab's ``Linear(input_size, output_size)``, initialised with ``randn * 0.1``."""

    def __init__(self, input_size: int, output_size: int, **kwargs: Any) -> None:
        kwargs.setdefault("init", _lab_init)
        kwargs.setdefault("rng", np.random)
        super().__init__(input_size, output_size, **kwargs)

    @property
    def output_size(self) -> int:
        return self.out_features


#: The lab's spelling of ReLU.
Relu = _layers.ReLU


class NeuralNetwork(_network.NeuralNetwork):
    """The lab's 4-layer network, initialised with ``randn * 0.1``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, **kwargs: Any) -> None:
        kwargs.setdefault("init", _lab_init)
        kwargs.setdefault("rng", np.random)
        super().__init__(input_size, hidden_size, output_size, **kwargs)


class Optimizer(_optim.SGD):
    """The lab's ``Optimizer(parameters, lr)``: plain SGD, ``W = W - lr * grad``."""

    def __init__(self, parameters: Any, lr: float) -> None:
        super().__init__(parameters, lr=lr)
