"""Deploy anywhere: ONNX export, PyTorch interchange and scikit-learn import.

Each submodule imports its library (onnx, torch, scikit-learn) on first use:

* ``fcnn.export.onnx``: ``export_onnx`` and the per-layer rule table ``register_onnx``;
* ``fcnn.export.torch``: ``to_torch``, ``from_torch``, and the PyTorch layout of
  ``fcnn.save(..., layout="torch")`` files (``torch_state_dict``, ``load_state_dict_file``);
* ``fcnn.export.sklearn``: ``from_sklearn`` and the estimator/pipeline unwrapping
  that ``export_onnx`` and ``fcnn.save`` share.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._lazy import attach

__all__ = [
    "cli_export",
    "export_onnx",
    "from_sklearn",
    "from_torch",
    "load_state_dict_file",
    "register_onnx",
    "register_torch",
    "to_torch",
]

_LAZY = {
    "export_onnx": "onnx",
    "register_onnx": "onnx",
    "from_sklearn": "sklearn",
    "to_torch": "torch",
    "from_torch": "torch",
    "register_torch": "torch",
    "load_state_dict_file": "torch",
}

if TYPE_CHECKING:
    from .onnx import export_onnx, register_onnx
    from .sklearn import from_sklearn
    from .torch import from_torch, load_state_dict_file, register_torch, to_torch


__getattr__, __dir__ = attach(__name__, _LAZY, __all__)


def cli_export(
    model_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    format: str | None = None,
    output: str = "logits",
    opset: int | None = None,
) -> str:
    """What ``fcnn export MODEL.safetensors -o OUT`` runs; returns the line to print.

    Parameters
    ----------
    model_path : a model file written by ``fcnn.save`` (its ``metadata`` gives the
        class names and the task).
    out_path : the file to write.
    format : {"onnx", "torch"}, optional
        ``"onnx"`` (``export_onnx``) or ``"torch"`` (PyTorch-layout safetensors,
        ``fcnn.save(model, out_path, layout="torch")``); default from the suffix: ``.onnx`` -> onnx,
        ``.safetensors``/``.pt``/``.pth`` -> torch.
    output, opset : as for ``export_onnx`` (ONNX only).
    """
    from pathlib import Path

    from .._validation import choice
    from ..serialization import load, save

    suffix = Path(os.fspath(out_path)).suffix.lower()
    if format is None:
        format = {".onnx": "onnx", ".safetensors": "torch", ".pt": "torch", ".pth": "torch"}.get(suffix)
        if format is None:
            raise ValueError(f"fcnn export: cannot tell the format from {os.fspath(out_path)!r}; name the "
                             "file *.onnx or *.safetensors, or pass format='onnx' or 'torch'")
    choice(format, "format", "fcnn export", ("onnx", "torch"))
    model = load(model_path)
    if format == "torch":
        save(model, out_path, layout="torch")
        return f"wrote {os.fspath(out_path)} (PyTorch state_dict layout, safetensors)"
    from .onnx import export_onnx

    proto = export_onnx(model, out_path, output=output, opset=opset)
    names = ", ".join(o.name for o in proto.graph.output)
    return f"wrote {os.fspath(out_path)} (ONNX opset {proto.opset_import[0].version}, outputs {names})"
