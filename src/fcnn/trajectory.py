"""The lab's optimizer experiment, taken further: several optimizers' paths on one figure.

The lab minimises its bowl ``(x-3)^2 + (y-5)^2`` from (0, 0) with SGD and draws
the path over the contour lines. Here any of fcnn's optimizers run side by side
(:func:`optimizer_paths`) on that bowl and on two surfaces where they really
differ: an elongated bowl (a valley 4.5 times longer than it is wide, where
plain SGD zig-zags across and crawls along) and Rosenbrock's banana-shaped
valley. :func:`plot_optimizer_paths` draws them with equal axis scales, so a
round bowl's contours are round; :func:`final_distances` measures how far each
ended from the minimum; :func:`run_trajectory` does all three for
``fcnn trajectory``.

Every step is the lab's cell: a :class:`fcnn.Parameter` of shape (2,) gets
``grad`` set from the analytic gradient, then ``optimizer.step()`` and
``optimizer.zero_grad()``. The optimizers are fcnn's own, so a path is
PyTorch's path (``torch.optim`` on the same gradients) to rounding.

Default learning rates, per surface (``lr=None``), picked by hand from a sweep
of the 1-2-5 grid 1e-4 ... 5 (final distance after the default steps): a rate
at which the optimizer converges steadily, not the sweep's best, which on these
toy surfaces is often a lucky degenerate step (SGD at 0.5 lands on the bowl's
minimum in one step). Adagrad and RMSprop rescale each coordinate, so they get
the same rates on both bowls. RMSprop's steps are about ``lr`` long whatever
the gradient (its first one ``10 lr``), so in Rosenbrock's narrow valley a rate
above about 1e-3 makes it bounce from wall to wall chaotically: the path then
hangs on the last bit of rounding (fcnn's and torch.optim's agree to 1e-16 for
some hundred steps, then part), so the table takes 1e-3, slower but
reproducible. AdamW decays the weights towards (0, 0), so its path settles
short of a minimum away from the origin.

============  ====  =========  ==========
optimizer     bowl  elongated  rosenbrock
============  ====  =========  ==========
sgd           0.1   0.4        0.001
momentum      0.1   0.05       0.001
nesterov      0.1   0.05       0.001
adam          0.5   0.5        0.05
adamw         0.5   0.5        0.05
rmsprop       0.1   0.1        0.001
adagrad       1     1          0.5
============  ====  =========  ==========

``sgd`` at 0.1 on the bowl for 50 steps from (0, 0) is the lab's run:
the first 50 points are :func:`fcnn.plots.optimizer_path`'s. ``momentum`` is
SGD with momentum 0.9, ``nesterov`` the same with Nesterov's correction; the
others are the classes of :data:`fcnn.registry.OPTIMIZERS` at PyTorch's defaults.

NumPy only at import; matplotlib is imported by the plotting function.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ._validation import as_float_array, number, positive_int
from .errors import ShapeError
from .parameter import Parameter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_LR",
    "FUNCTIONS",
    "MAX_STEPS",
    "OPTIMIZERS",
    "Surface",
    "distance_lines",
    "final_distances",
    "learning_rates",
    "optimizer_paths",
    "plot_optimizer_paths",
    "run_trajectory",
]

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- the surfaces


@dataclass(frozen=True)
class Surface:
    """A function of (x, y) to minimise, with what it takes to draw it.

    ``value(X, Y)`` works elementwise on arrays (a grid); ``gradient(w)`` takes a
    point of shape (2,) and returns df/dw of shape (2,).
    """

    name: str
    formula: str  # matplotlib mathtext, for the title
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    gradient: Callable[[np.ndarray], np.ndarray]
    minimum: tuple[float, float]
    start: tuple[float, float]
    steps: int
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    levels: tuple[float, ...]
    labelled: tuple[float, ...]  # the contour levels that get a number


def _bowl(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return (X - 3.0) ** 2 + (Y - 5.0) ** 2


def _bowl_gradient(w: np.ndarray) -> np.ndarray:
    # The lab's gradient, 2 * (w - target).
    return 2 * (w - np.array([3.0, 5.0]))


def _elongated(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return 0.1 * X**2 + 2.0 * Y**2


def _elongated_gradient(w: np.ndarray) -> np.ndarray:
    return np.array([0.2 * w[0], 4.0 * w[1]])


def _rosenbrock(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return (1.0 - X) ** 2 + 100.0 * (Y - X**2) ** 2


def _rosenbrock_gradient(w: np.ndarray) -> np.ndarray:
    x, y = w
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


# The lab's contour levels for its bowl.
_LAB_LEVELS = np.logspace(0, 3, 20)

#: The surfaces by name. ``bowl`` is the lab's (start (0, 0), 50 steps, its
#: contour levels); ``elongated`` is 0.1 x^2 + 2 y^2 from (-5, -2), the example
#: of Dive into Deep Learning's optimization chapter; ``rosenbrock`` starts at
#: Rosenbrock's own (-1.2, 1).
FUNCTIONS: dict[str, Surface] = {
    "bowl": Surface("bowl", r"$(x-3)^2 + (y-5)^2$", _bowl, _bowl_gradient, (3.0, 5.0),
                    (0.0, 0.0), 50, (-1.0, 5.0), (-1.0, 7.0),
                    tuple(_LAB_LEVELS.tolist()), tuple(_LAB_LEVELS[::2].tolist())),
    "elongated": Surface("elongated", r"$0.1\,x^2 + 2\,y^2$", _elongated, _elongated_gradient,
                         (0.0, 0.0), (-5.0, -2.0), 50, (-6.0, 2.0), (-3.0, 3.0),
                         (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20), (0.1, 1, 10)),
    "rosenbrock": Surface("rosenbrock", r"$(1-x)^2 + 100\,(y-x^2)^2$", _rosenbrock,
                          _rosenbrock_gradient, (1.0, 1.0), (-1.2, 1.0), 2000, (-1.6, 1.6),
                          (-0.6, 1.8), (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000), (1, 10, 100)),
}


# --------------------------------------------------------------------------- the optimizers

#: Optimizer names -> (class name in fcnn.registry.OPTIMIZERS, extra constructor arguments).
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
    "adam": ("adam", {}),
    "adamw": ("adamw", {}),
    "rmsprop": ("rmsprop", {}),
    "adagrad": ("adagrad", {}),
}

#: The most steps :func:`optimizer_paths` takes (16 MB of points per optimizer).
MAX_STEPS = 1_000_000

#: The default learning rate of each optimizer on each surface (the module's table).
DEFAULT_LR: dict[str, dict[str, float]] = {
    "bowl": {"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adam": 0.5, "adamw": 0.5,
             "rmsprop": 0.1, "adagrad": 1.0},
    "elongated": {"sgd": 0.4, "momentum": 0.05, "nesterov": 0.05, "adam": 0.5, "adamw": 0.5,
                  "rmsprop": 0.1, "adagrad": 1.0},
    "rosenbrock": {"sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "adam": 0.05, "adamw": 0.05,
                   "rmsprop": 1e-3, "adagrad": 0.5},
}


def _surface(function: Any, who: str) -> Surface:
    if isinstance(function, Surface):
        return function
    if not isinstance(function, str) or function not in FUNCTIONS:
        raise ValueError(f"{who}: unknown function {function!r}; choose one of "
                         f"{', '.join(FUNCTIONS)}")
    return FUNCTIONS[function]


def _names(optimizers: Any, who: str) -> list[str]:
    """A list of known optimizer names from a list or a comma-separated string."""
    if isinstance(optimizers, str):
        names = [name.strip() for name in optimizers.split(",")]
    elif isinstance(optimizers, Iterable):
        names = list(optimizers)
    else:
        raise TypeError(f"{who}: optimizers must be a list of names (or 'a,b,c'), got "
                        f"{type(optimizers).__name__}")
    if not names:
        raise ValueError(f"{who}: no optimizer given; choose from {', '.join(OPTIMIZERS)}")
    for name in names:
        if not isinstance(name, str) or name not in OPTIMIZERS:
            raise ValueError(f"{who}: unknown optimizer {name!r}; choose from "
                             f"{', '.join(OPTIMIZERS)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{who}: optimizer {', '.join(map(repr, repeated))} given twice; "
                         "each draws one path")
    return names


def _learning_rates(names: list[str], surface: Surface, lr: Any, who: str) -> dict[str, float]:
    table = DEFAULT_LR.get(surface.name, {})
    if lr is None or isinstance(lr, Mapping):
        given = dict(lr or {})
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"{who}: lr given for {', '.join(map(repr, unknown))}, which is not "
                             f"among the optimizers {', '.join(names)}")
        out = {}
        for name in names:
            if name in given:
                out[name] = number(given[name], f"lr[{name!r}]", who, low=0, low_open=True)
            elif name in table:
                out[name] = table[name]
            else:
                raise ValueError(f"{who}: no default lr for {name!r} on {surface.name!r}; give lr=")
        return out
    value = number(lr, "lr", who, low=0, low_open=True)
    return dict.fromkeys(names, value)


def learning_rates(optimizers: Any, function: str = "bowl", lr: Any = None) -> dict[str, float]:
    """The learning rate each optimizer runs at: ``lr`` (a float for all, or a dict
    name -> float) or, where not given, the module table's default for ``function``."""
    who = "learning_rates"
    surface = _surface(function, who)
    return _learning_rates(_names(optimizers, who), surface, lr, who)


