"""Loading a 200,000 x 50 CSV: fcnn's ``load_dataset`` against ``pandas.read_csv``.

Writes a table of 49 float features and an integer label (about 80 MB; its
size is printed), then times, in a fresh process each (so one run's memory
cannot help the next), the median of ``--repeats`` interleaved runs of

* ``pandas.read_csv(path)``, the floor: parsing alone;
* ``fcnn.data.load_dataset(path)``, what ``fcnn train --dataset path`` does
  before training: read with pandas' C engine, check the header, choose the
  target and the task, encode the features to a float64 array and the labels
  to class codes.

Peak memory is the process's peak resident set (``ru_maxrss``) minus its
resident set after the imports, i.e. what the load itself added at its
highest. Targets (issue 13): fcnn's time at most 1.5x pandas', its peak at most
3x the file's size.

    python benchmarks/data_loading.py              # 200,000 rows, 3 repeats
    python benchmarks/data_loading.py --rows 20000 # a quick check

The machine may be shared; the runs are interleaved so that load changes hit
both sides alike, and the median is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
import numpy as np, pandas as pd
import fcnn.data

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
base = rss_kb()
start = time.perf_counter()
if kind == "pandas":
    frame = pd.read_csv(path)
    shape = frame.shape
else:
    data = fcnn.data.load_dataset(path)
    shape = data.X.shape
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": (peak - base) / 1024, "shape": list(shape)}))
"""


def write_table(path: Path, rows: int, features: int = 49, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    y = rng.integers(0, 3, rows)
    header = ",".join([*(f"x{j}" for j in range(features)), "label"])
    with path.open("w") as handle:
        handle.write(header + "\n")
        for start in range(0, rows, 20_000):
            block = np.column_stack([X[start:start + 20_000], y[start:start + 20_000]])
            np.savetxt(handle, block, delimiter=",", fmt=["%.6f"] * features + ["%d"])


def measure(kind: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        write_table(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        runs: dict[str, list[dict]] = {"pandas": [], "fcnn": []}
        for _ in range(args.repeats):
            for kind in runs:
                runs[kind].append(measure(kind, path))
    print(f"{args.rows:,} rows x 50 columns, {size_mb:.1f} MB; median of {args.repeats} "
          "interleaved runs, each in a fresh process")
    print()
    print("| loader | time s | peak MB above imports | peak / file size |")
    print("|---|---|---|---|")
    median = {}
    for kind, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        peak = statistics.median(r["peak_mb"] for r in results)
        median[kind] = (seconds, peak)
        name = "pandas.read_csv" if kind == "pandas" else "fcnn.data.load_dataset"
        print(f"| {name} | {seconds:.2f} | {peak:.0f} | {peak / size_mb:.2f}x |")
    ratio = median["fcnn"][0] / median["pandas"][0]
    print()
    print(f"fcnn / pandas time: {ratio:.2f}x (target <= 1.5x); fcnn peak / file size: "
          f"{median['fcnn'][1] / size_mb:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
