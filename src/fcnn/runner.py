"""``fcnn.run(config) -> Run``: one training run, from a table to a run folder.

load → encode → split → build → train → evaluate → report, the whole of
``fcnn train`` as a library call a notebook can make too::

    result = fcnn.run(fcnn.RunConfig(dataset="houses.csv", target="price"))  # fcnn.runner.run
    result.metrics["r2"], result.model, result.history, result.folder

Defaults come in two profiles (``RunConfig.defaults``), and an explicit
setting always wins over either:

* ``lab`` — the course lab's run: raw features, a 100-100 ReLU network, SGD at
  lr 0.01, batches of 32, 2000 epochs, no early stopping. ``auto`` picks it
  for the embedded ``iris`` (so bare ``fcnn train`` is the lab's run).
* ``tabular`` — for any other table: features standardized by a
  ``Standardize`` layer inside the model, one hidden layer of 100 ReLU units,
  Adam at lr 1e-3, a batch size and epoch cap that fit the number of rows
  (about :data:`STEP_BUDGET` steps), early stopping on a 10% hold-out with the
  best weights restored, and a standardized target for regression.

Nothing fails quietly: a model no better than the majority class (or the
mean), or a loss that never moved, ends with a warning in ``Run.warnings``
and ``metrics.json`` that names the likely cause and the flag to try.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .data import DatasetError
from .errors import DivergenceError, FcnnError

__all__ = ["PROFILES", "SCHEDULERS", "STEP_BUDGET", "Run", "RunConfig", "RunError", "loss_names",
           "optimizer_names", "parse_scheduler", "run"]

PROFILES = ("auto", "lab", "tabular")
TASKS = ("auto", "classification", "regression")
#: About this many optimizer steps in all, for the tabular profile's epoch cap.
STEP_BUDGET = 10_000
#: Share of the training part held out to watch the validation loss (early stopping).
VALIDATION_FRACTION = 0.1
RUNS_DIR = "runs"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
#: The run folder's resumable checkpoint (``fcnn train --resume RUN_DIR``).
CHECKPOINT_FILE = "checkpoint.safetensors"

#: ``--scheduler`` forms: name -> (syntax, what it builds).
SCHEDULERS = {
    "step": ("step:STEP_SIZE[:GAMMA]", "StepLR (gamma 0.1)"),
    "multistep": ("multistep:M1,M2,...[:GAMMA]", "MultiStepLR (gamma 0.1)"),
    "exponential": ("exponential:GAMMA", "ExponentialLR"),
    "cosine": ("cosine[:ETA_MIN]", "CosineAnnealingLR over the run's epochs"),
    "plateau": ("plateau[:PATIENCE[:FACTOR]]", "ReduceLROnPlateau on val_loss (patience 10, "
                "factor 0.1; on the training loss without early stopping)"),
    "onecycle": ("onecycle", "OneCycleLR per step, max_lr = --lr"),
    "warmrestarts": ("warmrestarts:T0[:T_MULT]", "CosineAnnealingWarmRestarts"),
}
#: Schedules laid out over the run's length: a resumed run must keep its --epochs.
_LENGTH_BOUND = ("cosine", "onecycle")
#: A warm-up starts at this share of --lr and rises linearly to it (LinearLR).
WARMUP_START_FACTOR = 0.1

_LAB = {"hidden": [100, 100], "standardize": False, "standardize_target": False,
        "optimizer": "sgd", "lr": 0.01, "batch_size": 32, "epochs": 2000, "early_stopping": 0}
_TABULAR_PATIENCE = 20
# "No better than the baseline": within one point of accuracy (or 0.01 of R²) of always
# predicting the most frequent class (or the mean); random labels land there.
_NO_BETTER = 0.01


class RunError(FcnnError, ValueError):
    """A run cannot start as configured (the message names the option to change)."""


@dataclass
class RunConfig:
    """Everything a run can be told; ``None`` means "the profile's default".

    Each field is one ``fcnn train`` flag (``batch_size`` is ``--batch-size``).
    """

    dataset: str = "iris"
    target: str | None = None
    sep: str | None = None
    drop: tuple[str, ...] = ()
    missing: str = "error"
    task: str = "auto"
    keep_id: bool = False
    test_size: float = 0.2
    seed: int = 0
    defaults: str = "auto"
    hidden: list[int] | None = None
    activation: str = "relu"
    norm: str | None = None
    dropout: float = 0.0
    init: str = "default"
    dtype: str = "float64"
    standardize: bool | None = None
    standardize_target: bool | None = None
    loss: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    early_stopping: int | None = None  # patience in epochs; 0 turns it off
    scheduler: str | None = None  # e.g. "step:30:0.1", "cosine", "plateau" (SCHEDULERS)
    warmup: int = 0  # epochs of LinearLR warm-up before the schedule
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    class_weight: str | dict[Any, float] | None = None  # "balanced", "setosa=2,virginica=0.5", a dict
    metrics: tuple[str, ...] | None = None  # names from fcnn.metrics
    checkpoint_every: float = 2.0  # seconds between checkpoint.safetensors refreshes
    resume: str | None = None  # a run folder to continue to ``epochs``
    out: str | None = None
    write: bool = True
    progress: bool = True
    strict: bool = False
    command: list[str] | None = None


@dataclass
class Settings:
    """The values a run used: its config with every default filled in."""

    profile: str
    task: str
    hidden: list[int]
    standardize: bool
    standardize_target: bool
    loss: str
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    early_stopping: int
    sizes: list[int] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)  # "name value (why)" of each default used
    adjusted: list[str] = field(default_factory=list)  # settings the run had to change, and why


@dataclass(repr=False)
class Run:
    """What a run produced.

    Attributes
    ----------
    config : RunConfig
    settings : Settings
        The values used (defaults filled in).
    dataset : fcnn.data.Dataset
    model : Sequential
        The trained network (a ``Standardize`` layer first when standardized).
    history : History
    metrics : dict
        What ``metrics.json`` holds.
    folder : Path or None
        The run folder (None with ``write=False``).
    warnings : list of str
    notes : list of str
        What the run decided on its own (target, task, defaults).
    """

    config: RunConfig
    settings: Settings
    dataset: Any
    model: Any
    history: Any
    metrics: dict[str, Any]
    folder: Path | None
    warnings: list[str]
    notes: list[str]
    files: dict[str, str] = field(default_factory=dict)
    report: str = ""  # scikit-learn's classification report, as text
    rows: dict[str, Any] = field(default_factory=dict)  # row indices: fit, validation, test
    target_scaling: dict[str, float] | None = None  # regression: y = output * scale + mean

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for encoded features ``X`` (N, D) (e.g. ``dataset.X[rows]``): class
        labels (N,) for classification, values (N,) in the target's units for regression."""
        from .training import predict

        out = predict(self.model, X)
        if self.settings.task == "classification":
            return np.asarray(self.dataset.classes, dtype=object)[out.argmax(axis=1)]
        scaling = self.target_scaling or {"mean": 0.0, "scale": 1.0}
        return out[:, 0].astype(np.float64) * scaling["scale"] + scaling["mean"]

    @property
    def interrupted(self) -> bool:
        return bool(self.history.interrupted)

    @property
    def exit_code(self) -> int:
        """0 done; 1 a warning under ``strict``; 130 interrupted (the folder is still written)."""
        if self.interrupted:
            return 130
        return 1 if self.config.strict and self.warnings else 0

    def __repr__(self) -> str:
        score = self.metrics.get("accuracy", self.metrics.get("r2"))
        return (f"Run(dataset={self.dataset.name!r}, task={self.settings.task!r}, "
                f"score={score!r}, folder={str(self.folder) if self.folder else None!r})")