def _make_optimizer(name: str, param: Parameter, lr: float) -> Any:
    from . import optim  # noqa: F401  (registers the optimizer classes)
    from .registry import OPTIMIZERS as REGISTERED

    kind, extra = OPTIMIZERS[name]
    return REGISTERED[kind]([param], lr=lr, **extra)


def optimizer_paths(
    optimizers: Sequence[str] | str,
    function: str = "bowl",
    *,
    start: Sequence[float] | None = None,
    steps: int | None = None,
    lr: float | Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Run each optimizer on ``function`` from ``start``; the points each visits.

    Parameters
    ----------
    optimizers : list of str, or one comma-separated str
        Names from :data:`OPTIMIZERS` (``sgd``, ``momentum``, ``nesterov``,
        ``adam``, ``adamw``, ``rmsprop``, ``adagrad``), each at most once.
    function : {"bowl", "elongated", "rosenbrock"}, default "bowl"
        The surface (see :data:`FUNCTIONS`).
    start : pair of float, optional
        The first point; default the surface's ((0, 0) for the lab's bowl).
    steps : int, optional
        Optimizer steps; default the surface's (50 for the bowl, as the lab).
    lr : float, dict or None
        One learning rate for all, a dict name -> lr, or None for the table's
        per-optimizer defaults (in the module docstring; the missing names of a
        dict also get them).

    Returns
    -------
    dict str -> ndarray of shape (steps + 1, 2), float64
        In the order given. Row k is the point after k steps (row 0 is
        ``start``). A diverging optimizer's points grow to inf and NaN, without
        a warning: that is the result, for the caller to report.
    """
    who = "optimizer_paths"
    names = _names(optimizers, who)
    surface = _surface(function, who)
    rates = _learning_rates(names, surface, lr, who)
    n_steps = surface.steps if steps is None else positive_int(steps, "steps", who)
    if n_steps > MAX_STEPS:
        raise ValueError(f"{who}: steps must be at most {MAX_STEPS} (a figure shows no more), "
                         f"got {n_steps}")
    first = _point(surface.start if start is None else start, "start", who)
    paths = {}
    for name in names:
        param = Parameter(first.copy())
        optimizer = _make_optimizer(name, param, rates[name])
        path = np.empty((n_steps + 1, 2), dtype=np.float64)
        path[0] = param.weights
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(1, n_steps + 1):
                param.grad = surface.gradient(param.weights)
                optimizer.step()
                optimizer.zero_grad()
                path[k] = param.weights
        paths[name] = path
    return paths


def final_distances(paths: Mapping[str, Any], function: str = "bowl") -> dict[str, float]:
    """Euclidean distance from each path's last point to the surface's minimum.

    Parameters
    ----------
    paths : dict str -> array_like of shape (K, 2)
        E.g. from :func:`optimizer_paths`.
    function : str, default "bowl"

    Returns
    -------
    dict str -> float
        ``inf`` for a path whose last point is not finite (it diverged).
    """
    who = "final_distances"
    surface = _surface(function, who)
    minimum = np.array(surface.minimum)
    out = {}
    for name, path in _checked_paths(paths, who).items():
        last = path[-1]
        out[name] = float(np.hypot(*(last - minimum))) if np.isfinite(last).all() else math.inf
    return out


def distance_lines(distances: Mapping[str, float], function: str = "bowl",
                   steps: int | None = None, lr: Any = None,
                   start: Sequence[float] | None = None) -> list[str]:
    """One line per optimizer for a report, e.g.
    ``"adam (lr 0.5): final distance to the minimum 7.9e-02 after 50 steps"``.

    ``steps``, ``lr`` and ``start`` are those given to :func:`optimizer_paths`
    (None: the defaults). A path that ends farther from the minimum than it
    started gets a note that its learning rate is too large; one that diverged
    to inf or NaN says so.
    """
    who = "distance_lines"
    surface = _surface(function, who)
    names = _names(list(distances), who)
    rates = _learning_rates(names, surface, lr, who)
    n_steps = surface.steps if steps is None else positive_int(steps, "steps", who)
    first = _point(surface.start if start is None else start, "start", who)
    initial = float(np.hypot(*(first - np.array(surface.minimum))))
    lines = []
    for name in names:
        distance = float(distances[name])
        head = f"{name} (lr {rates[name]:g}): "
        if not math.isfinite(distance):
            lines.append(f"{head}diverged within {n_steps} steps; try a smaller learning rate")
            continue
        line = f"{head}final distance to the minimum {distance:.1e} after {n_steps} steps"
        if distance > initial:
            line += f" (it started {initial:.2g} away: the learning rate is too large)"
        lines.append(line)
    return lines


# --------------------------------------------------------------------------- the figure

# The view widens to hold points up to this many view-widths beyond its edges;
# farther ones (a diverging path) run off the figure, and those beyond
# _MAX_SPANS view-widths, or not finite, are not drawn at all (drawing them
# would overflow matplotlib's arithmetic).
_MAX_WIDENING = 1.0
_MAX_SPANS = 1e3
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink",
           "tab:gray", "tab:olive", "tab:cyan")


def plot_optimizer_paths(
    paths: Mapping[str, Any],
    function: str = "bowl",
    path: PathLike | None = None,
    *,
    lr: Any = None,
    title: str | None = None,
) -> Figure:
    """Each optimizer's path over the contour lines of ``function``.

    Equal scales on both axes (a round bowl's contours are circles); the
    surface's view, widened to hold every path; log-spaced contour levels; the
    start as a black dot, the minimum as a black star, where each path stopped
    as a large marker of its own; the legend, with
    each path's final distance to the minimum, outside the plot area.

    Parameters
    ----------
    paths : dict str -> array_like of shape (K, 2)
        E.g. from :func:`optimizer_paths`. Non-finite points (a diverged path)
        and points far outside the view are left out; the legend says
        "diverged".
    function : str, default "bowl"
    path : str or path, optional
        Where to save the figure (PNG unless the suffix names another format
        matplotlib writes); missing parent folders are created.
    lr : float, dict or None
        The learning rates the paths ran at, for the legend (as given to
        :func:`optimizer_paths`; None: the defaults).
    title : str, optional
        Default names the surface and the number of steps.

    Returns
    -------
    matplotlib.figure.Figure
    """
    who = "plot_optimizer_paths"
    surface = _surface(function, who)
    checked = _checked_paths(paths, who)
    names = list(checked)
    if any(name in OPTIMIZERS for name in names):
        known = [name for name in names if name in OPTIMIZERS]
        rates: dict[str, float] = _learning_rates(known, surface, lr, who)
    else:
        rates = {}
    distances = final_distances(checked, surface)  # type: ignore[arg-type]
    drawn = {name: _drawable(points, surface) for name, points in checked.items()}
    (x_low, x_high), (y_low, y_high) = _view(surface, [*drawn.values()])

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 5.5
    width = height * (x_high - x_low) / (y_high - y_low) + 3.2  # room for the legend
    fig = Figure(figsize=(min(max(width, 6.0), 12.0), height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, 300), np.linspace(y_low, y_high, 300))
    contours = ax.contour(grid_x, grid_y, surface.value(grid_x, grid_y), levels=surface.levels,
                          cmap="viridis", linewidths=0.8, alpha=0.8)
    ax.clabel(contours, [level for level in contours.levels if level in surface.labelled],
              inline=True, fontsize=7, fmt=_level_label)
    for i, (name, points) in enumerate(drawn.items()):
        k = len(checked[name]) - 1
        # Paths often overlap (on a round bowl most run straight to the minimum):
        # each is drawn thinner than the one before, on top of it, with its own marker.
        style = {"color": _COLORS[i % len(_COLORS)], "marker": _MARKERS[i % len(_MARKERS)],
                 "linewidth": max(1.0, 3.4 - 0.4 * i), "markersize": max(3.0, 6.5 - 0.6 * i),
                 "markevery": max(1, k // 25), "zorder": 2 + 0.1 * i}
        label = name if name not in rates else f"{name}, lr {rates[name]:g}"
        distance = distances[name]
        label += f"\n  {distance:.1e} from the minimum" if math.isfinite(distance) else "\n  diverged"
        ax.plot(points[:, 0], points[:, 1], label=label, **style)
        finite = points[np.isfinite(points).all(axis=1)]
        if len(finite) and np.isfinite(checked[name][-1]).all():
            # Where it stopped, larger: paths that share a valley part there.
            ax.plot(finite[-1:, 0], finite[-1:, 1], linestyle="none", marker=style["marker"],
                    color=style["color"], markersize=10, markeredgecolor="black",
                    zorder=5 + 0.1 * i)
    start = checked[names[0]][0]
    # Above every path and end marker, white-edged to stand out on them.
    ax.plot([start[0]], [start[1]], "o", color="black", markersize=7, markeredgecolor="white",
            label="start", zorder=8)
    ax.plot([surface.minimum[0]], [surface.minimum[1]], "*", color="black", markersize=14,
            markeredgecolor="white", label="minimum", zorder=8)
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    n_steps = max(len(points) - 1 for points in checked.values())
    ax.set_title(title if title is not None else f"{n_steps} steps on {surface.formula}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9,
              frameon=False)
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, format=target.suffix[1:].lower() or "png", dpi=100)
    return fig


def run_trajectory(
    optimizers: Sequence[str] | str = ("sgd",),
    function: str = "bowl",
    out: PathLike = "trajectory.png",
    steps: int | None = None,
    lr: float | Mapping[str, float] | None = None,
) -> tuple[Path, dict[str, float]]:
    """``fcnn trajectory``: run the optimizers, write the figure, measure the distances.

    With the defaults this is the lab's experiment: 50 SGD steps at lr 0.1 from
    (0, 0) on ``(x-3)^2 + (y-5)^2``.

    Returns
    -------
    (Path, dict str -> float)
        The image written and each optimizer's final distance to the minimum
        (``inf`` if it diverged); :func:`distance_lines` words them.

    Raises
    ------
    ValueError
        An unknown name, a bad ``steps`` or ``lr``, or every path diverged to
        inf/NaN (nothing is written then).
    IsADirectoryError
        ``out`` is a folder.
    """
    who = "run_trajectory"
    target = Path(out)
    if target.is_dir():
        raise IsADirectoryError(f"{who}: {str(target)!r} is a directory; give a file name such "
                                "as trajectory.png")
    paths = optimizer_paths(optimizers, function, steps=steps, lr=lr)
    distances = final_distances(paths, function)
    if not any(math.isfinite(d) for d in distances.values()):
        rates = _learning_rates(list(paths), _surface(function, who), lr, who)
        raise ValueError(f"{who}: every path diverged ("
                         + ", ".join(f"{name} at lr {rates[name]:g}" for name in paths)
                         + "); nothing to draw: try a smaller learning rate")
    plot_optimizer_paths(paths, function, target, lr=lr)
    return target, distances


# --------------------------------------------------------------------------- helpers


def _level_label(level: float) -> str:
    return format(float(f"{level:.2g}"), "g")  # 18.3298 -> "18", 100.0 -> "100"


def _point(value: Any, name: str, who: str) -> np.ndarray:
    arr = as_float_array(value, f"{who} ({name})", np.dtype(np.float64)).reshape(-1)
    if arr.shape != (2,):
        raise ShapeError(f"{who}: {name} must be a pair (x, y), got shape {np.shape(value)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{who}: {name} must be finite, got {value!r}")
    return arr


def _checked_paths(paths: Any, who: str) -> dict[str, np.ndarray]:
    if not isinstance(paths, Mapping) or not paths:
        raise TypeError(f"{who}: paths must be a non-empty dict name -> array of shape (K, 2), "
                        f"got {type(paths).__name__}" + (" (empty)" if isinstance(paths, Mapping) else ""))
    out = {}
    for name, points in paths.items():
        arr = as_float_array(points, f"{who} (paths[{name!r}])", np.dtype(np.float64))
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ShapeError(f"{who}: paths[{name!r}] must be an array of shape (K, 2) with "
                             f"K >= 1, got shape {np.shape(points)}")
        out[str(name)] = arr
    return out


def _drawable(points: np.ndarray, surface: Surface) -> np.ndarray:
    """The points, with those not drawable (non-finite, very far out) as NaN."""
    inside = _within(points, surface, _MAX_SPANS)
    out = points.copy()
    out[~inside] = np.nan
    return out


def _within(points: np.ndarray, surface: Surface, spans: float) -> np.ndarray:
    """(K,) bool: the points within ``spans`` view-widths of the surface's view."""
    (x_low, x_high), (y_low, y_high) = surface.xlim, surface.ylim
    dx, dy = spans * (x_high - x_low), spans * (y_high - y_low)
    with np.errstate(invalid="ignore"):
        return ((points[:, 0] >= x_low - dx) & (points[:, 0] <= x_high + dx)
                & (points[:, 1] >= y_low - dy) & (points[:, 1] <= y_high + dy))


def _view(surface: Surface, drawn: list[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The surface's view, widened (never narrowed) to hold the points within
    ``_MAX_WIDENING`` view-widths of it."""
    points = np.concatenate(drawn)
    points = points[_within(points, surface, _MAX_WIDENING)]
    limits = []
    for axis, (low, high) in enumerate((surface.xlim, surface.ylim)):
        if points.size:
            v_low, v_high = float(points[:, axis].min()), float(points[:, axis].max())
            margin = 0.05 * (high - low)
            low, high = min(low, v_low - margin), max(high, v_high + margin)
        limits.append((low, high))
    return limits[0], limits[1]

