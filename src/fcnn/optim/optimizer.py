"""Optimizers with PyTorch's exact update rules.

An optimizer takes a list of Parameters and updates their ``weights`` in place
from their ``grad`` at each ``step()``; ``zero_grad()`` zeroes the grads in
place. The hyperparameters live in ``param_groups[0]``, a dict as in PyTorch
(``"lr"``, ``"momentum"``, ``"betas"``, ...): it is what the update reads, so a
learning-rate scheduler (``fcnn.optim.lr_scheduler``) steers it by writing
there, and ``optimizer.lr`` is that entry. State (momentum buffers, Adam's
moments) lives in the optimizer and round-trips through ``state_dict()``.

When the parameters tile one contiguous buffer (networks built by ``mlp`` and
``NeuralNetwork`` do), the update runs once over that buffer instead of once
per parameter: same arithmetic, element by element, fewer NumPy calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

from .._validation import choice, number
from ..parameter import Parameter
from ..registry import OPTIMIZERS, register_optimizer

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]

# A hyperparameter's check: (value, name, who) -> the value to store.
Check = Callable[[Any, str, str], Any]


def _non_negative(value: Any, name: str, who: str) -> float:
    return number(value, name, who, low=0)


def _real(value: Any, name: str, who: str) -> float:
    return number(value, name, who)


def _flag(value: Any, name: str, who: str) -> bool:
    return bool(choice(bool(value) if isinstance(value, np.bool_) else value, name, who, (False, True)))


def _betas(value: Any, name: str, who: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{who}: {name} must be a pair (beta1, beta2), got {value!r}")
    return tuple(number(b, f"{name}[{i}]", who, low=0, high=1, high_open=True)  # type: ignore[return-value]
                 for i, b in enumerate(value))


class _Hyper:
    """``optimizer.lr`` (and every other hyperparameter) reads and writes
    ``param_groups[0]``: the lab, the CLI and the estimators set them as attributes."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else obj.param_groups[0][self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.param_groups[0][self.name] = obj._CHECKS[self.name](value, self.name, type(obj).__name__)


