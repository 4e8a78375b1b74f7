"""Small fixture tables for the data and CLI tests, one per case ``fcnn train`` must handle.

``write_tables(folder)`` writes them and returns ``{case: path}``; the tests call it
in a fixture (nothing binary is committed). Run this file to write them here:
``python tests/data/tables/make_tables.py``.

Every table is learnable in a few epochs: the class follows a categorical
column and a number, the regression target is linear in the numbers.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
import zipfile
from pathlib import Path

import numpy as np

N = 80
COLORS = ("blue", "green", "red")


def base_rows(seed: int = 0) -> dict[str, list]:
    """Columns: id (1..N), x1, x2 (floats), color (text), label (yes/no), price (float)."""
    rng = np.random.default_rng(seed)
    x1 = np.round(rng.normal(size=N), 3)
    x2 = np.round(rng.normal(size=N) * 10 + 50, 2)
    color = [COLORS[i % 3] for i in range(N)]
    label = ["yes" if (c == "red") or (v > 0.8) else "no" for c, v in zip(color, x1)]
    price = np.round(3.0 * x1 - 0.2 * x2 + [2.0 * (c == "red") for c in color]
                     + 0.01 * rng.normal(size=N), 4)
    return {"id": list(range(1, N + 1)), "x1": list(x1), "x2": list(x2), "color": color,
            "label": label, "price": list(price)}


def to_text(columns: dict[str, list], sep: str = ",") -> str:
    names = list(columns)
    lines = [sep.join(names)]
    for i in range(len(columns[names[0]])):
        lines.append(sep.join("" if columns[n][i] is None else str(columns[n][i]) for n in names))
    return "\n".join(lines) + "\n"


def pick(columns: dict[str, list], *names: str) -> dict[str, list]:
    return {n: columns[n] for n in names}


def write_tables(folder: Path) -> dict[str, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = base_rows()
    numeric = pick(rows, "x1", "x2", "label")
    paths: dict[str, Path] = {}

    def put(case: str, name: str, text: str) -> None:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths[case] = path

    put("comma", "numbers.csv", to_text(numeric))
    put("semicolon", "semicolons.csv", to_text(numeric, ";"))
    put("tab", "tabs.tsv", to_text(numeric, "\t"))
    put("tab_txt", "tabs.txt", to_text(numeric, "\t"))
    put("categorical", "categorical.csv", to_text(pick(rows, "x1", "x2", "color", "label")))
    put("regression", "regression.csv", to_text(pick(rows, "x1", "x2", "color", "price")))
    put("id_column", "with_id.csv", to_text(pick(rows, "id", "x1", "x2", "label")))
    put("label_first", "label_first.csv", to_text(pick(rows, "label", "x1", "x2")))
    put("no_label", "no_label.csv", to_text(pick(rows, "x1", "x2", "color")))
    with_missing = pick(rows, "x1", "x2", "color", "label")
    with_missing = {k: list(v) for k, v in with_missing.items()}
    for i in (3, 17, 40):
        with_missing["x1"][i] = None
    with_missing["color"][9] = None
    with_missing["x2"][25] = "NA"
    put("missing", "missing.csv", to_text(with_missing))
    unseen = pick(rows, "x1", "x2", "color")
    unseen = {k: list(v)[:4] for k, v in unseen.items()}
    unseen["color"][2] = "purple"
    put("unseen_category", "unseen.csv", to_text(unseen))

    text = to_text(numeric).encode()
    for case, suffix, compress in (("gzip", ".csv.gz", gzip.compress),
                                   ("bz2", ".csv.bz2", bz2.compress),
                                   ("xz", ".csv.xz", lzma.compress)):
        path = folder / f"numbers{suffix}"
        path.write_bytes(compress(text))
        paths[case] = path
    path = folder / "numbers.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("numbers.csv", text)
    paths["zip"] = path
    try:
        import pandas as pd

        path = folder / "categorical.parquet"
        pd.DataFrame(pick(rows, "x1", "x2", "color", "label")).to_parquet(path)
        paths["parquet"] = path
    except ImportError:  # no pyarrow: the Parquet tests skip
        pass
    return paths


if __name__ == "__main__":
    for case, path in write_tables(Path(sys.argv[1] if len(sys.argv) > 1 else
                                        Path(__file__).parent)).items():
        print(f"{case:16} {path}")
