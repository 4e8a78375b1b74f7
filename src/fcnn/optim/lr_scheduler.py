"""Learning-rate schedulers: PyTorch's classes, signatures and numbers.

A scheduler steers an fcnn optimizer's ``param_groups[0]["lr"]`` (the learning
rate its update reads). As in PyTorch, constructing one applies the schedule's
first value, ``step()`` advances it by one epoch (or one batch: the caller
decides how often to call it), ``get_last_lr()`` returns the current rates as a
list, and ``state_dict()`` / ``load_state_dict()`` save and restore it.
Schedulers that update the rate recursively (PyTorch's "chainable" form, e.g.
``CosineAnnealingLR``) do the same arithmetic in the same order, so the rates
agree with PyTorch's to the last bit, and two schedulers on one optimizer
compose as they do there::

    optimizer = fcnn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = fcnn.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100)
    for epoch in range(100):
        ...  # optimizer.step() for every batch
        scheduler.step()

``ReduceLROnPlateau`` is stepped with the monitored value: ``scheduler.step(val_loss)``.
PyTorch's warnings about calling ``scheduler.step()`` before ``optimizer.step()``
are not reproduced (they need a wrapper around every optimizer step).
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._validation import choice, number, positive_int
from .optimizer import Optimizer, _flag

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where "
    "possible (as in PyTorch). Please use `scheduler.step()` to step the scheduler. If epoch is "
    "given, the closed form is used instead of the chainable form, where available."
)


class LRScheduler:
    """Base class: binds an optimizer, records ``base_lrs`` (each group's
    ``"initial_lr"``) and ``last_epoch``, and applies the first value.

    A subclass computes the next rates in ``get_lr()`` from ``last_epoch`` (and,
    for chainable schedules, the current ``group["lr"]``); ``_get_closed_form_lr()``
    where PyTorch has one.

    Parameters
    ----------
    optimizer : fcnn.optim.Optimizer
    last_epoch : int, default -1
        The index of the last epoch; -1 starts the schedule. Any other value
        resumes it and needs ``"initial_lr"`` in the optimizer's param group
        (which a loaded optimizer state dict brings).
    """

    # Attributes that are not part of state_dict(): the bound optimizer, and a flag
    # that only lives during the constructor's first step.
    _NOT_STATE = frozenset({"optimizer", "_is_initial"})
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.optimizer = _bound_optimizer(optimizer, type(self).__name__)
        last_epoch = _last_epoch(last_epoch, type(self).__name__)
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{type(self).__name__}: last_epoch={last_epoch} resumes a schedule, but "
                        f"param_groups[{i}] has no 'initial_lr'; load the optimizer's state dict "
                        "first, or start with last_epoch=-1")
        self.base_lrs: list[float] = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            del self._is_initial  # back to the class's False

    def get_last_lr(self) -> list[float]:
        """The learning rates last set by this scheduler, one per param group."""
        return list(self._last_lr)

    def get_lr(self) -> list[float]:
        """The rates for ``last_epoch`` (called by ``step``; read ``get_last_lr()`` instead)."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one epoch (call it after ``optimizer.step()``).

        ``epoch`` (deprecated in PyTorch, warns as there) jumps to that epoch with
        the closed form where one exists.
        """
        if epoch is not None:
            epoch = _last_epoch(epoch, f"{type(self).__name__}.step", name="epoch", low=0)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    # -- state_dict ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as PyTorch; numbers, strings and
        lists only, so ``json.dumps`` takes it (``inf`` as ``Infinity``)."""
        return {key: _copy(value) for key, value in vars(self).items() if key not in self._NOT_STATE}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output (from this class). A dict from another
        scheduler class, or with values of the wrong kind, is refused with nothing
        changed."""
        self.__dict__.update(self._checked_state(state_dict))

    def _checked_state(self, state_dict: Any) -> dict[str, Any]:
        who = f"{type(self).__name__}.load_state_dict"
        own = self.state_dict()
        if not isinstance(state_dict, dict):
            raise TypeError(f"{who} expected a dict (from scheduler.state_dict()), got "
                            f"{type(state_dict).__name__}")
        if set(state_dict) != set(own):
            extra, missing = sorted(set(state_dict) - set(own)), sorted(set(own) - set(state_dict))
            raise ValueError(
                f"{who}: this state dict is not a {type(self).__name__}'s (unexpected keys "
                f"{extra or 'none'}, missing {missing or 'none'}); load it into the scheduler "
                "class that saved it")
        for key, value in state_dict.items():
            _check_like(own[key], value, f"{who}: {key!r}")
        if "base_lrs" in own and len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"{who}: 'base_lrs' holds {len(state_dict['base_lrs'])} rates for "
                             f"{len(self.optimizer.param_groups)} param group(s)")
        return {key: _copy(value) for key, value in state_dict.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr = base_lr * gamma ** (epoch // step_size)``, computed recursively as PyTorch does.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        self.step_size = positive_int(step_size, "step_size", who)
        self.gamma = number(gamma, "gamma", who, low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch in ``milestones``
    (by ``gamma ** n`` at an epoch listed ``n`` times)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        self.milestones = Counter(_epochs(milestones, "milestones", who))
        self.gamma = number(gamma, "gamma", who, low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["milestones"] = sorted(self.milestones.elements())  # JSON keys would be strings
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self._checked_state(state_dict)
        state["milestones"] = Counter(_epochs(state["milestones"], "milestones", type(self).__name__))
        self.__dict__.update(state)


class LinearLR(LRScheduler):
    """Scale the learning rate by a factor going linearly from ``start_factor``
    to ``end_factor`` over ``total_iters`` epochs (a warm-up with the defaults)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        self.start_factor = number(start_factor, "start_factor", who, low=0, low_open=True, high=1)
        self.end_factor = number(end_factor, "end_factor", who, low=0, high=1)
        self.total_iters = positive_int(total_iters, "total_iters", who)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        return [
            lr * (1.0 + (self.end_factor - self.start_factor)
                  / (self.total_iters * self.start_factor
                     + (self.last_epoch - 1) * (self.end_factor - self.start_factor)))
            for lr in self._lrs()
        ]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                       * min(self.total_iters, self.last_epoch) / self.total_iters)
            for base_lr in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        self.gamma = number(gamma, "gamma", who, low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # resuming: the constructor's step must not move the rate one step ahead
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial rate to ``eta_min`` over ``T_max`` epochs
    (and back up over the next ``T_max``, as PyTorch's does without restarts).

    PyTorch updates the rate recursively,
    ``lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max))``,
    which rounds differently from the closed form
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi t / T_max)) / 2``; this class does the same.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        self.T_max = positive_int(T_max, "T_max", who)
        self.eta_min = number(eta_min, "eta_min", who, low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        eta_min, T_max, t = self.eta_min, self.T_max, self.last_epoch
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and t > 0:
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(t * math.pi / T_max)) / 2
                    for base_lr in self.base_lrs]
        if (t - 1 - T_max) % (2 * T_max) == 0:
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._lrs(), strict=True)]
        return [
            (1 + math.cos(math.pi * t / T_max)) / (1 + math.cos(math.pi * (t - 1) / T_max))
            * (lr - eta_min) + eta_min
            for lr in self._lrs()
        ]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (SGDR): the first period lasts ``T_0``
    epochs, each next one ``T_mult`` times longer; ``step(epoch)`` takes
    fractional epochs (``epoch + i / iters_per_epoch``) to step per batch."""

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        self.T_0 = positive_int(T_0, "T_0", who)
        self.T_i = self.T_0
        self.T_mult = positive_int(T_mult, "T_mult", who)
        self.eta_min = number(eta_min, "eta_min", who, low=0)
        self.T_cur = _last_epoch(last_epoch, who)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance by one epoch, or go to ``epoch`` (a float: fractions step within an epoch)."""
        if epoch is not None:
            epoch = number(epoch, "epoch", f"{type(self).__name__}.step", low=0)
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult ** (n)
        else:
            self.T_i = self.T_0
            self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = self._lrs()


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per batch: the rate rises
    from ``max_lr / div_factor`` to ``max_lr`` over ``pct_start`` of
    ``total_steps`` (or ``epochs * steps_per_epoch``), then anneals to
    ``initial_lr / final_div_factor``; with ``cycle_momentum`` the optimizer's
    momentum (or Adam's beta1) moves the opposite way between ``max_momentum``
    and ``base_momentum``. ``three_phase=True`` is the paper's three-phase form."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        who = type(self).__name__
        self.optimizer = _bound_optimizer(optimizer, who)
        if total_steps is not None:
            self.total_steps = positive_int(total_steps, "total_steps", who)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (positive_int(epochs, "epochs", who)
                                * positive_int(steps_per_epoch, "steps_per_epoch", who))
        else:
            raise ValueError(f"{who}: give total_steps, or both epochs and steps_per_epoch "
                             f"(got total_steps={total_steps}, epochs={epochs}, "
                             f"steps_per_epoch={steps_per_epoch})")
        pct_start = number(pct_start, "pct_start", who, low=0, high=1)
        self._anneal_func_type = choice(anneal_strategy, "anneal_strategy", who, ("cos", "linear"))
        cycle_momentum = _flag(cycle_momentum, "cycle_momentum", who)
        three_phase = _flag(three_phase, "three_phase", who)
        div_factor = number(div_factor, "div_factor", who, low=0, low_open=True)
        final_div_factor = number(final_div_factor, "final_div_factor", who, low=0, low_open=True)
        last_epoch = _last_epoch(last_epoch, who)
        max_lrs = _per_group(max_lr, "max_lr", optimizer, who, low_open=True)
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{who}: cycle_momentum=True needs an optimizer with momentum or "
                                 f"betas; {type(optimizer).__name__} has neither (pass "
                                 "cycle_momentum=False)")
            max_momentums = _per_group(max_momentum, "max_momentum", optimizer, who)
            base_momentums = _per_group(base_momentum, "base_momentum", optimizer, who)
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * self.total_steps) - 1, "start_lr": "initial_lr",
                 "end_lr": "max_lr", "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2, "start_lr": "max_lr",
                 "end_lr": "initial_lr", "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * self.total_steps) - 1, "start_lr": "initial_lr",
                 "end_lr": "max_lr", "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        if last_epoch == -1:
            for lr, group in zip(max_lrs, optimizer.param_groups, strict=True):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for m_momentum, b_momentum, group in zip(max_momentums, base_momentums,
                                                         optimizer.param_groups, strict=True):
                    if self.use_beta1:
                        group["betas"] = (m_momentum, *group["betas"][1:])
                    else:
                        group["momentum"] = m_momentum
                    group["max_momentum"] = m_momentum
                    group["base_momentum"] = b_momentum
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def step(self, epoch: int | None = None) -> None:
        """Advance by one batch; stepping past ``total_steps`` is refused (nothing changes)."""
        if epoch is None and self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"{type(self).__name__}: tried to step {self.last_epoch + 1} times; the "
                             f"specified number of total steps is {self.total_steps} (count one step "
                             "per batch: total_steps = epochs * steps_per_epoch)")
        super().step(epoch)

    def get_lr(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"{type(self).__name__}: tried to step {step_num} times; the specified "
                             f"number of total steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    computed_lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        computed_momentum = self._anneal(group[phase["start_momentum"]],
                                                         group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(computed_lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (computed_momentum, *group["betas"][1:])
                else:
                    group["momentum"] = computed_momentum
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``
    (one fewer than the schedulers). All must steer ``optimizer``; a
    ``ReduceLROnPlateau`` cannot be one of them (it needs a metric to step)."""

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int],
                 last_epoch: int = -1) -> None:
        who = type(self).__name__
        _bound_optimizer(optimizer, who)
        if isinstance(schedulers, (str, bytes, LRScheduler)) or not hasattr(schedulers, "__len__") \
                or len(schedulers) < 1:
            raise ValueError(f"{who} expects a non-empty list of schedulers, got {schedulers!r}")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"{who}: schedulers[{i}] is not an fcnn scheduler (got "
                                f"{type(scheduler).__name__})")
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(f"{who} does not support ReduceLROnPlateau (schedulers[{i}]): it "
                                 "needs a metric for each step")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"{who}: schedulers[{i}] ({type(scheduler).__name__}) steers "
                                 f"another optimizer ({scheduler.optimizer!r}) than the one given "
                                 f"({optimizer!r})")
        milestones = _epochs(milestones, "milestones", who)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{who} expects one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        last_epoch = _last_epoch(last_epoch, who)
        self._schedulers = list(schedulers)
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # back to the initial rates
            group["lr"] = group["initial_lr"]
        self.recursive_undo()  # the schedulers' own first steps
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Undo the first step each scheduler made when it was constructed."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Advance by one epoch, with the scheduler whose turn it is."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = {key: _copy(value) for key, value in vars(self).items()
                 if key not in self._NOT_STATE and key != "_schedulers"}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self._checked_state(state_dict)
        inner = state.pop("_schedulers")
        if len(inner) != len(self._schedulers):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state dict holds "
                             f"{len(inner)} schedulers, this one {len(self._schedulers)}")
        checked = [s._checked_state(d) for s, d in zip(self._schedulers, inner, strict=True)]
        self.__dict__.update(state)
        for s, d in zip(self._schedulers, checked, strict=True):
            s.load_state_dict(d)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` once the monitored value has not
    improved for more than ``patience`` epochs: ``step(metric)`` after each
    epoch's validation.

    Parameters
    ----------
    mode : "min" or "max"
        Whether the value should fall (a loss) or rise (an accuracy).
    factor : float in [0, 1)
    patience : int >= 0
        Epochs without improvement tolerated.
    threshold : float, threshold_mode : "rel" or "abs"
        Improvement means beating ``best * (1 - threshold)`` ("rel", mode "min"),
        ``best - threshold`` ("abs"), and the mirror images for "max".
    cooldown : int >= 0
        Epochs to wait after a reduction before counting bad epochs again.
    min_lr : float or list of float
        The floor for each param group's rate.
    eps : float
        Reductions smaller than this are skipped.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        who = type(self).__name__
        self.optimizer = _bound_optimizer(optimizer, who)
        self.factor = number(factor, "factor", who, low=0, high=1, high_open=True)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(min_lr, "min_lr", optimizer, who, low=0)
        else:
            self.default_min_lr = number(min_lr, "min_lr", who, low=0)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.patience = _non_negative_int(patience, "patience", who)
        self.cooldown = _non_negative_int(cooldown, "cooldown", who)
        self.eps = number(eps, "eps", who, low=0)
        self.last_epoch = 0
        self._last_lr = self._lrs()
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's value of the monitored quantity (e.g. the validation loss)."""
        current = _metric(metrics, f"{type(self).__name__}.step")
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            epoch = _last_epoch(epoch, f"{type(self).__name__}.step", name="epoch", low=0)
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _reduce_lr(self) -> None:
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        who = type(self).__name__
        self.mode = choice(mode, "mode", who, ("min", "max"))
        self.threshold = number(threshold, "threshold", who, low=0)
        self.threshold_mode = choice(threshold_mode, "threshold_mode", who, ("rel", "abs"))
        self.mode_worse = math.inf if self.mode == "min" else -math.inf

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self._checked_state(state_dict)
        who = f"{type(self).__name__}.load_state_dict"
        choice(state["mode"], "mode", who, ("min", "max"))
        choice(state["threshold_mode"], "threshold_mode", who, ("rel", "abs"))
        self.__dict__.update(state)
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)


# -- checks ----------------------------------------------------------------------------------


def _bound_optimizer(optimizer: Any, who: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        cls = type(optimizer)
        hint = (" (a PyTorch optimizer goes with torch.optim.lr_scheduler)"
                if cls.__module__.startswith("torch") else "")
        raise TypeError(f"{who} expects an fcnn optimizer (fcnn.SGD, fcnn.Adam, ...), got "
                        f"{cls.__module__}.{cls.__qualname__}{hint}")
    return optimizer


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _last_epoch(value: Any, who: str, name: str = "last_epoch", low: int = -1) -> int:
    if not _is_int(value) or value < low:
        raise ValueError(f"{who}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _non_negative_int(value: Any, name: str, who: str) -> int:
    return _last_epoch(value, who, name=name, low=0)


def _epochs(values: Any, name: str, who: str) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{who}: {name} must be a list of epoch numbers (ints >= 0), got {values!r}")
    values = list(values)
    for v in values:
        if not _is_int(v) or v < 0:
            raise ValueError(f"{who}: {name} must hold epoch numbers (ints >= 0), got {v!r} in "
                             f"{values!r}")
    return [int(v) for v in values]


def _per_group(value: Any, name: str, optimizer: Optimizer, who: str, low: float = 0,
               low_open: bool = False) -> list[float]:
    """One value per param group, from a number or a list (PyTorch's ``_format_param``)."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{who}: {name} must have one value per param group ({n}), got "
                             f"{len(value)}")
        return [number(v, f"{name}[{i}]", who, low=low, low_open=low_open) for i, v in enumerate(value)]
    return [number(value, name, who, low=low, low_open=low_open)] * n


def _metric(value: Any, who: str) -> float:
    if value is None or isinstance(value, (bool, str, bytes, np.bool_)):
        raise TypeError(f"{who} expects the monitored number (e.g. the validation loss), got "
                        f"{value!r}")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{who} expects the monitored number (e.g. the validation loss), got "
                        f"{type(value).__name__}") from None
    if array.shape != ():
        raise TypeError(f"{who} expects one number (the monitored value), got an array of shape "
                        f"{array.shape}")
    return float(array)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _check_like(own: Any, new: Any, where: str) -> None:
    """``new`` has the kind of value ``own`` has (what a state dict of this class holds)."""
    if own is None or new is None:
        if not (new is None or _is_number(new)):
            raise TypeError(f"{where} must be a number or None, got {new!r}")
        return
    if isinstance(own, bool):
        ok = isinstance(new, (bool, np.bool_))
    elif _is_number(own):
        ok = _is_number(new)
    elif isinstance(own, str):
        ok = isinstance(new, str)
    elif isinstance(own, dict):
        ok = isinstance(new, dict) and set(new) == set(own)
        if ok:
            for key in own:
                _check_like(own[key], new[key], f"{where}[{key!r}]")
    elif isinstance(own, list):
        ok = isinstance(new, (list, tuple))
        if ok and own:
            for i, item in enumerate(new):
                _check_like(own[min(i, len(own) - 1)], item, f"{where}[{i}]")
    else:
        ok = True
    if not ok:
        raise TypeError(f"{where} must be like {own!r} ({type(own).__name__}), got {new!r}")


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))
