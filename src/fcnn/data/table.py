"""Reading a table from disk with pandas: CSV (delimiter detected or given),
``.tsv``, compressed files (``.gz``, ``.bz2``, ``.xz``, ``.zip``) and Parquet.

pandas' C engine parses; this module adds what pandas leaves to the caller:
the delimiter (sniffed from the first lines), a checked header (no empty,
duplicate or numeric-only names), and messages that name the file, the line,
the column and the value. Exact line numbers are worked out only when a
message needs one, by re-reading the file up to that row.
"""

from __future__ import annotations

import bz2
import csv
import difflib
import gzip
import io
import lzma
import re
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import DatasetError, DatasetNotFoundError, PathLike, list_names

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMPRESSIONS", "DELIMITERS", "FORMATS", "Table", "read_table", "text_columns"]

#: Table formats by suffix (before any compression suffix).
FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".tab": "tsv", ".parquet": "parquet",
           ".pq": "parquet"}
#: Compression by suffix, as pandas names it.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
#: The delimiters ``--sep auto`` chooses from, in order of preference on a tie.
DELIMITERS = (",", ";", "\t", "|")
_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}
#: Cells that mean "no value" besides pandas' own (``""``, ``NA``, ``nan``, ``null``, ...).
EXTRA_MISSING = ("?",)
# Files larger than this print what they are reading (when a log is given).
_ANNOUNCE_BYTES = 20 * 2**20
_SNIFF_BYTES = 1 << 16


@dataclass(repr=False)
class Table:
    """A table read from a file: the frame and where it came from.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per data row, the header's names as columns (stripped of spaces).
    path : Path
    sep : str or None
        The delimiter used; ``None`` for Parquet.
    compression : str or None
    """

    frame: pd.DataFrame
    path: Path
    sep: str | None
    compression: str | None

    def __repr__(self) -> str:
        return f"Table({str(self.path)!r}, rows={len(self.frame)}, columns={self.frame.shape[1]})"

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def where(self, row: int) -> str:
        """``"line 7"`` for data row ``row`` (0-based) of a text file, ``"row 6"`` of Parquet."""
        if self.sep is None:
            return f"row {row + 1}"
        found = self.raw_rows([row]).get(row)
        return f"line {found[0]}" if found else f"data row {row + 1}"

    def raw_rows(self, rows: list[int]) -> dict[int, tuple[int, list[str]]]:
        """``{row: (line number, raw fields)}`` for the given data rows, read again from the file."""
        wanted = set(rows)
        last = max(wanted) if wanted else -1
        found: dict[int, tuple[int, list[str]]] = {}
        if self.sep is None or last < 0:
            return found
        with _open_text(self.path, self.compression) as handle:
            reader = csv.reader(handle, delimiter=self.sep, skipinitialspace=True)
            index = -1
            header_seen = False
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if not header_seen:
                    header_seen = True
                    continue
                index += 1
                if index in wanted:
                    found[index] = (reader.line_num, [f.strip() for f in fields])
                if index >= last:
                    break
        return found

    def raw_cell(self, row: int, column: str) -> str | None:
        """The text of one cell as written in the file (None for Parquet or a short row)."""
        found = self.raw_rows([row]).get(row)
        if found is None:
            return None
        j = self.columns.index(column)
        return found[1][j] if j < len(found[1]) else None

    def check_short_rows(self) -> None:
        """Refuse rows with fewer fields than the header (pandas pads them with NaN)."""
        if self.sep is None or self.frame.shape[0] == 0:
            return
        last = self.frame.iloc[:, -1]
        suspects = [int(i) for i in last.isna().to_numpy().nonzero()[0][:1000]]
        if not suspects:
            return
        width = self.frame.shape[1]
        for _row, (line, fields) in sorted(self.raw_rows(suspects).items()):
            if len(fields) < width:
                raise DatasetError(
                    f"{self.path}: line {line} has {len(fields)} fields but the header has "
                    f"{width} columns"
                )


def table_format(path: Path) -> tuple[str | None, str | None]:
    """(format, compression) from the file name: ``data.csv.gz`` -> ("csv", "gzip")."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression is not None:
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None and compression is not None:
        kind = "csv"  # data.gz: a compressed CSV
    return kind, compression


def check_path(path: Path, embedded: tuple[str, ...]) -> tuple[str, str | None]:
    """The file's (format, compression), or a DatasetError saying what is wrong with ``path``."""
    kind, compression = table_format(path)
    known = ", ".join(sorted(set(FORMATS)) + [f"{s} compressed" for s in COMPRESSIONS])
    if kind is None:
        if path.exists():
            raise DatasetError(
                f"{path} is not a table fcnn reads ({known}); give such a file or one of the "
                f"embedded datasets: {', '.join(embedded)}"
            )
        close = difflib.get_close_matches(str(path).lower(), embedded, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DatasetError(
            f"{str(path)!r} is neither an embedded dataset ({', '.join(embedded)}) nor a data "
            f"file ({known}){hint}"
        )
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path} is a directory, not a data file")
    return kind, compression


