"""Layers: each computes ``y = f(X)`` in ``forward`` and, in ``backward``,
turns ``dL/dy`` into ``dL/dX`` while adding ``dL/dW`` into its parameters.

Shapes: ``X`` is ``(N, in_features)`` for ``Linear`` and any shape for the
element-wise layers; ``dLdy`` always has the shape of the forward output.
A layer caches exactly what its backward needs (``Linear`` keeps a reference
to ``X``, not a copy: do not modify an input in place between ``forward`` and
``backward``).

Gradients *accumulate* into ``param.grad`` (``+=``), as in PyTorch, so two
backward passes before ``zero_grad()`` add up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ._cache import DropsCacheWhenPickled
from ._validation import as_float_array, check_finite, choice, number, positive_int, resolve_dtype
from .errors import NotReadyError, ShapeError
from .init import RNGLike, as_generator, get_initializer
from .parameter import Parameter
from .registry import LAYERS, register_activation, register_layer

__all__ = ["ELU", "GELU", "LAYERS", "Dropout", "Identity", "Layer", "LeakyReLU", "Linear", "LogSoftmax",
           "ReLU", "SiLU", "Sigmoid", "Softmax", "Standardize", "StateDictResult", "Tanh"]


class StateDictResult(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` left out (PyTorch's return value)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Layer(DropsCacheWhenPickled):
    """Base class of every layer: the contract the rest of fcnn is written against.

    A layer computes ``forward`` and ``backward``, and says what it holds:

    - **parameters**: every ``Parameter`` attribute, in the order assigned
      (``named_parameters()``; ``Linear`` has ``weight`` then ``bias``);
    - **buffers**: non-trainable arrays that are part of the model, such as running
      statistics, declared with ``register_buffer(name, array)`` (``named_buffers()``);
    - **config**: ``get_config()``, the constructor's keyword arguments (JSON values).

    From these alone fcnn saves and loads a layer, names its gradient-check rows,
    summarizes it and converts it: nothing outside the layer names its type.
    """

    #: False inside a Sequential, which checks its own input for NaN/inf once.
    check_finite: bool = True
    training: bool = True
    #: The number of input features the layer expects, where it knows (``None``: any).
    in_features: int | None = None
    #: A method computing only the parameter gradients, for a layer that can skip dL/dX
    #: (``Linear``); ``Sequential`` uses it for its first layer.
    backward_params: Any = None
    _buffer_names: tuple[str, ...] = ()

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Compute the output ``y`` from ``X`` and cache what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """Return ``dL/dX`` from ``dL/dy``; add ``dL/dW`` into each parameter."""
        raise NotImplementedError

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)

    # -- what the layer holds ----------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs: every Parameter attribute, in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters (empty for activations)."""
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep ``value`` (copied to an array) as the attribute ``name``: model state that is
        saved, loaded and converted with the parameters but never trained."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{type(self).__name__}.register_buffer: name must be an identifier, "
                             f"got {name!r}")
        setattr(self, name, np.array(value, copy=True))
        if name not in self._buffer_names:
            self._buffer_names = (*self._buffer_names, name)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """``(name, array)`` pairs of the buffers, in registration order."""
        for name in self._buffer_names:
            yield prefix + name, getattr(self, name)

    def _named_state(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        # PyTorch's order: each layer's parameters, then its buffers.
        for name, param in self.named_parameters(prefix):
            yield name, param.weights
        yield from self.named_buffers(prefix)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by PyTorch-style key (``"weight"``, ``"0.bias"``,
        ``"1.running_mean"``), as copies, in fcnn's shapes (``Linear.weight`` is ``(in, out)``)."""
        return {name: array.copy() for name, array in self._named_state()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> StateDictResult:
        """Copy parameters and buffers from ``state_dict`` (as ``state_dict()`` returns it).

        Every key, shape and dtype is checked before anything is written: a refused
        dictionary changes nothing. With ``strict=False`` missing and unexpected keys are
        allowed and returned.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expected a mapping of name -> array, got "
                            f"{type(state_dict).__name__}")
        own = dict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = [f"missing keys {missing}"] * bool(missing) + [f"unexpected keys {unexpected}"] * bool(
                unexpected)
            raise KeyError(f"{type(self).__name__}.load_state_dict: {' and '.join(parts)}; "
                           f"this model's keys are {list(own)}")
        values = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            if value.shape != target.shape:
                raise ShapeError(f"{type(self).__name__}.load_state_dict: {key!r} has shape "
                                 f"{value.shape}, this model's is {target.shape}")
            if value.dtype != target.dtype:
                raise TypeError(f"{type(self).__name__}.load_state_dict: {key!r} has dtype "
                                f"{value.dtype}, this model's is {target.dtype} (convert it with "
                                f".astype(np.{target.dtype}) first)")
            values[key] = value
        self._check_state(values)
        for key, value in values.items():
            np.copyto(own[key], value)
        return StateDictResult(missing, unexpected)

    def _check_state(self, values: dict[str, np.ndarray]) -> None:
        """Refuse values that have the right keys, shapes and dtypes but break the layer's own
        rules (a Standardize scale of 0, say): raise before anything is written. ``values``
        uses this object's keys; a container calls each layer's check with its prefix."""

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serializable: ``type(self)(**get_config())`` builds
        the same layer (with fresh weights). Used by ``fcnn.save``."""
        return {}

    @classmethod
    def example(cls, in_features: int, *, dtype: Any = np.float64, rng: RNGLike = None) -> Layer:
        """A small instance taking ``in_features`` inputs, for ``fcnn gradcheck``.

        The default calls ``cls()``; a layer whose constructor needs arguments
        overrides this.
        """
        return cls()

    def summary(self, in_features: int | None = None) -> str:
        """A table of the layers: output shapes, parameter counts, dtype (like Keras's)."""
        from .summary import summary

        return summary(self, in_features)

    # -- modes ----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero every parameter's gradient (see ``Parameter.zero_grad``)."""
        for param in self.parameters():
            param.zero_grad(set_to_none)

    def train(self, mode: bool = True) -> Layer:
        """Switch training mode on (or off with ``mode=False``); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Switch to evaluation mode (Dropout becomes the identity); returns self."""
        return self.train(False)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # -- helpers for subclasses ------------------------------------------------
    def _input(self, X: Any) -> np.ndarray:
        """Check an element-wise layer's input: numeric, non-empty, float."""
        if type(X) is not np.ndarray or X.dtype.char not in "fd":  # float32/64 pass as they are
            X = as_float_array(X, repr(self))
        if X.ndim == 0 or X.shape[0] == 0:
            raise ShapeError(f"{self!r} expected a non-empty batch, got shape {X.shape}")
        if self.check_finite:
            check_finite(X, repr(self))
        return X

    def _grad_output(self, dLdy: Any, cached: Any) -> np.ndarray:
        """Check ``dLdy`` against ``cached``, an array (or anything with the shape and
        dtype of the forward output) kept by the forward pass; ``None`` before it."""
        if cached is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        dtype = cached.dtype
        if type(dLdy) is not np.ndarray or dLdy.dtype != dtype:
            dLdy = as_float_array(dLdy, f"{self!r}.backward", dtype)
        if dLdy.shape != cached.shape:
            raise ShapeError(
                f"{self!r}.backward expected dLdy of shape {cached.shape} (the forward output's), "
                f"got {dLdy.shape}"
            )
        return dLdy


@register_layer
class Linear(Layer):
    """Fully connected layer ``y = X @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
        ``weight`` is ``(in_features, out_features)``, ``bias`` is ``(out_features,)``.
        (PyTorch stores the transpose, ``(out, in)``; the maths here is the lab's.)
    init : str or callable, default "default"
        A name from ``fcnn.init.INITIALIZERS`` or ``f(fan_in, fan_out, rng, dtype)
        -> (W, b)``; the default is PyTorch's ``nn.Linear`` scheme (see ``fcnn.init``).
    rng : Generator, int or None
        Source of the initial weights.
    dtype : float64 (default) or float32

    ``w`` is the lab's name for ``weight``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: Any = "default",
        rng: RNGLike = None,
        dtype: Any = np.float64,
    ) -> None:
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        W, b = get_initializer(init)(
            self.in_features, self.out_features, as_generator(rng), resolve_dtype(dtype)
        )
        self.weight = Parameter(W)
        self.bias = Parameter(b)
        self._X: np.ndarray | None = None

    _cache = ("_X",)

    @property
    def w(self) -> Parameter:
        """The lab's name for ``weight``."""
        return self.weight

    @w.setter
    def w(self, value: Parameter) -> None:
        self.weight = value

    @property
    def dtype(self) -> np.dtype:
        return self.weight.dtype

    @classmethod
    def example(cls, in_features: int, *, dtype: Any = np.float64, rng: RNGLike = None) -> Linear:
        return cls(in_features, 3, rng=rng, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (N, in_features) -> y: (N, out_features)."""
        W = self.weight._weights  # (not the .weights property: this runs every step)
        if not (
            type(X) is np.ndarray
            and X.dtype == W.dtype
            and X.ndim == 2
            and X.shape[1] == self.in_features
            and X.shape[0]
        ):
            X = self._check_input(X)
        if self.check_finite:
            check_finite(X, repr(self))
        self._X = X
        y = X @ W
        y += self.bias._weights
        return y

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """dLdy: (N, out_features) -> dL/dX: (N, in_features)."""
        dLdy = self.backward_params(dLdy)
        return dLdy @ self.weight._weights.T  # dL/dX = dLdy @ W.T  (._weights: the hot path)

    def backward_params(self, dLdy: np.ndarray) -> np.ndarray:
        """The parameter half of ``backward``; returns the checked ``dLdy``.

        ``Sequential`` calls this alone for its first layer, whose dL/dX nobody needs.
        """
        X = self._X
        if X is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        if not (type(dLdy) is np.ndarray and dLdy.dtype == X.dtype and dLdy.shape == (
                X.shape[0], self.out_features)):
            dLdy = self._check_grad(dLdy, X)
        self.weight.add_grad(np.matmul, X.T, dLdy)  # dL/dW = X.T @ dLdy
        self.bias.add_grad(np.add.reduce, dLdy, 0)  # dL/db = dLdy summed over the batch (axis 0)
        return dLdy

    def get_config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "dtype": str(self.dtype)}

    def extra_repr(self) -> str:
        dtype = "" if self.dtype == np.float64 else f", dtype={self.dtype}"
        return f"in_features={self.in_features}, out_features={self.out_features}{dtype}"

    def _check_input(self, X: Any) -> np.ndarray:
        X = as_float_array(X, repr(self), self.dtype)
        if X.ndim != 2 or X.shape[1] != self.in_features:
            hint = " (a single sample needs shape (1, n): use X.reshape(1, -1))" if X.ndim == 1 else ""
            raise ShapeError(
                f"Linear({self.in_features} -> {self.out_features}) expected input of shape "
                f"(N, {self.in_features}), got {X.shape}{hint}"
            )
        if X.shape[0] == 0:
            raise ShapeError(f"{self!r} expected a non-empty batch, got shape {X.shape}")
        return X

    def _check_grad(self, dLdy: Any, X: np.ndarray) -> np.ndarray:
        dLdy = as_float_array(dLdy, f"{self!r}.backward", X.dtype)
        expected = (X.shape[0], self.out_features)
        if dLdy.shape != expected:
            raise ShapeError(
                f"Linear({self.in_features} -> {self.out_features}).backward expected dLdy of "
                f"shape {expected}, got {dLdy.shape}"
            )
        return dLdy


@register_layer
@register_activation("relu")
class ReLU(Layer):
    """``y = max(X, 0)``; ``dL/dX = dL/dy`` where ``X > 0``, else 0."""

    _cache = ("_dydX",)

    def __init__(self) -> None:
        self._dydX: np.ndarray | None = None  # 1.0 where X > 0, else 0.0

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        # dy/dX as 0.0/1.0 floats, and y = X * dy/dX: multiplying by a float mask is
        # 2-3x faster than by booleans and than np.maximum on float32
        self._dydX = dydX = (X > 0.0).astype(X.dtype)
        y = X * dydX
        return np.abs(y, out=y)  # negative X * 0.0 gives -0.0; show it as 0.0

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX


@register_layer
@register_activation("leaky_relu")
class LeakyReLU(Layer):
    """``y = X`` where ``X > 0``, else ``negative_slope * X``."""

    _cache = ("_dydX",)

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = number(negative_slope, "negative_slope", "LeakyReLU")
        self._dydX: np.ndarray | None = None  # 1 where X > 0, else negative_slope

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        one, slope = X.dtype.type(1), X.dtype.type(self.negative_slope)
        self._dydX = np.where(X > 0, one, slope)
        return X * self._dydX

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


@register_layer
@register_activation("logistic")
@register_activation("sigmoid")
class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-X))``; ``dL/dX = dL/dy * y * (1 - y)``."""

    _cache = ("_y",)

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        # 1/(1+exp(-X)) = exp(-log(1 + exp(-X))): logaddexp never overflows, so
        # X = ±1e4 gives exactly 1 and 0 with no warning, and tiny outputs keep
        # their relative precision.
        y = np.exp(-np.logaddexp(0, -X))
        self._y = y
        return y.copy()

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        y = self._y
        dLdy = self._grad_output(dLdy, y)
        return dLdy * (y * (1 - y))


@register_layer
@register_activation("tanh")
class Tanh(Layer):
    """``y = tanh(X)``; ``dL/dX = dL/dy * (1 - y**2)``."""

    _cache = ("_y",)

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        y = np.tanh(X)
        self._y = y
        return y.copy()

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        y = self._y
        dLdy = self._grad_output(dLdy, y)
        return dLdy * (1 - y * y)


@register_layer
class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``p`` and
    scale the survivors by ``1/(1-p)``; in eval mode, the identity.

    The mask comes from the layer's own Generator (``rng``), so a seeded
    network drops the same units on every run.
    """

    def __init__(self, p: float = 0.5, *, rng: RNGLike = None) -> None:
        self.p = number(p, "p (the probability of dropping a unit)", "Dropout", low=0, high=1,
                        high_open=True)
        self.rng = as_generator(rng)
        self._scale: np.ndarray | None = None  # 0 or 1/(1-p) per element; None in eval
        self._output: _Like | None = None  # the forward output's shape and dtype

    _cache = ("_scale", "_output")

    @classmethod
    def example(cls, in_features: int, *, dtype: Any = np.float64, rng: RNGLike = None) -> Dropout:
        return cls(0.5, rng=rng)

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        self._output = _Like(X.shape, X.dtype)
        if not self.training or self.p == 0:
            self._scale = None
            return X.copy()
        keep = self.rng.random(X.shape, dtype=X.dtype) >= self.p
        self._scale = keep * X.dtype.type(1 / (1 - self.p))
        return X * self._scale

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dLdy = self._grad_output(dLdy, self._output)
        return dLdy.copy() if self._scale is None else dLdy * self._scale

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}


class _Like:
    """The shape and dtype of a forward result that is not itself kept."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype


# -- more activations ---------------------------------------------------------------------


@register_layer
@register_activation("identity")
class Identity(Layer):
    """``y = X`` (the input array itself, as PyTorch's ``nn.Identity``); ``dL/dX = dL/dy``."""

    _cache = ("_output",)

    def __init__(self) -> None:
        self._output: _Like | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        self._output = _Like(X.shape, X.dtype)
        return X

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        return self._grad_output(dLdy, self._output)


@register_layer
@register_activation("elu")
class ELU(Layer):
    """``y = X`` where ``X > 0``, else ``alpha * (exp(X) - 1)``;
    ``dy/dX = 1`` where ``X > 0``, else ``alpha * exp(X)`` (PyTorch's ``nn.ELU``)."""

    _cache = ("_dydX",)

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = number(alpha, "alpha", "ELU")
        self._dydX: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        positive = X > 0
        alpha = X.dtype.type(self.alpha)
        # exp of min(X, 0) only: the positive side never overflows (X = 1e4 is fine)
        alpha_exp = np.exp(np.minimum(X, 0))
        alpha_exp *= alpha
        self._dydX = np.where(positive, X.dtype.type(1), alpha_exp)
        return np.where(positive, X, alpha * np.expm1(np.minimum(X, 0)))

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


def _sigmoid(X: np.ndarray) -> np.ndarray:
    # exp(-log(1 + exp(-X))): logaddexp never overflows, so X = ±1e4 gives 1 and 0 with no warning
    return np.exp(-np.logaddexp(0, -X))


@register_layer
@register_activation("softplus")
class Softplus(Layer):
    """``y = log(1 + exp(beta X)) / beta``, and ``y = X`` where ``beta X > threshold``
    (PyTorch's ``nn.Softplus``); ``dy/dX = sigmoid(beta X)``, 1 past the threshold."""

    _cache = ("_dydX",)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = number(beta, "beta", "Softplus", low=0, low_open=True)
        self.threshold = number(threshold, "threshold", "Softplus")
        self._dydX: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        beta = X.dtype.type(self.beta)
        bX = X * beta
        linear = bX > self.threshold
        self._dydX = np.where(linear, X.dtype.type(1), _sigmoid(bX))
        return np.where(linear, X, np.logaddexp(0, bX) / beta)  # logaddexp: no overflow at 1e4

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX

    def get_config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}


@register_layer
@register_activation("silu")
class SiLU(Layer):
    """``y = X * sigmoid(X)``; ``dy/dX = s * (1 + X * (1 - s))`` with ``s = sigmoid(X)``."""

    _cache = ("_dydX",)

    def __init__(self) -> None:
        self._dydX: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        s = _sigmoid(X)
        y = X * s
        self._dydX = s * (1 + (X - y))  # X * (1 - s) = X - y
        return y

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX


@register_layer
@register_activation("gelu")
class GELU(Layer):
    """``y = X * Phi(X)``, Phi the standard normal CDF (PyTorch's ``nn.GELU``).

    ``approximate="none"``: ``Phi(X) = (1 + erf(X / sqrt 2)) / 2`` and
    ``dy/dX = Phi(X) + X * phi(X)``, phi the normal density; erf is SciPy's,
    imported on first use (``import fcnn`` stays NumPy-only).
    ``approximate="tanh"``: ``y = X/2 * (1 + tanh(sqrt(2/pi) * (X + 0.044715 X**3)))``.
    """

    _cache = ("_dydX",)

    def __init__(self, approximate: str = "none") -> None:
        self.approximate = choice(approximate, "approximate", "GELU", ("none", "tanh"))
        self._dydX: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        if self.approximate == "tanh":
            return self._forward_tanh(X)
        from scipy.special import erf

        cdf = erf(X * X.dtype.type(np.sqrt(0.5)))
        cdf += 1
        cdf *= 0.5
        # X * phi(X) from X clipped to ±1e3, where phi is 0 already: X**2 never overflows
        Xc = np.clip(X, -1e3, 1e3)
        pdf = np.exp(-0.5 * (Xc * Xc))
        pdf *= X.dtype.type(1 / np.sqrt(2 * np.pi))
        pdf *= Xc
        self._dydX = pdf + cdf
        return X * cdf

    def _forward_tanh(self, X: np.ndarray) -> np.ndarray:
        beta, kappa = X.dtype.type(np.sqrt(2 / np.pi)), X.dtype.type(0.044715)
        # the cubic from X clipped to ±1e3, where tanh is ±1 and 1 - t^2 is 0 already
        Xc = np.clip(X, -1e3, 1e3)
        X2 = Xc * Xc
        t = np.tanh(beta * Xc * (1 + kappa * X2))
        half_x = 0.5 * X
        # d/dX [X/2 (1 + t)] = (1 + t)/2 + X/2 (1 - t^2) beta (1 + 3 kappa X^2)
        self._dydX = 0.5 * (1 + t) + (0.5 * Xc) * (1 - t * t) * (beta * (1 + 3 * kappa * X2))
        return half_x * (1 + t)

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX

    def get_config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _SoftmaxBase(Layer):
    _cache = ("_y",)

    def __init__(self, dim: int = -1) -> None:
        self.dim = int(choice(dim, "dim", type(self).__name__, (-1, 1)))
        self._y: np.ndarray | None = None

    def _logits(self, X: Any) -> np.ndarray:
        X = self._input(X)
        if X.ndim != 2:
            raise ShapeError(f"{self!r} expected input of shape (N, C), got {X.shape}"
                             + ("; for one sample use X.reshape(1, -1)" if X.ndim == 1 else ""))
        return X - X.max(axis=1, keepdims=True)  # shifted so exp never overflows

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}


@register_layer
class Softmax(_SoftmaxBase):
    """Row-wise softmax of ``(N, C)`` input (``dim`` -1 or 1: the class axis);
    ``dL/dX = y * (dL/dy - sum(dL/dy * y))``."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        y = np.exp(self._logits(X))
        y /= y.sum(axis=1, keepdims=True)
        self._y = y
        return y.copy()

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        y = self._y
        dLdy = self._grad_output(dLdy, y)
        return y * (dLdy - np.einsum("ij,ij->i", dLdy, y)[:, None])


@register_layer
class LogSoftmax(_SoftmaxBase):
    """Row-wise ``log(softmax(X))`` of ``(N, C)`` input through log-sum-exp;
    ``dL/dX = dL/dy - softmax(X) * sum(dL/dy)``."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        z = self._logits(X)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        self._y = z
        return z.copy()

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        y = self._y
        dLdy = self._grad_output(dLdy, y)
        return dLdy - np.exp(y) * dLdy.sum(axis=1, keepdims=True)


# -- fixed preprocessing --------------------------------------------------------------------


@register_layer
class Standardize(Layer):
    """A fixed affine layer ``y = (X - mean) / scale`` that carries preprocessing inside
    the model (saved and loaded with it; never trained).

    Parameters
    ----------
    mean, scale : array_like of shape (n_features,)
        E.g. a fitted scikit-learn ``StandardScaler``'s ``mean_`` and ``scale_``. ``scale``
        must be positive and finite. Both are kept as buffers ``mean`` and ``scale``.
    n_features : int, optional
        Instead of ``mean`` and ``scale``: a placeholder of zeros and ones, whose values
        ``load_state_dict`` then fills in (this is how ``fcnn.load`` rebuilds the layer
        from ``get_config()``, which holds no arrays). Given with them, it must agree.
    dtype : float32 or float64, optional
        Default: the dtype of ``mean``/``scale`` when float32, else float64.

    Shapes: ``X`` and ``y`` are ``(N, n_features)``; ``dL/dX = dL/dy / scale``.
    """

    _cache = ("_output",)

    def __init__(self, mean: Any = None, scale: Any = None, *, n_features: int | None = None,
                 dtype: Any = None) -> None:
        who = "Standardize"
        if n_features is not None:
            n_features = positive_int(n_features, "n_features", who)
        if (mean is None) != (scale is None):
            raise ValueError(f"{who}: give both mean and scale (or neither, with n_features), got "
                             f"only {'mean' if scale is None else 'scale'}")
        if mean is None:
            if n_features is None:
                raise ValueError(f"{who} needs mean and scale (or n_features for a placeholder)")
            dtype = resolve_dtype(np.float64 if dtype is None else dtype)
            mean, scale = np.zeros(n_features, dtype), np.ones(n_features, dtype)
        else:
            mean, scale = as_float_array(mean, f"{who}: mean"), as_float_array(scale, f"{who}: scale")
            if dtype is None:
                both32 = mean.dtype == np.float32 and scale.dtype == np.float32
                dtype = np.float32 if both32 else np.float64
            dtype = resolve_dtype(dtype)
            mean, scale = self._values(mean, scale, n_features, dtype)
        self.in_features = mean.shape[0]
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self._output: _Like | None = None

    @staticmethod
    def _values(mean: np.ndarray, scale: np.ndarray, n_features: int | None,
                dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        who = "Standardize"
        mean = as_float_array(mean, f"{who}: mean", dtype)
        scale = as_float_array(scale, f"{who}: scale", dtype)
        for name, value in (("mean", mean), ("scale", scale)):
            if value.ndim != 1 or value.shape[0] == 0:
                raise ShapeError(f"{who}: {name} must be a non-empty 1-D array (one value per "
                                 f"feature), got shape {value.shape}")
        if mean.shape != scale.shape:
            raise ShapeError(f"{who}: mean and scale must have the same shape, got {mean.shape} and "
                             f"{scale.shape}")
        if n_features is not None and mean.shape[0] != n_features:
            raise ShapeError(f"{who}: n_features={n_features} but mean and scale have "
                             f"{mean.shape[0]} values")
        check_finite(mean, who, "mean")
        bad = ~(scale > 0) | ~np.isfinite(scale)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{who}: scale must be positive and finite, got {float(scale[i])!r} at "
                             f"index {i} (a constant feature has scale 0: use 1 there, as "
                             "scikit-learn's StandardScaler does)")
        return mean, scale

    @classmethod
    def example(cls, in_features: int, *, dtype: Any = np.float64, rng: RNGLike = None) -> Standardize:
        g = as_generator(rng)
        return cls(g.standard_normal(in_features), g.uniform(0.5, 2.0, in_features), dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.mean.dtype

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (N, n_features) -> y: (N, n_features)."""
        n = self.in_features
        if not (type(X) is np.ndarray and X.dtype == self.mean.dtype and X.ndim == 2
                and X.shape[1] == n and X.shape[0]):
            X = as_float_array(X, repr(self), self.mean.dtype)
            if X.ndim != 2 or X.shape[1] != n or X.shape[0] == 0:
                raise ShapeError(f"{self!r} expected a non-empty input of shape (N, {n}), got "
                                 f"{X.shape}")
        if self.check_finite:
            check_finite(X, repr(self))
        self._output = _Like(X.shape, X.dtype)
        y = X - self.mean
        y /= self.scale
        return y

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """dLdy: (N, n_features) -> dL/dX = dLdy / scale."""
        dLdy = self._grad_output(dLdy, self._output)
        return dLdy / self.scale

    def _check_state(self, values: dict[str, np.ndarray]) -> None:
        # a file or a dict may hold a scale of 0, NaN or -1: the constructor's checks again
        self._values(values.get("mean", self.mean), values.get("scale", self.scale),
                     self.in_features, self.mean.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"n_features": self.in_features, "dtype": str(self.mean.dtype)}
