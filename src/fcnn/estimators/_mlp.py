"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's MLPs, the same numbers, faster.

The control flow is scikit-learn's ``BaseMultilayerPerceptron`` (1.9), step for
step: the same validation, the same draws from ``check_random_state``
(Glorot-uniform weights layer by layer, the early-stopping split through
``train_test_split``, one ``RandomState.shuffle`` per epoch composed with the
previous order), the same losses, L2 term, optimizers, stopping rule,
messages and warnings. The arithmetic runs in ``_engine.Engine`` on
preallocated buffers. See docs/estimators.md for the differences that remain.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from itertools import chain
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._validation import as_float_array
from ..errors import DivergenceError
from ..registry import ACTIVATIONS as REGISTERED_ACTIVATIONS
from . import _engine
from ._engine import SGD, Adam, Engine

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ["sgd", "adam"]
_GATHER_BYTES = 256 * 2**20
#: scikit-learn's hidden activations; fcnn's registered ones (fcnn.registry.ACTIVATIONS) come on top.
SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def _dtype_options() -> list[Any]:
    return [
        None,
        StrOptions({"float32", "float64"}),
        Options(type, {np.float32, np.float64}),
        Options(np.dtype, {np.dtype(np.float32), np.dtype(np.float64)}),
    ]


class _BaseMLP(BaseEstimator):
    """scikit-learn's ``BaseMultilayerPerceptron`` on fcnn's engine."""

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [str],  # the names are checked in _validate_params, from the registry
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # fcnn's additions
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "norm": [None, StrOptions({"batch", "layer"})],
        "dtype": _dtype_options(),
        "callbacks": [list, tuple, None],
        "progress": ["boolean"],
    }

    # -- parameters ------------------------------------------------------------------
    def _validate_params(self) -> None:
        constraints = dict(self._parameter_constraints)
        # scikit-learn's four, then every activation fcnn has registered (one table for all)
        names = set(SKLEARN_ACTIVATIONS) | (set(REGISTERED_ACTIVATIONS) - {"sigmoid"})
        constraints["activation"] = [StrOptions(names)]
        validate_parameter_constraints(
            constraints, self.get_params(deep=False), caller_name=type(self).__name__
        )
        if self.dropout and self.solver == "lbfgs":
            raise ValueError(
                f"{type(self).__name__}: dropout={self.dropout!r} needs a stochastic solver "
                "('sgd' or 'adam'): 'lbfgs' minimises a fixed objective, and dropout draws a "
                "new one at every evaluation"
            )

    def _fit_dtype(self, X: Any) -> np.dtype:
        if self.dtype is None:
            return np.dtype(X.dtype)
        return np.dtype(self.dtype)

    # -- fitting -----------------------------------------------------------------------
    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False) -> Any:
        self._validate_params()
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden_layer_sizes}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y, y_raw = self._validate_input(X, y, incremental, reset=first_pass)
        X = self._cast_input(X, first_pass)
        n_features = X.shape[1]
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        sample_weight = self._apply_class_weight(sample_weight, y_raw, X, incremental)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        if not first_pass and y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{type(self).__name__}: y has {y.shape[1]} output column(s); the network was "
                f"fitted with {self.n_outputs_}"
            )
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features, *hidden_layer_sizes, self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if not first_pass and hasattr(self, "coefs_"):
            fitted = [np.shape(c)[1] for c in self.coefs_[:-1]]
            if fitted != list(hidden_layer_sizes):
                how = "partial_fit" if incremental else "warm_start=True"
                raise ValueError(
                    f"{type(self).__name__}: {how} continues the fitted network, whose hidden "
                    f"layers are {tuple(fitted)}, but hidden_layer_sizes is now "
                    f"{tuple(hidden_layer_sizes)}; set hidden_layer_sizes back, or fit anew "
                    "(warm_start=False)"
                )
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        elif not hasattr(self, "_norms"):
            # fitted attributes set by hand (coefs_, intercepts_, ...), as scikit-learn's
            # own tests do before a partial_fit: fcnn's private state starts fresh
            self._norms = self._make_norms(layer_units[1:-1], X.dtype)
            self._best_norms = self._norm_states()
        engine = self._engine(layer_units, X)
        if y.dtype != X.dtype and not is_classifier(self):
            y = y.astype(X.dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if self.solver in _STOCHASTIC_SOLVERS:
                self._fit_stochastic(engine, X, y, sample_weight, incremental)
            else:
                self._fit_lbfgs(engine, X, y, sample_weight, layer_units)
        weights = chain(self.coefs_, self.intercepts_)
        if not all(np.isfinite(w).all() for w in weights):
            raise DivergenceError(
                "Solver produced non-finite parameter weights. The input data may contain large "
                "values and need to be preprocessed. (Training diverged: scale the inputs or use "
                "a smaller learning rate.)"
            )
        return self

    def _cast_input(self, X: Any, first_pass: bool) -> Any:
        dtype = self._fit_dtype(X) if first_pass else self.coefs_[0].dtype
        if X.dtype == dtype:
            return X
        if sp.issparse(X):
            return X.astype(dtype)
        return as_float_array(X, type(self).__name__, dtype)

    def _apply_class_weight(self, sample_weight: Any, y_raw: Any, X: Any, incremental: bool) -> Any:
        return sample_weight

    def _engine(self, layer_units: list[int], X: Any) -> Engine:
        """The engine for these sizes, holding ``coefs_``/``intercepts_`` as its views."""
        engine = getattr(self, "_engine_", None)
        out_loss = self._loss_name()
        # the stochastic solvers keep hidden layers' weights as (fan_out, fan_in), where
        # BLAS computes their gradients faster (Engine's docstring); lbfgs and a sparse X's
        # first layer keep scikit-learn's layout
        dtype = X.dtype
        transposed = [
            self.solver in _STOCHASTIC_SOLVERS and i < len(layer_units) - 2
            and (i > 0 or not sp.issparse(X))
            for i in range(len(layer_units) - 1)
        ]
        if (
            engine is None
            or engine.units != layer_units
            or engine.dtype != np.dtype(dtype)
            or engine.out_name != self.out_activation_
            or engine.loss_name != out_loss
            or engine.activation is not _engine.get_activation(self.activation)
            or [id(n) for n in engine.norms or ()] != [id(n) for n in self._norms or ()]
            or engine.transposed != transposed
        ):
            engine = Engine(
                layer_units, self.activation, self.out_activation_, out_loss, self.alpha, dtype,
                norms=self._norms, transposed=transposed,
            )
        engine.alpha = float(self.alpha)
        if engine.dropout != float(self.dropout):
            engine.dropout = float(self.dropout)
            engine._n_buffer = -1  # the dropout buffers come with the others
        engine.load(self.coefs_, self.intercepts_)
        optimizer = getattr(self, "_optimizer", None)
        if optimizer is not None:
            # a partial_fit on sparse X after dense (or the reverse) changes the first
            # layer's layout; the optimizer's moments follow the weights they belong to
            layout = getattr(optimizer, "layout", [False] * len(engine.transposed))
            for name in ("ms", "vs", "velocities"):
                if hasattr(optimizer, name):
                    setattr(optimizer, name, engine.relayout(getattr(optimizer, name), layout))
            optimizer.layout = list(engine.transposed)
        self.coefs_ = list(engine.coefs)
        self.intercepts_ = list(engine.intercepts)
        self._engine_ = engine
        return engine

    def _loss_name(self) -> str:
        if self.loss == "log_loss" and self.out_activation_ == "logistic":
            return "binary_log_loss"
        return self.loss

    def _initialize(self, y: np.ndarray, layer_units: list[int], dtype: Any) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self._dropout_epochs = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        self.coefs_ = []
        self.intercepts_ = []
        for i in range(self.n_layers_ - 1):
            coef_init, intercept_init = self._init_coef(layer_units[i], layer_units[i + 1], dtype)
            self.coefs_.append(coef_init)
            self.intercepts_.append(intercept_init)
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        self._norms = self._make_norms(layer_units[1:-1], dtype)
        self._best_norms = self._norm_states()
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            self.validation_loss_curve_: list[float] | None = None
            if self.early_stopping:
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
                self.best_loss_: float | None = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _make_norms(self, widths: list[int], dtype: Any) -> list[Any] | None:
        """fcnn's addition: a BatchNorm1d or LayerNorm after each hidden Linear."""
        if self.norm is None:
            return None
        from ..norm import BatchNorm1d, LayerNorm

        layer = BatchNorm1d if self.norm == "batch" else LayerNorm
        norms = [layer(width, dtype=dtype) for width in widths]
        for n in norms:
            n.check_finite = False  # divergence is reported after fit, as scikit-learn does
        return norms

    def _norm_states(self) -> list[dict[str, np.ndarray]] | None:
        if getattr(self, "_norms", None) is None:
            return None
        return [{k: np.array(v, copy=True) for k, v in n.state_dict().items()} for n in self._norms]

    def _init_coef(self, fan_in: int, fan_out: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        # Glorot et al.'s uniform bound; factor 2 for the logistic function
        factor = 6.0
        if self.activation == "logistic":
            factor = 2.0
        init_bound = np.sqrt(factor / (fan_in + fan_out))
        coef_init = self._random_state.uniform(-init_bound, init_bound, (fan_in, fan_out))
        intercept_init = self._random_state.uniform(-init_bound, init_bound, fan_out)
        return coef_init.astype(dtype, copy=False), intercept_init.astype(dtype, copy=False)

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The engine's target matrix and, for softmax outputs, the class indices."""
        if getattr(self, "out_activation_", None) == "softmax":
            return y, np.argmax(y, axis=1)
        return y, None

    def _loss_grad_lbfgs(
        self,
        packed_coef_inter: np.ndarray,
        X: Any,
        y: np.ndarray,
        sample_weight: Any,
        activations: list | None = None,
        deltas: list | None = None,
        coef_grads: list | None = None,
        intercept_grads: list | None = None,
    ) -> tuple[float, np.ndarray]:
        """scikit-learn's private L-BFGS objective, which its own tests call: the loss and
        its gradient at ``packed_coef_inter`` (every coef raveled, then every intercept:
        scikit-learn's ``_pack`` order), the gradient packed the same way.

        As scikit-learn's, it sets ``coefs_``/``intercepts_`` to the packed values and
        fills ``coef_grads``/``intercept_grads`` when given; ``y`` is the binarized target
        matrix; the ``activations``/``deltas`` buffers are not needed (the engine has
        its own).
        """
        units = [X.shape[1], *(c.shape[1] for c in self.coefs_)]
        packed = np.asarray(packed_coef_inter)
        self._pack_layout(units)
        self.coefs_ = [packed[start:end].reshape(shape) for start, end, shape in self._coef_indptr]
        self.intercepts_ = [packed[start:end] for start, end in self._intercept_indptr]
        engine = self._engine(units, X)
        Y = np.asarray(y)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        loss = engine.backprop(X, *self._targets(Y), sample_weight)
        for given, grads in ((coef_grads, engine.coef_grads), (intercept_grads, engine.intercept_grads)):
            if given is not None:
                given[:] = [g.copy() for g in grads]
        grad = np.concatenate([g.ravel() for g in engine.coef_grads + engine.intercept_grads])
        return loss, grad

    def _pack_layout(self, layer_units: list[int]) -> None:
        """scikit-learn's ``_coef_indptr``/``_intercept_indptr``: where each coef (with its
        shape) and each intercept sits in a vector in ``_pack`` order."""
        self._coef_indptr, self._intercept_indptr = [], []
        start = 0
        for fan_in, fan_out in itertools.pairwise(layer_units):
            self._coef_indptr.append((start, start + fan_in * fan_out, (fan_in, fan_out)))
            start += fan_in * fan_out
        for fan_out in layer_units[1:]:
            self._intercept_indptr.append((start, start + fan_out))
            start += fan_out

    def _fit_lbfgs(
        self, engine: Engine, X: Any, y: np.ndarray, sample_weight: Any, layer_units: list[int]
    ) -> None:
        self._pack_layout(layer_units)
        if sp.issparse(X) and X.format == "csc":
            X = X.tocsr()
        Y, labels = self._targets(y)
        flat = engine.flat

        def loss_grad(packed: np.ndarray) -> tuple[float, np.ndarray]:
            flat[...] = packed
            loss = engine.backprop(X, Y, labels, sample_weight)
            return loss, engine.grad.copy()

        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        opt_res = scipy.optimize.minimize(
            loss_grad,
            flat.copy(),
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
                **_get_additional_lbfgs_options_dict("iprint", iprint),
            },
        )
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        flat[...] = opt_res.x
        self._refresh_batch_statistics(engine, X, sample_weight)

    def _refresh_batch_statistics(self, engine: Engine, X: Any, sample_weight: Any) -> None:
        """After L-BFGS, ``norm="batch"``'s running statistics are the whole batch's at the
        final weights (what L-BFGS trained with), not a momentum average over its line
        search's trial points: one training forward with ``momentum=None`` from zero."""
        from ..norm import BatchNorm1d

        layers = [n for n in self._norms or () if isinstance(n, BatchNorm1d) and n.track_running_stats]
        if not layers:
            return
        saved = [n.momentum for n in layers]
        for n in layers:
            n.running_mean[...] = 0
            n.running_var[...] = 1
            n.num_batches_tracked[...] = 0
            n.momentum = None
        try:
            engine.forward(X, train=True, sample_weight=sample_weight)
        finally:
            for n, momentum in zip(layers, saved, strict=True):
                n.momentum = momentum

    def _fit_stochastic(
        self, engine: Engine, X: Any, y: np.ndarray, sample_weight: Any, incremental: bool
    ) -> None:
        params = engine.flat
        if not incremental or not hasattr(self, "_optimizer"):
            if self.solver == "sgd":
                self._optimizer: SGD | Adam = SGD(
                    params, self.learning_rate_init, self.learning_rate, self.momentum,
                    self.nesterovs_momentum, self.power_t,
                )
            else:
                self._optimizer = Adam(
                    params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon
                )
            # the layout its state arrays follow (the engine's; see _engine)
            self._optimizer.layout = list(engine.transposed)
        optimizer = self._optimizer
        optimizer.reattach(params)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            # don't stratify in multilabel (nor, in 1.9, multiclass) classification: y is
            # the indicator matrix there, and scikit-learn stratifies only one column
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X, y, random_state=self._random_state,
                    test_size=self.validation_fraction, stratify=stratify,
                )
                sample_weight_train = sample_weight_val = None
            else:
                (X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val) = (
                    train_test_split(
                        X, y, sample_weight, random_state=self._random_state,
                        test_size=self.validation_fraction, stratify=stratify,
                    )
                )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            self.validation_loss_curve_ = self.validation_loss_curve_ or []
            self._val_targets = (y_val, *self._targets(y_val))
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None

        if sp.issparse(X_train) and X_train.format != "csr":
            X_train = X_train.tocsr()
        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped",
                    stacklevel=4,
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        Y_train, labels_train = self._targets(y_train)
        # Each epoch gathers its shuffled rows once (batches are then slices);
        # for a dense X bigger than _GATHER_BYTES, each batch gathers its own.
        whole = not isinstance(X_train, np.ndarray) or X_train.nbytes <= _GATHER_BYTES
        gather_buf = None
        if self.shuffle and whole and isinstance(X_train, np.ndarray):
            gather_buf = np.empty_like(X_train, order="C")
        starts = list(range(0, n_samples, batch_size))
        callbacks = self._callbacks()
        bar = self._bar()
        backprop, update = engine.backprop, optimizer.update_params
        if self.dropout:
            # masks keyed by each row's values and the epoch (Engine.dropout_keys): a row
            # weighted k trains exactly as k copies of it
            keys_train = _engine.row_keys(X_train, self._random_state.randint(2**31))
        # a second thread for the update of a large network (None otherwise)
        optimizer.pool = _engine.update_pool(params.size)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                Xe, Ye, Le, We = X_train, Y_train, labels_train, sample_weight_train
                if self.shuffle:
                    # scikit-learn's utils.shuffle: a fresh permutation of positions,
                    # applied to the previous order
                    perm = np.arange(n_samples)
                    self._random_state.shuffle(perm)
                    sample_idx = sample_idx[perm]
                    if whole:
                        if gather_buf is not None:
                            # mode='clip' (the indices are a permutation): NumPy's default 'raise'
                            # with out= goes through a buffer, ten times slower
                            Xe = np.take(X_train, sample_idx, axis=0, out=gather_buf, mode="clip")
                        else:
                            Xe = X_train[sample_idx]
                        Ye = Y_train.take(sample_idx, axis=0, mode="clip")
                        Le = None if Le is None else Le.take(sample_idx, mode="clip")
                        We = None if We is None else We.take(sample_idx, mode="clip")
                if self.dropout:
                    # a fresh mask per epoch, counted across partial_fit calls
                    self._dropout_epochs = getattr(self, "_dropout_epochs", 0) + 1
                    keys_epoch = keys_train.take(sample_idx) if self.shuffle else keys_train.copy()
                    keys_epoch ^= np.uint64(self._dropout_epochs * int(_engine._MIX2) % 2**64)
                    _engine._mix(keys_epoch)
                accumulated_loss = 0.0
                for start in starts:
                    stop = min(start + batch_size, n_samples)
                    if self.shuffle and not whole:
                        rows = sample_idx[start:stop]
                        X_batch = X_train.take(rows, axis=0, mode="clip")
                        Y_batch = Y_train.take(rows, axis=0, mode="clip")
                        lab = None if Le is None else Le.take(rows, mode="clip")
                        sw = None if We is None else We.take(rows, mode="clip")
                    else:
                        X_batch = Xe[start:stop]
                        Y_batch = Ye[start:stop]
                        lab = None if Le is None else Le[start:stop]
                        sw = None if We is None else We[start:stop]
                    if self.dropout:
                        engine.dropout_keys = keys_epoch[start:stop]
                    batch_loss = backprop(X_batch, Y_batch, lab, sw)
                    accumulated_loss += batch_loss * (stop - start)
                    update(params, engine.grad)
                self.n_iter_ += 1
                self.loss_ = accumulated_loss / X_train.shape[0]
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)
                optimizer.iteration_ends(self.t_)
                stop_now = self._notify(callbacks, bar)
                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than "
                            f"tol={self.tol:f} for {int(self.n_iter_no_change)} consecutive epochs."
                        )
                    else:
                        msg = (
                            f"Training loss did not improve more than tol={self.tol:f}"
                            f" for {int(self.n_iter_no_change)} consecutive epochs."
                        )
                    is_stopping = optimizer.trigger_stopping(msg, self.verbose)
                    if is_stopping:
                        break
                    else:
                        self._no_improvement_count = 0
                if stop_now:
                    break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=4,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        finally:
            if optimizer.pool is not None:
                optimizer.pool.shutdown()
                optimizer.pool = None
            if bar is not None:
                bar.close()
            for c in callbacks:
                if hasattr(c, "on_train_end"):
                    c.on_train_end(None)
        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts
            engine.load(self.coefs_, self.intercepts_)
            for layer, state in zip(self._norms or (), self._best_norms or (), strict=True):
                layer.load_state_dict(state)

    def _update_no_improvement_count(
        self, early_stopping: bool, X: Any, y: Any, sample_weight: Any
    ) -> None:
        if early_stopping:
            val_score = self._validation_step(X, y, sample_weight)
            self.validation_scores_.append(val_score)
            if self.verbose:
                print(f"Validation score: {self.validation_scores_[-1]:f}")
            last_valid_score = self.validation_scores_[-1]
            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last_valid_score > self.best_validation_score_:
                self.best_validation_score_ = last_valid_score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [i.copy() for i in self.intercepts_]
                self._best_norms = self._norm_states()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _validation_step(self, X: Any, y: Any, sample_weight: Any) -> float:
        """scikit-learn's ``_score`` on the held-out set, and (fcnn's) its loss from the
        same forward pass into ``validation_loss_curve_``."""
        out = self._forward_pass_fast(X, check_input=False)
        Y, Y_bin, labels = self._val_targets
        if Y.dtype != out.dtype and not is_classifier(self):
            Y_bin = Y_bin.astype(out.dtype)
        loss = self._engine_._loss(out, Y_bin, labels, sample_weight, out.shape[0])
        self.validation_loss_curve_.append(float(loss))
        if self.n_outputs_ == 1:
            out = out.ravel()
        y_pred = self._label_binarizer.inverse_transform(out) if is_classifier(self) else out
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        score = _accuracy if is_classifier(self) else r2_score
        return score(y, y_pred, sample_weight=sample_weight)

    # -- callbacks and progress (fcnn's additions) -----------------------------------
    def _callbacks(self) -> list[Any]:
        out = [c if hasattr(c, "on_epoch_end") else _FunctionCallback(c) for c in self.callbacks or ()]
        for c in out:
            if hasattr(c, "on_train_begin"):
                c.on_train_begin(self, None)
        return out

    def _bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=int(self.max_iter), unit="epoch", dynamic_ncols=True, leave=True)

    def _notify(self, callbacks: list[Any], bar: Any) -> bool:
        if not callbacks and bar is None:
            return False
        logs = {"loss": float(self.loss_)}
        if self.validation_scores_:
            logs["val_score"] = float(self.validation_scores_[-1])
        if bar is not None:
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            bar.update(1)
        return any([bool(c.on_epoch_end(self.n_iter_, logs)) for c in callbacks])

    # -- prediction ------------------------------------------------------------------------
    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> np.ndarray:
        if check_input:
            # fit's dtypes (scikit-learn's predict uses "numeric", which refuses the
            # numeric strings that its fit converts)
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
            )
        with np.errstate(over="ignore", invalid="ignore"):
            return _engine.predict(
                X, self.coefs_, self.intercepts_, self.activation, self.out_activation_,
                getattr(self, "_norms", None),
            )

    def _score_with_function(self, X: Any, y: Any, sample_weight: Any, score_function: Any) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classification) or real numbers (regression).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                f" optimizers. {self.solver} is not stochastic."
            )
        return True

    @property
    def model_(self) -> Any:
        """The fitted network as an ``fcnn.Sequential`` (a copy of ``coefs_``/``intercepts_``).

        Linear layers with the hidden activation between them and no output
        activation: its outputs are the logits (or, for ``loss="poisson"``,
        the log of the prediction). ``fcnn.save(est.model_, path)`` ships it.
        """
        if not hasattr(self, "coefs_"):
            raise AttributeError(f"{type(self).__name__} is not fitted yet: no model_")
        from ..layers import LeakyReLU, Linear
        from ..network import Sequential

        layers: list[Any] = []
        last = len(self.coefs_) - 1
        norms = getattr(self, "_norms", None)
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            linear = Linear(W.shape[0], W.shape[1], dtype=W.dtype)
            linear.weight.weights = W
            linear.bias.weights = b
            layers.append(linear)
            if i != last and norms:
                layers.append(copy.deepcopy(norms[i]))
            if i != last and self.activation != "identity":
                if self.activation == "leaky_relu":
                    layers.append(LeakyReLU(_engine._LEAKY_SLOPE))
                else:
                    layers.append(REGISTERED_ACTIVATIONS[self.activation]())
        return Sequential(*layers)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state = dict(state)
        state.pop("_engine_", None)  # buffers; rebuilt on the next fit
        return state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_CLASSIFIER_DOC = """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, on fcnn.

With the same arguments and ``random_state`` it gives scikit-learn's fitted
model (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``,
``predict_proba``) to rounding, faster: see docs/estimators.md.

Parameters
----------
hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction,
beta_1, beta_2, epsilon, n_iter_no_change, max_fun
    scikit-learn 1.9's, with its defaults and meanings. ``activation`` also
    takes fcnn's "leaky_relu" (slope 0.01), "elu", "gelu" (exact) and "silu".
dropout : float in [0, 1), default=0.0
    Inverted dropout after every hidden activation in training (stochastic
    solvers only); each row's masks are drawn from a hash of its values, the
    epoch and ``random_state``, so a row weighted k trains as k copies of it.
norm : None, "batch" or "layer", default=None
    ``fcnn.BatchNorm1d`` or ``fcnn.LayerNorm`` after each hidden Linear, before
    the activation (every solver; their parameters are trained with the others,
    without the L2 term, and are in ``model_``; ``"batch"`` weights its batch
    statistics by ``sample_weight``, and after ``lbfgs`` its running statistics
    are the whole training set's at the final weights).
dtype : None, "float32" or "float64", default=None
    The network's dtype; None follows ``X`` (float32 stays float32).
class_weight : dict, "balanced" or None, default=None
    Multiplies ``sample_weight`` by the weight of each sample's class
    (``sklearn.utils.class_weight.compute_sample_weight``).
callbacks : list of fcnn.training.Callback or f(epoch, logs), default=None
    Called after each epoch with ``{"loss": ..., ["val_score": ...]}``;
    returning True stops training. ``on_train_begin`` receives the estimator.
progress : bool, default=False
    fcnn's progress bar over epochs (in a terminal or a notebook).

Attributes
----------
classes_, loss_, best_loss_, loss_curve_, validation_scores_,
best_validation_score_, t_, coefs_, intercepts_, n_features_in_,
feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
    scikit-learn's. ``coefs_[i]`` is ``(fan_in, fan_out)``; assigning
    ``coefs_``/``intercepts_`` changes what ``predict`` and ``partial_fit`` use.
validation_loss_curve_ : list of float or None
    fcnn's addition: with ``early_stopping``, the loss (without the L2 term)
    on the held-out set after each epoch; None otherwise.
model_ : fcnn.Sequential
    The network as fcnn layers (a copy), for ``fcnn.save`` and ONNX export.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from fcnn.estimators import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = MLPClassifier(solver="lbfgs", random_state=0, max_iter=500).fit(X, y)
>>> clf.score(X, y) > 0.95
True
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = _CLASSIFIER_DOC

    _parameter_constraints: ClassVar[dict] = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: Any = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        norm: str | None = None,
        dtype: Any = None,
        class_weight: Any = None,
        callbacks: Any = None,
        progress: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.norm = norm
        self.dtype = dtype
        self.class_weight = class_weight
        self.callbacks = callbacks
        self.progress = progress

    loss = "log_loss"  # scikit-learn's fixed loss; not a constructor parameter

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, Any, Any]:
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        # scikit-learn's own words, told before LabelBinarizer's terser "Unknown label type"
        check_classification_targets(y)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            if y.ndim == 2 and self._label_binarizer.y_type_.startswith("multilabel"):
                if y.shape[1] != len(self.classes_):
                    raise ValueError(
                        f"{type(self).__name__}: y has {y.shape[1]} label columns; the estimator "
                        f"was fitted with {len(self.classes_)} (multilabel indicator rows must "
                        "keep their width)"
                    )
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y_raw = y
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y, y_raw

    def _apply_class_weight(self, sample_weight: Any, y_raw: Any, X: Any, incremental: bool) -> Any:
        if self.class_weight is None:
            return sample_weight
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "MLPClassifier: class_weight='balanced' is not supported for partial_fit "
                "(the class frequencies of one batch are not those of the data); pass a dict"
            )
        weights = compute_sample_weight(self.class_weight, y_raw).astype(X.dtype)
        return weights if sample_weight is None else sample_weight * weights

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes, ``(n_samples,)`` (or ``(n_samples, n_classes)`` for multilabel)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return self._score_with_function(X, y, sample_weight, _accuracy)

    @available_if(lambda est: est._check_solver())
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), required on the first call

        Returns
        -------
        self
        """
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, ``(n_samples, n_classes)``."""
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class _FunctionCallback:
    """A plain ``f(epoch, logs)`` as a callback; a true result stops training."""

    def __init__(self, fn: Any) -> None:
        if not callable(fn):
            raise TypeError(
                f"callbacks: expected fcnn.training.Callback objects or functions f(epoch, logs), "
                f"got {type(fn).__name__}"
            )
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        return bool(self.fn(epoch, logs))


def _accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """``accuracy_score`` (subset accuracy for indicator rows) without its input checks."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    correct = y_true == y_pred
    if correct.ndim == 2:
        correct = correct.all(axis=1)
    return float(np.average(correct, weights=sample_weight))


