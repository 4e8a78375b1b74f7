"""Save and load models in a file format that cannot run code: safetensors.

``save(model, path, **metadata)`` writes one safetensors file; ``load(path)``
returns the model, in eval mode, with the metadata on ``model.metadata``.

Why safetensors. A pickle (or joblib, or ``torch.save``) file is a program
that the loader runs, so opening a model someone sent you can run anything.
An ``.npz`` is safe only while ``allow_pickle=False`` is remembered, needs a
zip parser (zip bombs) and has no place for the architecture. HDF5 and ONNX
are heavy dependencies for a handful of matrices. A safetensors file is an
8-byte little-endian header length ``N``, ``N`` bytes of JSON, then the raw
tensor bytes: nothing in it is ever executed, the JSON header carries the
architecture, and PyTorch, JAX, Rust and the Hugging Face tools read it.

Layout of a file written by ``save`` (format version 2):

* the model's ``state_dict()``, parameters and buffers, under PyTorch-style keys
  (``"0.weight"``, ``"1.running_mean"``; ``"weight"`` for a bare layer) in fcnn's
  shapes (``Linear.weight`` is ``(in_features, out_features)``);
* a tensor ``metadata.{key}`` for each NumPy array passed as metadata;
* header metadata (strings, as safetensors requires): ``format`` = ``"fcnn"``,
  ``format_version`` = ``"2"``, ``fcnn_version``, ``layout`` = ``"fcnn"``,
  ``architecture`` (JSON ``{"type": name, "config": config}``: a layer's registered
  name and ``get_config()``; a ``Sequential`` or ``NeuralNetwork`` has the config
  ``{"layers": [...]}``, nested as deep as the model) and ``metadata`` (JSON of the
  other metadata values).

fcnn 0.1's files (format version 1: keys ``layers.{i}.weight``, one dtype beside
the list of layers) load too.

Both directions go through the ``safetensors`` package, which checks the format
itself. Before it, ``load`` checks what the package does not: that the path is a
regular file, foreign formats (pickle, zip, ...), fcnn's header-size cap and
duplicate JSON keys. After it come fcnn's own checks: layer types only from
``fcnn.registry.LAYERS`` (nothing is ever imported by a name read from a file),
config keys against each constructor's signature, a size bound before anything
is built (so memory stays bounded by the file's size), and every tensor's key,
shape, dtype and finiteness against the model the architecture builds. No layer
type is named here: everything goes through the layer contract.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import inspect
import json
import math
import os
import secrets
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._version import __version__
from .errors import ModelFileError, NonFiniteError, ShapeError
from .layers import Layer
from .network import NeuralNetwork, Sequential
from .registry import LAYERS

__all__ = ["FORMAT_VERSION", "LAYOUTS", "MAX_HEADER_BYTES", "load", "save"]

#: Version of the file layout this module writes and the newest it reads.
FORMAT_VERSION = 2

#: Largest JSON header ``load`` accepts (and ``save`` writes): 10 MiB.
MAX_HEADER_BYTES = 10 * 2**20

#: ``save(..., layout=)``: the tensors' keys and shapes, by name. ``"fcnn"`` is the
#: model's own ``state_dict()``; another layout (PyTorch's) registers its function here.
LAYOUTS: dict[str, Callable[[Layer], dict[str, np.ndarray]]] = {
    "fcnn": lambda model: model.state_dict(),
    "torch": lambda model: _torch_layout(model),
}

_FORMAT = "fcnn"
_METADATA_PREFIX = "metadata."
_MAX_NDIM = 32
_CONTAINERS: dict[str, type[Sequential]] = {"Sequential": Sequential, "NeuralNetwork": NeuralNetwork}
# A file never sets a random source or an initializer: the saved values replace them.
_NEVER_SAVED = frozenset({"rng", "init"})
# Elements a configuration may claim beyond what the file's tensors hold (layers
# with a size argument but no state, such as a LayerNorm without affine parameters).
_SIZE_SLACK = 2**20

# First bytes of formats people mistake for model files.
_FOREIGN = (
    (b"\x80", "a pickle file (pickle, joblib or an old torch.save)"),
    (b"PK\x03\x04", "a zip archive (an .npz, a torch.save or a Keras file)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89HDF", "an HDF5 file"),
)
# The safetensors package's refusals (as its versions spell them), in words that say
# what is wrong with the file.
_INCOMPLETE = ("not fully covered", "MetadataIncompleteBuffer")
_FORMAT_FAULTS = (
    (("invalid offset", "InvalidOffset"), "tensors overlap or leave a gap between them: the file "
     "is corrupted or tampered with"),
    (("invalid shape, data type, or offset", "TensorInvalidInfo"), "a tensor's shape and dtype do "
     "not match its byte range, or it reaches past the end of the data: the file is truncated or "
     "corrupted"),
)

_SAVE_HELP = "fcnn.load only reads files written by fcnn.save (safetensors)"


# ----------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------


def save(model: Layer, path: str | os.PathLike[str], /, *, layout: str = "fcnn",
         **metadata: Any) -> None:
    """Write ``model`` and ``metadata`` to ``path``, atomically.

    Parameters
    ----------
    model : Sequential, NeuralNetwork or a single layer
        Every layer must be registered (``fcnn.registry.LAYERS``; ``@fcnn.register_layer``
        for your own), Sequentials may nest, the parameters must be all float32 or all
        float64, and parameters and buffers finite. A bare layer is saved as it is and
        ``load`` returns it bare.
    path : str or os.PathLike
        The file to write, conventionally ``*.safetensors``. Its directory must
        exist (``save`` does not create directories).
    layout : str, default "fcnn"
        The tensors' keys and shapes, one of ``LAYOUTS``: ``"fcnn"`` is the model's
        ``state_dict()``, which ``load`` reads; ``"torch"`` is PyTorch's (``Linear.weight``
        transposed), for ``torch_model.load_state_dict``. (So no metadata key is ``layout``.)
    **metadata
        Saved beside the weights and returned by ``load`` as
        ``model.metadata``. Values may be ``None``, bool, int, float, str,
        lists, tuples (they come back as lists) and dicts with str keys,
        nested; NumPy scalars become Python scalars. A top-level numeric NumPy
        array (bool, int, uint, float16/32/64), e.g. ``mean=`` and ``scale=``
        of a standardization, is stored as a tensor and comes back as an array
        of the same shape and dtype; an array of strings or objects (e.g.
        scikit-learn's ``classes_``) is stored as a JSON list and comes back as
        a list. ``classes`` (the class labels) is the conventional key.
        If ``model`` already has a ``metadata`` dict (it came from ``load``),
        that is saved too, with these keywords overriding its keys.

    Raises
    ------
    TypeError
        ``model`` is not an fcnn model, holds an unregistered layer, or a
        metadata value has an unsupported type (the message names the key).
    ValueError
        Mixed dtypes, layers whose feature counts do not chain (``ShapeError``),
        NaN/inf weights (``NonFiniteError``), an unknown ``layout``, or a header
        larger than ``MAX_HEADER_BYTES``.
    OSError
        The directory is missing (``FileNotFoundError``), ``path`` is a
        directory (``IsADirectoryError``), or the write failed.

    Notes
    -----
    The file is written to a hidden temporary file in the same directory,
    flushed to disk, then renamed over ``path``: at every moment ``path`` holds
    either the previous file or the complete new one, even if the process is
    killed. On any error the temporary file is removed and the previous file
    is left untouched. Nothing is written when a check fails.
    """
    model = _unwrap(model)
    target = _as_path(path, "fcnn.save")
    architecture = _architecture_json(model)
    tensors = _state_tensors(model, layout)
    arrays, values = _split_metadata({**_existing_metadata(model), **metadata})
    tensors.update((_METADATA_PREFIX + key, array) for key, array in arrays.items())
    header = {
        "format": _FORMAT,
        "format_version": str(FORMAT_VERSION),
        "fcnn_version": __version__,
        "layout": layout,
        "architecture": architecture,
        # NaN and inf are allowed in user metadata (a metric can be inf); Python's json reads them.
        "metadata": json.dumps(values),
    }
    _atomic_write(target, _encode(tensors, header))


def _unwrap(model: Any) -> Layer:
    """The fcnn model to save from what the caller passed (where converters plug in)."""
    if isinstance(model, Layer):
        return model
    if hasattr(model, "fit"):  # a fitted MLP estimator or a Pipeline: one file, scaler included
        from .export.sklearn import to_fcnn_model

        return to_fcnn_model(model, who="fcnn.save")
    raise TypeError(
        "fcnn.save expected an fcnn model (Sequential, NeuralNetwork or a layer) as its first "
        f"argument, got {type(model).__name__}"
    )


def _torch_layout(model: Layer) -> dict[str, np.ndarray]:
    from .export.torch import torch_state_dict  # PyTorch's keys and shapes (NumPy only)

    return torch_state_dict(model)


def _architecture_json(model: Layer) -> str:
    """The architecture as JSON, after the checks that make the model loadable."""
    spec = _spec(model, "the model")
    message = _mixed_dtypes(model)
    if message:
        raise ValueError(f"fcnn.save: {message} (rebuild the model with a single dtype)")
    message = _chain_error(model)
    if message:
        raise ShapeError(f"fcnn.save: {message}; this model cannot run, so it is not saved")
    try:
        return json.dumps(spec, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"fcnn.save: a layer's get_config() is not plain JSON ({exc})") from None


def _spec(layer: Layer, where: str) -> dict[str, Any]:
    """``{"type": registered name, "config": get_config()}``, containers recursively."""
    if isinstance(layer, Sequential):
        if not layer.layers:
            raise ValueError(f"fcnn.save: {where} has no layers")
        kind = "NeuralNetwork" if _is_lab_network(layer) else "Sequential"
        children = [_spec(child, _child(where, i)) for i, child in enumerate(layer.layers)]
        return {"type": kind, "config": {"layers": children}}
    cls = type(layer)
    name = next((name for name, registered in LAYERS.items() if registered is cls), None)
    if name is None:
        raise TypeError(
            f"fcnn.save: {where} is a {cls.__module__}.{cls.__qualname__}, which fcnn cannot save "
            f"until it is registered (@fcnn.register_layer); registered layers are "
            f"{', '.join(sorted(LAYERS))}"
        )
    return {"type": name, "config": layer.get_config()}


def _child(where: str, i: int) -> str:
    return f"layer {i}" if where == "the model" else f"{where}.{i}"


@functools.cache
def _lab_layer_types() -> tuple[type, ...]:
    return tuple(type(layer) for layer in NeuralNetwork(1, 1, 1).layers)


def _is_lab_network(model: Sequential) -> bool:
    """True for a NeuralNetwork that still has the lab's five layers."""
    return type(model) is NeuralNetwork and tuple(map(type, model.layers)) == _lab_layer_types()


def _mixed_dtypes(model: Layer) -> str | None:
    dtypes = {param.dtype for param in model.parameters()}
    if len(dtypes) > 1:
        return f"the model mixes dtypes {sorted(map(str, dtypes))}; a model file holds one dtype"
    return None


def _leaves(model: Layer, where: str = "the model") -> Iterator[tuple[str, Layer]]:
    if isinstance(model, Sequential):
        for i, child in enumerate(model.layers):
            yield from _leaves(child, _child(where, i))
    else:
        yield where, model


def _chain_error(model: Layer) -> str | None:
    """Say where a layer is given a number of features it does not take, if one is.

    Each layer runs, as a shallow copy in eval mode (the model's own caches stay as they
    are), on one row of zeros; ``in_features`` says what a layer takes.
    """
    width, source = None, ""
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float64))
    for where, layer in _leaves(model):
        takes = getattr(layer, "in_features", None)
        if width is not None and takes is not None and takes != width:
            return f"layers do not chain: {source} gives {width} features but {where} takes {takes}"
        width = width if width is not None else takes
        if width is None:
            continue
        try:
            probe = copy.copy(layer)
            probe.training = False
            with np.errstate(all="ignore"):
                shape = np.shape(probe.forward(np.zeros((1, width), dtype)))
        except Exception:  # a layer that cannot run on zeros: its own forward will say why
            return None
        given = shape[1] if len(shape) == 2 else None
        # name the layer that set the width (a Linear), not the activations after it
        width, source = given, (source if given == width and source else where)
    return None


