"""The robustness battery: bad input, faults, hostile files, extremes, determinism.

Part 1 is one table, ``ROWS``: one row per mistake a user can make at a public
entry point (layers, losses, networks, Parameter, optimizers, initializers,
``train``/``predict``/callbacks, gradient checking, datasets, plots,
``save``/``load``, the estimators), each naming the exception type and the key
words its message must hold. ``CLI_ROWS`` does the same for ``fcnn.cli.main``
(exit code 2, one line on stderr). Rows whose fix belongs to a module this
battery does not own are marked ``xfail(strict=True, reason="needs ...")``: they
fail today and flip to a pass (and then must lose the mark) once fixed.

The other parts are tests of what must *not* happen on a fault: a refused call
changes nothing, an interrupted save or training loses nothing, a checkpoint is
always loadable, extreme values stay finite, and the same seed gives the same
bits.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fcnn
from fcnn import datasets, gradcheck, init, plots, serialization
from fcnn.datasets import DatasetError, DatasetNotFoundError
from fcnn.errors import (
    DivergenceError,
    FcnnError,
    LabelError,
    ModelFileError,
    NonFiniteError,
    NotReadyError,
    ShapeError,
)
from fcnn.training import EarlyStopping, ModelCheckpoint

# --------------------------------------------------------------------------- data


def features(n: int = 6, d: int = 4, dtype: Any = np.float64) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, d)).astype(dtype)


X6 = features()
Y6 = np.array([0, 1, 2, 0, 1, 2])


def with_value(array: np.ndarray, value: float, index: tuple[int, ...] = (1, 2)) -> np.ndarray:
    out = array.astype(np.float64)
    out[index] = value
    return out


def net(dtype: Any = np.float64) -> fcnn.Sequential:
    """4 -> 5 -> 3, ReLU."""
    return fcnn.mlp([4, 5, 3], rng=0, dtype=dtype)


def forwarded(layer: Any, X: np.ndarray = X6) -> Any:
    layer.forward(X)
    return layer


def forwarded_loss(loss: Any, pred: np.ndarray, target: np.ndarray) -> Any:
    loss.forward(pred, target)
    return loss


def params() -> list[fcnn.Parameter]:
    return [fcnn.Parameter(np.zeros(3))]


def run_train(
    *, model: Any = None, loss: Any = None, optimizer: Any = None, X: Any = X6, y: Any = Y6,
    **kwargs: Any,
) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        m = net() if model is None else model
        opt = fcnn.SGD(m.parameters(), lr=0.1) if optimizer is None else optimizer
        options = {"epochs": 1, "progress": False, "rng": 0, **kwargs}
        return fcnn.train(m, fcnn.NLLLoss() if loss is None else loss, opt, X, y, **options)

    return call


# --------------------------------------------------------------------------- files


def safetensors_bytes(header: dict | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def good_file(tmp: Path) -> Path:
    path = tmp / "good.safetensors"
    fcnn.save(fcnn.mlp([2, 3, 2], rng=0), path)
    return path


def tampered(tmp: Path, edit: Callable[[dict, bytes], tuple[dict, bytes]]) -> Path:
    """A copy of a good model file with its header and data edited."""
    raw = good_file(tmp).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8 : 8 + length]), raw[8 + length :]
    header, data = edit(header, data)
    path = tmp / "tampered.safetensors"
    path.write_bytes(safetensors_bytes(header, data))
    return path


def write(tmp: Path, name: str, content: bytes | str) -> Path:
    path = tmp / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


class _Payload:
    """Unpickling this creates a file: proof that a loader ran the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def pickle_file(tmp: Path) -> Path:
    return write(tmp, "model.pkl", pickle.dumps(_Payload(tmp / "pwned")))


def pickle_not_run(tmp: Path) -> None:
    assert not (tmp / "pwned").exists()


def npz_with_object_array(tmp: Path) -> Path:
    path = tmp / "model.npz"
    np.savez(path, w=np.array([_Payload(tmp / "pwned")], dtype=object))
    return path


def zip_bomb(tmp: Path) -> Path:
    path = tmp / "bomb.safetensors"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("w.npy", b"\0" * (32 * 2**20))  # 32 MiB of zeros in ~32 KiB
    return path


def truncated(tmp: Path, keep: Callable[[int, int], int]) -> Path:
    """A good file cut after ``keep(header_length, file_size)`` bytes."""
    raw = good_file(tmp).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return write(tmp, "cut.safetensors", raw[: keep(length, len(raw))])


def extra_tensor(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["9.weight"] = {"dtype": "F64", "shape": [1], "data_offsets": [len(data), len(data) + 8]}
    return header, data + bytes(8)


def without_last_bias(header: dict, data: bytes) -> tuple[dict, bytes]:
    begin, end = header.pop("2.bias")["data_offsets"]
    for name, entry in header.items():  # close the gap the tensor leaves
        if name != "__metadata__" and entry["data_offsets"][0] >= end:
            entry["data_offsets"] = [o - (end - begin) for o in entry["data_offsets"]]
    return header, data[:begin] + data[end:]


def reshaped_weight(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["0.weight"]["shape"] = [3, 2]  # same bytes, transposed shape
    return header, data


def nan_weight(header: dict, data: bytes) -> tuple[dict, bytes]:
    begin = header["0.weight"]["data_offsets"][0]
    return header, data[:begin] + struct.pack("<d", float("nan")) + data[begin + 8 :]


def huge_tensor(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["0.weight"]["shape"] = [10**6, 10**6]
    header["0.weight"]["data_offsets"] = [0, 8 * 10**12]
    return header, data


def foreign_layer(header: dict, data: bytes) -> tuple[dict, bytes]:
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["config"]["layers"][1]["type"] = "os.system"
    header["__metadata__"]["architecture"] = json.dumps(arch)
    return header, data


def newer_format(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["__metadata__"]["format_version"] = "99"
    return header, data


def csv(tmp: Path, text: str) -> Path:
    return write(tmp, "data.csv", text)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    entry: str  # the public entry point the row exercises
    id: str
    call: Callable[[Path], Any]
    error: type[BaseException]
    words: tuple[str, ...]  # regular expressions, all found in the message (any case)
    needs: str | None = None  # the fix this row waits for (xfail until then)
    after: Callable[[Path], None] | None = None  # a further check once it raised
    max_alloc: int | None = None  # bytes the call may allocate (bounded memory)
    setup: Callable[[Path], Any] | None = None  # writes the files the call reads


ROWS: list[Case] = []


def row(
    entry: str, id: str, call: Callable[[Path], Any], error: type[BaseException], *words: str,
    needs: str | None = None, after: Callable[[Path], None] | None = None,
    max_alloc: int | None = None, setup: Callable[[Path], Any] | None = None,
) -> None:
    ROWS.append(Case(entry, id, call, error, words, needs, after, max_alloc, setup))


def no_tmp(fn: Callable[[], Any]) -> Callable[[Path], Any]:
    return lambda tmp: fn()


# -- Linear -------------------------------------------------------------------
L = "Linear"
row(L, "wrong-width", no_tmp(lambda: fcnn.Linear(4, 3).forward(np.ones((5, 7)))), ShapeError,
    r"Linear\(4 -> 3\) expected input of shape \(N, 4\), got \(5, 7\)")
row(L, "1-d-input", no_tmp(lambda: fcnn.Linear(4, 3).forward(np.ones(4))), ShapeError,
    r"got \(4,\)", r"reshape\(1, -1\)")
row(L, "3-d-input", no_tmp(lambda: fcnn.Linear(4, 3).forward(np.ones((2, 2, 4)))), ShapeError,
    r"\(N, 4\)", r"got \(2, 2, 4\)")
row(L, "scalar-input", no_tmp(lambda: fcnn.Linear(4, 3).forward(3.0)), ShapeError, r"got \(\)")
row(L, "empty-batch", no_tmp(lambda: fcnn.Linear(4, 3).forward(np.ones((0, 4)))), ShapeError,
    "non-empty", r"\(0, 4\)")
row(L, "strings", no_tmp(lambda: fcnn.Linear(4, 3).forward(X6.astype(str))), TypeError,
    "numeric", "<U", "convert strings")
row(L, "objects", no_tmp(lambda: fcnn.Linear(4, 3).forward(X6.astype(object))), TypeError,
    "numeric", "object")
row(L, "complex", no_tmp(lambda: fcnn.Linear(4, 3).forward(X6.astype(complex))), TypeError,
    "numeric", "complex128")
row(L, "ragged-list", no_tmp(lambda: fcnn.Linear(4, 3).forward([[1, 2, 3, 4], [1]])), TypeError,
    "numeric array", "list")
row(L, "none", no_tmp(lambda: fcnn.Linear(4, 3).forward(None)), TypeError, "numeric")
row(L, "nan", no_tmp(lambda: fcnn.Linear(4, 3).forward(with_value(X6, np.nan))), NonFiniteError,
    r"Linear\(in_features=4", "NaN or infinite", r"index \(1, 2\)", "impute")
row(L, "inf", no_tmp(lambda: fcnn.Linear(4, 3).forward(with_value(X6, -np.inf))), NonFiniteError,
    "infinite", r"\(1, 2\)")
row(L, "float64-beyond-float32", no_tmp(lambda: fcnn.Linear(4, 3, dtype=np.float32).forward(
    with_value(X6, 1e300))), NonFiniteError, "1e\\+300", "does not fit in float32", "float64 model")
row(L, "backward-before-forward", no_tmp(lambda: fcnn.Linear(4, 3).backward(np.ones((6, 3)))),
    NotReadyError, r"forward\(\) before backward\(\)")
row(L, "backward-wrong-shape", no_tmp(lambda: forwarded(fcnn.Linear(4, 3)).backward(
    np.ones((6, 2)))), ShapeError, r"expected dLdy of shape \(6, 3\), got \(6, 2\)")
row(L, "backward-strings", no_tmp(lambda: forwarded(fcnn.Linear(4, 3)).backward(
    np.full((6, 3), "a"))), TypeError, "backward", "numeric")
row(L, "in-features-0", no_tmp(lambda: fcnn.Linear(0, 3)), ValueError,
    "in_features must be a positive int, got 0")
row(L, "out-features-float", no_tmp(lambda: fcnn.Linear(4, 2.5)), ValueError,
    "out_features", "2.5")
row(L, "in-features-bool", no_tmp(lambda: fcnn.Linear(True, 3)), ValueError, "in_features", "True")
row(L, "dtype-int", no_tmp(lambda: fcnn.Linear(4, 3, dtype=int)), TypeError,
    "float32 or float64", "int64")
row(L, "dtype-float16", no_tmp(lambda: fcnn.Linear(4, 3, dtype=np.float16)), TypeError,
    "float32 or float64", "float16")
row(L, "unknown-init", no_tmp(lambda: fcnn.Linear(4, 3, init="gaussian")), ValueError,
    "unknown initializer 'gaussian'", "he_normal")
row(L, "init-wrong-shape", no_tmp(lambda: fcnn.Linear(
    2, 3, init=lambda i, o, r, d: (np.ones((3, 3)), np.ones(3)))), ShapeError,
    r"returned W of shape \(3, 3\)", r"needs \(2, 3\)")
row(L, "init-not-a-pair", no_tmp(lambda: fcnn.Linear(2, 3, init=lambda i, o, r, d: np.ones((2, 3)))),
    TypeError, r"pair \(W, b\)")
row(L, "negative-seed", no_tmp(lambda: fcnn.Linear(4, 3, rng=-1)), ValueError, "non-negative")
row(L, "rng-string", no_tmp(lambda: fcnn.Linear(4, 3, rng="42")), TypeError,
    "Generator", "int seed", "str")

# -- element-wise layers ------------------------------------------------------
for cls in (fcnn.ReLU, fcnn.LeakyReLU, fcnn.Sigmoid, fcnn.Tanh, fcnn.Dropout):
    name = cls.__name__
    row(name, "empty-batch", no_tmp(lambda c=cls: c().forward(np.ones((0, 3)))), ShapeError,
        "non-empty batch", r"\(0, 3\)")
    row(name, "scalar-input", no_tmp(lambda c=cls: c().forward(np.float64(1.0))), ShapeError,
        r"shape \(\)")
    row(name, "nan", no_tmp(lambda c=cls: c().forward(with_value(X6, np.nan))), NonFiniteError,
        name, r"index \(1, 2\)")
    row(name, "strings", no_tmp(lambda c=cls: c().forward("abc")), TypeError,
        "numeric array", "str")
    row(name, "backward-before-forward", no_tmp(lambda c=cls: c().backward(np.ones((2, 3)))),
        NotReadyError, r"forward\(\) before backward\(\)")
    row(name, "backward-wrong-shape", no_tmp(lambda c=cls: forwarded(c()).backward(
        np.ones((4, 6)))), ShapeError, r"expected dLdy of shape \(6, 4\)", r"got \(4, 6\)")
row("LeakyReLU", "slope-nan", no_tmp(lambda: fcnn.LeakyReLU(float("nan"))), ValueError,
    "negative_slope must be a finite number", "nan")
row("LeakyReLU", "slope-string", no_tmp(lambda: fcnn.LeakyReLU("0.1")), TypeError,
    "negative_slope", "number")
row("LeakyReLU", "slope-none", no_tmp(lambda: fcnn.LeakyReLU(None)), TypeError,
    "negative_slope", "number")
row("Dropout", "p-one", no_tmp(lambda: fcnn.Dropout(1.0)), ValueError, r"\[0, 1\)", "1.0")
row("Dropout", "p-negative", no_tmp(lambda: fcnn.Dropout(-0.1)), ValueError, r"\[0, 1\)", "-0.1")
row("Dropout", "p-nan", no_tmp(lambda: fcnn.Dropout(float("nan"))), ValueError, "probability",
    r"finite number in \[0, 1\)", "nan")
row("Dropout", "p-string", no_tmp(lambda: fcnn.Dropout("0.5")), TypeError, "probability", "number",
    "'0.5'")
row("Dropout", "rng-float", no_tmp(lambda: fcnn.Dropout(0.5, rng=1.5)), TypeError, "Generator")

# -- more element-wise layers, normalization, Standardize (issue 9) -------------
for cls in (fcnn.Identity, fcnn.ELU, fcnn.SiLU, fcnn.Softplus, fcnn.GELU, fcnn.Softmax,
            fcnn.LogSoftmax):
    name = cls.__name__
    row(name, "empty-batch", no_tmp(lambda c=cls: c().forward(np.ones((0, 3)))), ShapeError,
        "non-empty batch", r"\(0, 3\)")
    row(name, "scalar-input", no_tmp(lambda c=cls: c().forward(np.float64(1.0))), ShapeError,
        r"shape \(\)")
    row(name, "nan", no_tmp(lambda c=cls: c().forward(with_value(X6, np.nan))), NonFiniteError,
        name, r"index \(1, 2\)")
    row(name, "strings", no_tmp(lambda c=cls: c().forward("abc")), TypeError, "numeric array", "str")
    row(name, "backward-before-forward", no_tmp(lambda c=cls: c().backward(np.ones((2, 3)))),
        NotReadyError, r"forward\(\) before backward\(\)")
    row(name, "backward-wrong-shape", no_tmp(lambda c=cls: forwarded(c()).backward(
        np.ones((4, 6)))), ShapeError, r"expected dLdy of shape \(6, 4\)", r"got \(4, 6\)")
row("Softplus", "beta-zero", no_tmp(lambda: fcnn.Softplus(0.0)), ValueError, "beta",
    r"\(0, inf\)", "0.0")
row("Softplus", "threshold-string", no_tmp(lambda: fcnn.Softplus(1.0, "20")), TypeError,
    "threshold must be a number")
row("ELU", "alpha-string", no_tmp(lambda: fcnn.ELU("1")), TypeError, "alpha must be a number", "'1'")
row("ELU", "alpha-nan", no_tmp(lambda: fcnn.ELU(float("nan"))), ValueError, "alpha", "finite", "nan")
row("GELU", "approximate-unknown", no_tmp(lambda: fcnn.GELU("erf")), ValueError,
    "approximate must be one of 'none', 'tanh'; got 'erf'")
row("GELU", "approximate-none-object", no_tmp(lambda: fcnn.GELU(None)), ValueError,
    "approximate must be one of", "got None")
for name in ("Softmax", "LogSoftmax"):
    make = getattr(fcnn, name)
    row(name, "dim-0", no_tmp(lambda m=make: m(dim=0)), ValueError, "dim must be one of -1, 1; got 0")
    row(name, "dim-2", no_tmp(lambda m=make: m(dim=2)), ValueError, "dim must be one of -1, 1; got 2")
    row(name, "dim-string", no_tmp(lambda m=make: m(dim="rows")), ValueError, "dim", "'rows'")
    row(name, "1-d-input", no_tmp(lambda m=make: m().forward(np.ones(3))), ShapeError,
        r"\(N, C\)", r"got \(3,\)", r"reshape\(1, -1\)")
    row(name, "3-d-input", no_tmp(lambda m=make: m().forward(np.ones((2, 3, 4)))), ShapeError,
        r"\(N, C\)", r"got \(2, 3, 4\)")

B = "BatchNorm1d"
row(B, "num-features-0", no_tmp(lambda: fcnn.BatchNorm1d(0)), ValueError,
    "num_features must be a positive int, got 0")
row(B, "num-features-float", no_tmp(lambda: fcnn.BatchNorm1d(3.0)), ValueError, "num_features", "3.0")
row(B, "wrong-num-features", no_tmp(lambda: fcnn.BatchNorm1d(3).forward(np.ones((6, 4)))), ShapeError,
    r"BatchNorm1d\(3,", r"expected input of shape \(N, 3\), got \(6, 4\)")
row(B, "3-d-input", no_tmp(lambda: fcnn.BatchNorm1d(3).forward(np.ones((6, 3, 5)))), ShapeError,
    r"\(N, 3\)", r"got \(6, 3, 5\)", r"\(N, C, L\) input is not supported")
row(B, "1-d-input", no_tmp(lambda: fcnn.BatchNorm1d(3).forward(np.ones(3))), ShapeError,
    r"got \(3,\)", r"reshape\(1, -1\)")
row(B, "one-sample-training-batch", no_tmp(lambda: fcnn.BatchNorm1d(3).forward(np.ones((1, 3)))),
    ValueError, "more than 1 value per feature when training", r"shape \(1, 3\)", r"\.eval\(\)")
row(B, "empty-batch", no_tmp(lambda: fcnn.BatchNorm1d(3).forward(np.ones((0, 3)))), ShapeError,
    "non-empty batch", r"\(0, 3\)")
row(B, "nan", no_tmp(lambda: fcnn.BatchNorm1d(4).forward(with_value(X6, np.nan))), NonFiniteError,
    "BatchNorm1d", r"index \(1, 2\)")
row(B, "strings", no_tmp(lambda: fcnn.BatchNorm1d(4).forward(X6.astype(str))), TypeError, "numeric")
row(B, "sample-weight-length", no_tmp(lambda: fcnn.BatchNorm1d(4).forward(X6, sample_weight=np.ones(5))),
    ShapeError, "sample_weight", r"shape \(6,\)", r"got \(5,\)")
row(B, "sample-weight-negative",
    no_tmp(lambda: fcnn.BatchNorm1d(4).forward(X6, sample_weight=np.array([1, 1, -2.0, 1, 1, 1]))),
    ValueError, "sample_weight", ">= 0", "-2.0")
row(B, "sample-weight-nan",
    no_tmp(lambda: fcnn.BatchNorm1d(4).forward(X6, sample_weight=with_value(np.ones(6), np.nan, (2,)))),
    ValueError, "sample_weight", "finite", "nan")
row(B, "sample-weight-all-zero", no_tmp(lambda: fcnn.BatchNorm1d(4).forward(X6, sample_weight=np.zeros(6))),
    ValueError, "sample_weight", "sums to 0")
row(B, "eps-0", no_tmp(lambda: fcnn.BatchNorm1d(3, eps=0)), ValueError, r"eps must be a finite number in \(0")
row(B, "eps-string", no_tmp(lambda: fcnn.BatchNorm1d(3, eps="1e-5")), TypeError, "eps must be a number")
row(B, "momentum-above-1", no_tmp(lambda: fcnn.BatchNorm1d(3, momentum=1.5)), ValueError,
    r"momentum must be a finite number in \[0, 1\]", "1.5")
row(B, "momentum-string", no_tmp(lambda: fcnn.BatchNorm1d(3, momentum="0.1")), TypeError,
    "momentum must be a number")
row(B, "affine-string", no_tmp(lambda: fcnn.BatchNorm1d(3, affine="yes")), ValueError,
    "affine must be one of True, False; got 'yes'")
row(B, "track-running-stats-none", no_tmp(lambda: fcnn.BatchNorm1d(3, track_running_stats=None)),
    ValueError, "track_running_stats must be one of True, False; got None")
row(B, "dtype-int", no_tmp(lambda: fcnn.BatchNorm1d(3, dtype=int)), TypeError, "float32 or float64")
row(B, "backward-before-forward", no_tmp(lambda: fcnn.BatchNorm1d(4).backward(np.ones((6, 4)))),
    NotReadyError, r"forward\(\) before backward\(\)")
row(B, "backward-wrong-shape", no_tmp(lambda: forwarded(fcnn.BatchNorm1d(4)).backward(np.ones((6, 3)))),
    ShapeError, r"expected dLdy of shape \(6, 4\)", r"got \(6, 3\)")

N_ = "LayerNorm"
row(N_, "normalized-shape-2-d", no_tmp(lambda: fcnn.LayerNorm((3, 4))), ValueError,
    "normalized_shape must be an int or a 1-tuple", r"\(3, 4\)")
row(N_, "normalized-shape-0", no_tmp(lambda: fcnn.LayerNorm(0)), ValueError,
    "normalized_shape must be a positive int, got 0")
row(N_, "wrong-num-features", no_tmp(lambda: fcnn.LayerNorm(3).forward(np.ones((6, 4)))), ShapeError,
    r"expected input of shape \(N, 3\), got \(6, 4\)")
row(N_, "eps-negative", no_tmp(lambda: fcnn.LayerNorm(3, eps=-1e-5)), ValueError, "eps", "-1e-05")
row(N_, "elementwise-affine-string", no_tmp(lambda: fcnn.LayerNorm(3, elementwise_affine="no")),
    ValueError, "elementwise_affine must be one of True, False")
row(N_, "bias-string", no_tmp(lambda: fcnn.LayerNorm(3, bias="no")), ValueError,
    "bias must be one of True, False")
row(N_, "dtype-float16", no_tmp(lambda: fcnn.LayerNorm(3, dtype=np.float16)), TypeError,
    "float32 or float64", "float16")
row(N_, "nan", no_tmp(lambda: fcnn.LayerNorm(4).forward(with_value(X6, np.inf))), NonFiniteError,
    "LayerNorm", r"index \(1, 2\)")
row(N_, "backward-before-forward", no_tmp(lambda: fcnn.LayerNorm(4).backward(np.ones((6, 4)))),
    NotReadyError, r"forward\(\) before backward\(\)")

S = "Standardize"
row(S, "scale-zero", no_tmp(lambda: fcnn.Standardize([0.0, 1.0], [1.0, 0.0])), ValueError,
    "scale must be positive and finite, got 0.0 at index 1", "StandardScaler")
row(S, "scale-negative", no_tmp(lambda: fcnn.Standardize([0.0], [-2.0])), ValueError,
    "positive", "-2.0 at index 0")
row(S, "scale-nan", no_tmp(lambda: fcnn.Standardize([0.0, 0.0], [1.0, np.nan])), ValueError,
    "positive and finite", "nan")
row(S, "mean-nan", no_tmp(lambda: fcnn.Standardize([np.nan], [1.0])), NonFiniteError, "mean", "NaN")
row(S, "shape-mismatch", no_tmp(lambda: fcnn.Standardize([0.0, 0.0], [1.0, 1.0, 1.0])), ShapeError,
    r"same shape", r"\(2,\) and \(3,\)")
row(S, "mean-2-d", no_tmp(lambda: fcnn.Standardize(np.zeros((2, 2)), np.ones((2, 2)))), ShapeError,
    "1-D", r"\(2, 2\)")
row(S, "only-mean", no_tmp(lambda: fcnn.Standardize([0.0, 1.0])), ValueError, "both mean and scale",
    "only mean")
row(S, "nothing", no_tmp(lambda: fcnn.Standardize()), ValueError, "needs mean and scale", "n_features")
row(S, "n-features-disagrees", no_tmp(lambda: fcnn.Standardize([0.0], [1.0], n_features=2)),
    ShapeError, "n_features=2", "1 values")
row(S, "mean-strings", no_tmp(lambda: fcnn.Standardize(["a"], [1.0])), TypeError, "mean", "numeric")
row(S, "wrong-width", no_tmp(lambda: fcnn.Standardize([0.0, 0.0], [1.0, 1.0]).forward(X6)), ShapeError,
    r"\(N, 2\)", r"got \(6, 4\)")
row(S, "backward-before-forward", no_tmp(lambda: fcnn.Standardize(n_features=2).backward(np.ones((3, 2)))),
    NotReadyError, r"forward\(\) before backward\(\)")
row("mlp", "unknown-norm", no_tmp(lambda: fcnn.mlp([4, 5, 3], norm="group")), ValueError,
    "norm must be one of None, 'batch', 'layer'; got 'group'")

# -- losses -------------------------------------------------------------------
LOGITS = np.zeros((6, 3))
for loss_name, make in (("NLLLoss", fcnn.NLLLoss), ("CrossEntropyLoss", fcnn.CrossEntropyLoss)):
    row(loss_name, "labels-column", no_tmp(lambda m=make: m()(LOGITS, Y6[:, None])), LabelError,
        r"shape \(6,\), got \(6, 1\)", r"y\.ravel\(\)")
row("NLLLoss", "one-hot-labels", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, np.eye(3)[Y6])), LabelError,
    "one-hot", r"argmax\(axis=1\)")
row("NLLLoss", "label-out-of-range", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6 + 1)), LabelError,
    "label 3 is out of range", r"\[0, 3\)")
