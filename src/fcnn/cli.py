"""The ``fcnn`` command line: ``train``, ``evaluate``, ``predict``, ``summary``, ``export``,
``gradcheck``, ``trajectory``. Thin: each command parses its flags, calls one library function, prints.

``fcnn train`` with no flags is the lab's run: Iris, a stratified 80/20 split,
a 4-100-100-3 ReLU network, NLLLoss, SGD at lr 0.01, batches of 32, 2000
epochs, seed 0. Any other dataset gets the tabular defaults of
:mod:`fcnn.runner` (standardized features, Adam, early stopping, an epoch cap
that fits the data), printed at the start; every flag overrides them.

Exit codes: 0 success (also a run that learned nothing: it ends with a
warning); 1 a result rather than a usage problem (a gradient check failed,
training diverged, a warning under ``--strict``); 2 a bad argument, path or
file, reported as one line ``fcnn: error: ...`` on stderr, never a traceback;
130 interrupted (``fcnn train`` still writes the run folder with what was
learned). ``fcnn`` with no command prints the help and exits 0.

Only argparse and NumPy are imported at start-up; pandas, scikit-learn,
matplotlib, tqdm and safetensors are imported by the library functions that
need them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._version import __version__
from .errors import DivergenceError, FcnnError

__all__ = ["build_parser", "main"]

PROG = "fcnn"

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
_probability = _number(float, lambda v: 0 <= v < 1, "a probability in [0, 1)")


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


def _columns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _scheduler_spec(text: str) -> str:
    """``--scheduler``: checked by ``fcnn.runner.parse_scheduler`` (the forms in its message)."""
    from .runner import RunError, parse_scheduler

    try:
        parse_scheduler(text)
    except RunError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
    return text.strip()


def _comma_names(text: str, known: Sequence[str], kind: str, twice: str = "") -> list[str]:
    """``a,b,c`` -> ``["a", "b", "c"]``, each one of ``known`` and given once."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected {kind} names separated by commas, from "
                                         f"{', '.join(known)}; got {text!r}")
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown {kind} {name!r}; choose from "
                                             f"{', '.join(known)}")
        if names.count(name) > 1:
            raise argparse.ArgumentTypeError(f"{name!r} is given twice{twice}")
    return names


def _metric_names(text: str) -> tuple[str, ...]:
    """``--metrics accuracy,f1_macro``: names from fcnn.metrics."""
    from .metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

    return tuple(_comma_names(text, [*CLASSIFICATION_METRICS, *REGRESSION_METRICS], "metric"))


def _trajectory_optimizers(text: str) -> list[str]:
    """``--optimizer sgd,adam``: names from fcnn.trajectory.OPTIMIZERS, each once."""
    from .trajectory import OPTIMIZERS

    return _comma_names(text, list(OPTIMIZERS), "optimizer", " (each draws one path)")


