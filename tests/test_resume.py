"""Exact resume: N epochs == k epochs + resume_from to N (bit-identical weights, identical
History), through the API and after a real Ctrl-C; refusals change nothing."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fcnn
from fcnn.errors import ModelFileError
from fcnn.optim import lr_scheduler as S


def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((90, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] + X[:, 2] > 0).astype(int)
    return X, y


SETUPS = {
    "momentum-steplr": lambda p: (fcnn.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda o: (S.StepLR(o, step_size=3, gamma=0.5), "epoch")),
    "adam-onecycle-per-step": lambda p: (fcnn.Adam(p, lr=0.01),
                                         lambda o: (S.OneCycleLR(o, max_lr=0.05, total_steps=10 * 6),
                                                    "step")),
    "adamw-plateau": lambda p: (fcnn.AdamW(p, lr=0.02),
                                lambda o: (S.ReduceLROnPlateau(o, patience=0, factor=0.5), "epoch")),
}


def run(setup, epochs, *, checkpoint=None, resume=None, dropout=0.0, callbacks=()):
    X, y = data()
    model = fcnn.mlp([4, 12, 3], dropout=dropout, rng=0)
    optimizer, make_scheduler = SETUPS[setup](model.parameters())
    scheduler, interval = make_scheduler(optimizer)
    cbs = [fcnn.EarlyStopping("val_loss", patience=50, restore_best_weights=True), *callbacks]
    if checkpoint is not None:
        cbs.append(fcnn.ModelCheckpoint(checkpoint, monitor="loss", save_best_only=False))
    history = fcnn.train(model, fcnn.CrossEntropyLoss(), optimizer, X, y, epochs=epochs,
                         batch_size=16, validation_split=0.2, rng=3, progress=False,
                         scheduler=scheduler, scheduler_interval=interval, callbacks=cbs,
                         metrics=["accuracy", "f1_macro"], clip_grad_norm=2.0,
                         class_weight="balanced", resume_from=resume)
    return model, optimizer, history


def assert_same_run(a, b):
    (model_a, opt_a, hist_a), (model_b, opt_b, hist_b) = a, b
    for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert p.weights.tobytes() == q.weights.tobytes()
    assert hist_a.history == hist_b.history
    assert hist_a.step_losses == hist_b.step_losses
    assert (hist_a.epochs, hist_a.best_epoch, hist_a.restored_best_weights) == (
        hist_b.epochs, hist_b.best_epoch, hist_b.restored_best_weights)
    assert opt_a.steps == opt_b.steps


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_ten_epochs_equal_five_plus_a_resume_to_ten(setup, tmp_path):
    path = tmp_path / "run.safetensors"
    straight = run(setup, 10, dropout=0.2)
    first = run(setup, 5, checkpoint=path, dropout=0.2)
    assert first[2].epochs == 5 and fcnn.load(path).metadata["epoch"] == 5
    resumed = run(setup, 10, checkpoint=path, resume=path, dropout=0.2)
    assert_same_run(straight, resumed)
    assert len(set(straight[2].history["lr"])) > 1  # the schedule moved the rate
    assert fcnn.load(path).metadata["epoch"] == 10


def test_resume_twice_and_a_csv_log_that_appends(tmp_path):
    path, log = tmp_path / "run.safetensors", tmp_path / "log.csv"
    straight = run("momentum-steplr", 10)
    run("momentum-steplr", 3, checkpoint=path, callbacks=[fcnn.CSVLogger(log)])
    run("momentum-steplr", 7, checkpoint=path, resume=path,
        callbacks=[fcnn.CSVLogger(log, append=True)])
    resumed = run("momentum-steplr", 10, checkpoint=path, resume=path,
                  callbacks=[fcnn.CSVLogger(log, append=True)])
    assert_same_run(straight, resumed)
    rows = log.read_text().splitlines()
    assert len(rows) == 11 and [r.split(",")[0] for r in rows[1:]] == [str(e) for e in range(1, 11)]


# A child that trains with a checkpoint after every epoch and slows down after epoch 3, so
# that the parent's Ctrl-C lands in the middle of an epoch.
_CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
import test_resume as t
from fcnn.training import Callback

class Slow(Callback):
    def on_batch_end(self, batch, logs):
        if self.slow:
            time.sleep(0.02)
    def on_epoch_end(self, epoch, logs):
        if epoch == 3:
            self.slow = True
            print("ready", flush=True)
    slow = False

model, optimizer, history = t.run("adam-onecycle-per-step", 10, checkpoint=sys.argv[1],
                                  callbacks=[Slow()])
print("interrupted" if history.interrupted else "finished", history.epochs, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_resume_after_a_real_ctrl_c_gives_the_uninterrupted_run(tmp_path):
    path = tmp_path / "run.safetensors"
    script = _CHILD.format(tests=str(Path(__file__).parent))
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    status, epochs = out.split()
    assert status == "interrupted" and 3 <= int(epochs) < 10
    saved = fcnn.load(path).metadata
    assert saved["epoch"] == int(epochs)  # the last whole epoch; the cut one is not saved
    resumed = run("adam-onecycle-per-step", 10, resume=path)
    assert_same_run(run("adam-onecycle-per-step", 10), resumed)


def weights_of(model):
    return [p.weights.copy() for p in model.parameters()]


def test_a_refused_resume_changes_nothing(tmp_path):
    path = tmp_path / "run.safetensors"
    run("adam-onecycle-per-step", 4, checkpoint=path)
    X, y = data()
    model = fcnn.mlp([4, 12, 3], rng=5)
    optimizer = fcnn.Adam(model.parameters(), lr=0.01)
    scheduler = S.OneCycleLR(optimizer, max_lr=0.05, total_steps=60)
    before, opt_before = weights_of(model), optimizer.state_dict()
    sched_before = scheduler.state_dict()
    rng = np.random.default_rng(11)
    rng_before = rng.bit_generator.state
    cases = [
        (dict(batch_size=10), "batch_size=16"),  # the run used 16
        (dict(validation_split=0.3), "validation split"),
        (dict(X=X[:, ::-1].copy()), "other data"),
        (dict(epochs=4), "epochs > 4"),
        (dict(scheduler=None), "scheduler OneCycleLR"),
    ]
    for change, words in cases:
        kwargs = dict(X=X, y=y, epochs=10, batch_size=16, validation_split=0.2,
                      scheduler=scheduler, scheduler_interval="step")
        kwargs.update(change)
        if kwargs["scheduler"] is None:
            kwargs.pop("scheduler_interval")
        with pytest.raises(ValueError, match=words):
            fcnn.train(model, fcnn.CrossEntropyLoss(), optimizer, kwargs.pop("X"), kwargs.pop("y"),
                       rng=rng, progress=False, resume_from=path, metrics=["accuracy", "f1_macro"],
                       **kwargs)
        for p, w in zip(model.parameters(), before):
            np.testing.assert_array_equal(p.weights, w)
        assert optimizer.state_dict() == opt_before and optimizer.steps == 0
        assert scheduler.state_dict() == sched_before
        assert rng.bit_generator.state == rng_before


def test_a_checkpoint_whose_parts_do_not_load_rolls_back(tmp_path):
    path = tmp_path / "run.safetensors"
    run("momentum-steplr", 2, checkpoint=path)
    saved = fcnn.load(path)
    state = saved.metadata["training_state"]
    state["optimizer"]["param_groups"][0]["lr"] = -1.0  # refused by SGD.load_state_dict
    fcnn.save(saved, tmp_path / "bad.safetensors")
    X, y = data()
    model = fcnn.mlp([4, 12, 3], rng=5)
    optimizer = fcnn.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scheduler = S.StepLR(optimizer, step_size=3, gamma=0.5)
    before, opt_before = weights_of(model), optimizer.state_dict()
    with pytest.raises(ModelFileError, match="cannot resume"):
        fcnn.train(model, fcnn.CrossEntropyLoss(), optimizer, X, y, epochs=5, batch_size=16,
                   validation_split=0.2, rng=3, progress=False, scheduler=scheduler,
                   metrics=["accuracy", "f1_macro"], resume_from=tmp_path / "bad.safetensors")
    for p, w in zip(model.parameters(), before):  # the weights were loaded, then put back
        np.testing.assert_array_equal(p.weights, w)
    assert optimizer.state_dict()["param_groups"] == opt_before["param_groups"]


def test_the_training_state_is_plain_metadata_of_a_model_file(tmp_path):
    path = tmp_path / "run.safetensors"
    _, _, history = run("momentum-steplr", 3, checkpoint=path)
    loaded = fcnn.load(path)
    meta = loaded.metadata
    assert meta["epoch"] == 3 and meta["training_state"]["epoch"] == 3
    assert meta["training_state"]["history"]["history"] == history.history
    np.testing.assert_array_equal(meta["training_state.step_losses"], history.step_losses)
    json.dumps(meta["training_state"])  # JSON, no objects


def test_checkpoints_thinned_out_by_epochs_or_seconds_always_keep_the_last_epoch(tmp_path):
    X, y = data()
    for options, expected in (({"every_n_epochs": 3}, [None, None, 3, 3, 3, 6, 7]),
                              ({"every_n_seconds": 1e9}, [None] * 6 + [7])):
        path = tmp_path / f"{sorted(options)[0]}.safetensors"
        on_disk = []
        model = fcnn.mlp([4, 3], rng=0)
        fcnn.train(model, fcnn.CrossEntropyLoss(), fcnn.SGD(model.parameters(), lr=0.1), X, y,
                   epochs=7, progress=False, callbacks=[
                       fcnn.ModelCheckpoint(path, save_best_only=False, **options),  # no val_loss
                       lambda e, logs, path=path, on_disk=on_disk: on_disk.append(
                           fcnn.load(path).metadata["epoch"] if path.exists() else None)])
        assert on_disk == expected
