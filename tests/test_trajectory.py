"""fcnn.trajectory: several optimizers' paths on the bowl, the elongated bowl and Rosenbrock.

Every path is compared LIVE with torch.optim's on the same function (a float64
torch parameter whose grad is set from the same analytic gradient, as the
lab's cell does), and the analytic gradients with torch's autograd.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fcnn import plots, trajectory
from fcnn.errors import ShapeError
from fcnn.trajectory import (
    DEFAULT_LR,
    FUNCTIONS,
    OPTIMIZERS,
    distance_lines,
    final_distances,
    optimizer_paths,
    plot_optimizer_paths,
    run_trajectory,
)

torch = pytest.importorskip("torch")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")


def torch_optimizer(name: str, params: list, lr: float):
    """The torch.optim counterpart of each name, written here independently of the module."""
    make = {
        "sgd": lambda: torch.optim.SGD(params, lr=lr),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9),
        "nesterov": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
        "adam": lambda: torch.optim.Adam(params, lr=lr),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr),
        "adagrad": lambda: torch.optim.Adagrad(params, lr=lr),
    }
    return make[name]()


def torch_path(name: str, function: str, start, steps: int, lr: float) -> np.ndarray:
    gradient = FUNCTIONS[function].gradient
    w = torch.tensor(np.asarray(start, dtype=np.float64), dtype=torch.float64, requires_grad=True)
    optimizer = torch_optimizer(name, [w], lr)
    points = [w.detach().numpy().copy()]
    for _ in range(steps):
        w.grad = torch.from_numpy(gradient(w.detach().numpy().copy()))
        optimizer.step()
        optimizer.zero_grad()
        points.append(w.detach().numpy().copy())
    return np.array(points)


def torch_value(function: str, x, y):
    """Each surface's formula, written in torch for autograd."""
    return {
        "bowl": lambda: (x - 3) ** 2 + (y - 5) ** 2,
        "elongated": lambda: 0.1 * x**2 + 2 * y**2,
        "rosenbrock": lambda: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
    }[function]()


# --------------------------------------------------------------------------- the numbers


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_every_path_is_torch_optims_path(function):
    surface = FUNCTIONS[function]
    paths = optimizer_paths(list(ALL), function)
    assert list(paths) == list(ALL)
    for name, path in paths.items():
        assert path.shape == (surface.steps + 1, 2) and path.dtype == np.float64
        expected = torch_path(name, function, surface.start, surface.steps, DEFAULT_LR[function][name])
        np.testing.assert_allclose(path, expected, rtol=0, atol=1e-10, err_msg=f"{name} on {function}")


def test_given_start_steps_and_learning_rates_match_torch():
    lrs = {"adam": 0.02, "nesterov": 0.0015}
    paths = optimizer_paths("adam,nesterov,rmsprop", "rosenbrock", start=(0.5, -0.5), steps=300,
                            lr=lrs)
    for name, path in paths.items():
        lr = lrs.get(name, DEFAULT_LR["rosenbrock"][name])
        expected = torch_path(name, "rosenbrock", (0.5, -0.5), 300, lr)
        np.testing.assert_allclose(path, expected, rtol=0, atol=1e-10, err_msg=name)
    one = optimizer_paths(["sgd", "adagrad"], "elongated", steps=20, lr=0.3)
    for name, path in one.items():
        np.testing.assert_allclose(path, torch_path(name, "elongated", (-5, -2), 20, 0.3),
                                   rtol=0, atol=1e-10)


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_gradients_and_values_are_torchs_autograd(function, rng):
    surface = FUNCTIONS[function]
    for point in rng.uniform(-2.5, 2.5, size=(20, 2)):
        w = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        value = torch_value(function, w[0], w[1])
        value.backward()
        np.testing.assert_allclose(surface.gradient(point), w.grad.numpy(), rtol=1e-13, atol=1e-12)
        assert surface.value(np.array(point[0]), np.array(point[1])) == pytest.approx(
            value.item(), rel=1e-14, abs=1e-14)
    assert surface.value(*map(np.array, surface.minimum)) == 0
    np.testing.assert_array_equal(surface.gradient(np.array(surface.minimum)), [0.0, 0.0])


def test_the_labs_run_is_plots_optimizer_path():
    # fcnn trajectory with no flags: SGD, lr 0.1, 50 steps from (0, 0) on the lab's bowl.
    path = optimizer_paths(["sgd"])["sgd"]
    lab = plots.optimizer_path()
    assert path.shape == (51, 2) and lab.shape == (50, 2)
    np.testing.assert_array_equal(path[:50], lab)
    k = np.arange(51)[:, None]
    np.testing.assert_allclose(path, (1 - 0.8**k) * [3.0, 5.0], rtol=1e-12, atol=1e-15)
    for steps, lr in ((10, 0.3), (80, 0.05)):
        np.testing.assert_array_equal(optimizer_paths("sgd", steps=steps, lr=lr)["sgd"][:steps],
                                      plots.optimizer_path(steps=steps, lr=lr))