def _separator(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(text.lower(), text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(
            f"expected one character or tab/comma/semicolon/pipe, got {text!r}")
    return value


# --------------------------------------------------------------------------- parser


def _train_options() -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """``fcnn train``'s flags: one row each; ``dest`` is the RunConfig field it sets.

    Every flag defaults to "not given" (argparse.SUPPRESS), so the RunConfig's
    own default (often "the profile decides") applies unless the flag is there.
    """
    from .data import MISSING
    from .init import INITIALIZERS
    from .registry import ACTIVATIONS
    from .runner import PROFILES, SCHEDULERS, loss_names, optimizer_names

    return [
        (("--dataset",), dict(metavar="NAME|PATH", help="an embedded dataset (iris, wine, "
         "breast_cancer, digits) or a data file: .csv/.txt (delimiter detected), .tsv, "
         "compressed .gz/.bz2/.xz/.zip, .parquet (default: iris)")),
        (("--target",), dict(metavar="COL", help="the target column (default: a column named "
         "target/label/class/y/species/outcome, else the last one)")),
        (("--drop",), dict(type=_columns, metavar="COL[,COL...]", help="columns to leave out")),
        (("--sep",), dict(type=_separator, metavar="CHAR", help="the delimiter of a text file "
         "(default: detected among , ; tab |)")),
        (("--missing",), dict(choices=MISSING, help="missing values: stop with an error "
         "(default), drop the rows, or fill with the training rows' mean/median/most frequent")),
        (("--task",), dict(choices=("auto", "classification", "regression"), help="auto "
         "(default): text or a few integers are classes, other numbers regression")),
        (("--keep-id",), dict(action="store_true", help="keep columns that look like row "
         "identifiers (unique increasing integers) as features")),
        (("--defaults",), dict(choices=PROFILES, help="auto (default): the lab's settings for "
         "the embedded iris, the tabular ones for anything else")),
        (("--hidden",), dict(type=_hidden_sizes, metavar="W1,W2,...", help="hidden layer "
         "widths ('' for none; lab: 100,100, tabular: 100)")),
        (("--activation",), dict(choices=sorted(ACTIVATIONS), help="hidden activation "
         "(default: relu)")),
        (("--norm",), dict(choices=("batch", "layer"), help="a BatchNorm1d or LayerNorm after "
         "each hidden Linear (default: none)")),
        (("--dropout",), dict(type=_probability, metavar="P", help="dropout after each hidden "
         "activation (default: 0)")),
        (("--init",), dict(choices=sorted(INITIALIZERS), metavar="NAME", help="weight "
         "initializer: " + ", ".join(sorted(INITIALIZERS)) + " (default: PyTorch's)")),
        (("--loss",), dict(choices=sorted(loss_names()), help="classification: nll (= "
         "crossentropy, default); regression: mse (default), huber, l1")),
        (("--optimizer",), dict(choices=sorted(optimizer_names()), help="momentum is SGD with "
         "momentum 0.9 (lab: sgd, tabular: adam)")),
        (("--lr",), dict(type=_positive_float, help="learning rate (lab: 0.01, tabular: 0.001)")),
        (("--epochs",), dict(type=_positive_int, help="passes over the data (lab: 2000, "
         "tabular: ~10,000 steps' worth, 20 to 1000)")),
        (("--batch-size",), dict(type=_positive_int, metavar="N", help="samples per step "
         "(lab: 32, tabular: rows/20 within 16..200)")),
        (("--test-size",), dict(type=_fraction, metavar="FRACTION", help="share held out for "
         "testing, stratified for classes (default: 0.2)")),
        (("--seed",), dict(type=_non_negative_int, help="seed of the split, the initial weights "
         "and the shuffling (default: 0)")),
        (("--standardize",), dict(action=argparse.BooleanOptionalAction, help="a Standardize "
         "layer in front of the network, from the training rows' statistics (lab: off, "
         "tabular: on)")),
        (("--standardize-target",), dict(action=argparse.BooleanOptionalAction, help="train a "
         "regression on the standardized target, undone at predict time (tabular: on)")),
        (("--dtype",), dict(choices=("float32", "float64"), help="floating-point type of "
         "weights and data (default: float64)")),
        (("--early-stopping",), dict(type=_non_negative_int, metavar="PATIENCE", help="hold out "
         "10%% of the training part and stop when its loss has not improved for PATIENCE "
         "epochs, keeping the best weights; 0 turns it off (lab: off, tabular: 20)")),
        (("--scheduler",), dict(type=_scheduler_spec, metavar="SPEC", help="a learning-rate "
         "schedule: " + "; ".join(f"{syntax} = {what}" for syntax, what in SCHEDULERS.values())
         + " (default: none, a constant --lr)")),
        (("--warmup",), dict(type=_non_negative_int, metavar="EPOCHS", help="a linear warm-up "
         "from 0.1 x --lr to --lr over EPOCHS epochs (LinearLR), before --scheduler if given "
         "(SequentialLR)")),
        (("--clip-grad-norm",), dict(type=_positive_float, metavar="X", help="rescale the "
         "gradients to a total L2 norm of at most X before each step (clip_grad_norm_)")),
        (("--clip-grad-value",), dict(type=_positive_float, metavar="X", help="clamp each "
         "gradient to [-X, X] before each step (clip_grad_value_)")),
        (("--class-weight",), dict(metavar="balanced|CLASS=W[,CLASS=W...]", help="weigh the "
         "classes in the loss: balanced (n_samples / (n_classes * its count), as scikit-learn's) "
         "or a weight per class name (e.g. setosa=2,virginica=0.5; unnamed classes weigh 1)")),
        (("--metrics",), dict(type=_metric_names, metavar="NAME[,NAME...]", help="metrics "
         "logged per epoch on the training and validation data: accuracy, balanced_accuracy, "
         "f1_macro (classification; default accuracy), mae, rmse, r2 (regression)")),
        (("--checkpoint-every",), dict(type=_number(float, lambda v: math.isfinite(v) and v >= 0,
                                                    "a number of seconds >= 0"),
         metavar="SECONDS", help="how often the run folder's checkpoint.safetensors (for "
         "--resume) is refreshed; 0 after every epoch (default: 2)")),
        (("--resume",), dict(metavar="RUN_DIR", help="continue the run in RUN_DIR (its "
         "checkpoint.safetensors and settings) to --epochs in total; only --epochs, "
         "--no-progress and --strict go with it")),
        (("--out",), dict(metavar="DIR", help="the run folder (default: runs/<dataset>-<time>); "
         "existing files in it are replaced")),
        (("--no-progress",), dict(action="store_false", dest="progress", help="no progress bar")),
        (("--strict",), dict(action="store_true", help="exit 1 when the run ends with a "
         "warning (a model that learned nothing)")),
    ]


def build_parser() -> argparse.ArgumentParser:
    """The ``fcnn`` argument parser with its seven commands."""
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
        "train", help="train a network and write a run folder (no flags: the lab's Iris run)",
        description="Train a classifier or a regression and write model.safetensors, "
        "metrics.json and plots into a run folder. With no flags: the lab's run (Iris, "
        "stratified 80/20 split, 4-100-100-3 ReLU, NLLLoss, SGD lr 0.01, batch 32, 2000 "
        "epochs, seed 0). Any other dataset: standardized features, Adam, early stopping "
        "and an epoch cap that fits the data, printed at the start; flags override.",
    )
    for flags, kwargs in _train_options():
        train.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", help="score a saved model (its test split, or any labelled data)",
        description="Evaluate a saved model. On the dataset it was trained on, only the test "
        "split is used (recreated from the seed saved with the model); a training file that "
        "changed since is refused without --all; on other data, every row.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by fcnn train")
    evaluate.add_argument("--dataset", metavar="NAME|PATH",
                          help="an embedded dataset or a data file (default: the training data)")
    evaluate.add_argument("--target", metavar="COL",
                          help="the label column (default: the model's target column)")
    evaluate.add_argument("--sep", type=_separator, metavar="CHAR", help="the delimiter")
    evaluate.add_argument("--all", action="store_true", dest="all_samples",
                          help="evaluate on every row, even of the training dataset")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser(
        "predict", help="predict each row of a data file",
        description="Read the model's feature columns (by name; other columns such as a "
        "label are ignored) from INPUT, encode them as in training (categories, missing "
        "values, standardization), and write one row per sample: the class and the "
        "probability of each class, or the predicted value.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file written by fcnn train")
    predict.add_argument("input", metavar="INPUT", help="a data file with a header row")
    predict.add_argument("-o", "--output", metavar="OUT.csv",
                         help="write here instead of standard output")
    predict.add_argument("--sep", type=_separator, metavar="CHAR", help="the delimiter")
    predict.set_defaults(handler=cmd_predict)

    summary = commands.add_parser(
        "summary", help="the layers of a saved model and what it was trained on",
        description="Print a model file's layers (shapes, parameters) and its metadata: "
        "task, classes, feature columns and categories, standardization, training data.",
    )
    summary.add_argument("model", metavar="MODEL", help="a model file")
    summary.set_defaults(handler=cmd_summary)

    gradcheck = commands.add_parser(
        "gradcheck", help="check every registered layer's and loss's gradients numerically",
        description="Compare the analytical gradients of every registered layer and loss (and "
        "two small networks) with central differences. Prints the max absolute deviation and "
        "the relative error; exits 1 if any relative error is above the threshold.",
    )
    gradcheck.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                           help="check in this dtype (default: float64, threshold 1e-7; "
                           "float32: step 1e-3, threshold 1e-3)")
    gradcheck.add_argument("--rtol", type=_positive_float, metavar="TOL",
                           help="the relative-error threshold (default: per dtype)")
    gradcheck.add_argument("-v", "--verbose", action="store_true",
                           help="one row per checked tensor")
    gradcheck.set_defaults(handler=cmd_gradcheck)

    export = commands.add_parser(
        "export", help="write a saved model as ONNX or as a PyTorch state_dict",
        description="Convert a model file: ONNX (for onnxruntime and other runtimes) or "
        "PyTorch-layout safetensors (torch_model.load_state_dict). The format follows the "
        "file name (.onnx; .safetensors/.pt/.pth) unless --format says.",
    )
    export.add_argument("model", metavar="MODEL", help="a model file written by fcnn train")
    export.add_argument("-o", "--out", required=True, metavar="OUT",
                        help="the file to write, e.g. model.onnx")
    export.add_argument("--format", choices=("onnx", "torch"),
                        help="onnx or torch (default: from OUT's suffix)")
    export.add_argument("--output", choices=("logits", "proba", "both"), default="logits",
                        help="ONNX: the graph's outputs (default: logits)")
    export.add_argument("--opset", type=_positive_int, metavar="N",
                        help="ONNX: the opset version (default: the exporter's)")
    export.set_defaults(handler=cmd_export)

    trajectory = commands.add_parser(
        "trajectory", help="plot optimizers' paths on the lab's bowl or a harder surface",
        description="The lab's optimizer experiment, taken further: minimise a function of "
        "(x, y) with one or several optimizers and draw their paths over its contour lines. "
        "With no flags: 50 SGD steps at lr 0.1 from (0, 0) on (x-3)^2 + (y-5)^2.",
    )
    trajectory.add_argument("--out", default="trajectory.png", metavar="PATH",
                            help="the image to write (default: trajectory.png)")
    trajectory.add_argument("--optimizer", type=_trajectory_optimizers, default=["sgd"],
                            metavar="NAME[,NAME...]",
                            help="optimizers, one path each: sgd, momentum, nesterov, adam, "
                            "adamw, rmsprop, adagrad (default: sgd)")
    trajectory.add_argument("--function", choices=("bowl", "elongated", "rosenbrock"),
                            default="bowl", help="bowl: the lab's (x-3)^2 + (y-5)^2; elongated: "
                            "0.1 x^2 + 2 y^2; rosenbrock: (1-x)^2 + 100 (y-x^2)^2")
    trajectory.add_argument("--lr", type=_positive_float, default=None,
                            help="one learning rate for all (default: each optimizer's own "
                            "for the function; sgd on the bowl: 0.1)")
    trajectory.add_argument("--steps", type=_positive_int, default=None,
                            help="steps (default: 50; rosenbrock 2000)")
    trajectory.set_defaults(handler=cmd_trajectory)
    return parser


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fcnn`` command line; returns the exit code.

    ``argv`` defaults to ``sys.argv[1:]``. Usage errors and bad inputs print
    one line ``fcnn: error: ...`` on stderr and return 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        args.argv = argv
        return int(args.handler(args))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except DivergenceError as exc:
        _error(str(exc))
        return 1
    except (CliError, FcnnError) as exc:
        _error(str(exc))
        return 2
    except ImportError as exc:
        # an optional extra that is not installed (`fcnn export` without onnx, say): one
        # line saying what to install, not a traceback
        missing = exc if isinstance(exc, ModuleNotFoundError) else exc.__cause__
        if not isinstance(missing, ModuleNotFoundError):
            raise
        _error(str(exc) if exc is not missing else
               f"this needs the {missing.name!r} package, which is not installed: pip install "
               f"{missing.name}")
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


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {' '.join(message.split())}", file=sys.stderr)


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
    """``fcnn train``: the flags given become a RunConfig; ``fcnn.run`` does the rest."""
    import dataclasses

    from . import runner as runs

    fields = {f.name for f in dataclasses.fields(runs.RunConfig)} - {"command"}
    if "resume" in vars(args):
        others = sorted(k for k in vars(args) if k in fields
                        and k not in ("resume", "epochs", "progress", "strict", "checkpoint_every"))
        if others:
            flags = ", ".join("--" + k.replace("_", "-") for k in others)
            raise CliError(f"--resume continues the run with its own settings; only --epochs, "
                           f"--no-progress, --strict and --checkpoint-every go with it (got {flags})")
    config = runs.RunConfig(**{k: v for k, v in vars(args).items() if k in fields},
                            command=[PROG, *args.argv])
    try:
        with _user_input():
            outcome = runs.run(config, log=_say)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted before the run folder was written; nothing was saved "
              "(Ctrl-C during training keeps what was learned, before it there is nothing)",
              file=sys.stderr)
        return 130
    _print_outcome(outcome)
    return outcome.exit_code


