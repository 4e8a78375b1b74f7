"""Optimizers with PyTorch's exact update rules.

An optimizer takes a list of Parameters and updates their ``weights`` in place
from their ``grad`` at each ``step()``; ``zero_grad()`` zeroes the grads in
place. State (momentum buffers, Adam's moments) lives in the optimizer.

When the parameters tile one contiguous buffer (networks built by ``mlp`` and
``NeuralNetwork`` do), the update runs once over that buffer instead of once
per parameter: same arithmetic, element by element, fewer NumPy calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .parameter import Parameter

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop"]


class Optimizer:
    """Base class: keeps the parameters, ``step()`` and ``zero_grad()``."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params: list[Parameter] = _as_parameter_list(params, type(self).__name__)
        self.lr = _non_negative(lr, "lr", type(self).__name__)
        # (weights, grad) array pairs the update runs over: one flat pair when
        # the parameters share a buffer, else one pair per parameter.
        self._groups = _flat_groups(self.params)
        self.state: list[dict[str, Any]] = [{} for _ in self._groups]
        self.steps = 0

    @property
    def parameters(self) -> list[Parameter]:
        """The lab's name for the parameter list."""
        return self.params

    def step(self) -> None:
        """Update every parameter from its current ``grad``.

        A parameter zeroed with ``set_to_none=True`` that got no gradient since
        is updated as if its gradient were zero.
        """
        if self._groups is None:
            self._regroup()
        for p in self.params:
            if p._grad_is_none:  # the flat buffer must hold real zeros for it
                p.zero_grad()
        self.steps += 1
        for (w, g), state in zip(self._groups, self.state):
            self._update(w, g, state)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Set every parameter's gradient to zero, in place.

        ``set_to_none=True`` (PyTorch's default since 2.0) defers the zeroing: the
        next backward writes its gradient instead of adding to zeros.
        """
        if set_to_none:
            for p in self.params:
                p._grad_is_none = True  # what p.zero_grad(set_to_none=True) does, inline
        else:
            if self._groups is None:
                self._regroup()
            for p in self.params:
                p._grad_is_none = False
            for _, g in self._groups:
                g.fill(0)

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.lr}

    # Pickling and deepcopy copy a flat buffer's views apart, so the groups are
    # rebuilt after loading (once the network has packed its parameters again)
    # and the state travels one dict per parameter.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["state"] = _state_per_parameter(self.state, self._groups, self.params)
        state["_groups"] = None
        return state

    def _regroup(self) -> None:
        self._groups = _flat_groups(self.params)
        if len(self._groups) == 1 and len(self.params) > 1:
            self.state = [_concatenate_state(self.state)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule::

        g = grad + weight_decay * w
        buf = g (first step) or momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        w -= lr * g
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        name = type(self).__name__
        self.momentum = _non_negative(momentum, "momentum", name)
        self.dampening = _finite(dampening, "dampening", name)
        self.weight_decay = _non_negative(weight_decay, "weight_decay", name)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(f"{name}: nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g if self.dampening else g
            g = g + self.momentum * buf if self.nesterov else buf
        w -= self.lr * g

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule, with L2 ``weight_decay`` added to the gradient::

        g = grad + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        name = type(self).__name__
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        beta1, beta2 = (_finite(b, f"betas[{i}]", name) for i, b in enumerate(betas))
        for label, beta in (("betas[0]", beta1), ("betas[1]", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: {label} must be in [0, 1), got {beta}")
        self.betas = (beta1, beta2)
        self.eps = _non_negative(eps, "eps", name)
        self.weight_decay = _non_negative(weight_decay, "weight_decay", name)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                w *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * w
        if not state:
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        t = self.steps
        step_size = self.lr / (1 - beta1**t)
        denom = np.sqrt(v)
        denom /= math.sqrt(1 - beta2**t)
        denom += self.eps
        w -= step_size * (m / denom)

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps,
                "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's rule:
    ``w *= 1 - lr * weight_decay`` before the Adam step (default 0.01, as PyTorch)."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop, PyTorch's rule::

        g = grad + weight_decay * w
        sq = alpha * sq + (1 - alpha) * g**2
        avg = sqrt(sq - mean_g**2) + eps if centered else sqrt(sq) + eps
        buf = momentum * buf + g / avg;  w -= lr * buf   (momentum > 0)
        w -= lr * g / avg                                (otherwise)
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        name = type(self).__name__
        self.alpha = _finite(alpha, "alpha", name)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"{name}: alpha must be in [0, 1], got {alpha}")
        self.eps = _non_negative(eps, "eps", name)
        self.weight_decay = _non_negative(weight_decay, "weight_decay", name)
        self.momentum = _non_negative(momentum, "momentum", name)
        self.centered = bool(centered)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * w
        if not state:
            state["square_avg"] = np.zeros_like(w)
            if self.momentum:
                state["momentum_buffer"] = np.zeros_like(w)
            if self.centered:
                state["grad_avg"] = np.zeros_like(w)
        sq = state["square_avg"]
        sq *= self.alpha
        sq += (1 - self.alpha) * (g * g)
        if self.centered:
            gavg = state["grad_avg"]
            gavg *= self.alpha
            gavg += (1 - self.alpha) * g
            avg = np.sqrt(sq - gavg * gavg)
        else:
            avg = np.sqrt(sq)
        avg += self.eps
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / avg
            w -= self.lr * buf
        else:
            w -= self.lr * (g / avg)

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps,
                "weight_decay": self.weight_decay, "momentum": self.momentum,
                "centered": self.centered}


def _finite(value: Any, name: str, who: str) -> float:
    # float("0.1") would accept a string; a hyperparameter must be a real number.
    if isinstance(value, (str, bytes, complex)) or not hasattr(value, "__float__"):
        raise TypeError(f"{who}: {name} must be a real number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{who}: {name} must be a finite number, got {value!r}")
    return number


def _non_negative(value: Any, name: str, who: str) -> float:
    number = _finite(value, name, who)
    if number < 0:
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}")
    return number


def _as_parameter_list(params: Iterable[Parameter], who: str) -> list[Parameter]:
    if isinstance(params, Parameter):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"{who} expected an iterable of Parameters (e.g. model.parameters()), "
            f"got {type(params).__name__}"
        ) from None
    if not params:
        raise ValueError(f"{who} got an empty parameter list")
    for i, p in enumerate(params):
        if not (hasattr(p, "weights") and hasattr(p, "grad")):
            raise TypeError(f"{who}: item {i} is not a Parameter (got {type(p).__name__})")
    return params


def _state_per_parameter(
    state: list[dict[str, Any]], groups: Any, params: list[Parameter]
) -> list[dict[str, Any]]:
    if groups is None or len(groups) == len(params):
        return state
    (flat,) = state
    out: list[dict[str, Any]] = [{} for _ in params]
    offset = 0
    for p, entry in zip(params, out):
        for key, value in flat.items():
            entry[key] = value[offset : offset + p.size].reshape(p.shape).copy()
        offset += p.size
    return out


def _concatenate_state(state: list[dict[str, Any]]) -> dict[str, Any]:
    if not state[0]:
        return {}
    return {key: np.concatenate([s[key].ravel() for s in state]) for key in state[0]}


def _flat_groups(params: list[Parameter]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One (weights, grad) pair over the shared buffer if the parameters tile
    one in order, else one pair per parameter."""
    flat_w = _tiled_buffer([p.weights for p in params])
    flat_g = _tiled_buffer([p.grad for p in params])
    if flat_w is not None and flat_g is not None and len(set(map(id, params))) == len(params):
        return [(flat_w, flat_g)]
    return [(p.weights, p.grad) for p in params]


def _tiled_buffer(arrays: list[np.ndarray]) -> np.ndarray | None:
    base = arrays[0].base
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or a.dtype != base.dtype:
            return None
        if a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    if address != base.__array_interface__["data"][0] + base.nbytes:
        return None
    return base
