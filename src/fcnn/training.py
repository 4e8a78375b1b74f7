"""The training loop: ``train(model, loss, optimizer, X, y, ...) -> History``.

Minibatches come from a fresh permutation of the training set each epoch
(never sampling with replacement) and the last, partial batch is used. The
data is checked once up front, so the per-step work is just forward, loss,
backward and the optimizer step.

Faults never lose work: a NaN or infinite loss raises ``DivergenceError``
(naming the epoch and step) with the model keeping finite weights and the
error carrying the History so far; Ctrl-C finishes the current step and
returns the History marked ``interrupted``.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ._validation import as_float_array, check_finite, check_labels
from .errors import DivergenceError, ShapeError
from .init import RNGLike, as_generator
from .layers import Linear
from .losses import Loss, NLLLoss
from .network import Sequential
from .optim import Optimizer

__all__ = ["Callback", "EarlyStopping", "History", "ModelCheckpoint", "predict", "train"]


@dataclass
class History:
    """What a training run recorded.

    ``history`` is Keras-style: a dict of per-epoch lists, ``"loss"`` (mean
    training loss of the epoch's steps) and, with validation data,
    ``"val_loss"`` and ``"val_accuracy"`` (classification only).
    """

    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": []})
    step_losses: list[float] = field(default_factory=list)
    epochs: int = 0
    wall_time: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False
    best_epoch: int | None = None
    restored_best_weights: bool = False

    @property
    def loss(self) -> list[float]:
        return self.history["loss"]

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        flags = "".join(
            f", {name}=True" for name in ("interrupted", "stopped_early") if getattr(self, name)
        )
        return f"History(epochs={self.epochs}, last={last}, wall_time={self.wall_time:.2f}s{flags})"


class Callback:
    """Hooks into ``train``. Return True from ``on_epoch_end`` to stop training."""

    def on_train_begin(self, model: Any, history: History) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after each epoch with its metrics (``epoch`` counts from 1)."""
        return None

    def on_train_end(self, history: History) -> None:
        """Called once when training ends, however it ends (not on an exception)."""


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[int, dict[str, float]], Any]) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return bool(self.fn(epoch, logs))


class _Monitor:
    """Tracks the best value of one logged metric (min for losses, max otherwise)."""

    def __init__(self, monitor: str, min_delta: float) -> None:
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.sign = -1.0 if "acc" in monitor else 1.0  # compare sign * value, lower is better
        self.best = math.inf
        self.best_epoch: int | None = None

    def improved(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise KeyError(
                f"{type(self).__name__}: metric {self.monitor!r} is not logged "
                f"(available: {sorted(logs)})"
            )
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch = value, epoch
            return True
        return False


def _require_metric(monitor: str, logged: list[str], who: str) -> None:
    if monitor in logged:
        return
    if monitor.startswith("val_") and not any(m.startswith("val_") for m in logged):
        raise ValueError(
            f"{who} monitors {monitor!r} but train() got no validation data; pass "
            "validation_data=(X_val, y_val) or validation_split=0.1, or monitor='loss'"
        )
    raise ValueError(f"{who} monitors {monitor!r}, which train() does not log; it logs {logged}")


def _check_monitor(monitor: Any, who: str) -> str:
    if not isinstance(monitor, str):
        raise TypeError(f"{who}: monitor must be a metric name such as 'val_loss', got {monitor!r}")
    return monitor


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model ends training with the weights
    of its best epoch (recorded in ``History.best_epoch`` and
    ``History.restored_best_weights``), whether training stopped early or ran
    out of epochs.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best_weights: bool = False,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.floating)):
            raise TypeError(f"EarlyStopping: min_delta must be a number, got {min_delta!r}")
        self.monitor, self.patience = _check_monitor(monitor, "EarlyStopping"), patience
        self.min_delta, self.restore_best_weights = min_delta, restore_best_weights

    def on_train_begin(self, model: Any, history: History) -> None:
        self._tracker = _Monitor(self.monitor, self.min_delta)
        self._params = model.parameters()
        self._best_weights: list[np.ndarray] | None = None
        self._wait = 0
        self._history = history

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self._tracker.improved(epoch, logs):
            self._wait = 0
            self._history.best_epoch = epoch
            if self.restore_best_weights:
                self._best_weights = [p.weights.copy() for p in self._params]
            return False
        self._wait += 1
        if self._wait > self.patience:
            self._history.stopped_early = True
            return True
        return False

    def on_train_end(self, history: History) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            for p, w in zip(self._params, self._best_weights):
                p.weights = w
            history.restored_best_weights = True


