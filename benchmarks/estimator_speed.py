"""Wall time of ``fit``: fcnn's MLPClassifier against scikit-learn's, same seed, same model.

Both estimators get the same arguments and ``random_state`` and (as the
fidelity tests check) fit the same model, so the ratio is time for the same
work. Runs are interleaved (fcnn, scikit-learn, fcnn, ...) and each cell is the
best of ``--reps`` runs, which is the reading least disturbed by other
processes on a shared machine; the load average before and after is printed
with the table so that a contended reading can be recognised.

    python benchmarks/estimator_speed.py                 # digits and W3, float64 and float32
    python benchmarks/estimator_speed.py --reps 5 --threads 1
    python benchmarks/estimator_speed.py --only digits

Workloads: ``digits`` is scikit-learn's default ``MLPClassifier()`` (one hidden
layer of 100 ReLU units, Adam, batch 200, up to 200 epochs) on the 1,797
digits scaled to [0, 1]; ``W3`` is the wide workload of ``benchmarks/run.py``
(784-512-512-10, batch 256) on ``--w3-rows`` rows for ``--w3-epochs`` epochs
with the default Adam. "float32" feeds float32 ``X`` to both (scikit-learn
then trains in float32 too) and also shows fcnn float32 against
scikit-learn float64.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _fit_time(cls: type, X: Any, y: Any, **params: Any) -> tuple[float, Any]:
    estimator = cls(random_state=0, **params)
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start, estimator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per cell (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as is)")
    parser.add_argument("--only", default="digits,W3", help="comma-separated: digits,W3")
    parser.add_argument("--w3-rows", type=int, default=10_000)
    parser.add_argument("--w3-epochs", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from fcnn.estimators import MLPClassifier

    limiter: Any = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)

    workloads: list[tuple[str, Any, Any, dict[str, Any]]] = []
    only = set(args.only.split(","))
    if "digits" in only:
        X, y = load_digits(return_X_y=True)
        workloads.append(("digits", X / 16.0, y, {}))
    if "W3" in only:
        import _data

        Xw, yw, *_ = _data.load("wide", args.w3_rows)
        workloads.append((
            f"W3 ({args.w3_rows} rows)", Xw, yw,
            {"hidden_layer_sizes": (512, 512), "batch_size": 256, "max_iter": args.w3_epochs},
        ))

    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs, reps {args.reps}")
    print("| workload | X dtype | fcnn s | scikit-learn s | ratio | epochs |")
    print("|---|---|---|---|---|---|")
    for name, X, y, params in workloads:
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype)
            ours, theirs = [], []
            for _ in range(args.reps):
                t, fitted = _fit_time(MLPClassifier, Xd, y, **params)
                ours.append(t)
                t, reference = _fit_time(SklearnMLP, Xd, y, **params)
                theirs.append(t)
            assert fitted.n_iter_ == reference.n_iter_
            print(f"| {name} | {np.dtype(dtype).name} | {min(ours):.3f} | {min(theirs):.3f} | "
                  f"{min(ours) / min(theirs):.2f} | {fitted.n_iter_} |")
            if dtype == np.float64:
                best64 = min(theirs)
            else:
                print(f"| {name} | fcnn float32 ÷ scikit-learn float64 | {min(ours):.3f} | "
                      f"{best64:.3f} | {min(ours) / best64:.2f} | {fitted.n_iter_} |")
    print(f"load average after: {os.getloadavg()}")
    if limiter is not None:
        limiter.unregister()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
