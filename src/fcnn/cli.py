"""The ``fcnn`` command line: ``train``, ``evaluate``, ``predict``, ``gradcheck``, ``trajectory``.

``fcnn train`` with no flags is the lab's run: Iris, a stratified 80/20 split,
a 4-100-100-3 ReLU network, NLLLoss, SGD at lr 0.01, batches of 32, 2000
epochs, seed 0. It prints the test accuracy and a per-class report and writes
a run folder: ``model.safetensors``, ``metrics.json``, ``loss.png`` and
``confusion_matrix.png``.

Exit codes: 0 success; 1 a result that is not a usage problem (a gradient
check failed, training diverged); 2 a bad argument, path or file, reported as
one line ``fcnn: error: ...`` on stderr, never a traceback; 130 interrupted
(``fcnn train`` still writes the run folder with what was learned). ``fcnn``
with no command prints the help and exits 0.

Only argparse and NumPy are imported at start-up; scikit-learn, matplotlib,
tqdm and safetensors are imported by the library functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._version import __version__
from .errors import DivergenceError, FcnnError

__all__ = ["main"]

PROG = "fcnn"

#: ``--optimizer`` names: ``momentum`` is SGD with momentum 0.9.
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")

_OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "momentum": "SGD with momentum 0.9",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
}

# Where `fcnn train` writes when --out is not given: runs/<dataset>-<timestamp>.
RUNS_DIR = "runs"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
LOSS_PLOT = "loss.png"
CONFUSION_PLOT = "confusion_matrix.png"

# Share of the training part held out to watch the validation loss when
# --early-stopping is on.
VALIDATION_FRACTION = 0.1

# Gradient-check settings per dtype: float64 takes the textbook eps = 1e-6 and
# CS231n's "relative error <= 1e-7 is right"; in float32 a 1e-6 step drowns in
# rounding (~1e-7 relative), so the step is 1e-3 and the bar PyTorch's rtol 1e-3.
GRADCHECK = {"float64": (1e-6, 1e-7), "float32": (1e-3, 1e-3)}


class CliError(Exception):
    """A problem the user can fix; printed as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors raised as CliError (one line), not printed with usage."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message)


# --------------------------------------------------------------------------- argument types