row("NLLLoss", "negative-label", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6 - 1)), LabelError,
    "label -1", r"\[0, 3\)")
row("NLLLoss", "non-integer-labels", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6 + 0.5)), LabelError,
    "integer class labels", "0.5")
row("NLLLoss", "nan-labels", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, with_value(Y6, np.nan, (2,)))),
    NonFiniteError, "labels", "NaN")
row("NLLLoss", "string-labels", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6.astype(str))), LabelError,
    "integer class labels", "LabelEncoder")
row("NLLLoss", "object-labels", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6.astype(object))),
    LabelError, "dtype object")
row("NLLLoss", "complex-labels", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6.astype(complex))),
    LabelError, "complex128")
row("NLLLoss", "huge-float-label", no_tmp(lambda: fcnn.NLLLoss()(LOGITS[:1], np.array([1e20]))),
    LabelError, "label 1e\\+20 is out of range")
row("NLLLoss", "label-count", no_tmp(lambda: fcnn.NLLLoss()(LOGITS, Y6[:5])), ShapeError,
    "6 predictions but 5 labels")
row("NLLLoss", "scalar-label", no_tmp(lambda: fcnn.NLLLoss()(LOGITS[:1], 0)), LabelError,
    r"shape \(1,\), got shape \(\)")
row("NLLLoss", "1-d-logits", no_tmp(lambda: fcnn.NLLLoss()(np.zeros(3), [0])), ShapeError,
    r"\(N, C\)", r"reshape\(1, -1\)")
row("NLLLoss", "3-d-logits", no_tmp(lambda: fcnn.NLLLoss()(np.zeros((2, 2, 3)), [0, 1])),
    ShapeError, r"\(N, C\)", r"\(2, 2, 3\)")
row("NLLLoss", "empty-batch", no_tmp(lambda: fcnn.NLLLoss()(np.zeros((0, 3)), [])), ShapeError,
    r"N, C >= 1", r"\(0, 3\)")
row("NLLLoss", "no-classes", no_tmp(lambda: fcnn.NLLLoss()(np.zeros((2, 0)), [0, 0])), ShapeError,
    r"\(2, 0\)")
row("NLLLoss", "nan-logits", no_tmp(lambda: fcnn.NLLLoss()(with_value(LOGITS, np.nan), Y6)),
    NonFiniteError, "logits", r"\(1, 2\)")
row("NLLLoss", "inf-logits", no_tmp(lambda: fcnn.NLLLoss()(with_value(LOGITS, np.inf), Y6)),
    NonFiniteError, "logits", "infinite")
row("NLLLoss", "string-logits", no_tmp(lambda: fcnn.NLLLoss()(LOGITS.astype(str), Y6)), TypeError,
    "numeric")
row("NLLLoss", "backward-before-forward", no_tmp(lambda: fcnn.NLLLoss().backward()), NotReadyError,
    r"forward\(\) before backward\(\)")
row("MSELoss", "column-vs-flat", no_tmp(lambda: fcnn.MSELoss()(np.zeros((6, 1)), np.zeros(6))),
    ShapeError, r"same shape, got \(6, 1\) and \(6,\)", r"reshape\(-1, 1\)")
row("MSELoss", "flat-vs-column", no_tmp(lambda: fcnn.MSELoss()(np.zeros(6), np.zeros((6, 1)))),
    ShapeError, r"\(6,\) and \(6, 1\)")
row("MSELoss", "row-broadcast", no_tmp(lambda: fcnn.MSELoss()(np.zeros((6, 3)), np.zeros(3))),
    ShapeError, r"\(6, 3\) and \(3,\)")
row("MSELoss", "nan-target", no_tmp(lambda: fcnn.MSELoss()(X6, with_value(X6, np.nan))),
    NonFiniteError, "target", r"\(1, 2\)")
row("MSELoss", "inf-pred", no_tmp(lambda: fcnn.MSELoss()(with_value(X6, np.inf), X6)),
    NonFiniteError, "pred")
row("MSELoss", "empty", no_tmp(lambda: fcnn.MSELoss()(np.zeros((0, 2)), np.zeros((0, 2)))),
    ShapeError, "empty", r"\(0, 2\)")
row("MSELoss", "strings", no_tmp(lambda: fcnn.MSELoss()(X6, X6.astype(str))), TypeError, "numeric")
row("MSELoss", "backward-before-forward", no_tmp(lambda: fcnn.MSELoss().backward()), NotReadyError,
    r"forward\(\) before backward\(\)")
row("MSELoss", "unknown-reduction", no_tmp(lambda: fcnn.MSELoss("avg")), ValueError,
    "'mean', 'sum', 'none'", "'avg'")
row("mse", "column-vs-flat", no_tmp(lambda: fcnn.mse(np.zeros((6, 1)), np.zeros(6))), ShapeError,
    r"\(6, 1\) and \(6,\)")
row("mse", "nan-target", no_tmp(lambda: fcnn.mse(X6, with_value(X6, np.nan))), NonFiniteError,
    "target")
row("grad_mse", "row-broadcast", no_tmp(lambda: fcnn.grad_mse(np.zeros((6, 3)), np.zeros(3))),
    ShapeError, r"\(6, 3\) and \(3,\)")
row("grad_mse", "nan-pred", no_tmp(lambda: fcnn.grad_mse(with_value(X6, np.nan), X6)),
    NonFiniteError, "pred")
for fn in (fcnn.softmax, fcnn.log_softmax):
    row(fn.__name__, "1-d-logits", no_tmp(lambda f=fn: f(np.zeros(3))), ShapeError, r"\(N, C\)")
    row(fn.__name__, "string-logits", no_tmp(lambda f=fn: f(np.array([["a", "b"]]))), TypeError,
        "numeric")
    row(fn.__name__, "inf-logits", no_tmp(lambda f=fn: f(np.array([[np.inf, 0.0]]))),
        NonFiniteError, "infinite")

# -- losses: class weights, label smoothing, reductions, sample weights (issue 9) -------------
Z63 = np.zeros((6, 3))
for loss_name, make in (("NLLLoss", fcnn.NLLLoss), ("CrossEntropyLoss", fcnn.CrossEntropyLoss)):
    row(loss_name, "weight-wrong-length", no_tmp(lambda m=make: m(weight=[1.0, 2.0])(LOGITS, Y6)),
        ShapeError, "weight has 2 entries", "3 classes")
    row(loss_name, "label-out-of-range-with-weight",
        no_tmp(lambda m=make: m(weight=[1.0, 2.0, 3.0])(LOGITS, Y6 + 1)), LabelError,
        "label 3 is out of range", r"\[0, 3\)")
    row(loss_name, "weight-negative", no_tmp(lambda m=make: m(weight=[1.0, -1.0, 1.0])), ValueError,
        "weight must be >= 0", "-1.0")
    row(loss_name, "weight-nan", no_tmp(lambda m=make: m(weight=[1.0, np.nan, 1.0])), NonFiniteError,
        "weight must be finite", "nan")
    row(loss_name, "weight-2-d", no_tmp(lambda m=make: m(weight=[[1.0, 2.0, 3.0]])), ShapeError,
        "1-D", r"\(1, 3\)")
    row(loss_name, "weight-string", no_tmp(lambda m=make: m(weight="balanced")), TypeError,
        "non-negative numbers", "'balanced'")
    row(loss_name, "label-smoothing-above-1", no_tmp(lambda m=make: m(label_smoothing=1.5)),
        ValueError, "label_smoothing", r"\[0, 1\]", "1.5")
    row(loss_name, "label-smoothing-negative", no_tmp(lambda m=make: m(label_smoothing=-0.1)),
        ValueError, "label_smoothing", r"\[0, 1\]", "-0.1")
    row(loss_name, "label-smoothing-string", no_tmp(lambda m=make: m(label_smoothing="0.1")),
        TypeError, "label_smoothing must be a number", "'0.1'")
    row(loss_name, "unknown-reduction", no_tmp(lambda m=make: m(reduction="avg")), ValueError,
        "'mean', 'sum', 'none'", "'avg'")
    row(loss_name, "class-weights-sum-to-0",
        no_tmp(lambda m=make: m(weight=[0.0, 0.0, 1.0])(LOGITS[:2], Y6[:2])), ValueError,
        "sum to 0", "weight")
    row(loss_name, "sample-weight-length", no_tmp(lambda m=make: m()(LOGITS, Y6, np.ones(5))),
        ShapeError, r"sample_weight of shape \(6,\), got \(5,\)")
    row(loss_name, "sample-weight-negative",
        no_tmp(lambda m=make: m()(LOGITS, Y6, -np.ones(6))), ValueError, "sample_weight must be >= 0",
        "-1.0")
    row(loss_name, "sample-weight-nan",
        no_tmp(lambda m=make: m()(LOGITS, Y6, with_value(np.ones(6), np.nan, (2,)))), NonFiniteError,
        "sample_weight", r"\(2,\)")
    row(loss_name, "none-grad-output-shape",
        no_tmp(lambda m=make: forwarded_loss(m(reduction="none"), LOGITS, Y6).backward(np.ones(5))),
        ShapeError, r"grad_output of shape \(6,\)", r"got \(5,\)")

B = "BCEWithLogitsLoss"
row(B, "pos-weight-wrong-length", no_tmp(lambda: fcnn.BCEWithLogitsLoss(pos_weight=[1.0, 2.0])(Z63, Z63)),
    ShapeError, r"pos_weight must have one entry per output \(3\)", "got 2")
row(B, "pos-weight-length-for-binary",
    no_tmp(lambda: fcnn.BCEWithLogitsLoss(pos_weight=[1.0, 2.0])(np.zeros(6), np.zeros(6))),
    ShapeError, r"one entry per output \(1\)", "got 2")
row(B, "pos-weight-2-d", no_tmp(lambda: fcnn.BCEWithLogitsLoss(pos_weight=[[1.0, 2.0, 3.0]])),
    ShapeError, "pos_weight must be a 1-D array", r"\(1, 3\)")
row(B, "pos-weight-negative", no_tmp(lambda: fcnn.BCEWithLogitsLoss(pos_weight=[-2.0])), ValueError,
    "pos_weight must be >= 0", "-2.0")
row(B, "pos-weight-nan", no_tmp(lambda: fcnn.BCEWithLogitsLoss(pos_weight=[np.nan])), NonFiniteError,
    "pos_weight must be finite")
row(B, "weight-does-not-broadcast", no_tmp(lambda: fcnn.BCEWithLogitsLoss([1.0, 2.0])(Z63, Z63)),
    ShapeError, r"weight of shape \(2,\) does not broadcast", r"\(6, 3\)")
row(B, "weight-negative", no_tmp(lambda: fcnn.BCEWithLogitsLoss([1.0, -0.5])), ValueError,
    "weight must be >= 0", "-0.5")
row(B, "target-above-1", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(Z63, with_value(Z63, 2.0))),
    LabelError, r"targets in \[0, 1\]", r"2\.0 at index \(1, 2\)")
row(B, "target-negative", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(Z63, with_value(Z63, -1.0))),
    LabelError, r"targets in \[0, 1\]", "-1.0")
row(B, "nan-target", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(Z63, with_value(Z63, np.nan))),
    NonFiniteError, "target")
row(B, "class-labels-for-multilabel", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(Z63, Y6)), ShapeError,
    r"0/1 targets of shape \(6, 3\)", "CrossEntropyLoss")
row(B, "column-vs-flat", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(np.zeros((6, 1)), np.zeros(6))),
    ShapeError, r"\(6, 1\) and \(6,\)", r"reshape\(-1, 1\)")
row(B, "3-d-logits", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))),
    ShapeError, r"\(N,\), \(N, 1\) or \(N, K\)", r"\(2, 2, 3\)")
row(B, "nan-logits", no_tmp(lambda: fcnn.BCEWithLogitsLoss()(with_value(Z63, np.nan), Z63)),
    NonFiniteError, "logits")
row(B, "unknown-reduction", no_tmp(lambda: fcnn.BCEWithLogitsLoss(reduction="avg")), ValueError,
    "'mean', 'sum', 'none'", "'avg'")
row(B, "reduction-positional", no_tmp(lambda: fcnn.BCEWithLogitsLoss(None, "sum")), TypeError,
    "positional")
row(B, "backward-before-forward", no_tmp(lambda: fcnn.BCEWithLogitsLoss().backward()), NotReadyError,
    r"forward\(\) before backward\(\)")
for loss_name, make in (("L1Loss", fcnn.L1Loss), ("HuberLoss", fcnn.HuberLoss), ("MSELoss", fcnn.MSELoss)):
    row(loss_name, "sample-weight-length", no_tmp(lambda m=make: m()(X6, X6, np.ones(4))), ShapeError,
        r"sample_weight of shape \(6,\), got \(4,\)")
    if loss_name == "MSELoss":
        continue
    row(loss_name, "column-vs-flat", no_tmp(lambda m=make: m()(np.zeros((6, 1)), np.zeros(6))),
        ShapeError, r"same shape, got \(6, 1\) and \(6,\)", r"reshape\(-1, 1\)")
    row(loss_name, "row-broadcast", no_tmp(lambda m=make: m()(np.zeros((6, 3)), np.zeros(3))),
        ShapeError, r"\(6, 3\) and \(3,\)")
    row(loss_name, "nan-pred", no_tmp(lambda m=make: m()(with_value(X6, np.nan), X6)), NonFiniteError,
        "pred")
    row(loss_name, "unknown-reduction", no_tmp(lambda m=make: m("avg")), ValueError,
        "'mean', 'sum', 'none'", "'avg'")
    row(loss_name, "backward-before-forward", no_tmp(lambda m=make: m().backward()), NotReadyError,
        r"forward\(\) before backward\(\)")
H = "HuberLoss"
row(H, "delta-zero", no_tmp(lambda: fcnn.HuberLoss(delta=0)), ValueError, "delta", r"\(0, inf\)", "got 0")
row(H, "delta-negative", no_tmp(lambda: fcnn.HuberLoss(delta=-1.0)), ValueError, "delta", "-1.0")
row(H, "delta-nan", no_tmp(lambda: fcnn.HuberLoss(delta=float("nan"))), ValueError, "delta", "nan")
row(H, "delta-string", no_tmp(lambda: fcnn.HuberLoss(delta="1")), TypeError, "delta must be a number",
    "'1'")