class ModelCheckpoint(Callback):
    """Save the model to ``path`` (atomically, with ``fcnn.save``) after each epoch
    that improves ``monitor`` (or after every epoch with ``save_best_only=False``).

    ``metadata`` is stored beside the weights, with the epoch and the metric values.
    """

    def __init__(
        self,
        path: Any,
        monitor: str = "val_loss",
        save_best_only: bool = True,
        **metadata: Any,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: path must be a str or os.PathLike, got {path!r}")
        self.path, self.save_best_only = path, save_best_only
        self.monitor = _check_monitor(monitor, "ModelCheckpoint")
        self.metadata = metadata

    def on_train_begin(self, model: Any, history: History) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):  # fail now, not after an epoch of work
            raise FileNotFoundError(
                f"ModelCheckpoint: the directory does not exist: {directory} (create it first)"
            )
        self._tracker = _Monitor(self.monitor, 0.0)
        self._model = model

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self._tracker.improved(epoch, logs) or not self.save_best_only:
            from .serialization import save

            save(self._model, self.path, epoch=epoch, metrics=dict(logs), **self.metadata)


def train(
    model: Any,
    loss: Loss,
    optimizer: Optimizer,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int = 32,
    shuffle: bool = True,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float | None = None,
    callbacks: Iterable[Callback | Callable[[int, dict[str, float]], Any]] = (),
    progress: bool = True,
    rng: RNGLike = None,
) -> History:
    """Train ``model`` on ``(X, y)`` with minibatch gradient descent.

    Parameters
    ----------
    model : Sequential (or any layer with forward/backward/parameters)
    loss : NLLLoss (``y`` integer labels ``(N,)``) or MSELoss (``y`` ``(N, out)``;
        ``(N,)`` is accepted for a single output)
    optimizer : Optimizer over ``model.parameters()``
    X : array (N, in_features); cast once to the model's dtype
    epochs, batch_size : int >= 1; the last partial batch of each epoch is used
    shuffle : a fresh permutation of the samples each epoch (from ``rng``)
    validation_data : ``(X_val, y_val)``, evaluated after every epoch
    validation_split : fraction of ``(X, y)`` held out (a random subset, from ``rng``)
    callbacks : Callback objects or plain ``f(epoch, logs)`` hooks; returning True stops
    progress : a tqdm bar when output is a terminal or a notebook
    rng : Generator or int seed for shuffling and the validation split

    Returns
    -------
    History
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"train: {name} must be an int >= 1, got {value!r}")
    if not all(hasattr(model, name) for name in ("forward", "backward", "parameters")):
        raise TypeError(
            "train: model must be a layer or network with forward/backward/parameters, "
            f"got {type(model).__name__}"
        )
    if not isinstance(loss, Loss):
        raise TypeError(f"train: loss must be an fcnn Loss (NLLLoss, MSELoss), got {loss!r}")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"train: optimizer must have step() and zero_grad(), got {optimizer!r}")
    rng = as_generator(rng)
    dtype = getattr(model, "dtype", np.dtype(np.float64))
    n_out = _output_features(model)
    X, y = _prepare(X, y, loss, dtype, n_out, "train")
    if validation_data is not None and validation_split is not None:
        raise ValueError("train: pass validation_data or validation_split, not both")
    if validation_split is not None:
        if isinstance(validation_split, bool) or not isinstance(
            validation_split, (int, float, np.floating)
        ):
            raise TypeError(
                f"train: validation_split must be a float in (0, 1), got {validation_split!r}"
            )
        if not 0 < validation_split < 1:
            raise ValueError(f"train: validation_split must be in (0, 1), got {validation_split!r}")
        order = rng.permutation(X.shape[0])
        n_val = max(1, round(validation_split * X.shape[0]))
        if n_val >= X.shape[0]:
            raise ValueError("train: validation_split leaves no training samples")
        validation_data = (X[order[:n_val]], y[order[:n_val]])
        X, y = X[order[n_val:]], y[order[n_val:]]
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("train: validation_data must be a pair (X_val, y_val)")
        validation_data = _prepare(*validation_data, loss, dtype, n_out, "train (validation_data)")

    callbacks = list(callbacks)
    for c in callbacks:
        if not (isinstance(c, Callback) or callable(c)):
            raise TypeError(
                f"train: each callback must be a fcnn Callback or a function f(epoch, logs), "
                f"got {c!r}"
            )
    callbacks = [c if isinstance(c, Callback) else _FunctionCallback(c) for c in callbacks]
    logged = ["loss"]
    if validation_data is not None:
        logged += ["val_loss", "val_accuracy"] if isinstance(loss, NLLLoss) else ["val_loss"]
    for c in callbacks:
        monitor = getattr(c, "monitor", None)
        if monitor is not None:
            _require_metric(monitor, logged, type(c).__name__)

    history = History()
    if validation_data is not None:
        history.history["val_loss"] = []
        if isinstance(loss, NLLLoss):
            history.history["val_accuracy"] = []
    for c in callbacks:
        c.on_train_begin(model, history)

    started = time.perf_counter()
    bar = _progress_bar(epochs, progress)
    try:
        with _trusted_input(model), _deferred_interrupt() as interrupted, np.errstate(
            over="ignore", invalid="ignore", divide="ignore"
        ):
            model.train()
            epochs_runner = _Epochs(
                model, loss, optimizer, X, y, batch_size, shuffle, rng, history, interrupted
            )
            for epoch in range(1, epochs + 1):
                try:
                    epoch_loss = epochs_runner.run(epoch)
                except KeyboardInterrupt:
                    history.interrupted = True
                    break
                history.history["loss"].append(epoch_loss)
                history.epochs = epoch
                logs = {"loss": epoch_loss}
                if validation_data is not None:
                    logs.update(_evaluate(model, loss, *validation_data))
                    for key in ("val_loss", "val_accuracy"):
                        if key in logs:
                            history.history[key].append(logs[key])
                if bar is not None:
                    bar.update(logs)
                try:
                    stop = [c.on_epoch_end(epoch, logs) for c in callbacks]
                except KeyboardInterrupt:
                    history.interrupted = True
                    break
                if interrupted[0]:
                    history.interrupted = True
                    break
                if any(stop):
                    break
            model.train()
    finally:
        history.wall_time = time.perf_counter() - started
        if bar is not None:
            bar.close()
    for c in callbacks:
        c.on_train_end(history)
    return history


class _Epochs:
    """Runs epochs of minibatch steps; everything that does not change from one
    epoch to the next is looked up once, here."""

    def __init__(self, model: Any, loss: Loss, optimizer: Any, X: np.ndarray, y: np.ndarray,
                 batch_size: int, shuffle: bool, rng: Any, history: History,
                 interrupted: list[bool]) -> None:
        self.X, self.y, self.batch_size, self.shuffle, self.rng = X, y, batch_size, shuffle, rng
        self.history, self.interrupted, self.optimizer = history, interrupted, optimizer
        self.forward, self.loss_forward, self.loss_backward = model.forward, loss._forward, loss.backward
        self.backward = _backward_without_input_grad(model)
        if isinstance(optimizer, Optimizer):
            self.zero_grad = partial(optimizer.zero_grad, set_to_none=True)
            optimizer.zero_grad()  # also builds its (flat) groups
            self.weights = [w for w, _ in optimizer._groups]
        else:
            self.zero_grad = optimizer.zero_grad
            self.weights = [p.weights for p in model.parameters()]
        self.n_steps = math.ceil(X.shape[0] / batch_size)

    def run(self, epoch: int) -> float:
        """One epoch; returns the mean of its steps' losses."""
        X, y, batch_size = self.X, self.y, self.batch_size
        forward, loss_forward, loss_backward = self.forward, self.loss_forward, self.loss_backward
        backward, zero_grad, step_optimizer = self.backward, self.zero_grad, self.optimizer.step
        step_losses, interrupted = self.history.step_losses, self.interrupted
        N = X.shape[0]
        order = self.rng.permutation(N) if self.shuffle else np.arange(N)
        snapshot = [w.copy() for w in self.weights]  # finite weights to fall back on
        total = 0.0
        for step, start in enumerate(range(0, N, batch_size), 1):
            idx = order[start : start + batch_size]
            X_batch, y_batch = X.take(idx, axis=0), y.take(idx, axis=0)
            zero_grad()
            value = loss_forward(forward(X_batch), y_batch)
            if not math.isfinite(value):
                self._keep_finite_weights(snapshot)
                raise DivergenceError(
                    f"training diverged: the loss became {value} at epoch {epoch}, step {step} of "
                    f"{self.n_steps}. The model keeps its last finite weights and the error carries "
                    "the History so far (.history). Try a smaller learning rate "
                    f"(lr={getattr(self.optimizer, 'lr', '?')}) or standardized inputs.",
                    self.history,
                )
            backward(loss_backward())
            step_optimizer()
            step_losses.append(value)
            total += value
            if interrupted[0]:
                raise KeyboardInterrupt
        return total / self.n_steps

    def _keep_finite_weights(self, snapshot: list[np.ndarray]) -> None:
        # The weights that produced a non-finite loss are kept when they are finite
        # (they are then the latest finite weights); otherwise the epoch's start.
        if not all(np.isfinite(w).all() for w in self.weights):
            for w, saved in zip(self.weights, snapshot):
                np.copyto(w, saved)


