"""fcnn against a lab-style baseline, PyTorch and scikit-learn, side by side.

    python benchmarks/run.py            # full suite, ~10 minutes, writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # ~1-2 minutes, same structure, fewer epochs and reps
    python benchmarks/run.py --only W1,startup --threads 2 --reps 5

Workloads W1 (Iris, the lab's run), W2 (digits) and W3 (a wide synthetic
set) are trained by fcnn (float64 and float32), the lab's own classes
(``_lab.py``), PyTorch (float32, CPU) and scikit-learn's MLPClassifier, and
bounded by the BLAS floor (the step's GEMMs alone, in numpy). Systems are
interleaved (A B C A B C ...) so that drift hits all of them, and ratios are
taken within each repetition. Every timed region carries a contention
reading; contended ones are rerun once and flagged. Start-up (``import
fcnn`` vs ``import numpy``) and ``fcnn train``'s wall time are measured too.

Each workload runs in worker processes (this same script with ``--job``): W1
and W2 in one process per thread count, W3 in a fresh process per run so that
its peak RSS is its own. See benchmarks/README.md for the columns.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _measure  # noqa: E402
import _systems  # noqa: E402
from _systems import F32, F64, SYSTEMS, WORKLOADS, label  # noqa: E402

SEED0 = 1000  # repetition r uses seed SEED0 + r for every system
RESULTS_MD = HERE / "RESULTS.md"
#: Everything after this line in RESULTS.md is written by hand and kept on regeneration.
ANALYSIS_MARKER = "<!-- analysis: written by hand, kept when run.py regenerates this file -->"
SCRATCH = HERE / "scratch"
CLI_LIMIT_S = 3.0
IMPORT_LIMIT_S = 0.030
RSS_HEADROOM_MB = 150.0


# ---------------------------------------------------------------------------
# Worker side: runs inside a fresh process, writes its results as JSON.
# ---------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _set_threads(n: int, with_torch: bool, with_sklearn: bool) -> list[dict[str, Any]]:
    """Limit BLAS/OpenMP (threadpoolctl) and PyTorch's intra-op pool to ``n`` threads.

    The libraries a job uses are imported first, so that threadpoolctl sees
    (and limits) every BLAS and OpenMP runtime they load; the worker's
    environment already carries the same limits (OMP/OPENBLAS/MKL_NUM_THREADS).
    """
    if with_torch:
        import torch

        torch.set_num_threads(n)
    if with_sklearn:
        import sklearn.neural_network  # noqa: F401  (loads SciPy's own OpenBLAS)
    from threadpoolctl import threadpool_info, threadpool_limits

    global _LIMITS  # keep the limiter alive for the whole process
    _LIMITS = threadpool_limits(limits=n)
    return [{"api": p["internal_api"], "threads": p["num_threads"]} for p in threadpool_info()]


def _describe(wl_key: str, threads: int, rep: str, sys_: str, dtype: str, s: dict) -> str:
    flag = "  CONTENDED" if s["contended"] else ("  (rerun)" if s["rerun"] else "")
    acc = "" if s.get("acc") is None else f"  acc {s['acc']:.3f}"
    return (f"  {wl_key} {threads}t rep {rep:>5}  {label(sys_, dtype):<17} "
            f"{s['us_step']:9.1f} us/step {s['s_epoch']:8.3f} s/epoch{acc}"
            f"  [others {s['other_cores']:.2f} cores]{flag}")


def _sample(sample: _measure.Sample, trial: Any, epochs: int) -> dict[str, Any]:
    d = sample.to_dict()
    d.update(trial.score())
    d["epochs"] = epochs
    d["us_step"] = sample.wall / d["steps"] * 1e6
    d["s_epoch"] = sample.wall / epochs
    return d


def job_inproc(job: dict[str, Any]) -> dict[str, Any]:
    """W1/W2: every system in this one process, interleaved, ``reps`` times."""
    import _data

    wl = WORKLOADS[job["workload"]]
    systems = [tuple(s) for s in job["systems"]]
    pools = _set_threads(job["threads"], any(s == "torch" for s, _ in systems), True)
    data = _data.load(wl.data)
    for system, dtype in systems:  # warm-up: first-call costs, caches, thread pools
        _systems.make_trial(system, wl, dtype, data, wl.warmup_epochs, SEED0).run()
    samples = []
    for rep in range(job["reps"]):
        for system, dtype in systems:
            seed = SEED0 + rep
            sample, trial = _measure.timed_with_rerun(
                lambda s=system, d=dtype, sd=seed: _systems.make_trial(
                    s, wl, d, data, job["epochs"], sd)
            )
            s = _sample(sample, trial, job["epochs"])
            s.update(system=system, dtype=dtype, rep=rep, seed=seed)
            samples.append(s)
            _log(_describe(wl.key, job["threads"], f"{rep + 1}/{job['reps']}", system, dtype, s))
    return {"samples": samples, "threadpools": pools, "n_train": int(data[0].shape[0]),
            "n_test": int(data[2].shape[0])}


def job_single(job: dict[str, Any]) -> dict[str, Any]:
    """W3: one run of one system in this fresh process, with its memory readings."""
    import numpy as np

    wl = WORKLOADS[job["workload"]]
    system, dtype, rows = job["system"], job["dtype"], job["rows"]
    pools = _set_threads(job["threads"], system == "torch", system == "sklearn")
    rss_imports = _measure.rss_mb()
    if system == "floor":  # needs only the number of rows
        data: tuple = (np.broadcast_to(np.float32(0), (rows, 1)), None, None, None)
        data_mb = 0.0
        n_test = 0
    else:
        import _data

        data = _data.load(wl.data, rows)
        data_mb = sum(a.nbytes for a in data) / 2**20
        n_test = int(data[2].shape[0])
        if dtype == F64:  # hold the data in the system's dtype only, as its user would
            data = tuple(a.astype(np.float64) if a.dtype.kind == "f" else a for a in data)
    rss_data = _measure.rss_mb()
    k = 8 * wl.batch  # warm-up on a slice: first-call costs, caches, thread pools
    warm = (data[0][:k], None if data[1] is None else data[1][:k],
            None if data[2] is None else data[2][:k], None if data[3] is None else data[3][:k])
    _systems.make_trial(system, wl, dtype, warm, wl.warmup_epochs, SEED0).run()
    reset_ok = _measure.reset_peak_rss()
    rss_before = _measure.rss_mb()
    seed = SEED0 + job["rep"]
    sample, trial = _measure.timed_with_rerun(
        lambda: _systems.make_trial(system, wl, dtype, data, job["epochs"], seed)
    )
    train_peak = _measure.vm_hwm_mb() if reset_ok else None
    s = _sample(sample, trial, job["epochs"])
    s.update(
        system=system, dtype=dtype, rep=job["rep"], seed=seed, rows=rows, n_test=n_test,
        data_mb=data_mb, rss_after_imports_mb=rss_imports, rss_with_data_mb=rss_data,
        rss_before_train_mb=rss_before, train_peak_rss_mb=train_peak,
        peak_rss_mb=_measure.peak_rss_mb(),
    )
    _log(_describe(wl.key, job["threads"], f"{job['rep'] + 1}/{job['reps']}", system, dtype, s)
         + f"  peak RSS {s['peak_rss_mb']:.0f} MB")
    return {"sample": s, "threadpools": pools}


def job_env(job: dict[str, Any]) -> dict[str, Any]:
    return _measure.machine_info()


def worker_main(job_json: str, result_path: str) -> None:
    job = json.loads(job_json)
    result = {"env": job_env, "inproc": job_inproc, "single": job_single}[job["kind"]](job)
    Path(result_path).write_text(json.dumps(result))


# ---------------------------------------------------------------------------
# Orchestrator side.
# ---------------------------------------------------------------------------


def run_job(job: dict[str, Any], threads: int | None = None, timeout: float = 3600) -> Any:
    """Run ``job`` in a fresh worker process and return its JSON result (None if it failed)."""
    env = dict(os.environ)
    if threads is not None:  # also set before start-up, for libraries read at load time
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--job", json.dumps(job),
               "--result", str(out)]
        try:
            proc = subprocess.run(cmd, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            _log(f"ERROR: worker timed out after {timeout:.0f} s on job {job}")
            return None
        if proc.returncode != 0 or not out.exists():
            _log(f"ERROR: worker failed (exit {proc.returncode}) on job {job}; see its traceback "
                 "above")
            return None
        return json.loads(out.read_text())


def measure_startup(n: int) -> dict[str, Any]:
    """``import numpy`` and ``import fcnn`` each in fresh interpreters, interleaved."""
    code = ("import sys, time; t = time.perf_counter(); import {m}; t = time.perf_counter() - t; "
            "heavy = [k for k in ('sklearn', 'scipy', 'matplotlib', 'tqdm', 'safetensors', "
            "'torch', 'pandas') if k in sys.modules]; print(t, ','.join(heavy))")
    times: dict[str, list[float]] = {"numpy": [], "fcnn": []}
    walls: dict[str, list[float]] = {"numpy": [], "fcnn": []}
    heavy = ""
    for i in range(n + 1):  # the first round only warms the .pyc and file caches
        for mod in ("numpy", "fcnn"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code.format(m=mod)],
                                  capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                return {"error": f"import {mod} failed: {proc.stderr.strip()[-500:]}"}
            t, _, mods = proc.stdout.strip().partition(" ")
            if i:
                times[mod].append(float(t))
                walls[mod].append(wall)
            if mod == "fcnn":
                heavy = mods
    diffs = [f - np_ for f, np_ in zip(times["fcnn"], times["numpy"], strict=True)]
    return {
        "top_modules": _import_breakdown(),
        "n": n,
        "import_numpy_s": statistics.median(times["numpy"]),
        "import_fcnn_s": statistics.median(times["fcnn"]),
        "extra_s": statistics.median(diffs),
        "extra_min_max_s": (min(diffs), max(diffs)),
        "process_numpy_s": statistics.median(walls["numpy"]),
        "process_fcnn_s": statistics.median(walls["fcnn"]),
        "heavy_modules_after_import_fcnn": heavy,
    }


def _import_breakdown(top: int = 6) -> dict[str, Any]:
    """What ``import fcnn`` loads beyond NumPy (``-X importtime``, one run): its total, and the
    modules it imports directly or one level down, by cumulative time."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import numpy; import fcnn"],
                          capture_output=True, text=True, check=False)
    rows, total, after_numpy = [], None, False
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        field = parts[2].rstrip()
        name = field.strip()
        depth = (len(field) - len(field.lstrip()) - 1) // 2  # " numpy" is depth 0
        if not after_numpy:
            after_numpy = field == " numpy"  # numpy's own line closes its import
            continue
        try:
            cumulative_ms = int(parts[1]) / 1e3
        except ValueError:
            continue
        if field == " fcnn":
            total = cumulative_ms
        elif depth <= 2:
            rows.append((name, cumulative_ms))
    rows.sort(key=lambda r: -r[1])
    return {"total_ms": total, "top": rows[:top]}


