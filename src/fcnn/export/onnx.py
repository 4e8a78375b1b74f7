"""ONNX export: ``export_onnx(model, path)`` writes a file onnxruntime (and every
other ONNX runtime) runs with fcnn's numbers.

The exporter is written once, against the layer contract: each layer class has a
*rule* in ``ONNX_RULES`` that appends its nodes to the graph, reading only the
layer's public attributes, ``named_parameters()`` and ``named_buffers()``. A layer
defined outside fcnn joins with::

    @fcnn.export.register_onnx(MyLayer)
    def my_layer(layer, graph, x):          # x: the name of the input tensor
        return graph.node("Relu", [x])      # the name of the output tensor

Rules are looked up by exact class (a subclass may compute something else), so a
layer without a rule is refused with an error that names it.

The graph: one input ``"input"`` of shape ``(batch, n_features)`` with a dynamic
batch dimension, in the model's dtype (float32 or float64); outputs ``"logits"``
(``"predictions"`` for a regressor), optionally ``"probabilities"`` and, when the
class names are known, ``"label"``. ``metadata_props`` holds ``fcnn_version``,
``task``, ``classes`` (JSON) and ``outputs``.

onnxruntime 1.32's CPU provider has no float64 kernel for ``LeakyRelu``, ``Elu``,
``Erf`` and ``Gelu``, and its float64 ``LayerNormalization``, ``BatchNormalization``
and tanh-``Gelu`` are 1e-13 to 1e-9 off: float64 graphs spell these out in elementary
ops (erf as Cephes' rational approximations), float32 graphs use the fused ops.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .._validation import resolve_dtype
from .._version import __version__
from ..layers import (
    ELU,
    GELU,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Standardize,
    Tanh,
)
from ..network import Sequential
from ..norm import BatchNorm1d, LayerNorm

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ONNX_RULES", "OnnxGraph", "export_onnx", "register_onnx"]

#: The opset written when ``opset=None``: 17 has LayerNormalization and is run by
#: onnxruntime >= 1.12.
DEFAULT_OPSET = 17
#: The oldest opset fcnn writes (13: Softmax over one axis).
MIN_OPSET = 13

OUTPUTS = ("logits", "proba", "both")

Rule = Callable[[Any, "OnnxGraph", str], str]

#: Layer class -> rule ``(layer, graph, x) -> y`` that emits the layer's nodes.
ONNX_RULES: dict[type, Rule] = {}


def register_onnx(layer_class: type) -> Callable[[Rule], Rule]:
    """Register the ONNX rule of ``layer_class`` (a decorator); it replaces an earlier one.

    The rule is called as ``rule(layer, graph, x)`` with ``graph`` an ``OnnxGraph`` and
    ``x`` the name of the layer's input tensor ``(batch, graph.width)``; it adds nodes
    with ``graph.node`` / ``graph.constant`` and returns the name of its output. A rule
    that changes the number of features sets ``graph.width``.
    """
    if not isinstance(layer_class, type):
        raise TypeError(f"register_onnx expects a layer class, got {layer_class!r}")

    def apply(rule: Rule) -> Rule:
        if not callable(rule):
            raise TypeError(f"register_onnx({layer_class.__name__}) expects a function, got {rule!r}")
        ONNX_RULES[layer_class] = rule
        return rule

    return apply


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is a test dependency
        raise ImportError(
            "fcnn.export_onnx needs the onnx package: pip install 'fcnn[onnx]'"
        ) from exc
    return onnx


class OnnxGraph:
    """The graph under construction, as rules see it.

    Attributes
    ----------
    dtype : numpy.dtype
        float32 or float64: every tensor's dtype.
    opset : int
        The ONNX opset being written.
    width : int or None
        The number of features of the current tensor (``None``: not known).
    """

    def __init__(self, dtype: np.dtype, opset: int, width: int | None) -> None:
        onnx = _onnx()
        self._helper, self._numpy_helper = onnx.helper, onnx.numpy_helper
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.width = width
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = {"input", "logits", "predictions", "probabilities", "label"}
        self.prefix = ""  # set per layer: "layer3_Linear_"
        self._eval_form: list[str] = []

    def unique(self, hint: str) -> str:
        """A tensor name not yet used, starting with the current layer's prefix."""
        base = self.prefix + hint
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def constant(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """Add an initializer (floats in the graph's dtype unless ``dtype``); return its name."""
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind == "f":
            array = array.astype(self.dtype)
        name = self.unique(hint)
        self.initializers.append(self._numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def node(self, op: str, inputs: Sequence[str], hint: str | None = None, **attributes: Any) -> str:
        """Add the node ``op(inputs, **attributes)`` with one output; return the output's name."""
        output = self.unique(hint or op.lower())
        self.nodes.append(self._helper.make_node(op, list(inputs), [output], name=output, **attributes))
        return output

    def eval_form(self, layer: Layer, why: str) -> None:
        """Note that ``layer``, in training mode, is written in its eval form (warned once)."""
        if layer.training:
            self._eval_form.append(f"{self.prefix.rstrip('_')} ({why})")


# ------------------------------------------------------------------------------ rules


@register_onnx(Linear)
def _linear(layer: Linear, graph: OnnxGraph, x: str) -> str:
    # Linear.weight is (in, out): y = X @ W + b is Gemm without transposes.
    weight = graph.constant(layer.weight.weights, "weight")
    bias = graph.constant(layer.bias.weights, "bias")
    graph.width = layer.out_features
    return graph.node("Gemm", [x, weight, bias], "gemm")


@register_onnx(ReLU)
def _relu(layer: ReLU, graph: OnnxGraph, x: str) -> str:
    return graph.node("Relu", [x])


def _where_negative(graph: OnnxGraph, x: str, negative: str) -> str:
    """``x`` where ``x > 0``, else ``negative`` (the float64 form of LeakyRelu and Elu)."""
    positive = graph.node("Greater", [x, graph.constant(0.0, "zero")], "positive")
    return graph.node("Where", [positive, x, negative])


@register_onnx(LeakyReLU)
def _leaky_relu(layer: LeakyReLU, graph: OnnxGraph, x: str) -> str:
    if graph.dtype == np.float32:
        return graph.node("LeakyRelu", [x], alpha=float(layer.negative_slope))
    scaled = graph.node("Mul", [x, graph.constant(layer.negative_slope, "negative_slope")], "scaled")
    return _where_negative(graph, x, scaled)


@register_onnx(Sigmoid)
def _sigmoid(layer: Sigmoid, graph: OnnxGraph, x: str) -> str:
    return graph.node("Sigmoid", [x])


@register_onnx(Tanh)
def _tanh(layer: Tanh, graph: OnnxGraph, x: str) -> str:
    return graph.node("Tanh", [x])


@register_onnx(Dropout)
def _dropout(layer: Dropout, graph: OnnxGraph, x: str) -> str:
    if layer.p:
        graph.eval_form(layer, f"Dropout(p={layer.p}) removed")
    return x


@register_onnx(Identity)
def _identity(layer: Identity, graph: OnnxGraph, x: str) -> str:
    return x


@register_onnx(ELU)
def _elu(layer: ELU, graph: OnnxGraph, x: str) -> str:
    alpha = float(layer.alpha)
    if graph.dtype == np.float32:
        return graph.node("Elu", [x], alpha=alpha)
    expm1 = graph.node("Sub", [graph.node("Exp", [x]), graph.constant(1.0, "one")], "expm1")
    negative = graph.node("Mul", [expm1, graph.constant(alpha, "alpha")], "negative")
    return _where_negative(graph, x, negative)


@register_onnx(Softplus)
def _softplus(layer: Softplus, graph: OnnxGraph, x: str) -> str:
    # log(1 + exp(-|bx|)) + max(bx, 0) is Softplus without overflow, in both dtypes
    bx = graph.node("Mul", [x, graph.constant(layer.beta, "beta")], "bx")
    tail = graph.node("Log", [graph.node("Add", [graph.constant(1.0, "one"), graph.node(
        "Exp", [graph.node("Neg", [graph.node("Abs", [bx])])])])], "log1p_exp")
    soft = graph.node("Div", [graph.node("Add", [tail, graph.node("Relu", [bx])]),
                              graph.constant(layer.beta, "beta")], "softplus")
    linear = graph.node("Greater", [bx, graph.constant(layer.threshold, "threshold")], "linear")
    return graph.node("Where", [linear, x, soft])


@register_onnx(SiLU)
def _silu(layer: SiLU, graph: OnnxGraph, x: str) -> str:
    return graph.node("Mul", [x, graph.node("Sigmoid", [x])], "silu")


@register_onnx(GELU)
def _gelu(layer: GELU, graph: OnnxGraph, x: str) -> str:
    approximate = layer.approximate
    if graph.dtype == np.float32 and graph.opset >= 20:
        return graph.node("Gelu", [x], approximate=approximate)
    if approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's formula (onnxruntime's
        # float64 Gelu(approximate="tanh") is off by ~1e-9, so float64 always spells it out)
        cube = graph.node("Mul", [graph.node("Mul", [x, x], "square"), x], "cube")
        inner = graph.node("Add", [x, graph.node("Mul", [cube, graph.constant(0.044715, "c")])], "inner")
        scaled = graph.node("Mul", [inner, graph.constant(math.sqrt(2 / math.pi), "sqrt_2_over_pi")])
        gate = graph.node("Add", [graph.node("Tanh", [scaled]), graph.constant(1.0, "one")], "gate")
        half_x = graph.node("Mul", [x, graph.constant(0.5, "half")], "half_x")
        return graph.node("Mul", [half_x, gate], "gelu")
    # x * Phi(x), Phi(x) = (1 + erf(x sqrt(1/2))) / 2, as GELU computes it
    z = graph.node("Mul", [x, graph.constant(math.sqrt(0.5), "sqrt_half")], "z")
    erf = graph.node("Erf", [z]) if graph.dtype == np.float32 else _erf64(graph, z)
    cdf = graph.node("Mul", [graph.node("Add", [erf, graph.constant(1.0, "one")]),
                             graph.constant(0.5, "half")], "cdf")
    return graph.node("Mul", [x, cdf], "gelu")


# Cephes' rational approximations of erf and erfc (S. L. Moshier, ndtr.c; public domain;
# the ones SciPy's erf evaluates), highest power first; "monic" ones have a leading 1.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _polynomial(graph: OnnxGraph, x: str, coefficients: Sequence[float], hint: str) -> str:
    """Horner's rule: ``c0 x^n + c1 x^(n-1) + ... + cn``."""
    y = graph.constant(coefficients[0], hint)
    for c in coefficients[1:]:
        y = graph.node("Add", [graph.node("Mul", [y, x], hint), graph.constant(c, hint)], hint)
    return y


def _erf64(graph: OnnxGraph, z: str) -> str:
    """erf in float64 from elementary ops: onnxruntime has no float64 Erf kernel."""
    a = graph.node("Abs", [z], "abs")
    z2 = graph.node("Mul", [z, z], "z2")
    small = graph.node("Div", [graph.node("Mul", [z, _polynomial(graph, z2, _ERF_T, "erf_t")]),
                               _polynomial(graph, z2, _ERF_U, "erf_u")], "erf_small")  # |z| <= 1
    # erfc(|z|) = exp(-z^2) P(|z|)/Q(|z|) below 8, R/S above; |z| capped at 30, where exp
    # underflows to 0 anyway, so that the polynomials stay finite for any input
    capped = graph.node("Min", [a, graph.constant(30.0, "cap")], "capped")
    gauss = graph.node("Exp", [graph.node("Neg", [z2])], "gauss")
    middle = graph.node("Div", [_polynomial(graph, capped, _ERFC_P, "erfc_p"),
                                _polynomial(graph, capped, _ERFC_Q, "erfc_q")], "erfc_middle")
    tail = graph.node("Div", [_polynomial(graph, capped, _ERFC_R, "erfc_r"),
                              _polynomial(graph, capped, _ERFC_S, "erfc_s")], "erfc_tail")
    below_8 = graph.node("Less", [a, graph.constant(8.0, "eight")], "below_8")
    erfc = graph.node("Mul", [gauss, graph.node("Where", [below_8, middle, tail])], "erfc")
    one_minus = graph.node("Sub", [graph.constant(1.0, "one"), erfc], "one_minus_erfc")
    large = graph.node("Mul", [graph.node("Sign", [z]), one_minus], "erf_large")
    within_1 = graph.node("LessOrEqual", [a, graph.constant(1.0, "one")], "within_1")
    return graph.node("Where", [within_1, small, large], "erf")


@register_onnx(Softmax)
def _softmax(layer: Softmax, graph: OnnxGraph, x: str) -> str:
    return graph.node("Softmax", [x], axis=int(getattr(layer, "dim", -1)))


@register_onnx(LogSoftmax)
def _log_softmax(layer: LogSoftmax, graph: OnnxGraph, x: str) -> str:
    return graph.node("LogSoftmax", [x], axis=int(getattr(layer, "dim", -1)))


def _state(layer: Layer) -> dict[str, np.ndarray]:
    return {**{name: p.weights for name, p in layer.named_parameters()}, **dict(layer.named_buffers())}


@register_onnx(BatchNorm1d)
def _batch_norm(layer: BatchNorm1d, graph: OnnxGraph, x: str) -> str:
    state = _state(layer)
    n = layer.num_features
    bias = graph.constant(state.get("bias", np.zeros(n)), "bias")
    if "running_mean" not in state:  # track_running_stats=False: the batch's statistics, always
        weight = graph.constant(state.get("weight", np.ones(n)), "weight")
        return _batch_statistics(layer, graph, x, weight, bias)
    graph.eval_form(layer, "BatchNorm1d uses its running statistics")
    mean, var = state["running_mean"], state["running_var"]
    if graph.dtype == np.float32:
        weight = graph.constant(state.get("weight", np.ones(n)), "weight")
        inputs = [x, weight, bias, graph.constant(mean, "running_mean"), graph.constant(var, "running_var")]
        return graph.node("BatchNormalization", inputs, "batchnorm", epsilon=float(layer.eps))
    # onnxruntime's float64 BatchNormalization is off by ~1e-13; spelled out, with
    # gamma/sigma folded as BatchNorm1d computes it, the graph gives fcnn's bits
    inv_std = 1 / np.sqrt(var + layer.eps)
    scale = graph.constant(inv_std if "weight" not in state else state["weight"] * inv_std, "scale")
    centered = graph.node("Sub", [x, graph.constant(mean, "running_mean")], "centered")
    return graph.node("Add", [graph.node("Mul", [centered, scale], "scaled"), bias], "batchnorm")


def _reduce_mean(graph: OnnxGraph, x: str, axis: int) -> str:
    if graph.opset >= 18:  # axes became an input in opset 18
        axes = graph.constant(np.array([axis], np.int64), "axes", dtype=np.int64)
        return graph.node("ReduceMean", [x, axes], "mean", keepdims=1)
    return graph.node("ReduceMean", [x], "mean", axes=[axis], keepdims=1)


def _normalize(graph: OnnxGraph, x: str, axis: int, eps: float, weight: str | None, bias: str | None,
               name: str) -> str:
    """``(x - mean) / sqrt(var + eps) * weight + bias``, the statistics over ``axis``."""
    centered = graph.node("Sub", [x, _reduce_mean(graph, x, axis)], "centered")
    variance = _reduce_mean(graph, graph.node("Mul", [centered, centered], "squared"), axis)
    std = graph.node("Sqrt", [graph.node("Add", [variance, graph.constant(eps, "eps")])], "std")
    y = graph.node("Div", [centered, std], "normalized")
    if weight is not None:
        y = graph.node("Mul", [y, weight], "scaled")
    if bias is not None:
        y = graph.node("Add", [y, bias], name)
    return y


def _batch_statistics(layer: BatchNorm1d, graph: OnnxGraph, x: str, weight: str, bias: str) -> str:
    return _normalize(graph, x, 0, layer.eps, weight, bias, "batchnorm")


@register_onnx(LayerNorm)
def _layer_norm(layer: LayerNorm, graph: OnnxGraph, x: str) -> str:
    if graph.opset < 17:
        raise ValueError(
            f"export_onnx: {graph.prefix.rstrip('_')} needs opset >= 17 (LayerNormalization); "
            f"got opset={graph.opset}"
        )
    state = _state(layer)
    if graph.dtype == np.float64:  # onnxruntime's float64 LayerNormalization is off by ~1e-13
        weight = graph.constant(state["weight"], "weight") if "weight" in state else None
        bias = graph.constant(state["bias"], "bias") if "bias" in state else None
        return _normalize(graph, x, 1, layer.eps, weight, bias, "layernorm")
    n = layer.num_features
    inputs = [x, graph.constant(state.get("weight", np.ones(n)), "weight"),
              graph.constant(state.get("bias", np.zeros(n)), "bias")]
    return graph.node("LayerNormalization", inputs, "layernorm", axis=-1, epsilon=float(layer.eps))


@register_onnx(Standardize)
def _standardize(layer: Standardize, graph: OnnxGraph, x: str) -> str:
    state = dict(layer.named_buffers())
    centered = graph.node("Sub", [x, graph.constant(state["mean"], "mean")], "centered")
    return graph.node("Div", [centered, graph.constant(state["scale"], "scale")], "standardized")


# ------------------------------------------------------------------------------ export


def export_onnx(
    model: Any,
    path: str | os.PathLike[str],
    *,
    opset: int | None = None,
    output: str = "logits",
    classes: Sequence[Any] | None = None,
    dtype: Any = None,
) -> Any:
    """Write ``model`` as an ONNX file that onnxruntime runs with fcnn's numbers.

    Parameters
    ----------
    model : Layer, Sequential, fitted fcnn or scikit-learn MLP estimator, or Pipeline
        A Pipeline may hold a ``StandardScaler`` before the estimator: it becomes the
        graph's first nodes, so the file takes raw features.
    path : str or os.PathLike
        The file to write (``*.onnx``), atomically: a failed export leaves whatever
        was there before.
    opset : int, optional
        ONNX opset, ``MIN_OPSET`` to the newest the installed onnx knows; default
        ``DEFAULT_OPSET`` (17). ``>= 20`` writes GELU as the ``Gelu`` op.
    output : {"logits", "proba", "both"}
        The raw output (``"logits"``, for a regressor ``"predictions"``), the
        probabilities (``"probabilities"``: softmax, or sigmoid for a multilabel
        classifier), or both. Classifiers with known class names also get
        ``"label"`` (shape ``(batch,)``; ``(batch, n_classes)`` 0/1 for multilabel).
    classes : sequence, optional
        Class names, in output order; default: the estimator's ``classes_`` or the
        model's ``metadata["classes"]``.
    dtype : float32 or float64, optional
        The graph's dtype; default the model's (its parameters' and buffers'), float64
        for a model without any. Given for a model with parameters, it must agree.

    Returns
    -------
    onnx.ModelProto
        The model written (checked with ``onnx.checker.check_model(full_check=True)``).

    Notes
    -----
    Dropout is removed and BatchNorm1d uses its running statistics: a model in
    training mode is exported in its eval form, with a ``UserWarning`` saying so.
    """
    from ..serialization import _as_path
    from .sklearn import as_fcnn_model

    output = _choice(output, "output", OUTPUTS)
    opset = _opset(opset)
    target = _as_path(path, "export_onnx")
    _check_target(target)
    network, info = as_fcnn_model(model, copy=False)
    if classes is not None:
        classes = _classes(classes)
        info = {**info, "classes": classes}
        info.setdefault("task", "classification")
    proto = _build(network, info, opset, output, None if dtype is None else resolve_dtype(dtype))
    onnx = _onnx()
    onnx.checker.check_model(proto, full_check=True)
    _atomic_write(target, proto.SerializeToString())
    return proto


def _choice(value: Any, name: str, options: Sequence[str]) -> str:
    from .._validation import choice

    return choice(value, name, "export_onnx", options)


def _opset(opset: int | None) -> int:
    if opset is None:
        return DEFAULT_OPSET
    newest = _onnx().defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueError(f"export_onnx: opset must be an int in [{MIN_OPSET}, {newest}] (the newest "
                         f"the installed onnx knows), got {opset!r}")
    return int(opset)


def _classes(classes: Any) -> list[Any]:
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__len__"):
        raise TypeError(f"export_onnx: classes must be a sequence of class names, got {classes!r}")
    values = np.asarray(classes).tolist()
    if not isinstance(values, list) or not values:
        raise ValueError(f"export_onnx: classes must be a non-empty 1-D sequence, got {classes!r}")
    return values


def _check_target(target: Any) -> None:
    import errno

    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "export: the path is a directory; give a file path such "
                                f"as {target / 'model.onnx'}", str(target))
    if not target.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "export: the directory does not exist (export does not "
                                "create it)", str(target.parent))


