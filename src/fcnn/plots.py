"""Plots: the loss curve, the confusion matrix, regression plots and the lab's optimizer path.

Every function builds a :class:`matplotlib.figure.Figure` directly, without
pyplot, so it draws the same on a headless server, in a test and in a
notebook, and never opens a window or touches pyplot's current figure. Each
returns the figure and, given ``path=``, saves it (PNG unless the suffix names
another format matplotlib writes), creating missing parent directories.

matplotlib and scikit-learn are imported inside the functions, so importing
this module costs NumPy alone.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ._validation import as_float_array, check_labels
from .errors import NonFiniteError, ShapeError
from .optim import SGD, Optimizer
from .parameter import Parameter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "optimizer_path",
    "plot_confusion_matrix",
    "plot_loss",
    "plot_optimizer_path",
    "plot_predicted_vs_true",
    "plot_residuals",
]

PathLike = Union[str, "os.PathLike[str]"]

# Largest |coordinate| plot_optimizer_path draws: wider spans overflow the
# grid's arithmetic (and nothing is left to see of the bowl anyway).
_MAX_COORDINATE = 1e100
# Largest |loss| plot_loss draws (further out, matplotlib's autoscaling overflows).
_MAX_LOSS = 1e300


def plot_loss(
    train_loss: Sequence[float],
    val_loss: Sequence[float] | None = None,
    *,
    log_scale: bool | None = None,
    epochs: Sequence[float] | None = None,
    best_epoch: int | None = None,
    interrupted: bool = False,
    title: str = "Loss",
    path: PathLike | None = None,
    lr: Sequence[float] | None = None,
) -> Figure:
    """Loss per epoch: the training curve and, optionally, the validation curve
    (and, with ``lr``, the learning rate in a second panel below).

    Parameters
    ----------
    train_loss : sequence of float, length E
        Training loss after each epoch.
    val_loss : sequence of float, length E, optional
        Validation loss at the same epochs. NaN marks an epoch without one.
    log_scale : bool or None, default None
        Logarithmic y axis (non-positive values cannot be shown on it). ``None``
        chooses it when the positive values span more than two decades (a large
        first epoch would otherwise flatten the rest of a linear axis).
    epochs : sequence of float, length E, optional
        The x position of each value; default 1, 2, ..., E. The lab recorded
        the loss every 10th epoch: pass ``epochs=range(0, 2000, 10)``.
    best_epoch : int, optional
        The epoch whose weights were kept (early stopping): a dashed line and a dot.
    interrupted : bool, default False
        Training was stopped by Ctrl-C: the last epoch is marked so.
    title : str
    path : str or path, optional
        Where to save the figure.
    lr : sequence of float, length E, optional
        The learning rate of each epoch (``History.history["lr"]``): drawn in a
        second panel under the loss, sharing its epoch axis (log scale when it
        spans more than two decades).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        An empty curve, curves of different lengths, or a curve with no finite
        value at all. Isolated NaN/inf values (and any beyond ±1e300, which
        matplotlib cannot scale) are left out of the drawing
        (a gap in the line) with a ``UserWarning``; so are values <= 0 on a log
        scale.
    """
    who = "plot_loss"
    train = _curve(train_loss, "train_loss", who)
    curves = {"train": train}
    if val_loss is not None:
        val = _curve(val_loss, "val_loss", who)
        if val.shape != train.shape:
            raise ShapeError(
                f"{who}: val_loss has {val.size} values but train_loss has {train.size}; "
                "give one value per epoch for both (NaN where there is none)"
            )
        curves["validation"] = val
    if epochs is None:
        x = np.arange(1, train.size + 1, dtype=np.float64)
    else:
        x = _curve(epochs, "epochs", who)
        if x.shape != train.shape:
            raise ShapeError(
                f"{who}: epochs has {x.size} values but train_loss has {train.size}"
            )
        if not np.isfinite(x).all():
            raise NonFiniteError(f"{who}: epochs must be finite numbers")
    if log_scale is None:
        log_scale = _spans_decades(curves.values())
    for label, values in curves.items():
        curves[label] = _drawable(values, x, label, log_scale, who)
    rates = None
    if lr is not None:
        rates = _curve(lr, "lr", who)
        if rates.shape != train.shape:
            raise ShapeError(f"{who}: lr has {rates.size} values but train_loss has "
                             f"{train.size}; give the learning rate of each epoch")
        lr_log = _spans_decades([rates])
        rates = _drawable(rates, x, "lr", lr_log, who)

    if rates is None:
        fig = _figure(figsize=(6.4, 4.4))
        ax = fig.add_subplot()
    else:
        fig = _figure(figsize=(6.4, 5.6))
        ax, lr_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
        lr_ax.plot(x, rates, color="tab:green", marker="o" if rates.size == 1 else None)
        lr_ax.set_xlabel("Epoch")
        lr_ax.set_ylabel("Learning rate" + (" (log)" if lr_log else ""))
        if lr_log:
            lr_ax.set_yscale("log")
        lr_ax.grid(True, which="major", alpha=0.3)
    for label, values in curves.items():
        ax.plot(x, values, label=label, marker="o" if values.size == 1 else None)
    _mark_epochs(ax, x, curves, best_epoch, interrupted, who)
    if rates is None:
        ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss" + (" (log scale)" if log_scale else ""))
    ax.set_title(title)
    if log_scale:
        ax.set_yscale("log")
    if epochs is None:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return _finish(fig, path)


def _spans_decades(curves: Iterable[np.ndarray]) -> bool:
    with np.errstate(invalid="ignore"):
        values = np.concatenate([c[np.isfinite(c) & (c > 0) & (np.abs(c) <= _MAX_LOSS)]
                                 for c in curves])
    return bool(values.size >= 2 and values.max() > 100 * values.min())


def _mark_epochs(ax: Any, x: np.ndarray, curves: dict[str, np.ndarray], best_epoch: int | None,
                 interrupted: bool, who: str) -> None:
    if best_epoch is not None:
        if isinstance(best_epoch, bool) or not isinstance(best_epoch, (int, np.integer)):
            raise TypeError(f"{who}: best_epoch must be an int epoch, got {best_epoch!r}")
        if not 1 <= best_epoch <= x.size:
            raise ValueError(f"{who}: best_epoch {best_epoch} is outside the curve's 1..{x.size}")
        at = x[best_epoch - 1]
        ax.axvline(at, color="0.4", linestyle="--", linewidth=1,
                   label=f"best epoch {best_epoch:d} (weights kept)")
        watched = curves.get("validation", curves["train"])
        if np.isfinite(watched[best_epoch - 1]):
            ax.plot([at], [watched[best_epoch - 1]], "o", color="0.2")
    if interrupted:
        ax.axvline(x[-1], color="tab:red", linestyle=":", linewidth=1.5,
                   label=f"interrupted (Ctrl-C) after epoch {x[-1]:g}")


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[Any] | None = None,
    *,
    normalize: str | None = None,
    title: str = "Confusion matrix",
    cmap: str = "Blues",
    path: PathLike | None = None,
) -> Figure:
    """The confusion matrix of integer class codes, with class names on the axes.

    Rows are the true classes, columns the predicted ones, as in
    :func:`sklearn.metrics.confusion_matrix` called as ``(y_true, y_pred)``.
    (The lab calls ``confusion_matrix(y_pred, y_true)``, which transposes the
    matrix under axes labelled the other way round; fcnn uses the documented
    order.) Every class in ``class_names`` gets a row and a column, even one
    absent from both ``y_true`` and ``y_pred``.

    Parameters
    ----------
    y_true : array_like of int, shape (N,)
        True class codes in ``[0, C)``.
    y_pred : array_like of int, shape (N,)
        Predicted class codes in ``[0, C)``.
    class_names : sequence, length C, optional
        The name of each code (e.g. ``Dataset.classes``); default the codes
        ``0..C-1`` with ``C = max(y_true, y_pred) + 1``.
    normalize : {None, "true", "pred", "all"}
        Counts (None) or fractions over the true classes (rows), the predicted
        classes (columns) or all samples, as scikit-learn's ``normalize``.
    title : str
    cmap : str
        A matplotlib colormap name.
    path : str or path, optional
        Where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    who = "plot_confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"{who}: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}"
        )
    n_classes = None if class_names is None else len(class_names)
    if n_classes == 0:
        raise ValueError(f"{who}: class_names is empty")
    n_samples = np.shape(y_pred)[0] if np.ndim(y_pred) >= 1 else 0
    pred = check_labels(y_pred, n_samples, n_classes, who)
    if pred.size == 0:
        raise ValueError(f"{who}: y_pred is empty; there is nothing to count")
    true = check_labels(y_true, n_samples, n_classes, who)
    if n_classes is None:
        if min(true.min(), pred.min()) < 0:
            raise ValueError(f"{who}: class codes must be >= 0, got {min(true.min(), pred.min())}")
        n_classes = int(max(true.max(), pred.max())) + 1
        names = [str(code) for code in range(n_classes)]
    else:
        names = [str(name) for name in class_names]

    matrix = confusion_matrix(true, pred, labels=np.arange(n_classes), normalize=normalize)
    side = min(14.0, max(4.8, 0.55 * n_classes + 2.6))
    fig = _figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot()
    display = ConfusionMatrixDisplay(confusion_matrix=matrix, display_labels=names)
    rotation = 45 if max(len(name) for name in names) > 4 and n_classes > 2 else "horizontal"
    # Past ~30 classes numbers in cells are unreadable at any font: colours alone then.
    font = max(5.0, min(10.0, 200.0 / n_classes))
    display.plot(
        ax=ax,
        cmap=cmap,
        values_format=".2f" if normalize else "d",
        xticks_rotation=rotation,
        colorbar=True,
        include_values=n_classes <= 30,
        text_kw={"fontsize": font},
    )
    ax.tick_params(labelsize=max(5.0, min(10.0, 240.0 / n_classes)))
    if rotation != "horizontal":
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    ax.set_title(title)
    return _finish(fig, path)


