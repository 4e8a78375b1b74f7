"""The training loop: batching, shuffling, validation, callbacks, faults."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

import fcnn
from fcnn.errors import DivergenceError, LabelError, NonFiniteError
from fcnn.training import Callback, EarlyStopping


def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


class Recorder(fcnn.Sequential):
    """A network that records the batches it is trained on."""

    def __init__(self, *layers):
        super().__init__(*layers)
        self.batches = []

    def forward(self, X):
        if self.training:
            self.batches.append(X.copy())
        return super().forward(X)


def test_minibatches_are_a_permutation_with_the_partial_batch_last(rng):
    X = np.arange(10, dtype=float).reshape(10, 1)
    y = np.zeros(10, dtype=int)
    model = Recorder(fcnn.Linear(1, 2, rng=0))
    fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.0), X, y,
               epochs=3, batch_size=4, rng=0, progress=False)
    sizes = [len(b) for b in model.batches]
    assert sizes == [4, 4, 2] * 3
    epochs = [np.concatenate(model.batches[i:i + 3]).ravel() for i in (0, 3, 6)]
    for seen in epochs:  # every sample exactly once per epoch, never with replacement
        np.testing.assert_array_equal(np.sort(seen), np.arange(10))
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh permutation each epoch


def test_no_shuffle_keeps_order():
    X = np.arange(6, dtype=float).reshape(6, 1)
    model = Recorder(fcnn.Linear(1, 2, rng=0))
    fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.0), X, np.zeros(6, int),
               epochs=1, batch_size=4, shuffle=False, progress=False)
    np.testing.assert_array_equal(np.concatenate(model.batches).ravel(), np.arange(6))


def test_history_and_learning():
    X, y = iris()
    model = fcnn.mlp([4, 16, 3], rng=0)
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=0.01), X, y,
                      epochs=30, batch_size=16, validation_split=0.2, rng=0, progress=False)
    assert hist.epochs == 30 and len(hist.loss) == 30
    assert len(hist.step_losses) == 30 * 8  # 120 training samples / 16 -> 8 steps
    np.testing.assert_allclose(hist.loss[0], np.mean(hist.step_losses[:8]))
    assert list(hist.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert hist.history["lr"] == [0.01] * 30
    assert hist.loss[-1] < 0.3 * hist.loss[0]
    assert hist.history["val_accuracy"][-1] >= 0.85
    assert hist.wall_time > 0 and not hist.interrupted


def test_same_seed_is_bit_identical():
    X, y = iris()
    runs = []
    for _ in range(2):
        model = fcnn.mlp([4, 8, 3], rng=5)
        hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.05), X, y,
                          epochs=5, batch_size=10, rng=5, progress=False)
        runs.append((hist.step_losses, [p.weights.copy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_restores_the_best_weights():
    X, y = iris()
    model = fcnn.mlp([4, 32, 3], rng=0)
    snapshots = {}

    def remember(epoch, logs):
        snapshots[epoch] = [p.weights.copy() for p in model.parameters()]

    stopper = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    # a learning rate high enough that validation loss gets worse again
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.5, momentum=0.9),
                      X, y, epochs=200, batch_size=8, validation_split=0.3, rng=1,
                      callbacks=[stopper, remember], progress=False)
    assert hist.stopped_early and hist.epochs < 200
    best = int(np.argmin(hist.history["val_loss"])) + 1
    assert hist.best_epoch == best and hist.restored_best_weights
    assert hist.epochs == best + 4  # patience 3: stops on the 4th epoch without improvement
    for p, w in zip(model.parameters(), snapshots[best]):
        np.testing.assert_array_equal(p.weights, w)


def test_early_stopping_needs_validation_data():
    X, y = iris()
    model = fcnn.mlp([4, 3], rng=0)
    with pytest.raises(ValueError, match="validation"):
        fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y, epochs=1,
                   callbacks=[EarlyStopping()], progress=False)


def test_divergence_raises_and_keeps_finite_weights(rng):
    X = rng.standard_normal((100, 4)) * 10
    y = X.sum(axis=1)
    model = fcnn.mlp([4, 16, 1], "tanh", rng=0)
    # far too large a learning rate: the weights grow geometrically until the loss overflows
    with pytest.raises(DivergenceError, match=r"epoch \d+, step \d+ of \d+") as info:
        fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=1.0), X, y,
                   epochs=500, batch_size=25, rng=0, progress=False)
    assert all(np.isfinite(p.weights).all() for p in model.parameters())
    history = info.value.history
    assert isinstance(history, fcnn.History)
    assert all(np.isfinite(history.step_losses))
    assert isinstance(info.value, ValueError)


def test_keyboard_interrupt_from_a_callback_keeps_progress():
    X, y = iris()
    model = fcnn.mlp([4, 8, 3], rng=0)

    class Interrupt(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 3:
                raise KeyboardInterrupt

    before = [p.weights.copy() for p in model.parameters()]
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y,
                      epochs=100, batch_size=50, callbacks=[Interrupt()], rng=0, progress=False)
    assert hist.interrupted and hist.epochs == 3 and len(hist.step_losses) == 9
    assert any(not np.array_equal(p.weights, w) for p, w in zip(model.parameters(), before))


def test_a_plain_callable_can_stop_training():
    X, y = iris()
    model = fcnn.mlp([4, 3], rng=0)
    seen = []
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y,
                      epochs=10, callbacks=[lambda epoch, logs: seen.append(logs) or epoch == 2],
                      progress=False)
    assert hist.epochs == 2 and [set(s) for s in seen] == [{"loss", "accuracy", "lr"}] * 2


def test_regression_with_mse_and_1d_targets(rng):
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = fcnn.mlp([3, 1], rng=0)
    hist = fcnn.train(model, fcnn.MSELoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y,
                      epochs=50, batch_size=20, rng=0, progress=False)
    assert hist.loss[-1] < 1e-6
    np.testing.assert_allclose(model[0].w.weights.ravel(), [1.0, -2.0, 0.5], atol=1e-3)


def test_float32_training_stays_float32():
    X, y = iris()
    model = fcnn.mlp([4, 8, 3], rng=0, dtype=np.float32)
    fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=0.01), X, y,
               epochs=3, progress=False, rng=0)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert fcnn.predict(model, X).dtype == np.float32


def test_bad_data_is_rejected_before_training():
    X, y = iris()
    model = fcnn.mlp([4, 3], rng=0)
    opt = fcnn.SGD(model.parameters(), lr=0.1)
    with pytest.raises(LabelError, match=r"label 3 is out of range"):
        fcnn.train(model, fcnn.NLLLoss(), opt, X, np.where(y == 2, 3, y), epochs=1, progress=False)
    Xn = X.copy()
    Xn[5, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"\(5, 2\)"):
        fcnn.train(model, fcnn.NLLLoss(), opt, Xn, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fcnn.train(model, fcnn.NLLLoss(), opt, X, y, epochs=1, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fcnn.train(model, fcnn.NLLLoss(), opt, X, y, epochs=0, progress=False)


def test_predict_restores_mode_and_disables_dropout(rng):
    model = fcnn.mlp([3, 50, 2], dropout=0.5, rng=0)
    X = rng.standard_normal((5, 3))
    a, b = fcnn.predict(model, X), fcnn.predict(model, X)
    np.testing.assert_array_equal(a, b)
    assert model.training


# -- the loop's contracts, each guarded by a test that a broken loop fails ------------------


def replay_early_stopping(values, patience, min_delta, higher_is_better=False):
    """Keras's rule on a logged series: the epoch training stops at (or None) and the best."""
    sign = -1 if higher_is_better else 1
    best, best_epoch, wait = np.inf, None, 0
    for epoch, value in enumerate(values, 1):
        if sign * value < best - min_delta:
            best, best_epoch, wait = sign * value, epoch, 0
        else:
            wait += 1
            if wait > patience:
                return epoch, best_epoch
    return None, best_epoch