def _atomic_write(target: Any, data: bytes) -> None:
    from ..serialization import _atomic_write as write

    write(target, data)


def _flatten(model: Layer) -> Iterator[Layer]:
    if isinstance(model, Sequential):
        for layer in model.layers:
            yield from _flatten(layer)
    else:
        yield model


def _model_dtype(layers: list[Layer], requested: np.dtype | None) -> np.dtype:
    dtypes = {array.dtype for layer in layers for array in _state(layer).values() if array.dtype.kind == "f"}
    if len(dtypes) > 1:
        raise TypeError(f"export_onnx: the model mixes dtypes {sorted(map(str, dtypes))}; convert it to "
                        "one of float32 or float64 first")
    if requested is not None and dtypes and requested not in dtypes:
        raise TypeError(f"export_onnx: dtype={requested} but the model's weights are {dtypes.pop()}")
    return dtypes.pop() if dtypes else (requested or np.dtype(np.float64))


def _build(model: Layer, info: dict[str, Any], opset: int, output: str, dtype: np.dtype | None) -> Any:
    onnx = _onnx()
    helper = onnx.helper
    layers = list(_flatten(model))
    dtype = _model_dtype(layers, dtype)
    n_in = next((layer.in_features for layer in layers if getattr(layer, "in_features", None)), None)
    graph = OnnxGraph(dtype, opset, n_in)
    x = "input"
    for i, layer in enumerate(layers):
        rule = ONNX_RULES.get(type(layer))
        if rule is None:
            raise TypeError(
                f"export_onnx: layer {i} ({type(layer).__module__}.{type(layer).__qualname__}) has no "
                f"ONNX rule; add one with @fcnn.export.register_onnx({type(layer).__name__}) (see "
                "fcnn.export.onnx); the layers with rules are "
                f"{', '.join(sorted(c.__name__ for c in ONNX_RULES))}"
            )
        graph.prefix = f"layer{i}_{type(layer).__name__}_"
        x = rule(layer, graph, x)
    graph.prefix = ""
    if graph._eval_form:
        warnings.warn(
            "export_onnx: the model is in training mode; exported in eval form: "
            + "; ".join(graph._eval_form) + " (call model.eval() first to silence this)",
            UserWarning, stacklevel=3,
        )
    outputs = _outputs(graph, x, info, output)
    for name, value, *_ in outputs:  # (an Identity also when no layer added a node: x is "input")
        if value != name:
            graph.nodes.append(helper.make_node("Identity", [value], [name], name=name))
    batch = "batch"
    inputs = [helper.make_tensor_value_info("input", graph.elem_type, [batch, n_in or "features"])]
    value_infos = [helper.make_tensor_value_info(name, elem, shape) for name, _, elem, shape in outputs]
    onnx_graph = helper.make_graph(graph.nodes, "fcnn", inputs, value_infos, graph.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        onnx_graph, opset_imports=opsets, producer_name="fcnn", producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
        doc_string=f"Exported by fcnn {__version__}: {len(layers)} layers, {np.dtype(dtype).name}",
    )
    meta = {"fcnn_version": __version__, "task": info.get("task") or "unknown",
            "outputs": json.dumps([name for name, *_ in outputs]), "dtype": np.dtype(dtype).name}
    if info.get("classes") is not None:
        meta["classes"] = json.dumps(info["classes"])
    if info.get("feature_names") is not None:
        meta["feature_names"] = json.dumps(list(info["feature_names"]))
    helper.set_model_props(proto, meta)
    return proto


