"""``load_dataset``: an embedded dataset or a data file, as features and a target.

The steps for a file: read it (:func:`fcnn.data.table.read_table`), choose the
target column, leave out ``--drop`` columns and row identifiers, handle rows
with a missing label or value, decide classification or regression, encode the
target, and encode the features with a :class:`TableEncoder` whose fill values
the caller may refit on its training rows (``Dataset.refit``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import describe
from ._common import DatasetError, PathLike, list_names
from .embedded import EMBEDDED, load_embedded
from .encoding import TableEncoder, check_missing, choose_task, encode_classes, id_columns
from .table import Table, read_table

__all__ = ["TARGET_NAMES", "Dataset", "load_dataset", "load_features"]

#: Column names (any case) taken as the target when ``target`` is not given;
#: otherwise the last column is.
TARGET_NAMES = ("target", "label", "labels", "class", "y", "species", "outcome")


@dataclass(repr=False)
class Dataset:
    """Features and target of a dataset.

    Attributes
    ----------
    X : ndarray of shape (N, D), float64
        Encoded features, one row per sample.
    y : ndarray of shape (N,)
        Classification: int64 class codes in ``[0, C)`` (code ``k`` is
        ``classes[k]``). Regression: float64 values.
    classes : list or None
        The original class labels in code order, as plain Python scalars;
        ``None`` for regression.
    feature_names : list of str, length D
        Names of the encoded features (``"color=red"`` for a one-hot column).
    name : str
        The embedded dataset's name or the file's name.
    task : {"classification", "regression"}
    target : str or None
        The target column of a file (None for an embedded set).
    columns : list of str
        The input columns a model trained on this data reads (before encoding).
    encoder : TableEncoder or None
        How ``columns`` became ``X`` (None for an embedded set).
    notes : list of str
        What loading decided on its own (target, task, left-out columns, dropped rows).
    table : Table or None
        The file as read, for messages and for refitting fill values.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[Any] | None
    feature_names: list[str]
    name: str
    task: str = "classification"
    target: str | None = None
    columns: list[str] = field(default_factory=list)
    encoder: TableEncoder | None = None
    notes: list[str] = field(default_factory=list)
    table: Table | None = None
    features: Any = None  # the feature columns as a DataFrame (files only)

    def __post_init__(self) -> None:
        if not self.columns:
            self.columns = list(self.feature_names)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def refit(self, rows: Any) -> None:
        """Recompute the encoder's fill values from ``rows`` (the training rows) and re-encode."""
        if self.encoder is None or self.encoder.missing in ("error", "drop"):
            return
        self.encoder.refit_fills(self.features, rows)
        self.X = self.encoder.transform(self.features, self.table, self.name)

    def __repr__(self) -> str:
        kind = (f"classes={self.classes!r}" if self.classes is not None
                else f"task={self.task!r}")
        return (f"Dataset(name={self.name!r}, n_samples={self.n_samples}, "
                f"n_features={self.n_features}, {kind})")