def _say(line: str) -> None:
    print(line, flush=True)


def _print_outcome(outcome: Any) -> None:
    history, settings, metrics = outcome.history, outcome.settings, outcome.metrics
    if history.interrupted:
        print(f"interrupted after {history.epochs} of {settings.epochs} epochs: the run folder "
              "holds what was learned so far")
    stop = ""
    if history.stopped_early:
        stop = f" (stopped early; best epoch {history.best_epoch}, its weights kept)"
    elif history.restored_best_weights:
        stop = f" (best epoch {history.best_epoch}, its weights kept)"
    final = f"; final train loss {history.loss[-1]:.4f}" if history.loss else ""
    print(f"trained {history.epochs} epochs in {history.wall_time:.1f} s{stop}{final}")
    if settings.task == "classification":
        print(f"test accuracy: {metrics['accuracy']:.4f} ({metrics['n_correct']}/"
              f"{metrics['n_test']})")
        print()
        print(outcome.report.rstrip())
    else:
        print(f"test R²: {metrics['r2']:.4f}  MAE: {metrics['mae']:.4g}  RMSE: "
              f"{metrics['rmse']:.4g} ({metrics['n_test']} samples)")
    for message in outcome.warnings:
        _warn(message)
    if outcome.folder is not None:
        print()
        print(f"run folder: {outcome.folder}")
        print("  " + "  ".join(v for k, v in outcome.files.items()))
        print(f"predict with: {PROG} predict {outcome.folder / 'model.safetensors'} INPUT")
        if history.interrupted and "checkpoint" in outcome.files:
            print(f"continue with: {PROG} train --resume {outcome.folder} --epochs "
                  f"{settings.epochs}")


