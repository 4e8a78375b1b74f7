"""scikit-learn estimators built on fcnn: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for scikit-learn's multilayer perceptrons, with what
those refuse: ``dropout``, the ``leaky_relu`` activation, a validation-loss
curve, a progress bar (``verbose=True``) and float32 end to end. They follow
scikit-learn's conventions (``__init__`` only stores hyperparameters, fitted
state ends in ``_``, ``random_state`` controls every draw) and pass
``sklearn.utils.estimator_checks``, so they work in ``Pipeline``,
``GridSearchCV``, ``cross_val_score``, ``clone``, pickling and joblib's Dask
backend.

``fit`` is ``fcnn.train`` and nothing else: with an int ``random_state`` S it
gives bit for bit the weights, losses and predictions of ::

    rng = np.random.default_rng(S)
    model = fcnn.mlp([n_features, *hidden_layer_sizes, n_outputs], activation,
                     dropout=dropout, init=init, rng=rng, dtype=dtype)
    optimizer = fcnn.Adam(model.parameters(), lr=learning_rate_init,
                          betas=(beta_1, beta_2), eps=epsilon,
                          weight_decay=alpha / batch_size)
    fcnn.train(model, loss, optimizer, X, y, epochs=max_iter, batch_size=batch_size,
               shuffle=shuffle, validation_split=validation_fraction (early_stopping only),
               progress=verbose, rng=rng)

with ``loss`` ``fcnn.NLLLoss()`` (classifier, labels encoded as indices into
``classes_``) or ``fcnn.MSELoss()`` (regressor), as long as scikit-learn's
stopping rule (``tol``, ``n_iter_no_change``) does not end training sooner.

scikit-learn is imported at module level: import this module only when you
use the estimators (``import fcnn`` itself stays NumPy-only).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import as_float_array, resolve_dtype
from .init import INITIALIZERS
from .layers import Linear
from .losses import Loss, MSELoss, NLLLoss, log_softmax, softmax
from .network import ACTIVATIONS, mlp
from .optim import SGD, Adam, AdamW, Optimizer
from .training import Callback, History, predict, train

__all__ = ["MLPClassifier", "MLPRegressor"]

SOLVERS = ("sgd", "adam", "adamw")

_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer; ``()`` gives a linear model.
    activation : {"relu", "leaky_relu", "tanh", "logistic", "sigmoid"}, default="relu"
        Activation after each hidden layer ("logistic" and "sigmoid" are the
        same function). scikit-learn's "identity" is not offered.
    solver : {"sgd", "adam", "adamw"}, default="adam"
        ``fcnn.SGD`` (PyTorch's rule, equivalent to scikit-learn's momentum SGD
        at a constant learning rate), ``fcnn.Adam`` or ``fcnn.AdamW``.
    alpha : float, default=1e-4
        L2 strength in scikit-learn's units: scikit-learn adds
        ``alpha / (2 * batch) * ||W||^2`` to each minibatch loss, i.e.
        ``alpha / batch * W`` to the gradient. fcnn's optimizers take one
        ``weight_decay`` for every parameter, so this becomes
        ``weight_decay = alpha / batch_size``: the same gradient term, except
        that the biases are decayed too (scikit-learn leaves them alone) and
        the last, partial batch of an epoch gets the full-batch amount. With
        ``solver="adamw"`` the same amount is applied decoupled from the
        gradient (``w *= 1 - lr * weight_decay``). The penalty is not part of
        ``loss_curve_``.
    batch_size : int or "auto", default="auto"
        Minibatch size; "auto" is ``min(200, n_samples)``. Larger than the
        sample count: a warning, and it is clipped.
    learning_rate_init : float, default=1e-3
        The optimizer's (constant) learning rate.
    max_iter : int, default=200
        Maximum number of epochs for ``fit``.
    shuffle : bool, default=True
        A fresh permutation of the samples each epoch.
    random_state : int, RandomState instance or None, default=None
        Source of every random draw (initial weights, dropout masks,
        shuffles, the early-stopping split). An int S is fcnn's seed S
        itself, so the estimator and ``fcnn.train(..., rng=S)`` agree; a
        RandomState or None draws a fresh int seed from it at each ``fit``.
    tol : float, default=1e-4
        scikit-learn's stopping rule: training stops when the training loss
        (or, with ``early_stopping``, the validation score) has not improved
        by at least ``tol`` for more than ``n_iter_no_change`` epochs in a row.
    verbose : bool, default=False
        Show fcnn's progress bar (epochs, loss, validation loss) when the
        output is a terminal or a notebook, and say why training stopped.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (a random subset,
        drawn exactly as ``fcnn.train(validation_split=...)`` draws it; not
        stratified), stop on its score (accuracy or R^2) and end with the
        weights of the best-scoring epoch.
    validation_fraction : float, default=0.1
        Fraction held out when ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` tolerated before stopping.
    momentum : float, default=0.9
        Momentum for ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for ``solver="sgd"`` (when ``momentum > 0``).
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's and AdamW's moment decays and denominator term.
    dropout : float, default=0.0
        Probability of zeroing each hidden unit in training (inverted dropout,
        a ``fcnn.Dropout`` after every hidden activation); off in prediction.
    dtype : None, "float32" or "float64", default=None
        The network's dtype. None follows ``X``: float32 input trains a
        float32 network and everything else float64. Inputs to a fitted
        estimator are cast to the network's dtype.
    init : str, default="default"
        Weight initializer, a name from ``fcnn.init.INITIALIZERS`` ("default"
        is PyTorch's ``nn.Linear`` scheme; "glorot_uniform" is close to
        scikit-learn's).
"""

