"""The training loop: ``train(model, loss, optimizer, X, y, ...) -> History``.

Minibatches come from a fresh permutation of the training set each epoch
(never sampling with replacement) and the last, partial batch is used. Every
argument and the data are checked once up front, before any work, so the
per-step work is just forward, loss, backward and the optimizer step (plus
clipping, a per-step scheduler or ``on_batch_end`` hooks, when asked for).

What a step minimizes, with ``sample_weight`` and/or ``class_weight``, is the
weighted batch mean ``sum_i w_i l_i / sum_i w_i`` (``w_i`` the product of the
sample's weight and its class's weight), PyTorch's ``CrossEntropyLoss(weight=)``
convention. Validation is unweighted unless ``validation_sample_weight`` is given.

History logs, per epoch, ``loss``, each metric (``accuracy`` by default for
classification, computed from the outputs the epoch's steps already produced:
no second forward pass), with validation data ``val_loss`` and ``val_<metric>``,
and ``lr``, the learning rate of the epoch's first step.

Faults never lose work: a NaN or infinite loss raises ``DivergenceError``
(naming the epoch and step) with the model keeping finite weights and the
error carrying the History so far; Ctrl-C finishes the current step and
returns the History marked ``interrupted``. A ``ModelCheckpoint`` file holds
the whole training state, and ``train(..., resume_from=path)`` continues the
run to bit-identical weights and History.
"""

from __future__ import annotations

import math
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

from . import metrics as _metrics
from ._validation import as_float_array, check_finite, check_labels, choice, number, sample_weights
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    FunctionCallback,
    ModelCheckpoint,
    defines_batch_hook,
    require_metric,
)
from .clip_grad import _norm_type, clip_grad_norm_, clip_grad_value_
from .errors import DivergenceError, ShapeError
from .init import RNGLike, as_generator
from .layers import Linear
from .losses import Loss, NLLLoss
from .network import Sequential
from .optim import Optimizer

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "ModelCheckpoint", "predict",
           "predict_proba", "train"]


@dataclass
class History:
    """What a training run recorded.

    ``history`` is Keras-style: a dict of per-epoch lists, ``"loss"`` (mean
    training loss of the epoch's steps), each metric (``"accuracy"`` by
    default for classification), with validation data ``"val_loss"`` and
    ``"val_<metric>"``, and ``"lr"``. ``step_losses`` holds every step's loss.
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


# -- the task a loss implies -----------------------------------------------------------------


def _task(loss: Loss) -> str:
    """``"multiclass"`` (cross-entropy on logits), ``"binary"`` (BCE with logits) or ``"regression"``."""
    if isinstance(loss, NLLLoss):
        return "multiclass"
    if any(cls.__name__ == "BCEWithLogitsLoss" for cls in type(loss).__mro__):
        return "binary"
    return "regression"


def _labels(task: str, out: np.ndarray) -> np.ndarray:
    """Predicted labels (classification) or values (regression) from the model's outputs."""
    if task == "multiclass":
        return out.argmax(axis=1)
    if task == "binary":
        labels = (out > 0).astype(np.intp)
        return labels[:, 0] if labels.shape[1] == 1 else labels
    return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out


def _truth(task: str, y: np.ndarray) -> np.ndarray:
    if task == "binary":
        y = y.astype(np.intp)
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


# -- argument checks (all before any work) ---------------------------------------------------