def load_dataset(
    name_or_path: PathLike,
    target: str | None = None,
    *,
    sep: str | None = None,
    drop: Sequence[str] = (),
    missing: str = "error",
    task: str = "auto",
    keep_id: bool = False,
    log: Callable[[str], None] | None = None,
) -> Dataset:
    """Load an embedded dataset or a data file.

    Parameters
    ----------
    name_or_path : str or path
        One of :data:`EMBEDDED` (case and ``-``/``_`` do not matter), or a data
        file (see :func:`fcnn.data.table.read_table`: CSV, TSV, compressed,
        Parquet) with a header row.
    target : str, optional
        The target column; default a column named like one of
        :data:`TARGET_NAMES`, else the last column.
    sep : str, optional
        The delimiter of a text file (default detected).
    drop : sequence of str
        Columns to leave out.
    missing : {"error", "drop", "mean", "median", "most-frequent"}
        Missing values: stop, leave the row out, or fill (fill values from all
        rows here; ``Dataset.refit(train_rows)`` recomputes them from the
        training rows).
    task : {"auto", "classification", "regression"}
        ``auto`` follows :func:`fcnn.data.encoding.choose_task`.
    keep_id : bool
        Keep columns that look like row identifiers (unique increasing
        integers) as features; by default they are left out, with a note.
    log : callable, optional
        Told what a large file's reading is doing.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        (a ``ValueError``) for an unknown name, a missing file
        (:class:`DatasetNotFoundError`, also a ``FileNotFoundError``), a bad
        table, a missing target column, a missing label or value (with
        ``missing="error"``), non-numeric values in a number column, infinite
        values, an unseen kind of target, or fewer than 2 classes.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            "load_dataset expected an embedded dataset name or a file path, got "
            f"{describe(name_or_path)}"
        )
    missing = check_missing(missing)
    key = str(name_or_path).strip().lower().replace("-", "_")
    if key in EMBEDDED and not isinstance(name_or_path, os.PathLike):
        if target is not None:
            raise DatasetError(
                f"--target {target} applies to data files only; the embedded dataset "
                f"{key!r} has its own labels"
            )
        return load_embedded(key)
    table = read_table(name_or_path, sep=sep, embedded=EMBEDDED, log=log)
    return dataset_from_table(table, target, drop=drop, missing=missing, task=task,
                              keep_id=keep_id)


def dataset_from_table(
    table: Table, target: str | None = None, *, drop: Sequence[str] = (), missing: str = "error",
    task: str = "auto", keep_id: bool = False,
) -> Dataset:
    """The steps of :func:`load_dataset` after reading the file."""
    frame, path, notes = table.frame, table.path, []
    target, why = _choose_target(table, target)
    notes.append(f"target: {target!r} ({why})")
    features = _feature_columns(table, target, drop, keep_id, notes)
    table.check_short_rows()
    frame = _rows_with_labels(table, target, missing, notes)
    if missing == "drop":
        complete = frame[features].notna().all(axis=1).to_numpy()
        if not complete.all():
            kept = int(complete.sum())
            if kept == 0:
                raise DatasetError(f"{path}: every row has a missing value, so --missing drop "
                                   "leaves nothing; try --missing mean or --drop the emptiest columns")
            notes.append(f"--missing drop: left out {len(frame) - kept} of {len(frame)} rows "
                         "with a missing value")
            frame = frame[complete]
    if frame is not table.frame:
        table = _subset(table, frame)
        frame = table.frame
    chosen, reason = choose_task(frame[target], task)
    notes.append(f"task: {chosen} ({reason})")
    y, classes = _encode_target(table, target, chosen)
    feature_frame = frame[features]
    encoder = TableEncoder(missing).fit(feature_frame, table)
    X = encoder.transform(feature_frame, table, str(path))
    return Dataset(
        X=X, y=y, classes=classes, feature_names=encoder.feature_names, name=path.name,
        task=chosen, target=target, columns=encoder.input_names, encoder=encoder, notes=notes,
        table=table, features=feature_frame,
    )


def _subset(table: Table, frame: Any) -> Table:
    """A Table of some rows of ``table`` whose messages still point at the file's lines."""
    positions = table.frame.index.get_indexer(frame.index)
    sub = _RowMappedTable(frame=frame.reset_index(drop=True), path=table.path, sep=table.sep,
                          compression=table.compression)
    sub.parent, sub.positions = table, positions
    return sub


class _RowMappedTable(Table):
    parent: Table
    positions: np.ndarray

    def raw_rows(self, rows: list[int]) -> dict[int, tuple[int, list[str]]]:
        found = self.parent.raw_rows([int(self.positions[r]) for r in rows])
        return {r: found[int(self.positions[r])] for r in rows if int(self.positions[r]) in found}


