"""Gradient clipping with PyTorch's semantics (``torch.nn.utils.clip_grad``).

``clip_grad_norm_`` rescales every gradient by ``min(1, max_norm / (total + 1e-6))``,
where ``total`` is the ``norm_type``-norm of the per-parameter gradient norms
(the norm of all gradients seen as one vector); ``clip_grad_value_`` clamps
each gradient element to ``[-clip_value, clip_value]``. Both work in place and,
as in PyTorch, skip a parameter that has no gradient (zeroed with
``set_to_none=True`` and not written since).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._validation import number

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def clip_grad_norm_(
    parameters: Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the gradients of ``parameters`` so that their total norm is at most ``max_norm``.

    Parameters
    ----------
    parameters : Parameter or iterable of Parameters (e.g. ``model.parameters()``)
    max_norm : float >= 0
    norm_type : float or ``inf``
        The p of the p-norm: any real number, ``float("inf")`` (largest absolute
        value), ``-inf`` (smallest) or 0 (count of non-zeros), as in
        ``torch.linalg.vector_norm``. The string ``"inf"`` is accepted as PyTorch does.
    error_if_nonfinite : bool
        Raise ``RuntimeError`` (PyTorch's message) when the total norm is NaN or
        infinite instead of scaling by it (which turns the gradients to NaN/0).

    Returns
    -------
    float
        The total norm of the gradients *before* clipping (0.0 when no parameter
        has a gradient).
    """
    who = "clip_grad_norm_"
    params = _parameters(parameters, who)
    max_norm = number(max_norm, "max_norm", who, low=0)
    p = _norm_type(norm_type, who)
    grads = _gradients(params)
    if not grads:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        norms = np.array([_vector_norm(g, p) for g in grads], dtype=grads[0].dtype)
        total = _vector_norm(norms, p)
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(
                f"The total norm of order {p} for gradients from `parameters` is non-finite, so "
                "it cannot be clipped. To disable this error and scale the gradients by the "
                "non-finite norm anyway, set `error_if_nonfinite=False`"
            )
        # computed in the gradients' precision, as PyTorch does with a tensor of their dtype
        coef = np.minimum(total.dtype.type(max_norm) / (total + total.dtype.type(1e-6)), 1.0)
        for g in grads:
            g *= coef
    return float(total)


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient element of ``parameters`` to ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    parameters : Parameter or iterable of Parameters
    clip_value : float >= 0
    """
    who = "clip_grad_value_"
    params = _parameters(parameters, who)
    clip_value = number(clip_value, "clip_value", who, low=0)
    for g in _gradients(params):
        np.clip(g, -clip_value, clip_value, out=g)


def _parameters(parameters: Any, who: str) -> list[Any]:
    if _is_parameter(parameters):
        return [parameters]
    if isinstance(parameters, (str, bytes, np.ndarray)) or not isinstance(parameters, Iterable):
        raise TypeError(
            f"{who} expected a Parameter or an iterable of Parameters (e.g. model.parameters()), "
            f"got {type(parameters).__name__}"
        )
    params = list(parameters)
    for i, p in enumerate(params):
        if not _is_parameter(p):
            raise TypeError(f"{who}: item {i} is not a Parameter (got {type(p).__name__})")
    return params


def _is_parameter(p: Any) -> bool:
    # looked up on the type: reading p.grad would turn a gradient "set to none" into zeros
    return hasattr(type(p), "weights") and hasattr(type(p), "grad")


def _gradients(params: list[Any]) -> list[np.ndarray]:
    # A gradient "set to none" is skipped, as PyTorch skips p.grad is None.
    return [p.grad for p in params if not getattr(p, "_grad_is_none", False)]


def _norm_type(norm_type: Any, who: str) -> float:
    if isinstance(norm_type, str) and norm_type.strip().lower() in ("inf", "+inf", "-inf"):
        return float(norm_type)
    if isinstance(norm_type, (bool, str, bytes)) or not isinstance(norm_type, (int, float, np.number)):
        raise TypeError(f"{who}: norm_type must be a number or inf, got {norm_type!r}")
    p = float(norm_type)
    if math.isnan(p):
        raise ValueError(f"{who}: norm_type must be a number or inf, got {norm_type!r}")
    return p


def _vector_norm(x: np.ndarray, p: float) -> np.floating:
    """``torch.linalg.vector_norm(x, p)`` of any array, in its dtype."""
    flat = x.ravel()
    if p == 2:
        return np.sqrt(np.dot(flat, flat))
    a = np.abs(flat)
    if p == math.inf:
        return np.max(a) if a.size else a.dtype.type(0)
    if p == -math.inf:
        return np.min(a) if a.size else a.dtype.type(math.inf)
    if p == 0:
        return a.dtype.type(np.count_nonzero(a))
    if p == 1:
        return np.sum(a)
    return np.power(np.sum(np.power(a, p)), 1 / p)