# --------------------------------------------------------------------------- registry names


def _subclasses(base: type) -> dict[str, type]:
    found, stack = {}, [base]
    while stack:
        for cls in stack.pop().__subclasses__():
            if not cls.__name__.startswith("_"):
                found[cls.__name__] = cls
            stack.append(cls)
    return found


# Registered losses a run cannot use: BCEWithLogitsLoss takes 0/1 targets of one output,
# while a run's classifier has one logit per class (NLLLoss).
_NOT_FOR_RUNS = ("bcewithlogits",)


def loss_names() -> dict[str, type]:
    """``--loss`` names from ``fcnn.registry.LOSSES``: ``MSELoss`` -> ``mse``, ``NLLLoss`` -> ``nll``."""
    from . import losses
    from .registry import LOSSES

    table = LOSSES or _subclasses(losses.Loss)
    names = {re.sub(r"loss$", "", name.lower()): cls for name, cls in table.items()}
    return {name: cls for name, cls in names.items() if name not in _NOT_FOR_RUNS}


def optimizer_names() -> dict[str, type]:
    """``--optimizer`` names: ``fcnn.registry.OPTIMIZERS`` plus ``momentum`` (SGD, momentum 0.9)."""
    from . import optim
    from .registry import OPTIMIZERS

    table = dict(OPTIMIZERS) or {n.lower(): c for n, c in _subclasses(optim.Optimizer).items()}
    if "sgd" in table:
        table["momentum"] = table["sgd"]
    return table


def make_optimizer(name: str, params: list[Any], lr: float) -> Any:
    table = optimizer_names()
    if name not in table:
        raise RunError(f"--optimizer {name}: unknown; choose one of {', '.join(sorted(table))}")
    extra = {"momentum": 0.9} if name == "momentum" else {}
    return table[name](params, lr=lr, **extra)


def _is_classification_loss(cls: type) -> bool:
    from .losses import NLLLoss

    return issubclass(cls, NLLLoss)


# --------------------------------------------------------------------------- the run


def run(config: RunConfig | None = None, /, *, log: Callable[[str], None] | None = print,
        **overrides: Any) -> Run:
    """Run one training run and (unless ``write=False``) write its run folder.

    Parameters
    ----------
    config : RunConfig, optional
        Default ``RunConfig()``: the lab's run on iris.
    log : callable or None
        Receives each line the run reports as it goes (``print`` by default;
        ``None`` for silence).
    **overrides
        Fields of :class:`RunConfig` to replace, e.g. ``run(dataset="wine.csv")``.

    Returns
    -------
    Run

    Raises
    ------
    DatasetError, RunError
        A dataset or setting that cannot be used (the message names the flag).
    DivergenceError
        The loss became NaN/inf; the message suggests a smaller ``--lr``.
    """
    config = dataclasses.replace(config or RunConfig(), **overrides)
    say = log or (lambda line: None)
    started = time.perf_counter()
    saved_epochs = None
    if config.resume is not None:
        config, saved_epochs = _resumed_config(config)
    _check_options(config)
    dataset = _load(config, say)
    _check_task_options(config, dataset.task)
    split = _split(dataset, config)
    settings = _settings(config, dataset, split)
    parts = _arrays(dataset, split, settings, config)
    if dataset.task == "classification":
        parts["class_weight"] = _class_weight_for(config.class_weight, list(dataset.classes))
    for note in dataset.notes:
        say(note)
    model, loss, optimizer = _build(dataset, settings, config, parts)
    described = describe_optimizer(optimizer)  # its own lr, before a warm-up scales it
    schedule = _make_scheduler(config, settings, optimizer, parts)
    if saved_epochs is not None:
        _check_resumable(config, settings, saved_epochs)
        say(f"resuming {config.resume} from epoch {saved_epochs['epoch']} to {settings.epochs}")
    _announce(dataset, settings, config, parts, model, described, say, schedule["describe"])
    folder, created = _prepare_folder(config.out, dataset.name) if config.write else (None, False)
    try:
        history = _train(model, loss, optimizer, parts, settings, config, schedule, folder)
        results = _evaluate(model, dataset, parts, settings)
        warnings = _diagnose(results, history, dataset, settings, config)
        metrics = _metrics(results, history, dataset, settings, config, parts, warnings, started)
    except DivergenceError as exc:
        if created and folder is not None:  # a diverged new run leaves no folder behind
            (folder / CHECKPOINT_FILE).unlink(missing_ok=True)
        _remove_if_empty(folder, created)
        raise DivergenceError(_divergence_message(exc, settings), exc.history) from None
    except BaseException:  # Ctrl-C before the folder is written, or a bug: no empty folder
        _remove_if_empty(folder, created)
        raise
    outcome = Run(config=config, settings=settings, dataset=dataset, model=model,
                  history=history, metrics=metrics, folder=folder, warnings=warnings,
                  notes=list(dataset.notes) + settings.chosen,
                  report=results.get("report_text", ""), rows=parts["rows"],
                  target_scaling=({"mean": parts["target_mean"], "scale": parts["target_scale"]}
                                  if settings.task == "regression" else None))
    if folder is not None:
        _write_folder(outcome, parts, results, created)
    return outcome