# --------------------------------------------------------------------------- evaluate, predict


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``fcnn evaluate MODEL``: the scores on the test split or on other data."""
    from .inference import evaluate_saved

    with _user_input():
        result = evaluate_saved(args.model, args.dataset, target=args.target,
                                all_rows=args.all_samples, sep=args.sep)
    print(f"evaluating {args.model} on {result['where']}")
    if result["task"] == "regression":
        print(f"R²: {result['r2']:.4f}  MAE: {result['mae']:.4g}  RMSE: {result['rmse']:.4g}")
        return 0
    print(f"accuracy: {result['accuracy']:.4f} ({result['n_correct']}/{result['n']})")
    print()
    print(result["report_text"].rstrip())
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``fcnn predict MODEL INPUT``: one output row per input row."""
    from .inference import predict_saved

    with _user_input():
        header, rows = predict_saved(args.model, args.input, sep=args.sep)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.6f}" if isinstance(v, float) and i else _cell(v)
                         for i, v in enumerate(row)])
    if args.output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        with _user_input():
            Path(args.output).write_text(buffer.getvalue(), encoding="utf-8")
        print(f"wrote {len(rows)} predictions to {args.output}")
    return 0


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- summary


def cmd_summary(args: argparse.Namespace) -> int:
    """``fcnn summary MODEL``: layers, then what the metadata says about the data."""
    from .inference import load_saved

    with _user_input():
        saved = load_saved(args.model)
    meta = saved.meta
    print(saved.model.summary())
    print()
    print(f"task: {saved.task}")
    if saved.task == "multilabel":
        print(f"labels ({len(saved.classes)}): {', '.join(map(str, saved.classes))}")
    elif saved.task == "classification":
        print(f"classes ({len(saved.classes)}): {', '.join(map(str, saved.classes))}")
    else:
        scaling = meta.get("target_scaling")
        if scaling:
            print(f"target scaling: predictions * {scaling['scale']:.6g} + {scaling['mean']:.6g}")
    if meta.get("target") is not None:
        print(f"target column: {meta['target']}")
    columns = meta.get("columns") or meta.get("feature_names")
    if columns is not None:
        print(f"feature columns ({len(columns)}): {', '.join(map(str, columns))}")
    encoder = meta.get("encoder") or {}
    for spec in encoder.get("columns", []):
        if spec.get("kind") == "category":
            print(f"  {spec['name']}: one-hot over {', '.join(spec['categories'])}")
    if encoder:
        print(f"missing values: {encoder.get('missing', 'error')}")
    print(f"standardization: {saved.standardization}")
    if meta.get("dataset") is not None:
        print(f"trained on: {meta.get('dataset_path') or meta['dataset']}")
    for key, label in (("test_accuracy", "test accuracy"), ("test_r2", "test R²")):
        if key in meta:
            print(f"{label}: {meta[key]:.4f}")
    return 0