def _state_tensors(model: Layer, layout: str) -> dict[str, np.ndarray]:
    """The model's tensors in ``layout``, each checked finite."""
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"fcnn.save: layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    tensors = {}
    for key, array in LAYOUTS[layout](model).items():
        if array.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(array)))
            if bad:
                raise NonFiniteError(
                    f"fcnn.save: {key} holds {bad} NaN or infinite value(s); a model file must "
                    "hold finite weights (restore the last good weights first)"
                )
        # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
        tensors[key] = array if array.flags.c_contiguous else array.copy(order="C")
    return tensors


def _existing_metadata(model: Any) -> dict[str, Any]:
    existing = getattr(model, "metadata", None)
    if existing is None:
        return {}
    if not isinstance(existing, dict):
        raise TypeError(
            f"fcnn.save: model.metadata must be a dict (it is saved with the model), got "
            f"{type(existing).__name__}"
        )
    return existing


def _split_metadata(values: dict[Any, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The metadata stored as tensors (numeric arrays) and as JSON (everything else)."""
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"fcnn.save: metadata keys must be str, got {key!r}")
        array = _metadata_array(value, key)
        if array is not None:
            arrays[key] = array
        else:
            plain[key] = _json_value(value, f"metadata[{key!r}]", set())
    return arrays, plain


def _metadata_array(value: Any, key: str) -> np.ndarray | None:
    """A top-level numeric array, ready to store as a tensor; None otherwise."""
    if not isinstance(value, np.ndarray) or value.dtype.kind in "UO":
        return None
    if value.dtype.kind not in "biuf" or value.dtype.itemsize > 8:
        raise TypeError(
            f"fcnn.save: metadata[{key!r}] is an array of dtype {value.dtype}; arrays must be "
            "bool, int, uint or float (16, 32 or 64 bits)"
        )
    if value.ndim > _MAX_NDIM:
        raise TypeError(
            f"fcnn.save: metadata[{key!r}] has {value.ndim} dimensions, at most {_MAX_NDIM}"
        )
    return value if value.flags.c_contiguous else value.copy(order="C")


def _json_value(value: Any, where: str, seen: set[int]) -> Any:
    """``value`` as plain JSON types; TypeError naming ``where`` otherwise."""
    if value is None or isinstance(value, bool):
        return value
    # Subclasses (np.float64, np.str_, IntEnum) become the plain built-in.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, np.generic):
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        raise TypeError(
            f"fcnn.save: {where} is a NumPy {value.dtype} scalar, which JSON cannot hold"
        )
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "UO":
            return _json_value(value.tolist(), where, seen)
        raise TypeError(
            f"fcnn.save: {where} is a NumPy array inside a list or dict; arrays are stored (with "
            "their dtype) only as top-level metadata values: pass it as its own keyword, or "
            "convert it with .tolist()"
        )
    if isinstance(value, (list, tuple, dict)):
        if id(value) in seen:
            raise TypeError(f"fcnn.save: {where} contains itself")
        seen = seen | {id(value)}
        if isinstance(value, dict):
            result = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise TypeError(f"fcnn.save: {where} has a key {k!r}; dict keys must be str")
                result[str(k)] = _json_value(v, f"{where}[{k!r}]", seen)
            return result
        return [_json_value(v, f"{where}[{i}]", seen) for i, v in enumerate(value)]
    raise TypeError(
        f"fcnn.save: {where} is a {type(value).__name__}; metadata values must be None, bool, "
        "int, float, str, lists or dicts of those, or NumPy arrays"
    )


def _encode(tensors: dict[str, np.ndarray], header: dict[str, str]) -> bytes:
    from safetensors.numpy import save as safetensors_bytes

    data = safetensors_bytes(tensors, metadata=header)
    (header_bytes,) = struct.unpack("<Q", data[:8])
    if header_bytes > MAX_HEADER_BYTES:
        raise ValueError(
            f"fcnn.save: the file header would be {header_bytes} bytes, over the "
            f"{MAX_HEADER_BYTES}-byte limit that fcnn.load accepts; store large metadata "
            "(long lists) as NumPy arrays, which go into tensors"
        )
    return data


def _as_path(path: Any, who: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{who} expected a file path (str or os.PathLike), got {type(path).__name__}"
        )
    try:
        return Path(path)
    except TypeError:  # an os.PathLike that gives bytes
        raise TypeError(f"{who} expected a str path, got {path!r}") from None


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (os.write may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[: 1 << 24])
        view = view[written:]


def _atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename."""
    if target.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "fcnn.save: the path is a directory; give a file path such as "
            f"{target / 'model.safetensors'}", str(target)
        )
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, "fcnn.save: the directory does not exist (save does not create it)",
            str(directory),
        )
    # O_EXCL on a random name instead of mkstemp: the file gets the usual
    # 0o666 & ~umask permissions rather than mkstemp's 0o600.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temporary = directory / f".{target.name[:100]}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 64 random bits
        raise FileExistsError(
            errno.EEXIST, "fcnn.save: no free temporary file name", str(directory)
        )
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable (POSIX); Windows cannot open directories.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------