_REGRESSOR_DOC = _CLASSIFIER_DOC.replace(
    "Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``",
    "Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``",
).replace(
    "hidden_layer_sizes, activation, solver,",
    "loss : {\"squared_error\", \"poisson\"}, default=\"squared_error\"\n"
    "    Half the squared error, or half the Poisson deviance (exp output).\n"
    "hidden_layer_sizes, activation, solver,",
).replace(
    "class_weight : dict, \"balanced\" or None, default=None\n"
    "    Multiplies ``sample_weight`` by the weight of each sample's class\n"
    "    (``sklearn.utils.class_weight.compute_sample_weight``).\n",
    "",
).replace("classes_, loss_,", "loss_,").replace(
    """>>> from sklearn.datasets import load_iris
>>> from fcnn.estimators import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = MLPClassifier(solver="lbfgs", random_state=0, max_iter=500).fit(X, y)
>>> clf.score(X, y) > 0.95
True""",
    """>>> from sklearn.datasets import make_regression
>>> from fcnn.estimators import MLPRegressor
>>> X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
>>> reg = MLPRegressor(solver="lbfgs", random_state=0, max_iter=500).fit(X, y)
>>> reg.score(X, y) > 0.9
True""",
)


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = _REGRESSOR_DOC

    _parameter_constraints: ClassVar[dict] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: Any = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        norm: str | None = None,
        dtype: Any = None,
        callbacks: Any = None,
        progress: bool = False,
    ) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.norm = norm
        self.dtype = dtype
        self.callbacks = callbacks
        self.progress = progress

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, ``(n_samples,)`` for one output, else ``(n_samples, n_outputs)``."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return self._score_with_function(X, y, sample_weight, r2_score)

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, Any, Any]:
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y, y

    # scikit-learn 1.9's regressor guards partial_fit with ``est._check_solver``
    # (not called, so always true): partial_fit exists for lbfgs too and runs it.
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