# -- networks -----------------------------------------------------------------
S = "Sequential"
row(S, "1-d-input", no_tmp(lambda: net().forward(np.ones(4))), ShapeError, "2-D",
    r"reshape\(1, -1\)")
row(S, "3-d-input", no_tmp(lambda: net().forward(np.ones((1, 6, 4)))), ShapeError, "2-D",
    r"\(1, 6, 4\)")
row(S, "wrong-width", no_tmp(lambda: net().forward(np.ones((6, 7)))), ShapeError,
    r"Linear\(4 -> 5\) expected input of shape \(N, 4\), got \(6, 7\)")
row(S, "empty-batch", no_tmp(lambda: net().forward(np.ones((0, 4)))), ShapeError, "non-empty")
row(S, "nan", no_tmp(lambda: net().forward(with_value(X6, np.nan))), NonFiniteError,
    "Sequential", r"index \(1, 2\)")
row(S, "strings", no_tmp(lambda: net().forward(X6.astype(str))), TypeError, "Sequential", "numeric")
row(S, "float64-beyond-float32", no_tmp(lambda: net(np.float32).forward(with_value(X6, -1e39))),
    NonFiniteError, "does not fit in float32")
row(S, "backward-before-forward", no_tmp(lambda: net().backward(np.ones((6, 3)))), NotReadyError,
    r"forward\(\) before backward\(\)")
row(S, "layers-that-do-not-chain", no_tmp(lambda: fcnn.Sequential(
    fcnn.Linear(4, 3), fcnn.Linear(2, 1)).forward(X6)), ShapeError,
    r"Linear\(2 -> 1\) expected input of shape \(N, 2\), got \(6, 3\)")
row(S, "not-a-layer", no_tmp(lambda: fcnn.Sequential(fcnn.Linear(4, 3), "relu")), TypeError,
    "item 1", "forward/backward", "str")
row("mlp", "one-size", no_tmp(lambda: fcnn.mlp([4])), ValueError, "at least an input and an output")
row("mlp", "zero-width", no_tmp(lambda: fcnn.mlp([4, 0, 3])), ValueError, "positive int, got 0")
row("mlp", "unknown-activation", no_tmp(lambda: fcnn.mlp([4, 3], "swish")), ValueError,
    "'swish'", "relu", "tanh")
row("mlp", "dropout-one", no_tmp(lambda: fcnn.mlp([4, 3, 3], dropout=1.0)), ValueError, r"\[0, 1\)")
row("mlp", "dtype-int", no_tmp(lambda: fcnn.mlp([4, 3], dtype=np.int32)), TypeError, "float32")
row("mlp", "sizes-not-a-list", no_tmp(lambda: fcnn.mlp(4)), TypeError, "sizes", r"\[4, 100, 3\]|list")
row("NeuralNetwork", "hidden-0", no_tmp(lambda: fcnn.NeuralNetwork(4, 0, 3)), ValueError,
    "positive int, got 0")
row("NeuralNetwork", "float-size", no_tmp(lambda: fcnn.NeuralNetwork(4.5, 8, 3)), ValueError, "4.5")

# -- Parameter ----------------------------------------------------------------
P = "Parameter"


def assign(target: Any, attribute: str, value: Any) -> Callable[[Path], Any]:
    return no_tmp(lambda: setattr(target(), attribute, value))


row(P, "strings", no_tmp(lambda: fcnn.Parameter(np.array(["a", "b"]))), TypeError,
    "numeric", "<U1")
row(P, "objects", no_tmp(lambda: fcnn.Parameter([None, 1.0])), TypeError, "numeric", "object")
row(P, "complex", no_tmp(lambda: fcnn.Parameter(np.ones(2, complex))), TypeError, "complex128")
row(P, "assign-wrong-shape", assign(lambda: fcnn.Parameter(np.zeros((2, 2))), "weights",
    np.ones((3, 2))), ShapeError, r"shape \(3, 2\)", r"shape \(2, 2\)", "new Parameter")
row(P, "assign-grad-wrong-shape", assign(lambda: fcnn.Parameter(np.zeros((2, 2))), "grad",
    np.ones(4)), ShapeError, r"Parameter\.grad")
row(P, "assign-grad-strings", assign(lambda: fcnn.Parameter(np.zeros(2)), "grad",
    np.array(["a", "b"])), TypeError, r"Parameter\.grad must be numeric")
row(P, "assign-beyond-float32", assign(lambda: fcnn.Parameter(np.zeros(2, np.float32)), "weights",
    np.array([1.0, 1e300])), NonFiniteError, "1e\\+300", "float32")

# -- optimizers ---------------------------------------------------------------
for opt in (fcnn.SGD, fcnn.Adam, fcnn.AdamW, fcnn.RMSprop, fcnn.Adagrad):
    name = opt.__name__
    row(name, "negative-lr", no_tmp(lambda o=opt: o(params(), lr=-0.1)), ValueError,
        name, r"lr must be a finite number in \[0, inf\)", "-0.1")
    row(name, "nan-lr", no_tmp(lambda o=opt: o(params(), lr=float("nan"))), ValueError,
        "lr must be a finite number")
    row(name, "string-lr", no_tmp(lambda o=opt: o(params(), lr="0.1")), TypeError,
        "lr must be a number", "'0.1'")
    row(name, "empty-parameter-list", no_tmp(lambda o=opt: o([], lr=0.1)), ValueError,
        "empty parameter list")
row("SGD", "inf-lr", no_tmp(lambda: fcnn.SGD(params(), lr=float("inf"))), ValueError, "finite")
row("SGD", "none-lr", no_tmp(lambda: fcnn.SGD(params(), lr=None)), TypeError, "lr must be a number")
row("SGD", "negative-momentum", no_tmp(lambda: fcnn.SGD(params(), lr=0.1, momentum=-0.9)),
    ValueError, "momentum", r"in \[0, inf\)")
row("SGD", "nesterov-without-momentum", no_tmp(lambda: fcnn.SGD(params(), lr=0.1, nesterov=True)),
    ValueError, "nesterov", "momentum > 0")
row("SGD", "nan-dampening", no_tmp(lambda: fcnn.SGD(params(), lr=0.1, dampening=float("nan"))),
    ValueError, "dampening", "finite")
row("SGD", "negative-weight-decay", no_tmp(lambda: fcnn.SGD(params(), lr=0.1, weight_decay=-1)),
    ValueError, "weight_decay")
row("SGD", "a-model-not-its-parameters", no_tmp(lambda: fcnn.SGD(net(), lr=0.1)), TypeError,
    "item 0 is not a Parameter", "Linear")
row("SGD", "arrays-not-parameters", no_tmp(lambda: fcnn.SGD([np.zeros(3)], lr=0.1)), TypeError,
    "not a Parameter", "ndarray")
row("SGD", "none-parameters", no_tmp(lambda: fcnn.SGD(None, lr=0.1)), TypeError,
    r"model\.parameters\(\)")
row("Adam", "beta1-one", no_tmp(lambda: fcnn.Adam(params(), betas=(1.0, 0.999))), ValueError,
    r"betas\[0\] must be a finite number in \[0, 1\)")
row("Adam", "beta2-negative", no_tmp(lambda: fcnn.Adam(params(), betas=(0.9, -0.1))), ValueError,
    r"betas\[1\]")
row("Adam", "betas-triple", no_tmp(lambda: fcnn.Adam(params(), betas=(0.9, 0.9, 0.9))), TypeError,
    r"pair \(beta1, beta2\)")
row("Adam", "betas-scalar", no_tmp(lambda: fcnn.Adam(params(), betas=0.9)), TypeError, "pair")
row("Adam", "negative-eps", no_tmp(lambda: fcnn.Adam(params(), eps=-1e-8)), ValueError, "eps")
row("AdamW", "negative-weight-decay", no_tmp(lambda: fcnn.AdamW(params(), weight_decay=-0.01)),
    ValueError, "weight_decay")
row("RMSprop", "alpha-above-one", no_tmp(lambda: fcnn.RMSprop(params(), alpha=2)), ValueError,
    r"alpha must be a finite number in \[0, 1\]")
row("RMSprop", "alpha-string", no_tmp(lambda: fcnn.RMSprop(params(), alpha="x")), TypeError,
    "alpha must be a number")
row("RMSprop", "negative-momentum", no_tmp(lambda: fcnn.RMSprop(params(), momentum=-1)),
    ValueError, "momentum")

# -- Adagrad, amsgrad, flags, param groups, optimizer state dicts ------------------------------
ADAGRAD = "Adagrad"
row(ADAGRAD, "negative-lr-decay", no_tmp(lambda: fcnn.Adagrad(params(), lr_decay=-1)), ValueError,
    "lr_decay", r"in \[0, inf\)", "-1")
row(ADAGRAD, "negative-weight-decay", no_tmp(lambda: fcnn.Adagrad(params(), weight_decay=-0.1)),
    ValueError, "weight_decay")
row(ADAGRAD, "string-weight-decay", no_tmp(lambda: fcnn.Adagrad(params(), weight_decay="0")), TypeError,
    "weight_decay must be a number")
row(ADAGRAD, "negative-initial-accumulator", no_tmp(
    lambda: fcnn.Adagrad(params(), initial_accumulator_value=-0.1)), ValueError,
    "initial_accumulator_value", r"\[0, inf\)")
row(ADAGRAD, "nan-eps", no_tmp(lambda: fcnn.Adagrad(params(), eps=float("nan"))), ValueError, "eps", "finite")
row("Adam", "amsgrad-string", no_tmp(lambda: fcnn.Adam(params(), amsgrad="yes")), ValueError,
    "amsgrad must be one of False, True", "'yes'")
row("AdamW", "amsgrad-two", no_tmp(lambda: fcnn.AdamW(params(), amsgrad=2)), ValueError, "amsgrad")
row("SGD", "nesterov-string", no_tmp(lambda: fcnn.SGD(params(), lr=0.1, momentum=0.9, nesterov="no")),
    ValueError, "nesterov must be one of False, True")
row("RMSprop", "centered-string", no_tmp(lambda: fcnn.RMSprop(params(), centered="no")), ValueError,
    "centered")
row("SGD", "torch-style-param-groups", no_tmp(lambda: fcnn.SGD([{"params": params()}], lr=0.1)),
    TypeError, "one parameter group")
row("SGD", "set-negative-lr", assign(lambda: fcnn.SGD(params(), lr=0.1), "lr", -0.5), ValueError,
    r"lr must be a finite number in \[0, inf\)")


def _stepped_adam() -> fcnn.Adam:
    p = params()
    opt = fcnn.Adam(p)
    p[0].grad = np.ones(3)
    opt.step()
    return opt


OPT_LOAD = "Optimizer.load_state_dict"
row(OPT_LOAD, "another-type", no_tmp(lambda: fcnn.SGD(params(), lr=0.1).load_state_dict(
    _stepped_adam().state_dict())), ValueError, "'adam' optimizer, not 'sgd'")
row(OPT_LOAD, "another-shape", no_tmp(lambda: fcnn.Adam([fcnn.Parameter(np.zeros(4))]).load_state_dict(
    _stepped_adam().state_dict())), ValueError, r"shape \(3,\)", r"shape \(4,\)")
row(OPT_LOAD, "another-count", no_tmp(lambda: fcnn.Adam(params() + params()).load_state_dict(
    _stepped_adam().state_dict())), ValueError, "for 1 parameters", "has 2")
row(OPT_LOAD, "not-a-dict", no_tmp(lambda: fcnn.Adam(params()).load_state_dict([1])), TypeError,
    "'state' and 'param_groups'")
FLATTEN = "optim.flatten_state_dict"
row(FLATTEN, "not-a-dict", no_tmp(lambda: fcnn.optim.flatten_state_dict([1])), TypeError, "expected a dict")
row(FLATTEN, "an-object-inside", no_tmp(lambda: fcnn.optim.flatten_state_dict({"a": {"b": object()}})),
    TypeError, "'a.b'", "neither JSON nor safetensors")
row("optim.unflatten_state_dict", "array-missing", no_tmp(lambda: fcnn.optim.unflatten_state_dict(
    {"w": {"__array__": "w"}}, {})), ValueError, "'w' is missing")

# -- learning-rate schedulers -----------------------------------------------------------------
LRS = fcnn.optim.lr_scheduler


def _sgdm() -> fcnn.SGD:
    return fcnn.SGD(params(), lr=0.1, momentum=0.9)


for _name, _make in (("StepLR", lambda o: LRS.StepLR(o, 3)),
                     ("MultiStepLR", lambda o: LRS.MultiStepLR(o, [2])),
                     ("ExponentialLR", lambda o: LRS.ExponentialLR(o, 0.9)),
                     ("CosineAnnealingLR", lambda o: LRS.CosineAnnealingLR(o, 10)),
                     ("LinearLR", LRS.LinearLR), ("CosineAnnealingWarmRestarts",
                                                  lambda o: LRS.CosineAnnealingWarmRestarts(o, 5)),
                     ("OneCycleLR", lambda o: LRS.OneCycleLR(o, 0.1, total_steps=10)),
                     ("ReduceLROnPlateau", LRS.ReduceLROnPlateau),
                     ("SequentialLR", lambda o: LRS.SequentialLR(o, [], []))):
    row(f"lr_scheduler.{_name}", "not-an-fcnn-optimizer", no_tmp(lambda m=_make: m("sgd")), TypeError,
        "expects an fcnn optimizer", "builtins.str")
SCH_STEP = "lr_scheduler.StepLR"
row(SCH_STEP, "step-size-0", no_tmp(lambda: LRS.StepLR(_sgdm(), step_size=0)), ValueError,
    "step_size must be a positive int, got 0")
row(SCH_STEP, "step-size-float", no_tmp(lambda: LRS.StepLR(_sgdm(), step_size=2.5)),
    ValueError, "positive int")
row(SCH_STEP, "gamma-string", no_tmp(lambda: LRS.StepLR(_sgdm(), 3, gamma="0.1")), TypeError,
    "gamma must be a number")
row(SCH_STEP, "gamma-negative", no_tmp(lambda: LRS.StepLR(_sgdm(), 3, gamma=-1)), ValueError, "gamma")
row(SCH_STEP, "last-epoch-minus-2", no_tmp(lambda: LRS.StepLR(_sgdm(), 3, last_epoch=-2)), ValueError,
    "last_epoch must be an int >= -1")
row(SCH_STEP, "resume-without-initial-lr", no_tmp(lambda: LRS.StepLR(_sgdm(), 3, last_epoch=5)), ValueError,
    "'initial_lr'", "load the optimizer's state dict first")
row(SCH_STEP, "step-to-negative-epoch", no_tmp(lambda: LRS.StepLR(_sgdm(), 3).step(-3)), ValueError,
    "epoch must be an int >= 0")
row(SCH_STEP, "load-another-class", no_tmp(lambda: LRS.StepLR(_sgdm(), 3).load_state_dict(
    LRS.ExponentialLR(_sgdm(), 0.5).state_dict())), ValueError, "not a StepLR's", "missing ..step_size")
row(SCH_STEP, "load-not-a-dict", no_tmp(lambda: LRS.StepLR(_sgdm(), 3).load_state_dict("state")), TypeError,
    "expected a dict")
SCH_MULTI = "lr_scheduler.MultiStepLR"
row(SCH_MULTI, "milestones-int", no_tmp(lambda: LRS.MultiStepLR(_sgdm(), 30)), TypeError,
    "milestones must be a list of epoch numbers")
row(SCH_MULTI, "milestone-negative", no_tmp(lambda: LRS.MultiStepLR(_sgdm(), [10, -5])), ValueError,
    "milestones", "-5")
row(SCH_MULTI, "milestone-float", no_tmp(lambda: LRS.MultiStepLR(_sgdm(), [2.5])), ValueError, "2.5")
row(SCH_MULTI, "gamma-nan", no_tmp(lambda: LRS.MultiStepLR(_sgdm(), [2], gamma=float("nan"))), ValueError,
    "gamma must be a finite number")
SCH_EXP = "lr_scheduler.ExponentialLR"
row(SCH_EXP, "gamma-none", no_tmp(lambda: LRS.ExponentialLR(_sgdm(), None)),
    TypeError, "gamma must be a number")
row(SCH_EXP, "gamma-inf", no_tmp(lambda: LRS.ExponentialLR(_sgdm(), float("inf"))), ValueError, "finite")
SCH_COS = "lr_scheduler.CosineAnnealingLR"
row(SCH_COS, "t-max-0", no_tmp(lambda: LRS.CosineAnnealingLR(_sgdm(), 0)),
    ValueError, "T_max must be a positive int")
row(SCH_COS, "t-max-float", no_tmp(lambda: LRS.CosineAnnealingLR(_sgdm(), 10.5)), ValueError, "T_max")
row(SCH_COS, "eta-min-negative", no_tmp(lambda: LRS.CosineAnnealingLR(_sgdm(), 10, eta_min=-1)), ValueError,
    "eta_min")
SCH_LINEAR = "lr_scheduler.LinearLR"
row(SCH_LINEAR, "start-factor-0", no_tmp(lambda: LRS.LinearLR(_sgdm(), start_factor=0)), ValueError,
    r"start_factor must be a finite number in \(0, 1\]")
row(SCH_LINEAR, "start-factor-2", no_tmp(lambda: LRS.LinearLR(_sgdm(), start_factor=2)),
    ValueError, "start_factor")
row(SCH_LINEAR, "end-factor-negative", no_tmp(lambda: LRS.LinearLR(_sgdm(), end_factor=-0.5)), ValueError,
    r"end_factor must be a finite number in \[0, 1\]")
row(SCH_LINEAR, "total-iters-0", no_tmp(lambda: LRS.LinearLR(_sgdm(), total_iters=0)),
    ValueError, "total_iters")
SCH_ONECYCLE = "lr_scheduler.OneCycleLR"
row(SCH_ONECYCLE, "no-length", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1)), ValueError,
    "total_steps, or both epochs and steps_per_epoch")
row(SCH_ONECYCLE, "total-steps-0", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, total_steps=0)), ValueError,
    "total_steps must be a positive int")
row(SCH_ONECYCLE, "epochs-0", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, epochs=0, steps_per_epoch=5)),
    ValueError,
    "epochs must be a positive int")
row(SCH_ONECYCLE, "steps-per-epoch-float", no_tmp(
    lambda: LRS.OneCycleLR(_sgdm(), 0.1, epochs=2, steps_per_epoch=2.5)),
    ValueError, "steps_per_epoch")
row(SCH_ONECYCLE, "pct-start-above-1", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, pct_start=1.5)),
    ValueError,
    r"pct_start must be a finite number in \[0, 1\]")
row(SCH_ONECYCLE, "anneal-strategy", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, anneal_strategy="exp")),
    ValueError, "'cos', 'linear'", "'exp'")
row(SCH_ONECYCLE, "cycle-momentum-without-momentum", no_tmp(
    lambda: LRS.OneCycleLR(fcnn.Adagrad(params()), 0.1, 10)), ValueError, "momentum or betas",
    "cycle_momentum=False")
row(SCH_ONECYCLE, "cycle-momentum-string", no_tmp(
    lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, cycle_momentum="yes")),
    ValueError, "cycle_momentum must be one of False, True")
row(SCH_ONECYCLE, "max-lr-two-for-one-group", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), [0.1, 0.2], 10)),
    ValueError,
    r"one value per param group \(1\), got 2")
row(SCH_ONECYCLE, "max-lr-0", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0, 10)),
    ValueError, r"max_lr .*\(0, inf\)")
row(SCH_ONECYCLE, "div-factor-0", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, div_factor=0)), ValueError,
    "div_factor")
row(SCH_ONECYCLE, "final-div-factor-negative", no_tmp(
    lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, final_div_factor=-1)),
    ValueError, "final_div_factor")