def test_final_distances():
    paths = {"a": [[0.0, 0.0], [0.0, 1.0]], "b": [[9.0, 9.0]], "c": [[0, 0], [np.inf, 1]],
             "d": [[0, 0], [np.nan, np.nan]]}
    assert final_distances(paths) == {"a": 5.0, "b": math.dist((9, 9), (3, 5)),
                                      "c": math.inf, "d": math.inf}
    assert final_distances({"r": [[1.0, 1.0]]}, "rosenbrock") == {"r": 0.0}
    assert final_distances({"e": np.array([[3.0, -4.0]])}, "elongated") == {"e": 5.0}
    computed = optimizer_paths(list(ALL), "rosenbrock", steps=100)
    distances = final_distances(computed, "rosenbrock")
    for name, path in computed.items():
        assert distances[name] == pytest.approx(math.dist(path[-1], (1, 1)), rel=1e-15)


def test_distance_lines():
    distances = {"adam": 1.2e-3, "sgd": math.inf, "momentum": 9.0}
    lines = distance_lines(distances, "bowl", steps=100)
    assert lines[0] == "adam (lr 0.5): final distance to the minimum 1.2e-03 after 100 steps"
    assert lines[1] == "sgd (lr 0.1): diverged within 100 steps; try a smaller learning rate"
    assert lines[2].startswith("momentum (lr 0.1): final distance to the minimum 9.0e+00 after 100 ")
    assert "started 5.8 away: the learning rate is too large" in lines[2]
    assert distance_lines({"sgd": 0.5}, "rosenbrock", lr=0.002) == [
        "sgd (lr 0.002): final distance to the minimum 5.0e-01 after 2000 steps"]


# --------------------------------------------------------------------------- the figure


