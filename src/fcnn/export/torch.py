"""PyTorch interchange: modules both ways, and state dicts in PyTorch's layout.

* ``to_torch(model)`` -> ``torch.nn.Sequential`` and ``from_torch(module)`` ->
  ``fcnn.Sequential``, for sequential models of the layers both libraries have
  (nested Sequentials stay nested, so the state-dict keys agree). Weights are copied
  (``Linear.weight`` transposed: fcnn's is ``(in, out)``, PyTorch's ``(out, in)``),
  buffers included (BatchNorm1d's ``running_mean``, ``running_var``,
  ``num_batches_tracked``), dtypes kept (float32/float64), and each layer's
  ``train``/``eval`` mode kept. Going there and back gives the same bits.
* ``fcnn.save(model, path, layout="torch")`` writes the tensors as
  ``torch_state_dict(model)`` gives them, PyTorch's keys and shapes, so
  ``torch_model.load_state_dict(safetensors.torch.load_file(path))`` loads the file
  with ``strict=True``; ``load_state_dict_file(model, path)`` reads such a file (or one
  written from a PyTorch ``state_dict()``) into a matching fcnn model.

fcnn's ``Standardize`` has no PyTorch counterpart: ``to_torch`` writes it as
``fcnn.export.torch.TorchStandardize`` (a two-buffer ``torch.nn.Module``, built on first
use), which ``from_torch`` reads back.

torch is imported on first use, never by ``import fcnn``. The tables ``TO_TORCH``
(fcnn class -> converter) and ``FROM_TORCH`` (torch class name -> converter) are
extended with ``register_torch``.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..layers import (
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
from ..network import Sequential
from ..norm import BatchNorm1d, LayerNorm

__all__ = [
    "FROM_TORCH",
    "TO_TORCH",
    "from_torch",
    "load_state_dict_file",
    "register_torch",
    "to_torch",
    "torch_state_dict",
]

#: fcnn layer class -> ``f(layer, torch) -> torch.nn.Module`` (weights copied in).
TO_TORCH: dict[type, Callable[[Any, Any], Any]] = {}
#: torch.nn class name -> ``f(module) -> fcnn layer`` (weights copied in).
FROM_TORCH: dict[str, Callable[[Any], Layer]] = {}
#: fcnn layer class -> {state name: how PyTorch stores it (from fcnn's array)}, for the
#: layers whose state PyTorch lays out differently.
TORCH_LAYOUT: dict[type, dict[str, Callable[[np.ndarray], np.ndarray]]] = {
    Linear: {"weight": lambda W: np.ascontiguousarray(W.T)},
}


def register_torch(
    fcnn_class: type, torch_name: str, to: Callable[[Any, Any], Any], back: Callable[[Any], Layer]
) -> None:
    """Teach ``to_torch``/``from_torch`` a layer: ``to(layer, torch) -> module`` and
    ``back(module) -> layer``, for the torch class named ``torch_name`` (its ``__name__``)."""
    if not isinstance(fcnn_class, type) or not isinstance(torch_name, str):
        raise TypeError(f"register_torch expects an fcnn layer class and a torch class name, got "
                        f"{fcnn_class!r}, {torch_name!r}")
    TO_TORCH[fcnn_class] = to
    FROM_TORCH[torch_name] = back


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a test dependency
        raise ImportError("this needs PyTorch (https://pytorch.org/get-started/)") from exc
    return torch


def _tensor(torch: Any, array: np.ndarray) -> Any:
    return torch.from_numpy(np.array(array, copy=True))


def _array(tensor: Any, who: str) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    if array.dtype.kind == "f" and array.dtype not in (np.float32, np.float64):
        raise TypeError(f"from_torch: {who} holds {array.dtype} values; fcnn models are float32 or "
                        "float64 (convert the module with .double() or .float() first)")
    return np.array(array, copy=True)


def _copy_state(module: Any, layer: Layer) -> None:
    """Copy the fcnn layer's parameters and buffers into the torch module, in torch's layout."""
    torch = _torch()
    state = torch_state_dict(layer)
    with torch.no_grad():
        module.load_state_dict({k: _tensor(torch, v) for k, v in state.items()}, strict=True)


def _load_state(layer: Layer, module: Any, who: str) -> Layer:
    """Copy the torch module's parameters and buffers into the fcnn layer."""
    state = {name: _array(tensor, f"{who}.{name}") for name, tensor in module.state_dict().items()}
    layer.load_state_dict(_from_torch_layout(layer, state, who), strict=True)
    return layer