row(SCH_ONECYCLE, "base-momentum-string", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, base_momentum="x")),
    TypeError, "base_momentum must be a number")
row(SCH_ONECYCLE, "max-momentum-negative", no_tmp(
    lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, max_momentum=-0.9)),
    ValueError, "max_momentum")
row(SCH_ONECYCLE, "three-phase-float", no_tmp(lambda: LRS.OneCycleLR(_sgdm(), 0.1, 10, three_phase=0.5)),
    ValueError,
    "three_phase")


def _one_cycle_past_the_end() -> None:
    sched = LRS.OneCycleLR(_sgdm(), 0.1, total_steps=2)
    for _ in range(3):
        sched.step()


row(SCH_ONECYCLE, "step-past-the-end", no_tmp(_one_cycle_past_the_end), ValueError,
    "tried to step 3 times", "total steps is 2")
SCH_WARM = "lr_scheduler.CosineAnnealingWarmRestarts"
row(SCH_WARM, "t0-0", no_tmp(lambda: LRS.CosineAnnealingWarmRestarts(_sgdm(), 0)), ValueError,
    "T_0 must be a positive int")
row(SCH_WARM, "t-mult-0", no_tmp(lambda: LRS.CosineAnnealingWarmRestarts(_sgdm(), 5, T_mult=0)), ValueError,
    "T_mult must be a positive int")
row(SCH_WARM, "t-mult-float", no_tmp(lambda: LRS.CosineAnnealingWarmRestarts(_sgdm(), 5, T_mult=1.5)),
    ValueError,
    "T_mult")
row(SCH_WARM, "eta-min-string", no_tmp(lambda: LRS.CosineAnnealingWarmRestarts(_sgdm(), 5, eta_min="0")),
    TypeError, "eta_min must be a number")
row(SCH_WARM, "step-to-negative-epoch", no_tmp(lambda: LRS.CosineAnnealingWarmRestarts(_sgdm(), 5).step(-1)),
    ValueError, r"epoch must be a finite number in \[0, inf\)")


def _sequential_with_another_optimizer() -> Any:
    return LRS.SequentialLR(_sgdm(), [LRS.StepLR(_sgdm(), 3)], [])


def _sequential(schedulers: Callable[[Any], list], milestones: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        opt = _sgdm()
        return LRS.SequentialLR(opt, schedulers(opt), milestones)

    return call


SCH_SEQ = "lr_scheduler.SequentialLR"
row(SCH_SEQ, "no-schedulers", _sequential(lambda o: [], []), ValueError, "non-empty list of schedulers")
row(SCH_SEQ, "plateau-inside", _sequential(lambda o: [LRS.ReduceLROnPlateau(o)], []), ValueError,
    "does not support ReduceLROnPlateau")
row(SCH_SEQ, "not-a-scheduler", _sequential(lambda o: [LRS.StepLR(o, 3), "cosine"], [5]), TypeError,
    r"schedulers\[1\] is not an fcnn scheduler")
row(SCH_SEQ, "another-optimizer", no_tmp(_sequential_with_another_optimizer), ValueError,
    "steers another optimizer")
row(SCH_SEQ, "milestones-count", _sequential(lambda o: [LRS.StepLR(o, 3), LRS.ExponentialLR(o, 0.9)], [5, 9]),
    ValueError, "one milestone fewer than schedulers", "2 schedulers and 2 milestones")
SCH_PLATEAU = "lr_scheduler.ReduceLROnPlateau"
row(SCH_PLATEAU, "mode", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), mode="avg")),
    ValueError, "'min', 'max'",
    "'avg'")
row(SCH_PLATEAU, "factor-1", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), factor=1.0)), ValueError,
    r"factor must be a finite number in \[0, 1\)")
row(SCH_PLATEAU, "patience-negative", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), patience=-1)), ValueError,
    "patience must be an int >= 0")
row(SCH_PLATEAU, "patience-float", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), patience=2.5)), ValueError,
    "patience")
row(SCH_PLATEAU, "threshold-negative", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), threshold=-0.1)),
    ValueError,
    "threshold")
row(SCH_PLATEAU, "threshold-mode", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), threshold_mode="pct")),
    ValueError,
    "'rel', 'abs'")
row(SCH_PLATEAU, "cooldown-negative", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), cooldown=-1)), ValueError,
    "cooldown must be an int >= 0")
row(SCH_PLATEAU, "min-lr-two-for-one-group", no_tmp(
    lambda: LRS.ReduceLROnPlateau(_sgdm(), min_lr=[0.1, 0.2])),
    ValueError, "one value per param group")
row(SCH_PLATEAU, "min-lr-negative", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), min_lr=-1)),
    ValueError, "min_lr")
row(SCH_PLATEAU, "eps-negative", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm(), eps=-1)), ValueError, "eps")
row(SCH_PLATEAU, "metric-string", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm()).step("low")), TypeError,
    "monitored number", "'low'")
row(SCH_PLATEAU, "metric-array", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm()).step(np.ones(3))), TypeError,
    r"shape \(3,\)")
row(SCH_PLATEAU, "metric-none", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm()).step(None)), TypeError,
    "monitored number")
row(SCH_PLATEAU, "load-another-class", no_tmp(lambda: LRS.ReduceLROnPlateau(_sgdm()).load_state_dict(
    LRS.StepLR(_sgdm(), 3).state_dict())), ValueError, "not a ReduceLROnPlateau's")

# -- initializers -------------------------------------------------------------
for fn in (init.lab, init.torch_default, init.he_normal, init.he_uniform, init.glorot_normal,
           init.glorot_uniform):
    row(f"init.{fn.__name__}", "fan-in-0", no_tmp(lambda f=fn: f(0, 3, 0)), ValueError,
        "fan_in must be a positive int, got 0")
row("init.he_normal", "fan-out-float", no_tmp(lambda: init.he_normal(3, 2.5, 0)), ValueError,
    "fan_out", "2.5")
row("init.glorot_uniform", "dtype-int", no_tmp(lambda: init.glorot_uniform(2, 3, 0, np.int8)),
    TypeError, "float32 or float64", "int8")
row("init.as_generator", "string", no_tmp(lambda: init.as_generator("seed")), TypeError,
    "Generator", "str")
row("init.as_generator", "float", no_tmp(lambda: init.as_generator(1.5)), TypeError, "float")
row("init.as_generator", "bool", no_tmp(lambda: init.as_generator(True)), TypeError, "True")
row("init.as_generator", "negative", no_tmp(lambda: init.as_generator(-3)), ValueError,
    "non-negative", "-3")
row("init.get_initializer", "none", no_tmp(lambda: init.get_initializer(None)), ValueError,
    "unknown initializer None", "glorot_uniform")

# -- train --------------------------------------------------------------------
T = "train"
row(T, "1-d-X", run_train(X=X6[:, 0]), ShapeError, r"\(N, features\)", r"reshape\(-1, 1\)")
row(T, "3-d-X", run_train(X=X6[None]), ShapeError, r"\(1, 6, 4\)")
row(T, "wrong-width", run_train(X=X6[:, :3]), ShapeError, r"Linear\(4 -> 5\)", r"got \(6, 3\)")
row(T, "empty-X", run_train(X=X6[:0], y=Y6[:0]), ShapeError, "empty X", r"\(0, 4\)")
row(T, "nan-X", run_train(X=with_value(X6, np.nan)), NonFiniteError, "train", "X",
    r"index \(1, 2\)")
row(T, "inf-X", run_train(X=with_value(X6, np.inf)), NonFiniteError, "infinite")
row(T, "string-X", run_train(X=X6.astype(str)), TypeError, "numeric", "convert strings")
row(T, "object-X", run_train(X=X6.astype(object)), TypeError, "object")
row(T, "complex-X", run_train(X=X6.astype(complex)), TypeError, "complex128")
row(T, "X-beyond-float32", run_train(model=net(np.float32), X=with_value(X6, 1e300)),
    NonFiniteError, "does not fit in float32")
row(T, "labels-column", run_train(y=Y6[:, None]), LabelError, r"\(6, 1\)", r"ravel\(\)")
row(T, "one-hot-labels", run_train(y=np.eye(3)[Y6]), LabelError, "one-hot", "argmax")
row(T, "non-integer-labels", run_train(y=Y6 * 0.5), LabelError, "non-integer", "0.5")
row(T, "label-out-of-range", run_train(y=Y6 + 1), LabelError, "label 3 is out of range",
    r"\[0, 3\)")
row(T, "negative-label", run_train(y=Y6 - 1), LabelError, "label -1")
row(T, "nan-labels", run_train(y=with_value(Y6, np.nan, (0,))), NonFiniteError, "NaN")
row(T, "string-labels", run_train(y=np.array(list("abcabc"))), LabelError, "LabelEncoder")
row(T, "label-count", run_train(y=Y6[:4]), ShapeError, "6 predictions but 4 labels")
row(T, "mse-target-width", run_train(loss=fcnn.MSELoss(), y=np.zeros((6, 2))), ShapeError,
    r"targets of shape \(6, 3\)", r"got \(6, 2\)")
row(T, "mse-nan-target", run_train(loss=fcnn.MSELoss(), y=np.full((6, 3), np.nan)), NonFiniteError,
    "y", "NaN")
row(T, "batch-size-0", run_train(batch_size=0), ValueError, "batch_size must be an int >= 1, got 0")
row(T, "batch-size-negative", run_train(batch_size=-4), ValueError, "batch_size", "-4")
row(T, "batch-size-float", run_train(batch_size=2.5), ValueError, "batch_size", "2.5")
row(T, "batch-size-bool", run_train(batch_size=True), ValueError, "batch_size", "True")
row(T, "epochs-0", run_train(epochs=0), ValueError, "epochs must be an int >= 1")
row(T, "loss-name", run_train(loss="nll"), TypeError, "fcnn Loss", "'nll'")
row(T, "loss-class-not-instance", run_train(loss=fcnn.NLLLoss), TypeError, "fcnn Loss")
row(T, "optimizer-name", run_train(optimizer="sgd"), TypeError, r"step\(\) and zero_grad\(\)")
row(T, "validation-split-one", run_train(validation_split=1.0), ValueError,
    r"validation_split must be in \(0, 1\)")
row(T, "validation-split-zero", run_train(validation_split=0.0), ValueError, "validation_split")
row(T, "validation-split-string", run_train(validation_split="0.2"), TypeError,
    "validation_split")
row(T, "validation-data-and-split", run_train(validation_split=0.2, validation_data=(X6, Y6)),
    ValueError, "not both")
row(T, "validation-data-not-a-pair", run_train(validation_data=X6), TypeError,
    r"pair \(X_val, y_val\)")
row(T, "validation-data-nan", run_train(validation_data=(with_value(X6, np.nan), Y6)),
    NonFiniteError, "validation_data")
row(T, "validation-label-out-of-range", run_train(validation_data=(X6, Y6 + 5)), LabelError,
    "validation_data", "label 7")
row(T, "rng-string", run_train(rng="0"), TypeError, "Generator")
row(T, "model-not-a-model", run_train(model="mlp", optimizer=fcnn.SGD(params(), lr=0.1)),
    TypeError, "model")
row(T, "callback-not-callable", run_train(callbacks=[3]), TypeError, "callback")
row(T, "early-stopping-without-validation", run_train(callbacks=[EarlyStopping()]), ValueError,
    "monitors 'val_loss'", "validation_split")
row(T, "early-stopping-unknown-metric", run_train(
    validation_split=0.5, callbacks=[EarlyStopping(monitor="val_acc")]), ValueError,
    "'val_acc'", "val_accuracy")
row("EarlyStopping", "negative-patience", no_tmp(lambda: EarlyStopping(patience=-1)), ValueError,
    "patience must be an int >= 0")
row("EarlyStopping", "float-patience", no_tmp(lambda: EarlyStopping(patience=1.5)), ValueError,
    "1.5")
row("EarlyStopping", "string-min-delta", no_tmp(lambda: EarlyStopping(min_delta="0.1")), TypeError,
    "min_delta")
row("EarlyStopping", "monitor-not-a-string", no_tmp(lambda: EarlyStopping(monitor=3)), TypeError,
    "monitor")
row("ModelCheckpoint", "path-not-a-path", no_tmp(lambda: ModelCheckpoint(3)), TypeError, "path")
row("ModelCheckpoint", "missing-directory", lambda tmp: run_train(
    callbacks=[ModelCheckpoint(tmp / "no" / "m.safetensors", monitor="loss")])(tmp),
    FileNotFoundError, "directory does not exist")
row("predict", "1-d-X", no_tmp(lambda: fcnn.predict(net(), X6[0])), ShapeError, "2-D", r"\(4,\)")
row("predict", "empty-X", no_tmp(lambda: fcnn.predict(net(), X6[:0])), ShapeError, "non-empty")
row("predict", "nan-X", no_tmp(lambda: fcnn.predict(net(), with_value(X6, np.nan))),
    NonFiniteError, r"\(1, 2\)")
row("predict", "wrong-width", no_tmp(lambda: fcnn.predict(net(), X6[:, :3])), ShapeError,
    r"Linear\(4 -> 5\)")
row("predict", "strings", no_tmp(lambda: fcnn.predict(net(), X6.astype(str))), TypeError,
    "numeric")
row("predict", "batch-size-0", no_tmp(lambda: fcnn.predict(net(), X6, batch_size=0)), ValueError,
    "batch_size")
row("predict", "batch-size-negative", no_tmp(lambda: fcnn.predict(net(), X6, batch_size=-1)),
    ValueError, "batch_size")
row("predict", "model-not-a-model", no_tmp(lambda: fcnn.predict("mlp", X6)), TypeError, "model")

# -- gradient clipping --------------------------------------------------------
CN, CV = "clip_grad_norm_", "clip_grad_value_"
row(CN, "negative-max-norm", no_tmp(lambda: fcnn.clip_grad_norm_(params(), -1.0)), ValueError,
    "max_norm", r"in \[0, inf\)", "-1")
row(CN, "nan-max-norm", no_tmp(lambda: fcnn.clip_grad_norm_(params(), np.nan)), ValueError,
    "max_norm", "finite")
row(CN, "string-max-norm", no_tmp(lambda: fcnn.clip_grad_norm_(params(), "1")), TypeError,
    "max_norm", "number")
row(CN, "string-norm-type", no_tmp(lambda: fcnn.clip_grad_norm_(params(), 1.0, "two")), TypeError,
    "norm_type", "'two'")
row(CN, "nan-norm-type", no_tmp(lambda: fcnn.clip_grad_norm_(params(), 1.0, np.nan)), ValueError,
    "norm_type")
row(CN, "arrays-not-parameters", no_tmp(lambda: fcnn.clip_grad_norm_([np.ones(3)], 1.0)),
    TypeError, "item 0 is not a Parameter", "ndarray")
row(CN, "model-not-parameters", no_tmp(lambda: fcnn.clip_grad_norm_(3, 1.0)), TypeError,
    r"model.parameters\(\)", "int")
row(CV, "negative-clip-value", no_tmp(lambda: fcnn.clip_grad_value_(params(), -0.5)), ValueError,
    "clip_value", "-0.5")
row(CV, "string-clip-value", no_tmp(lambda: fcnn.clip_grad_value_(params(), "0.5")), TypeError,
    "clip_value")
row(CV, "not-parameters", no_tmp(lambda: fcnn.clip_grad_value_("w", 0.5)), TypeError, "Parameter")

# -- train's weights, metrics, schedules, clipping, resume (issue 10) ---------------------


def untouched(*, model: Any = None, loss: Any = None, optimizer: Any = None, scheduler: Any = None,
              X: Any = X6, y: Any = Y6, **kwargs: Any) -> Callable[[Path], Any]:
    """train(...) that must refuse before any work: the model, optimizer and scheduler
    are checked unchanged afterwards. ``kwargs`` values may be functions of the tmp dir."""

    def call(tmp: Path) -> Any:
        m = net() if model is None else model()
        opt = fcnn.SGD(m.parameters(), lr=0.1, momentum=0.9) if optimizer is None else optimizer(m)
        sched = None if scheduler is None else scheduler(opt)
        before = [p.weights.copy() for p in m.parameters()]
        lr_before = opt.param_groups[0]["lr"]
        options = {"epochs": 3, "progress": False, "rng": 0, "scheduler": sched,
                   **{k: v(tmp) if callable(v) and k in ("resume_from", "callbacks") else v
                      for k, v in kwargs.items()}}
        try:
            return fcnn.train(m, fcnn.NLLLoss() if loss is None else loss, opt, X, y, **options)
        finally:
            assert all(np.array_equal(p.weights, w) for p, w in zip(m.parameters(), before))
            assert opt.steps == 0 and opt.param_groups[0]["lr"] == lr_before

    return call


def checkpoint_file(tmp: Path, model: Any = None, optimizer: Any = None) -> Path:
    """A training checkpoint after 2 epochs of net() on (X6, Y6)."""
    path = tmp / "ckpt.safetensors"
    m = net() if model is None else model
    opt = fcnn.SGD(m.parameters(), lr=0.1, momentum=0.9) if optimizer is None else optimizer
    fcnn.train(m, fcnn.NLLLoss(), opt, X6, Y6, epochs=2, progress=False, rng=0,
               callbacks=[ModelCheckpoint(path, monitor="loss", save_best_only=False)])
    return path


def checkpoint_with_short_history(tmp: Path) -> None:
    loaded = fcnn.load(checkpoint_file(tmp))
    loaded.metadata["training_state"]["history"]["history"]["loss"].pop()
    fcnn.save(loaded, tmp / "ckpt.safetensors")


def resume(tmp: Path) -> Path:
    return tmp / "ckpt.safetensors"


def plateau(opt: Any) -> Any:
    return fcnn.optim.lr_scheduler.ReduceLROnPlateau(opt)


def named_metric(y_true: Any, y_pred: Any) -> float:
    return 0.0


T = "train"
row(T, "sample-weight-length", untouched(sample_weight=np.ones(5)), ShapeError, "sample_weight",
    r"\(6,\)", r"got \(5,\)")
row(T, "sample-weight-2-d", untouched(sample_weight=np.ones((6, 1))), ShapeError, "sample_weight")
row(T, "sample-weight-negative", untouched(sample_weight=np.array([1, 1, -1.0, 1, 1, 1])),
    ValueError, "sample_weight", ">= 0", "-1.0")
row(T, "sample-weight-nan", untouched(sample_weight=with_value(np.ones(6), np.nan, (2,))),
    NonFiniteError, "sample_weight")
row(T, "sample-weight-all-zero", untouched(sample_weight=np.zeros(6)), ValueError, "all zeros")
row(T, "sample-weight-strings", untouched(sample_weight=np.array(list("abcdef"))), TypeError,
    "numeric")
row(T, "class-weight-unknown-word", untouched(class_weight="balance"), ValueError, "class_weight",
    "'balanced'")
row(T, "class-weight-bad-label", untouched(class_weight={5: 2.0}), ValueError, "key 5",
    r"\[0, 3\)")
row(T, "class-weight-negative", untouched(class_weight={0: -1.0}), ValueError,
    r"class_weight\[0\]")
row(T, "class-weight-list", untouched(class_weight=[1.0, 2.0, 3.0]), TypeError, "dict", "balanced")
row(T, "class-weight-for-regression", untouched(loss=fcnn.MSELoss(), y=np.zeros((6, 3)),
                                                class_weight="balanced"), ValueError,
    "classification loss", "sample_weight")
row(T, "class-weight-zero-for-all", untouched(class_weight={0: 0, 1: 0, 2: 0}), ValueError,
    "weight 0")
row(T, "validation-weight-without-validation-data", untouched(
    validation_split=0.5, validation_sample_weight=np.ones(3)), ValueError, "validation_data")
row(T, "validation-weight-length", untouched(validation_data=(X6, Y6),
                                             validation_sample_weight=np.ones(4)), ShapeError,
    "validation_sample_weight", r"\(6,\)")
row(T, "metric-unknown", untouched(metrics=["accurcy"]), ValueError, "unknown metric 'accurcy'",
    "'accuracy'", "'f1_macro'")
