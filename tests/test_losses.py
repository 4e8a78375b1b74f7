"""Losses against PyTorch 2.13, called live: every loss and option combination
(class weights, label smoothing, pos_weight, delta, the three reductions,
fcnn's sample weights) on random shapes, value and dL/dpred, float64 to
``max|a - b| / (1 + max|b|) <= 1e-10`` and float32 to 1e-5; numerical
gradient checks in float64; logits of ±1e4; refusals that change nothing.

The worst errors measured are printed at the end of the module (``pytest -s``).
"""

from __future__ import annotations

import itertools
import json
import pickle
import warnings
from typing import Any

import numpy as np
import pytest

import fcnn
from fcnn.errors import LabelError, NotReadyError, ShapeError
from fcnn.registry import LOSSES

torch = pytest.importorskip("torch", reason="PyTorch is the parity reference: pip install torch==2.13.0")
F = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
WORST: dict[str, float] = {}
REDUCTIONS = ("mean", "sum", "none")
ALL_LOSSES = ("NLLLoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "HuberLoss")


def scaled_error(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def record(kind: str, error: float) -> float:
    WORST[kind] = max(WORST.get(kind, 0.0), error)
    return error


@pytest.fixture(scope="module", autouse=True)
def report_worst_errors() -> Any:
    yield
    for kind, error in sorted(WORST.items()):
        print(f"\nworst {kind}: {error:.3e}", end="")
    print()


def t(a: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a))


def compare(kind: str, dtype: Any, loss: Any, pred: np.ndarray, target: np.ndarray,
            sample_weight: np.ndarray | None, torch_loss: Any, torch_den: Any = None) -> None:
    """fcnn's value and gradient against torch's.

    ``torch_loss(x)`` gives torch's loss for logits ``x`` with reduction ``loss.reduction``
    (with sample weights: its ``"none"`` losses, weighted here; ``torch_den`` is the
    weighted mean's denominator for a weighted ``"mean"``).
    """
    rng = np.random.default_rng(pred.size)
    x = t(pred).requires_grad_(True)
    reference = torch_loss(x)
    if sample_weight is not None:
        s = t(sample_weight).reshape((-1,) + (1,) * (reference.dim() - 1))
        reference = reference * s
        if loss.reduction != "none":
            reference = reference.sum()
            if loss.reduction == "mean":
                reference = reference / torch_den
    value = loss.forward(pred, target, sample_weight)
    if loss.reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dtype
        grad_output = rng.standard_normal(value.shape).astype(dtype)
        reference.backward(t(grad_output))
        grad = loss.backward(grad_output)
    else:
        assert isinstance(value, float)
        reference.backward()
        grad = loss.backward()
    assert grad.dtype == dtype and grad.shape == pred.shape
    tol = TOL[dtype]
    name = np.dtype(dtype).name
    assert record(f"{kind} value parity {name}", scaled_error(value, reference.detach().numpy())) <= tol
    assert record(f"{kind} gradient parity {name}", scaled_error(grad, x.grad.numpy())) <= tol


def sample_weights(rng: np.random.Generator, n: int, use: bool, dtype: Any) -> np.ndarray | None:
    return (rng.random(n) * 2 + 0.05).astype(dtype) if use else None


# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_entropy_matches_torch(seed: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    N, C = int(rng.integers(1, 40)), int(rng.integers(1, 9))
    pred = (rng.standard_normal((N, C)) * 4).astype(dtype)
    target = rng.integers(0, C, N)
    class_weight = rng.random(C) * 3 + 0.1
    for weighted, smoothing, reduction, use_sw in itertools.product(
            (False, True), (0.0, 0.3), REDUCTIONS, (False, True)):
        weight = class_weight if weighted else None
        for cls in (fcnn.NLLLoss, fcnn.CrossEntropyLoss):
            loss = cls(weight=weight, reduction=reduction, label_smoothing=smoothing)
            sw = sample_weights(rng, N, use_sw, dtype)
            w_t = None if weight is None else t(weight.astype(dtype))
            torch_reduction = "none" if sw is not None else reduction
            den = None
            if sw is not None:
                den = t(sw * (1 if weight is None else weight.astype(dtype)[target])).sum()
            compare("CrossEntropyLoss", dtype, loss, pred, target, sw,
                    lambda x, w_t=w_t, r=torch_reduction, e=smoothing: F.cross_entropy(
                        x, t(target), weight=w_t, reduction=r, label_smoothing=e), den)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bce_with_logits_matches_torch(seed: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    N, K = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    for shape, soft, weight_kind, pos_kind, reduction, use_sw in itertools.product(
            ((N,), (N, 1), (N, K)), (False, True), (None, "per-output", "per-element"),
            (None, "one", "per-output"), REDUCTIONS, (False, True)):
        outputs = shape[1] if len(shape) == 2 else 1
        pred = (rng.standard_normal(shape) * 4).astype(dtype)
        target = (rng.random(shape) if soft else rng.random(shape) < 0.4).astype(dtype)
        weight = {None: None, "per-output": rng.random(outputs) * 2,
                  "per-element": rng.random(shape) * 2}[weight_kind]
        if weight is not None and len(shape) == 1:
            weight = weight.reshape(shape) if weight_kind == "per-element" else weight[:1]
        pos_weight = {None: None, "one": rng.random(1) * 3 + 0.1,
                      "per-output": rng.random(outputs) * 3 + 0.1}[pos_kind]
        loss = fcnn.BCEWithLogitsLoss(weight, reduction=reduction, pos_weight=pos_weight)
        sw = sample_weights(rng, N, use_sw, dtype)
        w_t = None if weight is None else t(weight.astype(dtype))
        p_t = None if pos_weight is None else t(pos_weight.astype(dtype))
        den = None if sw is None else t(sw).sum() * (pred.size // N)
        y_t = t(target)
        compare("BCEWithLogitsLoss", dtype, loss, pred, target, sw,
                lambda x, w_t=w_t, p_t=p_t, r=("none" if use_sw else reduction), y=y_t:
                F.binary_cross_entropy_with_logits(x, y, weight=w_t, reduction=r, pos_weight=p_t),
                den)


REGRESSION = {
    "MSELoss": (lambda r, d: fcnn.MSELoss(r), lambda x, y, r, d: F.mse_loss(x, y, reduction=r)),
    "L1Loss": (lambda r, d: fcnn.L1Loss(r), lambda x, y, r, d: F.l1_loss(x, y, reduction=r)),
    "HuberLoss": (lambda r, d: fcnn.HuberLoss(r, delta=d),
                  lambda x, y, r, d: F.huber_loss(x, y, reduction=r, delta=d)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_losses_match_torch(name: str, seed: int, dtype: Any) -> None:
    make, reference = REGRESSION[name]
    rng = np.random.default_rng(seed)
    N, K = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    for shape, reduction, delta, use_sw in itertools.product(
            ((N,), (N, 1), (N, K), (N, K, 2)), REDUCTIONS, (1.0, 0.3, 2.5), (False, True)):
        if delta != 1.0 and name != "HuberLoss":
            continue
        pred = (rng.standard_normal(shape) * 2).astype(dtype)
        target = (rng.standard_normal(shape) * 2).astype(dtype)
        sw = sample_weights(rng, N, use_sw, dtype)
        den = None if sw is None else t(sw).sum() * (pred.size // N)
        y_t = t(target)
        compare(name, dtype, make(reduction, delta), pred, target, sw,
                lambda x, y=y_t, r=("none" if use_sw else reduction), d=delta:
                reference(x, y, r, d), den)


def test_lab_mse_keeps_its_fast_path_and_meaning() -> None:
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    loss = fcnn.MSELoss("sum")
    assert loss(pred, target) == pytest.approx(fcnn.mse(pred, target), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), fcnn.grad_mse(pred, target), rtol=1e-14)


# --------------------------------------------------------------------------- sample weights


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_integer_sample_weights_equal_repeating_the_samples(name: str) -> None:
    loss, pred, target = LOSSES[name].examples(0, np.float64)[1]
    counts = np.array([2, 0, 1, 3, 1])
    weighted = loss.forward(pred, target, counts)
    grad = loss.backward()
    repeated = type(loss)(**loss.get_config())
    expected = repeated.forward(np.repeat(pred, counts, axis=0), np.repeat(target, counts, axis=0))
    expected_grad = repeated.backward()
    assert weighted == pytest.approx(expected, rel=1e-13)
    # dL/dpred of a repeated sample is the sum over its copies
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    summed = np.stack([expected_grad[s : s + c].sum(axis=0) for s, c in zip(starts, counts)])
    np.testing.assert_allclose(grad, summed, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_unit_sample_weights_give_the_unweighted_loss(name: str) -> None:
    for loss, pred, target in LOSSES[name].examples(1, np.float64):
        plain = loss.forward(pred, target)
        plain_grad = loss.backward(None if loss.reduction != "none" else np.ones_like(plain))
        ones = loss.forward(pred, target, np.ones(pred.shape[0]))
        np.testing.assert_allclose(ones, plain, rtol=1e-14)
        np.testing.assert_allclose(loss.backward(), plain_grad, rtol=1e-14, atol=1e-17)


# --------------------------------------------------------------------------- gradient checks


def every_example(dtype: Any = np.float64) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    cases = []
    for name, cls in sorted(LOSSES.items()):
        for loss, pred, target in cls.examples(0, dtype):
            cases.append((name, loss, pred, target))
        for reduction in ("mean", "sum"):
            loss, pred, target = cls.example(1, dtype)
            config = {**loss.get_config(), "reduction": reduction}
            cases.append((name, cls(**config), pred, target))
    return cases


@pytest.mark.parametrize("case", every_example(), ids=lambda c: repr(c[1]) if not isinstance(c, str) else c)
def test_gradient_check_float64(case: tuple[str, Any, np.ndarray, np.ndarray]) -> None:
    _, loss, pred, target = case
    report = fcnn.check_layer(loss, pred, target)
    assert record("gradcheck relative error float64", report.max_relative_error) <= 1e-7


def test_every_loss_is_registered_with_examples_and_a_json_config() -> None:
    assert set(ALL_LOSSES) <= set(LOSSES)
    assert LOSSES["CrossEntropyLoss"] is LOSSES["NLLLoss"] is fcnn.CrossEntropyLoss
    for cls in set(LOSSES.values()):
        for dtype in (np.float32, np.float64):
            loss, pred, target = cls.example(0, dtype)
            assert isinstance(loss, cls) and pred.dtype == dtype
            assert np.isfinite(loss(pred, target))
        weighted = [loss for loss, _, _ in cls.examples(0) if getattr(loss, "weight", None) is not None]
        assert weighted or cls in (fcnn.MSELoss, fcnn.L1Loss, fcnn.HuberLoss)
        for loss, _, _ in cls.examples(0):
            config = json.loads(json.dumps(loss.get_config()))
            assert cls(**config).get_config() == loss.get_config()


# --------------------------------------------------------------------------- extremes, dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_1e4_stay_finite_without_warnings(dtype: Any) -> None:
    for name, loss, pred, target in every_example(dtype):
        extreme = np.where(np.arange(pred.size).reshape(pred.shape) % 2 == 0, 1e4, -1e4).astype(dtype)
        for x in (extreme, -extreme, pred * dtype(5e3)):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                    value = loss.forward(x, target if name not in REGRESSION else -x)
                    grad = loss.backward()
            assert np.isfinite(value).all() and np.isfinite(grad).all(), (name, loss)
            assert grad.dtype == dtype


def test_extreme_logits_match_torch_float64() -> None:
    pred = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 3.0, -1e4]])
    labels = np.array([1, 0, 2])
    multilabel = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.5], [0.0, 1.0, 1.0]])
    for loss, target, reference in [
        (fcnn.CrossEntropyLoss(weight=[0.5, 2.0, 1.0], label_smoothing=0.2), labels,
         lambda x: F.cross_entropy(x, t(labels), weight=t(np.array([0.5, 2.0, 1.0])),
                                   label_smoothing=0.2)),
        (fcnn.BCEWithLogitsLoss(pos_weight=[2.0, 0.5, 3.0]), multilabel,
         lambda x: F.binary_cross_entropy_with_logits(x, t(multilabel),
                                                      pos_weight=t(np.array([2.0, 0.5, 3.0])))),
    ]:
        compare("extreme-logit", np.float64, loss, pred, target, None, reference)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_float32_stays_float32(name: str) -> None:
    for loss, pred, target in LOSSES[name].examples(0, np.float32):
        none = type(loss)(**{**loss.get_config(), "reduction": "none"})
        out = none.forward(pred, target, np.ones(pred.shape[0], np.float64))
        assert out.dtype == np.float32 and none.backward().dtype == np.float32
        loss.forward(pred, target.astype(np.float64) if name in REGRESSION else target)
        assert loss.backward().dtype == np.float32