def test_early_stopping_honours_min_delta():
    X, y = iris()
    model = fcnn.mlp([4, 8, 3], rng=0)
    # a slow learner: val_loss falls every epoch, but by less than min_delta after a while
    stopper = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.02)
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.01), X, y,
                      epochs=60, batch_size=16, validation_split=0.3, rng=0,
                      callbacks=[stopper], progress=False)
    values = hist.history["val_loss"]
    assert hist.stopped_early
    assert (hist.epochs, hist.best_epoch) == replay_early_stopping(values, 2, 0.02)
    assert replay_early_stopping(values, 2, 0.0)[0] is None  # without min_delta: no stop yet
    assert np.all(np.diff(values) < 0)  # it did improve each epoch, just too little


def test_accuracy_monitors_maximize():
    X, y = iris()
    model = fcnn.mlp([4, 8, 3], rng=3)
    stopper = EarlyStopping(monitor="val_accuracy", patience=100)
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.05), X, y,
                      epochs=15, batch_size=16, validation_split=0.3, rng=1,
                      callbacks=[stopper], progress=False)
    accuracy = hist.history["val_accuracy"]
    assert np.argmax(accuracy) != np.argmin(accuracy)
    assert hist.best_epoch == int(np.argmax(accuracy)) + 1  # the first epoch at the maximum
    train_acc = EarlyStopping(monitor="accuracy", patience=100)
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.05), X, y,
                      epochs=5, batch_size=16, rng=1, callbacks=[train_acc], progress=False)
    assert hist.best_epoch == int(np.argmax(hist.history["accuracy"])) + 1


