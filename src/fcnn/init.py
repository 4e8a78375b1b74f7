"""Weight initializers for ``Linear`` layers.

Each initializer takes ``(fan_in, fan_out, rng, dtype)`` and returns the
weights ``(fan_in, fan_out)`` and the bias ``(fan_out,)``. Randomness comes only
from ``rng``: a ``np.random.Generator``, an int seed, or ``None`` for fresh
entropy. The same seed gives bit-identical arrays.

``Linear``'s default is ``"default"``, PyTorch's own ``nn.Linear`` scheme,
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and bias: it scales with
the layer's width (the lab's fixed ``randn * 0.1`` gives logits with std ~6 on
a 784-wide input), it suits any activation, and it makes an fcnn network and
a PyTorch one start from the same distribution. For deep ReLU stacks
``"he_normal"`` keeps the activations' variance constant across layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Union

import numpy as np

from ._validation import resolve_dtype
from .errors import ShapeError

__all__ = [
    "INITIALIZERS",
    "RNGLike",
    "as_generator",
    "get_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lab",
    "torch_default",
]

#: An ``np.random.Generator``, an int seed, or ``None`` (fresh entropy).
#: (A forward reference: evaluating ``np.random`` here would import it, and with
#: it hashlib and secrets, on every ``import fcnn``.)
RNGLike = Union["np.random.Generator", int, None]
Initializer = Callable[[int, int, Any, Any], "tuple[np.ndarray, np.ndarray]"]


def as_generator(rng: Any) -> Any:
    """Return a random source from ``rng``.

    ``None`` gives a freshly seeded Generator and an int a seeded one. A
    Generator, a legacy ``RandomState`` or the ``np.random`` module itself (the
    global generator, which ``fcnn.lab`` uses so that ``np.random.seed``
    reproduces a lab run) is used as it is.
    """
    if isinstance(rng, (bool, np.bool_)):
        raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")
    if rng is None or isinstance(rng, (int, np.integer)):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"a seed must be a non-negative int, got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, (np.random.Generator, np.random.RandomState)) or rng is np.random:
        return rng
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )


def _prepare(fan_in: Any, fan_out: Any, rng: Any, dtype: Any) -> tuple[Any, np.dtype]:
    """Check the fans (positive ints: a zero fan would divide by zero) and resolve
    ``rng`` and ``dtype``."""
    for name, value in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"initializer: {name} must be a positive int, got {value!r}")
    return as_generator(rng), resolve_dtype(dtype)


def _normal(rng: Any, shape: tuple[int, ...], std: float, dtype: np.dtype) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(dtype, copy=False)


def _uniform(rng: Any, shape: tuple[int, ...], bound: float, dtype: np.dtype) -> np.ndarray:
    return rng.uniform(-bound, bound, shape).astype(dtype, copy=False)


def lab(fan_in: int, fan_out: int, rng: RNGLike = None, dtype: Any = np.float64):
    """The lab's ``randn * 0.1`` for weights and bias (weights drawn first)."""
    rng, dtype = _prepare(fan_in, fan_out, rng, dtype)
    return _normal(rng, (fan_in, fan_out), 0.1, dtype), _normal(rng, (fan_out,), 0.1, dtype)


def torch_default(fan_in: int, fan_out: int, rng: RNGLike = None, dtype: Any = np.float64):
    """PyTorch's ``nn.Linear`` default: ``U(±1/sqrt(fan_in))`` for weights and bias."""
    rng, dtype = _prepare(fan_in, fan_out, rng, dtype)
    bound = 1.0 / math.sqrt(fan_in)
    return _uniform(rng, (fan_in, fan_out), bound, dtype), _uniform(rng, (fan_out,), bound, dtype)


def he_normal(fan_in: int, fan_out: int, rng: RNGLike = None, dtype: Any = np.float64):
    """Kaiming/He normal for ReLU: ``N(0, 2/fan_in)``, zero bias."""
    rng, dtype = _prepare(fan_in, fan_out, rng, dtype)
    std = math.sqrt(2.0 / fan_in)
    return _normal(rng, (fan_in, fan_out), std, dtype), np.zeros(fan_out, dtype)


def he_uniform(fan_in: int, fan_out: int, rng: RNGLike = None, dtype: Any = np.float64):
    """Kaiming/He uniform for ReLU: ``U(±sqrt(6/fan_in))``, zero bias."""
    rng, dtype = _prepare(fan_in, fan_out, rng, dtype)
    bound = math.sqrt(6.0 / fan_in)
    return _uniform(rng, (fan_in, fan_out), bound, dtype), np.zeros(fan_out, dtype)


def glorot_normal(fan_in: int, fan_out: int, rng: RNGLike = None, dtype: Any = np.float64):
    """Glorot/Xavier normal: ``N(0, 2/(fan_in+fan_out))``, zero bias."""
    rng, dtype = _prepare(fan_in, fan_out, rng, dtype)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return _normal(rng, (fan_in, fan_out), std, dtype), np.zeros(fan_out, dtype)


def glorot_uniform(fan_in: int, fan_out: int, rng: RNGLike = None, dtype: Any = np.float64):
    """Glorot/Xavier uniform: ``U(±sqrt(6/(fan_in+fan_out)))``, zero bias."""
    rng, dtype = _prepare(fan_in, fan_out, rng, dtype)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return _uniform(rng, (fan_in, fan_out), bound, dtype), np.zeros(fan_out, dtype)


INITIALIZERS: dict[str, Initializer] = {
    "default": torch_default,
    "torch": torch_default,
    "lab": lab,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "glorot_normal": glorot_normal,
    "xavier_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "xavier_uniform": glorot_uniform,
}


def get_initializer(init: str | Initializer) -> Initializer:
    """Look up an initializer by name, or wrap a callable so that what it
    returns is checked (two arrays of shapes ``(fan_in, fan_out)`` and ``(fan_out,)``)."""
    if callable(init):
        return _checked(init)
    try:
        return INITIALIZERS[init]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown initializer {init!r}; choose one of {sorted(INITIALIZERS)} or pass a callable"
        ) from None


def _checked(init: Initializer) -> Initializer:
    def initializer(fan_in: int, fan_out: int, rng: Any, dtype: Any):
        result = init(fan_in, fan_out, rng, dtype)
        name = getattr(init, "__name__", repr(init))
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(
                f"initializer {name} must return a pair (W, b), got {type(result).__name__}"
            )
        for label, array, shape in (("W", result[0], (fan_in, fan_out)), ("b", result[1], (fan_out,))):
            if np.shape(array) != shape:
                raise ShapeError(
                    f"initializer {name} returned {label} of shape {np.shape(array)}; a Linear"
                    f"({fan_in}, {fan_out}) needs {shape}"
                )
        return result

    initializer.__name__ = getattr(init, "__name__", "initializer")
    return initializer
