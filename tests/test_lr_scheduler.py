"""Learning-rate schedulers against PyTorch's, live: the rate after each of 300
steps agrees to 1e-12 (relative) for every class over several configurations,
the momentum/beta1 that OneCycleLR cycles too; a state_dict round trip through
JSON in the middle of a schedule continues it identically; refusals change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import fcnn
from fcnn.optim import lr_scheduler as fs

torch = pytest.importorskip("torch", reason="PyTorch is the parity reference: pip install torch==2.13.0")
ts = torch.optim.lr_scheduler

STEPS = 300
TOL = 1e-12

# Each case: (id, optimizer name and kwargs, a builder taking (module, optimizer) and
# returning the schedulers to step, in order). The builder runs once with fcnn's
# module and once with torch's, so both sides get the same calls.
Builder = Callable[[Any, Any], list[Any]]


def warmup_then_cosine(m: Any, opt: Any) -> list[Any]:
    return [m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.1, total_iters=10),
                                 m.CosineAnnealingLR(opt, T_max=290)], milestones=[10])]


def three_stages(m: Any, opt: Any) -> list[Any]:
    return [m.SequentialLR(opt, [m.ExponentialLR(opt, gamma=0.9), m.StepLR(opt, step_size=30),
                                 m.MultiStepLR(opt, milestones=[50, 120])], milestones=[20, 100])]


def warmup_then_restarts(m: Any, opt: Any) -> list[Any]:
    return [m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.5, total_iters=5),
                                 m.CosineAnnealingWarmRestarts(opt, T_0=20, T_mult=2)],
                           milestones=[5])]


CASES: list[tuple[str, tuple[str, dict], Builder]] = [
    ("step-30", ("sgd", {"lr": 0.1}), lambda m, o: [m.StepLR(o, step_size=30)]),
    ("step-7-half", ("adam", {"lr": 3e-3}), lambda m, o: [m.StepLR(o, 7, gamma=0.5)]),
    ("step-1", ("sgd", {"lr": 0.05}), lambda m, o: [m.StepLR(o, step_size=1, gamma=0.97)]),
    ("multistep", ("sgd", {"lr": 0.1}), lambda m, o: [m.MultiStepLR(o, [30, 80, 80, 200])]),
    ("multistep-unsorted-from-0", ("sgd", {"lr": 0.1}),
     lambda m, o: [m.MultiStepLR(o, milestones=[150, 0, 40], gamma=0.5)]),
    ("exponential", ("sgd", {"lr": 0.1}), lambda m, o: [m.ExponentialLR(o, gamma=0.99)]),
    ("exponential-0.9", ("rmsprop", {"lr": 0.01}), lambda m, o: [m.ExponentialLR(o, 0.9)]),
    ("cosine-100", ("sgd", {"lr": 0.1, "momentum": 0.9}),
     lambda m, o: [m.CosineAnnealingLR(o, T_max=100)]),
    ("cosine-37-eta", ("adam", {"lr": 0.01}),
     lambda m, o: [m.CosineAnnealingLR(o, T_max=37, eta_min=1e-3)]),
    ("cosine-1", ("sgd", {"lr": 0.1}), lambda m, o: [m.CosineAnnealingLR(o, T_max=1, eta_min=0.01)]),
    ("linear-default", ("sgd", {"lr": 0.1}), lambda m, o: [m.LinearLR(o)]),
    ("linear-warmup-40", ("adamw", {"lr": 1e-3}),
     lambda m, o: [m.LinearLR(o, start_factor=0.05, total_iters=40)]),
    ("linear-decay-250", ("sgd", {"lr": 0.2}),
     lambda m, o: [m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=250)]),
    ("onecycle-sgd", ("sgd", {"lr": 0.1, "momentum": 0.9}),
     lambda m, o: [m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)]),
    ("onecycle-adam-linear-3phase", ("adam", {"lr": 1e-3}),
     lambda m, o: [m.OneCycleLR(o, max_lr=0.01, epochs=10, steps_per_epoch=30, pct_start=0.25,
                                anneal_strategy="linear", three_phase=True, div_factor=10.0)]),
    ("onecycle-adagrad-no-momentum", ("adagrad", {"lr": 0.01}),
     lambda m, o: [m.OneCycleLR(o, max_lr=[0.05], total_steps=400, cycle_momentum=False,
                                final_div_factor=100.0)]),
    ("warm-restarts-10x2", ("sgd", {"lr": 0.1}),
     lambda m, o: [m.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4)]),
    ("warm-restarts-50", ("adam", {"lr": 0.01}),
     lambda m, o: [m.CosineAnnealingWarmRestarts(o, T_0=50)]),
    ("sequential-warmup-cosine", ("sgd", {"lr": 0.1, "momentum": 0.9}), warmup_then_cosine),
    ("sequential-three-stages", ("sgd", {"lr": 0.1}), three_stages),
    ("sequential-warmup-restarts", ("adam", {"lr": 0.01}), warmup_then_restarts),
    ("chained-exponential-and-step", ("sgd", {"lr": 0.1}),
     lambda m, o: [m.ExponentialLR(o, gamma=0.99), m.StepLR(o, step_size=25, gamma=0.5)]),
    ("plateau-default", ("sgd", {"lr": 0.1}), lambda m, o: [m.ReduceLROnPlateau(o)]),
    ("plateau-max-abs-cooldown", ("adam", {"lr": 0.01}),
     lambda m, o: [m.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=2, threshold=0.01,
                                       threshold_mode="abs", cooldown=3, min_lr=1e-4)]),
    ("plateau-patience-0-eps", ("sgd", {"lr": 0.1, "momentum": 0.5}),
     lambda m, o: [m.ReduceLROnPlateau(o, factor=0.7, patience=0, threshold=0.05, cooldown=1,
                                       min_lr=[1e-3], eps=1e-3)]),
]

FCNN_OPT = {"sgd": fcnn.SGD, "adam": fcnn.Adam, "adamw": fcnn.AdamW, "rmsprop": fcnn.RMSprop,
            "adagrad": fcnn.Adagrad}
TORCH_OPT = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
             "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}


def metrics(n: int = STEPS) -> list[float]:
    """A validation-loss-like sequence: falls, then noisy plateaus, in both modes' favour."""
    rng = np.random.default_rng(7)
    t = np.arange(n)
    values = 1 / (1 + t / 15) + 0.02 * rng.standard_normal(n)
    values[100:160] = np.round(values[100:160], 1)  # exact ties
    return [float(v) for v in values]