def measure_cli(n: int) -> dict[str, Any]:
    """Wall time of ``python -m fcnn train --out <tmp> --no-progress`` (the lab's run)."""
    try:
        available = importlib.util.find_spec("fcnn.cli") is not None
    except (ImportError, ValueError):
        available = False
    if not available:
        return {"available": False, "note": "CLI not available (no fcnn.cli module)"}
    walls, error = [], None
    for _ in range(n):
        tmp = tempfile.mkdtemp(prefix="fcnn-bench-cli-")
        try:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "fcnn", "train", "--out", tmp, "--no-progress"],
                capture_output=True, text=True, timeout=300, check=False,
            )
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                error = f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}"
                break
            walls.append(wall)
        except subprocess.TimeoutExpired:
            error = "timed out after 300 s"
            break
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if error:
        return {"available": True, "error": error}
    return {"available": True, "n": n, "wall_s": statistics.median(walls),
            "min_max_s": (min(walls), max(walls))}


def _with_contention(fn: Any, n: int) -> dict[str, Any]:
    """``fn(n)``'s result plus the CPU other processes used while it ran."""
    box: dict[str, Any] = {}
    sample = _measure.measure(lambda: box.update(fn(n)), children=True)
    box["other_cores"], box["contended"] = sample.other_cores, sample.contended
    if sample.contended:
        _log(f"  (contended: other processes used {sample.other_cores:.2f} cores meanwhile)")
    return box


