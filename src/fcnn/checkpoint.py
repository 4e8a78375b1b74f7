"""Training state in a model file, for ``train(..., resume_from=path)``.

A ``ModelCheckpoint`` file is an ordinary ``fcnn.save`` file (safetensors,
written atomically; ``fcnn.load`` reads it as a model) whose metadata also
holds what continuing the run exactly needs:

* ``training_state`` (JSON): format and version, the epoch, the History, the
  optimizer's and scheduler's ``state_dict()`` (arrays replaced by references),
  the callbacks' counters (restored into the resumed run's callbacks of the same
  type at the same position; others start afresh), the state of the shuffling Generator and of each
  layer's own Generator (Dropout), the validation split, the batch setup and a
  digest of the training data;
* ``training_state.<name>`` tensors: the arrays those refer to (momentum
  buffers, Adam's moments, the step losses, the split's order).

Reading goes through ``fcnn.load`` (the validating reader for hostile files);
then every part is checked against the run that resumes (architecture,
optimizer and scheduler types, data, batch size) before anything is changed,
and applying it rolls back if any part is refused.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .errors import ModelFileError

__all__ = ["read_training_state", "training_state_metadata"]

KEY = "training_state"
FORMAT = "fcnn-training-state"
VERSION = 1
_ARRAY = "__array__"
_PREFIX = KEY + "."
# Bit generators a state may name; a Generator is only ever built from this table.
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# -- writing ---------------------------------------------------------------------------------


def training_state_metadata(run: Any) -> dict[str, Any]:
    """``fcnn.save`` metadata for the state of ``run`` (a ``training._Run``) after an epoch."""
    arrays: dict[str, np.ndarray] = {}
    history = run.history
    state = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": history.epochs,
        "history": {
            "history": {k: list(map(float, v)) for k, v in history.history.items()},
            "epochs": history.epochs, "wall_time": history.wall_time,
            "stopped_early": history.stopped_early, "best_epoch": history.best_epoch,
        },
        "optimizer": _flatten(run.optimizer.state_dict(), "optimizer", arrays),
        "optimizer_type": type(run.optimizer).__name__,
        "scheduler": None if run.scheduler is None else _flatten(
            run.scheduler.state_dict(), "scheduler", arrays),
        "scheduler_type": None if run.scheduler is None else type(run.scheduler).__name__,
        "callbacks": [{"type": type(c).__name__, "state": _flatten(c.state_dict(), f"callback{i}", arrays)}
                      for i, c in enumerate(run.callbacks)],
        "rng": _flatten(run.rng.bit_generator.state, "rng", arrays),
        "layer_rngs": {name: _flatten(g.bit_generator.state, f"layer_rng.{name}", arrays)
                       for name, g in _layer_generators(run.model)},
        "data": {"fingerprint": run.data_fingerprint, "n_samples": run.n_samples,
                 "n_features": run.n_features, "batch_size": run.batch_size,
                 "shuffle": run.shuffle, "loss": repr(run.loss),
                 "validation_split": None if run.split_order is None else run.n_val},
    }
    arrays["step_losses"] = np.asarray(history.step_losses, dtype=np.float64)
    if run.split_order is not None:
        arrays["split_order"] = np.asarray(run.split_order, dtype=np.int64)
    return {KEY: state, **{_PREFIX + name: a for name, a in arrays.items()}}


def _flatten(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for ``value`` with every array moved to ``arrays`` and referenced by name."""
    if isinstance(value, dict):
        return {str(k): _flatten(v, f"{path}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flatten(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        arrays[path] = np.ascontiguousarray(value)
        return {_ARRAY: path}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _layer_generators(model: Any) -> list[tuple[str, np.random.Generator]]:
    layers = getattr(model, "layers", [model])
    return [(str(i), layer.rng) for i, layer in enumerate(layers)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)]


# -- reading ---------------------------------------------------------------------------------


class TrainingState:
    """A checkpoint's training state, read and checked, not yet applied."""

    def __init__(self, path: Any, model: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                 loaded: Any) -> None:
        self.path, self.loaded = path, loaded
        self.meta, self.arrays = meta, arrays
        self.epoch: int = meta["epoch"]
        self.split_order: np.ndarray | None = arrays.get("split_order")

    def apply(self, run: Any) -> None:
        """Load everything into ``run``'s model, optimizer, scheduler, callbacks and
        generators; on any refusal put back what was changed and raise."""
        model, optimizer, scheduler = run.model, run.optimizer, run.scheduler
        saved_weights = [p.weights.copy() for p in model.parameters()]
        saved_buffers = {k: np.array(v) for k, v in _buffers(model)}
        saved_optimizer = optimizer.state_dict()
        saved_scheduler = None if scheduler is None else scheduler.state_dict()
        try:
            _copy_model(self.loaded, model)
            optimizer.load_state_dict(self._unflatten(self.meta["optimizer"]))
            if scheduler is not None:
                scheduler.load_state_dict(self._unflatten(self.meta["scheduler"]))
        except (ValueError, TypeError, KeyError) as exc:
            for p, w in zip(model.parameters(), saved_weights):
                p.weights = w
            for name, value in _buffers(model):
                np.copyto(value, saved_buffers[name])
            optimizer.load_state_dict(saved_optimizer)
            if scheduler is not None:
                scheduler.load_state_dict(saved_scheduler)
            raise ModelFileError(f"train: cannot resume from {self.path}: {exc}") from exc
        run.rng.bit_generator.state = self.rng_state
        for name, g in _layer_generators(model):
            g.bit_generator.state = self.layer_rng_states[name]
        h, saved = run.history, self.meta["history"]
        for key in h.history:
            h.history[key] = list(saved["history"][key])
        h.step_losses = self.arrays["step_losses"].tolist()
        h.epochs, h.wall_time = saved["epochs"], float(saved["wall_time"])
        h.stopped_early, h.best_epoch = bool(saved["stopped_early"]), saved["best_epoch"]

    def apply_callbacks(self, run: Any) -> None:
        """The callbacks' counters, into those of the same type at the same position
        (after their ``on_train_begin``)."""
        for c, entry in zip(run.callbacks, self.meta["callbacks"]):
            if isinstance(entry, dict) and entry.get("type") == type(c).__name__:
                try:
                    c.load_state_dict(self._unflatten(entry["state"]))
                except (ValueError, TypeError, KeyError) as exc:
                    raise ModelFileError(f"train: cannot resume from {self.path}: the state of "
                                         f"{type(c).__name__} does not load ({exc})") from exc

    def _unflatten(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {_ARRAY}:
                name = value[_ARRAY]
                if name not in self.arrays:
                    raise ValueError(f"the array {name!r} is missing from the file")
                return np.array(self.arrays[name])
            return {k: self._unflatten(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._unflatten(v) for v in value]
        return value


def read_training_state(path: Any, run: Any) -> TrainingState:
    """Read ``path`` through ``fcnn.load`` and check it against ``run``; changes nothing."""
    from .serialization import load

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"train: resume_from must be the path of a checkpoint file, got {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"train: resume_from must be a checkpoint file written by "
                                f"ModelCheckpoint, got the directory {path}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"train: the checkpoint to resume from does not exist: {path}")
    loaded = load(path)  # ModelFileError for anything that is not a sound fcnn file
    metadata = dict(getattr(loaded, "metadata", None) or {})
    meta = metadata.get(KEY)
    where = f"train: cannot resume from {path}"
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{where}: it holds a model but no training state (write checkpoints "
                             "with ModelCheckpoint(path, save_training_state=True))")
    if meta.get("version") != VERSION:
        raise ModelFileError(f"{where}: training state version {meta.get('version')!r}; this fcnn "
                             f"reads version {VERSION}")
    arrays = {k[len(_PREFIX):]: v for k, v in metadata.items()
              if k.startswith(_PREFIX) and isinstance(v, np.ndarray)}
    try:
        _check_structure(meta, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: the training state is malformed ({exc})") from exc
    _check_compatible(meta, loaded, run, where)
    if getattr(run, "n_val", None) is not None:
        order = arrays.get("split_order")
        if order is None or order.shape != (run.n_samples,) or not np.array_equal(
                np.sort(order), np.arange(run.n_samples)):
            raise ModelFileError(f"{where}: its validation split is not a permutation of the "
                                 f"{run.n_samples} samples")
    state = TrainingState(path, run.model, meta, arrays, loaded)
    state.rng_state = _generator_state(meta["rng"], state, where, type(run.rng.bit_generator))
    state.layer_rng_states = {}
    for name, g in _layer_generators(run.model):
        if name not in meta["layer_rngs"]:
            raise ModelFileError(f"{where}: no state for layer {name}'s random generator")
        state.layer_rng_states[name] = _generator_state(meta["layer_rngs"][name], state, where,
                                                        type(g.bit_generator))
    return state


def _check_structure(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    epoch = meta["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch {epoch!r}")
    history = meta["history"]
    series = history["history"]
    if not isinstance(series, dict) or not all(
            isinstance(v, list) and len(v) == epoch and all(isinstance(x, (int, float)) for x in v)
            for v in series.values()):
        raise ValueError("the History's lists do not match its epoch count")
    if history["epochs"] != epoch:
        raise ValueError("the History's epoch count")
    best = history["best_epoch"]
    if not (best is None or (isinstance(best, int) and not isinstance(best, bool))) or not \
            isinstance(history["stopped_early"], bool) or not isinstance(history["wall_time"], (int, float)):
        raise ValueError("the History's best_epoch, stopped_early or wall_time")
    steps = arrays.get("step_losses")
    if steps is None or steps.ndim != 1 or steps.dtype != np.float64:
        raise ValueError("the step losses")
    for key in ("optimizer", "callbacks", "rng", "layer_rngs", "data"):
        if key not in meta:
            raise KeyError(key)
    if not isinstance(meta["callbacks"], list) or not isinstance(meta["layer_rngs"], dict):
        raise TypeError("callbacks / layer_rngs")


def _check_compatible(meta: dict[str, Any], loaded: Any, run: Any, where: str) -> None:
    model = run.model
    ours, theirs = _architecture(model), _architecture(loaded)
    if ours != theirs:
        raise ModelFileError(f"{where}: it was saved from another architecture ({theirs[0]}) than "
                             f"the model given ({ours[0]})")
    data = meta["data"]
    if type(run.optimizer).__name__ != meta.get("optimizer_type"):
        raise ValueError(f"{where}: it was trained with {meta.get('optimizer_type')}, not "
                         f"{type(run.optimizer).__name__}; resume with the same optimizer type")
    scheduler_type = None if run.scheduler is None else type(run.scheduler).__name__
    if scheduler_type != meta.get("scheduler_type"):
        raise ValueError(f"{where}: it was trained with scheduler {meta.get('scheduler_type')}, "
                         f"not {scheduler_type}; resume with the same scheduler")
    if data.get("fingerprint") != run.data_fingerprint or data.get("n_samples") != run.n_samples:
        raise ValueError(f"{where}: it was trained on other data ({data.get('n_samples')} samples "
                         f"x {data.get('n_features')} features; yours: {run.n_samples} x "
                         f"{run.n_features}, or the values differ); resume with the same X and y")
    logged = list(meta["history"]["history"])
    if logged != run.logged:
        raise ValueError(f"{where}: that run logged {logged}, this one logs {run.logged}; resume "
                         "with the same metrics and validation setting")
    for key, value in (("batch_size", run.batch_size), ("shuffle", run.shuffle)):
        if data.get(key) != value:
            raise ValueError(f"{where}: it was trained with {key}={data.get(key)!r}, not {value!r}; "
                             "resume with the same setting")
    split = getattr(run, "n_val", None)
    if data.get("validation_split") != split:
        raise ValueError(f"{where}: its validation split held out {data.get('validation_split')} "
                         f"samples, this run {split}; resume with the same validation_split")


def _architecture(model: Any) -> tuple[str, str]:
    layers = getattr(model, "layers", [model])
    described = [
        f"{type(layer).__name__}({json.dumps(layer.get_config(), sort_keys=True, default=str)})"
        if hasattr(layer, "get_config") else type(layer).__name__ for layer in layers]
    dtype = str(getattr(model, "dtype", ""))
    short = " -> ".join(described)
    return (short if len(short) < 200 else short[:197] + "...") + f", {dtype}", short + dtype


def _generator_state(flat: Any, state: TrainingState, where: str, expected: type) -> dict[str, Any]:
    try:
        value = state._unflatten(flat)
        name = value["bit_generator"]
        if name not in _BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {name!r}")
        probe = getattr(np.random, name)()
        probe.state = value  # NumPy checks every field here
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: a random generator's state is malformed ({exc})") from exc
    if type(probe) is not expected:
        raise ValueError(f"{where}: the checkpoint's generator is a {name}, the rng given to train "
                         f"is a {expected.__name__}; pass the same kind of Generator (or a seed)")
    return value


def _copy_model(loaded: Any, model: Any) -> None:
    if hasattr(model, "load_state_dict") and hasattr(loaded, "state_dict"):
        model.load_state_dict(loaded.state_dict())
        return
    for p, q in zip(model.parameters(), loaded.parameters()):
        p.weights = q.weights


def _buffers(model: Any) -> list[tuple[str, np.ndarray]]:
    named = getattr(model, "named_buffers", None)
    return list(named()) if named is not None else []
