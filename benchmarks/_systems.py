"""The workloads and the systems that train them.

A *trial* is one training run from scratch: ``make_trial(...)`` builds the
model and everything else it needs (untimed), ``trial.run()`` is the timed
region (the training call alone), and ``trial.score()`` measures test
accuracy and the last epoch's mean training loss afterwards (untimed).

Every system but scikit-learn starts from the same initial weights, drawn by
``fcnn.mlp`` with PyTorch's default ``nn.Linear`` scheme (U(±1/sqrt(fan_in))
for weights and biases), and the lab baseline and PyTorch also see the same
batches as fcnn (``np.random.default_rng(seed).permutation(N)`` each epoch),
so their accuracies and losses should agree to rounding. scikit-learn's
``MLPClassifier`` uses its own init (Glorot uniform) and shuffling.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SYSTEMS", "WORKLOADS", "Workload", "init_weights", "label", "make_trial", "schedule"]

F64, F32 = "float64", "float32"

#: (system, dtype) pairs; "floor" is the BLAS floor: the step's GEMMs alone.
SYSTEMS: dict[str, list[tuple[str, str]]] = {
    "W1": [("fcnn", F64), ("fcnn", F32), ("lab", F64), ("torch", F32), ("sklearn", F64),
           ("floor", F64), ("floor", F32)],
    "W2": [("fcnn", F64), ("fcnn", F32), ("lab", F64), ("lab", F32), ("torch", F32),
           ("sklearn", F64), ("sklearn", F32), ("floor", F64), ("floor", F32)],
    "W3": [("fcnn", F64), ("fcnn", F32), ("lab", F64), ("lab", F32), ("torch", F32),
           ("sklearn", F64), ("sklearn", F32), ("floor", F64), ("floor", F32)],
    # W2 with BatchNorm1d after each hidden Linear: fcnn against PyTorch only.
    "W2BN": [("fcnn", F32), ("torch", F32), ("fcnn", F64)],
    # W3 at 1 thread (full mode only): the rows the targets and the floor need.
    "W3-1thread": [("fcnn", F64), ("fcnn", F32), ("lab", F32), ("torch", F32), ("floor", F32)],
}

_NAMES = {"fcnn": "fcnn", "lab": "lab baseline", "torch": "PyTorch", "sklearn": "scikit-learn",
          "floor": "BLAS floor"}


def label(system: str, dtype: str) -> str:
    """'fcnn f64', 'PyTorch f32', ..."""
    return f"{_NAMES[system]} f{dtype[-2:]}"


@dataclass
class Workload:
    key: str
    title: str
    data: str
    sizes: list[int]
    batch: int
    lr: float
    epochs: int  # per timed run
    quick_epochs: int
    warmup_epochs: int  # for the untimed warm-up runs (on a slice, for W3)
    rows: int | None = None
    quick_rows: int | None = None
    subprocess_per_run: bool = False  # W3: a fresh process per run, for peak RSS
    norm: str | None = None  # "batch": BatchNorm1d after each hidden Linear (W2BN)
    notes: list[str] = field(default_factory=list)


WORKLOADS: dict[str, Workload] = {
    "W1": Workload(
        "W1", "W1 Iris, the lab's run: 4-100-100-3, batch 32, lr 0.01", "iris",
        [4, 100, 100, 3], batch=32, lr=0.01, epochs=2000, quick_epochs=200, warmup_epochs=25,
        notes=["Iris (sklearn), unscaled features, stratified 80/20 split: 120 train / 30 test, "
               "4 steps per epoch (3 x 32 + 24)."],
    ),
    "W2": Workload(
        "W2", "W2 digits: 64-256-256-10, batch 64, lr 0.05", "digits",
        [64, 256, 256, 10], batch=64, lr=0.05, epochs=100, quick_epochs=10, warmup_epochs=3,
        notes=["digits (sklearn) / 16, stratified 80/20 split: 1437 train / 360 test, "
               "23 steps per epoch. lr 0.05: 0.01 learns too, but slowly (test accuracy ~0.94 "
               "after 100 epochs vs ~0.97)."],
    ),
    "W2BN": Workload(
        "W2BN", "W2BN digits with BatchNorm1d: 64-256(BN)-256(BN)-10, batch 64, lr 0.05", "digits",
        [64, 256, 256, 10], batch=64, lr=0.05, epochs=100, quick_epochs=10, warmup_epochs=3,
        norm="batch",
        notes=["W2's data and sizes, Linear -> BatchNorm1d -> ReLU in both hidden layers "
               "(PyTorch's BatchNorm1d defaults: eps 1e-5, momentum 0.1); fcnn against PyTorch."],
    ),
    "W3": Workload(
        "W3", "W3 wide: 784-512-512-10, batch 256, lr 0.05", "wide",
        [784, 512, 512, 10], batch=256, lr=0.05, epochs=2, quick_epochs=1, warmup_epochs=1,
        rows=60_000, quick_rows=20_000, subprocess_per_run=True,
        notes=["Synthetic float32 data: a mixture of ten Gaussians in 784 dimensions (one per "
               "class, centres of norm ~3.4, unit noise), fixed seed; 60,000 train rows (235 "
               "steps per epoch; 20,000 in --quick) and 10,000 test rows. Each run is a fresh "
               "process (for its peak RSS); "
               "s/epoch is the run's wall time over its epochs."],
    ),
}


def schedule(n: int, batch: int) -> list[int]:
    """The batch sizes of one epoch: full batches, then the partial last one."""
    sizes = [batch] * (n // batch)
    if n % batch:
        sizes.append(n % batch)
    return sizes


def init_weights(sizes: list[int], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """fcnn's default initial (W, b) pairs for ``sizes`` and ``seed``, in float64.

    fcnn draws in float64 and casts, so the float32 model holds exactly these
    values rounded to float32: every system gets the same starting point.
    """
    import fcnn

    model = fcnn.mlp(sizes, "relu", rng=seed, dtype=np.float64)
    linears = [layer for layer in model.layers if isinstance(layer, fcnn.Linear)]
    return [(lin.w.weights.copy(), lin.bias.weights.copy()) for lin in linears]


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == y))


class _FcnnTrial:
    def __init__(self, wl: Workload, dtype: str, data: tuple, epochs: int, seed: int) -> None:
        import fcnn

        self.fcnn = fcnn
        dt = np.dtype(dtype)
        self.X, self.y = data[0].astype(dt, copy=False), data[1]
        self.X_test, self.y_test = data[2].astype(dt, copy=False), data[3]
        norm = {"norm": wl.norm} if wl.norm else {}
        self.model = fcnn.mlp(wl.sizes, "relu", rng=seed, dtype=dt, **norm)
        self.loss = fcnn.NLLLoss()
        self.opt = fcnn.SGD(self.model.parameters(), lr=wl.lr)
        self.wl, self.epochs, self.seed = wl, epochs, seed

    def run(self) -> None:
        self.hist = self.fcnn.train(
            self.model, self.loss, self.opt, self.X, self.y, epochs=self.epochs,
            batch_size=self.wl.batch, rng=self.seed, progress=False,
        )

    def score(self) -> dict[str, float]:
        pred = self.fcnn.predict(self.model, self.X_test).argmax(axis=1)
        return {"acc": _accuracy(pred, self.y_test), "loss": float(self.hist.loss[-1]),
                "steps": len(self.hist.step_losses)}


class _LabTrial:
    def __init__(self, wl: Workload, dtype: str, data: tuple, epochs: int, seed: int) -> None:
        import _lab

        self.lab = _lab
        dt = np.dtype(dtype)
        self.X, self.y = data[0].astype(dt, copy=False), data[1]
        self.X_test, self.y_test = data[2].astype(dt, copy=False), data[3]
        self.net = _lab.lab_network(wl.sizes, init_weights(wl.sizes, seed), dt)
        self.wl, self.epochs, self.seed = wl, epochs, seed

    def run(self) -> None:
        self.final_loss = self.lab.lab_train(
            self.net, self.X, self.y, self.epochs, self.wl.batch, self.wl.lr,
            np.random.default_rng(self.seed),
        )

    def score(self) -> dict[str, float]:
        pred = np.concatenate([
            self.net.forward(self.X_test[i : i + 8192]).argmax(axis=1)
            for i in range(0, self.X_test.shape[0], 8192)
        ])
        return {"acc": _accuracy(pred, self.y_test), "loss": self.final_loss,
                "steps": self.epochs * len(schedule(self.X.shape[0], self.wl.batch))}


class _TorchTrial:
    def __init__(self, wl: Workload, dtype: str, data: tuple, epochs: int, seed: int) -> None:
        import torch
        from torch import nn

        if dtype != F32:
            raise ValueError("the benchmark runs PyTorch in float32 only")
        self.torch = torch
        self.X = torch.from_numpy(np.ascontiguousarray(data[0], dtype=np.float32))
        self.y = torch.from_numpy(data[1].astype(np.int64))
        self.X_test = torch.from_numpy(np.ascontiguousarray(data[2], dtype=np.float32))
        self.y_test = data[3]
        layers: list[Any] = []
        for i, (W, b) in enumerate(init_weights(wl.sizes, seed)):
            lin = nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.astype(np.float32)))
                lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))
            layers.append(lin)
            if i < len(wl.sizes) - 2:
                if wl.norm == "batch":
                    layers.append(nn.BatchNorm1d(W.shape[1]))
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers)
        self.crit = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=wl.lr)
        self.wl, self.epochs, self.seed = wl, epochs, seed

    def run(self) -> None:
        torch, model, crit, opt = self.torch, self.model, self.crit, self.opt
        X, y, B = self.X, self.y, self.wl.batch
        N = X.shape[0]
        rng = np.random.default_rng(self.seed)  # fcnn's batches; same cost as torch.randperm
        model.train()
        for _ in range(self.epochs):
            perm = torch.from_numpy(rng.permutation(N))
            total, steps = 0.0, 0
            for start in range(0, N, B):
                idx = perm[start : start + B]
                opt.zero_grad()
                loss = crit(model(X[idx]), y[idx])
                loss.backward()
                opt.step()
                total += loss.item()
                steps += 1
        self.final_loss, self.steps = total / steps, steps * self.epochs

    def score(self) -> dict[str, float]:
        self.model.eval()
        with self.torch.inference_mode():
            pred = self.model(self.X_test).argmax(dim=1).numpy()
        return {"acc": _accuracy(pred, self.y_test), "loss": self.final_loss, "steps": self.steps}


class _SklearnTrial:
    def __init__(self, wl: Workload, dtype: str, data: tuple, epochs: int, seed: int) -> None:
        from sklearn.neural_network import MLPClassifier

        dt = np.dtype(dtype)
        self.X, self.y = data[0].astype(dt, copy=False), data[1]
        self.X_test, self.y_test = data[2].astype(dt, copy=False), data[3]
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(wl.sizes[1:-1]), activation="relu", solver="sgd",
            learning_rate="constant", learning_rate_init=wl.lr, momentum=0.0,
            nesterovs_momentum=False, alpha=0.0, batch_size=wl.batch, max_iter=epochs,
            shuffle=True, tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False,
            random_state=seed,
        )
        self.wl, self.epochs = wl, epochs

    def run(self) -> None:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            # max_iter is the epoch count here, so "not converged" is expected
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.clf.fit(self.X, self.y)

    def score(self) -> dict[str, Any]:
        pred = self.clf.predict(self.X_test)
        return {"acc": _accuracy(pred, self.y_test), "loss": float(self.clf.loss_curve_[-1]),
                "steps": self.epochs * len(schedule(self.X.shape[0], self.wl.batch)),
                "model_dtype": str(self.clf.coefs_[0].dtype)}


class _FloorTrial:
    """The step's GEMMs alone, numpy, with preallocated outputs: per layer the
    forward ``X @ W`` and ``dW = X.T @ dY``, and ``dX = dY @ W.T`` for all but
    the first layer; the batch sizes follow an epoch's schedule."""

    def __init__(self, wl: Workload, dtype: str, data: tuple, epochs: int, seed: int) -> None:
        dt = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        sizes = wl.sizes
        Ws = [rng.standard_normal((i, o)).astype(dt) for i, o in itertools.pairwise(sizes)]
        dWs = [np.empty_like(W) for W in Ws]
        self.ops: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.schedule = schedule(data[0].shape[0], wl.batch)
        for b in set(self.schedule):
            ops = []
            acts = [rng.standard_normal((b, n)).astype(dt) for n in sizes]  # layer inputs/outputs
            grads = [rng.standard_normal((b, n)).astype(dt) for n in sizes]  # dL/d(layer output)
            outs = [np.empty((b, n), dt) for n in sizes]
            for i, W in enumerate(Ws):
                ops.append((acts[i], W, outs[i + 1]))  # forward
            for i in reversed(range(len(Ws))):
                ops.append((acts[i].T, grads[i + 1], dWs[i]))  # dW
                if i > 0:
                    ops.append((grads[i + 1], Ws[i].T, outs[i]))  # dX
            self.ops[b] = ops
        self.epochs = epochs

    def run(self) -> None:
        matmul, ops = np.matmul, self.ops
        for _ in range(self.epochs):
            for b in self.schedule:
                for a, w, out in ops[b]:
                    matmul(a, w, out=out)

    def score(self) -> dict[str, Any]:
        return {"acc": None, "loss": None, "steps": self.epochs * len(self.schedule)}


_TRIALS = {"fcnn": _FcnnTrial, "lab": _LabTrial, "torch": _TorchTrial,
           "sklearn": _SklearnTrial, "floor": _FloorTrial}


def make_trial(system: str, wl: Workload, dtype: str, data: tuple, epochs: int, seed: int) -> Any:
    """A fresh, untimed-to-build trial of ``system`` on ``data`` for ``epochs`` epochs."""
    return _TRIALS[system](wl, dtype, data, epochs, seed)


def flops_per_epoch(wl: Workload, n: int) -> float:
    """The floor's floating-point operations in one epoch of ``n`` rows."""
    s = wl.sizes
    per_row = 2 * sum(2 * i * o for i, o in itertools.pairwise(s))  # forward and dW
    per_row += sum(2 * i * o for i, o in itertools.pairwise(s[1:]))  # dX, all but the first layer
    return float(per_row * n)


def steps_per_epoch(n: int, batch: int) -> int:
    return math.ceil(n / batch)
