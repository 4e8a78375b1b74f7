"""Callbacks for ``fcnn.train``: hooks at the start, after each batch and epoch, and at the end.

``EarlyStopping`` and ``ModelCheckpoint`` watch any name ``train`` logs
(``loss``, ``val_loss``, ``accuracy``, ``val_f1_macro``, ``lr``, ...), in the
direction ``mode`` gives (``"auto"``: larger is better for accuracies, F1, R²
and other scores, smaller for losses and errors). ``CSVLogger`` writes one row
per epoch, flushed as it is written.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import choice, number, positive_int
from .metrics import HIGHER_IS_BETTER

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "ModelCheckpoint"]

_MODES = ("auto", "min", "max")
# Words in a metric's name that mark it as a score (larger is better) for mode="auto".
_SCORE_WORDS = ("acc", "f1", "auc", "precision", "recall", "r2", "score")


class Callback:
    """Hooks into ``train``. Return True from ``on_epoch_end`` to stop training.

    ``on_batch_end`` is only called for callbacks that define it: a run whose
    callbacks do not pays nothing per step.
    """

    def on_train_begin(self, model: Any, history: Any) -> None:
        """Called once before the first epoch (after a resumed run's state is read)."""

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        """Called after each optimizer step: ``batch`` counts from 1 within the epoch,
        ``logs`` holds the step's ``loss``. Its return value is ignored."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after each epoch with its metrics (``epoch`` counts from 1)."""
        return None

    def on_train_end(self, history: Any) -> None:
        """Called once when training ends, however it ends (not on an exception)."""

    # What a checkpoint keeps of the callback so that a resumed run continues it
    # (patience counters, best values); JSON-able values and arrays.
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (called after ``on_train_begin``)."""


def defines_batch_hook(callback: Callback) -> bool:
    return type(callback).on_batch_end is not Callback.on_batch_end


class FunctionCallback(Callback):
    """A plain ``f(epoch, logs)`` as a callback; a true result stops training."""

    def __init__(self, fn: Callable[[int, dict[str, float]], Any]) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return bool(self.fn(epoch, logs))


def higher_is_better(monitor: str, mode: str = "auto") -> bool:
    """Whether a larger value of ``monitor`` is an improvement."""
    if mode != "auto":
        return mode == "max"
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return name in HIGHER_IS_BETTER or any(word in name for word in _SCORE_WORDS)


class Monitor:
    """Tracks the best value of one logged metric."""

    def __init__(self, monitor: str, min_delta: float, mode: str = "auto") -> None:
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.sign = -1.0 if higher_is_better(monitor, mode) else 1.0  # sign * value: lower is better
        self.best = math.inf
        self.best_epoch: int | None = None

    def improved(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise KeyError(f"metric {self.monitor!r} is not logged (available: {sorted(logs)})")
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch = value, epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best_epoch = state["best_epoch"]
        if best_epoch is not None and (isinstance(best_epoch, bool) or not isinstance(best_epoch, int)):
            raise ValueError(f"a monitor's best epoch must be an int, got {best_epoch!r}")
        self.best, self.best_epoch = float(state["best"]), best_epoch


def require_metric(monitor: str, logged: list[str], who: str) -> None:
    """Refuse, before any work, a monitor that ``train`` will never log."""
    if monitor in logged:
        return
    if monitor.startswith("val_") and not any(m.startswith("val_") for m in logged):
        raise ValueError(
            f"{who} monitors {monitor!r} but train() got no validation data; pass "
            "validation_data=(X_val, y_val) or validation_split=0.1, or monitor='loss'"
        )
    raise ValueError(f"{who} monitors {monitor!r}, which train() does not log; it logs {logged}")


def check_directory(path: Any, who: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{who}: the directory does not exist: {directory} (create it first)")


def _check_monitor(monitor: Any, who: str) -> str:
    if not isinstance(monitor, str):
        raise TypeError(f"{who}: monitor must be a metric name such as 'val_loss', got {monitor!r}")
    return monitor


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``mode`` is ``"auto"`` (inferred from the name), ``"min"`` or ``"max"``.
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
        mode: str = "auto",
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.floating)):
            raise TypeError(f"EarlyStopping: min_delta must be a number, got {min_delta!r}")
        self.monitor, self.patience = _check_monitor(monitor, "EarlyStopping"), patience
        self.min_delta, self.restore_best_weights = min_delta, restore_best_weights
        self.mode = choice(mode, "mode", "EarlyStopping", _MODES)

    def on_train_begin(self, model: Any, history: Any) -> None:
        self._tracker = Monitor(self.monitor, self.min_delta, self.mode)
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

    def on_train_end(self, history: Any) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            for p, w in zip(self._params, self._best_weights):
                p.weights = w
            history.restored_best_weights = True

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"wait": self._wait, **self._tracker.state_dict()}
        if self._best_weights is not None:
            state["best_weights"] = [w.copy() for w in self._best_weights]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._wait = int(state["wait"])
        self._tracker.load_state_dict(state)
        weights = state.get("best_weights")
        if weights is not None and self.restore_best_weights:
            if len(weights) != len(self._params) or any(
                    np.shape(w) != p.shape for w, p in zip(weights, self._params)):
                raise ValueError("EarlyStopping: the checkpoint's best weights do not fit this model")
            self._best_weights = [np.array(w, dtype=p.dtype) for w, p in zip(weights, self._params)]


class ModelCheckpoint(Callback):
    """Save the model to ``path`` (atomically, with ``fcnn.save``) after each epoch
    that improves ``monitor`` (or after every epoch with ``save_best_only=False``).

    ``metadata`` is stored beside the weights, with the epoch and the metric values.
    With ``save_best_only=False``, ``every_n_epochs`` and ``every_n_seconds`` thin the
    saves out (an epoch is saved when both allow it; the run's last epoch always is):
    ``every_n_seconds=2`` bounds what a crash or Ctrl-C can lose to about two seconds
    of training while a fast run writes only a few files.
    With ``save_training_state=True`` (the default) the file also holds what
    ``train(..., resume_from=path)`` needs to continue the run exactly: the
    optimizer's and scheduler's state, the shuffling generator's state, the
    History and the callbacks' counters. ``fcnn.load(path)`` reads it as a model.
    """

    def __init__(
        self,
        path: Any,
        monitor: str = "val_loss",
        save_best_only: bool = True,
        mode: str = "auto",
        save_training_state: bool = True,
        every_n_epochs: int = 1,
        every_n_seconds: float | None = None,
        **metadata: Any,
    ) -> None:
        who = "ModelCheckpoint"
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: path must be a str or os.PathLike, got {path!r}")
        self.path, self.save_best_only = path, save_best_only
        self.monitor = _check_monitor(monitor, who)
        self.mode = choice(mode, "mode", who, _MODES)
        self.every_n_epochs = positive_int(every_n_epochs, "every_n_epochs", who)
        self.every_n_seconds = None if every_n_seconds is None else number(
            every_n_seconds, "every_n_seconds", who, low=0)
        self.save_training_state = bool(save_training_state)
        self.metadata = metadata
        self._run: Any = None  # set by train(): what a resumable checkpoint holds

    def check(self) -> None:
        """Refuse a path that cannot be written, before any work."""
        check_directory(self.path, "ModelCheckpoint")

    def on_train_begin(self, model: Any, history: Any) -> None:
        self.check()  # fail now, not after an epoch of work
        self._tracker = Monitor(self.monitor, 0.0, self.mode)
        self._model = model
        self._last_save = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        # (a checkpoint of every epoch need not watch a logged metric)
        improved = self._tracker.improved(epoch, logs) if (
            self.save_best_only or self.monitor in logs) else False
        if self.save_best_only:
            due = improved
        else:
            now = time.monotonic()
            final = self._run is not None and epoch == self._run.epochs
            due = final or (epoch % self.every_n_epochs == 0 and (
                self.every_n_seconds is None or now - self._last_save >= self.every_n_seconds))
        if due:
            self._last_save = time.monotonic()
            extra = self._run.checkpoint_metadata() if (
                self.save_training_state and self._run is not None) else {}
            from .serialization import save

            save(self._model, self.path, **{**self.metadata, "epoch": epoch,
                                             "metrics": dict(logs), **extra})

    def state_dict(self) -> dict[str, Any]:
        return self._tracker.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._tracker.load_state_dict(state)


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: ``epoch`` and every logged value.

    Each row is flushed as it is written, so the file keeps every finished
    epoch if the process dies. ``append=True`` adds to an existing file (a
    resumed run) instead of starting it afresh; ``separator`` is ``","`` by default.
    """

    def __init__(self, path: Any, separator: str = ",", append: bool = False) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"CSVLogger: path must be a str or os.PathLike, got {path!r}")
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"." \
                or separator.isalnum():
            raise ValueError(f"CSVLogger: separator must be one character such as ',' or ';', "
                             f"got {separator!r}")
        self.path, self.separator, self.append = path, separator, bool(append)
        self._file: Any = None

    def check(self) -> None:
        """Refuse a path that cannot be written, before any work."""
        check_directory(self.path, "CSVLogger")

    def on_train_begin(self, model: Any, history: Any) -> None:
        self.check()
        self._columns = list(history.history)
        existing = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        self._file = open(self.path, "a" if self.append else "w", encoding="utf-8", newline="")
        if not existing:
            self._write(["epoch", *self._columns])

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._write([str(epoch), *(repr(float(logs[c])) if c in logs else "" for c in self._columns)])

    def on_train_end(self, history: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, fields: list[str]) -> None:
        self._file.write(self.separator.join(fields) + "\n")
        self._file.flush()