row(T, "metric-of-the-other-task", untouched(metrics=["r2"]), ValueError, "'r2' is a regression",
    "'balanced_accuracy'")
row(T, "metric-for-regression", untouched(loss=fcnn.MSELoss(), y=np.zeros((6, 3)),
                                          metrics=["accuracy"]), ValueError,
    "'accuracy' is a classification", "'rmse'")
row(T, "metrics-a-string", untouched(metrics="accuracy"), TypeError, "list", r"\['accuracy'")
row(T, "metric-lambda", untouched(metrics=[lambda t, p: 0.0]), TypeError, "named function",
    r"\(name, function\)")
row(T, "metric-reserved-name", untouched(metrics=[("loss", named_metric)]), ValueError, "'loss'",
    "reserved")
row(T, "metric-twice", untouched(metrics=["accuracy", "accuracy"]), ValueError, "repeated")
row(T, "balanced-accuracy-multi-label", untouched(
    model=lambda: fcnn.mlp([4, 5, 2], rng=0), loss=fcnn.BCEWithLogitsLoss(), y=np.zeros((6, 2)),
    metrics=["balanced_accuracy"]), ValueError, "multi-label", "'f1_macro'")
row(T, "monitor-never-logged", untouched(validation_split=0.5, callbacks=[
    EarlyStopping(monitor="val_f1_macro")]), ValueError, "'val_f1_macro'", "does not log")
row(T, "checkpoint-monitor-never-logged", untouched(callbacks=lambda tmp: [
    ModelCheckpoint(tmp / "m.safetensors", monitor="r2")]), ValueError, "'r2'", "does not log")
row(T, "scheduler-of-another-optimizer", untouched(
    scheduler=lambda opt: fcnn.optim.lr_scheduler.StepLR(fcnn.SGD(params(), lr=0.1), 2)),
    ValueError, "bound to another optimizer", r"Scheduler\(optimizer")
row(T, "scheduler-not-a-scheduler", untouched(scheduler=lambda opt: "step"), TypeError,
    "lr_scheduler", "'step'")
row(T, "scheduler-interval-unknown", untouched(
    scheduler=lambda opt: fcnn.optim.lr_scheduler.StepLR(opt, 2), scheduler_interval="batch"),
    ValueError, "scheduler_interval", "'epoch'", "'batch'")
row(T, "plateau-per-step", untouched(scheduler=plateau, validation_split=0.5,
                                     scheduler_interval="step"), ValueError,
    "ReduceLROnPlateau", "scheduler_interval='epoch'")
row(T, "plateau-without-validation", untouched(scheduler=plateau), ValueError, "'val_loss'",
    "validation_split")
row(T, "plateau-monitor-never-logged", untouched(scheduler=plateau, scheduler_monitor="val_r2",
                                                 validation_split=0.5), ValueError, "'val_r2'")
row(T, "scheduler-monitor-without-scheduler", untouched(scheduler_monitor="loss"), ValueError,
    "no scheduler")
row(T, "scheduler-monitor-not-plateau", untouched(
    scheduler=lambda opt: fcnn.optim.lr_scheduler.StepLR(opt, 2), scheduler_monitor="loss"),
    ValueError, "only applies to ReduceLROnPlateau")
row(T, "clip-norm-and-value", untouched(clip_grad_norm=1.0, clip_grad_value=1.0), ValueError,
    "not both")
row(T, "clip-norm-negative", untouched(clip_grad_norm=-1.0), ValueError, "clip_grad_norm", "-1")
row(T, "clip-norm-bad-norm-type", untouched(clip_grad_norm=(1.0, "two")), TypeError, "norm_type")
row(T, "clip-value-string", untouched(clip_grad_value="0.5"), TypeError, "clip_grad_value")
row(T, "loss-without-reduction", untouched(loss=fcnn.CrossEntropyLoss(reduction="none")),
    ValueError, "reduction='mean'")
row(T, "resume-missing", untouched(resume_from=lambda tmp: tmp / "nothing.safetensors"),
    FileNotFoundError, "does not exist", "nothing.safetensors")
row(T, "resume-a-directory", untouched(resume_from=lambda tmp: tmp), IsADirectoryError,
    "ModelCheckpoint", "directory")
row(T, "resume-not-a-path", untouched(resume_from=3), TypeError, "resume_from")
row(T, "resume-corrupt", untouched(resume_from=resume), ModelFileError, "ckpt.safetensors",
    setup=lambda tmp: write(tmp, "ckpt.safetensors", b"\x00" * 8 + b"garbage"))
row(T, "resume-pickle", untouched(resume_from=lambda tmp: pickle_file(tmp)), ModelFileError,
    "pickle", after=pickle_not_run)
row(T, "resume-no-training-state", untouched(resume_from=resume), ModelFileError,
    "no training state", "save_training_state=True",
    setup=lambda tmp: fcnn.save(net(), tmp / "ckpt.safetensors"))
row(T, "resume-other-architecture", untouched(
    model=lambda: fcnn.mlp([4, 6, 3], rng=0), resume_from=resume), ModelFileError,
    "another architecture", setup=checkpoint_file)
row(T, "resume-other-optimizer", untouched(
    optimizer=lambda m: fcnn.Adam(m.parameters()), resume_from=resume), ValueError,
    "trained with SGD", "not Adam", setup=checkpoint_file)
row(T, "resume-other-data", untouched(X=X6[::-1].copy(), resume_from=resume), ValueError,
    "other data", setup=checkpoint_file)
row(T, "resume-other-metrics", untouched(metrics=["f1_macro"], resume_from=resume), ValueError,
    "same metrics", setup=checkpoint_file)
row(T, "resume-malformed-state", untouched(resume_from=resume), ModelFileError, "malformed",
    setup=checkpoint_with_short_history)
row(T, "resume-already-done", untouched(epochs=2, resume_from=resume), ValueError, "epoch 2",
    "epochs > 2", setup=checkpoint_file)
row("EarlyStopping", "unknown-mode", no_tmp(lambda: EarlyStopping(mode="up")), ValueError, "mode",
    "'max'")
row("ModelCheckpoint", "unknown-mode", no_tmp(lambda: ModelCheckpoint("m.safetensors", mode=1)),
    ValueError, "mode")
row("ModelCheckpoint", "every-n-epochs-0", no_tmp(lambda: ModelCheckpoint("m.safetensors",
                                                                    every_n_epochs=0)),
    ValueError, "every_n_epochs", "positive int")
row("ModelCheckpoint", "every-n-seconds-negative", no_tmp(lambda: ModelCheckpoint(
    "m.safetensors", every_n_seconds=-1)), ValueError, "every_n_seconds")
row("CSVLogger", "path-not-a-path", no_tmp(lambda: fcnn.CSVLogger(3)), TypeError, "path")
row("CSVLogger", "bad-separator", no_tmp(lambda: fcnn.CSVLogger("log.csv", separator="ab")),
    ValueError, "separator", "one character")
row("CSVLogger", "missing-directory", untouched(callbacks=lambda tmp: [
    fcnn.CSVLogger(tmp / "no" / "log.csv")]), FileNotFoundError, "directory does not exist")
row("predict_proba", "regression-loss", no_tmp(lambda: fcnn.predict_proba(
    net(), X6, loss=fcnn.MSELoss())), ValueError, "regressor", r"predict\(\)")
row("predict_proba", "loss-not-a-loss", no_tmp(lambda: fcnn.predict_proba(net(), X6, loss="nll")),
    TypeError, "fcnn Loss")
row("predict_proba", "1-d-X", no_tmp(lambda: fcnn.predict_proba(net(), X6[0])), ShapeError, "2-D")

# -- gradient checking --------------------------------------------------------
row("check_gradient", "integer-X", no_tmp(lambda: fcnn.check_gradient(
    lambda X: (0.0, X), np.ones(3, int))), TypeError, "float array", "int64")
row("check_gradient", "not-callable", no_tmp(lambda: fcnn.check_gradient(3, np.ones(3))),
    TypeError, r"X -> \(loss, gradient\)", "int")
row("check_gradient", "returns-a-float", no_tmp(lambda: fcnn.check_gradient(
    lambda X: float(X.sum()), np.ones(3))), TypeError, r"pair \(loss, gradient\)", "float")
row("check_gradient", "gradient-wrong-shape", no_tmp(lambda: fcnn.check_gradient(
    lambda X: (float(X.sum()), np.ones(2)), np.ones(3))), ShapeError, r"\(2,\)", r"\(3,\)")
row("check_gradient", "nan-X", no_tmp(lambda: fcnn.check_gradient(
    lambda X: (float(X.sum()), np.ones(3)), np.array([1.0, np.nan, 2.0]))), NonFiniteError,
    "check_gradient", r"\(1,\)")
row("check_layer", "not-a-layer", no_tmp(lambda: fcnn.check_layer("relu", X6)), TypeError,
    "layer, a network or a loss", "str")
row("check_layer", "loss-without-target", no_tmp(lambda: fcnn.check_layer(fcnn.NLLLoss(), X6)),
    ValueError, "needs a target")
row("check_layer", "eps-0", no_tmp(lambda: fcnn.check_layer(fcnn.Tanh(), X6, eps=0)), ValueError,
    "eps must be a positive finite number")
row("check_layer", "strings", no_tmp(lambda: fcnn.check_layer(fcnn.Tanh(), X6.astype(str))),
    TypeError, "numeric")
row("check_layer", "wrong-width", no_tmp(lambda: fcnn.check_layer(fcnn.Linear(3, 2), X6)),
    ShapeError, r"Linear\(3 -> 2\)")
row("gradcheck.relative_error", "shapes-differ", no_tmp(lambda: gradcheck.relative_error(
    np.ones(2), np.ones(3))), ShapeError, r"\(2,\)", r"\(3,\)")
row("gradcheck.numerical_gradient", "negative-eps", no_tmp(lambda: gradcheck.numerical_gradient(
    lambda: 0.0, np.ones(2), eps=-1e-6)), ValueError, "eps")

# -- datasets -----------------------------------------------------------------
D = "datasets.load_dataset"
row(D, "unknown-name", no_tmp(lambda: datasets.load_dataset("irsi")), DatasetError,
    "neither an embedded dataset", "did you mean 'iris'")
row(D, "not-a-name", no_tmp(lambda: datasets.load_dataset(3)), TypeError, "dataset name", "int")
row(D, "strings-in-features", lambda tmp: datasets.load_dataset(csv(
    tmp, "a,b,y\n1,x,0\n2,3,1\n")), DatasetError, "column 'b'", "non-numeric value 'x'", "line 2")
row(D, "empty-file", lambda tmp: datasets.load_dataset(csv(tmp, "")), DatasetError, "empty")
row(D, "header-only", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n")), DatasetError,
    "no data rows")
row(D, "ragged-rows", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n1,2,0\n2,1\n")),
    DatasetError, "line 3 has 2 fields", "3 columns")
row(D, "missing-value", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n1,,0\n2,3,1\n")),
    DatasetError, "missing value", "line 2")
row(D, "infinite-value", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n1,inf,0\n2,3,1\n")),
    DatasetError, "infinite value 'inf'")
row(D, "overflowing-number", lambda tmp: datasets.load_dataset(csv(
    tmp, "a,b,y\n1,1e400,0\n2,3,1\n")), DatasetError, "infinite value '1e400'")
row(D, "single-class", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n1,2,0\n2,3,0\n")),
    DatasetError, "single class", "at least 2 classes")
row(D, "semicolons-read-as-commas", lambda tmp: datasets.load_dataset(csv(
    tmp, "a;b;y\n1;2;0\n2;3;1\n"), sep=","), DatasetError, "only one column", "semicolons", "--sep")
row(D, "unknown-missing-strategy", lambda tmp: datasets.load_dataset(csv(
    tmp, "a,b,y\n1,2,0\n2,3,1\n"), missing="guess"), ValueError, "missing", "most-frequent")
row(D, "drop-unknown-column", lambda tmp: datasets.load_dataset(csv(
    tmp, "a,b,y\n1,2,0\n2,3,1\n"), drop=["c"]), DatasetError, "--drop", "'c'")
row(D, "regression-on-text", lambda tmp: datasets.load_dataset(csv(
    tmp, "a,b,y\n1,2,u\n2,3,v\n"), task="regression"), DatasetError, "regression needs numbers")
row(D, "not-a-table", lambda tmp: datasets.load_dataset(write(tmp, "x.xlsx", "a,b\n")),
    DatasetError, "not a table fcnn reads")
row(D, "too-many-fields", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n1,2,0\n2,3,1,4\n")),
    DatasetError, "line 3 has 4 fields", "3 columns")
# -- fcnn.run: a run that cannot start says which option to change -----------
row("run", "unknown-task", lambda tmp: fcnn.run(fcnn.RunConfig(task="ranking", out=str(tmp / "r")),
    log=None), ValueError, "--task ranking", "regression", after=lambda tmp: _no_run_dir(tmp))
row("run", "missing-file", lambda tmp: fcnn.run(dataset=str(tmp / "none.csv"), log=None,
    out=str(tmp / "r")), FileNotFoundError, "no such file", after=lambda tmp: _no_run_dir(tmp))
row("run", "regression-loss-for-classes", lambda tmp: fcnn.run(loss="mse", epochs=1, log=None,
    out=str(tmp / "r")), ValueError, "--loss mse", "nll", after=lambda tmp: _no_run_dir(tmp))
row("RunConfig", "unknown-missing", lambda tmp: fcnn.run(fcnn.RunConfig(missing="guess"),
    log=None, write=False), ValueError, "--missing guess", "most-frequent")


def _no_run_dir(tmp: Path) -> None:
    assert not (tmp / "r").exists(), "a refused run leaves no run folder"
row(D, "not-utf8", lambda tmp: datasets.load_dataset(write(tmp, "bin.csv", b"\x00\xff\xfe\x00")),
    DatasetError, "not UTF-8")
row(D, "missing-file", lambda tmp: datasets.load_dataset(tmp / "none.csv"), DatasetNotFoundError,
    "no such file")
row(D, "unknown-target", lambda tmp: datasets.load_dataset(csv(tmp, "a,b,y\n1,2,0\n2,3,1\n"),
    target="label"), DatasetError, "no column named 'label'", "'a', 'b', 'y'")
TTS = "datasets.train_test_split"
LABELS10 = np.arange(10) % 2
row(TTS, "test-size-0", no_tmp(lambda: datasets.train_test_split(
    np.ones((10, 2)), LABELS10, test_size=0.0)), ValueError, r"\(0, 1\)")
row(TTS, "test-size-above-1", no_tmp(lambda: datasets.train_test_split(
    np.ones((10, 2)), LABELS10, test_size=1.5)), ValueError, "1.5")
row(TTS, "label-count", no_tmp(lambda: datasets.train_test_split(np.ones((10, 2)), LABELS10[:5])),
    ShapeError, r"\(10,\)", r"\(5,\)")
row(TTS, "nan-X", no_tmp(lambda: datasets.train_test_split(np.full((10, 2), np.nan), LABELS10)),
    NonFiniteError, "X")
row(TTS, "1-d-X", no_tmp(lambda: datasets.train_test_split(np.ones(10), LABELS10)), ShapeError,
    r"\(N, D\)")
row(TTS, "negative-seed", no_tmp(lambda: datasets.train_test_split(
    np.ones((10, 2)), LABELS10, seed=-1)), TypeError, "seed", "non-negative")
row(TTS, "single-sample-class", no_tmp(lambda: datasets.train_test_split(
    np.ones((10, 2)), np.r_[np.zeros(9), 1])), DatasetError, "single sample", "stratify=False")
ST = "datasets.standardize"
row(ST, "wrong-length", no_tmp(lambda: datasets.standardize(np.ones((3, 2)), np.zeros(3),
    np.ones(3))), ShapeError, "2 features", r"\(3,\)")
row(ST, "zero-scale", no_tmp(lambda: datasets.standardize(np.ones((3, 2)), np.zeros(2),
    np.zeros(2))), ValueError, "scale must be positive")
row(ST, "nan-scale", no_tmp(lambda: datasets.standardize(np.ones((3, 2)), np.zeros(2),
    np.full(2, np.nan))), NonFiniteError, "scale")
row(ST, "only-mean", no_tmp(lambda: datasets.standardize(np.ones((3, 2)), np.zeros(2), None)),
    TypeError, "both mean and scale")
row(ST, "nan-X", no_tmp(lambda: datasets.standardize(np.full((3, 2), np.nan), np.zeros(2),
    np.ones(2))), NonFiniteError, "standardize", "X")
row("datasets.load_features_csv", "missing-column", lambda tmp: datasets.load_features_csv(
    csv(tmp, "a,b\n1,2\n"), ["c"]), DatasetError, "missing feature column", "'c'")
row("datasets.load_features_csv", "names-as-one-string", lambda tmp: datasets.load_features_csv(
    csv(tmp, "a,b\n1,2\n"), "a"), TypeError, "not one string")

# -- plots --------------------------------------------------------------------
row("plots.plot_loss", "empty", no_tmp(lambda: plots.plot_loss([])), ValueError, "empty")
row("plots.plot_loss", "2-d", no_tmp(lambda: plots.plot_loss([[1.0, 2.0]])), ShapeError,
    "one value per epoch")
row("plots.plot_loss", "strings", no_tmp(lambda: plots.plot_loss(["a"])), TypeError, "numeric")
row("plots.plot_loss", "all-nan", no_tmp(lambda: plots.plot_loss([np.nan, np.nan])),
    NonFiniteError, "no finite value")
row("plots.plot_loss", "lengths-differ", no_tmp(lambda: plots.plot_loss([1.0, 2.0], [1.0])),
    ShapeError, "1 values but train_loss has 2")
row("plots.plot_loss", "nan-epochs", no_tmp(lambda: plots.plot_loss([1.0, 2.0], epochs=[0, np.nan])),
    NonFiniteError, "epochs must be finite")
CM = "plots.plot_confusion_matrix"
row(CM, "unknown-normalize", no_tmp(lambda: plots.plot_confusion_matrix([0, 1], [0, 1],
    normalize="rows")), ValueError, "'true', 'pred' or 'all'")
row(CM, "lengths-differ", no_tmp(lambda: plots.plot_confusion_matrix([0, 1, 1], [0, 1])),
    ShapeError, "2 predictions but 3 labels")
row(CM, "code-out-of-range", no_tmp(lambda: plots.plot_confusion_matrix([0, 1], [0, 5],
    class_names=["a", "b"])), LabelError, "label 5", r"\[0, 2\)")
row(CM, "negative-code", no_tmp(lambda: plots.plot_confusion_matrix([0, -1], [0, 1])), ValueError,
    ">= 0")
row(CM, "empty", no_tmp(lambda: plots.plot_confusion_matrix([], [])), ValueError, "empty")
row(CM, "string-codes", no_tmp(lambda: plots.plot_confusion_matrix(["a"], ["a"])), LabelError,
    "LabelEncoder")
row(CM, "non-integer-codes", no_tmp(lambda: plots.plot_confusion_matrix([0.5], [0])), LabelError,
    "non-integer")
OP = "plots.optimizer_path"
row(OP, "steps-0", no_tmp(lambda: plots.optimizer_path(steps=0)), ValueError,
    "steps must be a positive int")
row(OP, "start-triple", no_tmp(lambda: plots.optimizer_path(start=(1, 2, 3))), ShapeError,
    r"pair \(x, y\)")
row(OP, "start-nan", no_tmp(lambda: plots.optimizer_path(start=(np.nan, 2))), NonFiniteError,
    "start must be finite")
row(OP, "factory-returns-no-optimizer", no_tmp(lambda: plots.optimizer_path(lambda p: 3)),
    TypeError, "step and zero_grad", "int")
row(OP, "negative-lr", no_tmp(lambda: plots.optimizer_path(lr=-1)), ValueError, "lr",
    r"in \[0, inf\)")
OPP = "plots.plot_optimizer_path"
row(OPP, "wrong-shape", no_tmp(lambda: plots.plot_optimizer_path(np.ones((3, 3)))), ShapeError,
    r"\(K, 2\)", r"\(3, 3\)")
