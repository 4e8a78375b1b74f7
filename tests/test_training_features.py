"""train()'s weights, metrics, schedules, clipping and callbacks, against PyTorch and
scikit-learn called live."""

import csv
import io
import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.utils.class_weight import compute_class_weight

import fcnn
from fcnn import metrics as fm
from fcnn.callbacks import Callback
from fcnn.optim import lr_scheduler as S

torch = pytest.importorskip("torch")


def data(n=40, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, np.minimum(y, classes - 1)


def to_torch(model):
    """The same MLP in PyTorch (float64), weights copied."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, fcnn.Linear):
            t = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64)
            with torch.no_grad():
                t.weight.copy_(torch.tensor(layer.weight.weights.T))
                t.bias.copy_(torch.tensor(layer.bias.weights))
            layers.append(t)
        else:
            layers.append({"ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh}[type(layer).__name__]())
    return torch.nn.Sequential(*layers)


def torch_weights(tmodel):
    return [p.detach().numpy() for p in tmodel.parameters()]


def fcnn_weights(model):
    out = []
    for layer in model.layers:
        if isinstance(layer, fcnn.Linear):
            out += [layer.weight.weights.T, layer.bias.weights]
    return out


def assert_close(model, tmodel, tol=1e-10):
    worst = 0.0
    for a, b in zip(fcnn_weights(model), torch_weights(tmodel), strict=True):
        worst = max(worst, float(np.max(np.abs(a - b))))
    assert worst <= tol, worst
    return worst


def one_full_batch_step(loss, X, y, lr=0.1, **kwargs):
    model = fcnn.mlp([X.shape[1], 6, 3 if y.ndim == 1 else y.shape[1]], "tanh", rng=1)
    tmodel = to_torch(model)
    fcnn.train(model, loss, fcnn.SGD(model.parameters(), lr=lr), X, y, epochs=1,
               batch_size=X.shape[0], shuffle=False, progress=False, **kwargs)
    return model, tmodel


def torch_sgd_step(tmodel, value, lr=0.1):
    value.backward()
    with torch.no_grad():
        for p in tmodel.parameters():
            p -= lr * p.grad


# -- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_sample_weights_are_torch_reduction_none_weighted_by_hand(seed):
    X, y = data(seed=seed)
    w = np.random.default_rng(seed).uniform(0, 3, X.shape[0])
    model, tmodel = one_full_batch_step(fcnn.CrossEntropyLoss(), X, y, sample_weight=w)
    per_sample = torch.nn.CrossEntropyLoss(reduction="none")(tmodel(torch.tensor(X)), torch.tensor(y))
    tw = torch.tensor(w)
    torch_sgd_step(tmodel, (per_sample * tw).sum() / tw.sum())
    assert_close(model, tmodel)


def test_sample_weights_for_mse_weigh_each_sample_mean():
    X, _ = data()
    rng = np.random.default_rng(5)
    y = rng.standard_normal((X.shape[0], 2))
    w = rng.uniform(0, 2, X.shape[0])
    model, tmodel = one_full_batch_step(fcnn.MSELoss(), X, y, sample_weight=w)
    per_element = torch.nn.MSELoss(reduction="none")(tmodel(torch.tensor(X)), torch.tensor(y))
    tw = torch.tensor(w)
    torch_sgd_step(tmodel, (per_element.mean(dim=1) * tw).sum() / tw.sum())
    assert_close(model, tmodel)


def test_class_weight_dict_is_torch_cross_entropy_weight():
    X, y = data()
    class_weight = {0: 0.5, 1: 2.0, 2: 1.25}
    model, tmodel = one_full_batch_step(fcnn.CrossEntropyLoss(), X, y, class_weight=class_weight)
    weight = torch.tensor([0.5, 2.0, 1.25], dtype=torch.float64)
    value = torch.nn.CrossEntropyLoss(weight=weight)(tmodel(torch.tensor(X)), torch.tensor(y))
    torch_sgd_step(tmodel, value)
    assert_close(model, tmodel)


def test_balanced_class_weight_is_scikit_learns_and_combines_with_sample_weight():
    X, y = data(n=50)
    w = np.random.default_rng(2).uniform(0.5, 2, X.shape[0])
    balanced = compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(fm.compute_class_weight(y, 3), balanced, rtol=1e-15)
    model, tmodel = one_full_batch_step(fcnn.CrossEntropyLoss(), X, y, class_weight="balanced",
                                        sample_weight=w)
    per_sample = torch.nn.CrossEntropyLoss(reduction="none")(tmodel(torch.tensor(X)), torch.tensor(y))
    tw = torch.tensor(w * balanced[y])
    torch_sgd_step(tmodel, (per_sample * tw).sum() / tw.sum())
    assert_close(model, tmodel)


def test_integer_weights_equal_repeated_rows_in_one_full_batch():
    X, y = data()
    counts = np.random.default_rng(3).integers(0, 4, X.shape[0])
    counts[0] = 1
    weighted, _ = one_full_batch_step(fcnn.CrossEntropyLoss(), X, y, sample_weight=counts)
    repeated, _ = one_full_batch_step(fcnn.CrossEntropyLoss(), np.repeat(X, counts, axis=0),
                                      np.repeat(y, counts))
    for a, b in zip(weighted.parameters(), repeated.parameters()):
        np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)


def test_validation_is_unweighted_unless_weights_are_given():
    X, y = data()
    Xv, yv = data(n=20, seed=9)
    wv = np.random.default_rng(4).uniform(0, 1, 20)
    runs = {}
    for name, kw in (("plain", {}), ("weighted", {"sample_weight": np.arange(1.0, 41.0)}),
                     ("val_weighted", {"validation_sample_weight": wv})):
        model = fcnn.mlp([4, 5, 3], rng=0)
        runs[name] = (model, fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.0),
                                        X, y, epochs=1, validation_data=(Xv, yv), progress=False, **kw))
    model, hist = runs["plain"]
    logits = torch.tensor(fcnn.predict(model, Xv))
    plain = float(torch.nn.CrossEntropyLoss()(logits, torch.tensor(yv)))
    assert hist.history["val_loss"][0] == pytest.approx(plain, rel=1e-12)
    assert runs["weighted"][1].history["val_loss"][0] == pytest.approx(plain, rel=1e-12)
    per = torch.nn.CrossEntropyLoss(reduction="none")(logits, torch.tensor(yv)).numpy()
    assert runs["val_weighted"][1].history["val_loss"][0] == pytest.approx(
        float((per * wv).sum() / wv.sum()), rel=1e-12)


# -- metrics ---------------------------------------------------------------------------------


CLASSIFICATION = {"accuracy": skm.accuracy_score, "balanced_accuracy": skm.balanced_accuracy_score,
                  "f1_macro": lambda t, p: skm.f1_score(t, p, average="macro")}
REGRESSION = {"mae": skm.mean_absolute_error, "rmse": skm.root_mean_squared_error,
              "r2": skm.r2_score}


@pytest.mark.parametrize("seed", range(6))
def test_classification_metrics_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 30)), int(rng.integers(2, 6))
    y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k + seed % 2, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # y_pred holding a class y_true lacks
        for name, reference in CLASSIFICATION.items():
            assert fm.METRICS[name](y_true, y_pred) == pytest.approx(reference(y_true, y_pred),
                                                                     rel=1e-12, abs=1e-15), name


@pytest.mark.parametrize("shape", [(30,), (30, 1), (30, 3), (1,), (5, 2)])
def test_regression_metrics_equal_scikit_learn(shape):
    rng = np.random.default_rng(len(shape) + shape[0])
    y_true, y_pred = rng.standard_normal(shape), rng.standard_normal(shape)
    if len(shape) == 2 and shape[1] > 1:
        y_true[:, 0] = 2.0  # a constant output: r2's force_finite rule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # r2 with one sample
        for name, reference in REGRESSION.items():
            expected = reference(y_true, y_pred)
            got = fm.METRICS[name](y_true, y_pred)
            if math.isnan(expected):
                assert math.isnan(got), name
            else:
                assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), name


def test_multilabel_accuracy_and_f1_equal_scikit_learn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, (40, 3)), rng.integers(0, 2, (40, 3))
    y_pred[:, 2] = 0
    y_true[:, 2] = 0  # a label never present: F1 0 as scikit-learn's zero_division
    assert fm.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fm.f1_macro(y_true, y_pred) == pytest.approx(
            skm.f1_score(y_true, y_pred, average="macro"), rel=1e-12)


class Outputs(fcnn.Sequential):
    """Records what the training steps' forward passes returned."""

    def __init__(self, *layers):
        super().__init__(*layers)
        self.outputs = []

    def forward(self, X):
        out = super().forward(X)
        if self.training:
            self.outputs.append(out.copy())
        return out


def test_logged_metrics_equal_scikit_learn_on_the_same_predictions():
    X, y = data(n=60)
    Xv, yv = data(n=30, seed=4)
    model = Outputs(*fcnn.mlp([4, 8, 3], rng=0).layers)
    epochs_outputs = []
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.2), X, y,
                      epochs=3, batch_size=16, shuffle=False, validation_data=(Xv, yv),
                      metrics=["accuracy", "balanced_accuracy", "f1_macro", ("kappa", skm.cohen_kappa_score)],
                      callbacks=[lambda e, logs: epochs_outputs.append(
                          (np.concatenate(model.outputs[-4:]), fcnn.predict(model, Xv)))],
                      progress=False)
    assert list(hist.history) == ["loss", "accuracy", "balanced_accuracy", "f1_macro", "kappa",
                                  "val_loss", "val_accuracy", "val_balanced_accuracy",
                                  "val_f1_macro", "val_kappa", "lr"]
    references = {**CLASSIFICATION, "kappa": skm.cohen_kappa_score}
    for epoch, (train_out, val_out) in enumerate(epochs_outputs):
        for name, reference in references.items():
            # training metrics: from the outputs the epoch's own steps produced (no extra pass)
            assert hist.history[name][epoch] == pytest.approx(
                reference(y, train_out.argmax(1)), rel=1e-12), name
            assert hist.history[f"val_{name}"][epoch] == pytest.approx(
                reference(yv, val_out.argmax(1)), rel=1e-12), name


