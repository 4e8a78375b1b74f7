"""From a table's columns to the numbers a network takes, and back again at predict time.

:class:`TableEncoder` keeps numeric columns as they are, one-hot encodes text
(categorical) columns and fills or refuses missing values; it is fitted once on
the training data, saved in the model file as JSON (``to_dict``) and applied
the same way by ``fcnn evaluate`` and ``fcnn predict`` (``from_dict``), where an
unseen category is a clear error. ``choose_task``, ``encode_classes`` and
``id_columns`` read the target and spot row identifiers.

Messages name the CLI's flags (``--missing``, ``--drop``, ``--task``); the
keyword arguments of the library functions have the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import DatasetError, list_names, python_scalar

if TYPE_CHECKING:
    import pandas as pd

    from .table import Table

__all__ = [
    "MAX_CLASSES",
    "MISSING",
    "TableEncoder",
    "choose_task",
    "encode_classes",
    "id_columns",
]

#: ``--missing`` strategies: ``error`` stops at the first missing value; ``drop``
#: leaves out rows that have one; the others fill it with the training rows'
#: mean, median or most frequent value of the column (text columns: most frequent).
MISSING = ("error", "drop", "mean", "median", "most-frequent")
#: An integer target with more distinct values than this is a regression target (``--task auto``).
MAX_CLASSES = 20
# A text column with more distinct values than this, and than half its rows, is
# an identifier or free text, not a category.
_MAX_CATEGORIES = 50


def check_missing(missing: Any) -> str:
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}, got {missing!r}")
    return str(missing)


def _missing_hint() -> str:
    return ("choose what to do with --missing drop|mean|median|most-frequent (the default, "
            "error, stops here)")


class TableEncoder:
    """Numbers as they are, text one-hot, missing values filled or refused.

    Parameters
    ----------
    missing : {"error", "drop", "mean", "median", "most-frequent"}
        What to do with a missing value (see :data:`MISSING`). ``drop`` is the
        caller's job at training time (rows are left out before fitting); at
        predict time a row with a missing value is refused, since it cannot be
        left out of a prediction.

    Attributes (after ``fit``)
    ----------
    columns : list of dict
        Per input column: ``{"name", "kind": "number"|"category",
        "categories": [...] (category), "fill": value or None}``.
    feature_names : list of str
        The encoded features: a number column's name, ``"name=category"`` per category.
    """

    def __init__(self, missing: str = "error") -> None:
        self.missing = check_missing(missing)
        self.columns: list[dict[str, Any]] = []

    # -- fitting

    def fit(self, frame: pd.DataFrame, table: Table | None = None,
            rows: Any = None) -> TableEncoder:
        """Learn each column's kind and categories from every row of ``frame`` and the fill
        values from ``rows`` (positions; default all), so test rows inform nothing but the
        list of categories."""
        columns = []
        for name in frame.columns:
            column = frame[name]
            kind, categories = _column_kind(column, str(name), table)
            spec: dict[str, Any] = {"name": str(name), "kind": kind, "fill": None}
            if kind == "category":
                spec["categories"] = categories
            columns.append(spec)
        self.columns = columns
        self.refit_fills(frame, rows)
        return self

    def refit_fills(self, frame: pd.DataFrame, rows: Any = None) -> None:
        """(Re)compute the fill values from ``rows`` of ``frame``."""
        if self.missing in ("error", "drop"):
            return
        part = frame if rows is None else frame.iloc[np.asarray(rows)]
        for spec in self.columns:
            column = part[spec["name"]]
            spec["fill"] = _fill_value(column, spec["kind"], self.missing)

    @property
    def feature_names(self) -> list[str]:
        names = []
        for spec in self.columns:
            if spec["kind"] == "number":
                names.append(spec["name"])
            else:
                names.extend(f"{spec['name']}={c}" for c in spec["categories"])
        return names

    @property
    def input_names(self) -> list[str]:
        return [spec["name"] for spec in self.columns]

    @property
    def has_categories(self) -> bool:
        return any(spec["kind"] == "category" for spec in self.columns)

    # -- applying

    def transform(self, frame: pd.DataFrame, table: Table | None = None,
                  source: str = "the data") -> np.ndarray:
        """The encoded features of ``frame``: float64 of shape (N, len(feature_names)).

        ``frame`` must hold every input column (others are ignored). Raises
        DatasetError for a missing column, a value that is not a number in a
        number column, an infinite value, an unseen category, or a missing value
        that the strategy does not fill.
        """
        absent = [name for name in self.input_names if name not in frame.columns]
        if absent:
            raise DatasetError(
                f"{source}: missing feature column(s) {list_names(absent)}; the file has "
                f"{list_names([str(c) for c in frame.columns])}"
            )
        if all(spec["kind"] == "number" for spec in self.columns):
            fast = _numbers_fast(frame, self.input_names)
            if fast is not None:
                return fast
        blocks = []
        for spec in self.columns:
            column = frame[spec["name"]]
            if spec["kind"] == "number":
                blocks.append(self._number(column, spec, table, source)[:, None])
            else:
                blocks.append(self._one_hot(column, spec, table, source))
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)

    def _number(self, column: Any, spec: dict[str, Any], table: Table | None,
                source: str) -> np.ndarray:
        import pandas as pd

        name = spec["name"]
        values = column
        if not _is_numeric(column):
            values = pd.to_numeric(column, errors="coerce")
            bad = values.isna() & column.notna()
            if bad.any():
                _raise_bad_number(column, name, table, source, bad.to_numpy())
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(out)
        if missing.any():
            out = self._fill(out, missing, spec, column, table, source)
        infinite = np.isinf(out)
        if infinite.any():
            i = int(np.argmax(infinite))
            raw = table.raw_cell(i, name) if table is not None else None
            raw = raw if raw is not None else str(out[i])
            raise DatasetError(
                f"{source}: column {name!r} holds the infinite value {raw!r} at "
                f"{_where(table, i)}; features must be finite numbers"
            )
        return out

    def _fill(self, out: np.ndarray, missing: np.ndarray, spec: dict[str, Any], column: Any,
              table: Table | None, source: str) -> np.ndarray:
        if spec.get("fill") is None:
            _raise_missing(column, spec["name"], table, source, missing, self.missing)
        out = out.copy()
        out[missing] = spec["fill"]
        return out

    def _one_hot(self, column: Any, spec: dict[str, Any], table: Table | None,
                 source: str) -> np.ndarray:
        name, categories = spec["name"], spec["categories"]
        text = column.astype("string")
        missing = text.isna().to_numpy()
        if missing.any():
            if spec.get("fill") is None:
                _raise_missing(column, name, table, source, missing, self.missing)
            text = text.fillna(spec["fill"])
        code_of = {c: k for k, c in enumerate(categories)}
        codes = text.map(code_of)
        unseen = codes.isna().to_numpy()
        if unseen.any():
            i = int(np.argmax(unseen))
            raise DatasetError(
                f"{source}: column {name!r} holds the category {text.iloc[i]!r} at "
                f"{_where(table, i)}, which the model never saw in training (it knows "
                f"{list_names(categories)}); map it to one of those or retrain with it"
            )
        out = np.zeros((len(text), len(categories)), dtype=np.float64)
        out[np.arange(len(text)), codes.to_numpy(dtype=np.int64)] = 1.0
        return out

    # -- saving

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for a model file's metadata."""
        return {"missing": self.missing, "columns": [dict(spec) for spec in self.columns]}

    @classmethod
    def from_dict(cls, data: Any) -> TableEncoder:
        """The encoder saved by :meth:`to_dict` (checked: a model file is untrusted input)."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise DatasetError("the model file's encoder is malformed (expected columns)")
        encoder = cls(data.get("missing", "error"))
        columns = []
        for spec in data["columns"]:
            ok = (isinstance(spec, dict) and isinstance(spec.get("name"), str)
                  and spec.get("kind") in ("number", "category"))
            if ok and spec["kind"] == "category":
                ok = isinstance(spec.get("categories"), list) and all(
                    isinstance(c, str) for c in spec["categories"])
            if not ok:
                raise DatasetError(f"the model file's encoder has a malformed column: {spec!r}")
            columns.append(dict(spec))
        encoder.columns = columns
        return encoder

    def __repr__(self) -> str:
        kinds = [spec["kind"] for spec in self.columns]
        return (f"TableEncoder(missing={self.missing!r}, numbers={kinds.count('number')}, "
                f"categories={kinds.count('category')})")


# --------------------------------------------------------------------------- column kinds


def _is_numeric(column: Any) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype))


def _numbers_fast(frame: pd.DataFrame, names: list[str]) -> np.ndarray | None:
    """All-numeric, complete, finite columns in one conversion (None: take the slow path)."""
    part = frame[names] if list(frame.columns) != names else frame
    if not all(_is_numeric(part[c]) for c in names):
        return None
    X = part.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(X).all():
        return None
    return X


def _column_kind(column: Any, name: str, table: Table | None) -> tuple[str, list[str] | None]:
    import pandas as pd

    if _is_numeric(column):
        return "number", None
    present = column.notna()
    n_present = int(present.sum())
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna().to_numpy() & present.to_numpy()
    n_bad = int(bad.sum())
    if n_bad == 0:
        return "number", None
    if 2 * (n_present - n_bad) >= n_present:  # mostly numbers: the others are mistakes
        _raise_bad_number(column, name, table, str(table.path) if table else "the data", bad)
    categories = sorted(str(v) for v in column[present].unique())
    if len(categories) > _MAX_CATEGORIES and 2 * len(categories) > len(column):
        raise DatasetError(
            f"{_source(table)}: column {name!r} holds {len(categories)} distinct text values "
            f"in {len(column)} rows, so it looks like an identifier or free text rather than "
            f"a category; leave it out with --drop {name}"
        )
    return "category", categories


def _fill_value(column: Any, kind: str, missing: str) -> Any:
    import pandas as pd

    present = column.dropna()
    if len(present) == 0:
        raise DatasetError(
            f"column {column.name!r} has no values in the training rows to fill its missing "
            f"ones with; leave it out with --drop {column.name}"
        )
    if kind == "category" or missing == "most-frequent":
        counts = present.astype("string" if kind == "category" else present.dtype).value_counts()
        top = counts[counts == counts.max()].index
        value = sorted(top)[0]  # ties: the smallest, so the fill does not depend on row order
        return str(value) if kind == "category" else float(value)
    numbers = pd.to_numeric(present, errors="coerce").astype(np.float64)
    return float(numbers.mean() if missing == "mean" else numbers.median())


def _source(table: Table | None) -> str:
    return str(table.path) if table is not None else "the data"


def _where(table: Table | None, row: int) -> str:
    return table.where(row) if table is not None else f"row {row + 1}"


def _raise_bad_number(column: Any, name: str, table: Table | None, source: str,
                      bad: np.ndarray) -> None:
    i = int(np.argmax(bad))
    count = int(bad.sum())
    more = f" ({count} non-numeric values in this column)" if count > 1 else ""
    raise DatasetError(
        f"{source}: column {name!r} holds the non-numeric value {column.iloc[i]!r} at "
        f"{_where(table, i)}{more}; its other values are numbers, so fix that cell or leave "
        f"the column out with --drop {name}"
    )


def _raise_missing(column: Any, name: str, table: Table | None, source: str,
                   missing: np.ndarray, strategy: str) -> None:
    i = int(np.argmax(missing))
    raw = table.raw_cell(i, name) if table is not None else None
    shown = "empty cell" if not raw else repr(raw)
    if strategy == "drop":
        hint = ("the model was trained with --missing drop, which cannot leave a row out of a "
                "prediction; fill it in")
    else:
        hint = _missing_hint()
    raise DatasetError(
        f"{source}: column {name!r} has a missing value ({shown}) at {_where(table, i)}; {hint}"
    )


# --------------------------------------------------------------------------- target and ids


def choose_task(target: Any, task: str = "auto") -> tuple[str, str]:
    """``("classification" | "regression", why)`` for a target column (pandas Series).

    ``auto``: text is classification; numbers with a fractional part, or more
    than :data:`MAX_CLASSES` distinct integers (or more than two, with
    most seen once), are regression; other integers are class labels.
    """
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task must be auto, classification or regression, got {task!r}")
    if task != "auto":
        return task, "as asked (--task)"
    values = target.dropna()
    from pandas.api.types import is_bool_dtype

    if is_bool_dtype(values.dtype):
        return "classification", "the target holds true/false values"
    if not _is_numeric(values):
        import pandas as pd

        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            return "classification", "the target holds text"
        values = numbers
    array = values.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(array)):
        return "regression", "the target holds non-finite numbers"
    if not np.all(array == np.round(array)):
        return "regression", "the target holds numbers with a fractional part"
    distinct = len(np.unique(array))
    if distinct > MAX_CLASSES:
        return "regression", (
            f"the target holds {distinct} distinct integers, more than {MAX_CLASSES} classes "
            "(--task classification to treat them as classes)"
        )
    _, counts = np.unique(array, return_counts=True)
    if distinct > 2 and 2 * int(np.sum(counts == 1)) > distinct:
        return "regression", (
            f"the target holds {distinct} distinct integers, most of them in a single row, "
            "too many to be classes (--task classification to treat them as classes)"
        )
    return "classification", (
        f"the target holds {distinct} distinct integers (--task regression to treat them as "
        "numbers)"
    )


def encode_classes(target: Any) -> tuple[np.ndarray, list[Any]]:
    """Class codes (N,) int64 and the classes in code order, for a complete target Series.

    Numbers sort numerically (``"1"``, ``"1.0"`` and ``1`` are one class, kept
    as an int when integral), text lexicographically.
    """
    import pandas as pd
    from pandas.api.types import is_bool_dtype

    values = target
    if is_bool_dtype(values.dtype):
        flags = values.to_numpy(dtype=bool)
        classes_b, codes = np.unique(flags, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), [bool(c) for c in classes_b]
    if not _is_numeric(values):
        numbers = pd.to_numeric(values, errors="coerce")
        if not numbers.isna().any():
            values = numbers
    if _is_numeric(values):
        array = values.to_numpy(dtype=np.float64)
        classes_f, codes = np.unique(array, return_inverse=True)
        classes = [_number_label(v) for v in classes_f]
    else:
        text = values.astype("string").to_numpy(dtype=object)
        classes_s, codes = np.unique(text.astype(str), return_inverse=True)
        classes = [str(c) for c in classes_s]
    return codes.astype(np.int64).reshape(-1), classes


def _number_label(value: float) -> Any:
    if np.isfinite(value) and float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return python_scalar(value)


def id_columns(frame: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Columns among ``names`` that look like row identifiers: unique increasing integers,
    in a table of at least 20 rows or under a name such as ``id``, ``index`` or ``row``."""
    import re

    from pandas.api.types import is_integer_dtype

    found: list[str] = []
    if len(frame) < 5:
        return found
    for name in names:
        column = frame[name]
        if not is_integer_dtype(column.dtype):
            continue
        named = re.fullmatch(r"(?i)(.*[_ ])?(id|index|idx|row|key|no|number)", str(name))
        if (named or len(frame) >= 20) and np.all(np.diff(column.to_numpy()) > 0):
            found.append(str(name))
    return found
