"""fcnn: fully connected neural networks in NumPy.

The core (layers, losses, optimizers, gradient checking) needs NumPy alone.
Training, datasets, plots, save/load and the CLI import their dependencies
(tqdm, scikit-learn, matplotlib, safetensors) only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import init
from ._lazy import attach
from ._version import __version__
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .errors import (
    DivergenceError,
    FcnnError,
    LabelError,
    ModelFileError,
    NonFiniteError,
    NotReadyError,
    ShapeError,
)
from .layers import (
    ELU,
    GELU,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Standardize,
    Tanh,
)
from .losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    Loss,
    MSELoss,
    NLLLoss,
    grad_mse,
    log_softmax,
    mse,
    softmax,
)
from .network import NeuralNetwork, Sequential, mlp
from .norm import BatchNorm1d, LayerNorm
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .parameter import Parameter
from .registry import register_activation, register_layer, register_loss, register_optimizer

__all__ = [
    "ELU",
    "GELU",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CSVLogger",
    "CrossEntropyLoss",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "FcnnError",
    "History",
    "HuberLoss",
    "Identity",
    "L1Loss",
    "LabelError",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "Loss",
    "MSELoss",
    "ModelCheckpoint",
    "ModelFileError",
    "NLLLoss",
    "NeuralNetwork",
    "NonFiniteError",
    "NotReadyError",
    "Optimizer",
    "Parameter",
    "RMSprop",
    "ReLU",
    "RunConfig",
    "Sequential",
    "ShapeError",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Standardize",
    "Tanh",
    "__version__",
    "check_gradient",
    "check_layer",
    "clip_grad_norm_",
    "clip_grad_value_",
    "export_onnx",
    "from_sklearn",
    "from_torch",
    "grad_mse",
    "init",
    "load",
    "load_state_dict_file",
    "log_softmax",
    "mlp",
    "mse",
    "predict",
    "predict_proba",
    "register_activation",
    "register_layer",
    "register_loss",
    "register_optimizer",
    "run",
    "save",
    "softmax",
    "to_torch",
    "train",
]

# Outer parts, imported on first use so that `import fcnn` stays NumPy-only.
_LAZY = {
    "check_gradient": "gradcheck",
    "check_layer": "gradcheck",
    "train": "training",
    "predict": "training",
    "predict_proba": "training",
    "CSVLogger": "training",
    "History": "training",
    "EarlyStopping": "training",
    "ModelCheckpoint": "training",
    "save": "serialization",
    "run": "runner",
    "RunConfig": "runner",
    "load": "serialization",
    "export_onnx": "export.onnx",
    "to_torch": "export.torch",
    "from_torch": "export.torch",
    "load_state_dict_file": "export.torch",
    "from_sklearn": "export.sklearn",
}

if TYPE_CHECKING:
    from .export.onnx import export_onnx
    from .export.sklearn import from_sklearn
    from .export.torch import from_torch, load_state_dict_file, to_torch
    from .gradcheck import check_gradient, check_layer
    from .runner import RunConfig, run
    from .serialization import load, save
    from .training import CSVLogger, EarlyStopping, History, ModelCheckpoint, predict, predict_proba, train


# the lazily loaded names are in dir(fcnn) too, so that IPython completes fcnn.tr<TAB>
__getattr__, __dir__ = attach(__name__, _LAZY, __all__)
