"""fcnn.plots: loss curve, confusion matrix, the lab's optimizer path (headless)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fcnn
from fcnn.errors import LabelError, NonFiniteError, ShapeError
from fcnn.plots import optimizer_path, plot_confusion_matrix, plot_loss, plot_optimizer_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


# --------------------------------------------------------------------------- optimizer path


def test_optimizer_path_matches_sgd_closed_form():
    trajectory = optimizer_path()
    assert trajectory.shape == (50, 2)
    np.testing.assert_array_equal(trajectory[0], [0.0, 0.0])
    np.testing.assert_allclose(trajectory[1], [0.6, 1.0], rtol=1e-15)
    # w_k = target + (1 - 2 lr)^k (start - target) with start at the origin
    k = np.arange(50)[:, None]
    expected = (1 - (1 - 2 * 0.1) ** k) * np.array([3.0, 5.0])
    np.testing.assert_allclose(trajectory, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(trajectory[-1] - [3.0, 5.0]).max() < 1e-3


def test_optimizer_path_other_start_target_and_lr():
    trajectory = optimizer_path(start=(1.0, -1.0), target=(-2.0, 4.0), lr=0.25, steps=4)
    # 1 - 2 lr = 0.5: each step halves the distance to the target
    np.testing.assert_allclose(
        trajectory, [[1.0, -1.0], [-0.5, 1.5], [-1.25, 2.75], [-1.625, 3.375]], rtol=1e-15
    )


def test_optimizer_path_with_another_optimizer():
    trajectory = optimizer_path(lambda params: fcnn.Adam(params, lr=0.3), steps=3)
    # Adam's first step moves each coordinate by lr against the gradient's sign
    np.testing.assert_allclose(trajectory[1], [0.3, 0.3], rtol=1e-7)
    momentum = optimizer_path(lambda params: fcnn.SGD(params, lr=0.1, momentum=0.9), steps=3)
    # v1 = g0, v2 = 0.9 g0 + g1 with g = 2 (w - target)
    g0 = 2 * (np.zeros(2) - [3.0, 5.0])
    w1 = -0.1 * g0
    g1 = 2 * (w1 - [3.0, 5.0])
    np.testing.assert_allclose(momentum[2], w1 - 0.1 * (0.9 * g0 + g1), rtol=1e-14)


def test_optimizer_path_errors():
    with pytest.raises(ValueError, match="steps must be a positive int"):
        optimizer_path(steps=0)
    with pytest.raises(ShapeError, match="start must be a pair"):
        optimizer_path(start=(0.0, 0.0, 0.0))
    with pytest.raises(TypeError, match="must return an optimizer"):
        optimizer_path(lambda params: None)


# --------------------------------------------------------------------------- loss curve


def test_plot_loss_saves_png_in_new_folder(tmp_path):
    target = tmp_path / "run" / "plots" / "loss.png"
    fig = plot_loss([1.0, 0.5, 0.25], [1.2, 0.7, 0.4], path=target)
    assert target.stat().st_size > 1000
    assert png_size(target) == (640, 440)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == "Loss"
    assert texts(ax.get_legend().get_texts()) == ["train", "validation"]
    train_line, val_line = ax.get_lines()
    np.testing.assert_array_equal(train_line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(train_line.get_ydata(), [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(val_line.get_ydata(), [1.2, 0.7, 0.4])


def test_plot_loss_log_scale_and_custom_epochs():
    fig = plot_loss(np.array([2.0, 1.0, 0.1]), log_scale=True, epochs=[0, 10, 20], title="NLL")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "NLL"
    assert len(ax.get_lines()) == 1
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 10, 20])


def test_plot_loss_non_finite_values_become_gaps_with_a_warning():
    with pytest.warns(UserWarning, match=r"left 1 train value\(s\) out.*epoch 2: inf"):
        fig = plot_loss([1.0, np.inf, 0.5])
    ydata = fig.axes[0].get_lines()[0].get_ydata()
    assert ydata[0] == 1.0 and np.isnan(ydata[1]) and ydata[2] == 0.5


def test_plot_loss_nan_in_validation_means_not_measured(recwarn):
    fig = plot_loss([1.0, 0.8, 0.6], [np.nan, 0.9, np.nan])
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    np.testing.assert_array_equal(fig.axes[0].get_lines()[1].get_ydata()[1], 0.9)


def test_plot_loss_log_scale_warns_on_non_positive_values():
    with pytest.warns(UserWarning, match="log scale shows only positive values"):
        plot_loss([1.0, 0.0, 0.5], log_scale=True)


def test_plot_loss_errors():
    with pytest.raises(ValueError, match="train_loss is empty"):
        plot_loss([])
    with pytest.raises(ShapeError, match="val_loss has 2 values but train_loss has 3"):
        plot_loss([1.0, 0.5, 0.2], [1.0, 0.5])
    with pytest.raises(ShapeError, match="one value per epoch"):
        plot_loss(np.ones((3, 2)))
    with pytest.raises(NonFiniteError, match="no finite value"):
        plot_loss([np.nan, np.nan])
    with pytest.raises(ShapeError, match="epochs has 2 values"):
        plot_loss([1.0, 0.5, 0.2], epochs=[1, 2])


# --------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_counts_true_rows_predicted_columns(tmp_path):
    names = ["setosa", "versicolor", "virginica"]
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 2, 2, 2, 2, 0]
    target = tmp_path / "cm.png"
    fig = plot_confusion_matrix(y_true, y_pred, names, path=target)
    assert target.stat().st_size > 1000 and target.read_bytes()[:8] == PNG_MAGIC
    ax = fig.axes[0]
    assert texts(ax.get_xticklabels()) == names
    assert texts(ax.get_yticklabels()) == names
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    # row = true class, column = predicted class, written row by row
    expected = [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert texts(ax.texts) == [str(v) for row in expected for v in row]
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)


def test_confusion_matrix_keeps_absent_classes():
    fig = plot_confusion_matrix([0, 0, 1], [0, 1, 1], ["a", "b", "c", "d"])
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (4, 4)
    assert texts(ax.get_xticklabels()) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(ax.images[0].get_array()[2:], 0)


def test_confusion_matrix_default_names_are_codes_and_normalize():
    fig = plot_confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), normalize="true")
    ax = fig.axes[0]
    assert texts(ax.get_xticklabels()) == ["0", "1"]
    assert texts(ax.texts) == ["0.50", "0.50", "0.00", "1.00"]


def test_confusion_matrix_errors():
    with pytest.raises(ShapeError, match="got 3 predictions but 2 labels"):
        plot_confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(LabelError, match="label 3 is out of range"):
        plot_confusion_matrix([0, 1, 3], [0, 1, 1], ["a", "b"])
    with pytest.raises(ValueError, match="normalize must be"):
        plot_confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(ValueError, match="y_pred is empty"):
        plot_confusion_matrix([], [])


# --------------------------------------------------------------------------- optimizer plot


def test_plot_optimizer_path_draws_the_labs_figure(tmp_path):
    target = tmp_path / "path.png"
    fig = plot_optimizer_path(path=target)
    assert png_size(target) == (600, 600)
    ax = fig.axes[0]
    assert ax.get_xlim() == (-1.0, 5.0) and ax.get_ylim() == (-1.0, 7.0)
    (line,) = ax.get_lines()
    assert line.get_color() == "red" and line.get_marker() == "o"
    np.testing.assert_array_equal(np.column_stack(line.get_data()), optimizer_path())
    assert len(ax.collections[0].levels) == 20  # the lab's logspace(0, 3, 20) contours
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"


def test_plot_optimizer_path_widens_the_grid_for_far_points():
    points = optimizer_path(lambda p: fcnn.SGD(p, lr=0.95), steps=5)  # overshoots the bowl
    fig = plot_optimizer_path(points)
    low, high = fig.axes[0].get_xlim()
    assert low <= points[:, 0].min() and high >= points[:, 0].max()
    assert high > 5.0


def test_plot_optimizer_path_errors():
    with pytest.raises(ShapeError, match=r"shape \(K, 2\)"):
        plot_optimizer_path(np.zeros((4, 3)))
    with pytest.raises(NonFiniteError, match="diverged"):
        plot_optimizer_path([[0.0, 0.0], [np.inf, 1.0]])


# --------------------------------------------------------------------------- headless


def test_no_pyplot_figures_are_left_open():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_loss([1.0, 0.5])
    plot_confusion_matrix([0, 1], [1, 1])
    assert plt.get_fignums() == before


def test_import_is_lazy_and_headless_run_uses_agg(tmp_path):
    code = (
        "import sys\n"
        "import fcnn.plots\n"
        "assert 'matplotlib' not in sys.modules and 'sklearn' not in sys.modules\n"
        "fcnn.plots.plot_confusion_matrix([0, 1], [0, 1], path=sys.argv[1])\n"
        "import matplotlib\n"
        "print(matplotlib.get_backend())\n"
    )
    hidden = {"DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "cm.png")],
        capture_output=True, text=True, env=env, check=True,
    )
    assert out.stdout.strip().lower() == "agg"
    assert (tmp_path / "cm.png").read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- plots people read


def test_plot_loss_switches_to_a_log_axis_past_two_decades():
    spread = plot_loss([50.0, 1.0, 0.3, 0.2]).axes[0]  # a large first epoch: 250x
    assert spread.get_yscale() == "log" and "log scale" in spread.get_ylabel()
    narrow = plot_loss([5.0, 1.0, 0.3, 0.2]).axes[0]  # 25x: linear still reads well
    assert narrow.get_yscale() == "linear"
    assert plot_loss([50.0, 0.2], log_scale=False).axes[0].get_yscale() == "linear"
    # the validation curve counts too
    assert plot_loss([1.0, 0.9], [90.0, 0.5]).axes[0].get_yscale() == "log"


def test_plot_loss_marks_the_best_epoch_and_an_interruption():
    fig = plot_loss([1.0, 0.6, 0.5, 0.45], [1.1, 0.7, 0.8, 0.9], best_epoch=2, interrupted=True)
    ax = fig.axes[0]
    legend = texts(ax.get_legend().get_texts())
    assert legend == ["train", "validation", "best epoch 2 (weights kept)",
                      "interrupted (Ctrl-C) after epoch 4"]
    best, dot, stop = ax.get_lines()[2:]
    np.testing.assert_array_equal(best.get_xdata(), [2, 2])
    np.testing.assert_array_equal(dot.get_ydata(), [0.7])  # on the validation curve
    np.testing.assert_array_equal(stop.get_xdata(), [4, 4])
    with pytest.raises(ValueError, match="best_epoch 5 is outside"):
        plot_loss([1.0, 0.5], best_epoch=5)
    with pytest.raises(TypeError, match="best_epoch must be an int"):
        plot_loss([1.0, 0.5], best_epoch=1.5)


def test_confusion_matrix_stays_readable_with_many_classes(tmp_path):
    rng = np.random.default_rng(0)
    for n_classes, numbers_shown in ((12, True), (40, False)):
        y = rng.integers(0, n_classes, 400)
        fig = plot_confusion_matrix(y, (y + (rng.random(400) < 0.2)) % n_classes,
                                    [f"class {k}" for k in range(n_classes)],
                                    path=tmp_path / f"cm{n_classes}.png")
        ax = fig.axes[0]
        cell_texts = [t for t in ax.texts if t.get_text().strip()]
        assert bool(cell_texts) == numbers_shown
        if cell_texts:
            assert max(t.get_fontsize() for t in cell_texts) <= 200 / n_classes + 1e-9
        width, height = png_size(tmp_path / f"cm{n_classes}.png")
        assert width <= 1500 and height <= 1400


def test_regression_plots(tmp_path):
    from fcnn.plots import plot_predicted_vs_true, plot_residuals

    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.5, 1.5, 3.5, 3.0])
    fig = plot_predicted_vs_true(y_true, y_pred, title="R²", path=tmp_path / "pvt.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), np.column_stack([y_true, y_pred]))
    diagonal = ax.get_lines()[0]
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())
    assert png_size(tmp_path / "pvt.png")[0] > 0
    fig = plot_residuals(y_true, y_pred, path=tmp_path / "res.png")
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(offsets, np.column_stack([y_pred, y_true - y_pred]))
    with pytest.raises(ShapeError, match="one length"):
        plot_residuals([1.0, 2.0], [1.0])
    with pytest.raises(NonFiniteError, match="finite"):
        plot_predicted_vs_true([1.0, np.nan], [1.0, 2.0])
