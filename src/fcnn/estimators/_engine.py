"""The estimators' training engine: scikit-learn's MLP arithmetic on weight lists.

The weights have scikit-learn's shapes, ``coefs_[i]`` of ``(fan_in, fan_out)``
and ``intercepts_[i]`` of ``(fan_out,)`` (also fcnn's ``Linear.weight``/``bias``).
All of them are views of one flat buffer ordered as scikit-learn's ``_pack``
orders them (every coef, then every intercept), so ``lbfgs`` hands SciPy that
buffer as it is and the stochastic optimizers update every parameter with a
handful of NumPy calls. For ``sgd``/``adam`` a hidden layer's block holds its
weights transposed (``Engine``'s ``transposed``; ``coefs_[i]`` is then a
Fortran-ordered view), where BLAS computes the gradient faster.

``forward`` and ``backprop`` compute ``BaseMultilayerPerceptron._forward_pass``
and ``_backprop`` (the same products, the same in-place activations, the same
order of the L2 and ``sample_weight`` terms) and agree with them to rounding
(docs/estimators.md lists where the last bits can differ), but write into
buffers allocated once per fit, fuse what scikit-learn does per layer into one
pass over the buffer, and skip what only costs time (input checks per call,
generic activation dicts, fresh arrays per step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import erf, expit, xlogy

from ..errors import FcnnError

__all__ = ["ACTIVATIONS", "SGD", "Activation", "Adam", "Engine", "get_activation", "predict"]

_SQRT_HALF = np.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


class Activation:
    """An element-wise activation applied in place, with its derivative.

    ``forward(Z)`` overwrites the pre-activation ``Z`` with the activation;
    ``derivative(A, Z, delta)`` multiplies ``delta`` in place by f'(Z), given
    the output ``A`` and, when ``needs_input``, a copy ``Z`` of the input.
    ``relu_mask``: in training the engine computes ReLU as ``Z *= (Z > 0)``
    with a float mask it keeps, and its derivative as ``delta *= mask``:
    NumPy's ``maximum`` and a bool-by-float product are each about three
    times slower than a float-by-float product (9 µs of a digits step).
    """

    def __init__(
        self,
        forward: Callable[[np.ndarray], Any],
        derivative: Callable[[np.ndarray, Any, np.ndarray], Any],
        needs_input: bool = False,
        relu_mask: bool = False,
    ) -> None:
        self.forward, self.derivative, self.needs_input = forward, derivative, needs_input
        self.relu_mask = relu_mask


def _identity(Z: np.ndarray) -> None:
    return None


def _identity_d(A: np.ndarray, Z: Any, delta: np.ndarray) -> None:
    return None


def _logistic(Z: np.ndarray) -> None:
    expit(Z, out=Z)


def _logistic_d(A: np.ndarray, Z: Any, delta: np.ndarray) -> None:
    delta *= A
    delta *= 1 - A


def _tanh(Z: np.ndarray) -> None:
    np.tanh(Z, out=Z)


def _tanh_d(A: np.ndarray, Z: Any, delta: np.ndarray) -> None:
    delta *= 1 - A**2


def _relu(Z: np.ndarray) -> None:
    np.maximum(Z, 0, out=Z)


def _relu_d(A: np.ndarray, Z: Any, delta: np.ndarray) -> None:
    # scikit-learn writes delta[A == 0] = 0; multiplying by the mask gives the
    # same numbers (up to the sign of zero) in a sixth of the time
    np.multiply(delta, A > 0, out=delta)


_LEAKY_SLOPE = 0.01  # PyTorch's and fcnn.LeakyReLU's default


def _leaky_relu(Z: np.ndarray) -> None:
    np.multiply(Z, _LEAKY_SLOPE, out=Z, where=Z < 0)


def _leaky_relu_d(A: np.ndarray, Z: Any, delta: np.ndarray) -> None:
    np.multiply(delta, _LEAKY_SLOPE, out=delta, where=A <= 0)  # slope at 0, as PyTorch


def _elu(Z: np.ndarray) -> None:
    np.expm1(Z, out=Z, where=Z < 0)


def _elu_d(A: np.ndarray, Z: Any, delta: np.ndarray) -> None:
    negative = A <= 0
    np.multiply(delta, A + 1, out=delta, where=negative)  # f' = f + 1 for x <= 0


def _gelu(Z: np.ndarray) -> None:
    # exact GELU (PyTorch's default): x * Phi(x)
    cdf = erf(Z * _SQRT_HALF)
    cdf += 1
    cdf *= 0.5
    Z *= cdf


def _gelu_d(A: np.ndarray, Z: np.ndarray, delta: np.ndarray) -> None:
    cdf = erf(Z * _SQRT_HALF)
    cdf += 1
    cdf *= 0.5
    pdf = np.exp(-0.5 * Z * Z)
    pdf *= Z
    pdf *= _INV_SQRT_2PI
    cdf += pdf
    delta *= cdf


def _silu(Z: np.ndarray) -> None:
    Z *= expit(Z)


def _silu_d(A: np.ndarray, Z: np.ndarray, delta: np.ndarray) -> None:
    s = expit(Z)
    # s * (1 + z * (1 - s))
    factor = 1 - s
    factor *= Z
    factor += 1
    factor *= s
    delta *= factor


#: Hidden activations the engine computes in place. scikit-learn's four come
#: first; the rest are fcnn's additions (the same functions as fcnn's layers).
ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(_identity, _identity_d),
    "logistic": Activation(_logistic, _logistic_d),
    "tanh": Activation(_tanh, _tanh_d),
    "relu": Activation(_relu, _relu_d, relu_mask=True),
    "leaky_relu": Activation(_leaky_relu, _leaky_relu_d),
    "elu": Activation(_elu, _elu_d),
    "gelu": Activation(_gelu, _gelu_d, needs_input=True),
    "silu": Activation(_silu, _silu_d, needs_input=True),
}
ACTIVATIONS["sigmoid"] = ACTIVATIONS["logistic"]


def get_activation(name: str) -> Activation:
    """The engine's ``name``: one of the in-place functions above, or else any activation
    registered in ``fcnn.registry.ACTIVATIONS`` (``fcnn.register_activation``), run
    through its layer's own forward and backward (slower: the backward repeats the
    forward), so that the estimators take every name the rest of fcnn takes."""
    found = ACTIVATIONS.get(name)
    if found is None:
        from ..registry import ACTIVATIONS as REGISTERED

        cls = REGISTERED[name]

        def layer() -> Any:
            act = cls()
            act.check_finite = False  # the engine reports non-finite weights itself
            return act

        def forward(Z: np.ndarray) -> None:
            Z[...] = layer().forward(Z)

        def derivative(A: np.ndarray, Z: np.ndarray, delta: np.ndarray) -> None:
            act = layer()
            act.forward(Z)
            delta[...] = act.backward(delta)

        found = ACTIVATIONS[name] = Activation(forward, derivative, needs_input=True)
    return found


#: How far below the largest logit of a batch the smallest may lie for one shift
#: (the batch's maximum) to serve every row: exp of -600 (float64) or -60
#: (float32) is still a normal number, so no row's sum underflows.
_SHIFT_RANGE = {np.dtype(np.float64): 600.0, np.dtype(np.float32): 60.0}


def _softmax(Z: np.ndarray) -> None:
    """scikit-learn's ``inplace_softmax``, the same numbers to rounding, in fewer passes.

    scikit-learn subtracts each row's maximum; any shift gives the same softmax,
    and where the batch's logits span less than ``_SHIFT_RANGE`` one scalar (the
    batch's maximum) keeps every exponent in range: two contiguous reductions
    instead of a reduction over rows of a few elements, a third of the time. Row
    sums go through BLAS (a product with a vector of ones). Non-finite or widely
    spread logits take scikit-learn's per-row path.
    """
    hi, lo = Z.max(), Z.min()
    if hi - lo < _SHIFT_RANGE.get(Z.dtype, 0.0):
        Z -= hi
    else:
        Z -= Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= (Z @ _ones(Z.shape[1], Z.dtype))[:, None]


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _ones(k: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``k`` ones (row sums as a product), made once per size."""
    found = _ONES.get((k, dtype))
    if found is None:
        found = _ONES[k, dtype] = np.ones(k, dtype=dtype)
        found.flags.writeable = False
    return found


