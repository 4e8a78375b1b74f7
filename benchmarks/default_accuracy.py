"""`fcnn train`'s defaults against scikit-learn's default MLP, on the same split.

For each embedded dataset (``--dataset NAME``) and each dataset scikit-learn
bundles written to CSV (``--dataset NAME.csv``, written to a temporary
folder; wine with its label in the first column), this runs ``fcnn.run`` with
no settings at all, exactly what ``fcnn train --dataset ...`` does, and fits
``make_pipeline(StandardScaler(), MLPClassifier(random_state=0))`` (or
``MLPRegressor``) on the same training rows (fcnn's training and validation
rows together) and scores both on the same test rows. It prints a markdown
table: accuracy (classification) or R² (regression), wall time of each, and
whether fcnn is within the target (2 points of accuracy, 0.05 of R², at most
30 s).

    python benchmarks/default_accuracy.py            # all datasets, seed 0
    python benchmarks/default_accuracy.py --seeds 3  # mean over seeds 0, 1, 2

The embedded iris gets the lab's run (bare ``fcnn train``), whose defaults are
the lab's, not the tabular ones; ``iris.csv`` shows the tabular defaults on
the same table. Wall times are in-process (imports excluded), and the machine
may be shared: read them as upper bounds.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn import datasets as sk_datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fcnn
from fcnn.runner import RunConfig, run

EMBEDDED = ("iris", "wine", "breast_cancer", "digits")
BUNDLED = ("iris", "wine", "breast_cancer", "digits", "diabetes", "linnerud")
TARGET = {"accuracy": 0.02, "r2": 0.05, "seconds": 30.0}


def write_bundled(folder: Path) -> dict[str, Path]:
    """scikit-learn's bundled datasets as CSV files with a header row (features, then the
    target; wine's target first; linnerud's first target, Weight, alone)."""
    paths = {}
    for name in BUNDLED:
        bunch = getattr(sk_datasets, f"load_{name}")(as_frame=True)
        frame = bunch.frame
        if name == "linnerud":
            frame = bunch.data.assign(Weight=bunch.target["Weight"])
        if name == "wine":
            frame = frame[["target", *[c for c in frame.columns if c != "target"]]]
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths[f"{name}.csv"] = path
    return paths


def compare(source: str, seed: int) -> dict[str, float | str]:
    started = time.perf_counter()
    result = run(RunConfig(dataset=source, seed=seed, write=False, progress=False), log=None)
    fcnn_s = time.perf_counter() - started
    data, rows = result.dataset, result.rows
    train = np.concatenate([rows["fit"], rows["validation"]]) if rows["validation"] is not None \
        else rows["fit"]
    test = rows["test"]
    regression = data.task == "regression"
    model = (MLPRegressor if regression else MLPClassifier)(random_state=seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), model).fit(data.X[train], data.y[train])
    predicted = pipe.predict(data.X[test])
    sk_s = time.perf_counter() - started
    metric = "r2" if regression else "accuracy"
    sk_score = (r2_score if regression else accuracy_score)(data.y[test], predicted)
    return {"dataset": source, "task": data.task, "metric": metric,
            "fcnn": float(result.metrics[metric]), "sklearn": float(sk_score),
            "fcnn_s": fcnn_s, "sklearn_s": sk_s, "profile": result.settings.profile,
            "epochs": result.history.epochs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="mean over seeds 0..N-1")
    parser.add_argument("--only", nargs="*", help="only these datasets (e.g. wine.csv digits)")
    args = parser.parse_args(argv)
    print(f"fcnn {fcnn.__version__}, scikit-learn {sklearn.__version__}, numpy "
          f"{np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print()
    print("| dataset | task | profile | fcnn | scikit-learn | difference | fcnn s | "
          "scikit-learn s | target met |")
    print("|---|---|---|---|---|---|---|---|---|")
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        sources = [*EMBEDDED, *(str(p) for p in write_bundled(Path(tmp)).values())]
        for source in sources:
            label = Path(source).name
            if args.only and label not in args.only:
                continue
            results = [compare(source, seed) for seed in range(args.seeds)]
            mean = {k: float(np.mean([r[k] for r in results]))
                    for k in ("fcnn", "sklearn", "fcnn_s", "sklearn_s")}
            first = results[0]
            diff = mean["fcnn"] - mean["sklearn"]
            ok = diff >= -TARGET[str(first["metric"])] and mean["fcnn_s"] <= TARGET["seconds"]
            missed += not ok
            print(f"| {label} | {first['task']} | {first['profile']} | {first['metric']} "
                  f"{mean['fcnn']:.4f} | {mean['sklearn']:.4f} | {diff:+.4f} | "
                  f"{mean['fcnn_s']:.1f} | {mean['sklearn_s']:.1f} | {'yes' if ok else 'NO'} |")
            sys.stdout.flush()
    print()
    print(f"{missed} dataset(s) missed the target" if missed else "every dataset met the target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
