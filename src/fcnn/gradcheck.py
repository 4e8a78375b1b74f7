"""Numerical gradient checking by central differences.

``check_gradient`` is the lab's function. ``check_layer`` checks a layer, a
network or a loss: dL/dX and every parameter's gradient, each against
``(f(x + eps) - f(x - eps)) / (2 eps)``, reporting the max absolute deviation
and CS231n's relative error ``max|a - n| / max(1e-8, |a| + |n|)`` (≤ 1e-7 is
right, ≥ 1e-2 is wrong), read per tensor: ``|a|`` and ``|n|`` are the largest
magnitudes of the analytical and numerical tensors. (Element by element, an
entry of 1e-4 next to entries of 1 would report the ~1e-10 rounding noise of
the differences as a 1e-6 "error".) Check in float64: float32's rounding swamps the
differences (a warning says so).

Looping over elements here is the method, not a lapse in vectorization: each
element needs its own two evaluations of the function.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import as_float_array, check_finite
from .errors import ShapeError
from .init import RNGLike, as_generator
from .losses import Loss

__all__ = ["GradCheckReport", "GradCheckRow", "check_gradient", "check_layer",
           "numerical_gradient", "relative_error"]


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x``, perturbed in place.

    ``x`` is restored exactly after each element.
    """
    eps = _step(eps, "numerical_gradient")
    grad = np.zeros(x.shape, dtype=np.float64)
    flat, out = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs an array it can perturb in place")
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = f()
        flat[i] = orig - eps
        minus = f()
        flat[i] = orig
        out[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradient(
    func: Callable[[np.ndarray], tuple[float, np.ndarray]],
    X: np.ndarray,
    return_max_deviation: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """The lab's checker: numerical gradient of ``func`` at ``X`` (eps = 1e-6).

    ``func(X)`` returns ``(loss, analytical_grad)``. ``X`` is perturbed in place
    and restored. Returns the numerical gradient, or ``(numerical gradient,
    max |numerical - analytical|)`` with ``return_max_deviation=True``.
    """
    if not callable(func):
        raise TypeError(
            f"check_gradient expected a function X -> (loss, gradient), got {type(func).__name__}"
        )
    X = np.asarray(X)
    if X.dtype.kind != "f":
        raise TypeError(f"check_gradient needs a float array to perturb, got dtype {X.dtype}")
    check_finite(X, "check_gradient", "X")
    _warn_low_precision(X.dtype)

    def evaluate() -> tuple[float, Any]:
        result = func(X)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(
                "check_gradient: func(X) must return a pair (loss, gradient), got "
                f"{type(result).__name__}"
            )
        return float(result[0]), result[1]

    numerical = numerical_gradient(lambda: evaluate()[0], X).astype(X.dtype, copy=False)
    _, analytical = evaluate()
    analytical = np.asarray(analytical)
    if analytical.shape != X.shape:
        raise ShapeError(
            f"check_gradient: func returned a gradient of shape {analytical.shape} for X of "
            f"shape {X.shape}"
        )
    max_deviation = float(np.max(np.abs(numerical - analytical))) if X.size else 0.0
    return (numerical, max_deviation) if return_max_deviation else numerical


def relative_error(analytical: np.ndarray, numerical: np.ndarray) -> float:
    """``max|a - n| / max(1e-8, max|a| + max|n|)`` over a whole tensor."""
    a, n = np.asarray(analytical, np.float64), np.asarray(numerical, np.float64)
    if a.shape != n.shape:
        raise ShapeError(
            f"relative_error: the analytical gradient has shape {a.shape} but the numerical "
            f"one {n.shape}; compare gradients of the same tensor"
        )
    if a.size == 0:
        return 0.0
    scale = max(1e-8, float(np.max(np.abs(a))) + float(np.max(np.abs(n))))
    return float(np.max(np.abs(a - n))) / scale


@dataclass
class GradCheckRow:
    """One checked tensor."""

    name: str
    shape: tuple[int, ...]
    max_abs_deviation: float
    relative_error: float


@dataclass
class GradCheckReport:
    """The result of ``check_layer``: one row per tensor."""

    subject: str
    rows: list[GradCheckRow] = field(default_factory=list)

    @property
    def max_relative_error(self) -> float:
        return max((r.relative_error for r in self.rows), default=0.0)

    @property
    def max_abs_deviation(self) -> float:
        return max((r.max_abs_deviation for r in self.rows), default=0.0)

    def passed(self, rtol: float = 1e-7) -> bool:
        """True when every tensor's relative error is at most ``rtol``."""
        return self.max_relative_error <= rtol

    def __str__(self) -> str:
        lines = [f"{self.subject}", f"  {'tensor':<12} {'shape':<14} {'max |a-n|':>11} {'rel err':>11}"]
        for r in self.rows:
            lines.append(
                f"  {r.name:<12} {r.shape!s:<14} {r.max_abs_deviation:>11.2e} "
                f"{r.relative_error:>11.2e}"
            )
        return "\n".join(lines)


def check_layer(
    subject: Any,
    X: np.ndarray,
    target: np.ndarray | None = None,
    *,
    eps: float = 1e-6,
    rng: RNGLike = 0,
) -> GradCheckReport:
    """Check a layer's, a network's or a loss's analytical gradients numerically.

    For a layer or network, the scalar checked is ``sum(forward(X) * R)`` with a
    fixed random ``R`` (so ``dL/dy = R``); for a loss, ``loss(X, target)``.
    Rows: ``"X"`` (dL/dX) and each parameter by its ``named_parameters()`` name
    (``"0.weight"``, ``"0.bias"``, ...).
    Parameters and ``X`` are restored afterwards; accumulated grads are reset.
    """
    if not (hasattr(subject, "forward") and (isinstance(subject, Loss) or hasattr(subject, "backward"))):
        raise TypeError(
            "check_layer expected a layer, a network or a loss (with forward and backward), got "
            f"{type(subject).__name__}"
        )
    eps = _step(eps, "check_layer")
    X = as_float_array(X, "check_layer")
    # Never a float16 copy: its rounding would drown the differences entirely.
    X = np.array(X, dtype=np.result_type(X.dtype, np.float32), copy=True)
    _warn_low_precision(X.dtype)
    report = GradCheckReport(repr(subject))

    if isinstance(subject, Loss):
        if target is None:
            raise ValueError("check_layer on a loss needs a target")

        def value() -> float:
            return float(subject.forward(X, target))

        value()
        analytical = subject.backward()
        report.rows.append(_row("X", analytical, numerical_gradient(value, X, eps)))
        return report

    if getattr(subject, "dtype", np.float64) != np.float64 and X.dtype == np.float64:
        _warn_low_precision(subject.dtype)
    states = _rng_states(subject)

    def output() -> np.ndarray:
        _restore_rng_states(subject, states)
        return subject.forward(X)

    y = output()
    R = as_generator(rng).standard_normal(y.shape).astype(y.dtype)

    def value() -> float:
        return float(np.sum(output() * R, dtype=np.float64))

    params = subject.parameters() if hasattr(subject, "parameters") else []
    for p in params:
        p.zero_grad()
    output()
    dX = subject.backward(R)
    report.rows.append(_row("X", dX, numerical_gradient(value, X, eps)))
    names = _parameter_names(subject)
    for p in params:
        analytical = p.grad.copy()
        report.rows.append(_row(names.get(id(p), "param"), analytical,
                                numerical_gradient(value, p.weights, eps)))
        p.zero_grad()
    return report


def _row(name: str, analytical: np.ndarray, numerical: np.ndarray) -> GradCheckRow:
    analytical = np.asarray(analytical, np.float64)
    deviation = float(np.max(np.abs(analytical - numerical))) if analytical.size else 0.0
    return GradCheckRow(name, tuple(analytical.shape), deviation, relative_error(analytical, numerical))


def _parameter_names(subject: Any) -> dict[int, str]:
    named = getattr(subject, "named_parameters", None)
    return {id(p): name for name, p in named()} if named is not None else {}


def _rng_states(subject: Any) -> list[tuple[Any, Any]]:
    # Dropout draws a new mask per forward; replaying its Generator's state
    # makes every evaluation use the same mask, so the function is deterministic.
    layers = getattr(subject, "layers", [subject])
    return [(layer.rng, layer.rng.bit_generator.state) for layer in layers
            if isinstance(getattr(layer, "rng", None), np.random.Generator)]


def _restore_rng_states(subject: Any, states: list[tuple[Any, Any]]) -> None:
    for rng, state in states:
        rng.bit_generator.state = state


def _step(eps: Any, who: str) -> float:
    if isinstance(eps, (bool, str, bytes)) or not hasattr(eps, "__float__"):
        raise TypeError(f"{who}: eps must be a positive number, got {eps!r}")
    step = float(eps)
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"{who}: eps must be a positive finite number (e.g. 1e-6), got {eps!r}")
    return step


def _warn_low_precision(dtype: np.dtype) -> None:
    if np.dtype(dtype) != np.float64:
        warnings.warn(
            f"gradient checking in {np.dtype(dtype)}: rounding errors of ~1e-4 swamp the central "
            "differences; check in float64 (build the layer with dtype=np.float64)",
            UserWarning,
            stacklevel=3,
        )