def _load(config: RunConfig, say: Callable[[str], None]) -> Any:
    from .data import EMBEDDED, MISSING, load_dataset

    if config.task not in TASKS:
        raise RunError(f"--task {config.task}: choose one of {', '.join(TASKS)}")
    if config.defaults not in PROFILES:
        raise RunError(f"--defaults {config.defaults}: choose one of {', '.join(PROFILES)}")
    if config.missing not in MISSING:
        raise RunError(f"--missing {config.missing}: choose one of {', '.join(MISSING)}")
    key = str(config.dataset).strip().lower().replace("-", "_")
    if key in EMBEDDED:
        for flag, value in (("--target", config.target), ("--sep", config.sep)):
            if value is not None:
                raise RunError(f"{flag} applies to data files only; the embedded dataset "
                               f"{key!r} has its own labels and columns")
        if config.task == "regression":
            raise RunError(f"--task regression: the embedded dataset {key!r} is a "
                           "classification set")
    return load_dataset(config.dataset, config.target, sep=config.sep, drop=config.drop,
                        missing=config.missing, task=config.task, keep_id=config.keep_id,
                        log=say)


def _profile(config: RunConfig, dataset: Any) -> str:
    if config.defaults != "auto":
        return config.defaults
    return "lab" if dataset.name == "iris" and dataset.encoder is None else "tabular"


def _split(dataset: Any, config: RunConfig) -> dict[str, Any]:
    """Row indices of the training and test parts (stratified for classes), as
    ``train_test_split`` draws them (so the lab's run splits exactly as before)."""
    from .data import train_test_split

    classify = dataset.task == "classification"
    if classify:
        _check_stratifiable(dataset, config.test_size)
    rows = np.arange(dataset.n_samples, dtype=np.float64)[:, None]
    outer = train_test_split(rows, dataset.y, test_size=config.test_size, seed=config.seed,
                             stratify=classify)
    return {"train": outer.X_train[:, 0].astype(np.intp),
            "test": outer.X_test[:, 0].astype(np.intp), "stratify": classify}


def _check_stratifiable(dataset: Any, test_size: float) -> None:
    counts = np.bincount(dataset.y, minlength=dataset.n_classes)
    rare = [dataset.classes[k] for k in np.flatnonzero(counts < 2)]
    if rare:
        raise DatasetError(
            f"{dataset.name}: class(es) {rare!r} have a single sample, and a stratified split "
            "needs at least 2 of each class; remove those rows, or use --task regression if "
            "the target is a quantity"
        )
    n_test = math.ceil(test_size * dataset.n_samples)
    if n_test < dataset.n_classes or dataset.n_samples - n_test < dataset.n_classes:
        raise DatasetError(
            f"{dataset.name}: {dataset.n_samples} samples of {dataset.n_classes} classes are too "
            f"few for --test-size {test_size:g} (each part needs one sample of every class); "
            "change --test-size"
        )


def _settings(config: RunConfig, dataset: Any, split: dict[str, Any]) -> Settings:
    """Fill in every ``None`` of ``config`` from the profile; note each default used."""
    profile = _profile(config, dataset)
    task = dataset.task
    n_train = len(split["train"])
    chosen: list[str] = []

    def pick(name: str, value: Any, why: str) -> Any:
        given = getattr(config, name)
        if given is not None:
            return given
        chosen.append(f"{name.replace('_', '-')} {_show(value)} ({why})")
        return value

    if profile == "lab":
        base = dict(_LAB)
        base["loss"] = "nll" if task == "classification" else "mse"
        why = "the lab's"
        values = {k: pick(k, v, why) for k, v in base.items()}
    else:
        values = _tabular_defaults(config, task, n_train, pick)
    patience = int(values["early_stopping"])
    n_fit = n_train - (math.ceil(VALIDATION_FRACTION * n_train) if patience else 0)
    if values["batch_size"] > n_fit:
        values["batch_size"] = max(1, n_fit)
    adjusted: list[str] = []
    if config.norm == "batch":
        _batchnorm_batch_size(values, n_fit, adjusted)
    n_out = dataset.n_classes if task == "classification" else 1
    sizes = [dataset.n_features, *values["hidden"], n_out]
    return Settings(profile=profile, task=task, chosen=chosen, adjusted=adjusted, sizes=sizes,
                    **values)


def _batchnorm_batch_size(values: dict[str, Any], n_fit: int, adjusted: list[str]) -> None:
    """BatchNorm1d cannot train on a batch of one row (PyTorch refuses it too): when the
    last batch of an epoch would hold exactly one, the batch size grows until it does not."""
    if n_fit < 2:
        raise RunError(f"--norm batch needs at least 2 training rows, this run has {n_fit}")
    size = values["batch_size"]
    if n_fit % size != 1 and n_fit != 1:
        return
    new = size + 1
    while n_fit % new == 1:
        new += 1
    values["batch_size"] = new
    adjusted.append(f"batch size {new}, not {size}: batches of {size} would leave a last batch "
                    f"of 1 of the {n_fit} training rows, and BatchNorm1d cannot train on one row")