class _Refused(Exception):
    """What is wrong with the file; ``load`` turns it into a ModelFileError naming the file."""


def load(path: str | os.PathLike[str]) -> Layer:
    """Read a model written by ``fcnn.save`` (by this fcnn or by fcnn 0.1).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Layer
        The model, in eval mode, with ``model.metadata`` (a dict) holding what
        was saved beside it. The container is rebuilt as saved: a
        ``NeuralNetwork`` comes back as a ``NeuralNetwork``, any other
        ``Sequential`` subclass as a plain ``Sequential`` with the same
        layers, a bare layer as that layer. Predictions are bit-identical to
        the saved model's (in eval mode). Dropout layers get a fresh random
        generator (their ``rng`` is not saved): a loaded model is ready to
        predict, and to train further with new randomness.

    Raises
    ------
    FileNotFoundError
        Nothing exists at ``path``. Other file-system errors (permissions)
        propagate as ``OSError`` too.
    ModelFileError
        Anything wrong with what ``path`` holds: a directory or another file that
        is not a regular one, an empty, truncated, corrupted or foreign file
        (pickle, npz, zip, a safetensors file not written by fcnn), a header over
        ``MAX_HEADER_BYTES`` or with duplicate keys, missing or extra tensors,
        wrong shapes or dtypes, unknown layer types or config keys, a config that
        claims more than the file holds, layers that do not chain, NaN/inf
        weights, or a newer format version. The message names the file and the
        fault.

    Notes
    -----
    Nothing in the file is executed or imported, and memory stays bounded by
    the file's size: the header is checked before the rest is read, and no
    layer is built before the product of the sizes in every config (``in *
    out`` for a Linear) is found within the elements the file's tensors hold.
    """
    source = _as_path(path, "fcnn.load")
    try:
        with _open(source) as handle:
            header, raw = _read_header(handle)
            meta = _fcnn_metadata(header)  # before the tensors are read: a foreign file is not
            raw += handle.read()  # the tensors, bounded by the file's size
        tensors = _unpack(raw, header)
        spec, tensors = _architecture(meta, tensors)
        metadata = _user_metadata(meta, tensors)
        model = _build(spec, tensors)
    except _Refused as exc:
        raise ModelFileError(f"cannot load {str(source)!r}: {exc}") from None
    except RecursionError:
        raise ModelFileError(f"cannot load {str(source)!r}: the architecture is nested too "
                             "deeply") from None
    model.eval()
    model.metadata = metadata  # type: ignore[attr-defined]
    return model


