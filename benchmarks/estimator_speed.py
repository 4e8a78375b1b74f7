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
    python benchmarks/estimator_speed.py --floor         # and the matrix products alone

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
import itertools
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


def gemm_floor(X: Any, layer_units: list[int], batch: int, steps: int, reps: int = 5) -> float:
    """Seconds that ``steps`` training steps spend in their matrix products alone.

    A step of this model does, per layer, the forward product ``A @ W``, the
    gradient ``A.T @ delta`` and (above the first layer) ``delta @ W.T``: the
    work any implementation giving scikit-learn's numbers has to do. Each product
    is timed in both weight layouts (``(fan_in, fan_out)`` and its transpose) and
    the faster is kept, on random operands of the step's shapes, best of ``reps``.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    dtype = X.dtype
    per_step = 0.0
    for i, (a, b) in enumerate(itertools.pairwise(layer_units)):
        A = rng.random((batch, a)).astype(dtype)
        D = rng.random((batch, b)).astype(dtype)
        W = rng.random((a, b)).astype(dtype)
        Wt = np.ascontiguousarray(W.T)
        Z, G, Gt, P = (np.empty(s, dtype) for s in ((batch, b), (a, b), (b, a), (batch, a)))
        # (left, right, out) in scikit-learn's layout, then in the transposed one
        products = [((A, W, Z), (A, Wt.T, Z)), ((A.T, D, G), (D.T, A, Gt))]
        if i:
            products.append(((D, W.T, P), (D, Wt, P)))
        for layouts in products:
            best = []
            for left, right, out in layouts:
                number, times = 20, []
                for _ in range(reps):
                    start = time.perf_counter()
                    for _ in range(number):
                        np.matmul(left, right, out=out)
                    times.append((time.perf_counter() - start) / number)
                best.append(min(times))
            per_step += min(best)
    return per_step * steps


def load_workloads(names: list[str], w3_rows: int = 10_000,
                   w3_epochs: int = 2) -> list[tuple[str, Any, Any, dict[str, Any]]]:
    """``(name, X, y, MLPClassifier arguments)`` for "digits" and/or "W3" (see the module
    docstring); an unknown name is an error."""
    unknown = set(names) - {"digits", "W3"}
    if unknown:
        raise SystemExit(f"unknown workload {sorted(unknown)[0]!r}; expected digits or W3")
    workloads: list[tuple[str, Any, Any, dict[str, Any]]] = []
    if "digits" in names:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        workloads.append(("digits", X / 16.0, y, {}))
    if "W3" in names:
        import _data

        Xw, yw, *_ = _data.load("wide", w3_rows)
        workloads.append((
            f"W3 ({w3_rows} rows)", Xw, yw,
            {"hidden_layer_sizes": (512, 512), "batch_size": 256, "max_iter": w3_epochs},
        ))
    return workloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per cell (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as is)")
    parser.add_argument("--only", default="digits,W3", help="comma-separated: digits,W3")
    parser.add_argument("--w3-rows", type=int, default=10_000)
    parser.add_argument("--w3-epochs", type=int, default=2)
    parser.add_argument("--floor", action="store_true",
                        help="also time the steps' matrix products alone (the GEMM floor)")
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from fcnn.estimators import MLPClassifier

    limiter: Any = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)

    workloads = load_workloads(args.only.split(","), args.w3_rows, args.w3_epochs)

    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs, reps {args.reps}")
    print("| workload | X dtype | fcnn s | scikit-learn s | ratio | epochs |"
          + (" GEMM floor s | floor ÷ scikit-learn |" if args.floor else ""))
    print("|---|---|---|---|---|---|" + ("---|---|" if args.floor else ""))
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
            floor = ""
            if args.floor:
                batch = min(200, Xd.shape[0]) if params.get("batch_size", "auto") == "auto" \
                    else params["batch_size"]
                units = [Xd.shape[1], *params.get("hidden_layer_sizes", (100,)),
                         fitted.n_outputs_]
                steps = fitted.n_iter_ * -(-Xd.shape[0] // batch)
                seconds = gemm_floor(Xd, units, batch, steps)
                floor = f" {seconds:.3f} | {seconds / min(theirs):.2f} |"
            print(f"| {name} | {np.dtype(dtype).name} | {min(ours):.3f} | {min(theirs):.3f} | "
                  f"{min(ours) / min(theirs):.2f} | {fitted.n_iter_} |{floor}")
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