def _choose_target(table: Table, target: str | None) -> tuple[str, str]:
    columns = table.columns
    if target is not None:
        if not isinstance(target, str):
            raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
        target = target.strip()
        if target not in columns:
            raise DatasetError(
                f"{table.path}: no column named {target!r} (--target); the columns are "
                f"{list_names(columns)}"
            )
        return target, "--target"
    named = [c for c in columns if c.lower() in TARGET_NAMES]
    if len(named) == 1:
        where = "first column" if named[0] == columns[0] else (
            "last column" if named[0] == columns[-1] else "a column")
        return named[0], f"{where}, named like a label; --target COL to choose another"
    return columns[-1], "the last column; --target COL to choose another"


def _feature_columns(table: Table, target: str, drop: Sequence[str], keep_id: bool,
                     notes: list[str]) -> list[str]:
    columns = table.columns
    if isinstance(drop, str):
        drop = [drop]
    drop = [str(d).strip() for d in drop if str(d).strip()]
    unknown = [d for d in drop if d not in columns]
    if unknown:
        raise DatasetError(f"{table.path}: --drop names no such column(s) {list_names(unknown)}; "
                           f"the columns are {list_names(columns)}")
    if target in drop:
        raise DatasetError(f"{table.path}: --drop {target} leaves out the target column itself")
    features = [c for c in columns if c != target and c not in drop]
    if drop:
        notes.append(f"left out by --drop: {list_names(drop)}")
    ids = id_columns(table.frame, features)
    if ids and not keep_id and len(ids) < len(features):
        notes.append(f"left out {list_names(ids)}: unique increasing integers, so a row "
                     "identifier, not a feature (--keep-id to use it)")
        features = [c for c in features if c not in ids]
    if not features:
        raise DatasetError(f"{table.path}: no feature columns are left besides the target "
                           f"{target!r}")
    return features


def _rows_with_labels(table: Table, target: str, missing: str, notes: list[str]) -> Any:
    frame = table.frame
    absent = frame[target].isna().to_numpy()
    if not absent.any():
        return frame
    if missing != "drop":
        i = int(np.argmax(absent))
        raise DatasetError(
            f"{table.path}: the label column {target!r} is empty at {table.where(i)}; every "
            "row needs a label (--missing drop leaves such rows out)"
        )
    notes.append(f"--missing drop: left out {int(absent.sum())} rows without a label")
    return frame[~absent]


def _encode_target(table: Table, target: str, task: str) -> tuple[np.ndarray, list[Any] | None]:
    import pandas as pd

    column = table.frame[target]
    if task == "classification":
        y, classes = encode_classes(column)
        if len(classes) < 2:
            raise DatasetError(
                f"{table.path}: the label column {target!r} holds a single class "
                f"({classes[0]!r}); classification needs at least 2 classes"
            )
        return y, classes
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(
            f"{table.path}: the target {target!r} holds the text {column.iloc[i]!r} at "
            f"{table.where(i)}; regression needs numbers (--task classification for labels)"
        )
    y = values.to_numpy(dtype=np.float64)
    if not np.isfinite(y).all():
        i = int(np.argmin(np.isfinite(y)))
        raise DatasetError(f"{table.path}: the target {target!r} is infinite at "
                           f"{table.where(i)}; regression needs finite numbers")
    return y, None


def load_features(
    path: PathLike,
    columns: Sequence[str] | None = None,
    encoder: TableEncoder | None = None,
    *,
    sep: str | None = None,
) -> np.ndarray:
    """The encoded features of new rows from a data file, for prediction.

    ``encoder`` (a trained model's, from its file) selects and encodes its
    columns; without one, ``columns`` (default: all) must hold numbers. Other
    columns, such as a label, are ignored.

    Returns
    -------
    ndarray of shape (N, D), float64
    """
    table = read_table(path, sep=sep, embedded=EMBEDDED)
    if encoder is None:
        if columns is None:
            columns = table.columns
        else:
            if isinstance(columns, str):
                raise TypeError("feature_names must be a sequence of column names, not one string")
            columns = [str(c) for c in columns]
            if not columns:
                raise DatasetError("feature_names is empty; name at least one column to read")
        encoder = TableEncoder("error")
        encoder.columns = [{"name": c, "kind": "number", "fill": None} for c in columns]
    return encoder.transform(table.frame, table, str(table.path))