def _open(path: Path) -> BinaryIO:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "fcnn.load: no such model file", str(path)) from None
    if stat.S_ISDIR(info.st_mode):
        raise _Refused("it is a directory, not a model file")
    if not stat.S_ISREG(info.st_mode):
        raise _Refused("it is not a regular file")  # a FIFO or a device would block or never end
    return open(path, "rb")


def _read_header(handle: BinaryIO) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the file's bytes up to its end, once the first bytes show a
    safetensors header of a size fcnn accepts."""
    size = os.fstat(handle.fileno()).st_size
    head = handle.read(9)
    _check_head(head, size)
    (length,) = struct.unpack("<Q", head[:8])
    raw = head + handle.read(length - 1)
    if len(raw) != 8 + length:
        raise _Refused("the file changed size while it was read (truncated)")
    header = _json(raw[8:], "header")  # duplicate keys refused, which the package lets pass
    if not isinstance(header, dict):
        raise _Refused(f"the header is a JSON {type(header).__name__}, not an object")
    return header, raw


def _check_head(head: bytes, size: int) -> None:
    if size == 0:
        raise _Refused(f"the file is empty; {_SAVE_HELP}")
    # A header length can begin with a foreign format's magic bytes (a length of
    # 128 + 256 k starts with pickle's 0x80), so only a file that does not start like
    # a safetensors file (a length that fits, then "{") is sniffed.
    declared = struct.unpack("<Q", head[:8])[0] if len(head) == 9 else None
    if declared is None or not (1 <= declared <= size - 8 and head[8:] == b"{"):
        for magic, kind in _FOREIGN:
            if head.startswith(magic):
                raise _Refused(f"this is {kind}, not an fcnn model file; {_SAVE_HELP}, and never "
                               "unpickles anything, since loading a pickle can run arbitrary code")
    if size < 8:
        raise _Refused(f"the file holds {size} bytes, too few for a safetensors header (truncated?)")
    (length,) = struct.unpack("<Q", head[:8])
    if length > MAX_HEADER_BYTES:
        raise _Refused(f"the header declares {length} bytes, over the {MAX_HEADER_BYTES}-byte limit "
                       f"(the file holds {size} bytes): corrupted or not a safetensors file; {_SAVE_HELP}")
    if length > size - 8:
        raise _Refused(f"the header declares {length} bytes but only {size - 8} follow: the file is "
                       "truncated or not a safetensors file")
    if length < 2:
        raise _Refused(f"the header declares {length} bytes, too few for a JSON object: corrupted or "
                       f"not a safetensors file; {_SAVE_HELP}")


def _json(text: str | bytes | None, what: str) -> Any:
    if text is None:
        raise _Refused(f"the {what} is missing; {_SAVE_HELP}")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Refused(f"the {what} is not valid JSON ({exc}); the file is corrupted") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _unpack(raw: bytes, header: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every tensor, read and checked by the safetensors package."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as safetensors_load

    try:
        tensors = safetensors_load(raw)
    except SafetensorError as exc:
        data_size = len(raw) - 8 - struct.unpack("<Q", raw[:8])[0]
        raise _Refused(_format_fault(str(exc), header, data_size)) from None
    except KeyError as exc:  # a dtype the package reads but NumPy has no type for (BF16, F8)
        raise _Refused(f"a tensor has dtype {exc.args[0]!r}, which NumPy cannot hold") from None
    for name, array in tensors.items():
        if array.dtype == np.bool_ and array.size and array.view(np.uint8).max() > 1:
            raise _Refused(f"tensor {name!r} is BOOL but holds bytes other than 0 and 1")
    return tensors


def _format_fault(message: str, header: dict[str, Any], data_size: int) -> str:
    detail = message.split(": ", 1)[-1] if message.startswith("Error while deserializing") else message
    if any(words in detail for words in _INCOMPLETE):
        needed = max((entry["data_offsets"][1] for name, entry in header.items()
                      if name != "__metadata__"), default=0)
        if needed > data_size:
            return (f"its tensors need {needed} bytes of data but {data_size} follow the header: "
                    "the file is truncated")
        return (f"{data_size - needed} unexplained bytes after the last tensor: the file is "
                "corrupted or tampered with")
    meaning = next((m for spellings, m in _FORMAT_FAULTS if any(w in detail for w in spellings)),
                   "it is not a valid safetensors file")
    return f"{meaning} (safetensors: {detail})"


def _fcnn_metadata(header: dict[str, Any]) -> dict[str, str]:
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        names = ", ".join([name for name in header if name != "__metadata__"][:5])
        raise _Refused("not an fcnn model file: its safetensors metadata lacks the \"format\": "
                       f"\"fcnn\" marker (it holds tensors {names or 'none'}); {_SAVE_HELP}")
    version = meta.get("format_version", "")
    if not (isinstance(version, str) and version.isascii() and version.isdigit()) or len(version) > 6:
        raise _Refused(f"format_version {version!r} is not a version number")
    if int(version) > FORMAT_VERSION:
        raise _Refused(f"it was written by a newer fcnn ({meta.get('fcnn_version', '?')}, format "
                       f"version {version}); this fcnn {__version__} reads format version "
                       f"{FORMAT_VERSION}: upgrade fcnn")
    if int(version) < 1:
        raise _Refused(f"format_version {version} does not exist")
    layout = meta.get("layout", "fcnn")
    if layout != "fcnn":
        raise _Refused(f"its tensors are in the {layout!r} layout (fcnn.save(..., layout={layout!r})); "
                       "fcnn.load reads the 'fcnn' layout")
    return meta


def _architecture(meta: dict[str, str], tensors: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any]]:
    """The architecture as a ``{"type", "config"}`` spec, and the tensors under today's keys."""
    spec = _json(meta.get("architecture"), "architecture")
    if meta["format_version"] == "1":
        return _from_format_1(spec, tensors)
    return spec, tensors