def read_table(
    path: PathLike,
    *,
    sep: str | None = None,
    embedded: tuple[str, ...] = (),
    log: Callable[[str], None] | None = None,
) -> Table:
    """Read a data file into a :class:`Table`.

    Parameters
    ----------
    path : str or path
        ``.csv``/``.txt`` (delimiter detected), ``.tsv``/``.tab`` (tabs), either
        compressed as ``.gz``, ``.bz2``, ``.xz`` or ``.zip``, or ``.parquet``
        (needs pyarrow). Text is UTF-8 (a byte-order mark is dropped), with a
        header row naming the columns.
    sep : str, optional
        The delimiter (``--sep``); default: detected from the first lines among
        comma, semicolon, tab and ``|`` (tab for ``.tsv``).
    embedded : tuple of str
        Names to suggest when ``path`` is neither a file nor a known format.
    log : callable, optional
        Called with a line of text before and after reading a large file.

    Raises
    ------
    DatasetError
        Missing file (:class:`DatasetNotFoundError`), unknown format, empty
        file, no header, empty/duplicate names, too many fields on a line, text
        that is not UTF-8.
    """
    path = Path(path)
    kind, compression = check_path(path, embedded)
    size = path.stat().st_size
    started = time.perf_counter()
    if log is not None and size > _ANNOUNCE_BYTES:
        log(f"reading {path} ({size / 2**20:.0f} MB) ...")
    if kind == "parquet":
        table = _read_parquet(path)
    else:
        table = _read_text(path, kind, compression, sep)
    if log is not None and size > _ANNOUNCE_BYTES:
        rows, columns = table.frame.shape
        log(f"read {rows:,} rows x {columns} columns in {time.perf_counter() - started:.1f} s")
    return table


# --------------------------------------------------------------------------- text files


def _read_text(path: Path, kind: str, compression: str | None, sep: str | None) -> Table:
    import pandas as pd

    sample = _sample(path, compression)
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        raise DatasetError(f"{path}: the file is empty; expected a header row and data rows")
    if sep is None:
        sep = "\t" if kind == "tsv" else _sniff(lines)
    header = [cell.strip() for cell in next(csv.reader([lines[0]], delimiter=sep,
                                                       skipinitialspace=True))]
    _check_header(path, header, sep)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DtypeWarning: mixed columns are sorted out later
            frame = pd.read_csv(
                path, sep=sep, compression=compression, encoding="utf-8",
                skipinitialspace=True, na_values=list(EXTRA_MISSING), skip_blank_lines=True,
                engine="c",
            )
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty; expected a header row and data rows") from None
    except pd.errors.ParserError as exc:
        raise DatasetError(_parser_message(path, str(exc), len(header))) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[0] == 0:
        raise DatasetError(f"{path}: the file has a header but no data rows")
    text_columns(frame)
    return Table(frame=frame, path=path, sep=sep, compression=compression)


def text_columns(frame: pd.DataFrame) -> list[str]:
    """Turn every column that is not numbers or booleans into stripped strings (pandas'
    ``string`` dtype, empty cells missing), in place; returns their names.

    A column pandas read in chunks may mix floats and strings; as strings they
    can be told apart again (``pd.to_numeric``) whatever the chunking was."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    names = []
    for name in frame.columns:
        column = frame[name]
        if is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype):
            continue
        text = column.astype("string").str.strip()
        frame[name] = text.mask(text == "")
        names.append(name)
    return names


def _sample(path: Path, compression: str | None) -> str:
    """The first ~64 KB of the file as text (whole lines only)."""
    try:
        with _open_binary(path, compression) as handle:
            data = handle.read(_SNIFF_BYTES)
            more = bool(handle.read(1))
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DatasetError(
            f"{path}: cannot be read as {compression or 'plain'} data ({exc})"
        ) from None
    if more:
        data = data[: data.rfind(b"\n") + 1] or data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> DatasetError:
    return DatasetError(
        f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
    )


def _open_binary(path: Path, compression: str | None) -> Any:
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    if compression == "zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DatasetError(
                f"{path}: a .zip must hold exactly one file to read, it holds {len(names)}"
            )
        return archive.open(names[0])
    return path.open("rb")


def _open_text(path: Path, compression: str | None) -> Iterator[str]:
    return io.TextIOWrapper(_open_binary(path, compression), encoding="utf-8-sig", newline="")


def _sniff(lines: list[str]) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields."""
    best, best_width = ",", 1
    sample = lines[:20]
    for candidate in DELIMITERS:
        widths = {len(row) for row in csv.reader(sample, delimiter=candidate)}
        width = widths.pop() if len(widths) == 1 else 0
        if width > best_width:
            best, best_width = candidate, width
    return best


def _check_header(path: Path, header: list[str], sep: str) -> None:
    if len(header) == 1:
        others = [_SEPARATOR_NAMES[s] for s in DELIMITERS if s != sep and s in header[0]]
        hint = f"; the header looks separated by {others[0]}: pass --sep" if others else ""
        raise DatasetError(
            f"{path}: only one column ({header[0]!r}) was found, so there are no features "
            f"besides the label{hint}"
        )
    if all(_is_number(cell) for cell in header):
        raise DatasetError(
            f"{path}: line 1 holds only numbers, so the file has no header row; add a first "
            "line naming the columns (e.g. x1,x2,...,label)"
        )
    for j, name in enumerate(header):
        if not name:
            hint = (" — probably a row index written by pandas; save with to_csv(index=False)"
                    if j == 0 else "")
            raise DatasetError(f"{path}: column {j + 1} has no name in the header{hint}")
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DatasetError(
            f"{path}: duplicate column name(s) {list_names(duplicates)} in the header; column "
            "names must be unique"
        )


def _parser_message(path: Path, text: str, width: int) -> str:
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if match:
        return (f"{path}: line {match[2]} has {match[3]} fields but the header has "
                f"{width} columns")
    return f"{path}: malformed table: {text.strip().splitlines()[-1]}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- parquet


def _read_parquet(path: Path) -> Table:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise DatasetError(
            f"{path}: reading Parquet needs pyarrow; install it with pip install pyarrow"
        ) from None
    except Exception as exc:  # pyarrow's own error classes: a damaged or non-Parquet file
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[0] == 0:
        raise DatasetError(f"{path}: the file has columns but no rows")
    text_columns(frame)
    return Table(frame=frame, path=path, sep=None, compression=None)
