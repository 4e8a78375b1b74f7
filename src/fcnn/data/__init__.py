"""Data: embedded datasets and files (CSV, TSV, compressed, Parquet) read with pandas,
encoded (categories one-hot, missing values), split and standardized.

``load_dataset`` returns a :class:`Dataset` of float64 features and a target
(class codes or numbers); ``train_test_split`` makes a seeded split
(stratified for classes) and can standardize with training statistics only;
``standardize`` applies saved statistics; :class:`TableEncoder` is the
encoding a model file carries so ``fcnn predict`` applies it the same way.

pandas and scikit-learn are imported by the functions that need them, so
importing this package costs NumPy alone.
"""

from __future__ import annotations

from ._common import DatasetError, DatasetNotFoundError
from .dataset import TARGET_NAMES, Dataset, load_dataset, load_features
from .embedded import EMBEDDED
from .encoding import MAX_CLASSES, MISSING, TableEncoder, choose_task
from .split import Split, standardize, standardize_statistics, train_test_split
from .table import Table, read_table

__all__ = [
    "EMBEDDED",
    "MAX_CLASSES",
    "MISSING",
    "TARGET_NAMES",
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "Split",
    "Table",
    "TableEncoder",
    "choose_task",
    "load_dataset",
    "load_features",
    "load_features_csv",
    "read_table",
    "standardize",
    "standardize_statistics",
    "train_test_split",
]


def load_features_csv(path, feature_names=None):  # type: ignore[no-untyped-def]
    """The numeric columns ``feature_names`` (default: all) of a data file, float64 (N, D).

    Kept for models saved before encoders; see :func:`load_features`.
    """
    return load_features(path, feature_names)