def pixels_per_unit(ax) -> tuple[float, float]:
    (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
    return x1 - x0, y1 - y0


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_figure_equal_scales_legend_outside_marks(function, tmp_path):
    surface = FUNCTIONS[function]
    paths = optimizer_paths(["sgd", "momentum", "adam"], function, steps=60)
    out = tmp_path / "deep" / f"{function}.png"
    fig = plot_optimizer_paths(paths, function, out)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    import matplotlib.image
    from matplotlib.contour import ContourSet

    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] >= 400 and image.shape[1] >= 600
    assert image[..., :3].std() > 0.05  # something is drawn

    (ax,) = fig.axes
    assert ax.get_aspect() == 1.0
    fig.canvas.draw()
    x_scale, y_scale = pixels_per_unit(ax)
    assert x_scale == pytest.approx(y_scale, rel=1e-9)  # a circle of the bowl is drawn round
    renderer = fig.canvas.get_renderer()
    legend, box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.x0 >= box.x1  # off the plot area (and its contour labels)
    assert legend.x1 <= fig.bbox.x1 + 1  # and within the image
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    distances = final_distances(paths, function)
    assert legend_texts[0] == (f"sgd, lr {DEFAULT_LR[function]['sgd']:g}\n"
                               f"  {distances['sgd']:.1e} from the minimum")
    assert legend_texts[-2:] == ["start", "minimum"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["start"].get_xydata(), [surface.start])
    np.testing.assert_array_equal(lines["minimum"].get_xydata(), [surface.minimum])
    np.testing.assert_array_equal(lines[legend_texts[2]].get_xydata(), paths["adam"])
    (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    levels = np.asarray(contours.levels)
    assert levels.min() > 0 and levels.max() / levels.min() >= 100  # log-spaced, several decades
    ratios = levels[1:] / levels[:-1]
    assert ratios.max() / ratios.min() < 1.3
    x_low, x_high = ax.get_xlim()
    y_low, y_high = ax.get_ylim()
    for path in paths.values():  # every point is in view
        assert x_low <= path[:, 0].min() and path[:, 0].max() <= x_high
        assert y_low <= path[:, 1].min() and path[:, 1].max() <= y_high


def test_a_diverged_path_is_drawn_without_warnings(tmp_path):
    paths = optimizer_paths(["sgd", "adam", "momentum"], lr=1e50)
    assert not np.isfinite(paths["sgd"][-1]).all()
    fig = plot_optimizer_paths(paths, "bowl", tmp_path / "d.png", lr=1e50)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[0] == "sgd, lr 1e+50\n  diverged"
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG_MAGIC
    # A finite but far-flung path widens the view at most one view-width each side.
    far = optimizer_paths(["sgd"], lr=1.5)
    ax = plot_optimizer_paths(far, "bowl").axes[0]
    assert ax.get_xlim()[1] - ax.get_xlim()[0] <= 3 * 6 + 1e-9


def test_run_trajectory_writes_the_figure_and_returns_distances(tmp_path):
    out, distances = run_trajectory(["sgd"], "bowl", tmp_path / "t.png")
    assert out == tmp_path / "t.png" and out.read_bytes()[:8] == PNG_MAGIC
    assert distances == {"sgd": math.dist(optimizer_paths("sgd")["sgd"][-1], (3, 5))}
    out, distances = run_trajectory("adam,rmsprop", "rosenbrock", tmp_path / "r.png", steps=50,
                                    lr=0.01)
    paths = optimizer_paths(["adam", "rmsprop"], "rosenbrock", steps=50, lr=0.01)
    assert distances == final_distances(paths, "rosenbrock")


def test_import_needs_no_matplotlib():
    code = "import sys, fcnn.trajectory; assert 'matplotlib' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: optimizer_paths(["lbfgs"]), ValueError,
         ("unknown optimizer 'lbfgs'", "sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad")),
        (lambda: optimizer_paths("sgd,,adam"), ValueError, ("unknown optimizer ''",)),
        (lambda: optimizer_paths([]), ValueError, ("no optimizer given", "sgd")),
        (lambda: optimizer_paths(42), TypeError, ("list of names", "int")),
        (lambda: optimizer_paths(["adam", "sgd", "adam"]), ValueError, ("'adam' given twice",)),
        (lambda: optimizer_paths(["sgd"], "himmelblau"), ValueError,
         ("unknown function 'himmelblau'", "bowl, elongated, rosenbrock")),
        (lambda: optimizer_paths(["sgd"], steps=0), ValueError, ("steps", "positive int", "0")),
        (lambda: optimizer_paths(["sgd"], steps=2.5), ValueError, ("steps", "2.5")),
        (lambda: optimizer_paths(["sgd"], steps=10**9), ValueError, ("at most 1000000", "1000000000")),
        (lambda: optimizer_paths(["sgd"], lr=-1), ValueError, ("lr", "(0, inf)", "-1")),
        (lambda: optimizer_paths(["sgd"], lr=float("nan")), ValueError, ("lr", "finite")),
        (lambda: optimizer_paths(["sgd"], lr="fast"), TypeError, ("lr", "number", "'fast'")),
        (lambda: optimizer_paths(["sgd"], lr={"adam": 0.1}), ValueError,
         ("lr given for 'adam'", "not among")),
        (lambda: optimizer_paths(["sgd"], start=(1, 2, 3)), ShapeError, ("start", "pair")),
        (lambda: optimizer_paths(["sgd"], start=(np.inf, 0)), ValueError, ("start", "finite")),
        (lambda: final_distances({"a": [1, 2]}), ShapeError, ("paths['a']", "(K, 2)", "(2,)")),
        (lambda: final_distances({}), TypeError, ("non-empty dict",)),
        (lambda: final_distances({"a": [["x", "y"]]}), TypeError, ("paths['a']", "numeric")),
        (lambda: final_distances({"a": [[0, 0]]}, "bowl2"), ValueError, ("unknown function", "bowl")),
        (lambda: plot_optimizer_paths([[0, 0]], "bowl"), TypeError, ("dict", "list")),
        (lambda: distance_lines({"lbfgs": 1.0}), ValueError, ("unknown optimizer 'lbfgs'",)),
    ],
)
def test_bad_input_is_refused_clearly(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_refused_runs_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        run_trajectory(["adam", "lbfgs"], "bowl", tmp_path / "t.png")
    with pytest.raises(ValueError, match="unknown function 'saddle'"):
        run_trajectory(["adam"], "saddle", tmp_path / "t.png")
    assert not (tmp_path / "t.png").exists()
    with pytest.raises(ValueError, match=r"every path diverged \(sgd at lr 1e\+50, momentum at "
                       r"lr 1e\+50\); nothing to draw: try a smaller learning rate"):
        run_trajectory(["sgd", "momentum"], "bowl", tmp_path / "t.png", lr=1e50)
    assert not (tmp_path / "t.png").exists()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        run_trajectory(["adam"], "bowl", tmp_path)


def test_tables_cover_every_pair():
    assert set(DEFAULT_LR) == set(FUNCTIONS)
    for rates in DEFAULT_LR.values():
        assert set(rates) == set(OPTIMIZERS) == set(ALL)
    assert trajectory.learning_rates("sgd,adam", "elongated", {"adam": 0.2}) == {"sgd": 0.4,
                                                                               "adam": 0.2}
    assert Path(trajectory.__file__).name == "trajectory.py"
