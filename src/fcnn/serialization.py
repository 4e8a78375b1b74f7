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

Layout of a file written by ``save``:

* tensors ``layers.{i}.weight`` ``(in_features, out_features)`` and
  ``layers.{i}.bias`` ``(out_features,)`` for each ``Linear`` at index ``i``
  (fcnn's ``(in, out)`` orientation, the transpose of PyTorch's), all float32
  or all float64;
* tensors ``metadata.{key}`` for each NumPy array passed as metadata;
* header metadata (strings, as safetensors requires): ``format`` = ``"fcnn"``,
  ``format_version`` = ``"1"``, ``fcnn_version``, ``architecture`` (JSON:
  container class, dtype and each layer's type and ``get_config()``) and
  ``metadata`` (JSON of the other metadata values).

Writing uses the ``safetensors`` package. Reading does not: ``load`` parses the
format itself so it can check everything a hostile file could get wrong
before it allocates anything (file size, foreign formats, header length,
every tensor's dtype, shape and byte range), and so that memory stays bounded
by the size of the file. Layer types are looked up in ``fcnn.layers.LAYERS``;
nothing is ever imported by a name read from a file.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import math
import os
import secrets
import stat
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .errors import ModelFileError, NonFiniteError, ShapeError
from .layers import LAYERS, Layer, Linear, ReLU
from .network import NeuralNetwork, Sequential

__all__ = ["FORMAT_VERSION", "MAX_HEADER_BYTES", "load", "save"]

#: Version of the file layout this module writes and the newest it reads.
FORMAT_VERSION = 1

#: Largest JSON header ``load`` accepts (and ``save`` writes): 10 MiB.
MAX_HEADER_BYTES = 10 * 2**20

_FORMAT = "fcnn"
_METADATA_PREFIX = "metadata."
_MAX_NDIM = 32

# safetensors dtype codes and the little-endian NumPy dtypes they stand for.
_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("|b1"),
    "U8": np.dtype("|u1"),
    "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_WEIGHT_DTYPES = {"F32": "float32", "F64": "float64"}

# Tensors of each layer type that has parameters, in ``parameters()`` order.
# A new parametric layer in LAYERS needs an entry here (and its shapes in
# ``_expected_shapes``) before it can be saved.
_PARAM_NAMES: dict[type[Layer], tuple[str, ...]] = {Linear: ("weight", "bias")}

# Constructor arguments the loader supplies itself; a file never sets them.
_LOADER_ARGS = frozenset({"init", "rng", "dtype"})

# First bytes of formats people mistake for model files.
_FOREIGN = (
    (b"\x80", "a pickle file (pickle, joblib or an old torch.save)"),
    (b"PK\x03\x04", "a zip archive (an .npz, a torch.save or a Keras file)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89HDF", "an HDF5 file"),
)

_SAVE_HELP = "fcnn.load only reads files written by fcnn.save (safetensors)"


# ----------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------


def save(model: Layer, path: str | os.PathLike[str], /, **metadata: Any) -> None:
    """Write ``model`` and ``metadata`` to ``path``, atomically.

    Parameters
    ----------
    model : Sequential, NeuralNetwork or a single layer
        Its layers must be fcnn's own (``fcnn.layers.LAYERS``), its weights
        all float32 or all float64, and finite. A bare layer (e.g. a
        ``Linear``) is saved as it is and ``load`` returns it bare.
    path : str or os.PathLike
        The file to write, conventionally ``*.safetensors``. Its directory must
        exist (``save`` does not create directories).
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
        ``model`` is not an fcnn model, holds a layer fcnn cannot save, or a
        metadata value has an unsupported type (the message names the key).
    ValueError
        Mixed dtypes, Linear layers whose sizes do not chain
        (``ShapeError``), NaN/inf weights (``NonFiniteError``), or a header
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
    container, layers = _unwrap(model)
    target = _as_path(path, "fcnn.save")
    dtype = _model_dtype(layers)
    message = _chain_error(_linear_sizes(layers))
    if message:
        raise ShapeError(f"fcnn.save: {message}; this model cannot run, so it is not saved")

    tensors: dict[str, np.ndarray] = {}
    for i, layer in enumerate(layers):
        for name, param in _named_parameters(layer):
            key = f"layers.{i}.{name}"
            bad = int(np.count_nonzero(~np.isfinite(param.weights)))
            if bad:
                raise NonFiniteError(
                    f"fcnn.save: {key} holds {bad} NaN or infinite value(s); a model file must "
                    "hold finite weights (restore the last good weights first)"
                )
            tensors[key] = np.ascontiguousarray(param.weights)

    values = dict(_existing_metadata(model))
    values.update(metadata)
    json_metadata: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"fcnn.save: metadata keys must be str, got {key!r}")
        array = _metadata_array(value, key)
        if array is not None:
            tensors[_METADATA_PREFIX + key] = array
        else:
            json_metadata[key] = _json_value(value, f"metadata[{key!r}]", set())

    architecture = {
        "model": container,
        "dtype": dtype.name,
        "layers": [
            {"type": type(layer).__name__, "config": layer.get_config()} for layer in layers
        ],
    }
    header = {
        "format": _FORMAT,
        "format_version": str(FORMAT_VERSION),
        "fcnn_version": __version__,
        "architecture": json.dumps(architecture, allow_nan=False),
        # NaN and inf are allowed in user metadata (a metric can be inf); Python's
        # json reads them back.
        "metadata": json.dumps(json_metadata),
    }

    from safetensors.numpy import save as safetensors_bytes

    data = safetensors_bytes(tensors, metadata=header)
    (header_bytes,) = struct.unpack("<Q", data[:8])
    if header_bytes > MAX_HEADER_BYTES:
        raise ValueError(
            f"fcnn.save: the file header would be {header_bytes} bytes, over the "
            f"{MAX_HEADER_BYTES}-byte limit that fcnn.load accepts; store large metadata "
            "(long lists) as NumPy arrays, which go into tensors"
        )
    _atomic_write(target, data)


def _unwrap(model: Any) -> tuple[str, list[Layer]]:
    """Return the container's name ("Sequential", "NeuralNetwork" or "Layer")
    and the layers to save, checking that each is one fcnn can load."""
    if isinstance(model, Sequential):
        layers = list(model.layers)
        if not layers:
            raise ValueError("fcnn.save: the model has no layers")
        container = "NeuralNetwork" if _is_lab_network(model) else "Sequential"
    elif isinstance(model, Layer):
        layers, container = [model], "Layer"
    else:
        raise TypeError(
            "fcnn.save expected an fcnn model (Sequential, NeuralNetwork or a layer) as its first "
            f"argument, got {type(model).__name__}"
        )
    for i, layer in enumerate(layers):
        cls = type(layer)
        if LAYERS.get(cls.__name__) is not cls:
            nested = ""
            if isinstance(layer, Sequential):
                nested = " (flatten nested Sequentials into one)"
            raise TypeError(
                f"fcnn.save: layer {i} is a {cls.__module__}.{cls.__qualname__}, which fcnn cannot "
                f"save{nested}; savable layers are {', '.join(sorted(LAYERS))}"
            )
        if layer.parameters() and cls not in _PARAM_NAMES:
            raise TypeError(
                f"fcnn.save: fcnn does not know how to store the parameters of {cls.__name__}"
            )
    return container, layers


def _is_lab_network(model: Sequential) -> bool:
    """True for a NeuralNetwork that still has the lab's five layers."""
    if type(model) is not NeuralNetwork:
        return False
    return [type(layer) for layer in model.layers] == [Linear, ReLU, Linear, ReLU, Linear]


def _model_dtype(layers: list[Layer]) -> np.dtype:
    dtypes = {param.dtype for layer in layers for param in layer.parameters()}
    if len(dtypes) > 1:
        raise ValueError(
            f"fcnn.save: the model mixes dtypes {sorted(str(d) for d in dtypes)}; a model file "
            "holds one dtype (rebuild the model with a single dtype)"
        )
    return dtypes.pop() if dtypes else np.dtype(np.float64)


def _linear_sizes(layers: list[Layer]) -> list[tuple[int, int] | None]:
    return [
        (layer.in_features, layer.out_features) if isinstance(layer, Linear) else None
        for layer in layers
    ]


def _chain_error(sizes: list[tuple[int, int] | None]) -> str | None:
    """Say where consecutive Linear layers' sizes do not match, if they don't.

    ``sizes`` holds each layer's ``(in_features, out_features)``, None for
    the element-wise layers in between.
    """
    previous: tuple[int, int] | None = None  # (index, out_features)
    for i, size in enumerate(sizes):
        if size is None:
            continue
        if previous is not None and previous[1] != size[0]:
            return (
                f"Linear layers do not chain: layer {previous[0]} gives {previous[1]} features "
                f"but layer {i} takes {size[0]}"
            )
        previous = (i, size[1])
    return None


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


def _metadata_array(value: Any, key: str) -> np.ndarray | None:
    """A top-level numeric array, ready to store as a tensor; None otherwise."""
    if not isinstance(value, np.ndarray) or value.dtype.kind in "UO":
        return None
    if value.dtype.kind not in "biuf" or value.dtype.newbyteorder("<") not in _DTYPES.values():
        raise TypeError(
            f"fcnn.save: metadata[{key!r}] is an array of dtype {value.dtype}; arrays must be "
            "bool, int, uint or float (16, 32 or 64 bits)"
        )
    if value.ndim > _MAX_NDIM:
        raise TypeError(
            f"fcnn.save: metadata[{key!r}] has {value.ndim} dimensions, at most {_MAX_NDIM}"
        )
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
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


def load(path: str | os.PathLike[str]) -> Layer:
    """Read a model written by ``fcnn.save``.

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
        Anything wrong with what ``path`` holds: a directory, an empty,
        truncated, corrupted or foreign file (pickle, npz, zip, a safetensors
        file not written by fcnn), a header over ``MAX_HEADER_BYTES``, tensors
        outside the file, missing or extra tensors, wrong shapes or dtypes,
        unknown layer types, Linear sizes that do not chain, NaN/inf weights,
        or a newer format version. The message names the file and the fault.

    Notes
    -----
    Nothing in the file is executed or imported, and memory stays bounded by
    the file's size: every declared length and shape is checked against the
    file before anything is allocated, and the tensor bytes are read only
    after the whole header has been validated.
    """
    source = _as_path(path, "fcnn.load")
    reader = _Reader(source)
    with reader.open() as handle:
        header, data_size = reader.header(handle)
        file_meta = reader.fcnn_metadata(header)
        table = reader.tensor_table(header, data_size)
        architecture = reader.architecture(file_meta)
        user_json = reader.user_metadata(file_meta)
        plan = reader.plan(architecture, table)
        data = handle.read(data_size)
        if len(data) != data_size:
            raise reader.error("the file shrank while it was read (truncated)")
    arrays = {name: reader.array(data, name, spec) for name, spec in table.items()}
    model = reader.build(architecture, plan, arrays)

    metadata: dict[str, Any] = dict(user_json)
    for name, array in arrays.items():
        if name.startswith(_METADATA_PREFIX):
            key = name[len(_METADATA_PREFIX) :]
            if key in metadata:
                raise reader.error(f"metadata key {key!r} is stored both as JSON and as a tensor")
            # A copy: writable, native byte order, and not a view that keeps
            # the whole file's bytes alive.
            metadata[key] = array.astype(array.dtype.newbyteorder("="), copy=True)
    model.eval()
    model.metadata = metadata  # type: ignore[attr-defined]
    return model


class _Reader:
    """The checks ``load`` runs, in order, each failing with a ModelFileError
    that names the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, reason: str) -> ModelFileError:
        return ModelFileError(f"cannot load {str(self.path)!r}: {reason}")

    # -- the container --------------------------------------------------------
    def open(self) -> Any:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, "fcnn.load: no such model file", str(self.path)
            ) from None
        if stat.S_ISDIR(info.st_mode):
            raise self.error("it is a directory, not a model file")
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or a device would block or never end.
            raise self.error("it is not a regular file")
        return open(self.path, "rb")

    def header(self, handle: Any) -> tuple[dict[str, Any], int]:
        """Parse the JSON header; return it and the size of the data section."""
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise self.error(f"the file is empty; {_SAVE_HELP}")
        head = handle.read(9)
        # A header length can begin with a foreign format's magic bytes (a length
        # of 128 + 256 k starts with pickle's 0x80), so only a file that does not
        # start like a safetensors file (a length that fits, then "{") is sniffed.
        declared = struct.unpack("<Q", head[:8])[0] if len(head) == 9 else None
        if declared is None or not (1 <= declared <= size - 8 and head[8:] == b"{"):
            for magic, kind in _FOREIGN:
                if head.startswith(magic):
                    raise self.error(
                        f"this is {kind}, not an fcnn model file; {_SAVE_HELP}, and never "
                        "unpickles anything, since loading a pickle can run arbitrary code"
                    )
        handle.seek(8)
        head = head[:8]
        if size < 8:
            raise self.error(
                f"the file holds {size} bytes, too few for a safetensors header (truncated?)"
            )
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES:
            raise self.error(
                f"the header declares {length} bytes, over the {MAX_HEADER_BYTES}-byte limit "
                f"(the file holds {size} bytes): corrupted or not a safetensors file; {_SAVE_HELP}"
            )
        if length > size - 8:
            raise self.error(
                f"the header declares {length} bytes but only {size - 8} follow: the file is "
                "truncated or not a safetensors file"
            )
        raw = handle.read(length)
        if len(raw) != length:
            raise self.error("the file shrank while it was read (truncated)")
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.error(
                f"the header is not valid JSON ({exc}); the file is corrupted"
            ) from None
        if not isinstance(header, dict):
            raise self.error(f"the header is a JSON {type(header).__name__}, not an object")
        return header, size - 8 - length

    def fcnn_metadata(self, header: dict[str, Any]) -> dict[str, str]:
        meta = header.pop("__metadata__", None)
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            names = ", ".join(list(header)[:5])
            raise self.error(
                "not an fcnn model file: its safetensors metadata lacks the \"format\": \"fcnn\" "
                f"marker (it holds tensors {names or 'none'}); {_SAVE_HELP}"
            )
        if not all(isinstance(v, str) for v in meta.values()):
            raise self.error("the header's __metadata__ values must all be strings")
        version = meta.get("format_version", "")
        if not (version.isascii() and version.isdigit()) or len(version) > 6:
            raise self.error(f"format_version {version!r} is not a version number")
        if int(version) > FORMAT_VERSION:
            raise self.error(
                f"it was written by a newer fcnn ({meta.get('fcnn_version', '?')}, format version "
                f"{version}); this fcnn {__version__} reads format version {FORMAT_VERSION}: "
                "upgrade fcnn"
            )
        if int(version) < 1:
            raise self.error(f"format_version {version} does not exist")
        return meta

    def tensor_table(self, header: dict[str, Any], data_size: int) -> dict[str, Any]:
        """Check every tensor's entry; return name -> (code, shape, begin, end)."""
        table: dict[str, Any] = {}
        for name, entry in header.items():
            if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                raise self.error(
                    f"tensor {name!r} must be described by exactly dtype, shape and data_offsets"
                )
            code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
            if code not in _DTYPES:
                raise self.error(
                    f"tensor {name!r} has dtype {code!r}; fcnn reads {', '.join(_DTYPES)}"
                )
            if (
                not isinstance(shape, list)
                or len(shape) > _MAX_NDIM
                or not all(_is_count(n) for n in shape)
            ):
                raise self.error(f"tensor {name!r} has an invalid shape {shape!r}")
            if (
                not isinstance(offsets, list)
                or len(offsets) != 2
                or not all(_is_count(n) for n in offsets)
                or offsets[0] > offsets[1]
            ):
                raise self.error(f"tensor {name!r} has invalid data_offsets {offsets!r}")
            begin, end = offsets
            if end > data_size:
                raise self.error(
                    f"tensor {name!r} occupies bytes [{begin}, {end}) but the data section "
                    f"holds {data_size} bytes: the file is truncated or corrupted"
                )
            expected = math.prod(shape) * _DTYPES[code].itemsize
            if end - begin != expected:
                raise self.error(
                    f"tensor {name!r} of shape {tuple(shape)} and dtype {code} needs {expected} "
                    f"bytes but its data_offsets span {end - begin}"
                )
            table[name] = (code, tuple(shape), begin, end)
        # The tensors must tile the data section exactly: no overlaps (two
        # names reading the same bytes), no gaps, nothing after the last one.
        cursor = 0
        for name, (_, _, begin, end) in sorted(table.items(), key=lambda item: item[1][2:]):
            if begin != cursor:
                fault = "overlaps the tensor before it" if begin < cursor else "leaves a gap"
                raise self.error(
                    f"tensor {name!r} {fault}: the file is corrupted or tampered with"
                )
            cursor = end
        if cursor != data_size:
            raise self.error(
                f"{data_size - cursor} unexplained bytes after the last tensor: the file is "
                "corrupted or tampered with"
            )
        return table

    def architecture(self, meta: dict[str, str]) -> dict[str, Any]:
        try:
            arch = json.loads(meta.get("architecture", ""))
        except (ValueError, RecursionError) as exc:
            raise self.error(f"the architecture is not valid JSON ({exc})") from None
        if not isinstance(arch, dict) or set(arch) != {"model", "dtype", "layers"}:
            raise self.error("the architecture must be an object with model, dtype and layers")
        if arch["model"] not in ("Sequential", "NeuralNetwork", "Layer"):
            raise self.error(
                f"unknown model container {arch['model']!r}; expected Sequential, NeuralNetwork "
                "or Layer"
            )
        if arch["dtype"] not in _WEIGHT_DTYPES.values():
            raise self.error(f"the model dtype is {arch['dtype']!r}; expected float32 or float64")
        layers = arch["layers"]
        if not isinstance(layers, list) or not layers:
            raise self.error("the architecture lists no layers")
        if arch["model"] == "Layer" and len(layers) != 1:
            raise self.error(f"a bare layer must be one layer, the file lists {len(layers)}")
        for i, spec in enumerate(layers):
            if (
                not isinstance(spec, dict)
                or set(spec) != {"type", "config"}
                or not isinstance(spec["config"], dict)
            ):
                raise self.error(f"layer {i} must be an object with type and config")
            kind = spec["type"]
            if not isinstance(kind, str) or kind not in LAYERS:
                raise self.error(
                    f"unknown layer type {kind!r} at layer {i}; fcnn knows "
                    f"{', '.join(sorted(LAYERS))}"
                )
            allowed = set(inspect.signature(LAYERS[kind]).parameters) - _LOADER_ARGS
            unexpected = set(spec["config"]) - allowed
            if unexpected:
                raise self.error(
                    f"layer {i} ({kind}) has unexpected config keys {sorted(unexpected)}; "
                    f"expected {sorted(allowed)}"
                )
        return arch

    def user_metadata(self, meta: dict[str, str]) -> dict[str, Any]:
        try:
            values = json.loads(meta.get("metadata", "{}"))
        except (ValueError, RecursionError) as exc:
            raise self.error(f"the metadata is not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise self.error("the metadata must be a JSON object")
        return values

    def plan(self, arch: dict[str, Any], table: dict[str, Any]) -> list[tuple[int, int] | None]:
        """Match the layers against the tensors before anything is allocated.

        Returns each layer's ``(in_features, out_features)`` for Linear, None
        for the others.
        """
        code = next(c for c, name in _WEIGHT_DTYPES.items() if name == arch["dtype"])
        expected: dict[str, tuple[int, ...]] = {}
        sizes: list[tuple[int, int] | None] = []
        for i, spec in enumerate(arch["layers"]):
            cls = LAYERS[spec["type"]]
            if cls is not Linear:
                sizes.append(None)
                continue
            config = spec["config"]
            dims = (config.get("in_features"), config.get("out_features"))
            if not all(_is_count(n) and n >= 1 for n in dims):
                raise self.error(
                    f"layer {i} (Linear) needs positive int in_features and out_features, got "
                    f"{config}"
                )
            size_in, size_out = dims
            sizes.append((size_in, size_out))
            expected[f"layers.{i}.weight"] = (size_in, size_out)
            expected[f"layers.{i}.bias"] = (size_out,)

        names = [n for n in table if not n.startswith(_METADATA_PREFIX)]
        missing = [n for n in expected if n not in table]
        if missing:
            raise self.error(f"missing tensor(s) {', '.join(missing)}; the file is incomplete")
        extra = [n for n in names if n not in expected]
        if extra:
            raise self.error(
                f"unexpected tensor(s) {', '.join(extra[:5])}: the architecture has no place "
                "for them (tampered with?)"
            )
        for name, shape in expected.items():
            tensor_code, tensor_shape = table[name][:2]
            if tensor_code not in _WEIGHT_DTYPES:
                raise self.error(
                    f"tensor {name!r} has dtype {tensor_code}; model weights must be F32 "
                    "(float32) or F64 (float64)"
                )
            if tensor_code != code:
                raise self.error(
                    f"tensor {name!r} has dtype {tensor_code} but the model's dtype is "
                    f"{arch['dtype']} ({code}); a model holds one dtype"
                )
            if tensor_shape != shape:
                raise self.error(
                    f"tensor {name!r} has shape {tensor_shape} but its Linear layer needs {shape}"
                )
        message = _chain_error(sizes)
        if message:
            raise self.error(message)
        if arch["model"] == "NeuralNetwork":
            kinds = [spec["type"] for spec in arch["layers"]]
            if kinds != ["Linear", "ReLU", "Linear", "ReLU", "Linear"]:
                raise self.error(
                    f"a NeuralNetwork has layers Linear, ReLU, Linear, ReLU, Linear; the file "
                    f"lists {', '.join(kinds)}"
                )
        return sizes

    def array(self, data: bytes, name: str, spec: tuple[Any, ...]) -> np.ndarray:
        code, shape, begin, end = spec
        dtype = _DTYPES[code]
        count = (end - begin) // dtype.itemsize
        array = np.frombuffer(data, dtype=dtype, count=count, offset=begin)
        if code == "BOOL" and array.size and array.view(np.uint8).max() > 1:
            raise self.error(f"tensor {name!r} is BOOL but holds bytes other than 0 and 1")
        return array.reshape(shape)

    def build(
        self, arch: dict[str, Any], sizes: list[Any], arrays: dict[str, np.ndarray]
    ) -> Layer:
        dtype = np.dtype(arch["dtype"])
        layers: list[Layer] = []
        for i, (spec, size) in enumerate(zip(arch["layers"], sizes, strict=True)):
            cls, config = LAYERS[spec["type"]], spec["config"]
            try:
                if size is not None:
                    layer: Layer = Linear(*size, init=_uninitialized, dtype=dtype)
                else:
                    layer = cls(**config)
            except (TypeError, ValueError) as exc:
                raise self.error(
                    f"layer {i} ({cls.__name__}) has an invalid config: {exc}"
                ) from None
            if layer.get_config() != config:
                raise self.error(
                    f"layer {i} ({cls.__name__}) has config {config}, which does not describe a "
                    f"{cls.__name__} exactly (expected keys like {layer.get_config()})"
                )
            if layer.parameters() and cls not in _PARAM_NAMES:
                raise self.error(f"fcnn cannot load the parameters of a {cls.__name__}")
            layers.append(layer)

        model: Layer
        if arch["model"] == "Layer":
            model = layers[0]
        elif arch["model"] == "NeuralNetwork":
            (n_in, hidden), (_, n_out) = sizes[0], sizes[4]
            model = NeuralNetwork(n_in, hidden, n_out, init=_uninitialized, dtype=dtype)
        else:
            model = Sequential(*layers)
            # One contiguous buffer, as mlp builds it, so that optimizers run as
            # fast on a loaded model as on a new one.
            model._pack_parameters()

        targets = model.layers if isinstance(model, Sequential) else [model]
        for i, layer in enumerate(targets):
            for name, param in _named_parameters(layer):
                values = arrays[f"layers.{i}.{name}"]
                bad = int(np.count_nonzero(~np.isfinite(values)))
                if bad:
                    raise self.error(
                        f"tensor 'layers.{i}.{name}' holds {bad} NaN or infinite value(s); "
                        "a model file holds finite weights"
                    )
                param.weights = values
        return model


def _named_parameters(layer: Layer) -> list[tuple[str, Any]]:
    """``(tensor name suffix, Parameter)`` for each of the layer's parameters."""
    params = layer.parameters()
    if not params:
        return []
    return list(zip(_PARAM_NAMES[type(layer)], params, strict=True))


def _uninitialized(
    fan_in: int, fan_out: int, rng: Any, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    # The saved weights overwrite these, so skip drawing random numbers.
    return np.zeros((fan_in, fan_out), dtype), np.zeros(fan_out, dtype)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result