def _metric_functions(metrics: Any, task: str) -> list[tuple[str, Callable[[Any, Any], float]]]:
    """``[(name, f(y_true, y_pred))]`` for ``metrics`` (None: accuracy for classification)."""
    if metrics is None:
        return [] if task == "regression" else [("accuracy", _metrics.accuracy)]
    if isinstance(metrics, (str, bytes)) or callable(metrics) or not isinstance(metrics, Iterable):
        raise TypeError(f"train: metrics must be a list of names or functions, such as "
                        f"['accuracy', 'f1_macro'], got {metrics!r}")
    allowed = _metrics.REGRESSION_METRICS if task == "regression" else _metrics.CLASSIFICATION_METRICS
    other = _metrics.CLASSIFICATION_METRICS if task == "regression" else _metrics.REGRESSION_METRICS
    kind = "regression" if task == "regression" else "classification"
    out: list[tuple[str, Callable[[Any, Any], float]]] = []
    for item in metrics:
        if isinstance(item, str):
            if item not in allowed:
                why = (f"{item!r} is a {'classification' if kind == 'regression' else 'regression'} "
                       "metric" if item in other else f"unknown metric {item!r}")
                raise ValueError(f"train: {why}; for {kind} with this loss the metrics are "
                                 f"{', '.join(map(repr, allowed))} (or a function f(y_true, y_pred))")
            out.append((item, allowed[item]))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and callable(item[1]):
            out.append(item)
        elif callable(item) and getattr(item, "__name__", "<lambda>") != "<lambda>":
            out.append((item.__name__, item))
        else:
            raise TypeError(f"train: each metric must be a name ({', '.join(map(repr, allowed))}), a "
                            f"named function f(y_true, y_pred) or a pair (name, function); got {item!r}")
    names = [name for name, _ in out]
    for name in names:
        if name in ("loss", "lr") or name.startswith("val_") or names.count(name) > 1:
            raise ValueError(f"train: metric name {name!r} is reserved or repeated; names must be "
                             "unique and not 'loss', 'lr' or 'val_...'")
    return out


def _check_scheduler(scheduler: Any, optimizer: Any, interval: Any, monitor: Any
                     ) -> tuple[bool, str | None]:
    """Whether ``scheduler`` is a ReduceLROnPlateau, and the metric that drives it."""
    choice(interval, "scheduler_interval", "train", ("epoch", "step"))
    if scheduler is None:
        if monitor is not None:
            raise ValueError("train: scheduler_monitor is given but no scheduler")
        return False, None
    if not callable(getattr(scheduler, "step", None)) or not hasattr(scheduler, "state_dict"):
        raise TypeError(f"train: scheduler must be a learning-rate scheduler from "
                        f"fcnn.optim.lr_scheduler, got {scheduler!r}")
    bound = getattr(scheduler, "optimizer", None)
    if bound is not optimizer:
        raise ValueError(f"train: the scheduler {type(scheduler).__name__} is bound to another "
                         f"optimizer ({bound!r}), not the one given to train(); build it with "
                         "this optimizer: Scheduler(optimizer, ...)")
    plateau = any(cls.__name__ == "ReduceLROnPlateau" for cls in type(scheduler).__mro__)
    if not plateau:
        if monitor is not None:
            raise ValueError(f"train: scheduler_monitor only applies to ReduceLROnPlateau, not "
                             f"{type(scheduler).__name__}")
        return False, None
    if interval == "step":
        raise ValueError("train: ReduceLROnPlateau steps on an epoch's metric; use "
                         "scheduler_interval='epoch'")
    if monitor is not None and not isinstance(monitor, str):
        raise TypeError(f"train: scheduler_monitor must be a logged name such as 'val_loss', "
                        f"got {monitor!r}")
    return True, "val_loss" if monitor is None else monitor


def _check_core(model: Any, loss: Any, optimizer: Any, epochs: Any, batch_size: Any) -> None:
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
    if getattr(loss, "reduction", "mean") == "none":
        raise ValueError("train: the loss must return a number; use reduction='mean' or 'sum', "
                         "not 'none'")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"train: optimizer must have step() and zero_grad(), got {optimizer!r}")


def _check_clip(clip_grad_norm: Any, clip_grad_value: Any) -> Callable[[list[Any]], Any] | None:
    if clip_grad_norm is not None and clip_grad_value is not None:
        raise ValueError("train: pass clip_grad_norm or clip_grad_value, not both")
    if clip_grad_value is not None:
        value = number(clip_grad_value, "clip_grad_value", "train", low=0)
        return lambda params: clip_grad_value_(params, value)
    if clip_grad_norm is None:
        return None
    if isinstance(clip_grad_norm, (tuple, list)):
        if len(clip_grad_norm) != 2:
            raise TypeError("train: clip_grad_norm must be max_norm or a pair (max_norm, norm_type)")
        max_norm, norm_type = clip_grad_norm
    else:
        max_norm, norm_type = clip_grad_norm, 2.0
    max_norm = number(max_norm, "clip_grad_norm (max_norm)", "train", low=0)
    norm_type = _norm_type(norm_type, "train: clip_grad_norm")
    return lambda params: clip_grad_norm_(params, max_norm, norm_type)