def _outputs(graph: OnnxGraph, logits: str, info: dict[str, Any], output: str) -> list[Any]:
    """``[(name, tensor, elem_type, shape), ...]`` of the graph's outputs."""
    task, classes = info.get("task"), info.get("classes")
    shape = ["batch", graph.width or "outputs"]
    if task == "regression":
        if output != "logits":
            raise ValueError(f"export_onnx: output={output!r} asks for probabilities, but the model is "
                             "a regressor; use output='logits' (the predictions)")
        scaling = info.get("target_scaling")
        if scaling:  # fcnn train's regressors learn the standardized target: undo it, as predict does
            scaled = graph.node("Mul", [logits, graph.constant(float(scaling.get("scale", 1.0)), "scale")])
            logits = graph.node("Add", [scaled, graph.constant(float(scaling.get("mean", 0.0)), "mean")])
        return [("predictions", logits, graph.elem_type, shape)]
    if task == "binary" and graph.width != 1:
        raise ValueError(f"export_onnx: a binary model (one logit) has 1 output, this one {graph.width}")
    expected = 2 if task == "binary" else graph.width
    if classes is not None and expected is not None and len(classes) != expected:
        raise ValueError(f"export_onnx: {len(classes)} class names for a model with {graph.width} "
                         f"output(s); give {expected}")
    outputs = []
    if output in ("logits", "both"):
        outputs.append(("logits", logits, graph.elem_type, shape))
    if output in ("proba", "both"):
        if task == "multilabel":
            probabilities = graph.node("Sigmoid", [logits], "probabilities_")
        elif task == "binary":  # one logit z: [1 - sigmoid(z), sigmoid(z)]
            positive = graph.node("Sigmoid", [logits], "p_positive")
            negative = graph.node("Sub", [graph.constant(1.0, "one"), positive], "p_negative")
            probabilities = graph.node("Concat", [negative, positive], "probabilities_", axis=1)
            shape = ["batch", 2]
        else:
            probabilities = graph.node("Softmax", [logits], "probabilities_", axis=-1)
        outputs.append(("probabilities", probabilities, graph.elem_type, shape))
    if classes is not None:
        outputs.append(_label(graph, logits, task, classes))
    return outputs