def plot_predicted_vs_true(
    y_true: Any, y_pred: Any, *, title: str = "Predicted vs true",
    path: PathLike | None = None,
) -> Figure:
    """A regression's predictions against the true values, with the diagonal y = x.

    ``y_true`` and ``y_pred``: array_like of shape (N,), finite.
    """
    true, pred = _pair(y_true, y_pred, "plot_predicted_vs_true")
    fig = _figure(figsize=(5.4, 5.0))
    ax = fig.add_subplot()
    ax.scatter(true, pred, s=12, alpha=0.6, edgecolors="none")
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    ax.plot([low, high], [low, high], color="0.3", linestyle="--", linewidth=1,
            label="perfect prediction")
    ax.set_xlabel("True value")
    ax.set_ylabel("Predicted value")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    return _finish(fig, path)


def plot_residuals(
    y_true: Any, y_pred: Any, *, title: str = "Residuals", path: PathLike | None = None,
) -> Figure:
    """Residuals ``y_true - y_pred`` against the prediction, around the zero line.

    ``y_true`` and ``y_pred``: array_like of shape (N,), finite.
    """
    true, pred = _pair(y_true, y_pred, "plot_residuals")
    fig = _figure(figsize=(6.0, 4.2))
    ax = fig.add_subplot()
    ax.scatter(pred, true - pred, s=12, alpha=0.6, edgecolors="none")
    ax.axhline(0.0, color="0.3", linestyle="--", linewidth=1)
    ax.set_xlabel("Predicted value")
    ax.set_ylabel("Residual (true - predicted)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return _finish(fig, path)


def _pair(y_true: Any, y_pred: Any, who: str) -> tuple[np.ndarray, np.ndarray]:
    true = as_float_array(y_true, f"{who} (y_true)", np.dtype(np.float64)).reshape(-1)
    pred = as_float_array(y_pred, f"{who} (y_pred)", np.dtype(np.float64)).reshape(-1)
    if true.shape != pred.shape or true.size == 0:
        raise ShapeError(f"{who}: y_true and y_pred must be non-empty and of one length, got "
                         f"{np.shape(y_true)} and {np.shape(y_pred)}")
    if not (np.isfinite(true).all() and np.isfinite(pred).all()):
        raise NonFiniteError(f"{who}: y_true and y_pred must be finite")
    return true, pred


def optimizer_path(
    optimizer_factory: Callable[[list[Parameter]], Optimizer] | None = None,
    *,
    start: Sequence[float] = (0.0, 0.0),
    target: Sequence[float] = (3.0, 5.0),
    lr: float = 0.1,
    steps: int = 50,
) -> np.ndarray:
    """The lab's optimizer experiment: minimise ``(x-3)^2 + (y-5)^2`` from (0, 0).

    A :class:`fcnn.Parameter` of shape (1, 2) starts at ``start``; each step
    records the current point, sets ``grad = 2 * (w - target)``, calls
    ``optimizer.step()`` and ``optimizer.zero_grad()``, exactly as the lab's
    cell. With plain SGD the k-th point (0-based) is
    ``target + (1 - 2 lr)^k (start - target)``.

    Parameters
    ----------
    optimizer_factory : callable, optional
        ``optimizer_factory([param])`` returns the optimizer to run, e.g.
        ``lambda p: fcnn.Adam(p, lr=0.3)``. Default ``fcnn.SGD(params, lr=lr)``.
    start, target : pair of float
        The first point and the bowl's minimum.
    lr : float, default 0.1
        SGD's learning rate; unused when ``optimizer_factory`` is given.
    steps : int, default 50
        Number of optimizer steps.

    Returns
    -------
    ndarray of shape (steps, 2), float64
        The point before each step (the first row is ``start``). A diverging
        optimizer's points grow to inf and NaN, without a warning.
    """
    who = "optimizer_path"
    start_arr = _point(start, "start", who)
    target_arr = _point(target, "target", who)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{who}: steps must be a positive int, got {steps!r}")
    param = Parameter(start_arr.reshape(1, 2))
    if optimizer_factory is None:
        optimizer: Optimizer = SGD([param], lr=lr)
    else:
        optimizer = optimizer_factory([param])
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise TypeError(
                f"{who}: optimizer_factory must return an optimizer (with step and zero_grad), "
                f"got {type(optimizer).__name__}"
            )
    trajectory = np.empty((int(steps), 2), dtype=np.float64)
    goal = target_arr.reshape(1, 2)
    # A learning rate too large for the bowl sends the path to inf and NaN:
    # that is the result (the caller decides what to do with it), not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(int(steps)):
            trajectory[k] = param.weights[0]
            param.grad = 2 * (param.weights - goal)
            optimizer.step()
            optimizer.zero_grad()
    return trajectory


def plot_optimizer_path(
    trajectory: Any = None,
    *,
    target: Sequence[float] = (3.0, 5.0),
    title: str | None = None,
    path: PathLike | None = None,
) -> Figure:
    """An optimizer's path over the contour lines of ``(x-tx)^2 + (y-ty)^2``.

    The lab's figure: contours at ``np.logspace(0, 3, 20)`` on x in [-1, 5],
    y in [-1, 7] (widened to hold the whole path and target when needed),
    labelled inline; the path in red with markers; the target as an x.

    Parameters
    ----------
    trajectory : array_like of shape (K, 2), optional
        Points visited, e.g. from :func:`optimizer_path`; default
        ``optimizer_path(target=target)`` (50 SGD steps at lr 0.1 from (0, 0)).
        Finite, with every coordinate within ±1e100 (a ``ValueError`` otherwise).
    target : pair of float, default (3, 5)
        The minimum of the bowl.
    title : str, optional
        Default names the function.
    path : str or path, optional
        Where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    who = "plot_optimizer_path"
    goal = _point(target, "target", who)
    if trajectory is None:
        points = optimizer_path(target=goal)
    else:
        points = as_float_array(trajectory, who, np.dtype(np.float64))
        if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
            raise ShapeError(
                f"{who} expected a trajectory of shape (K, 2) with K >= 1, got shape "
                f"{points.shape}"
            )
        if not np.isfinite(points).all():
            raise NonFiniteError(
                f"{who}: the trajectory holds NaN or infinity (the optimizer diverged?); "
                "plot the finite part or lower the learning rate"
            )
        if np.abs(points).max() > _MAX_COORDINATE:
            raise ValueError(
                f"{who}: the trajectory reaches {float(np.abs(points).max()):.3g}, beyond the "
                f"{_MAX_COORDINATE:g} that can be drawn (the optimizer diverged?); plot the "
                "part before it diverged or lower the learning rate"
            )
    tx, ty = (float(v) for v in goal)
    # The lab's grid, widened (never narrowed) to contain every point drawn.
    x_low, x_high = _span(-1.0, 5.0, np.append(points[:, 0], tx))
    y_low, y_high = _span(-1.0, 7.0, np.append(points[:, 1], ty))
    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, 200), np.linspace(y_low, y_high, 200))
    # Clipped so that a far-flung (diverged) path cannot overflow the square;
    # the highest contour is 1e3, so heights above 2e8 draw the same.
    height = np.clip(grid_x - tx, -1e4, 1e4) ** 2 + np.clip(grid_y - ty, -1e4, 1e4) ** 2

    fig = _figure(figsize=(6, 6))
    ax = fig.add_subplot()
    contours = ax.contour(grid_x, grid_y, height, levels=np.logspace(0, 3, 20), cmap="viridis")
    ax.clabel(contours, inline=True, fontsize=8)
    ax.plot(points[:, 0], points[:, 1], marker="o", markersize=4, color="red", label="path")
    ax.scatter([tx], [ty], marker="x", s=80, color="black", zorder=3, label="minimum")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title is None:
        title = f"Optimizer path on $(x - {tx:g})^2 + (y - {ty:g})^2$"
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _finish(fig, path)


# --------------------------------------------------------------------------- helpers


def _figure(**kwargs: Any) -> Figure:
    _prefer_agg_when_headless()
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kwargs)


def _prefer_agg_when_headless() -> None:
    # Figures built here never need a GUI. scikit-learn's display imports
    # pyplot, though, and on a machine without a display a backend named in a
    # matplotlibrc could then fail; choose Agg only when nobody chose a
    # backend (MPLBACKEND unset, pyplot not yet imported) and there is no
    # display to draw on, so a notebook's or a desktop's backend is untouched.
    if "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND"):
        return
    if sys.platform.startswith(("linux", "freebsd")) and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        import matplotlib

        matplotlib.use("Agg")


def _finish(fig: Figure, path: PathLike | None) -> Figure:
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fmt = target.suffix[1:].lower() or "png"
        fig.savefig(target, format=fmt, dpi=100)
    return fig


def _curve(values: Any, name: str, who: str) -> np.ndarray:
    if isinstance(values, Iterable) and not isinstance(values, np.ndarray):
        values = list(values)
    arr = as_float_array(values, f"{who} ({name})", np.dtype(np.float64))
    if arr.ndim != 1:
        raise ShapeError(f"{who}: {name} must be one value per epoch, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{who}: {name} is empty; there is nothing to plot")
    return arr


def _drawable(
    values: np.ndarray, x: np.ndarray, label: str, log_scale: bool, who: str
) -> np.ndarray:
    """The curve with values that cannot be drawn replaced by NaN (a gap)."""
    # Beyond ~1e300 matplotlib's autoscaling overflows: such values are as
    # undrawable as inf.
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= _MAX_LOSS)
    if log_scale:
        bad |= ~(values > 0)
    if not bad.any():
        return values
    if bad.all():
        raise NonFiniteError(
            f"{who}: the {label} loss has no finite"
            + (" positive" if log_scale else "")
            + " value to plot"
        )
    # NaN alone in a validation curve means "not measured that epoch": no warning.
    expected = np.isnan(values) if label == "validation" else np.zeros_like(bad)
    surprising = bad & ~expected
    if surprising.any():
        first = int(np.argmax(surprising))
        warnings.warn(
            f"{who}: left {int(surprising.sum())} {label} value(s) out of the plot "
            f"(the first at epoch {x[first]:g}: {float(values[first])!r})"
            + ("; a log scale shows only positive values" if log_scale else ""),
            UserWarning,
            stacklevel=3,
        )
    cleaned = values.copy()
    cleaned[bad] = np.nan
    return cleaned


def _point(value: Any, name: str, who: str) -> np.ndarray:
    arr = as_float_array(value, f"{who} ({name})", np.dtype(np.float64)).reshape(-1)
    if arr.shape != (2,):
        raise ShapeError(f"{who}: {name} must be a pair (x, y), got {np.shape(value)}")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{who}: {name} must be finite, got {value!r}")
    return arr


def _span(low: float, high: float, values: np.ndarray) -> tuple[float, float]:
    v_low, v_high = float(values.min()), float(values.max())
    if low <= v_low and v_high <= high:
        return low, high
    # Scaled before subtracting, so that a span near the float64 maximum cannot overflow.
    margin = 0.05 * max(high, v_high) - 0.05 * min(low, v_low)
    return min(low, v_low - margin), max(high, v_high + margin)