row(OPP, "nan", no_tmp(lambda: plots.plot_optimizer_path(np.full((3, 2), np.nan))),
    NonFiniteError, "diverged", "learning rate")
row(OPP, "empty", no_tmp(lambda: plots.plot_optimizer_path(np.ones((0, 2)))), ShapeError,
    "K >= 1")
row(OPP, "beyond-drawable", no_tmp(lambda: plots.plot_optimizer_path(
    np.array([[0.0, 0.0], [1e300, -1e300]]))), ValueError, "1e\\+300", "diverged")

# -- save ---------------------------------------------------------------------
row("save", "not-a-model", lambda tmp: fcnn.save("model", tmp / "m.safetensors"), TypeError,
    "fcnn model", "str")
row("save", "path-not-a-path", no_tmp(lambda: fcnn.save(net(), 3)), TypeError,
    r"file path \(str or os.PathLike\)", "int")


def nan_model() -> fcnn.Sequential:
    model = net()
    model[0].w.weights[0, 0] = np.nan
    return model


row("save", "nan-weights", lambda tmp: fcnn.save(nan_model(), tmp / "m.safetensors"),
    NonFiniteError, r"\b0\.weight holds 1 NaN or infinite", "last good weights",
    after=lambda tmp: pytest.fail("a file was written") if (tmp / "m.safetensors").exists() else None)
row("save", "missing-directory", lambda tmp: fcnn.save(net(), tmp / "no" / "m.safetensors"),
    FileNotFoundError, "directory does not exist")
row("save", "path-is-a-directory", lambda tmp: fcnn.save(net(), tmp), IsADirectoryError,
    "is a directory")
row("save", "unsupported-metadata", lambda tmp: fcnn.save(net(), tmp / "m.safetensors",
    callback=print), TypeError, r"metadata\['callback'\]")
row("save", "mixed-dtypes", lambda tmp: fcnn.save(fcnn.Sequential(
    fcnn.Linear(2, 2), fcnn.Linear(2, 2, dtype=np.float32)), tmp / "m.safetensors"), ValueError,
    "mixes dtypes")

# -- load: hostile files (no code runs, bounded memory) -----------------------
LD = "load"
MiB = 2**20
row(LD, "missing-file", lambda tmp: fcnn.load(tmp / "none.safetensors"), FileNotFoundError,
    "no such model file")
row(LD, "path-not-a-path", no_tmp(lambda: fcnn.load(3)), TypeError, "file path")
row(LD, "directory", lambda tmp: fcnn.load(tmp), ModelFileError, "is a directory")
row(LD, "empty-file", lambda tmp: fcnn.load(write(tmp, "e.safetensors", b"")), ModelFileError,
    "empty")
row(LD, "pickle", lambda tmp: fcnn.load(pickle_file(tmp)), ModelFileError, "pickle",
    "never unpickles", after=pickle_not_run)
row(LD, "npz-with-object-array", lambda tmp: fcnn.load(npz_with_object_array(tmp)),
    ModelFileError, "zip archive", r"\.npz", after=pickle_not_run)
row(LD, "npy", lambda tmp: fcnn.load(write(tmp, "w.npy", b"\x93NUMPY\x01\x00" + bytes(100))),
    ModelFileError, "NumPy .npy")
row(LD, "zip-bomb", lambda tmp: fcnn.load(tmp / "bomb.safetensors"), ModelFileError,
    "zip archive", max_alloc=MiB, setup=zip_bomb)
row(LD, "text-file", lambda tmp: fcnn.load(write(tmp, "t.safetensors", "hello, I am a model")),
    ModelFileError, "header declares", "limit")
row(LD, "huge-declared-header", lambda tmp: fcnn.load(tmp / "h.safetensors"), ModelFileError,
    "header declares 9223372036854775808 bytes", "limit", max_alloc=MiB,
    setup=lambda tmp: write(tmp, "h.safetensors", struct.pack("<Q", 2**63) + b"{}"))
row(LD, "truncated-in-length", lambda tmp: fcnn.load(truncated(tmp, lambda n, size: 5)),
    ModelFileError, "5 bytes", "truncated")