def _number(convert: Any, ok: Any, expected: str) -> Any:
    """An argparse type: ``convert(text)``, refused with one clear line unless ``ok(value)``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
_fraction = _number(float, lambda v: 0 < v < 1, "a fraction in (0, 1)")


def _hidden_sizes(text: str) -> list[int]:
    """``"100,100"`` -> [100, 100]; ``""`` -> [] (no hidden layer: softmax regression)."""
    if not text.strip():
        return []
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated positive layer widths such as 100,100, got {text!r}"
            )
        sizes.append(int(part))
    return sizes


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``fcnn`` argument parser with its five commands."""
    from .init import INITIALIZERS
    from .network import ACTIVATIONS

    parser = _Parser(
        prog=PROG,
        description="Fully connected neural networks in NumPy: train, evaluate, predict, "
        "check gradients.",
        epilog="Run 'fcnn COMMAND --help' for a command's options. 'fcnn train' alone "
        "reproduces the lab: Iris, 4-100-100-3 ReLU, SGD lr 0.01, 2000 epochs.",
    )
    parser.add_argument("--version", action="version", version=f"fcnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a network and write a run folder (no flags: the lab's Iris run)",
        description="Train a classifier and write model.safetensors, metrics.json, loss.png "
        "and confusion_matrix.png into a run folder. With no flags: the lab's run "
        "(Iris, stratified 80/20 split, 4-100-100-3 ReLU, NLLLoss, SGD lr 0.01, batch 32, "
        "2000 epochs, seed 0).",
    )
    train.add_argument(
        "--dataset", default="iris", metavar="NAME|PATH.csv",
        help="an embedded dataset (iris, wine, breast_cancer, digits) or a CSV file with a "
        "header row (default: iris)",
    )
    train.add_argument(
        "--target", metavar="COL", help="the label column of a CSV file (default: the last column)"
    )
    train.add_argument(
        "--hidden", type=_hidden_sizes, default=[100, 100], metavar="W1,W2,...",
        help="hidden layer widths (default: 100,100; '' for none)",
    )
    train.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default="relu",
        help="hidden activation (default: relu)",
    )
    train.add_argument(
        "--init", choices=sorted(INITIALIZERS), default="default", metavar="NAME",
        help="weight initializer: " + ", ".join(sorted(INITIALIZERS)) + " (default: "
        "PyTorch's nn.Linear scheme; 'lab' is the lab's randn * 0.1)",
    )
    train.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="sgd",
        help="sgd, momentum (SGD with momentum 0.9), adam, adamw or rmsprop (default: sgd)",
    )
    train.add_argument(
        "--lr", type=_positive_float, default=0.01, help="learning rate (default: 0.01)"
    )
    train.add_argument(
        "--epochs", type=_positive_int, default=2000, help="passes over the data (default: 2000)"
    )
    train.add_argument(
        "--batch-size", type=_positive_int, default=32, metavar="N",
        help="samples per step (default: 32)",
    )
    train.add_argument(
        "--test-size", type=_fraction, default=0.2, metavar="FRACTION",
        help="share of the data held out for testing, stratified (default: 0.2)",
    )
    train.add_argument(
        "--seed", type=_non_negative_int, default=0,
        help="seed of the split, the initial weights and the shuffling (default: 0)",
    )
    train.add_argument(
        "--standardize", action="store_true",
        help="scale features to zero mean and unit variance (training-part statistics, saved "
        "with the model); the lab uses raw features",
    )
    train.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64",
        help="floating-point type of weights and data (default: float64)",
    )
    train.add_argument(
        "--early-stopping", type=_non_negative_int, metavar="PATIENCE",
        help=f"hold out {VALIDATION_FRACTION:.0%}% of the training part and stop when its loss "
        "has not improved for PATIENCE epochs, keeping the best weights",
    )
    train.add_argument(
        "--out", metavar="DIR",
        help=f"the run folder (default: {RUNS_DIR}/<dataset>-<timestamp>); existing files "
        "in it are replaced",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy and per-class report of a saved model",
        description="Evaluate a saved model. On the dataset it was trained on, only the "
        "test split is used (recreated from the seed saved with the model); on any other "
        "data, every sample.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by fcnn train")
    evaluate.add_argument(
        "--dataset", metavar="NAME|PATH.csv",
        help="an embedded dataset or a CSV file (default: the dataset the model was trained on)",
    )
    evaluate.add_argument(
        "--target", metavar="COL",
        help="the label column of a CSV file (default: the training run's, else the last column)",
    )
    evaluate.add_argument(
        "--all", action="store_true", dest="all_samples",
        help="evaluate on every sample, even on the training dataset",
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser(
        "predict",
        help="predict the class of each row of a CSV file",
        description="Read the model's feature columns (by name; other columns such as a "
        "label are ignored) from INPUT.csv, apply the saved standardization, and write one "
        "row per sample: the predicted class and the probability of each class.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file written by fcnn train")
    predict.add_argument("input", metavar="INPUT.csv", help="a CSV file with a header row")
    predict.add_argument(
        "-o", "--output", metavar="OUT.csv", help="write here instead of standard output"
    )
    predict.set_defaults(handler=cmd_predict)

    gradcheck = commands.add_parser(
        "gradcheck",
        help="check every layer's and loss's gradients numerically",
        description="Compare each layer's and loss's analytical gradients (and a small "
        "network's) with central differences. Prints the max absolute deviation and the "
        "relative error; exits 1 if any relative error is above the threshold.",
    )
    gradcheck.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64",
        help="check in this dtype (default: float64, threshold 1e-7; float32: step 1e-3, "
        "threshold 1e-3)",
    )
    gradcheck.add_argument(
        "--rtol", type=_positive_float, metavar="TOL",
        help="the relative-error threshold (default: per dtype)",
    )
    gradcheck.add_argument(
        "-v", "--verbose", action="store_true", help="one row per checked tensor"
    )
    gradcheck.set_defaults(handler=cmd_gradcheck)

    trajectory = commands.add_parser(
        "trajectory",
        help="plot an optimizer's path on the lab's bowl (x-3)^2 + (y-5)^2",
        description="The lab's optimizer experiment: minimise (x-3)^2 + (y-5)^2 from (0, 0) "
        "and draw the path over the contour lines.",
    )
    trajectory.add_argument(
        "--out", default="trajectory.png", metavar="PATH",
        help="the image to write (default: trajectory.png)",
    )
    trajectory.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="sgd", help="the optimizer (default: sgd)"
    )
    trajectory.add_argument(
        "--lr", type=_positive_float, default=0.1, help="learning rate (default: 0.1)"
    )
    trajectory.add_argument("--steps", type=_positive_int, default=50, help="steps (default: 50)")
    trajectory.set_defaults(handler=cmd_trajectory)
    return parser


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fcnn`` command line; returns the exit code.

    ``argv`` defaults to ``sys.argv[1:]``. Usage errors and bad inputs print
    one line ``fcnn: error: ...`` on stderr and return 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        args.argv = argv
        return int(args.handler(args))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except (CliError, FcnnError) as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (`fcnn predict ... | head`): silence the flush at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _error(message: str) -> None:
    message = " ".join(message.split()) or "unknown error"
    print(f"{PROG}: error: {message}", file=sys.stderr)