def test_regression_metrics_in_training_and_no_default_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.0, -1.0, 0.5])
    model = fcnn.mlp([3, 1], rng=0)
    hist = fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=0.05), X, y, epochs=4,
                      validation_split=0.2, metrics=["mae", "rmse", "r2"], rng=0, progress=False)
    assert list(hist.history) == ["loss", "mae", "rmse", "r2", "val_loss", "val_mae", "val_rmse",
                                  "val_r2", "lr"]
    plain = fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=0.05), X, y, epochs=1,
                       progress=False)
    assert list(plain.history) == ["loss", "lr"]
    # training rmse^2 is the mean of the (unweighted) per-sample squared errors = the epoch's
    # loss only for one full batch; here check it against the loss with lr=0
    frozen = fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=0.0), X, y, epochs=1,
                        batch_size=50, metrics=["rmse"], progress=False)
    assert frozen.history["rmse"][0] ** 2 == pytest.approx(frozen.loss[0], rel=1e-12)


# -- monitors, callbacks --------------------------------------------------------------------


def test_monitors_watch_any_logged_name_in_the_right_direction():
    X, y = data(n=80)
    model = fcnn.mlp([4, 16, 3], rng=0)
    stop = fcnn.EarlyStopping(monitor="val_f1_macro", patience=2)
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.3), X, y,
                      epochs=40, validation_split=0.3, metrics=["f1_macro"], rng=0,
                      callbacks=[stop], progress=False)
    f1 = hist.history["val_f1_macro"]
    assert hist.best_epoch == int(np.argmax(f1)) + 1  # maximized: a score
    lowest = fcnn.EarlyStopping(monitor="val_f1_macro", patience=2, mode="min")
    model = fcnn.mlp([4, 16, 3], rng=0)
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.3), X, y,
                      epochs=40, validation_split=0.3, metrics=["f1_macro"], rng=0,
                      callbacks=[lowest], progress=False)
    assert hist.best_epoch == int(np.argmin(hist.history["val_f1_macro"])) + 1