class Optimizer:
    """Base class: keeps the parameters, ``param_groups``, ``step()``, ``zero_grad()``
    and ``state_dict()`` / ``load_state_dict()``.

    A subclass lists its hyperparameters with their checks in ``_CHECKS`` (the
    order of its constructor), the per-parameter state it may keep in
    ``_STATE_KEYS``, and writes ``_update(w, g, state, group)``: one step on a
    weights array ``w`` and its gradient ``g`` (one flat pair, or one pair per
    parameter) reading the hyperparameters from ``group``.
    """

    _CHECKS: ClassVar[dict[str, Check]] = {"lr": _non_negative}
    _STATE_KEYS: ClassVar[tuple[str, ...]] = ()
    lr = _Hyper()

    def __init__(self, params: Iterable[Parameter], defaults: dict[str, Any] | float) -> None:
        name = type(self).__name__
        self.params: list[Parameter] = _as_parameter_list(params, name)
        if not isinstance(defaults, dict):  # fcnn 0.1's subclasses called __init__(params, lr)
            defaults = {"lr": defaults}
        hyper = self._checked(defaults)
        self.defaults: dict[str, Any] = dict(hyper)
        # One group, PyTorch's layout: what the update reads, what schedulers write.
        self.param_groups: list[dict[str, Any]] = [{"params": self.params, **hyper}]
        # (weights, grad) array pairs the update runs over: one flat pair when
        # the parameters share a buffer, else one pair per parameter.
        self._groups: list[tuple[np.ndarray, np.ndarray]] | None = _flat_groups(self.params)
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self._groups]
        self.steps = 0

    def _checked(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """Every hyperparameter through its check, in the constructor's order."""
        who = type(self).__name__
        out = {key: check(hyper[key], key, who) for key, check in self._CHECKS.items()}
        self._check_combination(out)
        return out

    def _check_combination(self, hyper: dict[str, Any]) -> None:
        """Checks that involve more than one hyperparameter (none by default)."""

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
        group = self.param_groups[0]
        for (w, g), state in zip(self._groups, self.state):  # type: ignore[arg-type]
            self._update(w, g, state, group)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                group: dict[str, Any]) -> None:
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
            for _, g in self._groups:  # type: ignore[union-attr]
                g.fill(0)

    def _hyper(self) -> dict[str, Any]:
        group = self.param_groups[0]
        return {key: group[key] for key in self._CHECKS}

    # -- state_dict ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, PyTorch's layout, as copies.

        Returns
        -------
        dict
            ``{"optimizer": name, "state": {i: {"step": int, "<buffer>": array}},
            "param_groups": [{"lr": ..., ..., "params": [0, 1, ...]}]}``: one
            ``state`` entry per parameter ``i`` in ``params`` order (arrays of that
            parameter's shape, also when the update runs on one flat buffer), none
            before the first step. Only NumPy arrays, numbers, strings, tuples and
            lists: ``fcnn.optim.flatten_state_dict`` splits it into JSON and
            arrays for safetensors.
        """
        per_parameter = _state_per_parameter(self.state, self._groups, self.params)
        state: dict[int, dict[str, Any]] = {}
        if self.steps:
            for i, entry in enumerate(per_parameter):
                state[i] = {"step": self.steps, **{k: v.copy() for k, v in entry.items()}}
        group = {k: (list(v) if isinstance(v, list) else v)
                 for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.params)))
        return {"optimizer": _kind(type(self)), "state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned, so training continues exactly.

        The hyperparameters come from the state dict (as in PyTorch, a scheduler's
        entries such as ``"initial_lr"`` too); the buffers are cast to the
        parameters' dtype. A state dict of another optimizer type, another number
        of parameters or other shapes is refused with a ``ValueError``/``TypeError``
        and nothing is changed. Integer keys may arrive as strings (from JSON).
        """
        group, steps, per_parameter = self._parse_state_dict(state_dict)
        live = self.param_groups[0]  # updated in place: a reference to it stays live
        live.clear()
        live.update({"params": self.params, **group})
        self.steps = steps
        flat = self._groups is not None and _is_flat(self._groups, self.params)
        self.state = [_concatenate_state(per_parameter)] if flat else per_parameter

    def _parse_state_dict(self, sd: Any) -> tuple[dict[str, Any], int, list[dict[str, np.ndarray]]]:
        who = f"{type(self).__name__}.load_state_dict"
        kind = _kind(type(self))
        if not isinstance(sd, dict) or not {"state", "param_groups"} <= set(sd):
            raise TypeError(f"{who} expected a dict with 'state' and 'param_groups' (from "
                            f"optimizer.state_dict()), got {_describe(sd)}")
        if sd.get("optimizer", kind) != kind:
            raise ValueError(f"{who}: this state dict is from a {sd['optimizer']!r} optimizer, "
                             f"not {kind!r}; load it into the optimizer type that saved it")
        groups = sd["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1 or not isinstance(groups[0], dict):
            raise ValueError(f"{who} expected 'param_groups' to be a list of one dict (fcnn "
                             f"optimizers have one group), got {_describe(groups)}")
        saved = dict(groups[0])
        n = len(self.params)
        indices = saved.pop("params", list(range(n)))
        if not isinstance(indices, (list, tuple)) or len(indices) != n:
            raise ValueError(f"{who}: the state dict is for {_count(indices)} parameters, this "
                             f"optimizer has {n}")
        missing = [key for key in self._CHECKS if key not in saved]
        if missing:
            raise ValueError(f"{who}: the state dict's param_groups lack {', '.join(missing)} (is "
                             f"it from another optimizer type than {type(self).__name__}?)")
        group = {**saved, **self._checked(saved)}
        state = sd["state"]
        if not isinstance(state, dict):
            raise TypeError(f"{who} expected 'state' to be a dict, got {_describe(state)}")
        per_parameter: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        steps: set[int] = set()
        for key, entry in state.items():
            i = _index(key, n, who)
            if not isinstance(entry, dict):
                raise TypeError(f"{who}: state[{i}] must be a dict, got {_describe(entry)}")
            p = self.params[i]
            for name, value in entry.items():
                if name == "step":
                    steps.add(_step_count(value, f"{who}: state[{i}]['step']"))
                elif name in self._STATE_KEYS:
                    per_parameter[i][name] = _buffer(value, p, f"{who}: state[{i}][{name!r}]")
                else:
                    raise ValueError(f"{who}: state[{i}] holds {name!r}, which {type(self).__name__} "
                                     f"does not keep (it keeps {', '.join(self._STATE_KEYS)})")
        if state and (len(state) != n or len(steps) != 1):
            raise ValueError(f"{who}: the state must hold every parameter ({n}) at one step "
                             f"count, got {len(state)} entries with steps {sorted(steps)}")
        if len({tuple(sorted(entry)) for entry in per_parameter}) > 1:
            raise ValueError(f"{who}: the parameters' states hold different buffers")
        return group, steps.pop() if steps else 0, per_parameter

    # Pickling and deepcopy copy a flat buffer's views apart, so the groups are
    # rebuilt after loading (once the network has packed its parameters again)
    # and the state travels one dict per parameter.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["state"] = _state_per_parameter(self.state, self._groups, self.params)
        state["_groups"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "param_groups" not in state:  # pickled by fcnn 0.1: the hyperparameters were attributes
            hyper = {key: state.pop(key) for key in self._CHECKS if key in state}
            if "amsgrad" in self._CHECKS:
                hyper.setdefault("amsgrad", False)
            state["defaults"] = dict(hyper)
            state["param_groups"] = [{"params": state["params"], **hyper}]
        self.__dict__.update(state)

    def _regroup(self) -> None:
        self._groups = _flat_groups(self.params)
        if _is_flat(self._groups, self.params):
            self.state = [_concatenate_state(self.state)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args})"


@register_optimizer
class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule::

        g = grad + weight_decay * w
        buf = g (first step) or momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        w -= lr * g
    """

    _CHECKS: ClassVar[dict[str, Check]] = {"lr": _non_negative, "momentum": _non_negative, "dampening": _real,
               "nesterov": _flag, "weight_decay": _non_negative}
    _STATE_KEYS: ClassVar[tuple[str, ...]] = ("momentum_buffer",)
    momentum, dampening, nesterov, weight_decay = _Hyper(), _Hyper(), _Hyper(), _Hyper()

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": nesterov, "weight_decay": weight_decay})

    def _check_combination(self, hyper: dict[str, Any]) -> None:
        if hyper["nesterov"] and (hyper["momentum"] <= 0 or hyper["dampening"] != 0):
            raise ValueError(f"{type(self).__name__}: nesterov momentum requires momentum > 0 "
                             f"and dampening = 0, got momentum={hyper['momentum']}, "
                             f"dampening={hyper['dampening']}")

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                group: dict[str, Any]) -> None:
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if weight_decay:
            g = g + weight_decay * w
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                dampening = group["dampening"]
                buf *= momentum
                buf += (1 - dampening) * g if dampening else g
            g = g + momentum * buf if group["nesterov"] else buf
        w -= group["lr"] * g


@register_optimizer
class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule, with L2 ``weight_decay`` added to the gradient::

        g = grad + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v) if amsgrad (Reddi et al.), and v_max replaces v below
        w -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    decoupled = False
    _CHECKS: ClassVar[dict[str, Check]] = {"lr": _non_negative, "betas": _betas, "eps": _non_negative,
               "weight_decay": _non_negative, "amsgrad": _flag}
    _STATE_KEYS: ClassVar[tuple[str, ...]] = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    betas, eps, weight_decay, amsgrad = _Hyper(), _Hyper(), _Hyper(), _Hyper()

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad})

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                group: dict[str, Any]) -> None:
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if weight_decay:
            if self.decoupled:
                w *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * w
        if not state:
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:
                v_max = state["max_exp_avg_sq"] = np.zeros_like(w)
            np.maximum(v_max, v, out=v_max)
            v = v_max
        t = self.steps
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(v)
        denom /= math.sqrt(1 - beta2**t)
        denom += group["eps"]
        w -= step_size * (m / denom)


@register_optimizer
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
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


@register_optimizer
class RMSprop(Optimizer):
    """RMSprop, PyTorch's rule::

        g = grad + weight_decay * w
        sq = alpha * sq + (1 - alpha) * g**2
        avg = sqrt(sq - mean_g**2) + eps if centered else sqrt(sq) + eps
        buf = momentum * buf + g / avg;  w -= lr * buf   (momentum > 0)
        w -= lr * g / avg                                (otherwise)
    """

    _CHECKS: ClassVar[dict[str, Check]] = {"lr": _non_negative,
               "alpha": lambda v, name, who: number(v, name, who, low=0, high=1),
               "eps": _non_negative, "weight_decay": _non_negative, "momentum": _non_negative,
               "centered": _flag}
    _STATE_KEYS: ClassVar[tuple[str, ...]] = ("square_avg", "momentum_buffer", "grad_avg")
    alpha, eps, weight_decay, momentum, centered = _Hyper(), _Hyper(), _Hyper(), _Hyper(), _Hyper()

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
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered})

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                group: dict[str, Any]) -> None:
        alpha, weight_decay, momentum = group["alpha"], group["weight_decay"], group["momentum"]
        if weight_decay:
            g = g + weight_decay * w
        sq = state.get("square_avg")
        if sq is None:
            sq = state["square_avg"] = np.zeros_like(w)
        sq *= alpha
        sq += (1 - alpha) * (g * g)
        if group["centered"]:
            gavg = state.get("grad_avg")
            if gavg is None:
                gavg = state["grad_avg"] = np.zeros_like(w)
            gavg *= alpha
            gavg += (1 - alpha) * g
            avg = np.sqrt(sq - gavg * gavg)
        else:
            avg = np.sqrt(sq)
        avg += group["eps"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.zeros_like(w)
            buf *= momentum
            buf += g / avg
            w -= group["lr"] * buf
        else:
            w -= group["lr"] * (g / avg)


@register_optimizer
class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's rule::

        g = grad + weight_decay * w
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g**2              (sum starts at initial_accumulator_value)
        w -= clr * g / (sqrt(sum) + eps)
    """

    _CHECKS: ClassVar[dict[str, Check]] = {
        "lr": _non_negative, "lr_decay": _non_negative, "weight_decay": _non_negative,
        "initial_accumulator_value": _non_negative, "eps": _non_negative}
    _STATE_KEYS: ClassVar[tuple[str, ...]] = ("sum",)
    lr_decay, weight_decay, initial_accumulator_value, eps = _Hyper(), _Hyper(), _Hyper(), _Hyper()

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "eps": eps})

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                group: dict[str, Any]) -> None:
        weight_decay = group["weight_decay"]
        if weight_decay:
            g = g + weight_decay * w
        total = state.get("sum")
        if total is None:
            total = state["sum"] = np.full_like(w, group["initial_accumulator_value"])
        clr = group["lr"] / (1 + (self.steps - 1) * group["lr_decay"])
        total += g * g
        std = np.sqrt(total)
        std += group["eps"]
        w -= clr * (g / std)


