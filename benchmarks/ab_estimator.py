"""This tree's ``MLPClassifier.fit`` against another revision's and scikit-learn's, in one process.

Separate runs on a small shared machine swing by 10-20%; the two fcnn versions
and scikit-learn fitted in turn in one process (fcnn at REV, this tree,
scikit-learn, fcnn at REV, ...) meet the same drift, and the ratios are taken
within each round. REV's ``src/fcnn`` is unpacked as the package ``fcnn_rev``
(see ``ab_step.py``). Every fit is scikit-learn's default ``MLPClassifier``
with ``random_state=0``, as in ``estimator_speed.py``.

    python benchmarks/ab_estimator.py --rev 741d755                  # digits, float64
    python benchmarks/ab_estimator.py --rev 741d755 --only W3 --threads 1
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def paired(times: dict[str, list[float]], a: str, b: str) -> float:
    """The median over the rounds of a's time over b's in the same round."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", required=True, help="the git revision to compare with")
    parser.add_argument("--reps", type=int, default=7, help="rounds (each fits all three once)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as is)")
    parser.add_argument("--only", default="digits", help="comma-separated: digits,W3")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = parser.parse_args(argv)

    from ab_step import ROOT, unpack
    from estimator_speed import load_workloads
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    limiter: Any = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)
    sys.path.insert(0, str(ROOT / "src"))
    tmp = tempfile.TemporaryDirectory()
    unpack(args.rev, Path(tmp.name))
    sys.path.insert(0, tmp.name)
    systems = {
        args.rev: importlib.import_module("fcnn_rev.estimators").MLPClassifier,
        "this tree": importlib.import_module("fcnn.estimators").MLPClassifier,
        "scikit-learn": SklearnMLP,
    }
    print(f"load average before: {os.getloadavg()}, threads {args.threads or 'as is'}")
    print(f"| workload | {args.rev} s | this tree s | scikit-learn s | this tree ÷ {args.rev} "
          f"| {args.rev} ÷ scikit-learn | this tree ÷ scikit-learn |")
    print("|---|---|---|---|---|---|---|")
    for name, X, y, params in load_workloads(args.only.split(",")):
        X = X.astype(args.dtype)
        times: dict[str, list[float]] = {k: [] for k in systems}
        for _ in range(args.reps):
            for key, cls in systems.items():
                start = time.perf_counter()
                cls(random_state=0, **params).fit(X, y)
                times[key].append(time.perf_counter() - start)

        old, new, ref = systems
        print(f"| {name} {args.dtype} | {min(times[old]):.3f} | {min(times[new]):.3f} | "
              f"{min(times[ref]):.3f} | {paired(times, new, old):.3f} | "
              f"{paired(times, old, ref):.3f} | {paired(times, new, ref):.3f} |")
    print("(seconds: best of the rounds; ratios: median over the rounds of the ratio within a round)")
    print(f"load average after: {os.getloadavg()}")
    if limiter is not None:
        limiter.unregister()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
