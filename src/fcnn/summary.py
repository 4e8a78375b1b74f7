"""``model.summary()``: a table of a model's layers, like Keras's, written against
the layer contract alone (``named_parameters``, ``named_buffers``, ``in_features``).

Output shapes come from running the model, in eval mode and on a copy, on a batch of
two zero rows; nothing in the model changes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["summary"]


def summary(model: Any, in_features: int | None = None) -> str:
    """Return the summary table of ``model`` (a layer or a ``Sequential``) as text.

    ``in_features`` is needed only when no layer says how many inputs it takes.
    """
    layers = list(getattr(model, "layers", [model]))
    n_in = in_features if in_features is not None else getattr(model, "in_features", None)
    shapes = _output_shapes(model, layers, n_in)
    rows = []
    total = trainable = 0
    for i, layer in enumerate(layers):
        n_params = sum(p.size for p in layer.parameters())
        n_buffers = sum(b.size for _, b in layer.named_buffers())
        total += n_params + n_buffers
        trainable += n_params
        dtypes = {str(p.dtype) for p in layer.parameters()} | {str(b.dtype) for _, b in layer.named_buffers()}
        rows.append((str(i), repr(layer).replace("\n", " "), shapes[i], f"{n_params:,}",
                     f"{n_buffers:,}", ", ".join(sorted(dtypes)) or "-"))
    header = ("#", "layer", "output shape", "params", "buffers", "dtype")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    widths[1] = min(widths[1], 48)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            (c[: widths[j] - 1] + "…" if len(c) > widths[j] else c).ljust(widths[j])
            if j < 2 else c.rjust(widths[j]) if j in (3, 4) else c.ljust(widths[j])
            for j, c in enumerate(cells)
        ).rstrip()

    rule = "-" * len(line(header))
    out = [f"{type(model).__name__}: {len(layers)} layers", rule, line(header), rule]
    out += [line(r) for r in rows]
    out += [rule, f"total parameters: {trainable:,} trainable, {total - trainable:,} non-trainable "
                  f"(buffers), {total:,} in all"]
    return "\n".join(out)


def _output_shapes(model: Any, layers: list[Any], n_in: int | None) -> list[str]:
    unknown = ["?"] * len(layers)
    if n_in is None:
        return unknown
    probe = copy.deepcopy(model)
    probe.eval()
    dtype = getattr(model, "dtype", np.float64)
    X = np.zeros((2, n_in), dtype)
    shapes = []
    try:
        for layer in getattr(probe, "layers", [probe]):
            X = layer.forward(X)
            shapes.append(str(("N", *X.shape[1:])).replace("'", ""))
    except Exception:  # a layer that cannot run on zeros: show what is known
        return shapes + unknown[len(shapes):]
    return shapes
