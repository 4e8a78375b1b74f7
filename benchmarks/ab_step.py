"""This tree's training step against another revision's, in one process.

Separate benchmark processes on a small shared machine swing by ±15%; two
versions imported side by side in one process, their runs interleaved, do
not. The other revision's ``src/fcnn`` is unpacked with ``git archive`` into a
scratch folder as the package ``fcnn_rev`` (fcnn imports itself relatively, so
the copy runs as it is); both train the same network on the same data.

    python benchmarks/ab_step.py --rev ed1f044              # W1 (the lab's size) and W2
    python benchmarks/ab_step.py --rev HEAD~5 --reps 25 --threads 1
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: workload -> (sizes, batch, rows, epochs per timed run, dtype)
WORKLOADS = {
    "W1": ([4, 100, 100, 3], 32, 120, 200, np.float64),
    "W2": ([64, 256, 256, 10], 64, 1437, 4, np.float32),
}


def unpack(rev: str, into: Path) -> None:
    """``src/fcnn`` at ``rev`` as the package ``into/fcnn_rev``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src/fcnn"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "fcnn").rename(into / "fcnn_rev")


def trial(fcnn, workload: str):
    sizes, batch, n, epochs, dtype = WORKLOADS[workload]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    model = fcnn.mlp(sizes, rng=0, dtype=dtype)
    optimizer, loss = fcnn.SGD(model.parameters(), lr=0.01), fcnn.NLLLoss()

    def run() -> None:
        fcnn.train(model, loss, optimizer, X, y, epochs=epochs, batch_size=batch, rng=0,
                   progress=False)

    run()  # warm-up
    return run, epochs * -(-n // batch)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", required=True, help="the git revision to compare with")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as is)")
    args = p.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)  # noqa: F841  (kept alive for the run)
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        unpack(args.rev, Path(tmp))
        sys.path.insert(0, tmp)
        versions = {args.rev: importlib.import_module("fcnn_rev"),
                    "this tree": importlib.import_module("fcnn")}
        print(f"| workload | {args.rev} µs/step | this tree µs/step | ratio (median of paired) |")
        print("|---|---|---|---|")
        for workload in WORKLOADS:
            runs = {name: trial(lib, workload) for name, lib in versions.items()}
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.reps):
                for name, (run, steps) in runs.items():
                    start = time.perf_counter()
                    run()
                    times[name].append((time.perf_counter() - start) / steps * 1e6)
            old, new = times[args.rev], times["this tree"]
            ratio = statistics.median(b / a for a, b in zip(old, new))
            print(f"| {workload} | {statistics.median(old):.1f} | {statistics.median(new):.1f} | "
                  f"{ratio:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
