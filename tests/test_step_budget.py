"""Regression guard for the training step's cost, independent of machine speed.

At the lab's size (batch 32, widths <= 100) a step costs what its Python and
NumPy calls cost, not FLOPs. These tests count, deterministically, what one
training step does: Python-level calls and C-method calls (``sys.setprofile``
events) and the peak of temporary memory (``tracemalloc``). A change that adds
a copy of the input, an extra pass or a wrapper call per layer fails here.

If a change makes the step legitimately heavier, update the budget in the
same commit and say why; if it makes it lighter, lower the budget.
"""

import collections
import sys
import tracemalloc

import numpy as np

import fcnn

STEPS_PER_EPOCH = 8  # 256 samples / batch 32
# Measured on this code: 45.75 events per training step (5 layers, NLLLoss, SGD). It was
# 39.75 before Parameter.add_grad took over the write-or-add decision from the layers
# (one Python call per parameter per backward: +6 per step for the lab's 3 Linear layers).
# 48.0 measured with the losses' new protocol. Then 51.6: History logs training accuracy and
# lr by default (issue 10), from the outputs the steps already produce (one list.append per
# step, +1) and one pass over them per epoch (argmax, compare, count: ~21 events per epoch,
# +2.6 per step at this run's 8 steps per epoch); no second forward pass.
EVENT_BUDGET = 52
# Measured: 181,560 bytes above the steady state over two epochs: the epoch's
# snapshot of the weights (87 kB, kept to fall back on if the loss diverges)
# plus one step's activations, gradient temporaries and the loss's softmax.
PEAK_BUDGET = 200_000


def lab_sized_run():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 4)), rng.integers(0, 3, 256)
    model = fcnn.mlp([4, 100, 100, 3], rng=0)
    optimizer = fcnn.SGD(model.parameters(), lr=0.01)
    loss = fcnn.NLLLoss()

    def run(epochs):
        return fcnn.train(model, loss, optimizer, X, y, epochs=epochs, batch_size=32, rng=0,
                          progress=False)

    run(1)  # warm-up: first-call caches, lazy imports
    return run


def count_events(run, epochs):
    counts = collections.Counter()

    def profile(frame, event, arg):
        if event == "call":
            counts[f"py:{frame.f_code.co_name}"] += 1
        elif event == "c_call":
            counts[f"c:{getattr(arg, '__qualname__', arg)}"] += 1

    sys.setprofile(profile)
    try:
        run(epochs)
    finally:
        sys.setprofile(None)
    return counts


def test_python_and_c_calls_per_step_stay_within_budget():
    run = lab_sized_run()
    one, three = count_events(run, 1), count_events(run, 3)
    per_step = (sum(three.values()) - sum(one.values())) / (2 * STEPS_PER_EPOCH)
    per_epoch_overhead = {k: three[k] - one[k] for k in three if three[k] != one[k]}
    assert per_step <= EVENT_BUDGET, (
        f"{per_step:.1f} profile events per training step (budget {EVENT_BUDGET}); "
        f"events added per two epochs: {sorted(per_epoch_overhead.items(), key=lambda kv: -kv[1])[:15]}"
    )
    # no hidden copies: the only ndarray.copy is the weights' snapshot, once per epoch
    assert three["c:ndarray.copy"] - one["c:ndarray.copy"] == 2


def test_peak_temporary_memory_per_step_stays_within_budget():
    run = lab_sized_run()
    tracemalloc.start()
    try:
        run(1)
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        run(2)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - baseline <= PEAK_BUDGET, (
        f"a training step's temporaries peaked at {peak - baseline} bytes (budget {PEAK_BUDGET})")
    # nothing accumulates from epoch to epoch but the History's floats
    assert current - baseline < 10_000