# -- helpers ---------------------------------------------------------------------------------


def _kind(cls: type) -> str:
    """The registered name of ``cls`` or of the nearest registered class it derives from
    (the lab's ``Optimizer`` is an SGD)."""
    for base in cls.__mro__:
        for name, registered in OPTIMIZERS.items():
            if registered is base:
                return name
    return cls.__name__.lower()


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _count(value: Any) -> str:
    return str(len(value)) if hasattr(value, "__len__") else repr(value)


def _index(key: Any, n: int, who: str) -> int:
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < n:
        raise ValueError(f"{who}: state keys must be parameter indices in [0, {n}), got {key!r}")
    return int(key)


def _step_count(value: Any, who: str) -> int:
    value = np.asarray(value)
    if value.shape != () or value.dtype.kind not in "iuf" or not np.isfinite(value) \
            or value < 1 or value != np.round(value):
        raise ValueError(f"{who} must be a step count (an integer >= 1), got {value!r}")
    return int(value)


def _buffer(value: Any, p: Parameter, who: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{who} must be a numeric array, got {_describe(value)}")
    if array.shape != p.shape:
        raise ValueError(f"{who} has shape {array.shape}, but its parameter has shape {p.shape} "
                         "(a state dict of another model?)")
    return array.astype(p.dtype)  # a copy, in the parameter's dtype as PyTorch casts it


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
        if isinstance(p, dict):
            raise TypeError(f"{who}: item {i} is a dict: fcnn optimizers take one parameter "
                            "group (a list of Parameters), not PyTorch's per-group dicts")
        if not (hasattr(p, "weights") and hasattr(p, "grad")):
            raise TypeError(f"{who}: item {i} is not a Parameter (got {type(p).__name__})")
    return params


def _state_per_parameter(
    state: list[dict[str, Any]], groups: Any, params: list[Parameter]
) -> list[dict[str, Any]]:
    if groups is None or not _is_flat(groups, params):
        return state
    (flat,) = state
    out: list[dict[str, Any]] = [{} for _ in params]
    offset = 0
    for p, entry in zip(params, out):
        for key, value in flat.items():
            entry[key] = value[offset : offset + p.size].reshape(p.shape).copy()
        offset += p.size
    return out


def _is_flat(groups: list[tuple[np.ndarray, np.ndarray]], params: list[Parameter]) -> bool:
    """Whether the update runs on one buffer that the parameters tile (not on their arrays)."""
    return len(groups) == 1 and groups[0][0] is not params[0].weights


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
