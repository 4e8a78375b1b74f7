"""Datasets: scikit-learn's embedded tables and CSV files, split and scaled.

``load_dataset`` returns a :class:`Dataset` of float64 features and int64 class
codes, from one of the tables scikit-learn ships with its wheel (no network) or
from a CSV file with a header row and a label column. ``train_test_split``
makes a stratified, seeded split and can standardize the features with
statistics of the training part only; ``standardize`` applies those saved
statistics to new data at prediction time.

scikit-learn is imported inside the functions that need it, so importing this
module costs NumPy alone. CSV files are read with the standard library's
``csv`` module, not pandas.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from ._validation import as_float_array, check_finite, describe
from .errors import FcnnError, NonFiniteError, ShapeError

__all__ = [
    "EMBEDDED",
    "Dataset",
    "DatasetError",
    "Split",
    "load_dataset",
    "load_features_csv",
    "standardize",
    "train_test_split",
]

#: Names of the datasets bundled with scikit-learn that ``load_dataset`` accepts.
EMBEDDED = ("iris", "wine", "breast_cancer", "digits")

PathLike = Union[str, "os.PathLike[str]"]

# Cells that mean "no value" in exported spreadsheets; reported as missing
# values rather than as non-numeric text. Compared in lower case.
_MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


class DatasetError(FcnnError, ValueError):
    """A dataset could not be loaded or split: bad file, bad column, bad labels."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A CSV file does not exist (also a ``FileNotFoundError``)."""


@dataclass(repr=False)
class Dataset:
    """Features and integer class codes of a classification dataset.

    Attributes
    ----------
    X : ndarray of shape (N, D), float64
        Features, one row per sample.
    y : ndarray of shape (N,), int64
        Class codes in ``[0, C)``; code ``k`` stands for ``classes[k]``.
    classes : list of str, int or float, length C
        The original class labels in code order, as plain Python scalars (JSON
        serializable). Embedded datasets use scikit-learn's ``target_names``
        (``'setosa'``, ... for iris; the digits 0..9 for digits).
    feature_names : list of str, length D
        Column names.
    name : str
        The embedded dataset's name, or the CSV file's name.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[Any]
    feature_names: list[str]
    name: str

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_samples={self.n_samples}, "
            f"n_features={self.n_features}, classes={self.classes!r})"
        )


@dataclass(repr=False)
class Split:
    """A train/test split, optionally standardized.

    Attributes
    ----------
    X_train : ndarray of shape (N_train, D)
    X_test : ndarray of shape (N_test, D)
    y_train : ndarray of shape (N_train,)
    y_test : ndarray of shape (N_test,)
    mean : ndarray of shape (D,), float64, or None
        Per-feature mean of the training part, subtracted from both parts;
        ``None`` when the split was not standardized.
    scale : ndarray of shape (D,), float64, or None
        Per-feature standard deviation of the training part (1 for constant
        features), dividing both parts; ``None`` when not standardized.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"Split(n_train={self.X_train.shape[0]}, n_test={self.X_test.shape[0]}, "
            f"n_features={self.X_train.shape[1]}, standardized={self.mean is not None})"
        )


# --------------------------------------------------------------------------- loading