def _check_weights(value: Any, n: int, dtype: np.dtype, name: str) -> np.ndarray:
    who = "train"
    w = sample_weights(value, n, dtype, who, name)
    if not w.any():
        raise ValueError(f"{who}: {name} is all zeros, so the weighted loss is undefined; give "
                         "some samples a positive weight")
    return w.astype(dtype, copy=False)


def _class_weights(class_weight: Any, y: np.ndarray, task: str, n_out: int | None) -> Any:
    """One weight per class from a dict {label: weight} (others 1), or ``"balanced"``."""
    if task == "regression":
        raise ValueError("train: class_weight needs a classification loss (CrossEntropyLoss/NLLLoss "
                         "or BCEWithLogitsLoss); for regression use sample_weight")
    labels = y.astype(np.intp).ravel() if task == "binary" else y
    if task == "binary" and y.ndim == 2 and y.shape[1] != 1:
        raise ValueError("train: class_weight needs one label per sample; for a multi-label "
                         "BCEWithLogitsLoss use its pos_weight or sample_weight")
    n_classes = 2 if task == "binary" else (n_out or int(labels.max()) + 1)
    if isinstance(class_weight, str):
        return choice(class_weight, "class_weight", "train", ("balanced",))  # computed after the split
    if not isinstance(class_weight, dict):
        raise TypeError(f"train: class_weight must be None, 'balanced' or a dict {{label: weight}}, "
                        f"got {class_weight!r}")
    weights = np.ones(n_classes)
    for label, weight in class_weight.items():
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
            raise ValueError(f"train: class_weight has the key {label!r}; keys must be class labels "
                             f"in [0, {n_classes})")
        weights[label] = number(weight, f"class_weight[{label}]", "train", low=0)
    return weights


# -- train -----------------------------------------------------------------------------------


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
    sample_weight: Any = None,
    class_weight: dict[int, float] | str | None = None,
    validation_sample_weight: Any = None,
    metrics: Iterable[str | Callable[[Any, Any], float]] | None = None,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    scheduler_monitor: str | None = None,
    clip_grad_norm: float | tuple[float, float] | None = None,
    clip_grad_value: float | None = None,
    resume_from: Any = None,
) -> History:
    """Train ``model`` on ``(X, y)`` with minibatch gradient descent.

    Parameters
    ----------
    model : Sequential (or any layer with forward/backward/parameters)
    loss : a fcnn Loss: CrossEntropyLoss/NLLLoss (``y`` integer labels ``(N,)``),
        BCEWithLogitsLoss (``y`` 0/1 of shape ``(N, out)``), MSELoss, L1Loss,
        HuberLoss (``y`` ``(N, out)``; ``(N,)`` is accepted for a single output)
    optimizer : Optimizer over ``model.parameters()``
    X : array (N, in_features); cast once to the model's dtype
    epochs : int >= 1, the number of epochs in total (a resumed run continues to it)
    batch_size : int >= 1; the last partial batch of each epoch is used
    shuffle : a fresh permutation of the samples each epoch (from ``rng``)
    validation_data : ``(X_val, y_val)``, evaluated after every epoch (eval mode)
    validation_split : fraction of ``(X, y)`` held out (a random subset, from ``rng``)
    callbacks : Callback objects or plain ``f(epoch, logs)`` hooks; returning True stops
    progress : a tqdm bar when output is a terminal or a notebook
    rng : Generator or int seed for shuffling and the validation split
    sample_weight : (N,) weights >= 0 of the training samples (split with
        ``validation_split``; the held-out part is then evaluated unweighted)
    class_weight : None, ``"balanced"`` (scikit-learn's ``n_samples / (n_classes *
        bincount(y))`` over the training part) or ``{label: weight}`` (others 1)
    validation_sample_weight : (N_val,) weights for ``validation_data``
    metrics : names (``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``; ``"mae"``,
        ``"rmse"``, ``"r2"``), named functions ``f(y_true, y_pred) -> float`` or
        ``(name, f)`` pairs, logged for the training epoch and as ``val_<name>``.
        Default: ``["accuracy"]`` for classification, none for regression.
    scheduler : a scheduler from ``fcnn.optim.lr_scheduler`` bound to ``optimizer``
    scheduler_interval : ``"epoch"`` (step it after each epoch) or ``"step"`` (after each batch)
    scheduler_monitor : the logged name a ReduceLROnPlateau steps on (default ``val_loss``)
    clip_grad_norm : max_norm, or ``(max_norm, norm_type)``: ``clip_grad_norm_`` before each step
    clip_grad_value : ``clip_grad_value_`` before each step
    resume_from : a file written by ``ModelCheckpoint`` (training state included):
        continue that run (same model architecture, optimizer and scheduler types,
        data and batch size) from its last saved epoch to ``epochs``

    Returns
    -------
    History
    """
    run = _Run.prepare(
        model, loss, optimizer, X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
        validation_data=validation_data, validation_split=validation_split, callbacks=callbacks,
        rng=rng, sample_weight=sample_weight, class_weight=class_weight,
        validation_sample_weight=validation_sample_weight, metrics=metrics, scheduler=scheduler,
        scheduler_interval=scheduler_interval, scheduler_monitor=scheduler_monitor,
        clip_grad_norm=clip_grad_norm, clip_grad_value=clip_grad_value, resume_from=resume_from,
    )
    return run.fit(progress)