@contextlib.contextmanager
def _user_input(values: bool = True) -> Iterator[None]:
    """Report what reading or writing a user's path or file raised as a CliError.

    Wrapped only around handling user files and data: a ValueError elsewhere
    is a bug, and its traceback should reach the bug report. ``values=False``
    converts OSError alone (for writing results, where the values are ours).
    """
    try:
        yield
    except (CliError, FcnnError):
        raise
    except OSError as exc:
        raise CliError(_os_error_message(exc)) from None
    except (ValueError, TypeError) as exc:
        if not values:
            raise
        raise CliError(str(exc)) from None


def _os_error_message(exc: OSError) -> str:
    if not exc.strerror:
        return str(exc)
    message = exc.strerror
    if exc.filename is not None and str(exc.filename) not in message:
        message = f"{exc.filename}: {message}"
    return message


# --------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    """``fcnn train``: split, train, evaluate, and write the run folder."""
    from . import training
    from .datasets import EMBEDDED, load_dataset
    from .losses import NLLLoss
    from .network import mlp

    started = time.perf_counter()
    with _user_input():
        dataset = load_dataset(args.dataset, args.target)
    is_csv = dataset.name not in EMBEDDED
    parts = _split_for_training(dataset, args)
    sizes = [dataset.n_features, *args.hidden, dataset.n_classes]
    model = mlp(sizes, args.activation, init=args.init, rng=args.seed, dtype=args.dtype)
    optimizer = _make_optimizer(args.optimizer, model.parameters(), args.lr)
    run_dir, created = _prepare_run_dir(args.out, dataset.name)

    n_params = sum(p.size for p in model.parameters())
    print(
        f"{dataset.name}: {dataset.n_samples} samples, {dataset.n_features} features, "
        f"{dataset.n_classes} classes; {len(parts['y_train'])} train"
        + (f" / {len(parts['y_val'])} validation" if parts["y_val"] is not None else "")
        + f" / {len(parts['y_test'])} test"
        + (", standardized" if args.standardize else "")
    )
    print(
        f"model: {'-'.join(map(str, sizes))} {args.activation} ({n_params:,} parameters, "
        f"{args.dtype}), NLLLoss, {_describe_optimizer(optimizer)}, batch {args.batch_size}, "
        f"{args.epochs} epochs, seed {args.seed}"
    )
    sys.stdout.flush()

    callbacks = []
    validation = None
    if args.early_stopping is not None:
        callbacks.append(
            training.EarlyStopping("val_loss", patience=args.early_stopping,
                                   restore_best_weights=True)
        )
        validation = (parts["X_val"], parts["y_val"])
    try:
        history = training.train(
            model, NLLLoss(), optimizer, parts["X_train"], parts["y_train"],
            epochs=args.epochs, batch_size=args.batch_size, validation_data=validation,
            callbacks=callbacks, progress=not args.no_progress, rng=args.seed,
        )
    except DivergenceError as exc:
        if created:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only succeeds while still empty
        done = getattr(exc.history, "epochs", 0)
        _error(
            f"training diverged in epoch {done + 1}: the loss became NaN or infinite; try a "
            f"smaller --lr (it was {args.lr:g})"
            + ("" if args.standardize else " or --standardize")
        )
        return 1

    logits = training.predict(model, parts["X_test"])
    y_pred = logits.argmax(axis=1)
    results = _classification_results(parts["y_test"], y_pred, dataset.classes)

    config = {
        "dataset": args.dataset,
        "target": args.target,
        "hidden": args.hidden,
        "sizes": sizes,
        "activation": args.activation,
        "init": args.init,
        "loss": "NLLLoss",
        "optimizer": args.optimizer,
        "optimizer_repr": repr(optimizer),
        "lr": args.lr,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "test_size": args.test_size,
        "seed": args.seed,
        "standardize": args.standardize,
        "dtype": args.dtype,
        "early_stopping": args.early_stopping,
        "validation_fraction": VALIDATION_FRACTION if validation is not None else None,
        "command": [PROG, *args.argv],
    }
    metadata: dict[str, Any] = {
        "classes": dataset.classes,
        "feature_names": dataset.feature_names,
        "dataset": dataset.name,
        "target": parts["target"],
        "split": {"seed": args.seed, "test_size": args.test_size, "stratify": True},
        "config": config,
        "test_accuracy": results["accuracy"],
    }
    if is_csv:
        path = Path(args.dataset).resolve()
        metadata["dataset_path"] = str(path)
        metadata["dataset_sha256"] = _sha256(path)
    if parts["mean"] is not None:
        metadata["mean"] = parts["mean"]
        metadata["scale"] = parts["scale"]

    with _user_input(values=False):
        from .serialization import save

        save(model, run_dir / MODEL_FILE, **metadata)
        plotted = _write_plots(run_dir, history, parts["y_test"], y_pred, dataset, results)
        wall = time.perf_counter() - started
        metrics = {
            "accuracy": results["accuracy"],
            "n_test": len(parts["y_test"]),
            "n_correct": results["n_correct"],
            "classes": dataset.classes,
            "confusion_matrix": results["confusion_matrix"],
            "classification_report": results["report"],
            "history": dict(history.history),
            "epochs_run": history.epochs,
            "interrupted": history.interrupted,
            "stopped_early": history.stopped_early,
            "best_epoch": history.best_epoch,
            "restored_best_weights": history.restored_best_weights,
            "config": config,
            "dataset": {
                "name": dataset.name,
                "n_samples": dataset.n_samples,
                "n_features": dataset.n_features,
                "feature_names": dataset.feature_names,
                "target": parts["target"],
                "n_train": len(parts["y_train"]),
                "n_validation": None if parts["y_val"] is None else len(parts["y_val"]),
                "n_test": len(parts["y_test"]),
            },
            "versions": _versions(),
            "wall_time": {"training_s": history.wall_time, "total_s": wall},
            "files": {"model": MODEL_FILE, **plotted},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_json(run_dir / METRICS_FILE, metrics)

    if history.interrupted:
        print(f"interrupted after {history.epochs} of {args.epochs} epochs: the run folder "
              "holds what was learned so far")
    stop = ""
    if history.stopped_early:
        stop = f" (stopped early; best epoch {history.best_epoch}, its weights kept)"
    elif history.restored_best_weights:
        stop = f" (best epoch {history.best_epoch}, its weights kept)"
    final = f"; final train loss {history.loss[-1]:.4f}" if history.loss else ""
    print(f"trained {history.epochs} epochs in {history.wall_time:.1f} s{stop}{final}")
    print(
        f"test accuracy: {results['accuracy']:.4f} "
        f"({results['n_correct']}/{len(parts['y_test'])})"
    )
    print()
    print(results["report_text"].rstrip())
    print()
    print(f"run folder: {run_dir}")
    print(f"  {MODEL_FILE}  {METRICS_FILE}  " + "  ".join(plotted.values()))
    print(f"predict with: {PROG} predict {run_dir / MODEL_FILE} INPUT.csv")
    return 130 if history.interrupted else 0


def _split_for_training(dataset: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Train/test split (and validation when early stopping), cast to ``--dtype``.

    The standardization statistics come from the samples the network trains
    on, so neither the test nor the validation part leaks into them.
    """
    from .datasets import EMBEDDED, DatasetError, standardize, train_test_split

    with _user_input():
        outer = train_test_split(
            dataset, test_size=args.test_size, seed=args.seed,
            standardize=args.standardize and args.early_stopping is None,
        )
    X_train, y_train, X_test = outer.X_train, outer.y_train, outer.X_test
    X_val = y_val = None
    mean, scale = outer.mean, outer.scale
    if args.early_stopping is not None:
        with _user_input():
            try:
                inner = train_test_split(
                    X_train, y_train, test_size=VALIDATION_FRACTION, seed=args.seed,
                    standardize=args.standardize,
                )
            except DatasetError:  # a class too rare to stratify: a plain random hold-out
                inner = train_test_split(
                    X_train, y_train, test_size=VALIDATION_FRACTION, seed=args.seed,
                    stratify=False, standardize=args.standardize,
                )
        X_train, y_train, X_val, y_val = inner.X_train, inner.y_train, inner.X_test, inner.y_test
        mean, scale = inner.mean, inner.scale
        if mean is not None:
            X_test = standardize(X_test, mean, scale)
    dtype = np.dtype(args.dtype)
    target = args.target
    if target is None and dataset.name not in EMBEDDED:
        target = _last_column(Path(args.dataset))
    return {
        "X_train": X_train.astype(dtype, copy=False),
        "y_train": y_train,
        "X_val": None if X_val is None else X_val.astype(dtype, copy=False),
        "y_val": y_val,
        "X_test": X_test.astype(dtype, copy=False),
        "y_test": outer.y_test,
        "mean": mean,
        "scale": scale,
        "target": target,
    }


def _last_column(path: Path) -> str | None:
    with _user_input(), path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle, skipinitialspace=True):
            if row:
                return row[-1].strip()
    return None


def _make_optimizer(name: str, params: list[Any], lr: float) -> Any:
    from .optim import SGD, Adam, AdamW, RMSprop

    if name == "sgd":
        return SGD(params, lr=lr)
    if name == "momentum":
        return SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return Adam(params, lr=lr)
    if name == "adamw":
        return AdamW(params, lr=lr)
    if name == "rmsprop":
        return RMSprop(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")  # argparse's choices make this unreachable


def _describe_optimizer(optimizer: Any) -> str:
    """``SGD(lr=0.01)``: the hyperparameters that differ from off (0 or False)."""
    hyper = optimizer._hyper() if hasattr(optimizer, "_hyper") else {"lr": optimizer.lr}
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in hyper.items() if k == "lr" or v not in (0, False))
    return f"{type(optimizer).__name__}({shown})"


def _prepare_run_dir(out: str | None, dataset_name: str) -> tuple[Path, bool]:
    """The run folder, created now so a bad path fails before training.

    Returns the folder and whether this call created it. Without ``--out`` it
    is ``runs/<dataset>-<timestamp>``, with ``-2``, ``-3``, ... appended when a
    run started in the same second already took the name.
    """
    with _user_input():
        if out is not None:
            path = Path(out)
            if path.exists() and not path.is_dir():
                raise CliError(f"--out {out}: exists and is not a directory")
            created = not path.exists()
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CliError(
                    f"--out {out}: cannot create the folder ({_os_error_message(exc)})"
                ) from None
            return path, created
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(dataset_name).stem) or "run"
        base = Path(RUNS_DIR)
        base.mkdir(parents=True, exist_ok=True)
        name = f"{stem}-{_timestamp()}"
        for n in range(1, 10_000):
            path = base / (name if n == 1 else f"{name}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path, True
    raise CliError(f"could not find a free run folder name under {base}/")


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _write_plots(
    run_dir: Path, history: Any, y_test: np.ndarray, y_pred: np.ndarray, dataset: Any,
    results: dict[str, Any],
) -> dict[str, str]:
    from .plots import plot_confusion_matrix, plot_loss

    written = {}
    if history.loss:
        plot_loss(
            history.loss, history.history.get("val_loss"),
            title=f"{dataset.name}: training loss per epoch", path=run_dir / LOSS_PLOT,
        )
        written["loss_plot"] = LOSS_PLOT
    else:  # interrupted before the first epoch ended: no curve, and no stale one from --out
        (run_dir / LOSS_PLOT).unlink(missing_ok=True)
    plot_confusion_matrix(
        y_test, y_pred, dataset.classes,
        title=f"{dataset.name}: test accuracy {results['accuracy']:.3f}",
        path=run_dir / CONFUSION_PLOT,
    )
    written["confusion_matrix_plot"] = CONFUSION_PLOT
    return written


# --------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``fcnn evaluate MODEL``: accuracy and report on a dataset."""
    from .datasets import EMBEDDED, load_dataset, load_features_csv, train_test_split
    from .training import predict

    model, meta = _load_model(args.model)
    source = args.dataset
    if source is None:
        trained_on = meta.get("dataset")
        source = trained_on if trained_on in EMBEDDED else meta.get("dataset_path")
        if source is None:
            raise CliError(
                f"{args.model} does not record its dataset; pass --dataset NAME|PATH.csv"
            )
    key = str(source).strip().lower().replace("-", "_")
    is_embedded = key in EMBEDDED
    target = args.target
    if target is None and not is_embedded:
        target = _saved_target(meta, Path(source))
    with _user_input():
        dataset = load_dataset(source, target)
        feature_names = meta.get("feature_names")
        X = dataset.X
        if feature_names is not None and list(feature_names) != dataset.feature_names:
            if is_embedded:
                raise CliError(
                    f"the model was trained on {len(feature_names)} features "
                    f"({', '.join(map(str, feature_names))}) but {dataset.name} has "
                    f"{dataset.n_features} ({', '.join(dataset.feature_names)})"
                )
            X = load_features_csv(source, feature_names)
    _check_n_features(model, X.shape[1], dataset.name)
    code_of = _codes_in_model(dataset, meta, model)
    y = dataset.y

    same_data = (
        (is_embedded and meta.get("dataset") == dataset.name)
        or (not is_embedded and meta.get("dataset_sha256") == _sha256(Path(source)))
    )
    split = meta.get("split")
    recorded = isinstance(split, dict) and {"seed", "test_size"} <= split.keys()
    if same_data and recorded and not args.all_samples:
        with _user_input():
            parts = train_test_split(
                X, y, test_size=split["test_size"], seed=split["seed"],
                stratify=bool(split.get("stratify", True)),
            )
        X, y = parts.X_test, parts.y_test
        where = (
            f"the test split of {dataset.name} ({len(y)} of {dataset.n_samples} samples, "
            f"seed {split['seed']}, test size {split['test_size']}), as in training"
        )
    else:
        where = f"all {len(y)} samples of {dataset.name}"
    X = _standardized(X, meta)
    y_pred = predict(model, X).argmax(axis=1)
    results = _classification_results(code_of[y], y_pred, _class_names(meta, model))
    print(f"evaluating {args.model} on {where}")
    print(f"accuracy: {results['accuracy']:.4f} ({results['n_correct']}/{len(y)})")
    print()
    print(results["report_text"].rstrip())
    return 0


def _saved_target(meta: dict[str, Any], path: Path) -> str | None:
    """The training run's label column when ``path`` has it, else None (the last column)."""
    target = meta.get("target")
    if not isinstance(target, str) or not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next((row for row in csv.reader(handle, skipinitialspace=True) if row), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return None  # load_dataset reports what is wrong with the file
    return target if target in [cell.strip() for cell in header] else None


def _codes_in_model(dataset: Any, meta: dict[str, Any], model: Any) -> np.ndarray:
    """``code_of[k]``: the model's class code of the dataset's class code ``k``."""
    names = meta.get("classes")
    if names is None:
        n_out = _n_outputs(model)
        if dataset.n_classes > n_out:
            raise CliError(
                f"{dataset.name} has {dataset.n_classes} classes but the model predicts {n_out}"
            )
        return np.arange(dataset.n_classes)
    names = list(names)
    missing = [c for c in dataset.classes if c not in names]
    if missing:
        raise CliError(
            f"{dataset.name} has label(s) {missing!r} that are not among the model's classes "
            f"{names!r}"
        )
    return np.array([names.index(c) for c in dataset.classes], dtype=np.intp)


# --------------------------------------------------------------------------- predict


def cmd_predict(args: argparse.Namespace) -> int:
    """``fcnn predict MODEL INPUT.csv``: class and probabilities per row."""
    from .datasets import load_features_csv
    from .losses import softmax
    from .training import predict

    model, meta = _load_model(args.model)
    feature_names = meta.get("feature_names")
    with _user_input():
        X = load_features_csv(args.input, feature_names)
    _check_n_features(model, X.shape[1], args.input)
    X = _standardized(X, meta)
    probabilities = softmax(predict(model, X).astype(np.float64))
    names = _class_names(meta, model)
    codes = probabilities.argmax(axis=1)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["prediction", *(f"p_{name}" for name in names)])
    for code, row in zip(codes, probabilities, strict=True):
        writer.writerow([names[code], *(f"{p:.6f}" for p in row)])
    if args.output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        with _user_input():
            Path(args.output).write_text(buffer.getvalue(), encoding="utf-8")
        print(f"wrote {len(codes)} predictions to {args.output}")
    return 0


# --------------------------------------------------------------------------- model files


def _load_model(path: str) -> tuple[Any, dict[str, Any]]:
    from .serialization import load

    with _user_input():
        if not Path(path).exists():
            raise CliError(f"{path}: no such model file")
        model = load(path)
    meta = getattr(model, "metadata", None) or {}
    if _n_outputs(model) is None:
        raise CliError(f"{path} holds no Linear layer, so it is not a classifier")
    return model, meta


def _n_outputs(model: Any) -> int | None:
    from .layers import Linear

    layers = getattr(model, "layers", [model])
    linears = [layer for layer in layers if isinstance(layer, Linear)]
    return linears[-1].out_features if linears else None


def _n_inputs(model: Any) -> int:
    from .layers import Linear

    layers = getattr(model, "layers", [model])
    return next(layer.in_features for layer in layers if isinstance(layer, Linear))


def _check_n_features(model: Any, n_features: int, source: str) -> None:
    expected = _n_inputs(model)
    if n_features != expected:
        raise CliError(f"{source} has {n_features} feature columns but the model takes {expected}")


def _class_names(meta: dict[str, Any], model: Any) -> list[Any]:
    names = meta.get("classes")
    n_out = _n_outputs(model)
    if names is None or len(names) != n_out:
        return list(range(n_out or 0))
    return list(names)


def _standardized(X: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    from .datasets import standardize

    if meta.get("mean") is None:
        return X
    with _user_input():
        return standardize(X, meta.get("mean"), meta.get("scale"))


def _classification_results(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]
) -> dict[str, Any]:
    """Accuracy, confusion matrix (rows true, columns predicted) and sklearn's report."""
    from sklearn.metrics import classification_report, confusion_matrix

    labels = np.arange(len(classes))
    names = [str(c) for c in classes]
    kwargs = {"labels": labels, "target_names": names, "zero_division": 0}
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "n_correct": int(np.sum(y_true == y_pred)),
        "confusion_matrix": {
            "classes": list(classes),
            "rows": "true class",
            "columns": "predicted class",
            "matrix": matrix.tolist(),
        },
        "report": classification_report(y_true, y_pred, output_dict=True, **kwargs),
        "report_text": classification_report(y_true, y_pred, digits=3, **kwargs),
    }


# --------------------------------------------------------------------------- gradcheck


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """``fcnn gradcheck``: every layer, every loss and a small network, checked numerically."""
    import warnings

    from .gradcheck import check_layer
    from .layers import Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
    from .losses import MSELoss, NLLLoss
    from .network import mlp

    dtype = np.dtype(args.dtype)
    eps, default_rtol = GRADCHECK[args.dtype]
    rtol = args.rtol if args.rtol is not None else default_rtol
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 4)).astype(dtype)
    logits = rng.standard_normal((5, 3)).astype(dtype)
    labels = np.array([0, 2, 1, 1, 0])
    targets = rng.standard_normal((5, 3)).astype(dtype)
    subjects: list[tuple[str, Any, np.ndarray, Any]] = [
        ("Linear(4, 3)", Linear(4, 3, rng=1, dtype=dtype), X, None),
        ("ReLU", ReLU(), X, None),
        ("LeakyReLU(0.1)", LeakyReLU(0.1), X, None),
        ("Sigmoid", Sigmoid(), X, None),
        ("Tanh", Tanh(), X, None),
        ("Dropout(0.5)", Dropout(0.5, rng=2), X, None),
        ("NLLLoss", NLLLoss(), logits, labels),
        ("MSELoss(mean)", MSELoss("mean"), logits, targets),
        ("MSELoss(sum)", MSELoss("sum"), logits, targets),
        ("mlp 4-6-5-3 relu", mlp([4, 6, 5, 3], rng=3, dtype=dtype), X, None),
        ("mlp 4-6-5-3 tanh+dropout", mlp([4, 6, 5, 3], "tanh", dropout=0.2, rng=4, dtype=dtype),
         X, None),
    ]
    print(f"gradient check in {args.dtype}: central differences (eps {eps:g}) against "
          f"backward; relative error threshold {rtol:g}")
    header = f"{'subject':<26} {'tensors':>7} {'max |a-n|':>11} {'rel error':>11}  result"
    print(header)
    print("-" * len(header))
    failed = []
    for name, subject, inputs, target in subjects:
        with warnings.catch_warnings():
            # the float32 caveat is what the per-dtype eps and threshold are for
            warnings.simplefilter("ignore", UserWarning)
            report = check_layer(subject, inputs, target, eps=eps)
        ok = report.passed(rtol)
        if not ok:
            failed.append(name)
        print(f"{name:<26} {len(report.rows):>7} {report.max_abs_deviation:>11.2e} "
              f"{report.max_relative_error:>11.2e}  {'OK' if ok else 'FAIL'}")
        if args.verbose:
            for row in report.rows:
                print(f"  {row.name:<24} {row.shape!s:>7} {row.max_abs_deviation:>11.2e} "
                      f"{row.relative_error:>11.2e}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print(f"all {len(subjects)} passed")
    return 0


# --------------------------------------------------------------------------- trajectory


def cmd_trajectory(args: argparse.Namespace) -> int:
    """``fcnn trajectory``: the lab's optimizer path on the bowl, as an image."""
    from .plots import optimizer_path, plot_optimizer_path

    points = optimizer_path(
        lambda params: _make_optimizer(args.optimizer, params, args.lr), steps=args.steps
    )
    title = (f"{_OPTIMIZER_NAMES[args.optimizer]}, lr {args.lr:g}: {args.steps} steps on "
             "$(x-3)^2 + (y-5)^2$")
    with _user_input():
        out = Path(args.out)
        if out.is_dir():
            raise CliError(f"--out {args.out}: is a directory; give a file name such as path.png")
        if not np.isfinite(points).all():
            raise CliError(f"the path diverged with --lr {args.lr:g}; try a smaller one")
        plot_optimizer_path(points, title=title, path=out)
    x, y = points[-1]
    print(f"wrote {out}: {args.steps} steps of {args.optimizer} at lr {args.lr:g} from (0, 0); "
          f"last point ({x:.6g}, {y:.6g}), the minimum is (3, 5)")
    start_distance = math.hypot(3.0, 5.0)
    if math.hypot(x - 3.0, y - 5.0) > start_distance:
        print(f"note: the path ends farther from the minimum than it started; lr {args.lr:g} "
              "is too large for this bowl")
    return 0


# --------------------------------------------------------------------------- helpers


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _user_input(), path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"fcnn": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for package in ("scikit-learn", "matplotlib", "safetensors", "tqdm"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_json(value: Any, indent: int = 0) -> str:
    """JSON, indented, with each list of numbers or strings on one line (so a
    2000-epoch loss curve is one line, not 2000)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(str(k))}: {_to_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
        pad = " " * (indent + 2)
        items = [pad + _to_json(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(value, default=_json_default)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = _to_json(data)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