def _from_format_1(arch: Any, tensors: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any]]:
    """fcnn 0.1's layout as today's: ``layers.{i}.{name}`` becomes ``{i}.{name}`` (``{name}``
    for a bare layer) and the model's dtype goes into each config whose constructor takes one."""
    if not isinstance(arch, dict) or set(arch) != {"model", "dtype", "layers"}:
        raise _Refused("the architecture must be an object with model, dtype and layers")
    kind, dtype, layers = arch["model"], arch["dtype"], arch["layers"]
    if kind not in ("Sequential", "NeuralNetwork", "Layer"):
        raise _Refused(f"unknown model container {kind!r}; expected Sequential, NeuralNetwork or Layer")
    if dtype not in ("float32", "float64"):
        raise _Refused(f"the model dtype is {dtype!r}; expected float32 or float64")
    if not isinstance(layers, list) or not layers:
        raise _Refused("the architecture lists no layers")
    if kind == "Layer" and len(layers) != 1:
        raise _Refused(f"a bare layer must be one layer, the file lists {len(layers)}")
    for spec in layers:
        cls = _layer_class(spec)
        if cls is not None and isinstance(spec.get("config"), dict) and "dtype" in _config_keys(cls):
            spec["config"].setdefault("dtype", dtype)
    prefix = "layers.0." if kind == "Layer" else "layers."
    renamed = {(key[len(prefix):] if key.startswith(prefix) else key): array
               for key, array in tensors.items()}
    return (layers[0] if kind == "Layer" else {"type": kind, "config": {"layers": layers}}), renamed