# --------------------------------------------------------------------------- refusals


def bad_calls(loss: Any, pred: np.ndarray, target: np.ndarray) -> list[Any]:
    N = pred.shape[0]
    calls = [
        lambda: loss.forward(pred, target, np.ones(N + 1)),
        lambda: loss.forward(pred, target, -np.ones(N)),
        lambda: loss.forward(pred, target, np.full(N, np.nan)),
        lambda: loss.forward(np.full_like(pred, np.nan), target),
        lambda: loss.forward(pred[:-1] if N > 1 else pred[:, :0], target),
    ]
    if loss.reduction == "mean":  # a weighted mean over weights that sum to 0
        calls.append(lambda: loss.forward(pred, target, np.zeros(N)))
    if isinstance(loss, fcnn.NLLLoss):
        calls.append(lambda: loss.forward(pred, target + pred.shape[1]))
        if loss.weight is not None:
            calls.append(lambda: loss.forward(pred[:, :-1], np.zeros(N, int)))
    elif isinstance(loss, fcnn.BCEWithLogitsLoss):
        calls += [lambda: loss.forward(pred, target + 1.5), lambda: loss.forward(pred, -target - 0.1)]
    return calls


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_a_refused_call_changes_nothing(name: str) -> None:
    for loss, pred, target in LOSSES[name].examples(0, np.float64):
        before = loss.forward(pred, target, np.linspace(0.5, 2, pred.shape[0]))
        grad = loss.backward()
        config = loss.get_config()
        for call in bad_calls(loss, pred, target):
            with pytest.raises((ValueError, TypeError)) as info:
                call()
            assert str(info.value)
            np.testing.assert_array_equal(loss.backward(), grad)
            assert loss.get_config() == config
        assert before == loss.forward(pred, target, np.linspace(0.5, 2, pred.shape[0]))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_backward_needs_a_forward_and_pickles_drop_the_cache(name: str) -> None:
    loss, pred, target = LOSSES[name].example(0)
    with pytest.raises(NotReadyError, match=r"forward\(\) before backward\(\)"):
        loss.backward()
    loss.forward(pred, target)
    clone = pickle.loads(pickle.dumps(loss))
    with pytest.raises(NotReadyError):
        clone.backward()
    assert clone.get_config() == loss.get_config()


