"""The former name of :mod:`fcnn.data`, kept so that ``from fcnn.datasets import ...`` works."""

from __future__ import annotations

from .data import (
    EMBEDDED,
    Dataset,
    DatasetError,
    DatasetNotFoundError,
    Split,
    load_dataset,
    load_features,
    load_features_csv,
    standardize,
    train_test_split,
)

__all__ = [
    "EMBEDDED",
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "Split",
    "load_dataset",
    "load_features",
    "load_features_csv",
    "standardize",
    "train_test_split",
]