def load_dataset(name_or_path: PathLike, target: str | None = None) -> Dataset:
    """Load an embedded dataset or a CSV file.

    Parameters
    ----------
    name_or_path : str or path
        One of :data:`EMBEDDED` (``"iris"``, ``"wine"``, ``"breast_cancer"``,
        ``"digits"``; case and ``-``/``_`` do not matter), or the path of a
        ``.csv`` file: comma-separated, UTF-8, a header row naming the
        columns, one sample per line.
    target : str, optional
        For a CSV file, the name of the label column; default the last column.
        Labels may be numbers or strings. Every other column is a feature and
        must hold numbers.

    Returns
    -------
    Dataset
        ``X`` of shape (N, D) float64 and ``y`` of shape (N,) int64 codes.
        Class codes follow the sorted labels: numerically when every label is
        a number, else lexicographically. Digits keeps its pixel values 0..16
        (scaling is ``train_test_split(standardize=True)``'s job).

    Raises
    ------
    DatasetError
        (a ``ValueError``) for an unknown name, a missing file
        (:class:`DatasetNotFoundError`, also a ``FileNotFoundError``), an
        empty file, a missing header, duplicate or empty column names, a
        missing target column, ragged rows, non-numeric, missing or infinite
        feature values, missing labels, or fewer than 2 classes.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            "load_dataset expected an embedded dataset name or a CSV path, got "
            f"{describe(name_or_path)}"
        )
    key = str(name_or_path).strip().lower().replace("-", "_")
    if key in EMBEDDED and not isinstance(name_or_path, os.PathLike):
        if target is not None:
            raise DatasetError(
                f"target={target!r} applies to CSV files only; the embedded dataset "
                f"{key!r} has its own labels"
            )
        return _load_embedded(key)
    return _load_csv_dataset(Path(name_or_path), target)


def _load_embedded(name: str) -> Dataset:
    from sklearn import datasets as sk_datasets

    bunch = getattr(sk_datasets, f"load_{name}")()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    classes = [_python_scalar(label) for label in bunch.target_names]
    feature_names = [str(f) for f in bunch.feature_names]
    return Dataset(X=X, y=y, classes=classes, feature_names=feature_names, name=name)


def _load_csv_dataset(path: Path, target: str | None) -> Dataset:
    _check_csv_path(path)
    table = _read_csv(path)
    header = table.header
    if target is None:
        target_index = len(header) - 1
    else:
        if not isinstance(target, str):
            raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
        target = target.strip()
        if target not in header:
            raise DatasetError(
                f"{path}: no column named {target!r}; the columns are "
                f"{_list_names(header)}"
            )
        target_index = header.index(target)
    feature_indices = [j for j in range(len(header)) if j != target_index]
    if not feature_indices:
        raise DatasetError(
            f"{path}: only one column ({header[0]!r}) was found, so there are no features "
            "besides the label" + _separator_hint(header[0])
        )
    label_hint = (
        None if target is not None else f"the last column {header[target_index]!r} was used"
    )
    X = _numeric_columns(path, table, feature_indices, label_hint=label_hint)
    y, classes = _encode_labels(path, table, target_index)
    if len(classes) < 2:
        raise DatasetError(
            f"{path}: the label column {header[target_index]!r} holds a single class "
            f"({classes[0]!r}); classification needs at least 2 classes"
        )
    return Dataset(
        X=X,
        y=y,
        classes=classes,
        feature_names=[header[j] for j in feature_indices],
        name=path.name,
    )


def load_features_csv(path: PathLike, feature_names: Sequence[str] | None = None) -> np.ndarray:
    """Read the features of new samples from a CSV file, for prediction.

    Parameters
    ----------
    path : str or path
        A comma-separated file with a header row.
    feature_names : sequence of str, optional
        The columns to read, in this order (a trained model's feature names).
        Other columns, such as a label column, are ignored. ``None`` reads
        every column, which must then all be numeric.

    Returns
    -------
    ndarray of shape (N, D), float64
        ``D = len(feature_names)`` or the number of columns.

    Raises
    ------
    DatasetError
        For a missing file, an unreadable or malformed table, columns named in
        ``feature_names`` that the file lacks, or non-numeric, missing or
        infinite values.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path} is a directory, not a CSV file")
    table = _read_csv(path)
    header = table.header
    if feature_names is None:
        indices = list(range(len(header)))
    else:
        if isinstance(feature_names, str):
            raise TypeError("feature_names must be a sequence of column names, not one string")
        wanted = [str(name) for name in feature_names]
        if not wanted:
            raise DatasetError("feature_names is empty; name at least one column to read")
        absent = [name for name in wanted if name not in header]
        if absent:
            raise DatasetError(
                f"{path}: missing feature column(s) {_list_names(absent)}; the file has "
                f"{_list_names(header)}"
            )
        indices = [header.index(name) for name in wanted]
    return _numeric_columns(path, table, indices, label_hint=None)


# --------------------------------------------------------------------------- CSV reading


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # 1-based line number of each row, for error messages