class Batches(Callback):
    def __init__(self):
        self.seen = []

    def on_batch_end(self, batch, logs):
        self.seen.append((batch, logs["loss"]))


def test_on_batch_end_sees_every_step():
    X, y = data(n=50)
    model = fcnn.mlp([4, 3], rng=0)
    hook = Batches()
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y,
                      epochs=2, batch_size=20, callbacks=[hook], progress=False)
    assert [b for b, _ in hook.seen] == [1, 2, 3, 1, 2, 3]
    assert [v for _, v in hook.seen] == hist.step_losses


def test_csv_logger_writes_and_flushes_one_row_per_epoch(tmp_path):
    X, y = data(n=30)
    path = tmp_path / "log.csv"
    rows_during = []

    def peek(epoch, logs):  # the row is on disk before the next epoch starts
        rows_during.append(len(path.read_text().splitlines()))

    model = fcnn.mlp([4, 3], rng=0)
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y,
                      epochs=3, validation_split=0.2, rng=0, progress=False,
                      callbacks=[fcnn.CSVLogger(path), peek])
    assert rows_during == [2, 3, 4]
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == ["epoch", *hist.history]
    for i, row in enumerate(rows):
        assert int(row["epoch"]) == i + 1
        for key, values in hist.history.items():
            assert float(row[key]) == values[i]  # repr round-trips exactly


