"""The tables scikit-learn ships inside its wheel (no network): iris, wine, breast_cancer, digits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import python_scalar

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = ["EMBEDDED", "load_embedded"]

#: Names of the datasets bundled with scikit-learn that ``load_dataset`` accepts.
EMBEDDED = ("iris", "wine", "breast_cancer", "digits")


def load_embedded(name: str) -> Dataset:
    """One of :data:`EMBEDDED` as a classification :class:`Dataset` (float64 features as
    scikit-learn has them, its class codes and ``target_names``)."""
    from sklearn import datasets as sk_datasets

    from .dataset import Dataset

    bunch = getattr(sk_datasets, f"load_{name}")()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    classes = [python_scalar(label) for label in bunch.target_names]
    feature_names = [str(f) for f in bunch.feature_names]
    return Dataset(X=X, y=y, classes=classes, feature_names=feature_names, name=name)