def run_inproc_workload(key: str, args: argparse.Namespace, threads: int,
                        systems: list[tuple[str, str]]) -> dict[str, Any]:
    wl = WORKLOADS[key]
    job = {"kind": "inproc", "workload": key, "threads": threads, "reps": args.reps,
           "epochs": wl.quick_epochs if args.quick else wl.epochs, "systems": systems}
    res = run_job(job, threads)
    return res or {"samples": [], "error": "the worker failed; see the log"}


def run_subprocess_workload(key: str, args: argparse.Namespace, threads: int,
                            systems: list[tuple[str, str]]) -> dict[str, Any]:
    wl = WORKLOADS[key]
    rows = wl.quick_rows if args.quick else wl.rows
    epochs = wl.quick_epochs if args.quick else wl.epochs
    samples, pools, failed = [], None, []
    for rep in range(args.reps):
        for system, dtype in systems:
            job = {"kind": "single", "workload": key, "system": system, "dtype": dtype,
                   "threads": threads, "rep": rep, "reps": args.reps, "epochs": epochs,
                   "rows": rows}
            res = run_job(job, threads)
            if res is None:
                failed.append(f"{label(system, dtype)} rep {rep + 1}")
                continue
            samples.append(res["sample"])
            pools = pools or res["threadpools"]
    n_test = max((s.get("n_test") or 0 for s in samples), default=0)
    out = {"samples": samples, "threadpools": pools, "n_train": rows, "n_test": n_test}
    if failed:
        out["error"] = "failed runs (see the log): " + ", ".join(failed)
    return out


