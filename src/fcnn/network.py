"""Networks: ``Sequential`` chains layers; ``NeuralNetwork`` is the lab's
4-layer architecture; ``mlp`` builds any multilayer perceptron.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._validation import as_float_array, check_finite, choice, resolve_dtype
from .errors import ShapeError
from .init import RNGLike, as_generator
from .layers import Dropout, Layer, LeakyReLU, Linear, ReLU
from .norm import BatchNorm1d, LayerNorm
from .parameter import Parameter
from .registry import ACTIVATIONS

__all__ = ["ACTIVATIONS", "NeuralNetwork", "Sequential", "mlp"]


class Sequential(Layer):
    """Layers applied one after another, like PyTorch's ``nn.Sequential``.

    ``forward`` checks its input once (shape, dtype, NaN/inf) and then runs each
    layer; ``backward`` runs them in reverse and returns ``dL/dX``.
    """

    def __init__(self, *layers: Layer) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(
                    f"Sequential: item {i} must be a layer with forward/backward, "
                    f"got {type(layer).__name__}"
                )
            layer.check_finite = False  # the Sequential checks its own input
        self.layers: list[Layer] = list(layers)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (N, in_features) -> (N, out_features)."""
        if self.check_finite:
            X = as_float_array(X, "Sequential")
            if X.ndim != 2:
                hint = "; for one sample use X.reshape(1, -1)" if X.ndim == 1 else ""
                raise ShapeError(f"Sequential expected a 2-D input (N, features), got {X.shape}{hint}")
            check_finite(X, "Sequential", "input")
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def backward(self, dLdy: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """dLdy: (N, out_features) -> dL/dX: (N, in_features).

        With ``input_grad=False`` the first layer's dL/dX is not computed (the
        training loop never needs it) and ``None`` is returned.
        """
        layers = self.layers
        for i in range(len(layers) - 1, 0, -1):
            dLdy = layers[i].backward(dLdy)
        first = layers[0]
        if not input_grad and first.backward_params is not None:
            first.backward_params(dLdy)
            return None
        return first.backward(dLdy)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``("0.weight", p), ("0.bias", p), ("2.weight", p), ...``: PyTorch's keys."""
        for i, layer in enumerate(self.layers):
            yield from layer.named_parameters(f"{prefix}{i}.")

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for i, layer in enumerate(self.layers):
            yield from layer.named_buffers(f"{prefix}{i}.")

    def _named_state(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for i, layer in enumerate(self.layers):
            yield from layer._named_state(f"{prefix}{i}.")

    def _check_state(self, values: dict[str, np.ndarray]) -> None:
        for i, layer in enumerate(self.layers):
            prefix = f"{i}."
            layer._check_state({k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)})

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    @property
    def in_features(self) -> int | None:  # type: ignore[override]
        for layer in self.layers:
            if getattr(layer, "in_features", None) is not None:
                return layer.in_features
        return None

    def get_parameters(self) -> list[Parameter]:
        """The lab's name for ``parameters()``."""
        return self.parameters()

    def train(self, mode: bool = True) -> Sequential:
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    @property
    def dtype(self) -> np.dtype:
        params = self.parameters()
        return params[0].dtype if params else np.dtype(np.float64)

    def get_config(self) -> dict[str, Any]:
        return {
            "layers": [
                {"type": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ]
        }

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, layer in enumerate(self.layers):
            inner = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({i}): {inner}")
        lines.append(")")
        return "\n".join(lines)

    def _pack_parameters(self) -> None:
        # Puts every parameter's weights (and grads) into one contiguous buffer,
        # so an optimizer updates all of them with a couple of NumPy calls
        # instead of a few per parameter. Only for networks the library builds
        # itself (mlp, NeuralNetwork), before any caller holds a reference.
        params = self.parameters()
        if not params or len({p.dtype for p in params}) != 1:
            return
        total = sum(p.size for p in params)
        weights = np.empty(total, params[0].dtype)
        grads = np.zeros(total, params[0].dtype)
        offset = 0
        for p in params:
            end = offset + p.size
            p._rebind(weights[offset:end].reshape(p.shape), grads[offset:end].reshape(p.shape))
            offset = end
        self._packed = True

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # pickle and deepcopy copy the views of the flat buffer apart: pack again
        if state.get("_packed"):
            self._pack_parameters()


class NeuralNetwork(Sequential):
    """The lab's network: Linear, ReLU, Linear, ReLU, Linear.

    ``input_size -> hidden_size -> hidden_size -> output_size``; the layers are
    in ``.layers`` and ``get_parameters()`` lists the three (w, bias) pairs.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        init: Any = "default",
        rng: RNGLike = None,
        dtype: Any = np.float64,
    ) -> None:
        rng = as_generator(rng)
        super().__init__(
            Linear(input_size, hidden_size, init=init, rng=rng, dtype=dtype),
            ReLU(),
            Linear(hidden_size, hidden_size, init=init, rng=rng, dtype=dtype),
            ReLU(),
            Linear(hidden_size, output_size, init=init, rng=rng, dtype=dtype),
        )
        self._pack_parameters()


_NORMS: dict[str | None, Any] = {None: None, "batch": BatchNorm1d, "layer": LayerNorm}


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    *,
    dropout: float = 0.0,
    init: Any = "default",
    rng: RNGLike = None,
    dtype: Any = np.float64,
    negative_slope: float = 0.01,
    norm: str | None = None,
) -> Sequential:
    """Build a multilayer perceptron.

    ``mlp([4, 100, 100, 3])`` is Linear(4, 100), ReLU, Linear(100, 100), ReLU,
    Linear(100, 3). Each hidden layer is Linear -> norm -> activation -> dropout,
    the conventional order: ``norm`` is None (default), ``"batch"`` (BatchNorm1d) or
    ``"layer"`` (LayerNorm); ``activation`` is a name in ``fcnn.registry.ACTIVATIONS``;
    ``dropout > 0`` adds a Dropout. The output layer has no activation (losses take
    logits). Same ``rng`` seed, same weights (the norm layers draw nothing).
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(
            f"mlp: sizes must be a sequence of ints such as [4, 100, 3], got {type(sizes).__name__}"
        )
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    norm_layer = _NORMS[choice(norm, "norm", "mlp", tuple(_NORMS))]
    dtype = resolve_dtype(dtype)
    rng = as_generator(rng)
    layers: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(Linear(fan_in, fan_out, init=init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            if norm_layer is not None:
                layers.append(norm_layer(fan_out, dtype=dtype))
            act = ACTIVATIONS[activation]
            layers.append(act(negative_slope) if act is LeakyReLU else act())
            if dropout:
                layers.append(Dropout(dropout, rng=int(rng.integers(2**63))))
    model = Sequential(*layers)
    model._pack_parameters()
    return model