def _backward_without_input_grad(model: Any) -> Callable[[np.ndarray], Any]:
    if isinstance(model, Sequential):
        return lambda dLdy: model.backward(dLdy, input_grad=False)
    return model.backward


def _evaluate(model: Any, loss: Loss, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    out = predict(model, X)
    logs = {"val_loss": loss._forward(out, y)}
    if isinstance(loss, NLLLoss):
        logs["val_accuracy"] = float(np.mean(out.argmax(axis=1) == y))
    return logs


def predict(model: Any, X: Any, batch_size: int = 8192) -> np.ndarray:
    """The model's outputs for ``X`` in eval mode (Dropout off), in batches.

    The model's train/eval mode is restored afterwards.
    """
    if not all(hasattr(model, name) for name in ("forward", "train", "eval")):
        raise TypeError(f"predict: model must be an fcnn layer or network, got {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"predict: batch_size must be an int >= 1, got {batch_size!r}")
    X = as_float_array(X, "predict", getattr(model, "dtype", None))
    if X.ndim != 2 or X.shape[0] == 0:
        raise ShapeError(f"predict expected a non-empty 2-D input (N, features), got {X.shape}")
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        outs = [model.forward(X[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return outs[0] if len(outs) == 1 else np.concatenate(outs)


def _output_features(model: Any) -> int | None:
    for layer in reversed(getattr(model, "layers", [model])):
        if isinstance(layer, Linear):
            return layer.out_features
    return None


def _prepare(
    X: Any, y: Any, loss: Loss, dtype: np.dtype, n_out: int | None, who: str
) -> tuple[np.ndarray, np.ndarray]:
    X = as_float_array(X, who, dtype)
    if X.ndim != 2:
        hint = "; for one feature use X.reshape(-1, 1)" if X.ndim == 1 else ""
        raise ShapeError(f"{who} expected X of shape (N, features), got {X.shape}{hint}")
    if X.shape[0] == 0:
        raise ShapeError(f"{who} got an empty X of shape {X.shape}")
    check_finite(X, who, "X")
    if isinstance(loss, NLLLoss):
        y = check_labels(y, X.shape[0], n_out, who)
    else:
        y = as_float_array(y, who, dtype)
        if y.ndim == 1 and n_out == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[0] != X.shape[0] or (n_out is not None and y.shape[1] != n_out):
            raise ShapeError(
                f"{who} expected targets of shape ({X.shape[0]}, {n_out}) for this model, "
                f"got {y.shape}"
            )
        check_finite(y, who, "y")
    return np.ascontiguousarray(X), y


@contextmanager
def _trusted_input(model: Any) -> Iterator[None]:
    # The data was checked once in _prepare; skip the per-forward NaN check.
    previous = getattr(model, "check_finite", None)
    if previous is not None:
        model.check_finite = False
    try:
        yield
    finally:
        if previous is not None:
            model.check_finite = previous


@contextmanager
def _deferred_interrupt() -> Iterator[list[bool]]:
    """Turn Ctrl-C into a flag (``flag[0]``) checked after each step, so a step is
    never cut in half (in the main thread; elsewhere KeyboardInterrupt is caught as is)."""
    flag = [False]
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        flag[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class _Bar:
    """A tqdm bar over epochs whose postfix is refreshed at most ~10 times a second."""

    def __init__(self, epochs: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=epochs, unit="epoch", dynamic_ncols=True, leave=True)
        self._last = 0.0

    def update(self, logs: dict[str, float]) -> None:
        now = time.monotonic()
        self._logs = logs
        if now - self._last > 0.1:
            self._bar.set_postfix(self._format(logs), refresh=False)
            self._last = now
        self._bar.update(1)

    def close(self) -> None:
        if getattr(self, "_logs", None):  # show the final epoch's metrics, not a throttled one
            self._bar.set_postfix(self._format(self._logs), refresh=True)
        self._bar.close()

    @staticmethod
    def _format(logs: dict[str, float]) -> dict[str, str]:
        return {k: f"{v:.4f}" for k, v in logs.items()}


def _progress_bar(epochs: int, progress: bool) -> _Bar | None:
    if not progress:
        return None
    in_notebook = "ipykernel" in sys.modules
    if not (in_notebook or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())):
        return None
    return _Bar(epochs)