def test_grad_output_for_none_must_have_the_output_shape() -> None:
    loss = fcnn.CrossEntropyLoss(reduction="none")
    loss.forward(np.zeros((4, 3)), np.array([0, 1, 2, 0]))
    with pytest.raises(ShapeError, match=r"grad_output of shape \(4,\).*got \(4, 1\)"):
        loss.backward(np.ones((4, 1)))


def test_bce_refuses_class_labels_for_multilabel_logits() -> None:
    with pytest.raises(ShapeError, match="CrossEntropyLoss"):
        fcnn.BCEWithLogitsLoss()(np.zeros((4, 3)), np.array([0, 1, 2, 0]))
    with pytest.raises(LabelError, match=r"\[0, 1\].*2\.0 at index \(1, 0\)"):
        fcnn.BCEWithLogitsLoss()(np.zeros((2, 3)), np.array([[0, 1, 1], [2, 0, 0]]))


def test_default_cross_entropy_takes_the_lab_path() -> None:
    # the lab's case keeps its one-pass code: nothing of the general path is cached
    loss = fcnn.NLLLoss()
    loss.forward(np.zeros((3, 2)), np.array([0, 1, 1]))
    assert loss._probs is not None and loss._G is None
    weighted = fcnn.NLLLoss(weight=[1.0, 1.0])
    weighted.forward(np.zeros((3, 2)), np.array([0, 1, 1]))
    assert weighted._probs is None and weighted._G is not None
    np.testing.assert_array_equal(weighted.backward(), loss.backward())


def test_a_loss_written_with_forward_and_backward_only_still_works() -> None:
    class Half(fcnn.Loss):
        def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
            self.diff = pred - target
            return float(0.5 * np.sum(self.diff**2))

        def backward(self) -> np.ndarray:
            return self.diff

    loss, pred = Half(), np.array([[1.0, 2.0]])
    assert loss(pred, np.zeros((1, 2))) == 2.5 == loss._forward(pred, np.zeros((1, 2)))
    np.testing.assert_array_equal(loss.backward(), pred)
    np.testing.assert_array_equal(loss.check_target([[0, 1]], (1, 2), np.float32), [[0, 1]])
    with pytest.raises(TypeError, match="takes no sample_weight"):
        loss._forward(pred, np.zeros((1, 2)), np.ones(1))