# ---------------------------------------------------------------------------
# Aggregation and the report.
# ---------------------------------------------------------------------------


def _stats(values: list[float]) -> tuple[float, float, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def aggregate(run: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per system: medians and ranges, and ratios paired within each repetition."""
    by_sys: dict[tuple[str, str], list[dict]] = {}
    for s in run["samples"]:
        by_sys.setdefault((s["system"], s["dtype"]), []).append(s)
    torch_by_rep = {s["rep"]: s["wall"] / s["steps"] for s in by_sys.get(("torch", F32), [])}
    floor_by_rep = {
        dt: {s["rep"]: s["wall"] / s["steps"] for s in by_sys.get(("floor", dt), [])}
        for dt in (F32, F64)
    }
    out = {}
    for key, samples in by_sys.items():
        per_step = {s["rep"]: s["wall"] / s["steps"] for s in samples}
        vs_torch = [v / torch_by_rep[r] for r, v in per_step.items() if r in torch_by_rep]
        floor = floor_by_rep[key[1]]
        vs_floor = [v / floor[r] for r, v in per_step.items() if r in floor]
        out[key] = {
            "us_step": _stats([s["us_step"] for s in samples]),
            "s_epoch": _stats([s["s_epoch"] for s in samples]),
            "acc": _stats([s.get("acc") for s in samples]),
            "loss": _stats([s.get("loss") for s in samples]),
            "vs_torch": statistics.median(vs_torch) if vs_torch and key != ("torch", F32) else None,
            "vs_floor": statistics.median(vs_floor) if vs_floor and key[0] != "floor" else None,
            "contended": sum(s["contended"] for s in samples),
            "reruns": sum(s["rerun"] for s in samples),
            "n": len(samples),
            "steps": samples[0]["steps"],
            "epochs": samples[0]["epochs"],
            "peak_rss_mb": _stats([s.get("peak_rss_mb") for s in samples]),
            "train_peak_rss_mb": _stats([s.get("train_peak_rss_mb") for s in samples]),
            "rss_before_train_mb": _stats([s.get("rss_before_train_mb") for s in samples]),
            "data_mb": max((s.get("data_mb") or 0.0 for s in samples), default=0.0),
            "model_dtype": samples[0].get("model_dtype"),
        }
    return out


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "–" if x is None else format(x, spec)


def _fmt_range(st: tuple[float, float, float] | None, spec: str, n: int) -> str:
    if st is None:
        return "–"
    return f"{st[1]:{spec}}–{st[2]:{spec}}" if n > 1 else "(1 run)"


def _acc_ok(fc: dict | None, base: dict | None, n_test: int) -> tuple[bool, str] | None:
    """fcnn's median test accuracy within noise of a baseline's: |difference| no more
    than two test samples (or 1 %) plus both systems' spread across repetitions."""
    if not fc or not base or fc["acc"] is None or base["acc"] is None:
        return None
    tol = max(2 / max(n_test, 1), 0.01) + (fc["acc"][2] - fc["acc"][1]) + (
        base["acc"][2] - base["acc"][1])
    diff = fc["acc"][0] - base["acc"][0]
    return abs(diff) <= tol, f"{fc['acc'][0]:.3f} vs {base['acc'][0]:.3f} (±{tol:.3f})"


def _workload_table(key: str, threads: int, run: dict[str, Any],
                    agg: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    wl = WORKLOADS[key]
    rss = wl.subprocess_per_run
    head = ["system", "µs/step", "min–max", "s/epoch", "× PyTorch f32", "× floor", "test acc",
            "acc min–max", "final loss"]
    if rss:
        head += ["peak RSS MB", "RSS at start of run MB", "peak during run MB"]
    head.append("contended/reruns")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system, dtype in _ordered(agg):
        a = agg[(system, dtype)]
        st = a["us_step"]
        row = [
            label(system, dtype),
            f"**{st[0]:,.1f}**",
            _fmt_range(st, ",.1f", a["n"]),
            f"{a['s_epoch'][0]:.4g}",
            _fmt(a["vs_torch"], ".2f"),
            _fmt(a["vs_floor"], ".2f"),
            "–" if a["acc"] is None else f"{a['acc'][0]:.3f}",
            _fmt_range(a["acc"], ".3f", a["n"]) if a["acc"] else "–",
            "–" if a["loss"] is None else f"{a['loss'][0]:.4g}",
        ]
        if rss:
            row += [
                "–" if a["peak_rss_mb"] is None else f"{a['peak_rss_mb'][0]:.0f}",
                "–" if a["rss_before_train_mb"] is None else f"{a['rss_before_train_mb'][0]:.0f}",
                "–" if a["train_peak_rss_mb"] is None else f"{a['train_peak_rss_mb'][0]:.0f}",
            ]
        row.append(f"{a['contended']}/{a['reruns']}" if a["contended"] or a["reruns"] else "0")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _ordered(agg: dict) -> list[tuple[str, str]]:
    order = ["fcnn", "lab", "torch", "sklearn", "floor"]
    return sorted(agg, key=lambda k: (order.index(k[0]), k[1] != F64))


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value and PASS/FAIL per thread count."""
    rows: list[dict[str, Any]] = []

    def ratio_row(name: str, key: str, sys_: tuple[str, str], field: str, limit: float) -> None:
        cells = {}
        for threads, run in results["workloads"].get(key, {}).items():
            a = run["agg"].get(sys_)
            value = None if a is None else a[field]
            if value is not None:
                cells[threads] = (value, value <= limit)
            elif a is not None:
                missing = "PyTorch" if field == "vs_torch" else "BLAS floor"
                cells[threads] = (None, None, f"no {missing} run")
        rows.append({"target": name, "limit": f"≤ {limit}", "cells": cells})

    ratio_row("W1 fcnn f64 µs/step ÷ PyTorch f32", "W1", ("fcnn", F64), "vs_torch", 0.30)
    cells = {}
    for threads, run in results["workloads"].get("W1", {}).items():
        fc, lab = run["agg"].get(("fcnn", F64)), run["agg"].get(("lab", F64))
        if fc and lab:
            r = [s["wall"] / s["steps"] for s in run["samples"] if s["system"] == "fcnn"
                 and s["dtype"] == F64]
            q = [s["wall"] / s["steps"] for s in run["samples"] if s["system"] == "lab"
                 and s["dtype"] == F64]
            value = statistics.median([a / b for a, b in zip(r, q, strict=True)])
            cells[threads] = (value, value <= 0.8)
    rows.append({"target": "W1 fcnn f64 µs/step ÷ lab baseline f64", "limit": "≤ 0.8",
                 "cells": cells})
    ratio_row("W2 fcnn f32 µs/step ÷ PyTorch f32", "W2", ("fcnn", F32), "vs_torch", 0.8)
    ratio_row("W2BN fcnn f32 µs/step ÷ PyTorch f32", "W2BN", ("fcnn", F32), "vs_torch", 1.0)
    ratio_row("W3 fcnn f32 s/epoch ÷ PyTorch f32", "W3", ("fcnn", F32), "vs_torch", 1.0)
    ratio_row("W3 fcnn f32 s/epoch ÷ BLAS floor f32", "W3", ("fcnn", F32), "vs_floor", 1.15)

    cells = {}
    for threads, run in results["workloads"].get("W3", {}).items():
        a = run["agg"].get(("fcnn", F32))
        if a and a["peak_rss_mb"]:
            limit = a["data_mb"] + RSS_HEADROOM_MB
            cells[threads] = (a["peak_rss_mb"][0], a["peak_rss_mb"][0] <= limit,
                              f"{a['peak_rss_mb'][0]:.0f} MB (data {a['data_mb']:.0f} MB)")
    rows.append({"target": "W3 fcnn f32 peak RSS", "limit": f"≤ data + {RSS_HEADROOM_MB:.0f} MB",
                 "cells": cells})

    for key in ("W1", "W2", "W3"):
        for dtype, base in ((F64, ("lab", F64)), (F32, ("torch", F32))):
            cells = {}
            for threads, run in results["workloads"].get(key, {}).items():
                ok = _acc_ok(run["agg"].get(("fcnn", dtype)), run["agg"].get(base),
                             run.get("n_test", 0))
                if ok is not None:
                    cells[threads] = (None, ok[0], ok[1])
            if cells:
                rows.append({"target": f"{key} test accuracy fcnn f{dtype[-2:]} vs "
                                       f"{label(*base)}", "limit": "within noise",
                             "cells": cells})

    st = results.get("startup")
    if st and "extra_s" in st:
        rows.append({"target": "`import fcnn` − `import numpy`", "limit": "≤ 30 ms",
                     "cells": {"–": (st["extra_s"], st["extra_s"] <= IMPORT_LIMIT_S,
                                     f"{st['extra_s'] * 1e3:.1f} ms")}})
    cli = results.get("cli")
    if cli:
        if "wall_s" in cli:
            cell = (cli["wall_s"], cli["wall_s"] < CLI_LIMIT_S, f"{cli['wall_s']:.2f} s")
        else:
            cell = (None, None, cli.get("note") or cli.get("error", "?"))
        rows.append({"target": "`fcnn train` (the lab's run, with plots) wall", "limit": "< 3 s",
                     "cells": {"–": cell}})
    return rows


def _breakdown_line(b: dict[str, Any]) -> str:
    if not b.get("total_ms"):
        return "(`-X importtime` breakdown unavailable)"
    tops = ", ".join(f"{m} {ms:.1f} ms" for m, ms in b["top"])
    return (f"`python -X importtime -c 'import numpy; import fcnn'` (one run): fcnn "
            f"{b['total_ms']:.1f} ms after NumPy; largest parts (cumulative): {tops}.")


def _target_cell(c: tuple | None) -> str:
    if c is None:
        return "–"
    text = c[2] if len(c) == 3 else f"{c[0]:.2f}"
    return f"{text} {_verdict(c[1])}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "**FAIL**")


def render(results: dict[str, Any]) -> str:
    meta, env = results["meta"], results.get("env") or {}
    out = [
        "# fcnn benchmarks",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} in {meta['duration_s']:.0f} s"
        + (" — **quick mode: fewer epochs and repetitions, for checking the suite, not for "
           "quoting**" if meta["quick"] else "") + ".",
        "",
        f"Repetitions: {meta['reps']}, systems interleaved within each; medians, min–max over "
        "repetitions. Ratios are medians of per-repetition ratios (each system against the "
        "same repetition's PyTorch f32 or same-dtype BLAS floor). Repetition r uses seed "
        f"{SEED0} + r for every system; see benchmarks/README.md for the columns.",
        "",
    ]
    if meta.get("busy_warning"):
        out += [f"> **Warning:** {meta['busy_warning']}", ""]
    n_cont = sum(a["contended"] for w in results["workloads"].values() for r in w.values()
                 for a in r["agg"].values())
    n_rerun = sum(a["reruns"] for w in results["workloads"].values() for r in w.values()
                  for a in r["agg"].values())
    out += [f"Contention: {n_rerun} timed region(s) were rerun because other processes used "
            f"more than {_measure.CONTENDED_CORES:.0%} of a core; {n_cont} kept sample(s) are "
            "still contended (column contended/reruns).", ""]
    for msg in meta.get("skipped", []):
        out += [f"> {msg}", ""]

    # Targets
    out += ["## Targets", ""]
    trows = [r for r in targets(results) if r["cells"]]  # only what this run measured
    thread_keys = sorted({t for r in trows for t in r["cells"] if t != "–"},
                         key=lambda t: -int(t)) or ["–"]
    head = ["target", "limit"] + [
        "measured" if t == "–" else f"{t} thread{'s' if t != '1' else ''}" for t in thread_keys
    ]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in trows:
        # rows without a thread count (start-up, CLI) fill the first column only
        keys = thread_keys if "–" not in r["cells"] else ["–"]
        cells = [_target_cell(r["cells"].get(t)) for t in keys]
        cells += [""] * (len(thread_keys) - len(cells))
        out.append("| " + " | ".join([r["target"], r["limit"], *cells]) + " |")
    out.append("")

    # Start-up and CLI
    st, cli = results.get("startup"), results.get("cli")
    if st or cli:
        out += ["## Start-up", ""]
    if st:
        if "error" in st:
            out += [f"Start-up measurement failed: {st['error']}", ""]
        else:
            heavy = st["heavy_modules_after_import_fcnn"] or "none"
            out += [
                f"Fresh interpreters, medians of {st['n']} (interleaved, after one warm-up each):",
                "",
                "| | in-process import time | whole process (start, import, exit) |",
                "|---|---|---|",
                f"| `import numpy` | {st['import_numpy_s'] * 1e3:.1f} ms | "
                f"{st['process_numpy_s'] * 1e3:.0f} ms |",
                f"| `import fcnn` | {st['import_fcnn_s'] * 1e3:.1f} ms | "
                f"{st['process_fcnn_s'] * 1e3:.0f} ms |",
                f"| difference (median of paired) | **{st['extra_s'] * 1e3:.1f} ms** "
                f"({st['extra_min_max_s'][0] * 1e3:.1f}–{st['extra_min_max_s'][1] * 1e3:.1f}) | |",
                "",
                f"Heavy modules loaded by `import fcnn`: {heavy}.",
                "",
                _breakdown_line(st.get("top_modules") or {}),
                "",
            ]
    for name, part in (("Start-up", st), ("`fcnn train`", cli)):
        if part and part.get("contended"):
            out += [f"> {name} was measured while other processes used "
                    f"{part['other_cores']:.2f} cores.", ""]
    if cli:
        if "wall_s" in cli:
            out += [f"`python -m fcnn train --out <tmp> --no-progress`: **{cli['wall_s']:.2f} s** "
                    f"wall (median of {cli['n']}, {cli['min_max_s'][0]:.2f}–"
                    f"{cli['min_max_s'][1]:.2f}).", ""]
        else:
            out += [f"`fcnn train`: {cli.get('note') or 'failed: ' + cli.get('error', '?')}", ""]

    # Workloads
    for key, runs in results["workloads"].items():
        wl = WORKLOADS[key]
        out += [f"## {wl.title}", ""]
        first = next((r for r in runs.values() if r["agg"]), None)
        if first is not None:
            a0 = next(iter(first["agg"].values()))
            out += [f"{first['n_train']} training rows, {first['n_test']} test rows; "
                    f"{a0['epochs']} epoch(s) = {a0['steps']} steps per run."]
        out += [*wl.notes, ""]
        for threads, run in runs.items():
            pools = ", ".join(f"{p['api']}={p['threads']}" for p in run.get("threadpools") or [])
            out += [f"### {threads} thread{'s' if threads != '1' else ''} ({pools})", ""]
            if run.get("error"):
                out += [f"> **Error:** {run['error']}", ""]
            if not run["agg"]:
                continue
            out += _workload_table(key, int(threads), run, run["agg"])
            out.append("")
            notes = _loss_notes(run["agg"])
            if notes:
                out += ["Same initial weights and batches, so these should agree to rounding: "
                        "final-epoch training loss " + "; ".join(notes) + ".", ""]
            fl = run["agg"].get(("floor", F32))
            if fl:
                gflops = _systems.flops_per_epoch(wl, run["n_train"]) / fl["s_epoch"][0] / 1e9
                out += [f"BLAS floor f32 runs at {gflops:.0f} GFLOP/s on these shapes.", ""]
            sk = run["agg"].get(("sklearn", F32))
            if sk and sk.get("model_dtype") and sk["model_dtype"] != F32:
                out += [f"Note: scikit-learn's 'f32' model computed in {sk['model_dtype']}.", ""]

    # Environment
    out += ["## Environment", "", "```"]
    for k in ("cpu", "simd", "cpus", "affinity", "mem_total_gb", "platform", "python", "numpy",
              "sklearn", "torch", "torch_mkl", "torch_parallel", "fcnn"):
        if k in env:
            out.append(f"{k:>14}: {env[k]}")
    for p in env.get("threadpools") or []:
        out.append(f"{'threadpool':>14}: {p['user_api']} {p['internal_api']} {p['version']} "
                   f"threads={p['num_threads']} arch={p.get('architecture')} "
                   f"({Path(p['filepath']).name})")
    out += ["```", ""]
    if meta.get("idle_other_cores") is not None:
        out += [f"Other processes' CPU over 1 s before the run: "
                f"{meta['idle_other_cores']:.2f} cores.", ""]
    return "\n".join(out)


def _loss_notes(agg: dict) -> list[str]:
    notes = []
    for a, b in ((("fcnn", F64), ("lab", F64)), (("fcnn", F32), ("torch", F32)),
                 (("fcnn", F32), ("lab", F32))):
        x, y = agg.get(a), agg.get(b)
        if x and y and x["loss"] and y["loss"]:
            notes.append(f"{label(*a)} {x['loss'][0]:.6g} vs {label(*b)} {y['loss'][0]:.6g}")
    return notes


# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="fewer epochs (W1 200, W2 10, W3 1 on 20,000 rows) and 1 repetition")
    p.add_argument("--only", default="W1,W2,W2BN,W3,startup,cli",
                   help="comma-separated subset of W1,W2,W2BN,W3,startup,cli (default: all)")
    p.add_argument("--threads", default=None,
                   help="thread counts, comma-separated (default: all cores, then 1)")
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions per system (default 3, quick 1)")
    p.add_argument("--no-torch", action="store_true",
                   help="leave PyTorch out (as if it were not installed)")
    p.add_argument("--out", type=Path, default=None,
                   help="markdown output (default: benchmarks/RESULTS.md for a full run, "
                        "benchmarks/scratch/RESULTS-partial.md for --quick/--only)")
    p.add_argument("--job", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.job:
        worker_main(args.job, args.result)
        return 0
    started = time.perf_counter()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(only) - {*WORKLOADS, "startup", "cli"}
    if bad:
        raise SystemExit(f"--only: unknown item(s) {sorted(bad)}; choose from "
                         f"{','.join(WORKLOADS)},startup,cli")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = ([int(t) for t in args.threads.split(",")] if args.threads
               else sorted({ncpu or 1, 1}, reverse=True))
    full = (not args.quick and args.only == parse_args([]).only and args.reps >= 3
            and not args.no_torch and args.threads is None)
    out_md = args.out or (RESULTS_MD if full else SCRATCH / "RESULTS-partial.md")

    meta: dict[str, Any] = {
        "command": " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None
                                                             else argv)]),
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "quick": args.quick, "reps": args.reps, "threads": threads, "skipped": [],
    }
    idle = _measure.other_cpu_over(1.0)
    meta["idle_other_cores"] = idle
    if idle is not None and idle > _measure.CONTENDED_CORES:
        meta["busy_warning"] = (
            f"the machine is busy: other processes used {idle:.2f} cores over 1 s before the "
            "run; 2-thread timings will be noisy (on 2 cores one busy process can slow "
            "2-thread BLAS several-fold)")
        _log("WARNING: " + meta["busy_warning"])

    has_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    if not has_torch:
        msg = ("PyTorch skipped (--no-torch): its rows and the ratios to it are left out."
               if args.no_torch else
               "PyTorch is not installed: its rows and the ratios to it are skipped "
               "(pip install torch --index-url https://download.pytorch.org/whl/cpu).")
        meta["skipped"].append(msg)
        _log(msg)

    _log(f"fcnn benchmarks: {'quick' if args.quick else 'full'} mode, {args.reps} rep(s), "
         f"threads {threads}, output {out_md}")
    results: dict[str, Any] = {"meta": meta, "workloads": {}}
    results["env"] = run_job({"kind": "env"})
    if "startup" in only:
        _log("start-up: import numpy vs import fcnn ...")
        results["startup"] = _with_contention(measure_startup, 3 if args.quick else 9)
        st = results["startup"]
        _log(f"  import fcnn - import numpy: {st.get('extra_s', float('nan')) * 1e3:.1f} ms"
             if "extra_s" in st else f"  {st['error']}")
    if "cli" in only:
        _log("fcnn train (CLI) ...")
        results["cli"] = _with_contention(measure_cli, 1 if args.quick else 3)
        c = results["cli"]
        _log(f"  {c['wall_s']:.2f} s" if "wall_s" in c else f"  {c.get('note') or c['error']}")

    for key in WORKLOADS:
        if key not in only:
            continue
        wl = WORKLOADS[key]
        results["workloads"][key] = {}
        w3_threads = threads[:1] if args.quick and wl.subprocess_per_run else threads
        for i, t in enumerate(w3_threads):
            systems = SYSTEMS[key] if not (wl.subprocess_per_run and i) else SYSTEMS["W3-1thread"]
            if not has_torch:
                systems = [s for s in systems if s[0] != "torch"]
            _log(f"{wl.title} — {t} thread(s)")
            runner = run_subprocess_workload if wl.subprocess_per_run else run_inproc_workload
            run = runner(key, args, t, [list(s) for s in systems])
            run["agg"] = aggregate(run)
            results["workloads"][key][str(t)] = run

    meta["duration_s"] = time.perf_counter() - started
    text = render(results)
    print("\n" + text)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    if out_md.exists():  # keep the hand-written analysis that follows the marker
        previous = out_md.read_text()
        if ANALYSIS_MARKER in previous:
            text = text.rstrip("\n") + "\n\n" + previous[previous.index(ANALYSIS_MARKER):]
    out_md.write_text(text)
    SCRATCH.mkdir(exist_ok=True)
    raw = SCRATCH / "results.json"
    serial = dict(results, workloads={
        key: {t: {k: v for k, v in run.items() if k != "agg"} for t, run in runs.items()}
        for key, runs in results["workloads"].items()
    })  # "agg" has tuple keys and is recomputable from the samples
    raw.write_text(json.dumps(serial, indent=1, default=str))
    contended = [
        f"{k} {t}t {label(s['system'], s['dtype'])} rep {s['rep'] + 1}"
        for k, runs in results["workloads"].items() for t, run in runs.items()
        for s in run["samples"] if s["contended"]
    ]
    if contended:
        _log(f"WARNING: {len(contended)} timed region(s) stayed contended after a rerun "
             f"(other processes used the CPU): {', '.join(contended[:8])}"
             + (" ..." if len(contended) > 8 else "") + ". Rerun on a quiet machine.")
    _log(f"wrote {out_md} and {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