def _clip_probabilities(p: np.ndarray) -> np.ndarray:
    """scikit-learn's ``np.clip(p, eps, 1 - eps)`` in place, as two ufuncs (a
    fifth of ``np.clip``'s time on a batch's probabilities)."""
    eps = np.finfo(p.dtype).eps
    np.maximum(p, eps, out=p)
    np.minimum(p, 1 - eps, out=p)
    return p


_OUTPUTS: dict[str, Callable[[np.ndarray], Any]] = {
    "identity": _identity,
    "exp": lambda Z: np.exp(Z, out=Z),
    "logistic": _logistic,
    "softmax": _softmax,
}


# -- dropout masks keyed by the sample ------------------------------------------------
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's multipliers
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place on a uint64 array (wrapping arithmetic)."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def row_keys(X: Any, seed: int) -> np.ndarray:
    """A 64-bit key per row of ``X`` that depends only on the row's values.

    Dropout draws each row's masks from its key (``Engine.dropout_keys``), so
    identical rows get identical masks wherever they sit: a row repeated k
    times then trains exactly as the row once with ``sample_weight=k``, and a
    row of weight 0 exactly as no row, which is what ``sample_weight`` means
    (scikit-learn checks it). Distinct rows get independent masks. The key is
    a wrapping sum over the row's entries of their bits times a per-column odd
    constant, mixed: a sparse row and its dense copy get the same key (zeros
    add nothing).
    """
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    columns = rng.integers(0, 2**63, size=d, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    bits = np.uint64 if X.dtype.itemsize == 8 else np.uint32
    if isinstance(X, np.ndarray):
        keys = np.empty(X.shape[0], dtype=np.uint64)
        rows = max(1, 2**20 // max(d, 1))  # the products of ~8 MB of X at a time
        for start in range(0, X.shape[0], rows):
            part = np.ascontiguousarray(X[start : start + rows]).view(bits)
            products = part.astype(np.uint64)
            products *= columns
            products.sum(axis=1, dtype=np.uint64, out=keys[start : start + rows])
    else:  # CSR: the same sum over the stored entries, by prefix sums
        X = X.tocsr()
        data = np.ascontiguousarray(X.data).view(bits).astype(np.uint64)
        terms = np.concatenate(([np.uint64(0)], np.cumsum(data * columns[X.indices], dtype=np.uint64)))
        keys = terms[X.indptr[1:]] - terms[X.indptr[:-1]]
    return _mix(keys + np.uint64(rng.integers(0, 2**63)))


def predict(
    X: Any,
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    activation: str,
    out: str,
    norms: list[Any] | None = None,
) -> np.ndarray:
    """scikit-learn's ``_forward_pass_fast``: the output activation for ``X`` (a new array)."""
    hidden = get_activation(activation).forward
    A = X
    for i in range(len(coefs)):
        A = np.asarray(A @ coefs[i])  # a sparse X gives an ndarray too
        A += intercepts[i]
        if i != len(coefs) - 1:
            if norms:
                norms[i].eval()
                A = norms[i].forward(A)
                norms[i].train()
            hidden(A)
    _OUTPUTS[out](A)
    return A


class ZeroWeightBatchError(FcnnError, ValueError, ZeroDivisionError):
    """A training batch whose sample weights sum to 0: a ``ValueError`` as fcnn's bad
    input is, and the ``ZeroDivisionError`` scikit-learn's MLP raises there."""


class Engine:
    """One network's parameters (flat, in ``_pack`` order), gradients and buffers.

    Parameters
    ----------
    layer_units : [n_features, *hidden, n_outputs]
    activation : name in ``ACTIVATIONS`` (hidden layers)
    out_activation : "identity", "exp", "logistic" or "softmax"
    loss : "squared_error", "poisson", "log_loss" or "binary_log_loss"
    alpha : L2 strength (scikit-learn's units)
    dtype : the parameters' dtype
    transposed : which layers keep their weights in memory as ``(fan_out, fan_in)``
        (PyTorch's layout), ``coefs_[i]`` then being the transposed (Fortran-ordered)
        view. Same shapes and values; the gradient is then ``delta.T @ A`` into a
        C-ordered block, which BLAS runs up to twice as fast on two threads for a
        hidden layer (docs/estimators.md). The flat buffer's order is then no
        longer scikit-learn's ``_pack`` order, which only ``lbfgs`` sees (SciPy's
        dot products): it keeps scikit-learn's layout.
    """

    def __init__(
        self,
        layer_units: list[int],
        activation: str,
        out_activation: str,
        loss: str,
        alpha: float,
        dtype: Any,
        dropout: float = 0.0,
        norms: list[Any] | None = None,
        transposed: list[bool] | None = None,
    ) -> None:
        self.units = list(layer_units)
        self.n_layers = len(self.units)
        self.activation = get_activation(activation)
        self.out_activation = _OUTPUTS[out_activation]
        self.out_name = out_activation
        self.loss_name = loss
        self.alpha = float(alpha)
        self.dtype = np.dtype(dtype)
        self.dropout = float(dropout)
        #: uint64 per row of the batch being trained (set by the caller before each
        #: ``backprop`` with dropout): the row's key mixed with the epoch
        self.dropout_keys: np.ndarray | None = None
        shapes = list(zip(self.units[:-1], self.units[1:], strict=True))
        self.transposed = list(transposed) if transposed else [False] * len(shapes)
        total = sum(a * b for a, b in shapes) + sum(self.units[1:])
        # fcnn's normalization layers (one per hidden layer) keep their parameters
        # after scikit-learn's, in the same flat buffers, so the optimizers see them
        self.norms = list(norms) if norms else None
        from ..norm import BatchNorm1d

        #: per norm, whether its batch statistics take the batch's sample_weight
        #: (BatchNorm1d's; LayerNorm's are per row and need none)
        self._weighs = [isinstance(layer, BatchNorm1d) for layer in self.norms or ()]
        norm_params = [p for layer in self.norms or () for p in layer.parameters()]
        extra = sum(p.size for p in norm_params)
        self.flat = np.zeros(total + extra, dtype=self.dtype)
        self.grad = np.zeros(total + extra, dtype=self.dtype)
        self.coefs, self.intercepts = self._views(self.flat, shapes, self.transposed)
        self.coef_grads, self.intercept_grads = self._views(self.grad, shapes, self.transposed)
        # every coef, then every intercept: the L2 term and its gradient are one
        # pass over the first block, the division by the weight sum one pass over both
        n_coef = sum(a * b for a, b in shapes)
        self._flat_coefs, self._grad_coefs = self.flat[:n_coef], self.grad[:n_coef]
        self._grad_sk = self.grad[:total]
        self.norm_params = norm_params
        start = total
        for param in norm_params:
            stop = start + param.size
            param._rebind(self.flat[start:stop].reshape(param.shape),
                          self.grad[start:stop].reshape(param.shape))
            start = stop
        self._n_buffer = -1

    @staticmethod
    def _views(
        flat: np.ndarray, shapes: list[tuple[int, int]], transposed: list[bool]
    ) -> tuple[list, list]:
        coefs, intercepts, start = [], [], 0
        for (fan_in, fan_out), t in zip(shapes, transposed, strict=True):
            block = flat[start : start + fan_in * fan_out]
            coefs.append(block.reshape(fan_out, fan_in).T if t else block.reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for _, fan_out in shapes:
            intercepts.append(flat[start : start + fan_out])
            start += fan_out
        return coefs, intercepts

    def relayout(self, state: np.ndarray, transposed: list[bool]) -> np.ndarray:
        """``state`` (an optimizer's array over the flat buffer, laid out as ``transposed``
        says) in this engine's layout: the same values per weight, the blocks moved."""
        if list(transposed) == self.transposed or state.shape != self.flat.shape:
            return state
        shapes = list(zip(self.units[:-1], self.units[1:], strict=True))
        out = state.copy()
        old, _ = self._views(state, shapes, list(transposed))
        new, _ = self._views(out, shapes, self.transposed)
        for a, b in zip(old, new, strict=True):
            b[...] = a
        return out

    def load(self, coefs: list[np.ndarray], intercepts: list[np.ndarray]) -> None:
        """Copy the estimator's ``coefs_``/``intercepts_`` in (unless they are our views)."""
        if len(coefs) != len(self.coefs) or len(intercepts) != len(self.intercepts):
            raise ValueError(
                f"coefs_/intercepts_ must hold {len(self.coefs)} arrays each (one per layer), "
                f"got {len(coefs)} and {len(intercepts)}"
            )
        for mine, theirs in zip(self.coefs + self.intercepts, list(coefs) + list(intercepts), strict=True):
            if mine is not theirs:
                if np.shape(theirs) != mine.shape:
                    raise ValueError(
                        f"an assigned coefs_/intercepts_ array has shape {np.shape(theirs)}; "
                        f"the network's is {mine.shape}"
                    )
                mine[...] = theirs

    def _buffers(self, n: int) -> None:
        """Activation and delta buffers for batches of up to ``n`` rows."""
        if n <= self._n_buffer:
            return
        units, dt = self.units, self.dtype
        self._acts = [None] + [np.empty((n, u), dtype=dt) for u in units[1:]]
        self._deltas = [np.empty((n, u), dtype=dt) for u in units[1:-1]]
        needs = self.activation.needs_input
        self._inputs = [np.empty((n, u), dtype=dt) if needs else None for u in units[1:-1]]
        relu = self.activation.relu_mask
        self._relu_masks = [np.empty((n, u), dtype=dt) if relu else None for u in units[1:-1]]
        self._masks: list[Any] = [None] * (len(units) - 2)
        self._dropped = [np.empty((n, u), dtype=dt) if self.dropout else None for u in units[1:-1]]
        salt = np.random.default_rng(len(units))
        self._unit_keys = [salt.integers(0, 2**63, size=u, dtype=np.uint64) for u in units[1:-1]]
        self._scratch = np.empty(self._flat_coefs.size, dtype=dt)
        self._ones = np.ones(n, dtype=dt)  # column sums (bias gradients) through BLAS
        self._n_buffer = n

    # -- forward ---------------------------------------------------------------
    def forward(self, X: Any, train: bool = False, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """The output activation ``(n, n_outputs)`` for ``X``, in a buffer
        (valid until the next call). ``sample_weight`` (per row, or None) weights
        BatchNorm1d's batch statistics, so a row weighted k counts as k copies."""
        n = X.shape[0]
        self._buffers(n)
        acts, last = self._acts, self.n_layers - 2
        act = self.activation
        inp = X
        for i in range(self.n_layers - 1):
            Z = acts[i + 1][:n]
            if isinstance(inp, np.ndarray):
                np.matmul(inp, self.coefs[i], out=Z)
            else:  # sparse input: scipy's product, as safe_sparse_dot
                Z[...] = inp @ self.coefs[i]
            Z += self.intercepts[i]
            if i != last:
                if self.norms is not None:
                    if sample_weight is not None and self._weighs[i]:
                        Z[...] = self.norms[i].forward(Z, sample_weight=sample_weight)
                    else:
                        Z[...] = self.norms[i].forward(Z)
                if act.needs_input:
                    self._inputs[i][:n] = Z
                if act.relu_mask:
                    # Z * (Z > 0): the same numbers as max(Z, 0), but for the sign of
                    # zero and a pre-activation of -inf (NaN here; the weights have
                    # overflowed by then, and the fit reports it)
                    mask = self._relu_masks[i][:n]
                    np.greater(Z, 0, out=mask)
                    Z *= mask
                else:
                    act.forward(Z)
                inp = Z
                if self.dropout and train:
                    inp = self._drop(i, Z, n)
        self.out_activation(Z)
        return Z

    def _drop(self, i: int, A: np.ndarray, n: int) -> np.ndarray:
        keep = 1.0 - self.dropout
        # unit j of layer i keeps row r where a hash of (row key, layer, unit) falls
        # below keep * 2**64: the same row gets the same mask, distinct rows independent ones
        units = self._unit_keys[i]
        z = np.bitwise_xor(self.dropout_keys[:n, None], units)
        mask = _mix(z) < np.uint64(min(int(keep * 2.0**64), 2**64 - 1))
        scaled = mask.astype(self.dtype)
        scaled /= keep
        self._masks[i] = scaled
        out = self._dropped[i][:n]
        np.multiply(A, scaled, out=out)
        return out

    # -- loss and gradients -------------------------------------------------------
    def backprop(
        self,
        X: Any,
        Y: np.ndarray,
        labels: np.ndarray | None,
        sample_weight: np.ndarray | None,
        train: bool = True,
    ) -> float:
        """Loss (with the L2 term) at ``X``; gradients into ``self.grad``.

        ``Y`` is the target matrix ``(n, n_outputs)`` (bool indicators for a
        classifier); ``labels`` the true-class index per row for softmax outputs.
        """
        n = X.shape[0]
        for param in self.norm_params:
            param.zero_grad(set_to_none=True)
        sw_sum: Any = n if sample_weight is None else sample_weight.sum()
        if not sw_sum:
            raise ZeroWeightBatchError(
                f"the sample weights of a training batch of {n} rows sum to 0, so its loss "
                "and gradients are undefined (scikit-learn stops here too: \"Weights sum to "
                "zero, can't be normalized\"); use a larger batch_size, shuffle=True, or "
                "drop the rows of weight 0"
            )
        out = self.forward(X, train=train, sample_weight=sample_weight)
        if labels is not None:
            # flat positions of the true classes: the loss reads them, the delta
            # subtracts the one-hot target there (act(z) - y)
            where = self._row_offsets(n, out.shape[1])
            where += labels
        loss = self._loss(out, Y, labels, sample_weight, n, where if labels is not None else None)
        alpha = self.alpha
        coefs = self.coefs
        if alpha:
            # scikit-learn sums np.dot(s, s) layer by layer; one dot over the packed coefs
            # is the same sum to rounding
            flat_coefs = self._flat_coefs
            loss += (0.5 * alpha) * np.dot(flat_coefs, flat_coefs) / sw_sum
        # the delta of the output layer, act(z) - y, overwrites the output buffer
        delta = out
        if labels is not None:
            delta.ravel()[where] -= 1
        else:
            np.subtract(delta, Y, out=delta)
        if sample_weight is not None:
            delta *= sample_weight.reshape(-1, 1)
        acts, deltas, inputs = self._acts, self._deltas, self._inputs
        act = self.activation
        derivative, needs_input = act.derivative, act.needs_input
        dropping = self.dropout and train
        coef_grads, intercept_grads = self.coef_grads, self.intercept_grads
        ones = self._ones[:n]
        transposed = self.transposed
        for i in range(self.n_layers - 2, -1, -1):
            gW, gb = coef_grads[i], intercept_grads[i]
            if i == 0:
                below = X
            elif dropping:
                below = self._dropped[i - 1][:n]
            else:
                below = acts[i][:n]
            if isinstance(below, np.ndarray):
                if transposed[i]:
                    np.matmul(delta.T, below, out=gW.T)
                else:
                    np.matmul(below.T, delta, out=gW)
            else:
                gW[...] = below.T @ delta
            # the column sums as a product with ones: BLAS, three times np.sum's speed
            np.matmul(ones, delta, out=gb)
            if i == 0:
                break
            new = deltas[i - 1][:n]
            np.matmul(delta, coefs[i].T, out=new)
            if dropping:
                new *= self._masks[i - 1]
            if act.relu_mask:
                new *= self._relu_masks[i - 1][:n]
            else:
                derivative(acts[i][:n], inputs[i - 1][:n] if needs_input else None, new)
            if self.norms is not None:
                new[...] = self.norms[i - 1].backward(new)
            delta = new
        # scikit-learn's (A.T @ delta + alpha * W) / sum(sample_weight) and
        # sum(delta) / sum(sample_weight), in that order, over all layers at once;
        # alpha * W goes into a reused buffer (a fresh array this large is a fresh
        # mmap, with page faults, at every step)
        if alpha:
            scaled = self._scratch
            np.multiply(self._flat_coefs, alpha, out=scaled)
            self._grad_coefs += scaled
        self._grad_sk /= sw_sum
        if self.norms is not None:
            # their gradients are sums over the batch, like the products above
            # before the division by the weight sum
            for param in self.norm_params:
                param._grad /= sw_sum
        return float(loss)

    def _row_offsets(self, n: int, k: int) -> np.ndarray:
        offsets = getattr(self, "_offsets", None)
        if offsets is None or offsets.shape[0] < n or self._offsets_k != k:
            offsets = self._offsets = np.arange(max(n, self._n_buffer), dtype=np.intp) * k
            self._offsets_k = k
        return offsets[:n].copy()

    def _loss(
        self,
        out: np.ndarray,
        Y: np.ndarray,
        labels: np.ndarray | None,
        sample_weight: np.ndarray | None,
        n: int,
        where: np.ndarray | None = None,
    ) -> Any:
        """scikit-learn's ``LOSS_FUNCTIONS[...]`` on the output activation."""
        name = self.loss_name
        if name == "log_loss":  # softmax; labels given
            p = out[np.arange(n), labels] if where is None else out.ravel().take(where, mode="clip")
            logp = np.log(_clip_probabilities(p), out=p)
            if sample_weight is None:
                return -logp.sum() / n
            return -np.dot(sample_weight, logp) / sample_weight.sum()
        if name == "binary_log_loss":
            p = _clip_probabilities(out.copy())
            q = np.where(Y, p, 1 - p)
            np.log(q, out=q)
            per_output = np.average(q, weights=sample_weight, axis=0)
            return -per_output.sum()
        if name == "squared_error":
            diff = Y - out
            diff *= diff
            return 0.5 * np.average(diff, weights=sample_weight, axis=0).mean()
        # poisson (half deviance)
        return np.average(xlogy(Y, Y / out) - Y + out, weights=sample_weight, axis=0).sum()


#: Elements per slice of the optimizers' element-wise passes: a dozen passes over
#: a slice that stays in cache instead of over the whole buffer from memory.
_CHUNK = 65536
#: Parameters from which an update is split over two threads (NumPy's element-wise
#: loops release the GIL): W3's 668,000 float64 parameters take 1.9 ms instead of
#: 2.9 ms a step. Smaller buffers are not worth a thread hand-off.
_PARALLEL_MIN = 4 * _CHUNK


def _chunks(size: int) -> list[slice]:
    return [slice(start, min(start + _CHUNK, size)) for start in range(0, max(size, 1), _CHUNK)]


def update_pool(size: int) -> Any:
    """A one-thread executor for updates of ``size`` parameters, or None.

    None for small buffers, on one CPU, or where the BLAS has been limited to one
    thread (``threadpoolctl.threadpool_limits(1)``, ``OPENBLAS_NUM_THREADS=1``): a
    user who asked for one thread gets one. The caller shuts it down after the fit.
    """
    if size < _PARALLEL_MIN:
        return None
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return None
    from threadpoolctl import threadpool_info

    if any(pool.get("user_api") == "blas" and pool.get("num_threads", 2) < 2
           for pool in threadpool_info()):
        return None
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="fcnn-update")


class _ChunkedUpdate:
    """The slices, scratch buffers and optional second thread of an in-place update."""

    _scratch_names = ("_tmp", "_tmp2")
    #: set by the estimator for a fit (``update_pool``); None runs in this thread only
    pool: Any = None

    def reattach(self, params: np.ndarray) -> None:
        """Scratch buffers for ``params`` (after unpickling, or on first use)."""
        self._chunks = _chunks(params.size)
        if getattr(self, "_tmp", None) is None or self._tmp.dtype != params.dtype:
            size = self._chunks[0].stop - self._chunks[0].start
            # two per thread, for the two threads
            self._tmp = np.empty((2, size), dtype=params.dtype)
            self._tmp2 = np.empty((2, size), dtype=params.dtype)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in (*self._scratch_names, "pool")}

    def _run(self, body: Callable[[list[slice], np.ndarray, np.ndarray], None]) -> None:
        """``body(slices, tmp, tmp2)`` over every slice: half of them in the pool's thread
        when there is one (disjoint slices and buffers: the same numbers either way)."""
        chunks, pool = self._chunks, self.pool
        if pool is None or len(chunks) < 4:
            body(chunks, self._tmp[0], self._tmp2[0])
            return
        half = len(chunks) // 2
        other = pool.submit(body, chunks[half:], self._tmp[1], self._tmp2[1])
        try:
            body(chunks[:half], self._tmp[0], self._tmp2[0])
        finally:
            other.result()


class SGD(_ChunkedUpdate):
    """scikit-learn's ``SGDOptimizer`` on the flat parameter buffer, in place.

    ``v = momentum * v - lr * g``; the update is ``v`` (or, with Nesterov,
    ``momentum * v - lr * g`` with the new ``v``); schedules as scikit-learn's.
    """

    def __init__(
        self,
        params: np.ndarray,
        learning_rate_init: float,
        lr_schedule: str,
        momentum: float,
        nesterov: bool,
        power_t: float,
    ) -> None:
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule, self.momentum, self.nesterov = lr_schedule, momentum, nesterov
        self.power_t = power_t
        self.velocities = np.zeros_like(params)
        self.reattach(params)

    def update_params(self, params: np.ndarray, grads: np.ndarray) -> None:
        lr, momentum, nesterov, velocities = self.learning_rate, self.momentum, self.nesterov, self.velocities

        def body(parts: list[slice], step_buf: np.ndarray, tmp_buf: np.ndarray) -> None:
            for part in parts:
                v, g, p = velocities[part], grads[part], params[part]
                n = v.shape[0]
                step, tmp = step_buf[:n], tmp_buf[:n]
                np.multiply(g, lr, out=step)  # lr * g
                v *= momentum
                v -= step
                if nesterov:
                    np.multiply(v, momentum, out=tmp)
                    tmp -= step
                    p += tmp
                else:
                    p += v

        self._run(body)

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose: Any) -> bool:
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.learning_rate:f}")
        return False