# --------------------------------------------------------------------------- gradcheck


def _gradcheck_subjects(dtype: np.dtype) -> tuple[list[tuple[str, Any, Any, Any]], list[str]]:
    """(name, subject, X, target) for every registered layer and loss and two networks,
    and a note for each registered class without a working ``example``."""
    from .network import mlp
    from .registry import LAYERS, LOSSES

    rng = np.random.default_rng(0)
    subjects, skipped = [], []
    for name, cls in LAYERS.items():
        try:
            layer = cls.example(4, dtype=dtype, rng=1)
            X = rng.standard_normal((5, int(getattr(layer, "in_features", None) or 4)))
            subjects.append((name, layer, X.astype(dtype), None))
        except Exception as exc:  # a third-party layer's example: report, do not crash
            skipped.append(f"{name} (layer): no working example(4, dtype=, rng=) ({exc})")
    for name, cls in LOSSES.items():
        example = getattr(cls, "example", None)
        try:
            if example is None:
                raise AttributeError("no example classmethod")
            loss, pred, target = example(np.random.default_rng(2), dtype)
            subjects.append((name, loss, pred, target))
        except Exception as exc:
            skipped.append(f"{name} (loss): no working example(rng, dtype) ({exc})")
    subjects.append(("mlp 4-6-5-3 relu", mlp([4, 6, 5, 3], rng=3, dtype=dtype),
                     rng.standard_normal((5, 4)).astype(dtype), None))
    subjects.append(("mlp 4-6-5-3 tanh+dropout",
                     mlp([4, 6, 5, 3], "tanh", dropout=0.2, rng=4, dtype=dtype),
                     rng.standard_normal((5, 4)).astype(dtype), None))
    return subjects, skipped


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """``fcnn gradcheck``: every registered layer and loss and two networks, numerically."""
    from .gradcheck import check_layer

    dtype = np.dtype(args.dtype)
    eps, default_rtol = GRADCHECK[args.dtype]
    rtol = args.rtol if args.rtol is not None else default_rtol
    subjects, skipped = _gradcheck_subjects(dtype)
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
    for note in skipped:
        print(f"skipped {note}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print(f"all {len(subjects)} passed" + (f" ({len(skipped)} skipped)" if skipped else ""))
    return 0


# --------------------------------------------------------------------------- trajectory


def cmd_trajectory(args: argparse.Namespace) -> int:
    """``fcnn trajectory``: optimizers' paths on a surface, as an image, and how close each got."""
    from .trajectory import FUNCTIONS, distance_lines, run_trajectory

    with _user_input():
        if Path(args.out).is_dir():
            raise CliError(f"--out {args.out}: is a directory; give a file name such as path.png")
        out, distances = run_trajectory(args.optimizer, args.function, Path(args.out),
                                        args.steps, args.lr)
    surface = FUNCTIONS[args.function]
    (x0, y0), (mx, my) = surface.start, surface.minimum
    print(f"wrote {out}: {', '.join(distances)} on {args.function} from ({x0:g}, {y0:g}); "
          f"the minimum is ({mx:g}, {my:g})")
    for line in distance_lines(distances, args.function, args.steps, args.lr):
        print(line)
    return 0


# --------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    """``fcnn export MODEL -o OUT``: ONNX or a PyTorch-layout state_dict."""
    from .export import cli_export

    with _user_input():
        if not Path(args.model).exists():
            raise CliError(f"{args.model}: no such model file")
        suffix = Path(args.out).suffix.lower()
        if args.format is None and suffix not in (".onnx", ".safetensors", ".pt", ".pth"):
            raise CliError(f"-o {args.out}: cannot tell the format from the file name; name it "
                           "*.onnx or *.safetensors, or pass --format onnx|torch")
        line = cli_export(args.model, args.out, format=args.format, output=args.output,
                          opset=args.opset)
    print(line)
    return 0