# ------------------------------------------------------------------------------ the layers


def _dtype_of(torch: Any, layer: Any) -> Any:
    return getattr(torch, str(layer.dtype))


def _simple(fcnn_class: type, torch_name: str, *attributes: str) -> None:
    """A layer whose only state is its constructor's scalar arguments, named alike."""

    def to(layer: Any, torch: Any) -> Any:
        return getattr(torch.nn, torch_name)(**{a: getattr(layer, a) for a in attributes})

    def back(module: Any) -> Layer:
        return fcnn_class(**{a: getattr(module, a) for a in attributes})

    register_torch(fcnn_class, torch_name, to, back)


_simple(ReLU, "ReLU")
_simple(Sigmoid, "Sigmoid")
_simple(Tanh, "Tanh")
_simple(SiLU, "SiLU")
_simple(Identity, "Identity")
_simple(LeakyReLU, "LeakyReLU", "negative_slope")
_simple(ELU, "ELU", "alpha")
_simple(Softplus, "Softplus", "beta", "threshold")
_simple(GELU, "GELU", "approximate")
_simple(Softmax, "Softmax", "dim")
_simple(LogSoftmax, "LogSoftmax", "dim")
_simple(Dropout, "Dropout", "p")


def _linear_to(layer: Linear, torch: Any) -> Any:
    module = torch.nn.Linear(layer.in_features, layer.out_features, dtype=_dtype_of(torch, layer))
    _copy_state(module, layer)
    return module


def _linear_back(module: Any) -> Layer:
    if module.bias is None:
        raise TypeError("from_torch: Linear(bias=False) has no fcnn counterpart (fcnn's Linear always "
                        "has a bias)")
    dtype = _array(module.weight, "Linear.weight").dtype
    layer = Linear(module.in_features, module.out_features, init=_zeros, dtype=dtype)
    return _load_state(layer, module, "Linear")


def _batch_norm_to(layer: BatchNorm1d, torch: Any) -> Any:
    module = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum,
                                  affine=layer.affine, track_running_stats=layer.track_running_stats,
                                  dtype=_dtype_of(torch, layer))
    _copy_state(module, layer)
    return module


def _batch_norm_back(module: Any) -> Layer:
    dtype = _module_dtype(module, "BatchNorm1d")
    layer = BatchNorm1d(module.num_features, eps=module.eps, momentum=module.momentum, affine=module.affine,
                        track_running_stats=module.track_running_stats, dtype=dtype)
    return _load_state(layer, module, "BatchNorm1d")


def _layer_norm_to(layer: LayerNorm, torch: Any) -> Any:
    module = torch.nn.LayerNorm(layer.normalized_shape, eps=layer.eps,
                                elementwise_affine=layer.elementwise_affine, bias=layer.bias is not None,
                                dtype=_dtype_of(torch, layer))
    _copy_state(module, layer)
    return module


def _layer_norm_back(module: Any) -> Layer:
    dtype = _module_dtype(module, "LayerNorm")
    layer = LayerNorm(tuple(module.normalized_shape), eps=module.eps,
                      elementwise_affine=module.elementwise_affine, bias=module.bias is not None, dtype=dtype)
    return _load_state(layer, module, "LayerNorm")


def _standardize_to(layer: Standardize, torch: Any) -> Any:
    module = _standardize_class()(layer.in_features, dtype=_dtype_of(torch, layer))
    _copy_state(module, layer)
    return module


def _standardize_back(module: Any) -> Layer:
    layer = Standardize(n_features=int(module.mean.shape[0]), dtype=_module_dtype(module, "Standardize"))
    return _load_state(layer, module, "Standardize")


#: The dtype of the module being converted, for layers that hold no tensor of their own
#: (a LayerNorm without affine parameters) but an fcnn dtype.
_MODEL_DTYPE: contextvars.ContextVar[str] = contextvars.ContextVar("dtype", default="float64")


def _module_dtype(module: Any, who: str) -> np.dtype:
    tensors = [t for t in module.state_dict().values() if t.is_floating_point()]
    return _array(tensors[0], who).dtype if tensors else np.dtype(_MODEL_DTYPE.get())