def fcnn_run(case: tuple, steps: int = STEPS) -> tuple[Any, list[Any]]:
    _, (name, kwargs), build = case
    opt = FCNN_OPT[name]([fcnn.Parameter(np.zeros(3))], **kwargs)
    return opt, build(fs, opt)


def step_all(schedulers: list[Any], t: int, values: list[float]) -> None:
    for s in schedulers:
        if isinstance(s, (fs.ReduceLROnPlateau, ts.ReduceLROnPlateau)):
            s.step(values[t])
        else:
            s.step()


def momentum_of(group: dict) -> float | None:
    if "betas" in group:
        return float(group["betas"][0])
    return float(group["momentum"]) if "momentum" in group else None


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_300_steps_match_torch(case: tuple) -> None:
    _, (name, kwargs), build = case
    opt, scheds = fcnn_run(case)
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    topt = TORCH_OPT[name]([p], **kwargs)
    tscheds = build(ts, topt)
    values = metrics()
    worst, seen = 0.0, set()
    for t in range(STEPS + 1):
        if t:
            opt.step()
            topt.step()  # no grad: a no-op that tells torch the optimizer stepped first
            step_all(scheds, t - 1, values)
            step_all(tscheds, t - 1, values)
        ours, theirs = scheds[-1].get_last_lr(), tscheds[-1].get_last_lr()
        assert isinstance(ours, list) and len(ours) == len(theirs) == 1
        group, tgroup = opt.param_groups[0], topt.param_groups[0]
        seen.add(group["lr"])
        for a, b in ((ours[0], theirs[0]), (group["lr"], tgroup["lr"]), (opt.lr, tgroup["lr"])):
            worst = max(worst, relative(a, b))
        m, tm = momentum_of(group), momentum_of(tgroup)
        if tm is not None:
            worst = max(worst, relative(m, tm))
        assert scheds[-1].last_epoch == tscheds[-1].last_epoch, t
    assert worst <= TOL, f"worst relative difference {worst:.3g} over {STEPS} steps"
    assert len(seen) > 1  # the schedule did change the rate


def test_warm_restarts_fractional_epochs_match_torch() -> None:
    opt = fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    ours = fs.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
    theirs = ts.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2, eta_min=0.001)
    iters = 7
    for epoch in range(20):
        for i in range(iters):
            opt.step()
            topt.step()
            ours.step(epoch + i / iters)
            theirs.step(epoch + i / iters)
            assert relative(ours.get_last_lr()[0], theirs.get_last_lr()[0]) <= TOL
            assert ours.T_i == theirs.T_i and ours.last_epoch == theirs.last_epoch


def test_deprecated_step_with_epoch_uses_the_closed_form_as_torch() -> None:
    opt = fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    ours, theirs = fs.CosineAnnealingLR(opt, T_max=40), ts.CosineAnnealingLR(topt, T_max=40)
    for epoch in (3, 17, 40, 55):
        opt.step()
        topt.step()
        with pytest.warns(UserWarning, match="deprecated"):
            ours.step(epoch)
        with pytest.warns(UserWarning):
            theirs.step(epoch)
        assert relative(ours.get_last_lr()[0], theirs.get_last_lr()[0]) <= TOL