# -- schedules ------------------------------------------------------------------------------


def test_epoch_schedule_logs_torchs_learning_rates():
    X, y = data()
    model = fcnn.mlp([4, 3], rng=0)
    opt = fcnn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), opt, X, y, epochs=12, progress=False,
                      scheduler=S.MultiStepLR(opt, milestones=[3, 7], gamma=0.3))
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.MultiStepLR(topt, milestones=[3, 7], gamma=0.3)
    expected = []
    for _ in range(12):
        expected.append(topt.param_groups[0]["lr"])
        topt.step()
        tsched.step()
    np.testing.assert_allclose(hist.history["lr"], expected, rtol=1e-12)


def test_step_schedule_steps_after_every_batch():
    X, y = data(n=50)
    model = fcnn.mlp([4, 3], rng=0)
    opt = fcnn.Adam(model.parameters(), lr=0.01)
    steps = []
    hook = type("H", (Callback,), {"on_batch_end": lambda self, b, logs: steps.append(
        opt.param_groups[0]["lr"])})()
    fcnn.train(model, fcnn.CrossEntropyLoss(), opt, X, y, epochs=4, batch_size=10, progress=False,
               scheduler=S.OneCycleLR(opt, max_lr=0.1, total_steps=20), scheduler_interval="step",
               callbacks=[hook])
    topt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=20)
    expected = []
    for _ in range(19):  # the hook runs after the scheduler's step of that batch
        topt.step()
        tsched.step()
        expected.append(topt.param_groups[0]["lr"])
    np.testing.assert_allclose(steps[:19], expected, rtol=1e-12)


def test_plateau_steps_on_the_monitored_metric():
    X, y = data(n=60)
    model = fcnn.mlp([4, 8, 3], rng=0)
    opt = fcnn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    hist = fcnn.train(model, fcnn.CrossEntropyLoss(), opt, X, y, epochs=25, validation_split=0.3,
                      rng=0, progress=False, metrics=["accuracy"],
                      scheduler=S.ReduceLROnPlateau(opt, mode="max", patience=1, factor=0.5),
                      scheduler_monitor="val_accuracy")
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, mode="max", patience=1, factor=0.5)
    expected = []
    for value in hist.history["val_accuracy"]:
        expected.append(topt.param_groups[0]["lr"])
        tsched.step(value)
    assert hist.history["lr"] == expected
    assert len(set(expected)) > 1  # the schedule really moved