def _tabular_defaults(config: RunConfig, task: str, n_train: int,
                      pick: Callable[[str, Any, str], Any]) -> dict[str, Any]:
    n_fit = n_train - math.ceil(VALIDATION_FRACTION * n_train)
    batch = pick("batch_size", int(min(200, max(16, n_fit // 20))),
                 f"fits {n_fit} training rows")
    steps = max(1, math.ceil(n_fit / batch))
    epochs = int(min(1000, max(20, math.ceil(STEP_BUDGET / steps))))
    return {
        "hidden": pick("hidden", [100], "tabular"),
        "standardize": pick("standardize", True, "tabular"),
        "standardize_target": (pick("standardize_target", True, "regression")
                               if task == "regression" else bool(config.standardize_target)),
        "loss": pick("loss", "nll" if task == "classification" else "mse", task),
        "optimizer": pick("optimizer", "adam", "tabular"),
        "lr": pick("lr", 1e-3, "Adam's"),
        "batch_size": batch,
        "epochs": pick("epochs", epochs, f"~{STEP_BUDGET:,} steps of {steps} per epoch"),
        "early_stopping": pick("early_stopping", _TABULAR_PATIENCE,
                               f"patience; {VALIDATION_FRACTION:.0%} held out, best weights kept"),
    }


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "''"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _arrays(dataset: Any, split: dict[str, Any], settings: Settings,
            config: RunConfig) -> dict[str, Any]:
    """The arrays the run trains and tests on, in ``--dtype``, with the statistics of the
    rows it fits (training minus validation): nothing of the test part leaks."""
    from .data import standardize_statistics, train_test_split

    train, test = split["train"], split["test"]
    dataset.refit(train)
    val = None
    if settings.early_stopping:
        rows = train.astype(np.float64)[:, None]
        kwargs = {"test_size": VALIDATION_FRACTION, "seed": config.seed}
        try:
            inner = train_test_split(rows, dataset.y[train], stratify=split["stratify"], **kwargs)
        except DatasetError:  # a class too rare to stratify: a plain random hold-out
            inner = train_test_split(rows, dataset.y[train], stratify=False, **kwargs)
        train, val = inner.X_train[:, 0].astype(np.intp), inner.X_test[:, 0].astype(np.intp)
    dtype = np.dtype(config.dtype)
    X, y = dataset.X, dataset.y
    parts: dict[str, Any] = {"rows": {"fit": train, "validation": val, "test": test},
                             "stratify": split["stratify"]}
    parts["mean"], parts["scale"] = (standardize_statistics(X[train]) if settings.standardize
                                     else (None, None))
    y_fit = y[train]
    if settings.task == "regression":
        y_mean, y_scale = standardize_statistics(y_fit[:, None]) if settings.standardize_target \
            else (np.zeros(1), np.ones(1))
        parts["target_mean"], parts["target_scale"] = float(y_mean[0]), float(y_scale[0])

        def target(rows: np.ndarray) -> np.ndarray:
            return ((y[rows] - parts["target_mean"]) / parts["target_scale"]).astype(dtype)[:, None]
    else:
        def target(rows: np.ndarray) -> np.ndarray:
            return y[rows]
    parts["X_fit"], parts["y_fit"] = X[train].astype(dtype), target(train)
    parts["X_val"] = None if val is None else X[val].astype(dtype)
    parts["y_val"] = None if val is None else target(val)
    parts["X_test"], parts["y_test"] = X[test].astype(dtype), y[test]
    return parts


def _build(dataset: Any, settings: Settings, config: RunConfig,
           parts: dict[str, Any]) -> tuple[Any, Any, Any]:
    from .layers import Standardize
    from .network import Sequential, mlp
    from .registry import ACTIVATIONS

    if config.activation not in ACTIVATIONS:
        raise RunError(f"--activation {config.activation}: choose one of "
                       f"{', '.join(sorted(ACTIVATIONS))}")
    losses = loss_names()
    if settings.loss not in losses:
        raise RunError(f"--loss {settings.loss}: choose one of {', '.join(sorted(losses))}")
    loss_cls = losses[settings.loss]
    if _is_classification_loss(loss_cls) != (settings.task == "classification"):
        fits = sorted(n for n, c in losses.items()
                      if _is_classification_loss(c) == (settings.task == "classification"))
        raise RunError(f"--loss {settings.loss} does not fit a {settings.task} run; choose one "
                       f"of {', '.join(fits)} (or change --task)")
    kwargs = {"norm": config.norm} if config.norm else {}
    net = mlp(settings.sizes, config.activation, dropout=config.dropout, init=config.init,
              rng=config.seed, dtype=config.dtype, **kwargs)
    if settings.standardize:
        scaler = Standardize(parts["mean"], parts["scale"], dtype=config.dtype)
        model = Sequential(scaler, *net.layers)
        if hasattr(model, "_pack_parameters"):
            model._pack_parameters()  # one flat buffer, as mlp's own networks have
    else:
        model = net
    optimizer = make_optimizer(settings.optimizer, model.parameters(), settings.lr)
    return model, loss_cls(), optimizer


def _announce(dataset: Any, settings: Settings, config: RunConfig, parts: dict[str, Any],
              model: Any, optimizer: str, say: Callable[[str], None],
              schedule: str | None = None) -> None:
    rows = parts["rows"]
    kind = (f"{dataset.n_classes} classes" if settings.task == "classification"
            else "regression")
    say(f"{dataset.name}: {dataset.n_samples} samples, {dataset.n_features} features, {kind}; "
        f"{len(rows['fit'])} train"
        + (f" / {len(rows['validation'])} validation" if rows["validation"] is not None else "")
        + f" / {len(rows['test'])} test" + (", standardized" if settings.standardize else ""))
    if settings.profile == "tabular" and settings.chosen:
        say("defaults for a table (flags override): " + "; ".join(settings.chosen))
    for note in settings.adjusted:
        say(f"note: {note}")
    sizes = settings.sizes
    n_params = sum(p.size for p in model.parameters())
    stop = (f", early stopping (patience {settings.early_stopping})"
            if settings.early_stopping else "")
    extras = "".join(
        f", {text}" for text in (
            f"schedule: {schedule}" if schedule else "",
            f"clip-grad-norm {config.clip_grad_norm:g}" if config.clip_grad_norm else "",
            f"clip-grad-value {config.clip_grad_value:g}" if config.clip_grad_value else "",
            f"class weights {config.class_weight}" if config.class_weight else "") if text)
    say(f"model: {'-'.join(map(str, sizes))} {config.activation} ({n_params:,} parameters, "
        f"{config.dtype}), {type(_loss_of(settings)).__name__}, {optimizer}, "
        f"batch {settings.batch_size}, {settings.epochs} epochs{stop}, seed {config.seed}{extras}")


def _loss_of(settings: Settings) -> Any:
    return loss_names()[settings.loss]()


def describe_optimizer(optimizer: Any) -> str:
    """``SGD(lr=0.01)``: the hyperparameters that differ from off (0 or False)."""
    hyper = optimizer._hyper() if hasattr(optimizer, "_hyper") else {"lr": optimizer.lr}
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in hyper.items() if k == "lr" or v not in (0, False, None))
    return f"{type(optimizer).__name__}({shown})"


def _train(model: Any, loss: Any, optimizer: Any, parts: dict[str, Any], settings: Settings,
           config: RunConfig, schedule: dict[str, Any], folder: Path | None) -> Any:
    from .callbacks import ModelCheckpoint
    from .training import EarlyStopping, train

    callbacks: list[Any] = []
    validation = None
    if settings.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=settings.early_stopping,
                                       restore_best_weights=True))
        validation = (parts["X_val"], parts["y_val"])
    if folder is not None:
        record = dataclasses.asdict(config)
        record.update(out=str(folder), resume=None, drop=list(config.drop),
                      metrics=None if config.metrics is None else list(config.metrics))
        callbacks.append(ModelCheckpoint(
            folder / CHECKPOINT_FILE, monitor="loss", save_best_only=False,
            every_n_seconds=config.checkpoint_every, run_config=record,
            run_epochs=settings.epochs))
    resume_from = None if config.resume is None else Path(config.resume) / CHECKPOINT_FILE
    return train(model, loss, optimizer, parts["X_fit"], parts["y_fit"],
                 epochs=settings.epochs, batch_size=settings.batch_size,
                 validation_data=validation, callbacks=callbacks, progress=config.progress,
                 rng=config.seed, scheduler=schedule["scheduler"],
                 scheduler_interval=schedule["interval"], scheduler_monitor=schedule["monitor"],
                 clip_grad_norm=config.clip_grad_norm, clip_grad_value=config.clip_grad_value,
                 class_weight=parts.get("class_weight"),
                 metrics=None if config.metrics is None else list(config.metrics),
                 resume_from=resume_from)