def test_model_checkpoint_save_best_only_keeps_the_best_epoch(tmp_path):
    X, y = iris()
    path = tmp_path / "best.safetensors"
    model = fcnn.mlp([4, 32, 3], rng=0)
    on_disk = []
    # too large a learning rate: validation loss goes up and down
    fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.5, momentum=0.9), X, y,
               epochs=12, batch_size=8, validation_split=0.3, rng=1, progress=False,
               callbacks=[fcnn.ModelCheckpoint(path, monitor="val_loss"),
                          lambda epoch, logs: on_disk.append(fcnn.load(path).metadata["epoch"])])
    history = fcnn.load(path).metadata["training_state"]["history"]["history"]["val_loss"]
    best_so_far = [int(np.argmin(history[:e])) + 1 for e in range(1, len(history) + 1)]
    assert on_disk[: len(best_so_far)] == best_so_far
    assert on_disk != list(range(1, 13))  # some epoch was not an improvement, and not saved


def test_predict_keeps_an_eval_mode_model_in_eval_mode(rng):
    model = fcnn.mlp([3, 20, 2], dropout=0.5, rng=0).eval()
    X = rng.standard_normal((4, 3))
    fcnn.predict(model, X)
    assert not model.training and not any(layer.training for layer in model.layers)
    fcnn.predict_proba(model, X)
    assert not model.training
    model.train()
    fcnn.predict(model, X)
    assert model.training and all(layer.training for layer in model.layers)


def test_validation_runs_in_eval_mode_and_training_comes_back_to_train_mode():
    torch = pytest.importorskip("torch")
    X, y = iris()
    Xv, yv = X[::3], y[::3]
    model = fcnn.mlp([4, 64, 3], dropout=0.5, rng=0)
    modes = []
    hist = fcnn.train(model, fcnn.NLLLoss(), fcnn.SGD(model.parameters(), lr=0.0), X, y, epochs=3,
                      validation_data=(Xv, yv), rng=0, progress=False,
                      callbacks=[lambda epoch, logs: modes.append(model.training)])
    logits = torch.tensor(fcnn.predict(model, Xv))  # eval mode: no unit dropped
    expected = float(torch.nn.CrossEntropyLoss()(logits, torch.tensor(yv)))
    assert hist.history["val_loss"] == pytest.approx([expected] * 3, rel=1e-12)
    assert modes == [True] * 3 and model.training