# -- clipping -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["norm", "inf-norm", "value"])
def test_clipping_inside_train_is_torchs(how):
    X, y = data()
    kwargs = {"norm": {"clip_grad_norm": 0.05}, "inf-norm": {"clip_grad_norm": (0.01, math.inf)},
              "value": {"clip_grad_value": 0.003}}[how]
    model, tmodel = one_full_batch_step(fcnn.CrossEntropyLoss(), X, y, **kwargs)
    value = torch.nn.CrossEntropyLoss()(tmodel(torch.tensor(X)), torch.tensor(y))
    value.backward()
    if how == "value":
        torch.nn.utils.clip_grad_value_(tmodel.parameters(), 0.003)
    else:
        norm = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), *kwargs["clip_grad_norm"]) \
            if how == "inf-norm" else torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 0.05)
        assert float(norm) > 0.05  # the clip was active
    with torch.no_grad():
        for p in tmodel.parameters():
            p -= 0.1 * p.grad
    assert_close(model, tmodel, 1e-12)


# -- predict_proba, progress bar ------------------------------------------------------------


def test_predict_proba_is_softmax_or_sigmoid():
    X, _ = data()
    model = fcnn.mlp([4, 5, 3], rng=0)
    logits = torch.tensor(fcnn.predict(model, X))
    np.testing.assert_allclose(fcnn.predict_proba(model, X), torch.softmax(logits, 1).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(fcnn.predict_proba(model, X, loss=fcnn.CrossEntropyLoss()),
                               torch.softmax(logits, 1).numpy(), rtol=1e-12)
    binary = fcnn.mlp([4, 5, 1], rng=0)
    logit = torch.tensor(fcnn.predict(binary, X))
    np.testing.assert_allclose(fcnn.predict_proba(binary, X), torch.sigmoid(logit).numpy(), rtol=1e-12)
    if hasattr(fcnn, "BCEWithLogitsLoss"):
        np.testing.assert_allclose(fcnn.predict_proba(model, X, loss=fcnn.BCEWithLogitsLoss()),
                                   torch.sigmoid(logits).numpy(), rtol=1e-12)
    extreme = fcnn.predict_proba(fcnn.Sequential(fcnn.Linear(1, 1, rng=0)), np.array([[1e6], [-1e6]]))
    assert np.isfinite(extreme).all()
    with pytest.raises(ValueError, match="regressor"):
        fcnn.predict_proba(model, X, loss=fcnn.MSELoss())


def test_progress_bar_keeps_a_bar_and_its_text_at_80_columns():
    from fcnn.training import _Bar

    out = io.StringIO()
    bar = _Bar(2000, file=out, ncols=80, dynamic_ncols=False)
    logs = {"loss": 0.0634123, "accuracy": 0.97, "val_loss": 0.1688123, "val_accuracy": 0.9667,
            "val_f1_macro": 0.9, "lr": 0.01}
    for _ in range(900):
        bar.update(logs)
    line = str(bar._bar)
    bar.close()
    assert len(line) <= 80, line
    assert "loss=0.06341 val_loss=0.1688]" in line, line  # the text, whole
    cells = line.split("|")[1]
    assert len(cells) >= 15 and len(cells.strip()) >= 6, line  # a visible bar


def test_a_notebook_without_ipywidgets_gets_the_text_bar(monkeypatch):
    import importlib.util
    import sys
    import types

    import tqdm.auto
    import tqdm.std

    from fcnn.training import _tqdm_class

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    assert _tqdm_class() is tqdm.std.tqdm  # tqdm.auto would warn (TqdmWarning) here
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "ipywidgets" else real(name, *a))
    assert _tqdm_class() is tqdm.auto.tqdm