# --------------------------------------------------------------------------- schedules, options


def parse_scheduler(spec: str) -> tuple[str, list[Any]]:
    """``"step:30:0.1"`` -> ``("step", [30, 0.1])``; a RunError naming ``--scheduler`` and
    the forms (:data:`SCHEDULERS`) for anything else."""
    forms = ", ".join(syntax for syntax, _ in SCHEDULERS.values())
    text = str(spec).strip()
    name, *fields = text.split(":")
    name = name.strip().lower()

    def bad(why: str) -> RunError:
        return RunError(f"--scheduler {text!r}: {why}; the forms are {forms}")

    if name not in SCHEDULERS:
        raise bad(f"unknown schedule {name!r}")
    syntax = SCHEDULERS[name][0]
    most = syntax.count(":")
    least = syntax.split("[")[0].count(":")
    if not least <= len(fields) <= most:
        raise bad(f"{name} takes the form {syntax}")

    def integer(field_: str, what: str, low: int = 1) -> int:
        try:
            value = int(field_)
        except ValueError:
            raise bad(f"{what} must be an integer >= {low}, got {field_!r}") from None
        if value < low:
            raise bad(f"{what} must be an integer >= {low}, got {field_!r}")
        return value

    def real(field_: str, what: str, low: float, high: float | None = None,
             low_open: bool = True, high_open: bool = False) -> float:
        try:
            value = float(field_)
        except ValueError:
            raise bad(f"{what} must be a number, got {field_!r}") from None
        ok = math.isfinite(value) and (value > low if low_open else value >= low)
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
        if not ok:
            interval = (f"{'(' if low_open else '['}{low:g}, "
                        + (f"{high:g}{')' if high_open else ']'}" if high is not None else "inf)"))
            raise bad(f"{what} must be in {interval}, got {field_!r}")
        return value

    args: list[Any] = []
    if name == "step":
        args = [integer(fields[0], "STEP_SIZE")]
        args.append(real(fields[1], "GAMMA", 0, 1) if len(fields) > 1 else 0.1)
    elif name == "multistep":
        parts = [p.strip() for p in fields[0].split(",")]
        milestones = [integer(p, "each milestone") for p in parts]
        if milestones != sorted(set(milestones)):
            raise bad(f"the milestones must increase, got {fields[0]!r}")
        args = [milestones, real(fields[1], "GAMMA", 0, 1) if len(fields) > 1 else 0.1]
    elif name == "exponential":
        args = [real(fields[0], "GAMMA", 0, 1)]
    elif name == "cosine":
        args = [real(fields[0], "ETA_MIN", 0, low_open=False) if fields else 0.0]
    elif name == "plateau":
        args = [integer(fields[0], "PATIENCE", 0) if fields else 10,
                real(fields[1], "FACTOR", 0, 1, high_open=True) if len(fields) > 1 else 0.1]
    elif name == "warmrestarts":
        args = [integer(fields[0], "T0"), integer(fields[1], "T_MULT") if len(fields) > 1 else 1]
    return name, args


def _check_options(config: RunConfig) -> None:
    """The settings that need no data, checked before anything is read."""
    from . import metrics as metric_table

    name = None
    if config.scheduler is not None:
        name, _ = parse_scheduler(config.scheduler)
    if isinstance(config.warmup, bool) or not isinstance(config.warmup, int) or config.warmup < 0:
        raise RunError(f"--warmup {config.warmup!r}: expected a number of epochs >= 0")
    if config.warmup and name in ("onecycle", "plateau"):
        why = ("has its own warm-up (the first 30% of its steps)" if name == "onecycle"
               else "cannot follow a warm-up (SequentialLR chains step-based schedules only)")
        raise RunError(f"--warmup does not combine with --scheduler {name}, which {why}; drop "
                       "--warmup or choose step, multistep, exponential, cosine or warmrestarts")
    if config.clip_grad_norm is not None and config.clip_grad_value is not None:
        raise RunError("pass --clip-grad-norm or --clip-grad-value, not both")
    for flag, value in (("--clip-grad-norm", config.clip_grad_norm),
                        ("--clip-grad-value", config.clip_grad_value)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                      and value > 0):
            raise RunError(f"{flag} {value!r}: expected a positive finite number")
    _class_weight_pairs(config.class_weight)
    if config.metrics is not None:
        known = [*metric_table.CLASSIFICATION_METRICS, *metric_table.REGRESSION_METRICS]
        if isinstance(config.metrics, str) or not config.metrics:
            raise RunError(f"--metrics {config.metrics!r}: expected names from "
                           f"{', '.join(known)}, separated by commas")
        unknown = [m for m in config.metrics if m not in known]
        if unknown:
            raise RunError(f"--metrics: unknown metric {unknown[0]!r}; choose from "
                           f"{', '.join(known)}")
        repeated = sorted({m for m in config.metrics if list(config.metrics).count(m) > 1})
        if repeated:
            raise RunError(f"--metrics: {', '.join(repeated)} given twice")
    if not (isinstance(config.checkpoint_every, (int, float))
            and math.isfinite(config.checkpoint_every) and config.checkpoint_every >= 0):
        raise RunError(f"--checkpoint-every {config.checkpoint_every!r}: expected seconds >= 0")