def test_resuming_with_last_epoch_matches_torch() -> None:
    opt = fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    for o in (opt, topt):
        o.param_groups[0]["initial_lr"] = 0.4
    ours, theirs = fs.CosineAnnealingLR(opt, T_max=50, last_epoch=20), \
        ts.CosineAnnealingLR(topt, T_max=50, last_epoch=20)
    for _ in range(60):
        opt.step()
        topt.step()
        ours.step()
        theirs.step()
        assert relative(ours.get_last_lr()[0], theirs.get_last_lr()[0]) <= TOL


def test_the_scheduled_rate_is_the_rate_the_update_uses() -> None:
    p = fcnn.Parameter(np.array([1.0]))
    opt = fcnn.SGD([p], lr=1.0)
    sched = fs.StepLR(opt, step_size=1, gamma=0.5)
    for lr in (1.0, 0.5, 0.25):
        before = p.weights.copy()
        p.grad = np.array([1.0])
        opt.step()
        np.testing.assert_array_equal(before - p.weights, [lr])
        sched.step()


# -- state_dict ------------------------------------------------------------------------------


def json_round_trip(state: dict) -> dict:
    meta, arrays = fcnn.optim.flatten_state_dict(state)
    from safetensors.numpy import load, save

    restored = load(save(arrays)) if arrays else {}
    return fcnn.optim.unflatten_state_dict(json.loads(json.dumps(meta)), restored)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_dict_round_trip_mid_schedule_continues_identically(case: tuple) -> None:
    values = metrics()

    def run(opt: Any, scheds: list[Any], start: int, stop: int) -> list[float]:
        out = []
        for t in range(start, stop):
            opt.step()
            step_all(scheds, t, values)
            out.append(opt.param_groups[0]["lr"])
            out.append(momentum_of(opt.param_groups[0]))
        return out

    opt, scheds = fcnn_run(case)
    whole = run(opt, scheds, 0, STEPS)
    opt, scheds = fcnn_run(case)
    first = run(opt, scheds, 0, 150)
    saved_opt = json_round_trip(opt.state_dict())
    saved = [json_round_trip(s.state_dict()) for s in scheds]
    # as in PyTorch: a fresh optimizer and schedulers, then the optimizer's state, then theirs
    opt2, scheds2 = fcnn_run(case)
    opt2.load_state_dict(saved_opt)
    for s, state in zip(scheds2, saved, strict=True):
        s.load_state_dict(state)
    assert first + run(opt2, scheds2, 150, STEPS) == whole


def test_load_state_dict_of_another_class_is_refused_and_changes_nothing() -> None:
    opt = fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1)
    step = fs.StepLR(opt, step_size=3)
    for _ in range(4):
        step.step()
    before = step.state_dict()
    other = fs.ExponentialLR(fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1), gamma=0.5)
    with pytest.raises(ValueError, match="not a StepLR's"):
        step.load_state_dict(other.state_dict())
    bad = dict(before, last_epoch="four")
    with pytest.raises(TypeError, match="last_epoch"):
        step.load_state_dict(bad)
    with pytest.raises(TypeError, match="expected a dict"):
        step.load_state_dict([1, 2])
    assert step.state_dict() == before


def test_onecycle_refuses_a_step_past_the_end_and_changes_nothing() -> None:
    opt = fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1, momentum=0.9)
    sched = fs.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    before, lr = sched.state_dict(), opt.lr
    with pytest.raises(ValueError, match="total steps is 3"):
        sched.step()
    assert sched.state_dict() == before and opt.lr == lr


def test_refuses_a_torch_optimizer() -> None:
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    for make in (lambda: fs.StepLR(topt, 3), lambda: fs.ReduceLROnPlateau(topt),
                 lambda: fs.OneCycleLR(topt, max_lr=0.1, total_steps=10)):
        with pytest.raises(TypeError, match=r"fcnn optimizer.*torch\.optim\.lr_scheduler"):
            make()
    assert "initial_lr" not in topt.param_groups[0]


def test_plateau_takes_numpy_and_torch_scalars() -> None:
    opt = fcnn.SGD([fcnn.Parameter(np.zeros(2))], lr=0.1)
    sched = fs.ReduceLROnPlateau(opt, patience=0)
    sched.step(np.float32(1.0))
    sched.step(torch.tensor(2.0))
    sched.step(np.array(3.0))
    assert sched.get_last_lr() == [pytest.approx(0.001)] and sched.num_bad_epochs == 0