class _Run:
    """One training run: its checked inputs, its state, and the epoch loop."""

    @classmethod
    def prepare(cls, model: Any, loss: Loss, optimizer: Any, X: Any, y: Any, **kw: Any) -> _Run:
        """Check every argument and the data; read a checkpoint to resume. Changes nothing
        (a Generator passed as ``rng`` is put back as it was if a check fails)."""
        self = cls()
        _check_core(model, loss, optimizer, kw["epochs"], kw["batch_size"])
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.epochs, self.batch_size = int(kw["epochs"]), int(kw["batch_size"])
        self.shuffle, self.task = bool(kw["shuffle"]), _task(loss)
        self.rng = as_generator(kw["rng"])
        self.dtype = getattr(model, "dtype", np.dtype(np.float64))
        self.n_out = _output_features(model)
        X, y = _prepare(X, y, loss, self.dtype, self.n_out, "train")
        self.n_samples, self.n_features = X.shape
        weights = None if kw["sample_weight"] is None else _check_weights(
            kw["sample_weight"], X.shape[0], self.dtype, "sample_weight")
        class_weight = None if kw["class_weight"] is None else _class_weights(
            kw["class_weight"], y, self.task, self.n_out)
        self._check_options(kw)
        validation = self._validation(kw)
        self._callbacks_and_names(kw["callbacks"], validation is not None)
        needs_state = kw["resume_from"] is not None or any(
            isinstance(c, ModelCheckpoint) and c.save_training_state for c in self.callbacks)
        self.data_fingerprint = _fingerprint(X, y) if needs_state else None
        self.resume = None
        if kw["resume_from"] is not None:  # read and checked, applied only when training starts
            from .checkpoint import read_training_state

            self.resume = read_training_state(kw["resume_from"], self)
            if self.resume.epoch >= self.epochs:
                raise ValueError(
                    f"train: the checkpoint {kw['resume_from']} is at epoch {self.resume.epoch}; "
                    f"pass epochs > {self.resume.epoch} (the total to train to) to continue it")
        rng_state = self.rng.bit_generator.state
        try:
            self._split_and_weigh(X, y, weights, class_weight, validation)
        except BaseException:
            self.rng.bit_generator.state = rng_state
            raise
        self.history = History()
        for key in self.logged:
            self.history.history[key] = []
        for c in self.callbacks:
            if isinstance(c, ModelCheckpoint):
                c._run = self
        return self

    def _check_options(self, kw: dict[str, Any]) -> None:
        self.metric_fns = _metric_functions(kw["metrics"], self.task)
        if self.task == "binary" and (self.n_out or 1) > 1 and any(
                fn is _metrics.balanced_accuracy for _, fn in self.metric_fns):
            raise ValueError("train: balanced_accuracy needs one label per sample; this "
                             "BCEWithLogitsLoss model is multi-label (use 'accuracy' or 'f1_macro')")
        self.plateau, self.plateau_monitor = _check_scheduler(
            kw["scheduler"], self.optimizer, kw["scheduler_interval"], kw["scheduler_monitor"])
        self.scheduler, self.scheduler_interval = kw["scheduler"], kw["scheduler_interval"]
        self.clip = _check_clip(kw["clip_grad_norm"], kw["clip_grad_value"])

    def _validation(self, kw: dict[str, Any]) -> Any:
        """``(X_val, y_val, w_val)``, ``"split"`` (with ``self.n_val`` set) or None."""
        validation_data, validation_split = kw["validation_data"], kw["validation_split"]
        val_weight = kw["validation_sample_weight"]
        self.split_order: np.ndarray | None = None
        if validation_data is not None and validation_split is not None:
            raise ValueError("train: pass validation_data or validation_split, not both")
        if val_weight is not None and validation_data is None:
            raise ValueError("train: validation_sample_weight weighs validation_data=(X_val, y_val); "
                             "with validation_split the held-out part is unweighted")
        if validation_split is not None:
            if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float, np.floating)
            ):
                raise TypeError(
                    f"train: validation_split must be a float in (0, 1), got {validation_split!r}"
                )
            if not 0 < validation_split < 1:
                raise ValueError(f"train: validation_split must be in (0, 1), got {validation_split!r}")
            self.n_val = max(1, round(validation_split * self.n_samples))
            if self.n_val >= self.n_samples:
                raise ValueError("train: validation_split leaves no training samples")
            return "split"
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("train: validation_data must be a pair (X_val, y_val)")
        X_val, y_val = _prepare(*validation_data, self.loss, self.dtype, self.n_out,
                                "train (validation_data)")
        w_val = None if val_weight is None else _check_weights(
            val_weight, X_val.shape[0], self.dtype, "validation_sample_weight")
        return (X_val, y_val, w_val)

    def _callbacks_and_names(self, callbacks: Any, has_validation: bool) -> None:
        """The callbacks as Callback objects, and the names History will log (every
        monitor must be one of them)."""
        callbacks = list(callbacks)
        for c in callbacks:
            if not (isinstance(c, Callback) or callable(c)):
                raise TypeError(
                    f"train: each callback must be a fcnn Callback or a function f(epoch, logs), "
                    f"got {c!r}"
                )
        self.callbacks = [c if isinstance(c, Callback) else FunctionCallback(c) for c in callbacks]
        metric_names = [name for name, _ in self.metric_fns]
        self.logged = ["loss", *metric_names]
        if has_validation:
            self.logged += ["val_loss", *(f"val_{name}" for name in metric_names)]
        if _current_lr(self.optimizer) is not None:
            self.logged.append("lr")
        for c in self.callbacks:
            monitor = getattr(c, "monitor", None)
            if isinstance(c, ModelCheckpoint) and not c.save_best_only:
                continue  # saved on a schedule, whatever the monitor says
            if monitor is not None:
                require_metric(monitor, self.logged, type(c).__name__)
        if self.plateau:
            require_metric(self.plateau_monitor, self.logged, "ReduceLROnPlateau (scheduler_monitor)")
        for c in self.callbacks:
            if isinstance(c, (ModelCheckpoint, CSVLogger)):
                c.check()

    def _split_and_weigh(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                         class_weight: Any, validation: Any) -> None:
        """Hold out the validation split (the checkpoint's when resuming) and combine the
        sample and class weights of the training part."""
        if validation == "split":
            order = self.resume.split_order if self.resume is not None else self.rng.permutation(
                X.shape[0])
            self.split_order = order
            val, fit = order[: self.n_val], order[self.n_val :]
            validation = (X[val], y[val], None)
            X, y = X[fit], y[fit]
            if weights is not None:
                weights = weights[fit]
        if class_weight is not None:
            labels = y.astype(np.intp).ravel() if self.task == "binary" else y
            if isinstance(class_weight, str):  # "balanced": from the training part's labels
                class_weight = _metrics.compute_class_weight(labels, 2 if self.task == "binary"
                                                             else self.n_out or int(labels.max()) + 1)
            per_sample = class_weight.astype(self.dtype)[labels]
            weights = per_sample if weights is None else weights * per_sample
        if weights is not None and not weights.any():
            raise ValueError("train: the weights leave every training sample with weight 0 "
                             "(class_weight times sample_weight, after the validation split)")
        self.X, self.y, self.weights, self.validation = X, y, weights, validation

    # -- what a checkpoint holds ----------------------------------------------------------

    def checkpoint_metadata(self) -> dict[str, Any]:
        from .checkpoint import training_state_metadata

        return training_state_metadata(self)

    # -- the loop ---------------------------------------------------------------------------

    def fit(self, progress: bool) -> History:
        model, history, callbacks = self.model, self.history, self.callbacks
        first = 1
        if self.resume is not None:
            self.resume.apply(self)
            first = history.epochs + 1
        for c in callbacks:
            c.on_train_begin(model, history)
        if self.resume is not None:
            self.resume.apply_callbacks(self)
        validation = self.validation
        started = time.perf_counter()
        elapsed_before = history.wall_time
        bar = _progress_bar(self.epochs, progress, initial=first - 1)
        batch_hooks = [c for c in callbacks if defines_batch_hook(c)]
        try:
            with _trusted_input(model), _deferred_interrupt() as interrupted, np.errstate(
                over="ignore", invalid="ignore", divide="ignore"
            ):
                model.train()
                runner = _Epochs(self, interrupted, batch_hooks)
                for epoch in range(first, self.epochs + 1):
                    lr = _current_lr(self.optimizer)  # the rate the epoch's first step uses
                    try:
                        epoch_loss, outputs, order = runner.run(epoch)
                    except KeyboardInterrupt:
                        history.interrupted = True
                        break
                    logs = {"loss": epoch_loss}
                    if outputs is not None:
                        logs.update(self._metrics(np.concatenate(outputs), self.y.take(order, axis=0)))
                    if validation is not None:
                        logs.update(self._evaluate(*validation))
                    if lr is not None:
                        logs["lr"] = lr
                    for key in self.logged:
                        history.history[key].append(logs[key])
                    history.epochs = epoch
                    if self.scheduler is not None and self.scheduler_interval == "epoch":
                        if self.plateau:
                            self.scheduler.step(logs[self.plateau_monitor])
                        else:
                            self.scheduler.step()
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
            history.wall_time = elapsed_before + time.perf_counter() - started
            if bar is not None:
                bar.close()
        for c in callbacks:
            c.on_train_end(history)
        return history

    def _metrics(self, out: np.ndarray, y: np.ndarray, prefix: str = "") -> dict[str, float]:
        y_pred, y_true = _labels(self.task, out), _truth(self.task, y)
        return {prefix + name: float(fn(y_true, y_pred)) for name, fn in self.metric_fns}

    def _evaluate(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict[str, float]:
        out = predict(self.model, X)
        value = self.loss._forward(out, y) if w is None else self.loss._forward(out, y, w)
        return {"val_loss": float(value), **self._metrics(out, y, "val_")}


class _Epochs:
    """Runs epochs of minibatch steps; everything that does not change from one
    epoch to the next is looked up once, here."""

    def __init__(self, run: _Run, interrupted: list[bool], batch_hooks: list[Callback]) -> None:
        model, optimizer, loss = run.model, run.optimizer, run.loss
        self.X, self.y, self.batch_size, self.shuffle, self.rng = (
            run.X, run.y, run.batch_size, run.shuffle, run.rng)
        self.history, self.interrupted, self.optimizer = run.history, interrupted, optimizer
        self.forward, self.loss_forward, self.loss_backward = model.forward, loss._forward, loss.backward
        self.backward = _backward_without_input_grad(model)
        self.weights_per_sample = run.weights
        self.keep_outputs = bool(run.metric_fns)
        self.batch_hooks = batch_hooks
        params = model.parameters()
        self.clip = None if run.clip is None else partial(run.clip, params)
        self.scheduler_step = (run.scheduler.step if run.scheduler is not None
                               and run.scheduler_interval == "step" else None)
        if isinstance(optimizer, Optimizer):
            self.zero_grad = partial(optimizer.zero_grad, set_to_none=True)
            optimizer.zero_grad()  # also builds its (flat) groups
            self.weights = [w for w, _ in optimizer._groups]
        else:
            self.zero_grad = optimizer.zero_grad
            self.weights = [p.weights for p in params]
        self.n_steps = math.ceil(self.X.shape[0] / self.batch_size)

    def run(self, epoch: int) -> tuple[float, list[np.ndarray] | None, np.ndarray]:
        """One epoch; returns the mean of its steps' losses, the steps' outputs
        (when metrics are logged) and the order the samples were seen in."""
        X, y, batch_size, W = self.X, self.y, self.batch_size, self.weights_per_sample
        forward, loss_forward, loss_backward = self.forward, self.loss_forward, self.loss_backward
        backward, zero_grad, step_optimizer = self.backward, self.zero_grad, self.optimizer.step
        clip, scheduler_step, batch_hooks = self.clip, self.scheduler_step, self.batch_hooks
        step_losses, interrupted = self.history.step_losses, self.interrupted
        N = X.shape[0]
        order = self.rng.permutation(N) if self.shuffle else np.arange(N)
        outputs: list[np.ndarray] | None = [] if self.keep_outputs else None
        snapshot = [w.copy() for w in self.weights]  # finite weights to fall back on
        total = 0.0
        for step, start in enumerate(range(0, N, batch_size), 1):
            idx = order[start : start + batch_size]
            X_batch, y_batch = X.take(idx, axis=0), y.take(idx, axis=0)
            zero_grad()
            out = forward(X_batch)
            if W is None:
                value = loss_forward(out, y_batch)
            else:
                w_batch = W.take(idx)
                # a batch of zero weights has no weighted mean: it contributes no gradient
                value = loss_forward(out, y_batch, w_batch) if w_batch.any() else None
            if outputs is not None:
                outputs.append(out)
            if value is None:
                value = 0.0
            else:
                if not math.isfinite(value):
                    self._keep_finite_weights(snapshot)
                    raise DivergenceError(
                        f"training diverged: the loss became {value} at epoch {epoch}, step {step} "
                        f"of {self.n_steps}. The model keeps its last finite weights and the error "
                        "carries the History so far (.history). Try a smaller learning rate "
                        f"(lr={_current_lr(self.optimizer)}) or standardized inputs.",
                        self.history,
                    )
                backward(loss_backward())
                if clip is not None:
                    clip()
            step_optimizer()
            if scheduler_step is not None:
                scheduler_step()
            step_losses.append(value)
            total += value
            if batch_hooks:
                for c in batch_hooks:
                    c.on_batch_end(step, {"loss": value})
            if interrupted[0]:
                raise KeyboardInterrupt
        return total / self.n_steps, outputs, order

    def _keep_finite_weights(self, snapshot: list[np.ndarray]) -> None:
        # The weights that produced a non-finite loss are kept when they are finite
        # (they are then the latest finite weights); otherwise the epoch's start.
        if not all(np.isfinite(w).all() for w in self.weights):
            for w, saved in zip(self.weights, snapshot):
                np.copyto(w, saved)


def _fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """A digest of the training data as given (before any split): a resumed run must
    see the same samples."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in (X, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def _current_lr(optimizer: Any) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        lr = groups[0].get("lr")
    else:
        lr = getattr(optimizer, "lr", None)
    return float(lr) if isinstance(lr, (int, float, np.number)) and not isinstance(lr, bool) else None


def _backward_without_input_grad(model: Any) -> Callable[[np.ndarray], Any]:
    if isinstance(model, Sequential):
        return lambda dLdy: model.backward(dLdy, input_grad=False)
    return model.backward


# -- predict ---------------------------------------------------------------------------------


def predict(model: Any, X: Any, batch_size: int = 8192) -> np.ndarray:
    """The model's outputs for ``X`` in eval mode (Dropout off), in batches.

    The model's train/eval mode is restored afterwards. For a classifier these
    are logits; ``predict_proba`` turns them into probabilities.
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


def predict_proba(model: Any, X: Any, *, loss: Loss | None = None, batch_size: int = 8192
                  ) -> np.ndarray:
    """Class probabilities: the softmax of the logits ``predict`` returns, or their
    sigmoid for a binary / multi-label model.

    Parameters
    ----------
    model, X, batch_size : as for ``predict``
    loss : the loss the model was trained with: CrossEntropyLoss/NLLLoss gives the
        softmax, BCEWithLogitsLoss the sigmoid (element-wise). Without it, a model
        file's ``metadata["loss"]`` decides if it has one, else the output width:
        one output is a binary logit (sigmoid), several are class logits (softmax).

    Returns
    -------
    ndarray of the outputs' shape: (N, C) rows summing to 1, or (N, k) in [0, 1].
    """
    if loss is not None and not isinstance(loss, Loss):
        raise TypeError(f"predict_proba: loss must be an fcnn Loss such as CrossEntropyLoss(), "
                        f"got {loss!r}")
    kind = _task(loss) if loss is not None else None
    if kind is None:
        metadata = getattr(model, "metadata", None) or {}
        saved = "regression" if metadata.get("task") == "regression" else str(
            metadata.get("loss", "")).lower()
        kind = ("binary" if "bce" in saved else "multiclass" if any(
            word in saved for word in ("nll", "cross", "entropy")) else "regression" if saved else None)
    if kind == "regression":
        raise ValueError("predict_proba needs a classifier (a cross-entropy or BCE-with-logits "
                         "loss); this model is a regressor: use predict()")
    out = predict(model, X, batch_size)
    if kind is None:
        kind = "binary" if out.shape[1] == 1 else "multiclass"
    if kind == "binary":
        return np.exp(-np.logaddexp(0, -out))  # the sigmoid, without overflow for any logit
    from .losses import softmax

    return softmax(out)


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
        if hasattr(loss, "check_target") and n_out is not None:
            y = loss.check_target(y, (X.shape[0], n_out), dtype, who)
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


# -- the progress bar ------------------------------------------------------------------------

# No rate, and a short postfix: at 80 columns the bar keeps ~20 cells and the text is never cut.
_BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
_BAR_KEYS = ("loss", "val_loss")


def _tqdm_class() -> Any:
    """``tqdm.auto`` (widgets in a notebook) only where ipywidgets can be imported: without
    it tqdm.auto warns (TqdmWarning) in a notebook; the text bar works everywhere."""
    import importlib.util

    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


class _Bar:
    """A tqdm bar over epochs whose postfix is refreshed at most ~10 times a second."""

    def __init__(self, epochs: int, initial: int = 0, **options: Any) -> None:
        tqdm = _tqdm_class()
        options = {"total": epochs, "initial": initial, "unit": "epoch", "dynamic_ncols": True,
                   "leave": True, "bar_format": _BAR_FORMAT, **options}
        self._bar = tqdm(**options)
        self._last = 0.0
        self._logs: dict[str, float] | None = None

    def update(self, logs: dict[str, float]) -> None:
        now = time.monotonic()
        self._logs = logs
        if now - self._last > 0.1:
            self._bar.set_postfix_str(self._format(logs), refresh=False)
            self._last = now
        self._bar.update(1)

    def close(self) -> None:
        if self._logs:  # show the final epoch's metrics, not a throttled one
            self._bar.set_postfix_str(self._format(self._logs), refresh=True)
        self._bar.close()

    @staticmethod
    def _format(logs: dict[str, float]) -> str:
        return " ".join(f"{k}={logs[k]:.4g}" for k in _BAR_KEYS if k in logs)


def _progress_bar(epochs: int, progress: bool, initial: int = 0) -> _Bar | None:
    if not progress:
        return None
    in_notebook = "ipykernel" in sys.modules
    if not (in_notebook or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())):
        return None
    return _Bar(epochs, initial)