def _check_csv_path(path: Path) -> None:
    if path.suffix.lower() == ".csv":
        if not path.exists():
            raise DatasetNotFoundError(f"{path}: no such file")
        if path.is_dir():
            raise DatasetError(f"{path} is a directory, not a CSV file")
        return
    embedded = ", ".join(EMBEDDED)
    if path.exists():
        raise DatasetError(
            f"{path} is not a .csv file; give a comma-separated file with a .csv "
            f"extension or one of the embedded datasets: {embedded}"
        )
    close = difflib.get_close_matches(str(path).lower(), EMBEDDED, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DatasetError(
        f"{str(path)!r} is neither an embedded dataset ({embedded}) nor a .csv file{hint}"
    )


def _read_csv(path: Path) -> _Table:
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet exports start with.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            try:
                for row in reader:
                    if not row:  # a blank line
                        continue
                    cells = [cell.strip() for cell in row]
                    if header is None:
                        header = cells
                        _check_header(path, header, reader.line_num)
                        continue
                    if len(cells) != len(header):
                        raise DatasetError(
                            f"{path}: line {reader.line_num} has {len(cells)} fields but the "
                            f"header has {len(header)} columns"
                        )
                    rows.append(cells)
                    lines.append(reader.line_num)
            except csv.Error as exc:
                raise DatasetError(
                    f"{path}: malformed CSV at line {reader.line_num}: {exc}"
                ) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV"
        ) from None
    except PermissionError:
        raise DatasetError(f"{path}: permission denied") from None
    if header is None:
        raise DatasetError(f"{path}: the file is empty; expected a header row and data rows")
    if not rows:
        raise DatasetError(f"{path}: the file has a header but no data rows")
    return _Table(header=header, rows=rows, lines=lines)


def _check_header(path: Path, header: list[str], line: int) -> None:
    if all(_is_number(cell) for cell in header):
        raise DatasetError(
            f"{path}: line {line} holds only numbers, so the file has no header row; "
            "add a first line naming the columns (e.g. x1,x2,...,label)"
        )
    for j, name in enumerate(header):
        if not name:
            hint = (
                " — probably a row index written by pandas; save with to_csv(index=False)"
                if j == 0
                else ""
            )
            raise DatasetError(f"{path}: column {j + 1} has no name in the header{hint}")
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DatasetError(
            f"{path}: duplicate column name(s) {_list_names(duplicates)} in the header; "
            "column names must be unique"
        )


def _numeric_columns(
    path: Path, table: _Table, indices: list[int], label_hint: str | None
) -> np.ndarray:
    """Parse the given columns as float64: (N, len(indices))."""
    X = np.empty((len(table.rows), len(indices)), dtype=np.float64)
    for k, j in enumerate(indices):
        values = [row[j] for row in table.rows]
        try:
            column = np.array(values, dtype=np.float64)
        except ValueError:
            _raise_first_bad_cell(path, table, j, values, label_hint)
        finite = np.isfinite(column)
        if not finite.all():
            i = int(np.argmin(finite))
            raw = values[i]
            name = table.header[j]
            if raw.lower() in _MISSING_MARKERS:
                raise DatasetError(
                    f"{path}: column {name!r} has a missing value ({raw!r}) at line "
                    f"{table.lines[i]}; fill in or drop rows with missing values first"
                )
            raise DatasetError(
                f"{path}: column {name!r} holds the infinite value {raw!r} at line "
                f"{table.lines[i]}; features must be finite numbers"
            )
        X[:, k] = column
    return X


def _raise_first_bad_cell(
    path: Path, table: _Table, j: int, values: list[str], label_hint: str | None
) -> None:
    name = table.header[j]
    bad = []
    for i, raw in enumerate(values):
        if raw.lower() in _MISSING_MARKERS:
            raise DatasetError(
                f"{path}: column {name!r} has a missing value "
                f"({'empty cell' if not raw else repr(raw)}) at line {table.lines[i]}; "
                "fill in or drop rows with missing values first"
            )
        if not _is_number(raw):
            bad.append(i)
    i = bad[0]
    more = f" ({len(bad)} non-numeric values in this column)" if len(bad) > 1 else ""
    hint = (
        f"; {label_hint} as the label — if {name!r} is the label column, pass target={name!r}"
        if label_hint
        else "; encode categorical columns as numbers first"
    )
    raise DatasetError(
        f"{path}: column {name!r} holds the non-numeric value {values[i]!r} at line "
        f"{table.lines[i]}{more}; features must be numbers{hint}"
    )