def _zeros(fan_in: int, fan_out: int, rng: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((fan_in, fan_out), dtype), np.zeros(fan_out, dtype)


register_torch(Linear, "Linear", _linear_to, _linear_back)
register_torch(BatchNorm1d, "BatchNorm1d", _batch_norm_to, _batch_norm_back)
register_torch(LayerNorm, "LayerNorm", _layer_norm_to, _layer_norm_back)
register_torch(Standardize, "TorchStandardize", _standardize_to, _standardize_back)

_STANDARDIZE: list[type] = []


def _standardize_class() -> type:
    """``fcnn.export.torch.TorchStandardize``: ``(X - mean) / scale`` as a torch module (built once)."""
    if not _STANDARDIZE:
        torch = _torch()

        class TorchStandardize(torch.nn.Module):  # type: ignore[name-defined, misc]
            """``y = (X - mean) / scale``: fcnn's Standardize layer, with buffers ``mean`` and ``scale``."""

            def __init__(self, n_features: int, dtype: Any = None) -> None:
                super().__init__()
                self.register_buffer("mean", torch.zeros(n_features, dtype=dtype))
                self.register_buffer("scale", torch.ones(n_features, dtype=dtype))

            def forward(self, X: Any) -> Any:
                return (X - self.mean) / self.scale

        TorchStandardize.__module__ = __name__
        _STANDARDIZE.append(TorchStandardize)
        globals()["TorchStandardize"] = TorchStandardize  # so that pickle finds it by name
    return _STANDARDIZE[0]


# ------------------------------------------------------------------------------ modules


def to_torch(model: Layer) -> Any:
    """The fcnn model as a ``torch.nn.Sequential`` with the same weights, dtype and modes.

    Parameters
    ----------
    model : Sequential (or a single layer)
        Layers with a converter in ``TO_TORCH``: Linear, BatchNorm1d, LayerNorm,
        Standardize, Dropout and the activations (ReLU, LeakyReLU, Sigmoid, Tanh, ELU,
        SiLU, GELU, Identity, Softmax, LogSoftmax).

    Returns
    -------
    torch.nn.Sequential
        Independent of ``model`` (weights copied); ``state_dict()`` keys equal fcnn's,
        ``Linear.weight`` transposed to PyTorch's ``(out, in)``. Dropout draws its own
        masks (torch's generator): training-mode outputs agree only without dropout.
    """
    torch = _torch()
    if not isinstance(model, Layer):
        raise TypeError(f"to_torch expected an fcnn model (a Sequential or a layer), got "
                        f"{type(model).__name__}")
    layers = model.layers if isinstance(model, Sequential) else [model]
    modules = [_module(torch, layer, str(i)) for i, layer in enumerate(layers)]
    result = torch.nn.Sequential(*modules)
    result.training = model.training
    return result


def _module(torch: Any, layer: Layer, where: str) -> Any:
    if isinstance(layer, Sequential):
        inner = torch.nn.Sequential(*(_module(torch, child, f"{where}.{i}")
                                      for i, child in enumerate(layer.layers)))
        inner.training = layer.training
        return inner
    convert = TO_TORCH.get(type(layer))
    if convert is None:
        raise TypeError(
            f"to_torch: layer {where} ({type(layer).__module__}.{type(layer).__qualname__}) has no PyTorch "
            f"counterpart; fcnn converts {', '.join(sorted(c.__name__ for c in TO_TORCH))} (teach it "
            "others with fcnn.export.torch.register_torch)"
        )
    module = convert(layer, torch)
    return module.train(layer.training)


def from_torch(module: Any) -> Sequential:
    """A ``torch.nn.Sequential`` (or one module) as an fcnn ``Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential or torch.nn.Module
        Of the modules in ``FROM_TORCH`` (PyTorch's Linear with a bias, BatchNorm1d,
        LayerNorm over one axis, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh, ELU, SiLU,
        GELU, Identity, Softmax/LogSoftmax over dim -1 or 1, and ``TorchStandardize``),
        float32 or float64.

    Returns
    -------
    Sequential
        Independent of ``module``; each layer's train/eval mode as the module's.

    Raises
    ------
    TypeError
        A module fcnn has no layer for; the message names it by its path in ``module``
        (``"2"``, ``"1.0"``) and its class. Nothing is returned half-converted.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch expected a torch.nn.Module, got {type(module).__name__}")
    children = list(module.named_children()) if isinstance(module, torch.nn.Sequential) else [("", module)]
    token = _MODEL_DTYPE.set(_module_dtype(module, "the module").name)
    try:
        model = Sequential(*(_layer(torch, child, name) for name, child in children))
    finally:
        _MODEL_DTYPE.reset(token)
    model.training = module.training
    return model


def _layer(torch: Any, module: Any, where: str) -> Layer:
    label = f"module {where!r} ({type(module).__name__})" if where else f"the {type(module).__name__}"
    if type(module) is torch.nn.Sequential:
        children = list(module.named_children())
        inner = Sequential(*(_layer(torch, child, f"{where}.{name}") for name, child in children))
        inner.training = module.training
        return inner
    convert = FROM_TORCH.get(type(module).__name__)
    is_known = convert is not None and (
        type(module) is getattr(torch.nn, type(module).__name__, None) or type(module) in _STANDARDIZE)
    if not is_known:
        raise TypeError(
            f"from_torch: {label} has no fcnn counterpart; fcnn converts torch.nn "
            f"{', '.join(sorted(FROM_TORCH))} inside a torch.nn.Sequential"
        )
    try:
        layer = convert(module)  # type: ignore[misc]
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"from_torch: {label}: {exc}") from None
    return layer.train(module.training)


# ------------------------------------------------------------------------------ state dicts


def _walk(model: Layer, prefix: str = "") -> Iterator[tuple[str, Layer]]:
    """``(key prefix, leaf layer)`` pairs, nested Sequentials included ("1.0.")."""
    if isinstance(model, Sequential):
        for i, layer in enumerate(model.layers):
            yield from _walk(layer, f"{prefix}{i}.")
    else:
        yield prefix, model


def torch_state_dict(model: Layer) -> dict[str, np.ndarray]:
    """``model.state_dict()`` in PyTorch's layout: same keys, ``Linear.weight`` ``(out, in)``."""
    state: dict[str, np.ndarray] = {}
    for prefix, layer in _walk(model):
        layout = TORCH_LAYOUT.get(type(layer), {})
        for name, array in layer.state_dict().items():
            state[prefix + name] = layout[name](array) if name in layout else array
    return state


def _from_torch_layout(model: Layer, state: dict[str, np.ndarray], who: str) -> dict[str, np.ndarray]:
    """The inverse of ``torch_state_dict``: PyTorch's arrays in fcnn's shapes (checked by
    ``load_state_dict``). Unknown keys pass through, for its error to name them."""
    converted = dict(state)
    for prefix, layer in _walk(model):
        if type(layer) in TORCH_LAYOUT and "weight" in TORCH_LAYOUT[type(layer)]:
            key = prefix + "weight"
            if key in converted and np.ndim(converted[key]) == 2:
                converted[key] = np.ascontiguousarray(np.asarray(converted[key]).T)
    return converted


def load_state_dict_file(model: Layer, path: str | os.PathLike[str], *, strict: bool = True) -> Any:
    """Load a PyTorch-layout safetensors file into ``model`` (in place); return what
    ``load_state_dict`` returns (missing and unexpected keys, with ``strict=False``).

    The file is one ``fcnn.save(model, path, layout="torch")`` wrote or one written
    from a PyTorch ``state_dict()`` (``safetensors.torch.save_file(module.state_dict(),
    path)``) of a module with ``model``'s architecture. Every key, shape and dtype is
    checked before anything is written: a refused file changes nothing.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    from ..errors import ModelFileError
    from ..serialization import _as_path

    source = _as_path(path, "load_state_dict_file")
    if not isinstance(model, Layer):
        raise TypeError(f"load_state_dict_file expected an fcnn model, got {type(model).__name__}")
    if not source.is_file():
        raise FileNotFoundError(2, "load_state_dict_file: no such file", str(source))
    try:
        with safe_open(str(source), framework="numpy") as handle:
            header = handle.metadata() or {}
        state = load_file(str(source))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{source}: not a readable safetensors file ({exc})") from None
    if header.get("format") == "fcnn":
        if header.get("layout", "fcnn") != "torch":
            raise ModelFileError(f"{source} is an fcnn model file in fcnn's layout: read it with fcnn.load")
        state = {k: v for k, v in state.items() if not k.startswith("metadata.")}  # fcnn.save's extras
    converted = _from_torch_layout(model, state, "load_state_dict_file")
    own = model.state_dict()
    for key, value in converted.items():
        if key in own and value.dtype != own[key].dtype and own[key].dtype.kind == "f":
            raise TypeError(f"load_state_dict_file: {source} holds {key!r} as {value.dtype}, the model's "
                            f"is {own[key].dtype}; build the model with dtype={value.dtype}")
    return model.load_state_dict(converted, strict=strict)