def _class_weight_pairs(value: Any) -> str | dict[Any, float] | None:
    """``--class-weight``: None, "balanced", or {class name: weight} from ``NAME=W,...``
    (or from a dict given to RunConfig), with every weight a finite number >= 0."""
    if value is None or value == "balanced":
        return value
    form = "balanced or CLASS=WEIGHT[,CLASS=WEIGHT...] (e.g. setosa=2,virginica=0.5)"
    if isinstance(value, str):
        pairs: dict[Any, Any] = {}
        for item in value.split(","):
            name, sep, weight = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise RunError(f"--class-weight {value!r}: expected {form}")
            if name in pairs:
                raise RunError(f"--class-weight: class {name!r} given twice")
            pairs[name] = weight.strip()
    elif isinstance(value, dict) and value:
        pairs = dict(value)
    else:
        raise RunError(f"--class-weight {value!r}: expected {form}")
    out: dict[Any, float] = {}
    for name, weight in pairs.items():
        try:
            number = float(weight)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            raise RunError(f"--class-weight {name}={weight}: the weight must be a finite "
                           "number >= 0")
        out[name] = number
    return out


def _class_weight_for(value: Any, classes: list[Any]) -> str | dict[int, float] | None:
    """``--class-weight`` for ``train``: "balanced", or a weight per class index (the
    named classes matched by name, as the table spells them; the others weigh 1)."""
    pairs = _class_weight_pairs(value)
    if not isinstance(pairs, dict):
        return pairs
    names = [str(c) for c in classes]
    weights = dict.fromkeys(range(len(classes)), 1.0)
    for name, weight in pairs.items():
        found = [k for k, c in enumerate(classes) if c == name or names[k] == str(name)]
        if not found:
            raise RunError(f"--class-weight: no class {name!r} in this target; its classes are "
                           f"{', '.join(names)}")
        weights[found[0]] = weight
    if not any(weights.values()):
        raise RunError("--class-weight: every class weighs 0, so the loss is 0 everywhere")
    return weights


def _check_task_options(config: RunConfig, task: str) -> None:
    from . import metrics as metric_table

    if config.class_weight is not None and task != "classification":
        raise RunError(f"--class-weight {config.class_weight} weighs classes; this run is a "
                       f"{task} (use it with a classification target)")
    if config.metrics is not None:
        table = (metric_table.CLASSIFICATION_METRICS if task == "classification"
                 else metric_table.REGRESSION_METRICS)
        other = [m for m in config.metrics if m not in table]
        if other:
            raise RunError(f"--metrics {other[0]}: not a {task} metric; for this {task} run "
                           f"choose from {', '.join(table)}")


def _make_scheduler(config: RunConfig, settings: Settings, optimizer: Any,
                    parts: dict[str, Any]) -> dict[str, Any]:
    """The run's learning-rate schedule: ``scheduler``, its ``interval`` and ``monitor``."""
    from .optim import lr_scheduler as lrs

    none = {"scheduler": None, "interval": "epoch", "monitor": None, "describe": None}
    name, args = parse_scheduler(config.scheduler) if config.scheduler else (None, [])
    warmup, epochs = int(config.warmup), settings.epochs
    if name is None and not warmup:
        return none
    if warmup and (warmup > epochs or (name is not None and warmup >= epochs)):
        raise RunError(f"--warmup {warmup}: the run has {epochs} epochs; the warm-up must be "
                       f"shorter{' than the run' if name is None else ', leaving epochs for the schedule'}")
    main_epochs = epochs - warmup
    interval, monitor = "epoch", None
    if name == "step":
        main = lrs.StepLR(optimizer, step_size=args[0], gamma=args[1])
    elif name == "multistep":
        main = lrs.MultiStepLR(optimizer, milestones=args[0], gamma=args[1])
    elif name == "exponential":
        main = lrs.ExponentialLR(optimizer, gamma=args[0])
    elif name == "cosine":
        main = lrs.CosineAnnealingLR(optimizer, T_max=main_epochs, eta_min=args[0])
    elif name == "warmrestarts":
        main = lrs.CosineAnnealingWarmRestarts(optimizer, T_0=args[0], T_mult=args[1])
    elif name == "plateau":
        monitor = "val_loss" if settings.early_stopping else "loss"
        main = lrs.ReduceLROnPlateau(optimizer, patience=args[0], factor=args[1])
    elif name == "onecycle":
        steps = math.ceil(len(parts["y_fit"]) / settings.batch_size)
        cycle = "momentum" in optimizer.defaults or "betas" in optimizer.defaults
        main = lrs.OneCycleLR(optimizer, max_lr=settings.lr, epochs=epochs,
                              steps_per_epoch=steps, cycle_momentum=cycle)
        interval = "step"
    else:
        main = None
    describe = config.scheduler if name is not None else None
    if warmup:
        warm = lrs.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, end_factor=1.0,
                            total_iters=warmup)
        scheduler = warm if main is None else lrs.SequentialLR(optimizer, [warm, main],
                                                               milestones=[warmup])
        describe = f"{warmup} warm-up epochs" + (f", then {describe}" if describe else "")
    else:
        scheduler = main
    if monitor is not None:
        describe += f" (on {monitor})"
    return {"scheduler": scheduler, "interval": interval, "monitor": monitor,
            "describe": describe}


# --------------------------------------------------------------------------- resume


_RESUME_KEEPS = ("epochs", "progress", "strict", "command", "checkpoint_every")


def _resumed_config(config: RunConfig) -> tuple[RunConfig, dict[str, Any]]:
    """The configuration saved in ``config.resume``'s checkpoint, with ``epochs`` (and the
    progress, strict and command) of ``config``; and what the checkpoint says of itself."""
    from .errors import ModelFileError
    from .serialization import load

    folder = Path(config.resume)
    where = f"--resume {folder}"
    if not folder.exists():
        raise RunError(f"{where}: no such run folder")
    if not folder.is_dir():
        raise RunError(f"{where}: not a folder; give the run folder fcnn train wrote")
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        raise RunError(f"{where}: no {CHECKPOINT_FILE} in it, so it is not a run folder fcnn "
                       "train can continue")
    try:
        meta = dict(getattr(load(path), "metadata", None) or {})
    except ModelFileError as exc:
        raise RunError(f"{where}: its {CHECKPOINT_FILE} is unreadable ({exc})") from None
    saved, state = meta.get("run_config"), meta.get("training_state")
    names = {f.name for f in dataclasses.fields(RunConfig)}
    if not isinstance(saved, dict) or not isinstance(state, dict) or not set(saved) <= names \
            or not isinstance(state.get("epoch"), int):
        raise RunError(f"{where}: its {CHECKPOINT_FILE} holds no run configuration and "
                       "training state (it was not written by fcnn train)")
    if config.epochs is None:
        raise RunError(f"{where} needs --epochs N, the total to train to (the run is at epoch "
                       f"{state['epoch']})")
    if state["epoch"] >= config.epochs:
        raise RunError(f"--epochs {config.epochs}: the run in {folder} is already at epoch "
                       f"{state['epoch']}; give the larger total to train to")
    metrics_file = folder / METRICS_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(metrics_file.read_text(encoding="utf-8")).get("stopped_early") is True:
            raise RunError(f"{where}: that run stopped early (early stopping kept its best "
                           "epoch), so there is nothing to continue; train a new run with a "
                           "larger --early-stopping patience")
    values = dict(saved)
    values["drop"] = tuple(values.get("drop") or ())
    if values.get("metrics") is not None:
        values["metrics"] = tuple(values["metrics"])
    values.update({k: getattr(config, k) for k in _RESUME_KEEPS})
    values.update(out=str(folder), resume=str(folder), write=True)
    try:
        resumed = RunConfig(**values)
    except TypeError as exc:
        raise RunError(f"{where}: its saved configuration does not load ({exc})") from None
    return resumed, {"epoch": state["epoch"], "run_epochs": meta.get("run_epochs")}