_ATTRIBUTES_DOC = """
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, set only when ``X`` had string column names (a DataFrame).
    model_ : fcnn.Sequential
        The trained network (``fcnn.save(est.model_, path)`` ships it safely).
    coefs_, intercepts_ : list of ndarray
        Read-only views of each Linear layer's weights ``(in, out)`` and bias
        ``(out,)``, as in scikit-learn.
    n_iter_ : int
        Epochs run (``fit``) or ``partial_fit`` calls made.
    t_ : int
        Training samples seen.
    loss_ : float
        The last epoch's training loss.
    loss_curve_ : list of float
        Mean training loss of each epoch (mean over its minibatches, without
        the L2 term).
    best_loss_ : float or None
        Lowest value of ``loss_curve_``; None with ``early_stopping``.
    validation_loss_curve_ : list of float or None
        Loss on the held-out set after each epoch; None without ``early_stopping``.
    validation_scores_ : list of float or None
        Score (accuracy or R^2) on the held-out set after each epoch; None
        without ``early_stopping``.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; None without ``early_stopping``.
    n_layers_ : int
        Number of layers of units, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        "softmax" (classifier) or "identity" (regressor).
"""


class _BaseMLP(BaseEstimator):
    """The shared fitting machinery; subclasses say what the loss and targets are."""

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool = False,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        dropout: float = 0.0,
        dtype: str | None = None,
        init: str = "default",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.dropout = dropout
        self.dtype = dtype
        self.init = init

    # -- what subclasses provide ----------------------------------------------
    def _loss(self) -> Loss:
        raise NotImplementedError

    def _validate_xy(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        raise NotImplementedError

    def _validation_score(
        self, X_val: np.ndarray, y_val: np.ndarray, logs: dict[str, float]
    ) -> float:
        raise NotImplementedError

    # -- fitting ----------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> _BaseMLP:
        """Train a new network on ``(X, y)`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or targets (regressor).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, classes=None)

    def _fit(self, X: Any, y: Any, *, incremental: bool, classes: Any) -> _BaseMLP:
        hidden = self._check_hyperparameters()
        if incremental and self.early_stopping:
            raise ValueError(
                f"{type(self).__name__}.partial_fit does not support early_stopping=True "
                "(there is no fixed training set to hold a validation part out of)"
            )
        first = not incremental or not hasattr(self, "model_")
        X, y = self._validate_xy(X, y, reset=first)
        y = self._encode_targets(y, first, classes)
        if first:
            rng = np.random.default_rng(_seed(self.random_state))
            self.model_ = mlp(
                [X.shape[1], *hidden, self.n_outputs_],
                self.activation,
                dropout=float(self.dropout),
                init=self.init,
                rng=rng,
                dtype=X.dtype,
            )
            self._rng = rng
            self._optimizer: Optimizer | None = None
            self.n_layers_ = len(hidden) + 2
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.best_loss_: float | None = None
                self.validation_loss_curve_: list[float] | None = []
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
            else:
                self.best_loss_ = np.inf
                self.validation_loss_curve_ = None
                self.validation_scores_ = None
                self.best_validation_score_ = None

        validation_data = None
        if self.early_stopping:
            # The same draw as train(validation_split=...), from the same
            # generator, so that both paths hold out the same samples; done
            # here because the regressor's score (R^2) needs the held-out targets.
            n = X.shape[0]
            order = self._rng.permutation(n)
            n_val = max(1, round(self.validation_fraction * n))
            if n_val < 2 or n - n_val < 2:
                raise ValueError(
                    f"{type(self).__name__}: validation_fraction={self.validation_fraction} of "
                    f"{n} samples gives a validation set of {n_val} and a training set of "
                    f"{n - n_val}; early stopping needs at least 2 of each. Increase "
                    "validation_fraction or the size of your dataset."
                )
            validation_data = (X[order[:n_val]], y[order[:n_val]])
            X, y = X[order[n_val:]], y[order[n_val:]]

        batch_size = self._batch_size(X.shape[0])
        weight_decay = float(self.alpha) / batch_size
        if self._optimizer is None:
            self._optimizer = self._make_optimizer(weight_decay)
        else:
            self._optimizer.weight_decay = weight_decay

        stopping = _StoppingRule(self, validation_data, X.shape[0], stop=not incremental)
        history = train(
            self.model_,
            self._loss(),
            self._optimizer,
            X,
            y,
            epochs=1 if incremental else int(self.max_iter),
            batch_size=batch_size,
            shuffle=bool(self.shuffle),
            validation_data=validation_data,
            callbacks=[stopping],
            progress=bool(self.verbose),
            rng=self._rng,
        )
        self._after_training(history, stopping, incremental)
        return self

    def _after_training(self, history: History, stopping: _StoppingRule, incremental: bool) -> None:
        if history.interrupted:
            warnings.warn("Training interrupted by user.", UserWarning, stacklevel=4)
        elif stopping.converged:
            if self.verbose:
                print(stopping.message)
        elif not incremental and history.epochs == int(self.max_iter):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _make_optimizer(self, weight_decay: float) -> Optimizer:
        params = self.model_.parameters()
        lr = float(self.learning_rate_init)
        if self.solver == "sgd":
            return SGD(
                params,
                lr=lr,
                momentum=float(self.momentum),
                nesterov=bool(self.nesterovs_momentum) and self.momentum > 0,
                weight_decay=weight_decay,
            )
        optimizer_class = Adam if self.solver == "adam" else AdamW
        return optimizer_class(
            params,
            lr=lr,
            betas=(float(self.beta_1), float(self.beta_2)),
            eps=float(self.epsilon),
            weight_decay=weight_decay,
        )

    def _batch_size(self, n_samples: int) -> int:
        if isinstance(self.batch_size, str):
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                f"Got batch_size={self.batch_size} larger than the sample size ({n_samples}); "
                "it is clipped to the sample size.",
                UserWarning,
                stacklevel=4,
            )
        return int(min(self.batch_size, n_samples))

    def _check_hyperparameters(self) -> list[int]:
        """Validate the hyperparameters (in fit, not __init__, per scikit-learn's
        convention) and return the hidden layer sizes as a list."""
        name = type(self).__name__
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        try:
            hidden = [int(s) for s in sizes]
        except (TypeError, ValueError):
            hidden = None
        if hidden is None or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
        ):
            raise ValueError(
                f"{name}: hidden_layer_sizes must be a positive int or a sequence of positive "
                f"ints, got {self.hidden_layer_sizes!r}"
            )
        _choice(name, "activation", self.activation, sorted(ACTIVATIONS))
        if self.solver == "lbfgs":
            raise ValueError(
                f"{name}: solver='lbfgs' is not offered (fcnn trains by minibatches); choose "
                f"one of {list(SOLVERS)}, or scikit-learn's own MLP for L-BFGS"
            )
        _choice(name, "solver", self.solver, list(SOLVERS))
        if not isinstance(self.init, str) or self.init not in INITIALIZERS:
            raise ValueError(
                f"{name}: init must be one of {sorted(INITIALIZERS)}, got {self.init!r}"
            )
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _integer(name, "batch_size", self.batch_size, 1, extra=' or "auto"')
        _integer(name, "max_iter", self.max_iter, 1)
        _integer(name, "n_iter_no_change", self.n_iter_no_change, 1)
        _real(name, "alpha", self.alpha, low=0.0)
        _real(name, "learning_rate_init", self.learning_rate_init, low=0.0, low_open=True)
        _real(name, "tol", self.tol, low=0.0)
        _real(name, "momentum", self.momentum, low=0.0, high=1.0)
        _real(name, "beta_1", self.beta_1, low=0.0, high=1.0, high_open=True)
        _real(name, "beta_2", self.beta_2, low=0.0, high=1.0, high_open=True)
        _real(name, "epsilon", self.epsilon, low=0.0, low_open=True)
        _real(name, "dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        _real(
            name, "validation_fraction", self.validation_fraction,
            low=0.0, high=1.0, low_open=True, high_open=True,
        )
        for flag in ("shuffle", "early_stopping", "nesterovs_momentum"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{name}: {flag} must be a bool, got {getattr(self, flag)!r}")
        self._input_dtype()  # raises on a bad dtype
        return hidden

    def _input_dtype(self) -> Any:
        """The dtype(s) to convert X to before the network exists."""
        if self.dtype is None:
            # float32 stays float32; every other numeric dtype becomes float64
            return [np.float64, np.float32]
        try:
            return resolve_dtype(self.dtype)
        except TypeError:
            raise ValueError(
                f"{type(self).__name__}: dtype must be None (follow X), 'float32' or "
                f"'float64', got {self.dtype!r}"
            ) from None

    def _fitted_dtype(self, reset: bool) -> Any:
        return self._input_dtype() if reset else self.model_.dtype

    def _cast(self, X: np.ndarray, reset: bool) -> np.ndarray:
        """Cast validated ``X`` to the network's dtype; float64 values beyond
        float32's range are a clear error, not an overflow warning and infinity."""
        dtype = self._fitted_dtype(reset)
        if isinstance(dtype, list):
            return X
        return as_float_array(X, type(self).__name__, np.dtype(dtype))

    # -- prediction ---------------------------------------------------------------
    def _forward(self, X: Any) -> np.ndarray:
        """The network's eval-mode outputs ``(n_samples, n_outputs_)`` for ``X``."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return predict(self.model_, self._cast(X, reset=False))

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Each Linear layer's weights ``(in, out)``, read-only views."""
        return [_read_only(layer.w.weights) for layer in self._linear_layers()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Each Linear layer's bias ``(out,)``, read-only views."""
        return [_read_only(layer.bias.weights) for layer in self._linear_layers()]

    def _linear_layers(self) -> list[Linear]:
        check_is_fitted(self, "model_")
        return [layer for layer in self.model_.layers if isinstance(layer, Linear)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


class _StoppingRule(Callback):
    """scikit-learn's MLP bookkeeping and stopping rule, as a ``train`` callback.

    After each epoch it appends to the estimator's ``loss_curve_`` (and the
    validation curves), counts epochs without an improvement of ``tol`` and,
    when that count exceeds ``n_iter_no_change`` (and ``stop``), ends training.
    With validation data it keeps the best-scoring weights and restores them
    at the end, as scikit-learn does.
    """

    def __init__(
        self,
        estimator: _BaseMLP,
        validation_data: tuple[np.ndarray, np.ndarray] | None,
        n_train: int,
        stop: bool,
    ) -> None:
        self.estimator, self.validation_data, self.stop = estimator, validation_data, stop
        self.n_train = n_train
        self.converged = False
        self.message = ""
        self._best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, model: Any, history: History) -> None:
        self._params = model.parameters()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        est, tol = self.estimator, float(self.estimator.tol)
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = logs["loss"]
        est.loss_curve_.append(logs["loss"])
        if self.validation_data is not None:
            score = est._validation_score(*self.validation_data, logs)
            est.validation_loss_curve_.append(logs["val_loss"])
            est.validation_scores_.append(score)
            improved_enough = score >= est.best_validation_score_ + tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self._best_weights = [p.weights.copy() for p in self._params]
            what = "Validation score"
        else:
            improved_enough = logs["loss"] <= est.best_loss_ - tol
            est.best_loss_ = min(est.best_loss_, logs["loss"])
            what = "Training loss"
        est._no_improvement_count = 0 if improved_enough else est._no_improvement_count + 1
        if self.stop and est._no_improvement_count > est.n_iter_no_change:
            self.converged = True
            self.message = (
                f"{what} did not improve more than tol={est.tol:f} for "
                f"{est.n_iter_no_change} consecutive epochs. Stopping."
            )
            return True
        return False

    def on_train_end(self, history: History) -> None:
        if self._best_weights is not None:
            for p, w in zip(self._params, self._best_weights, strict=True):
                p.weights = w


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = (
        """Multilayer perceptron classifier trained by fcnn.

    A drop-in for ``sklearn.neural_network.MLPClassifier`` (same
    hyperparameter names and meanings) with ``dropout``, ``leaky_relu``,
    ``validation_loss_curve_``, a progress bar and float32 training. The
    output layer has one unit per class and the loss is softmax +
    cross-entropy (``fcnn.NLLLoss``) for binary problems too (scikit-learn
    uses one logistic unit there: the same model family).
"""
        + _PARAMETERS_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; predictions are drawn from them.
"""
        + _ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from fcnn.estimators import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(dropout=0.1, random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
"""
    )

    def _loss(self) -> Loss:
        return NLLLoss()

    def _validate_xy(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        # y goes through column_or_1d: a column vector warns (DataConversionWarning)
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])
        return self._cast(X, reset), y

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        check_classification_targets(y)
        name = type(self).__name__
        if first:
            if classes is None:
                self.classes_ = np.unique(y)
            else:
                self.classes_ = np.unique(np.asarray(classes))
            if self.classes_.size == 0:
                raise ValueError(f"{name}: classes must not be empty")
            self.n_outputs_ = len(self.classes_)
            self.out_activation_ = "softmax"
        elif classes is not None and not np.array_equal(self.classes_, np.unique(classes)):
            raise ValueError(
                f"{name}.partial_fit: classes={classes!r} is not the same as on the first "
                f"call, {self.classes_!r}"
            )
        index = np.searchsorted(self.classes_, y)
        index = np.minimum(index, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise ValueError(
                f"{name}: y has labels {np.unique(y[unknown]).tolist()} that are not in "
                f"classes_ {self.classes_.tolist()}; pass every label in classes= on the first "
                "partial_fit call"
            )
        return index

    def _validation_score(
        self, X_val: np.ndarray, y_val: np.ndarray, logs: dict[str, float]
    ) -> float:
        # train() logs the accuracy of the eval-mode argmax, which is what score() computes
        return logs["val_accuracy"]

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """Train for one epoch over ``(X, y)``, continuing from the current state.

        The first call builds the network and needs ``classes``, every label
        that will ever appear; later calls continue with the same network,
        optimizer state and random generator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), required on the first call

        Returns
        -------
        self
        """
        if not hasattr(self, "model_") and classes is None:
            raise ValueError(
                "MLPClassifier.partial_fit: classes must be passed on the first call "
                "(every label that the data will contain)"
            )
        return self._fit(X, y, incremental=True, classes=classes)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels, shape ``(n_samples,)``, drawn from ``classes_``."""
        index = self._forward(X).argmax(axis=1)
        return self.classes_[index]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in ``classes_`` order;
        rows sum to 1. The dtype is the network's."""
        return softmax(self._forward(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, computed stably from the logits."""
        return log_softmax(self._forward(X))


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = (
        """Multilayer perceptron regressor trained by fcnn.

    A drop-in for ``sklearn.neural_network.MLPRegressor`` (same
    hyperparameter names and meanings) with ``dropout``, ``leaky_relu``,
    ``validation_loss_curve_``, a progress bar and float32 training. The
    output layer is linear and the loss is ``fcnn.MSELoss()``, the mean
    squared error over all outputs (scikit-learn's is half of it, so its
    gradients are half as large: no difference under Adam, a factor of two
    in the step under plain SGD). ``predict`` returns ``(n_samples,)`` when
    ``y`` was 1-D and ``(n_samples, n_outputs)`` when it was 2-D.
"""
        + _PARAMETERS_DOC
        + """
    Attributes
    ----------
"""
        + _ATTRIBUTES_DOC
    )

    def _loss(self) -> Loss:
        return MSELoss()

    def _validate_xy(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self, X, y, reset=reset, dtype=[np.float64, np.float32], multi_output=True,
            y_numeric=True,
        )
        return self._cast(X, reset), y

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self.n_outputs_ = n_outputs
            self.out_activation_ = "identity"
            self._y_1d = y.ndim == 1
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"MLPRegressor.partial_fit: y has {n_outputs} output(s), the network was built "
                f"for {self.n_outputs_}"
            )
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _validation_score(
        self, X_val: np.ndarray, y_val: np.ndarray, logs: dict[str, float]
    ) -> float:
        return float(r2_score(y_val, predict(self.model_, X_val)))

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train for one epoch over ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True, classes=None)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``(n_samples,)`` for a 1-D ``y``, else ``(n_samples, n_outputs)``."""
        out = self._forward(X)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# -- helpers ----------------------------------------------------------------------


def _seed(random_state: Any) -> int:
    """fcnn's int seed from a scikit-learn ``random_state``.

    An int is used as it is, so ``random_state=S`` and ``fcnn.train(rng=S)``
    draw the same numbers; a RandomState (or None: NumPy's global one, which
    ``np.random.seed`` controls) gives a fresh int seed at each call.
    """
    state = check_random_state(random_state)  # validates ints as scikit-learn does
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(state.randint(np.iinfo(np.int32).max))


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _choice(who: str, name: str, value: Any, options: list[str]) -> None:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{who}: {name} must be one of {options}, got {value!r}")


def _integer(who: str, name: str, value: Any, low: int, extra: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{who}: {name} must be an int >= {low}{extra}, got {value!r}")


def _real(
    who: str,
    name: str,
    value: Any,
    *,
    low: float,
    high: float = np.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{who}: {name} must be a real number in {interval}, got {value!r}")