row(LD, "truncated-in-header", lambda tmp: fcnn.load(truncated(tmp, lambda n, size: 8 + n // 2)),
    ModelFileError, "truncated")
row(LD, "truncated-in-data", lambda tmp: fcnn.load(truncated(tmp, lambda n, size: size - 3)),
    ModelFileError, "truncated|corrupted")
row(LD, "header-not-json", lambda tmp: fcnn.load(write(tmp, "j.safetensors",
    safetensors_bytes(b"{not json"))), ModelFileError, "not valid JSON")
row(LD, "plain-safetensors", lambda tmp: fcnn.load(write(tmp, "p.safetensors", safetensors_bytes(
    {"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)))), ModelFileError,
    "not an fcnn model file", "tensors w")
row(LD, "extra-tensor", lambda tmp: fcnn.load(tampered(tmp, extra_tensor)), ModelFileError,
    r"unexpected tensor\(s\) 9\.weight")
row(LD, "missing-tensor", lambda tmp: fcnn.load(tampered(tmp, without_last_bias)), ModelFileError,
    r"missing tensor\(s\) 2\.bias")
row(LD, "mismatched-shape", lambda tmp: fcnn.load(tampered(tmp, reshaped_weight)), ModelFileError,
    r"'0\.weight' has shape \(3, 2\)", r"needs \(2, 3\)")
row(LD, "nan-weights", lambda tmp: fcnn.load(tampered(tmp, nan_weight)), ModelFileError,
    r"'0\.weight' holds 1 NaN or infinite")
row(LD, "huge-declared-tensor", lambda tmp: fcnn.load(tmp / "tampered.safetensors"),
    ModelFileError, "tensors overlap or leave a gap", "0.weight", "corrupted", max_alloc=MiB,
    setup=lambda tmp: tampered(tmp, huge_tensor))
row(LD, "code-as-layer-type", lambda tmp: fcnn.load(tampered(tmp, foreign_layer)), ModelFileError,
    "unknown layer type 'os.system'")
row(LD, "newer-format", lambda tmp: fcnn.load(tampered(tmp, newer_format)), ModelFileError,
    "newer fcnn", "upgrade")

# -- export: ONNX, PyTorch, scikit-learn (fcnn.export) -------------------------


class _NoRule(fcnn.Layer):
    """A layer no exporter knows (deliberately not registered)."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        return X


def _nothing_written(tmp: Path) -> None:
    if list(tmp.iterdir()):
        pytest.fail(f"files were written: {sorted(p.name for p in tmp.iterdir())}")


def _torch_module(*names: str) -> Any:
    import torch

    return torch.nn.Sequential(*(getattr(torch.nn, name)(*args) for name, args in (
        (n, (4, 4) if n == "Linear" else (1, 1, 1) if n == "Conv1d" else ()) for n in names)))


def _sklearn_pipeline(step: str) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(PCA(2), MLPClassifier((3,), max_iter=2, random_state=0)).fit(X6, Y6)


EX = "export_onnx"
row(EX, "unsupported-layer", lambda tmp: fcnn.export_onnx(fcnn.Sequential(fcnn.Linear(4, 4), _NoRule()),
    tmp / "m.onnx"), TypeError, r"layer 1 \(.*_NoRule\) has no ONNX rule", "register_onnx",
    after=_nothing_written)
row(EX, "unknown-output", lambda tmp: fcnn.export_onnx(net(), tmp / "m.onnx", output="probs"),
    ValueError, "output must be one of 'logits', 'proba', 'both'", "'probs'", after=_nothing_written)
row(EX, "path-is-a-directory", lambda tmp: fcnn.export_onnx(net(), tmp), IsADirectoryError,
    "is a directory", after=_nothing_written)
row(EX, "missing-directory", lambda tmp: fcnn.export_onnx(net(), tmp / "no" / "m.onnx"),
    FileNotFoundError, "directory does not exist", after=_nothing_written)
row(EX, "opset-too-old", lambda tmp: fcnn.export_onnx(net(), tmp / "m.onnx", opset=11), ValueError,
    r"opset must be an int in \[13, ", "got 11", after=_nothing_written)
row(EX, "layernorm-before-opset-17", lambda tmp: fcnn.export_onnx(fcnn.Sequential(fcnn.LayerNorm(4)),
    tmp / "m.onnx", opset=16), ValueError, "LayerNorm", "opset >= 17", after=_nothing_written)
row(EX, "class-count", lambda tmp: fcnn.export_onnx(net(), tmp / "m.onnx", classes=["a", "b"]),
    ValueError, "2 class names for a model with 3 output", after=_nothing_written)
row(EX, "not-a-model", lambda tmp: fcnn.export_onnx({"weights": 1}, tmp / "m.onnx"), TypeError,
    "not a fitted MLPClassifier/MLPRegressor", "dict", after=_nothing_written)
row(EX, "unfitted-estimator", lambda tmp: fcnn.export_onnx(estimator("classifier"), tmp / "m.onnx"),
    ValueError, "unfitted MLPClassifier", "fit it first", after=_nothing_written)

TT = "to_torch"
row(TT, "not-a-model", no_tmp(lambda: fcnn.to_torch("model")), TypeError,
    "expected an fcnn model", "str")
row(TT, "unsupported-layer", no_tmp(lambda: fcnn.to_torch(fcnn.Sequential(fcnn.ReLU(), _NoRule()))),
    TypeError, r"layer 1 \(.*_NoRule\) has no PyTorch counterpart", "register_torch")

FT = "from_torch"
row(FT, "not-a-module", no_tmp(lambda: fcnn.from_torch(net())), TypeError,
    r"expected a torch\.nn\.Module", "Sequential")
row(FT, "unconvertible-module", no_tmp(lambda: fcnn.from_torch(_torch_module("Linear", "Conv1d"))),
    TypeError, r"module '1' \(Conv1d\) has no fcnn counterpart", "Linear")

FS = "from_sklearn"
row(FS, "unfitted", no_tmp(lambda: fcnn.from_sklearn(estimator("regressor"))), ValueError,
    "unfitted MLPRegressor", "fit it first")
row(FS, "not-an-mlp", no_tmp(lambda: fcnn.from_sklearn([1, 2])), TypeError,
    "a list, not a fitted MLPClassifier/MLPRegressor")
row(FS, "other-pipeline-step", no_tmp(lambda: fcnn.from_sklearn(_sklearn_pipeline("pca"))), TypeError,
    "step 'pca' is a PCA", "StandardScaler")
row("save", "unfitted-estimator", lambda tmp: fcnn.save(estimator("classifier"), tmp / "m.safetensors"),
    ValueError, "fcnn.save", "unfitted MLPClassifier", after=_nothing_written)

LS = "load_state_dict_file"
row(LS, "missing-file", lambda tmp: fcnn.load_state_dict_file(net(), tmp / "none.safetensors"),
    FileNotFoundError, "no such file")
row(LS, "fcnn-layout-file", lambda tmp: fcnn.load_state_dict_file(net(), tmp / "m.safetensors"),
    ModelFileError, "fcnn's layout", "fcnn.load",
    setup=lambda tmp: fcnn.save(net(), tmp / "m.safetensors"))
row(LS, "other-architecture", lambda tmp: fcnn.load_state_dict_file(net(), tmp / "t.safetensors"),
    ShapeError, r"'0\.weight' has shape \(3, 4\)", r"this model's is \(4, 5\)",
    setup=lambda tmp: fcnn.save(fcnn.mlp([3, 4, 3], rng=0), tmp / "t.safetensors", layout="torch"))
row(LS, "not-a-model", lambda tmp: fcnn.load_state_dict_file("model", tmp / "t.safetensors"), TypeError,
    "expected an fcnn model")

# -- estimators ---------------------------------------------------------------


def estimator(kind: str, **kwargs: Any) -> Any:
    from fcnn.estimators import MLPClassifier, MLPRegressor

    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    return cls(**{"hidden_layer_sizes": (5,), "max_iter": 2, "random_state": 0, **kwargs})


def fit(kind: str, X: Any = X6, y: Any = Y6, **kwargs: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # ConvergenceWarning
            return estimator(kind, **kwargs).fit(X, y)

    return call


def fitted(kind: str) -> Any:
    return fit(kind)(Path())


C, R = "estimators.MLPClassifier", "estimators.MLPRegressor"
row(C, "nan-X", fit("classifier", X=with_value(X6, np.nan)), ValueError, "NaN")
row(C, "1-d-X", fit("classifier", X=X6[:, 0]), ValueError, "2D array", r"reshape\(-1, 1\)")
row(C, "empty-X", fit("classifier", X=X6[:0], y=Y6[:0]), ValueError, "0 sample")
row(C, "non-numeric-X", fit("classifier", X=np.full((6, 4), "a")), ValueError, "string|float")
row(C, "complex-X", fit("classifier", X=X6.astype(complex)), ValueError, "Complex")
row(C, "label-count", fit("classifier", y=Y6[:4]), ValueError, "inconsistent numbers of samples")
row(C, "nan-labels", fit("classifier", y=with_value(Y6, np.nan, (0,))), ValueError, "NaN")
row(C, "continuous-labels", fit("classifier", y=X6[:, 0]), ValueError, "continuous")
row(C, "negative-lr", fit("classifier", learning_rate_init=-0.1), ValueError,
    "learning_rate_init", "-0.1")
row(C, "batch-size-0", fit("classifier", batch_size=0), ValueError, "batch_size")
row(C, "dropout-one", fit("classifier", dropout=1.0), ValueError, "dropout", r"\[0.0, 1.0\)")
row(C, "hidden-0", fit("classifier", hidden_layer_sizes=(0,)), ValueError, "hidden_layer_sizes")
row(C, "unknown-activation", fit("classifier", activation="swish"), ValueError, "activation",
    "'swish'")
row(C, "unknown-solver", fit("classifier", solver="rmsprop"), ValueError, "solver", "lbfgs",
    "adam", "'rmsprop'")
row(C, "max-iter-0", fit("classifier", max_iter=0), ValueError, "max_iter")
row(C, "batch-norm-zero-weight-batch",
    lambda tmp: estimator("classifier", norm="batch", batch_size=2, shuffle=False).fit(
        X6, Y6, sample_weight=np.array([0, 0, 1, 1, 1, 1.0])),
    ValueError, "training batch of 2 rows sum to 0", "Weights sum to zero", "batch_size")
row(C, "zero-weight-batch", lambda tmp: estimator("classifier", batch_size=2, shuffle=False).fit(
    X6, Y6, sample_weight=np.array([0, 0, 1, 1, 1, 1.0])), ValueError, "sum to 0", "shuffle=True")
row(C, "X-beyond-float32", fit("classifier", X=with_value(X6, 1e300), dtype=np.float32),
    ValueError, "float32")
row(C, "predict-unfitted", no_tmp(lambda: estimator("classifier").predict(X6)), ValueError,
    "not fitted")
row(C, "predict-wrong-width", no_tmp(lambda: fitted("classifier").predict(X6[:, :3])), ValueError,
    "3 features", "expecting 4")
row(C, "predict-nan", no_tmp(lambda: fitted("classifier").predict(with_value(X6, np.nan))),
    ValueError, "NaN")
row(C, "predict-1-d", no_tmp(lambda: fitted("classifier").predict(X6[0])), ValueError, "2D array")
row(R, "nan-target", fit("regressor", y=np.full(6, np.nan)), ValueError, "NaN")
row(R, "inf-target", fit("regressor", y=np.full(6, np.inf)), ValueError, "infinity")
row(R, "3-d-target", fit("regressor", y=np.zeros((6, 1, 1))), ValueError, "dim 3")
row(R, "predict-unfitted", no_tmp(lambda: estimator("regressor").predict(X6)), ValueError,
    "not fitted")
row(R, "diverges", fit("regressor", X=X6 * 100, y=X6.sum(axis=1) * 1e3, solver="sgd",
    learning_rate_init=1e3, max_iter=200), DivergenceError, "diverged", "smaller learning rate")


def sparse_with_nan() -> Any:
    import scipy.sparse as sp

    X = sp.csr_matrix(X6)
    X.data[3] = np.nan
    return X


def warm_refit(kind: str, X2: Any, y2: Any, **kwargs: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        est = fit(kind, warm_start=True, **kwargs)(tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            return est.fit(X2, y2)

    return call


def multilabel_then(y2: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        Y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
        est = estimator("classifier")
        est.partial_fit(X6, Y, classes=[0, 1, 2])
        return est.partial_fit(X6, y2)

    return call


row(C, "sparse-nan", fit("classifier", X=sparse_with_nan()), ValueError, "NaN")
row(C, "sample-weight-length", lambda tmp: estimator("classifier").fit(X6, Y6, sample_weight=np.ones(4)),
    ValueError, r"sample_weight.shape == \(4,\), expected \(6,\)")
row(R, "sample-weight-length", lambda tmp: estimator("regressor").fit(X6, Y6 * 1.0,
    sample_weight=np.ones(7)), ValueError, r"sample_weight.shape == \(7,\), expected \(6,\)")
row(C, "sample-weight-2d", lambda tmp: estimator("classifier").fit(X6, Y6,
    sample_weight=np.ones((6, 1))), ValueError, "1D array or scalar")
row(C, "warm-start-new-classes", warm_refit("classifier", X6, np.array([0, 1, 3, 0, 1, 3])),
    ValueError, "warm_start can only be used where `y` has the same classes")
row(C, "warm-start-new-features", warm_refit("classifier", X6[:, :3], Y6), ValueError,
    "3 features", "expecting 4")
row(R, "warm-start-new-features", warm_refit("regressor", X6[:, :2], Y6 * 1.0), ValueError,
    "2 features", "expecting 4")


def resized_then(method: str) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # ConvergenceWarning
            est = estimator("classifier", warm_start=True).fit(X6, Y6)
            est.set_params(hidden_layer_sizes=(7, 3))
            return est.fit(X6, Y6) if method == "fit" else est.partial_fit(X6, Y6)

    return call


row(C, "warm-start-new-hidden-sizes", resized_then("fit"), ValueError, "warm_start=True continues",
    r"hidden layers are \(5,\)", r"hidden_layer_sizes is now \(7, 3\)")
row(C, "partial-fit-new-hidden-sizes", resized_then("partial_fit"), ValueError,
    "partial_fit continues", r"\(5,\)", r"\(7, 3\)")
row(C, "multilabel-wrong-width", multilabel_then(np.ones((6, 4), dtype=int)), ValueError,
    "4 label columns", "fitted with 3")
row(C, "partial-fit-unknown-class", no_tmp(lambda: estimator("classifier").partial_fit(
    X6, Y6, classes=[0, 1, 2]).partial_fit(X6, np.array([0, 1, 5, 0, 1, 2]))), ValueError,
    "`y` has classes not in `self.classes_`")
row(C, "partial-fit-no-classes", no_tmp(lambda: estimator("classifier").partial_fit(X6, Y6)),
    ValueError, "classes must be passed on the first call")
row(C, "unknown-learning-rate", fit("classifier", learning_rate="cosine"), ValueError,
    "learning_rate", "invscaling", "adaptive")
row(C, "n-iter-no-change-0", fit("classifier", n_iter_no_change=0), ValueError,
    "n_iter_no_change", "inf")
row(C, "max-fun-0", fit("classifier", solver="lbfgs", max_fun=0), ValueError, "max_fun")
row(C, "power-t-negative", fit("classifier", power_t=-1.0), ValueError, "power_t")
row(C, "momentum-above-1", fit("classifier", momentum=1.5), ValueError, "momentum")
row(C, "class-weight-string", fit("classifier", class_weight="even"), ValueError, "class_weight",
    "balanced")
row(C, "class-weight-balanced-partial-fit", no_tmp(lambda: estimator(
    "classifier", class_weight="balanced").partial_fit(X6, Y6, classes=[0, 1, 2])), ValueError,
    "'balanced' is not supported for partial_fit")
row(C, "callbacks-not-callable", fit("classifier", callbacks=[3]), TypeError, "callbacks",
    "f\\(epoch, logs\\)")
row(C, "callbacks-not-a-list", fit("classifier", callbacks="print"), ValueError, "callbacks")
row(C, "dtype-int", fit("classifier", dtype="int32"), ValueError, "dtype", "float32")
row(C, "dropout-with-lbfgs", fit("classifier", solver="lbfgs", dropout=0.2), ValueError,
    "stochastic solver")
row(C, "validation-set-too-small", fit("classifier", early_stopping=True), ValueError,
    "The validation set is too small")
row(C, "early-stopping-partial-fit", no_tmp(lambda: estimator("classifier", early_stopping=True)
    .partial_fit(X6, Y6, classes=[0, 1, 2])), ValueError, "partial_fit does not support early")
row(R, "unknown-loss", fit("regressor", y=Y6 * 1.0, loss="huber"), ValueError, "loss",
    "squared_error", "poisson")


def with_coef(shape: tuple[int, ...]) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        est = fitted("classifier")
        est.coefs_[0] = np.zeros(shape)
        return est.partial_fit(X6, Y6)

    return call


row(C, "assigned-coef-wrong-shape", with_coef((1, 5)), ValueError, r"shape \(1, 5\)",
    r"network's is \(4, 5\)")
row(R, "partial-fit-outputs-change", no_tmp(lambda: estimator("regressor").partial_fit(
    X6, np.ones((6, 2))).partial_fit(X6, np.ones(6))), ValueError, "1 output column", "with 2")


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"needs {case.needs}")] if case.needs else []
    return pytest.param(case, id=f"{case.entry}-{case.id}", marks=marks)


# -- registration ------------------------------------------------------------
for _entry in ("register_layer", "register_loss", "register_optimizer"):
    row(_entry, "not-a-class", no_tmp(lambda e=_entry: getattr(fcnn, e)(lambda X: X)), TypeError,
        "expects a class")
row("register_layer", "name-taken", no_tmp(
    lambda: fcnn.register_layer(type("Other", (fcnn.Layer,), {}), name="Linear")), ValueError,
    "'Linear' is already taken by fcnn.layers.Linear", "another name")
row("register_activation", "empty-name", no_tmp(
    lambda: fcnn.register_activation("")(type("Act", (fcnn.Layer,), {}))), TypeError,
    "non-empty string")
row("register_activation", "name-taken", no_tmp(
    lambda: fcnn.register_activation("relu")(type("Act", (fcnn.Layer,), {}))), ValueError,
    "'relu' is already taken")


@pytest.mark.parametrize("case", [_param(c) for c in ROWS])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    if case.max_alloc is not None:
        tracemalloc.start()
    try:
        with pytest.raises(case.error) as info:
            case.call(tmp_path)
        if case.max_alloc is not None:
            _, peak = tracemalloc.get_traced_memory()
            assert peak < case.max_alloc, f"allocated {peak} bytes"
    finally:
        if case.max_alloc is not None:
            tracemalloc.stop()
    # The documented contract: a built-in ValueError/TypeError (or OSError for a path),
    # so that code catching those keeps working.
    assert isinstance(info.value, (ValueError, TypeError, OSError)), type(info.value)
    message = str(info.value)
    for words in case.words:
        assert re.search(words, message, re.IGNORECASE), f"{words!r} not in {message!r}"
    if case.after is not None:
        case.after(tmp_path)


def test_the_table_has_unique_ids_and_only_documented_exceptions() -> None:
    ids = [f"{c.entry}-{c.id}" for c in ROWS]
    assert len(ids) == len(set(ids))
    for case in ROWS:
        assert issubclass(case.error, (ValueError, TypeError, OSError)), case
        assert case.words, case  # every row checks its message
        if case.error.__module__.startswith("fcnn"):
            assert issubclass(case.error, FcnnError)


# Every public entry point has rows (the estimators' and the CLI's below).
PUBLIC = {
    "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "NLLLoss", "CrossEntropyLoss",
    "MSELoss", "mse", "grad_mse", "softmax", "log_softmax", "Sequential", "mlp", "NeuralNetwork",
    "Parameter", "SGD", "Adam", "AdamW", "RMSprop", "train", "predict", "EarlyStopping",
    "ModelCheckpoint", "check_gradient", "check_layer", "save", "load",
    "init.lab", "init.torch_default", "init.he_normal", "init.he_uniform", "init.glorot_normal",
    "init.glorot_uniform", "init.as_generator", "init.get_initializer",
    "gradcheck.relative_error", "gradcheck.numerical_gradient",
    "datasets.load_dataset", "datasets.train_test_split", "datasets.standardize",
    "datasets.load_features_csv", "plots.plot_loss", "plots.plot_confusion_matrix",
    "plots.optimizer_path", "plots.plot_optimizer_path",
    "estimators.MLPClassifier", "estimators.MLPRegressor", "run", "RunConfig",
}

PUBLIC |= {"Adagrad", "Optimizer.load_state_dict", "optim.flatten_state_dict",
           "optim.unflatten_state_dict"} | {f"lr_scheduler.{name}" for name in (
    "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR",
    "CosineAnnealingWarmRestarts", "SequentialLR", "ReduceLROnPlateau")}


def test_every_public_entry_point_has_rows() -> None:
    covered = {case.entry for case in ROWS}
    assert PUBLIC <= covered, sorted(PUBLIC - covered)
    exported = {name for name in fcnn.__all__ if callable(getattr(fcnn, name))}
    abstract = {"Layer", "Loss", "Optimizer", "History"}
    errors = {name for name in exported if name.endswith("Error")}
    assert exported - abstract - errors <= covered, sorted(exported - abstract - errors - covered)


# --------------------------------------------------------------------------- the CLI


@dataclass(frozen=True)
class CliCase:
    id: str
    argv: tuple[str, ...]  # "{tmp}" stands for the test's temporary directory
    words: tuple[str, ...]


def cli(id: str, *argv: str, words: tuple[str, ...]) -> CliCase:
    return CliCase(id, argv, words)


CLI_ROWS = [
    cli("unknown-command", "frobnicate", words=("invalid choice", "train")),
    cli("unknown-flag", "train", "--frob", words=("unrecognized arguments", "--frob")),
    cli("negative-lr", "train", "--lr", "-1", words=("--lr", "positive")),
    cli("nan-lr", "train", "--lr", "nan", words=("--lr", "finite")),
    cli("word-lr", "train", "--lr", "fast", words=("--lr", "'fast'")),
    cli("epochs-0", "train", "--epochs", "0", words=("--epochs", "positive integer")),
    cli("batch-size-0", "train", "--batch-size", "0", words=("--batch-size",)),
    cli("batch-size-float", "train", "--batch-size", "2.5", words=("--batch-size", "'2.5'")),
    cli("bad-hidden", "train", "--hidden", "a,b", words=("--hidden", "100,100")),
    cli("test-size-above-1", "train", "--test-size", "2", words=("--test-size", r"\(0, 1\)")),
    cli("negative-seed", "train", "--seed", "-1", words=("--seed", ">= 0")),
    cli("unknown-activation", "train", "--activation", "swish", words=("--activation", "relu")),
    cli("unknown-optimizer", "train", "--optimizer", "lbfgs", words=("--optimizer", "adam")),
    cli("dtype-float16", "train", "--dtype", "float16", words=("--dtype", "float32")),
    cli("unknown-dataset", "train", "--dataset", "irsi", words=("irsi", "iris")),
    cli("missing-csv", "train", "--dataset", "{tmp}/none.csv", words=("none.csv", "no such file")),
    cli("strings-in-csv", "train", "--dataset", "{tmp}/strings.csv", "--out", "{tmp}/run",
        words=("non-numeric value 'x'", "line 2")),
    cli("out-is-a-file", "train", "--epochs", "1", "--out", "{tmp}/strings.csv", "--no-progress",
        words=("not a directory",)),
    cli("evaluate-pickle", "evaluate", "{tmp}/model.pkl", words=("pickle", "never unpickles")),
    cli("evaluate-missing-model", "evaluate", "{tmp}/none.safetensors", words=("no such",)),
    cli("predict-text-as-model", "predict", "{tmp}/text.safetensors", "{tmp}/strings.csv",
        words=("cannot load", "header declares")),
    cli("predict-missing-input", "predict", "{tmp}/none.safetensors", "{tmp}/none.csv",
        words=("no such",)),
    cli("trajectory-steps-0", "trajectory", "--steps", "0", words=("--steps",)),
    cli("trajectory-diverging-lr", "trajectory", "--lr", "1e50", "--out", "{tmp}/t.png",
        words=("diverged", "smaller")),
    cli("gradcheck-negative-rtol", "gradcheck", "--rtol", "-1", words=("--rtol", "positive")),
    cli("resume-missing-folder", "train", "--resume", "{tmp}/run", "--epochs", "3",
        words=("--resume", "no such run folder")),
    cli("resume-not-a-run-folder", "train", "--resume", "{tmp}", "--epochs", "3",
        words=("--resume", "no checkpoint.safetensors")),
    cli("resume-a-file", "train", "--resume", "{tmp}/text.safetensors", "--epochs", "3",
        words=("--resume", "not a folder")),
    cli("resume-with-other-flags", "train", "--resume", "{tmp}", "--lr", "0.1",
        words=("--resume", "--lr", "only --epochs")),
    cli("scheduler-unknown", "train", "--scheduler", "linear", words=("--scheduler", "'linear'",
                                                                      "cosine", "plateau")),
    cli("scheduler-step-size-0", "train", "--scheduler", "step:0", words=("--scheduler",
                                                                          "STEP_SIZE", ">= 1")),
    cli("scheduler-gamma-above-1", "train", "--scheduler", "exponential:2",
        words=("--scheduler", "GAMMA")),
    cli("scheduler-too-many-fields", "train", "--scheduler", "onecycle:3",
        words=("--scheduler", "onecycle")),
    cli("warmup-with-onecycle", "train", "--warmup", "2", "--scheduler", "onecycle",
        words=("--warmup", "onecycle")),
    cli("metrics-unknown", "train", "--metrics", "accuracy,auc", words=("--metrics", "'auc'",
                                                                        "f1_macro")),
    cli("metrics-wrong-task", "train", "--metrics", "r2", "--out", "{tmp}/run",
        words=("--metrics r2", "classification", "accuracy")),
    cli("clip-norm-and-value", "train", "--clip-grad-norm", "1", "--clip-grad-value", "1",
        words=("--clip-grad-norm", "not both")),
    cli("class-weight-unknown", "train", "--class-weight", "auto", words=("--class-weight",
                                                                          "balanced")),
    cli("class-weight-unknown-class", "train", "--class-weight", "rose=2", "--out", "{tmp}/run",
        words=("--class-weight", "no class 'rose'", "setosa, versicolor, virginica")),
    cli("trajectory-unknown-optimizer", "trajectory", "--optimizer", "sgd,lbfgs",
        words=("--optimizer", "lbfgs", "adam")),
    cli("export-missing-model", "export", "{tmp}/none.safetensors", "-o", "{tmp}/m.onnx",
        words=("none.safetensors", "no such")),
    cli("export-unknown-suffix", "export", "{tmp}/text.safetensors", "-o", "{tmp}/m.bin",
        words=("-o", "--format")),
]


@pytest.mark.parametrize("case", CLI_ROWS, ids=[c.id for c in CLI_ROWS])
def test_cli_bad_input(case: CliCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fcnn.cli import main

    csv(tmp_path, "a,b,y\n1,x,0\n2,3,1\n").rename(tmp_path / "strings.csv")
    pickle_file(tmp_path)
    write(tmp_path, "text.safetensors", "hello, I am a model")
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in case.argv]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fcnn: error: ") and "Traceback" not in err
    for words in case.words:
        assert re.search(words, lines[0], re.IGNORECASE), f"{words!r} not in {lines[0]!r}"
    pickle_not_run(tmp_path)
    assert not (tmp_path / "run").exists()  # a refused run writes nothing


def test_element_wise_layers_agree_on_float16_input() -> None:
    X = np.linspace(-3, 3, 12, dtype=np.float16).reshape(3, 4)
    dtypes = {cls.__name__: cls().forward(X).dtype
              for cls in (fcnn.ReLU, fcnn.LeakyReLU, fcnn.Sigmoid, fcnn.Tanh, fcnn.Dropout)}
    assert set(dtypes.values()) == {np.dtype(np.float64)}, dtypes


# --------------------------------------------------------------------------- refused calls change nothing


def weights_of(model: Any) -> list[np.ndarray]:
    return [p.weights.copy() for p in model.parameters()]


def assert_same(before: list[np.ndarray], model: Any) -> None:
    for a, p in zip(before, model.parameters(), strict=True):
        np.testing.assert_array_equal(a, p.weights)


def test_refused_train_touches_neither_model_nor_optimizer() -> None:
    model = net()
    optimizer = fcnn.Adam(model.parameters(), lr=0.1)
    before = weights_of(model)
    for bad in (dict(y=Y6 + 1), dict(X=with_value(X6, np.nan)), dict(batch_size=0),
                dict(validation_data=(X6, Y6 + 9))):
        with pytest.raises(ValueError):
            run_train(model=model, optimizer=optimizer, **bad)(Path())
    assert_same(before, model)
    assert optimizer.steps == 0 and all(not s for s in optimizer.state)
    assert model.training and model.check_finite  # train() restored the flags it changed


def test_refused_forward_keeps_the_previous_cache() -> None:
    layer = fcnn.Linear(4, 3, rng=0)
    layer.forward(X6)
    for bad in (np.ones((6, 7)), with_value(X6, np.nan), X6.astype(str)):
        with pytest.raises((ValueError, TypeError)):
            layer.forward(bad)
    dLdy = np.ones((6, 3))
    np.testing.assert_array_equal(layer.backward(dLdy), dLdy @ layer.w.weights.T)
    np.testing.assert_array_equal(layer.w.grad, X6.T @ dLdy)  # the cache is the good X


def test_refused_loss_keeps_the_previous_backward() -> None:
    loss = fcnn.NLLLoss()
    loss(LOGITS, Y6)
    expected = loss.backward()
    for bad in (Y6 + 3, Y6[:, None], np.eye(3)[Y6]):
        with pytest.raises(LabelError):
            loss(LOGITS, bad)
    np.testing.assert_array_equal(loss.backward(), expected)


def test_refused_assignment_keeps_the_parameter() -> None:
    p = fcnn.Parameter(np.arange(4, dtype=np.float32))
    for value in (np.ones(5), np.array(list("abcd")), np.array([0.0, 1.0, 2.0, 1e39])):
        with pytest.raises((ValueError, TypeError)):
            p.weights = value
    np.testing.assert_array_equal(p.weights, [0, 1, 2, 3])


def test_refused_save_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    fcnn.save(net(), path, epoch=1)
    before = path.read_bytes()
    for call in (lambda: fcnn.save(nan_model(), path), lambda: fcnn.save(net(), path, f=print)):
        with pytest.raises((ValueError, TypeError)):
            call()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_checkpoint_into_a_missing_directory_fails_before_training(tmp_path: Path) -> None:
    model = net()
    before = weights_of(model)
    with pytest.raises(FileNotFoundError):
        run_train(model=model, callbacks=[ModelCheckpoint(tmp_path / "no" / "m.safetensors",
                                                          monitor="loss")])(tmp_path)
    assert_same(before, model)


# --------------------------------------------------------------------------- faults: saving


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, bytes, np.ndarray]:
    """A model file from an earlier save: (path, its bytes, its predictions on X6)."""
    path = tmp_path / "model.safetensors"
    model = net()
    fcnn.save(model, path, epoch=1)
    return path, path.read_bytes(), fcnn.predict(model, X6)


def assert_previous_intact(previous: tuple[Path, bytes, np.ndarray], leftovers: int = 0) -> None:
    path, before, predictions = previous
    assert path.read_bytes() == before
    others = [p.name for p in path.parent.iterdir() if p != path]
    assert len(others) == leftovers, others
    loaded = fcnn.load(path)
    assert loaded.metadata == {"epoch": 1}
    np.testing.assert_array_equal(fcnn.predict(loaded, X6), predictions)


def _write_then_fail(keep: Callable[[int], int], exc: BaseException) -> Callable[[int, bytes], None]:
    def write_all(fd: int, data: bytes) -> None:
        os.write(fd, data[: keep(len(data))])
        raise exc

    return write_all


SAVE_FAULTS = {
    "nothing-written": ("_write_all", _write_then_fail(lambda n: 0, OSError(errno.ENOSPC, "full"))),
    "header-length-only": ("_write_all", _write_then_fail(lambda n: 8, OSError(errno.EIO, "I/O"))),
    "half-written": ("_write_all", _write_then_fail(lambda n: n // 2, OSError(errno.ENOSPC, "full"))),
    "all-but-one-byte": ("_write_all", _write_then_fail(lambda n: n - 1, KeyboardInterrupt())),
    "fsync-fails": ("os.fsync", None),
    "rename-interrupted": ("os.replace", None),
}


@pytest.mark.parametrize("stage", list(SAVE_FAULTS))
def test_save_interrupted_at_any_stage_keeps_the_previous_file(
    stage: str, previous: tuple[Path, bytes, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    where, replacement = SAVE_FAULTS[stage]
    if where == "_write_all":
        monkeypatch.setattr(serialization, "_write_all", replacement)
    elif where == "os.fsync":
        def fsync(fd: int) -> None:
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(serialization.os, "fsync", fsync)
    else:
        def replace(src: Any, dst: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(serialization.os, "replace", replace)
    with pytest.raises((OSError, KeyboardInterrupt)):
        fcnn.save(fcnn.mlp([4, 5, 3], rng=9), previous[0], epoch=2)
    monkeypatch.undo()
    assert_previous_intact(previous)  # and no temporary file is left behind


def test_failed_first_save_leaves_no_file_under_the_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serialization, "_write_all",
                        _write_then_fail(lambda n: n // 2, OSError(errno.ENOSPC, "full")))
    with pytest.raises(OSError, match="full"):
        fcnn.save(net(), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


# A child that completes one save, then blocks half-way through the next one
# and waits to be killed.
_CHILD_BLOCKED_MID_SAVE = """
import os, sys, time
import fcnn
from fcnn import serialization

path = sys.argv[1]
fcnn.save(fcnn.mlp([4, 5, 3], rng=0), path, epoch=1)

def half_then_block(fd, data):
    os.write(fd, data[: len(data) // 2])
    print("half-written", flush=True)
    time.sleep(120)

serialization._write_all = half_then_block
fcnn.save(fcnn.mlp([4, 5, 3], rng=1), path, epoch=2)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_save_in_a_killed_process_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    child = subprocess.Popen([sys.executable, "-c", _CHILD_BLOCKED_MID_SAVE, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "half-written", child.stderr.read()
        child.kill()
    finally:
        child.kill()
        child.communicate(timeout=60)
    loaded = fcnn.load(path)
    assert loaded.metadata == {"epoch": 1}
    np.testing.assert_array_equal(fcnn.predict(loaded, X6), fcnn.predict(net(), X6))


# --------------------------------------------------------------------------- faults: training


def classification(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)


def test_divergence_keeps_the_last_finite_weights_and_the_history() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)) * 10
    y = X.sum(axis=1, keepdims=True)
    model = fcnn.mlp([4, 8, 1], "tanh", rng=0)
    seen: list[list[np.ndarray]] = []
    with pytest.raises(DivergenceError, match=r"epoch \d+, step \d+") as info:
        fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=1.0), X, y,
                   epochs=500, batch_size=10, rng=0, progress=False,
                   callbacks=[lambda epoch, logs: seen.append(weights_of(model))])
    history = info.value.history
    assert isinstance(history, fcnn.History) and history.epochs == len(seen) >= 1
    assert len(history.loss) == history.epochs and np.isfinite(history.step_losses).all()
    assert all(np.isfinite(p.weights).all() for p in model.parameters())
    assert np.isfinite(fcnn.predict(model, X)).all()


def test_keyboard_interrupt_inside_a_step_keeps_the_completed_steps() -> None:
    X, y = classification()

    class Interrupting(fcnn.Sequential):
        calls = 0

        def forward(self, X: np.ndarray) -> np.ndarray:
            if self.training:
                type(self).calls += 1
                if self.calls == 5:
                    raise KeyboardInterrupt  # Ctrl-C outside the deferred handler's reach
            return super().forward(X)

    model = Interrupting(*fcnn.mlp([4, 8, 3], rng=0).layers)
    optimizer = fcnn.SGD(model.parameters(), lr=0.1)
    before = signal.getsignal(signal.SIGINT)  # not necessarily Python's default (nohup, &)
    history = fcnn.train(model, fcnn.NLLLoss(), optimizer, X, y, epochs=10, batch_size=20,
                         rng=0, progress=False)
    assert history.interrupted and len(history.step_losses) == 4 and optimizer.steps == 4
    assert history.epochs == 1  # epoch 2 was cut short and is not recorded
    assert all(np.isfinite(p.weights).all() for p in model.parameters())
    assert signal.getsignal(signal.SIGINT) is before


# The child delivers a real SIGINT to itself in the middle of step 5 (inside
# forward); the loop's handler must let that step finish and stop after it.
_CHILD_SIGINT_MID_STEP = """
import json, os, signal
import numpy as np
import fcnn

rng = np.random.default_rng(1)
X = rng.standard_normal((60, 4)); y = (X[:, 0] > 0).astype(int)

class SigintAtStep5(fcnn.Sequential):
    calls = 0
    def forward(self, X):
        if self.training:
            SigintAtStep5.calls += 1
            if SigintAtStep5.calls == 5:
                os.kill(os.getpid(), signal.SIGINT)
        return super().forward(X)

model = SigintAtStep5(*fcnn.mlp([4, 8, 2], rng=0).layers)
optimizer = fcnn.SGD(model.parameters(), lr=0.1)
before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
history = fcnn.train(model, fcnn.NLLLoss(), optimizer, X, y, epochs=100, batch_size=20, rng=0,
                     progress=False)
print(json.dumps({
    "interrupted": history.interrupted, "steps": optimizer.steps, "epochs": history.epochs,
    "step_losses": len(history.step_losses),
    "finite": bool(all(np.isfinite(p.weights).all() for p in model.parameters())),
    "handler_restored": signal.getsignal(signal.SIGINT) is before,
}))
"""


def run_child(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          timeout=timeout)


def test_real_sigint_mid_step_finishes_the_step_and_returns_the_history() -> None:
    result = run_child(_CHILD_SIGINT_MID_STEP)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"interrupted": True, "steps": 5, "epochs": 1, "step_losses": 5,
                      "finite": True, "handler_restored": True}


_CHILD_SIGINT_FROM_OUTSIDE = """
import json, sys
import numpy as np
import fcnn

rng = np.random.default_rng(1)
X = rng.standard_normal((200, 4)); y = (X[:, 0] > 0).astype(int)
model = fcnn.mlp([4, 16, 2], rng=0)

def ready(epoch, logs):
    if epoch == 1:
        print("ready", flush=True)

history = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.01), X, y,
                     epochs=10**6, batch_size=8, rng=0, progress=False, callbacks=[ready])
print(json.dumps({
    "interrupted": history.interrupted, "epochs": history.epochs,
    "losses": len(history.loss), "finite": bool(np.isfinite(history.step_losses).all()
        and all(np.isfinite(p.weights).all() for p in model.parameters())),
    "steps_whole": len(history.step_losses) >= 25 * history.epochs,
}), flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_sigint_from_outside_stops_training_cleanly() -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD_SIGINT_FROM_OUTSIDE],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    report = json.loads(out)
    assert report["interrupted"] and report["finite"] and report["steps_whole"]
    assert report["epochs"] >= 1 and report["losses"] == report["epochs"]


# --------------------------------------------------------------------------- faults: checkpoints


def checkpoint_run(path: Path, epochs: int, **kwargs: Any) -> tuple[Any, list[np.ndarray], Any]:
    """Train with a ModelCheckpoint after every epoch; returns (model, the
    predictions after each epoch, the History or the exception)."""
    X, y = classification()
    model = fcnn.mlp([4, 8, 3], rng=0)
    predictions: list[np.ndarray] = []
    callbacks = [lambda epoch, logs: predictions.append(fcnn.predict(model, X6)),
                 ModelCheckpoint(path, monitor="loss", save_best_only=False, run="battery")]
    try:
        outcome: Any = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.1),
                                  X, y, epochs=epochs, batch_size=16, rng=0, progress=False,
                                  callbacks=callbacks, **kwargs)
    except BaseException as exc:  # the caller checks which
        outcome = exc
    return model, predictions, outcome


def test_checkpoint_last_file_is_the_last_epoch(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    model, predictions, history = checkpoint_run(path, epochs=4)
    loaded = fcnn.load(path)
    assert loaded.metadata["epoch"] == 4 and loaded.metadata["run"] == "battery"
    assert loaded.metadata["metrics"]["loss"] == history.loss[-1]
    np.testing.assert_array_equal(fcnn.predict(loaded, X6), predictions[-1])
    np.testing.assert_array_equal(fcnn.predict(loaded, X6), fcnn.predict(model, X6))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


def test_checkpoint_save_failing_mid_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt.safetensors"
    real = serialization._write_all
    saves = []

    def third_save_fails(fd: int, data: bytes) -> None:
        saves.append(len(data))
        if len(saves) == 3:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(serialization, "_write_all", third_save_fails)
    _, predictions, outcome = checkpoint_run(path, epochs=10)
    assert isinstance(outcome, OSError) and len(saves) == 3
    loaded = fcnn.load(path)
    assert loaded.metadata["epoch"] == 2
    np.testing.assert_array_equal(fcnn.predict(loaded, X6), predictions[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


def test_ctrl_c_during_a_checkpoint_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt.safetensors"
    real = serialization._write_all
    saves = []

    def interrupted_on_third(fd: int, data: bytes) -> None:
        saves.append(len(data))
        if len(saves) == 3:
            os.write(fd, data[:100])
            raise KeyboardInterrupt
        real(fd, data)

    monkeypatch.setattr(serialization, "_write_all", interrupted_on_third)
    model, predictions, history = checkpoint_run(path, epochs=10)
    assert isinstance(history, fcnn.History) and history.interrupted and history.epochs == 3
    loaded = fcnn.load(path)
    assert loaded.metadata["epoch"] == 2
    np.testing.assert_array_equal(fcnn.predict(loaded, X6), predictions[1])
    np.testing.assert_array_equal(fcnn.predict(model, X6), predictions[2])  # epoch 3 kept


_CHILD_KILLED_DURING_CHECKPOINT = """
import hashlib, os, sys, time
import numpy as np
import fcnn
from fcnn import serialization
from fcnn.training import ModelCheckpoint

real = serialization._write_all
saves = []

def third_save_blocks(fd, data):
    saves.append(1)
    if len(saves) == 3:
        os.write(fd, data[: len(data) // 2])
        print("blocked", flush=True)
        time.sleep(120)
    real(fd, data)

serialization._write_all = third_save_blocks
rng = np.random.default_rng(1)
X = rng.standard_normal((60, 4)); y = (X[:, 0] > 0).astype(int)
model = fcnn.mlp([4, 8, 2], rng=0)

def fingerprint(epoch, logs):
    data = b"".join(p.weights.tobytes() for p in model.parameters())
    print(epoch, hashlib.sha256(data).hexdigest(), flush=True)

fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y, epochs=10,
           batch_size=16, rng=0, progress=False,
           callbacks=[fingerprint, ModelCheckpoint(sys.argv[1], monitor="loss",
                                                   save_best_only=False)])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_process_killed_during_a_checkpoint_leaves_the_previous_one_loadable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ckpt.safetensors"
    child = subprocess.Popen([sys.executable, "-c", _CHILD_KILLED_DURING_CHECKPOINT, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fingerprints = {}
    try:
        for line in child.stdout:
            if line.strip() == "blocked":
                break
            epoch, digest = line.split()
            fingerprints[int(epoch)] = digest
        child.kill()
    finally:
        child.kill()
        child.communicate(timeout=60)
    assert sorted(fingerprints) == [1, 2, 3]
    loaded = fcnn.load(path)
    assert loaded.metadata["epoch"] == 2
    data = b"".join(p.weights.tobytes() for p in loaded.parameters())
    assert hashlib.sha256(data).hexdigest() == fingerprints[2]


def test_checkpoint_of_a_diverging_run_holds_finite_weights(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)) * 10
    model = fcnn.mlp([4, 8, 1], "tanh", rng=0)
    with pytest.raises(DivergenceError) as info:
        fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=1.0), X, X.sum(axis=1),
                   epochs=500, batch_size=10, rng=0, progress=False,
                   callbacks=[ModelCheckpoint(path, monitor="loss", save_best_only=False)])
    loaded = fcnn.load(path)
    assert loaded.metadata["epoch"] == info.value.history.epochs
    assert all(np.isfinite(p.weights).all() for p in loaded.parameters())


# --------------------------------------------------------------------------- numerical extremes

EXTREME = np.array([[1e4, -1e4, 0.0, 1.0, -1.0, 88.0, -88.0, 710.0, -710.0, 1e-30]])
DTYPES = [np.float32, np.float64]


@contextlib.contextmanager
def strict_floats():
    """Overflow, invalid operations and division by zero raise; underflow to 0 is fine."""
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield


LAYERS_AT_EXTREMES = {
    "Linear": lambda dtype: fcnn.Linear(EXTREME.shape[1], 3, rng=0, dtype=dtype),
    "ReLU": lambda dtype: fcnn.ReLU(),
    "LeakyReLU": lambda dtype: fcnn.LeakyReLU(0.01),
    "Sigmoid": lambda dtype: fcnn.Sigmoid(),
    "Tanh": lambda dtype: fcnn.Tanh(),
    "Dropout": lambda dtype: fcnn.Dropout(0.5, rng=0),
    "mlp-relu": lambda dtype: fcnn.mlp([EXTREME.shape[1], 8, 3], "relu", rng=0, dtype=dtype),
    "mlp-sigmoid": lambda dtype: fcnn.mlp([EXTREME.shape[1], 8, 3], "sigmoid", rng=0, dtype=dtype),
    "mlp-tanh-dropout": lambda dtype: fcnn.mlp([EXTREME.shape[1], 8, 8, 3], "tanh", dropout=0.3,
                                               rng=0, dtype=dtype),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(LAYERS_AT_EXTREMES))
def test_every_layer_is_finite_at_1e4(name: str, dtype: Any) -> None:
    layer = LAYERS_AT_EXTREMES[name](dtype)
    X = np.repeat(EXTREME, 3, axis=0).astype(dtype)
    with strict_floats():
        y = layer.forward(X)
        dX = layer.backward(np.ones_like(y))
    assert y.dtype == dtype and dX.dtype == dtype
    assert np.isfinite(y).all() and np.isfinite(dX).all()
    assert all(np.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_loss_is_finite_at_1e4(dtype: Any) -> None:
    pred = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype=dtype)
    target = -pred
    labels = np.array([1, 0, 2])
    with strict_floats():
        for loss in (fcnn.MSELoss(), fcnn.MSELoss("sum")):
            value = loss(pred, target)
            grad = loss.backward()
            assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype
        nll = fcnn.NLLLoss()
        value = nll(pred, labels)
        grad = nll.backward()
        assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == dtype
        assert np.isfinite(fcnn.mse(pred, target)) and np.isfinite(fcnn.grad_mse(pred, target)).all()
        assert np.isfinite(fcnn.softmax(pred)).all() and np.isfinite(fcnn.log_softmax(pred)).all()
    # reference values by hand: each row's logsumexp minus its label's logit; (2 pred)^2 summed
    assert value == pytest.approx((2e4 + (2e4 + np.log(2.0)) + (1e4 + np.log(2.0))) / 3, rel=1e-6)
    assert fcnn.mse(pred, target) == pytest.approx(float(np.sum((2 * pred.astype(float)) ** 2)),
                                                   rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_sigmoid_and_tanh_give_the_exact_limits(dtype: Any) -> None:
    X = np.array([[1e4, -1e4, 1e3, -1e3]], dtype=dtype)
    with strict_floats():
        s = fcnn.Sigmoid()
        np.testing.assert_array_equal(s.forward(X), [[1, 0, 1, 0]])
        np.testing.assert_array_equal(s.backward(np.full_like(X, 7)), [[0, 0, 0, 0]])
        t = fcnn.Tanh()
        np.testing.assert_array_equal(t.forward(X), [[1, -1, 1, -1]])
        np.testing.assert_array_equal(t.backward(np.full_like(X, 7)), [[0, 0, 0, 0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_margin_softmax_gives_the_exact_limiting_gradient(dtype: Any) -> None:
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, -1e4, 1e4]], dtype=dtype)
    labels = np.array([0, 1, 2])
    loss = fcnn.NLLLoss()
    with strict_floats():
        value = loss(logits, labels)
        grad = loss.backward()
        probs = fcnn.softmax(logits)
        log_probs = fcnn.log_softmax(logits)
    # softmax saturates to exactly one-hot: right rows give exactly 0 gradient,
    # the wrong row exactly (onehot(argmax) - onehot(label)) / N.
    np.testing.assert_array_equal(grad * 3, [[0, 0, 0], [1, -1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(probs, [[1, 0, 0], [1, 0, 0], [0, 0, 1]])
    assert log_probs[1, 1] == -1e4 and log_probs[0, 0] == 0
    assert value == pytest.approx(1e4 / 3, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_training_step_at_1e4_stays_finite(dtype: Any) -> None:
    X = np.random.default_rng(0).choice([-1e4, 1e4], size=(16, 4)).astype(dtype)
    y = np.arange(16) % 3
    model = fcnn.mlp([4, 8, 3], "tanh", rng=0, dtype=dtype)
    with strict_floats():
        history = fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=1e-3), X, y,
                             epochs=2, batch_size=8, rng=0, progress=False)
    assert np.isfinite(history.step_losses).all()
    assert all(np.isfinite(p.weights).all() and p.dtype == dtype for p in model.parameters())


# --------------------------------------------------------------------------- determinism


def training_run(seed: int, dtype: Any = np.float64) -> tuple[list[float], list[np.ndarray],
                                                                 np.ndarray]:
    X, y = classification()
    model = fcnn.mlp([4, 16, 16, 3], "relu", dropout=0.2, rng=seed, dtype=dtype)
    history = fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=0.01), X, y,
                         epochs=4, batch_size=8, validation_split=0.25, rng=seed, progress=False)
    return (history.step_losses + history.history["val_loss"], weights_of(model),
            fcnn.predict(model, X))


def assert_bit_identical(a: Any, b: Any) -> None:
    losses_a, weights_a, pred_a = a
    losses_b, weights_b, pred_b = b
    assert losses_a == losses_b
    for wa, wb in zip(weights_a, weights_b, strict=True):
        assert wa.tobytes() == wb.tobytes()
    assert pred_a.tobytes() == pred_b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_same_bits(dtype: Any) -> None:
    first = training_run(7, dtype)
    assert_bit_identical(first, training_run(7, dtype))
    other = training_run(8, dtype)
    assert other[0] != first[0]  # the seed matters: the test can fail


_CHILD_TRAINING_RUN = """
import hashlib
import numpy as np
import fcnn
rng = np.random.default_rng(1)
X = rng.standard_normal((60, 4))
y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
model = fcnn.mlp([4, 16, 16, 3], "relu", dropout=0.2, rng=7)
history = fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=0.01), X, y,
                     epochs=4, batch_size=8, validation_split=0.25, rng=7, progress=False)
digest = hashlib.sha256()
for p in model.parameters():
    digest.update(p.weights.tobytes())
digest.update(np.array(history.step_losses + history.history["val_loss"]).tobytes())
digest.update(fcnn.predict(model, X).tobytes())
print(digest.hexdigest())
"""


def test_same_seed_same_bits_in_another_process() -> None:
    losses, weights, predictions = training_run(7)
    digest = hashlib.sha256()
    for w in weights:
        digest.update(w.tobytes())
    digest.update(np.array(losses).tobytes())
    digest.update(predictions.tobytes())
    result = run_child(_CHILD_TRAINING_RUN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == digest.hexdigest()


@pytest.mark.parametrize("name", sorted(set(init.INITIALIZERS.values()), key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_initializers_same_seed_same_bits(name: Any) -> None:
    a, b, c = (name(30, 20, seed, np.float32) for seed in (3, 3, 4))
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert a[0].tobytes() != c[0].tobytes()


def test_estimator_is_repeatable_and_sklearns_model() -> None:
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    from fcnn.estimators import MLPClassifier

    X, y = classification()
    options = dict(hidden_layer_sizes=(16,), max_iter=5, batch_size=10, learning_rate_init=0.01,
                   alpha=0.0, random_state=3, tol=0.0, n_iter_no_change=10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # ConvergenceWarning
        first = MLPClassifier(**options).fit(X, y)
        second = MLPClassifier(**options).fit(X, y)
        reference = SklearnMLPClassifier(**options).fit(X, y)
    assert first.loss_curve_ == second.loss_curve_
    assert first.predict_proba(X).tobytes() == second.predict_proba(X).tobytes()
    # the same seed gives scikit-learn's model (the estimators mirror its draws and steps)
    np.testing.assert_allclose(first.loss_curve_, reference.loss_curve_, rtol=1e-12)
    for a, b in zip(first.coefs_, reference.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert first.predict(X).tolist() == reference.predict(X).tolist()


def test_save_load_predictions_are_bit_identical(tmp_path: Path) -> None:
    for dtype in DTYPES:
        model = fcnn.mlp([4, 8, 3], "tanh", dropout=0.5, rng=0, dtype=dtype)
        fcnn.save(model, tmp_path / "m.safetensors")
        loaded = fcnn.load(tmp_path / "m.safetensors")
        assert fcnn.predict(loaded, X6).tobytes() == fcnn.predict(model, X6).tobytes()


@pytest.mark.parametrize("length", [0x380, 0x480, 0x10580])
def test_a_header_length_that_looks_like_pickle_magic_still_loads(
    tmp_path: Path, length: int
) -> None:
    # Little-endian, a header of 0x480 bytes starts the file with 80 04: pickle
    # protocol 4's first bytes. fcnn.save writes such files; fcnn.load must read them.
    path = tmp_path / "m.safetensors"
    model = fcnn.mlp([2, 3, 2], rng=0)
    padding = 0
    for _ in range(5):
        fcnn.save(model, path, note="x" * padding)
        (written,) = struct.unpack("<Q", path.read_bytes()[:8])
        if written == length:
            break
        padding += length - written
    assert path.read_bytes()[:2] == bytes([0x80, length >> 8 & 0xFF])
    loaded = fcnn.load(path)
    assert loaded.metadata == {"note": "x" * padding}
    assert fcnn.predict(loaded, X6[:, :2]).tobytes() == fcnn.predict(model, X6[:, :2]).tobytes()


def test_split_same_seed_same_rows() -> None:
    X, y = classification()
    a = datasets.train_test_split(X, y, seed=5, standardize=True)
    b = datasets.train_test_split(X, y, seed=5, standardize=True)
    assert a.X_train.tobytes() == b.X_train.tobytes() and a.y_test.tolist() == b.y_test.tolist()


# --------------------------------------------------------------------------- zero is a learning rate


@pytest.mark.parametrize("make", [
    lambda p: fcnn.SGD(p, lr=0.0, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda p: fcnn.Adam(p, lr=0.0, weight_decay=0.1),
    lambda p: fcnn.AdamW(p, lr=0.0),
    lambda p: fcnn.RMSprop(p, lr=0.0, momentum=0.5, centered=True),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_zero_learning_rate_is_allowed_and_changes_nothing(make: Callable) -> None:
    p = fcnn.Parameter(np.array([1.0, -2.0, 3.0]))
    optimizer = make([p])
    for _ in range(3):
        p.grad = np.array([0.5, 0.5, -0.5])
        optimizer.step()
    np.testing.assert_array_equal(p.weights, [1.0, -2.0, 3.0])
