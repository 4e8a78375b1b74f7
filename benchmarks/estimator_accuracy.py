"""5-fold cross-validated accuracy: fcnn's MLPClassifier against scikit-learn's.

Both run the same hyperparameters (scikit-learn's defaults: one hidden layer
of 100 ReLU units, Adam at lr 1e-3, alpha 1e-4, batch_size min(200, n),
max_iter 200, tol 1e-4, n_iter_no_change 10) inside
``make_pipeline(StandardScaler(), ...)``, on the same stratified folds, and
the table printed is markdown, ready for the README. Each cell is the mean
(and standard deviation) over the folds and over ``--seeds`` random states.

    python benchmarks/estimator_accuracy.py            # seed 0
    python benchmarks/estimator_accuracy.py --seeds 3  # seeds 0, 1, 2

It runs a few minutes on two cores. Accuracy only: for timings, see the
benchmark suite (``benchmarks/run.py``) and its rules for measuring on a
shared machine.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fcnn
from fcnn.estimators import MLPClassifier

DATASETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}

PARAMS = {
    "hidden_layer_sizes": (100,),
    "activation": "relu",
    "solver": "adam",
    "alpha": 1e-4,
    "batch_size": "auto",
    "learning_rate_init": 1e-3,
    "max_iter": 200,
    "tol": 1e-4,
    "n_iter_no_change": 10,
}


def cross_validated(
    estimator_class: type, X: np.ndarray, y: np.ndarray, seeds: list[int]
) -> np.ndarray:
    """Fold accuracies over all seeds."""
    scores = []
    for seed in seeds:
        pipe = make_pipeline(StandardScaler(), estimator_class(**PARAMS, random_state=seed))
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = cross_validate(pipe, X, y, cv=folds, scoring="accuracy")
        scores.extend(result["test_score"])
    return np.array(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="random states 0 .. seeds-1")
    args = parser.parse_args()
    seeds = list(range(args.seeds))

    print(f"fcnn {fcnn.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}; seeds {seeds}; 5-fold stratified CV\n")
    print("| dataset | n × features, classes | fcnn MLPClassifier | scikit-learn MLPClassifier "
          "| difference |")
    print("| --- | --- | --- | --- | --- |")
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        ours = cross_validated(MLPClassifier, X, y, seeds)
        theirs = cross_validated(SklearnMLPClassifier, X, y, seeds)
        diff = 100 * (ours.mean() - theirs.mean())
        print(f"| {name} | {X.shape[0]} × {X.shape[1]}, {len(np.unique(y))} "
              f"| {100 * ours.mean():.2f} ± {100 * ours.std():.2f} "
              f"| {100 * theirs.mean():.2f} ± {100 * theirs.std():.2f} "
              f"| {diff:+.2f} |", flush=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
