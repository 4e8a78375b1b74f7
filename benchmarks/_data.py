"""The benchmark's datasets: Iris (W1), digits (W2) and a synthetic wide set (W3).

Every loader returns ``(X_train, y_train, X_test, y_test)`` with float64 (W1,
W2) or float32 (W3) features and int64 labels, the same arrays on every call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPLIT_SEED", "W3_SEED", "load"]

#: random_state of the stratified 80/20 splits of Iris and digits.
SPLIT_SEED = 0
#: Seed of the synthetic W3 data (features and teacher).
W3_SEED = 1234

_W3_FEATURES = 784
_W3_CLASSES = 10
_W3_TEST_ROWS = 10_000


def load(name: str, rows: int | None = None) -> tuple[np.ndarray, ...]:
    """``name`` is "iris", "digits" or "wide"; ``rows`` sets the wide set's training rows."""
    if name == "iris":
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)  # unscaled, as the lab uses it
        return _split(X.astype(np.float64), y)
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return _split(X.astype(np.float64) / 16.0, y)
    if name == "wide":
        return _wide(60_000 if rows is None else rows)
    raise ValueError(f"unknown dataset {name!r}; expected 'iris', 'digits' or 'wide'")


def _split(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=SPLIT_SEED
    )
    as_labels = np.int64
    return (
        np.ascontiguousarray(X_train),
        y_train.astype(as_labels),
        np.ascontiguousarray(X_test),
        y_test.astype(as_labels),
    )


def _wide(rows: int) -> tuple[np.ndarray, ...]:
    """A mixture of ten Gaussians in 784 dimensions, one per class.

    Each class has a random centre (norm about 3.4) and unit-variance noise,
    so the classes overlap a little: the best possible accuracy is just
    under 1 and an MLP needs a few epochs to get near it, which makes test
    accuracy a meaningful check. Training and test rows come from separate
    streams, so a smaller ``rows`` gives a prefix of the full training set
    and the same test set. Features are drawn in float32 and the centres
    added in row blocks, so the data costs exactly its own size in memory.
    """
    centres = np.random.default_rng([W3_SEED, 0]).standard_normal(
        (_W3_CLASSES, _W3_FEATURES), dtype=np.float32
    )
    centres *= np.float32(0.12)
    return (*_mixture(rows, centres, 1), *_mixture(_W3_TEST_ROWS, centres, 2))


def _mixture(rows: int, centres: np.ndarray, stream: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.random.default_rng([W3_SEED, stream, 0])
    y = labels.integers(0, centres.shape[0], rows).astype(np.int64)
    noise = np.random.default_rng([W3_SEED, stream, 1])
    X = noise.standard_normal((rows, centres.shape[1]), dtype=np.float32)
    block = 8192
    for start in range(0, rows, block):
        X[start : start + block] += centres[y[start : start + block]]
    return X, y
