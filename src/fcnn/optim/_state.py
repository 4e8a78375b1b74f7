"""State dicts to files: JSON for the structure and the numbers, arrays for safetensors.

An optimizer's ``state_dict()`` holds NumPy arrays (momentum buffers, Adam's
moments) beside numbers and strings; a scheduler's holds numbers only. To save
one, ``flatten_state_dict`` replaces every array by ``{"__array__": name}`` and
returns the arrays by name::

    meta, arrays = flatten_state_dict(optimizer.state_dict())
    json.dumps(meta); safetensors.numpy.save_file(arrays, path)
    optimizer.load_state_dict(unflatten_state_dict(json.loads(text), load_file(path)))

Dict keys become strings (the optimizers accept ``"0"`` for parameter 0) and
tuples become lists, as JSON would make them anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["flatten_state_dict", "unflatten_state_dict"]

_ARRAY = "__array__"


def flatten_state_dict(
    state_dict: dict[str, Any], prefix: str = ""
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a state dict into a JSON-able dict and its arrays.

    Parameters
    ----------
    state_dict : dict
        From an optimizer's or a scheduler's ``state_dict()``.
    prefix : str
        Put in front of every array's name (e.g. ``"optimizer."``).

    Returns
    -------
    meta : dict
        ``state_dict`` with each array replaced by ``{"__array__": name}``,
        NumPy scalars by Python numbers, tuples by lists and keys by strings.
    arrays : dict of str to ndarray
        The arrays by name (``"state.0.exp_avg"``), contiguous, ready for
        ``safetensors.numpy.save_file``.
    """
    if not isinstance(state_dict, dict):
        raise TypeError(f"flatten_state_dict expected a dict (a state_dict()), got "
                        f"{type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"flatten_state_dict: prefix must be a str, got {prefix!r}")
    arrays: dict[str, np.ndarray] = {}
    return _flatten(state_dict, prefix, arrays), arrays


def _flatten(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, np.integer)) or isinstance(key, bool):
                raise TypeError(f"flatten_state_dict: key {key!r} at {path or 'the top'!r} is not "
                                "a string or an int")
            out[str(key)] = _flatten(item, f"{path}{key}.", arrays)
        return out
    if isinstance(value, (list, tuple)):
        return [_flatten(item, f"{path}{i}.", arrays) for i, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        name = path[:-1]
        arrays[name] = np.ascontiguousarray(value)
        return {_ARRAY: name}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"flatten_state_dict: {path[:-1] or 'the value'!r} is a "
                    f"{type(value).__name__}, which neither JSON nor safetensors can hold")


def unflatten_state_dict(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Undo :func:`flatten_state_dict`: put the arrays back in their places.

    Parameters
    ----------
    meta : dict
        The JSON-able part, e.g. read back with ``json.loads``.
    arrays : dict of str to ndarray
        The arrays by name, e.g. from ``safetensors.numpy.load_file``.
    """
    if not isinstance(meta, dict):
        raise TypeError(f"unflatten_state_dict expected a dict (from flatten_state_dict), got "
                        f"{type(meta).__name__}")
    if not isinstance(arrays, dict):
        raise TypeError(f"unflatten_state_dict expected the arrays as a dict of name to array, got "
                        f"{type(arrays).__name__}")
    return _unflatten(meta, arrays)


def _unflatten(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            name = value[_ARRAY]
            if name not in arrays:
                raise ValueError(f"unflatten_state_dict: the array {name!r} is missing "
                                 f"(arrays hold {', '.join(map(repr, sorted(arrays))) or 'none'})")
            return np.array(arrays[name])
        return {key: _unflatten(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_unflatten(item, arrays) for item in value]
    return value