def _encode_labels(path: Path, table: _Table, j: int) -> tuple[np.ndarray, list[Any]]:
    """Codes (N,) int64 for the labels in column ``j`` and the classes in code order."""
    raw = [row[j] for row in table.rows]
    for i, label in enumerate(raw):
        if not label:
            raise DatasetError(
                f"{path}: the label column {table.header[j]!r} is empty at line "
                f"{table.lines[i]}; every row needs a label"
            )
    distinct = set(raw)
    numbers = {label: _as_number(label) for label in distinct}
    if all(value is not None for value in numbers.values()):
        # "1", "1.0" and "01" are the same class once read as numbers.
        key_of: dict[str, Any] = numbers
        classes = sorted(set(numbers.values()))
    else:
        key_of = {label: label for label in distinct}
        classes = sorted(distinct)
    code_of = {key: code for code, key in enumerate(classes)}
    codes = np.array([code_of[key_of[label]] for label in raw], dtype=np.int64)
    return codes, classes


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_number(text: str) -> int | float | None:
    """The label as an int (when integral) or a finite float, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _list_names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _separator_hint(header_cell: str) -> str:
    for separator, label in ((";", "semicolons"), ("\t", "tabs")):
        if separator in header_cell:
            return f"; the header looks separated by {label}, but fcnn reads comma-separated files"
    return ""


# --------------------------------------------------------------------------- split & scale


def train_test_split(
    dataset_or_X: Dataset | Any,
    y: Any = None,
    *,
    test_size: float | int = 0.2,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = True,
    standardize: bool = False,
) -> Split:
    """Split into a training and a test part, stratified and seeded.

    Parameters
    ----------
    dataset_or_X : Dataset or array_like of shape (N, D)
        A :class:`Dataset`, or features (then ``y`` is required).
    y : array_like of shape (N,), optional
        Labels of any kind (codes, strings) when ``dataset_or_X`` is an array.
    test_size : float in (0, 1) or int, default 0.2
        Fraction or number of samples in the test part. A fraction is rounded
        up, as scikit-learn does.
    seed : int, numpy Generator or None, default 0
        The same seed gives the same split. ``None`` draws a fresh one.
    stratify : bool, default True
        Keep each class's share equal in both parts (scikit-learn's
        ``stratify=y``). Needs at least 2 samples of every class and at least
        one test and one training sample per class.
    standardize : bool, default False
        Subtract the training part's per-feature mean and divide by its
        standard deviation (population, ``ddof=0``, like
        ``sklearn.preprocessing.StandardScaler``), on both parts. Constant
        features get scale 1. The statistics come from the training part only,
        so nothing about the test part leaks into training.

    Returns
    -------
    Split
        Features keep their float dtype (float64 for a Dataset); ``mean`` and
        ``scale`` are float64 arrays of shape (D,) when standardized.
    """
    from sklearn.model_selection import train_test_split as sk_train_test_split

    who = "train_test_split"
    if isinstance(dataset_or_X, Dataset):
        if y is not None:
            raise TypeError(f"{who}: pass a Dataset alone or features X with labels y, not both")
        X, labels = dataset_or_X.X, dataset_or_X.y
        names = dataset_or_X.classes
    else:
        if y is None:
            raise TypeError(f"{who}: labels y are required when the first argument is an array")
        X = as_float_array(dataset_or_X, who)
        labels = np.asarray(y)
        names = None
    if X.ndim != 2:
        raise ShapeError(f"{who} expected features of shape (N, D), got shape {X.shape}")
    check_finite(X, who, "X")
    n_samples = X.shape[0]
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ShapeError(
            f"{who}: expected labels of shape ({n_samples},) to match X, got shape {labels.shape}"
        )
    n_test = _test_count(test_size, n_samples, who)
    random_state = _random_state(seed, who)
    if stratify:
        _check_stratifiable(labels, names, n_test, n_samples, who)
    try:
        train_index, test_index = sk_train_test_split(
            np.arange(n_samples),
            test_size=n_test,
            random_state=random_state,
            shuffle=True,
            stratify=labels if stratify else None,
        )
    except ValueError as exc:  # anything our own checks did not foresee
        raise DatasetError(f"{who}: {exc}") from exc
    X_train, X_test = X[train_index], X[test_index]
    mean = scale = None
    if standardize:
        X64 = X_train.astype(np.float64, copy=False)
        mean = X64.mean(axis=0)
        scale = X64.std(axis=0)
        # A (near-)constant feature would divide by ~0; like StandardScaler,
        # leave it centred but unscaled.
        scale[scale <= 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
        X_train = _apply_scaling(X_train, mean, scale)
        X_test = _apply_scaling(X_test, mean, scale)
    return Split(
        X_train=X_train,
        X_test=X_test,
        y_train=labels[train_index],
        y_test=labels[test_index],
        mean=mean,
        scale=scale,
    )


def standardize(X: Any, mean: Any, scale: Any) -> np.ndarray:
    """Apply saved standardization: ``(X - mean) / scale``.

    Parameters
    ----------
    X : array_like of shape (N, D)
    mean : array_like of shape (D,) or None
    scale : array_like of shape (D,) or None
        Positive. ``mean`` and ``scale`` both ``None`` (a model trained
        without standardization) returns ``X`` as a float array, unchanged.

    Returns
    -------
    ndarray of shape (N, D), in ``X``'s float dtype (float64 for integers).
    """
    who = "standardize"
    X = as_float_array(X, who)
    if X.ndim != 2:
        raise ShapeError(f"{who} expected X of shape (N, D), got shape {X.shape}")
    check_finite(X, who, "X")
    if mean is None and scale is None:
        return X
    if mean is None or scale is None:
        raise TypeError(f"{who}: give both mean and scale, or neither")
    mean = as_float_array(mean, who, np.dtype(np.float64))
    scale = as_float_array(scale, who, np.dtype(np.float64))
    for label, vector in (("mean", mean), ("scale", scale)):
        if vector.shape != (X.shape[1],):
            raise ShapeError(
                f"{who}: X has {X.shape[1]} features but {label} has shape {vector.shape}; "
                f"expected ({X.shape[1]},)"
            )
    check_finite(mean, who, "mean")
    check_finite(scale, who, "scale")
    if (scale <= 0).any():
        raise ValueError(f"{who}: scale must be positive, got {scale[scale <= 0][0]!r}")
    with np.errstate(over="ignore"):
        out = _apply_scaling(X, mean, scale)
    if not np.isfinite(out).all():
        raise NonFiniteError(
            f"{who}: (X - mean) / scale overflows {out.dtype}; scale holds values as small as "
            f"{float(scale.min())!r} (a constant feature's scale should be 1)"
        )
    return out


def _apply_scaling(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return ((X - mean) / scale).astype(X.dtype, copy=False)


def _test_count(test_size: Any, n_samples: int, who: str) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.number)):
        raise TypeError(f"{who}: test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
        if not 1 <= n_test < n_samples:
            raise ValueError(
                f"{who}: test_size={n_test} must be between 1 and {n_samples - 1} "
                f"for {n_samples} samples"
            )
        return n_test
    fraction = float(test_size)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{who}: test_size must be in (0, 1) as a fraction, got {test_size!r}")
    n_test = math.ceil(fraction * n_samples)
    if n_test >= n_samples:
        raise ValueError(
            f"{who}: test_size={fraction} leaves no training samples out of {n_samples}"
        )
    return n_test


def _random_state(seed: Any, who: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**32))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(
            f"{who}: seed must be a non-negative int, a numpy Generator or None, got {seed!r}"
        )
    return int(seed) % 2**32


def _check_stratifiable(
    labels: np.ndarray, names: list[Any] | None, n_test: int, n_samples: int, who: str
) -> None:
    values, counts = np.unique(labels, return_counts=True)
    n_classes = len(values)
    if n_classes < 2:
        raise DatasetError(
            f"{who}: the labels hold a single class; classification needs at least 2 classes"
        )
    if counts.min() < 2:
        rare = values[counts < 2]
        shown = [names[int(v)] if names is not None else _python_scalar(v) for v in rare]
        raise DatasetError(
            f"{who}: class(es) {shown!r} have a single sample; a stratified split needs at "
            "least 2 samples of every class (add samples, drop the class or pass stratify=False)"
        )
    n_train = n_samples - n_test
    if n_test < n_classes or n_train < n_classes:
        side, count = ("test", n_test) if n_test < n_classes else ("training", n_train)
        raise DatasetError(
            f"{who}: the {side} part would hold {count} samples but there are {n_classes} "
            "classes; a stratified split needs one sample of each class on each side "
            "(change test_size or pass stratify=False)"
        )