def _label(graph: OnnxGraph, logits: str, task: str | None, classes: list[Any]) -> tuple[Any, ...]:
    from onnx import TensorProto

    if task == "multilabel":
        positive = graph.node("Greater", [logits, graph.constant(0.0, "zero")], "positive")
        label = graph.node("Cast", [positive], "label_", to=TensorProto.INT64)
        return ("label", label, TensorProto.INT64, ["batch", len(classes)])
    values = np.asarray(classes)
    if values.dtype.kind in "US":
        values, elem = values.astype(object), TensorProto.STRING
    elif values.dtype.kind in "biu":
        values, elem = values.astype(np.int64), TensorProto.INT64
    elif values.dtype.kind == "f":
        values, elem = values.astype(np.float64), TensorProto.DOUBLE
    else:
        raise TypeError(f"export_onnx: class names must be strings or numbers, got {classes!r}")
    if task == "binary":  # class 1 where the logit is positive (sigmoid > 0.5)
        positive = graph.node("Greater", [logits, graph.constant(0.0, "zero")], "positive")
        flat = graph.node("Reshape", [positive, graph.constant(np.array([-1]), "flat", dtype=np.int64)])
        index = graph.node("Cast", [flat], "class_index", to=TensorProto.INT64)
    else:
        index = graph.node("ArgMax", [logits], "class_index", axis=1, keepdims=0)
    names = graph.constant(values, "classes", dtype=values.dtype)
    return ("label", graph.node("Gather", [names, index], "label_", axis=0), elem, ["batch"])