class Adam(_ChunkedUpdate):
    """scikit-learn's ``AdamOptimizer`` on the flat parameter buffer, in place.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``p -= lr_t m / (sqrt(v) + eps)``:
    epsilon is added to the square root of the *uncorrected* second moment,
    where PyTorch's ``Adam`` (``fcnn.Adam``) adds it after the bias correction.
    """

    def __init__(
        self,
        params: np.ndarray,
        learning_rate_init: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
    ) -> None:
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.ms = np.zeros_like(params)
        self.vs = np.zeros_like(params)
        self.reattach(params)

    def update_params(self, params: np.ndarray, grads: np.ndarray) -> None:
        self.t += 1
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        self.learning_rate = (
            self.learning_rate_init * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        )
        minus_lr = -self.learning_rate
        ms, vs = self.ms, self.vs

        def body(parts: list[slice], tmp_buf: np.ndarray, den_buf: np.ndarray) -> None:
            for part in parts:
                m, v, g, p = ms[part], vs[part], grads[part], params[part]
                n = m.shape[0]
                tmp, den = tmp_buf[:n], den_buf[:n]
                m *= b1
                np.multiply(g, 1 - b1, out=tmp)
                m += tmp
                v *= b2
                np.multiply(g, g, out=tmp)
                tmp *= 1 - b2
                v += tmp
                np.sqrt(v, out=den)
                den += eps
                np.multiply(m, minus_lr, out=tmp)
                tmp /= den
                p += tmp

        self._run(body)

    def iteration_ends(self, time_step: int) -> None:
        return None

    def trigger_stopping(self, msg: str, verbose: Any) -> bool:
        if verbose:
            print(msg + " Stopping.")
        return True
