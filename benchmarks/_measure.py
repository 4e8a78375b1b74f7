"""Timing with a contention meter, memory readings and the machine description.

Contention: during a timed region, the CPU time the whole machine spent busy
(``/proc/stat``) minus the CPU time of this process (``getrusage``) is what
*other* processes used. On a 2-core machine any of it slows 2-thread BLAS a
lot (see BENCHMARKING.md), so such regions are flagged and rerun.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CONTENDED_CORES",
    "Sample",
    "machine_info",
    "measure",
    "other_cpu_over",
    "peak_rss_mb",
    "reset_peak_rss",
    "rss_mb",
    "timed_with_rerun",
    "vm_hwm_mb",
]

#: A region counts as contended when other processes used more than this
#: fraction of one core during it (and at least _MIN_OTHER_S seconds of CPU,
#: since /proc/stat is sampled at clock ticks and short regions read noisy).
CONTENDED_CORES = 0.10
_MIN_OTHER_S = 0.05
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Sample:
    """One timed region: wall seconds and the CPU other processes used meanwhile."""

    wall: float
    other_cpu_s: float
    own_cpu_s: float
    contended: bool = False
    rerun: bool = False  # True when this is the second try of a contended region

    @property
    def other_cores(self) -> float:
        return self.other_cpu_s / self.wall if self.wall > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["other_cores"] = self.other_cores
        return d


def _machine_busy_s() -> float | None:
    """Seconds of CPU the whole machine spent busy since boot, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal [guest guest_nice]; guest
    # time is already inside user, and idle/iowait are not busy.
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _own_cpu_s(children: bool = False) -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    total = r.ru_utime + r.ru_stime
    if children:  # finished child processes count as our own work
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += c.ru_utime + c.ru_stime
    return total


def measure(fn: Callable[[], Any], children: bool = False) -> Sample:
    """Run ``fn()`` once and return its wall time and the contention meanwhile.

    With ``children=True`` the CPU time of child processes that ``fn`` waited
    for counts as this process's own, not as contention.
    """
    busy0, own0 = _machine_busy_s(), _own_cpu_s(children)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    busy1, own1 = _machine_busy_s(), _own_cpu_s(children)
    own = own1 - own0
    other = 0.0 if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) - own)
    sample = Sample(wall=wall, other_cpu_s=other, own_cpu_s=own)
    sample.contended = other > _MIN_OTHER_S and sample.other_cores > CONTENDED_CORES
    return sample


def timed_with_rerun(make: Callable[[], Any], pause: float = 0.25) -> tuple[Sample, Any]:
    """Time ``make().run()``; if it was contended, rerun once on a fresh trial.

    Returns the less contended of the two samples (``rerun=True`` when that is
    the second) and its trial. ``pause`` seconds of sleep come first, so that
    the spinning worker threads of whatever ran before (OpenBLAS, OpenMP) have
    gone to sleep and do not compete with this region for the cores.
    """
    time.sleep(pause)
    trial = make()
    sample = measure(trial.run)
    if not sample.contended:
        return sample, trial
    time.sleep(pause)
    trial2 = make()
    sample2 = measure(trial2.run)
    sample2.rerun = True
    if sample2.other_cores <= sample.other_cores:
        return sample2, trial2
    sample.rerun = True  # the first try is kept, but a rerun happened
    return sample, trial


def other_cpu_over(seconds: float) -> float | None:
    """Cores' worth of CPU other processes used over the next ``seconds`` (idle wait)."""
    busy0, own0 = _machine_busy_s(), _own_cpu_s()
    time.sleep(seconds)
    busy1, own1 = _machine_busy_s(), _own_cpu_s()
    if busy0 is None or busy1 is None:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds


def peak_rss_mb() -> float:
    """The process's peak resident set since it started (``ru_maxrss``), in MB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _status_kb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    """Current resident set (VmRSS), in MB."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def vm_hwm_mb() -> float | None:
    """Peak resident set (VmHWM) since start or since the last ``reset_peak_rss``, in MB."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def machine_info() -> dict[str, Any]:
    """CPU, memory, OS, Python and library versions, and the BLAS/OpenMP pools."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
        for line in cpuinfo.splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        flags = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
        info["simd"] = " ".join(
            f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f" {f}" in flags
        )
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    import numpy as np

    info["numpy"] = np.__version__
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        info["sklearn"] = None
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkl"] = bool(torch.backends.mkl.is_available())
        info["torch_parallel"] = " / ".join(
            line.strip()
            for line in torch.__config__.parallel_info().splitlines()
            if line.startswith(("ATen parallel backend", "at::get_num_threads", "OpenMP", "MKL"))
        )
    except ImportError:
        info["torch"] = None
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                                   "architecture", "threading_layer", "filepath")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    import fcnn

    info["fcnn"] = getattr(fcnn, "__version__", "?")
    return info