def _check_resumable(config: RunConfig, settings: Settings, saved: dict[str, Any]) -> None:
    name = parse_scheduler(config.scheduler)[0] if config.scheduler else None
    if name in _LENGTH_BOUND and saved.get("run_epochs") != settings.epochs:
        raise RunError(f"--epochs {settings.epochs}: the run's --scheduler {name} was laid out "
                       f"over {saved.get('run_epochs')} epochs, so it can only be continued to "
                       f"--epochs {saved.get('run_epochs')}; train a new run for another length")


def _divergence_message(exc: DivergenceError, settings: Settings) -> str:
    done = getattr(exc.history, "epochs", 0)
    hint = "" if settings.standardize else " or --standardize"
    return (f"training diverged in epoch {done + 1}: the loss became NaN or infinite; try a "
            f"smaller --lr (it was {settings.lr:g}){hint}")


# --------------------------------------------------------------------------- results


def _evaluate(model: Any, dataset: Any, parts: dict[str, Any], settings: Settings) -> dict[str, Any]:
    from .training import predict

    out = predict(model, parts["X_test"])
    if settings.task == "classification":
        y_pred = out.argmax(axis=1)
        results = classification_results(parts["y_test"], y_pred, dataset.classes)
        counts = np.bincount(dataset.y[parts["rows"]["fit"]], minlength=dataset.n_classes)
        majority = int(np.argmax(counts))
        results["baseline_accuracy"] = float(np.mean(parts["y_test"] == majority))
    else:
        y_pred = out[:, 0].astype(np.float64) * parts["target_scale"] + parts["target_mean"]
        results = regression_results(parts["y_test"], y_pred)
    results["y_pred"] = y_pred
    return results


def classification_results(y_true: np.ndarray, y_pred: np.ndarray,
                           classes: list[Any]) -> dict[str, Any]:
    """Accuracy, confusion matrix (rows true, columns predicted) and scikit-learn's report."""
    from sklearn.metrics import classification_report, confusion_matrix

    labels = np.arange(len(classes))
    kwargs = {"labels": labels, "target_names": [str(c) for c in classes], "zero_division": 0}
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "n_correct": int(np.sum(y_true == y_pred)),
        "confusion_matrix": {"classes": list(classes), "rows": "true class",
                             "columns": "predicted class", "matrix": matrix.tolist()},
        "report": classification_report(y_true, y_pred, output_dict=True, **kwargs),
        "report_text": classification_report(y_true, y_pred, digits=3, **kwargs),
    }