def _user_metadata(meta: dict[str, str], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    values = _json(meta.get("metadata", "{}"), "metadata")
    if not isinstance(values, dict):
        raise _Refused("the metadata must be a JSON object")
    for name, array in tensors.items():
        if name.startswith(_METADATA_PREFIX):
            key = name[len(_METADATA_PREFIX) :]
            if key in values:
                raise _Refused(f"metadata key {key!r} is stored both as JSON and as a tensor")
            values[key] = array.astype(array.dtype.newbyteorder("="), copy=True)
    return values


def _build(spec: Any, tensors: dict[str, np.ndarray]) -> Layer:
    """The model ``spec`` describes, holding the file's tensors, after every check."""
    state = {key: array for key, array in tensors.items() if not key.startswith(_METADATA_PREFIX)}
    _check_size(list(_checked_layers(spec, "the model")), state)
    model = _construct(spec, "the model")
    message = _mixed_dtypes(model) or _state_error(model, state) or _chain_error(model)
    if message:
        raise _Refused(message)
    if isinstance(model, Sequential):
        # One contiguous buffer, as mlp builds it, so that optimizers run as fast on a
        # loaded model as on a new one.
        model._pack_parameters()
    try:
        model.load_state_dict(state)
    except ValueError as exc:  # a layer's own rules (a Standardize scale of 0, say)
        raise _Refused(str(exc)) from None
    return model


def _checked_layers(spec: Any, where: str) -> Iterator[tuple[str, type, dict[str, Any]]]:
    """``(where, class, config)`` of every layer in ``spec``, each checked before any is built."""
    if not (isinstance(spec, dict) and set(spec) == {"type", "config"}
            and isinstance(spec["config"], dict)):
        raise _Refused(f"{where} must be an object with type and config")
    kind, config = spec["type"], spec["config"]
    if isinstance(kind, str) and kind in _CONTAINERS:
        layers = config.get("layers")
        if set(config) != {"layers"} or not isinstance(layers, list) or not layers:
            raise _Refused(f"{where} ({kind}) must have the config {{\"layers\": [...]}} with at "
                           "least one layer")
        if kind == "NeuralNetwork" and tuple(map(_layer_class, layers)) != _lab_layer_types():
            raise _Refused(f"a NeuralNetwork has layers {', '.join(c.__name__ for c in _lab_layer_types())}; "
                           f"the file lists {', '.join(str(s.get('type')) for s in layers)}")
        for i, child in enumerate(layers):
            yield from _checked_layers(child, _child(where, i))
        return
    cls = LAYERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _Refused(f"unknown layer type {kind!r} at {where}; fcnn knows {', '.join(sorted(LAYERS))}")
    allowed = _config_keys(cls)
    unexpected = set(config) - allowed
    if unexpected:
        raise _Refused(f"{where} ({kind}) has unexpected config keys {sorted(unexpected)}; "
                       f"expected {sorted(allowed)}")
    yield where, cls, config


def _layer_class(spec: Any) -> type | None:
    """The registered class a layer spec names, if it names one."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    return LAYERS.get(kind) if isinstance(kind, str) else None


def _config_keys(cls: type) -> set[str]:
    """The keyword arguments ``cls`` takes that a file may set."""
    parameters = inspect.signature(cls).parameters.values()
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - _NEVER_SAVED


def _check_size(layers: list[tuple[str, type, dict[str, Any]]], state: dict[str, np.ndarray]) -> None:
    """Refuse a config that claims more than the file holds, before anything is built.

    A layer's state grows with the product of the counts in its config (``in * out``
    for a Linear, ``num_features`` for a BatchNorm1d), which the file's tensors must hold.
    """
    held = sum(array.size for array in state.values())
    claims = [(math.prod(_counts(config)), where, cls) for where, cls, config in layers]
    claimed = sum(claim for claim, _, _ in claims)
    if claimed > held + _SIZE_SLACK:
        claim, where, cls = max(claims, key=lambda c: c[0])
        raise _Refused(f"{where} ({cls.__name__}) claims {claim:,} elements (the product of the "
                       f"sizes in its config) but the file's tensors hold {held:,} in all: the "
                       "config does not match the tensors (tampered with?)")


def _counts(value: Any) -> Iterator[int]:
    """The integers >= 2 in a config, lists and dicts included."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if value >= 2:
            yield value
    elif isinstance(value, (list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _counts(item)


def _construct(spec: dict[str, Any], where: str) -> Layer:
    kind, config = spec["type"], spec["config"]
    if kind in _CONTAINERS:
        cls = _CONTAINERS[kind]
        model = cls.__new__(cls)  # (NeuralNetwork's own __init__ would draw new layers)
        Sequential.__init__(model, *(_construct(child, _child(where, i))
                                     for i, child in enumerate(config["layers"])))
        return model
    cls = LAYERS[kind]
    try:
        layer: Layer = cls(**config)
    except (TypeError, ValueError) as exc:
        raise _Refused(f"{where} ({kind}) has an invalid config: {exc}") from None
    if layer.get_config() != config:
        raise _Refused(f"{where} ({kind}) has config {config}, which does not describe a {kind} "
                       f"exactly (expected keys like {layer.get_config()})")
    return layer


def _state_error(model: Layer, state: dict[str, np.ndarray]) -> str | None:
    """Say how the file's tensors differ from the state of the model its architecture built."""
    own = dict(model._named_state())
    missing = [key for key in own if key not in state]
    if missing:
        return f"missing tensor(s) {', '.join(missing)}; the file is incomplete"
    extra = [key for key in state if key not in own]
    if extra:
        return (f"unexpected tensor(s) {', '.join(extra[:5])}: the architecture has no place for "
                "them (tampered with?)")
    for key, target in own.items():
        array = state[key]
        if array.shape != target.shape:
            return f"tensor {key!r} has shape {array.shape} but the architecture needs {target.shape}"
        if array.dtype != target.dtype:
            return f"tensor {key!r} has dtype {array.dtype} but the architecture needs {target.dtype}"
        if array.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(array)))
            if bad:
                return (f"tensor {key!r} holds {bad} NaN or infinite value(s); a model file holds "
                        "finite weights")
    return None