def regression_results(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE and R² (scikit-learn's), and the same for always predicting the mean."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    r2 = float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")
    return {"mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(math.sqrt(mean_squared_error(y_true, y_pred))),
            "r2": r2, "n_test": len(y_true)}


def _diagnose(results: dict[str, Any], history: Any, dataset: Any, settings: Settings,
              config: RunConfig) -> list[str]:
    """Warnings for a model that learned nothing (each names the likely causes and a flag)."""
    causes = []
    if not settings.standardize:
        causes.append("unscaled features (try --standardize)")
    causes.append(f"a learning rate too large or too small (it was {settings.lr:g}; try "
                  f"--lr {settings.lr / 10:g})")
    if settings.epochs < 50:
        causes.append(f"too few epochs (it was {settings.epochs}; try --epochs)")
    found = []
    loss = history.loss
    if len(loss) >= 2 and math.isfinite(loss[0]) and loss[-1] >= 0.99 * loss[0]:
        found.append(f"the training loss never left its starting value ({loss[0]:.4g} -> "
                     f"{loss[-1]:.4g})")
    if settings.task == "classification":
        base = results["baseline_accuracy"]
        if results["accuracy"] <= base + _NO_BETTER:
            found.append(f"test accuracy {results['accuracy']:.4f} is no better than always "
                         f"predicting the most frequent class ({base:.4f})")
    elif not results["r2"] > _NO_BETTER:
        found.append(f"test R² {results['r2']:.4f} is no better than always predicting the "
                     "mean (0)")
    if not found or history.interrupted:
        return []
    return [f"{'; '.join(found)}. The model learned nothing useful; likely causes: "
            + ", ".join(causes) + "."]


def _metrics(results: dict[str, Any], history: Any, dataset: Any, settings: Settings,
             config: RunConfig, parts: dict[str, Any], warnings: list[str],
             started: float) -> dict[str, Any]:
    rows = parts["rows"]
    if settings.task == "classification":
        scores = {"accuracy": results["accuracy"], "n_test": len(rows["test"]),
                  "n_correct": results["n_correct"], "classes": dataset.classes,
                  "baseline_accuracy": results["baseline_accuracy"],
                  "confusion_matrix": results["confusion_matrix"],
                  "classification_report": results["report"]}
    else:
        scores = {k: results[k] for k in ("mae", "rmse", "r2", "n_test")}
    return {
        "task": settings.task, **scores, "warnings": warnings,
        "learned_nothing": bool(warnings),
        "history": dict(history.history), "epochs_run": history.epochs,
        "interrupted": history.interrupted, "stopped_early": history.stopped_early,
        "best_epoch": history.best_epoch, "restored_best_weights": history.restored_best_weights,
        "config": config_record(config, settings),
        "dataset": {"name": dataset.name, "n_samples": dataset.n_samples,
                    "n_features": dataset.n_features, "feature_names": dataset.feature_names,
                    "columns": dataset.columns, "target": dataset.target,
                    "n_train": len(rows["fit"]),
                    "n_validation": None if rows["validation"] is None else len(rows["validation"]),
                    "n_test": len(rows["test"]), "notes": dataset.notes},
        "versions": versions(),
        "wall_time": {"training_s": history.wall_time, "total_s": time.perf_counter() - started},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def config_record(config: RunConfig, settings: Settings) -> dict[str, Any]:
    """The run's configuration as JSON: every field, with the defaults it used."""
    record = dataclasses.asdict(config)
    record["drop"] = list(config.drop)
    used = dataclasses.asdict(settings)
    record.update({k: v for k, v in used.items() if k not in ("chosen", "adjusted")})
    record["adjusted"] = settings.adjusted
    record["defaults_chosen"] = settings.chosen
    record["validation_fraction"] = VALIDATION_FRACTION if settings.early_stopping else None
    return record


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"fcnn": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for package in ("scikit-learn", "pandas", "matplotlib", "safetensors", "tqdm"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


# --------------------------------------------------------------------------- the run folder


def _prepare_folder(out: str | None, dataset_name: str) -> tuple[Path, bool]:
    """The run folder, created now so a bad path fails before training; and whether this
    call created it. Default ``runs/<dataset>-<timestamp>`` (``-2``, ``-3``, ... on a clash)."""
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise RunError(f"--out {out}: exists and is not a directory")
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from None
        return path, created
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(dataset_name).name.split(".")[0]) or "run"
    base = Path(RUNS_DIR)
    base.mkdir(parents=True, exist_ok=True)
    name = f"{stem}-{_timestamp()}"
    for n in range(1, 10_000):
        path = base / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path, True
    raise RunError(f"could not find a free run folder name under {base}/")


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _remove_if_empty(folder: Path | None, created: bool) -> None:
    if folder is not None and created:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds while still empty


@contextlib.contextmanager
def _uninterrupted(folder: Path) -> Iterator[list[int]]:
    """Hold Ctrl-C while the run folder is written (a second Ctrl-C after training):
    the folder is then complete; the list it yields records the interrupts held."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def handler(signum: int, frame: Any) -> None:
        if not pending:
            print(f"finishing {folder} first (a few seconds at most) ...", flush=True)
        pending.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_folder(outcome: Run, parts: dict[str, Any], results: dict[str, Any],
                  created: bool) -> None:
    from .serialization import save

    folder = outcome.folder
    assert folder is not None
    with _uninterrupted(folder) as pending:
        save(outcome.model, folder / MODEL_FILE, **model_metadata(outcome, parts))
        plotted = write_plots(folder, outcome, parts, results)
        outcome.files = {"model": MODEL_FILE, "metrics": METRICS_FILE, **plotted}
        if (folder / CHECKPOINT_FILE).is_file():
            outcome.files["checkpoint"] = CHECKPOINT_FILE
        outcome.metrics["files"] = outcome.files
        if pending:
            outcome.history.interrupted = True
            outcome.metrics["interrupted"] = True
        write_json(folder / METRICS_FILE, outcome.metrics)


def model_metadata(outcome: Run, parts: dict[str, Any]) -> dict[str, Any]:
    """What the model file carries so that evaluate and predict need nothing else."""
    dataset, settings, config = outcome.dataset, outcome.settings, outcome.config
    meta: dict[str, Any] = {
        "task": settings.task, "feature_names": dataset.feature_names,
        "columns": dataset.columns, "dataset": dataset.name, "target": dataset.target,
        "loss": type(_loss_of(settings)).__name__, "n_samples": dataset.n_samples,
        "split": {"seed": config.seed, "test_size": config.test_size,
                  "stratify": parts["stratify"]},
        "config": config_record(config, settings),
    }
    if settings.task == "classification":
        meta["classes"] = dataset.classes
        meta["test_accuracy"] = outcome.metrics["accuracy"]
    else:
        meta["target_scaling"] = {"mean": parts["target_mean"], "scale": parts["target_scale"]}
        meta["test_r2"] = outcome.metrics["r2"]
    if dataset.encoder is not None:
        meta["encoder"] = dataset.encoder.to_dict()
        meta["missing"] = dataset.encoder.missing
    if dataset.table is not None:
        path = Path(dataset.table.path).resolve()
        meta["dataset_path"] = str(path)
        meta["dataset_sha256"] = sha256(path)
    return meta


def write_plots(folder: Path, outcome: Run, parts: dict[str, Any],
                results: dict[str, Any]) -> dict[str, str]:
    from . import plots

    history, name, written = outcome.history, outcome.dataset.name, {}
    loss_path = folder / "loss.png"
    if history.loss:
        plots.plot_loss(history.loss, history.history.get("val_loss"),
                        title=f"{name}: loss per epoch", path=loss_path,
                        best_epoch=history.best_epoch if history.restored_best_weights else None,
                        interrupted=bool(history.interrupted),
                        lr=history.history.get("lr") if (outcome.config.scheduler
                                                         or outcome.config.warmup) else None)
        written["loss_plot"] = loss_path.name
    else:  # interrupted before the first epoch ended: no curve, and no stale one from --out
        loss_path.unlink(missing_ok=True)
    if outcome.settings.task == "classification":
        plots.plot_confusion_matrix(
            parts["y_test"], results["y_pred"], outcome.dataset.classes,
            title=f"{name}: test accuracy {results['accuracy']:.3f}",
            path=folder / "confusion_matrix.png")
        written["confusion_matrix_plot"] = "confusion_matrix.png"
    else:
        plots.plot_predicted_vs_true(parts["y_test"], results["y_pred"],
                                     title=f"{name}: test R² {results['r2']:.3f}",
                                     path=folder / "predicted_vs_true.png")
        plots.plot_residuals(parts["y_test"], results["y_pred"], title=f"{name}: residuals",
                             path=folder / "residuals.png")
        written["predicted_vs_true_plot"] = "predicted_vs_true.png"
        written["residuals_plot"] = "residuals.png"
    return written


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any, indent: int = 0) -> str:
    """JSON, indented, with each list of numbers or strings on one line (so a
    2000-epoch loss curve is one line, not 2000)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(str(k))}: {to_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
        pad = " " * (indent + 2)
        items = [pad + to_json(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value, default=_json_default)


def write_json(path: Path, data: dict[str, Any]) -> None:
    text = to_json(data)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
