"""fcnn.data (and its old name fcnn.datasets): embedded datasets, reading tables with pandas,
encoding (categories, missing values, task, id columns), stratified split, standardization.

pandas is the reference for what a table holds: each reading test compares with
``pandas.read_csv`` / ``read_parquet`` on the same file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fcnn.datasets import (
    EMBEDDED,
    Dataset,
    DatasetError,
    load_dataset,
    load_features_csv,
    standardize,
    train_test_split,
)
from fcnn.errors import FcnnError, NonFiniteError, ShapeError


def write(tmp_path: Path, text: str, name: str = "data.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


# --------------------------------------------------------------------------- embedded


def test_iris_is_the_labs_table():
    data = load_dataset("iris")
    assert data.X.shape == (150, 4)
    assert data.X.dtype == np.float64
    assert data.y.dtype == np.int64
    assert np.bincount(data.y).tolist() == [50, 50, 50]
    assert data.classes == ["setosa", "versicolor", "virginica"]
    assert data.n_classes == 3
    assert data.feature_names[0] == "sepal length (cm)"
    assert data.name == "iris"
    # first row of Fisher's table
    np.testing.assert_array_equal(data.X[0], [5.1, 3.5, 1.4, 0.2])
    assert data.y[0] == 0 and data.y[-1] == 2


@pytest.mark.parametrize(
    ("name", "shape", "counts"),
    [
        ("wine", (178, 13), [59, 71, 48]),
        ("breast_cancer", (569, 30), [212, 357]),
        ("digits", (1797, 64), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]),
    ],
)
def test_other_embedded_datasets(name, shape, counts):
    data = load_dataset(name)
    assert data.X.shape == shape
    assert np.bincount(data.y).tolist() == counts
    assert len(data.feature_names) == shape[1]
    assert data.n_classes == len(counts)


def test_digits_keeps_raw_pixel_values_and_int_classes():
    data = load_dataset("digits")
    assert data.X.min() == 0.0 and data.X.max() == 16.0
    assert data.classes == list(range(10))
    assert all(type(c) is int for c in data.classes)  # JSON-serializable, not np.int64


def test_breast_cancer_classes_follow_sklearn_codes():
    assert load_dataset("breast_cancer").classes == ["malignant", "benign"]


def test_embedded_names_ignore_case_and_dashes():
    assert load_dataset("IRIS").n_samples == 150
    assert load_dataset("Breast-Cancer").n_features == 30
    assert EMBEDDED == ("iris", "wine", "breast_cancer", "digits")


def test_unknown_name_lists_embedded_and_suggests():
    with pytest.raises(DatasetError, match="neither an embedded dataset") as info:
        load_dataset("irsi")
    message = str(info.value)
    for name in EMBEDDED:
        assert name in message
    assert "did you mean 'iris'" in message


def test_target_with_embedded_dataset_is_an_error():
    with pytest.raises(DatasetError, match="data files only"):
        load_dataset("iris", target="species")


def test_dataset_repr_is_short():
    text = repr(load_dataset("iris"))
    assert text == (
        "Dataset(name='iris', n_samples=150, n_features=4, "
        "classes=['setosa', 'versicolor', 'virginica'])"
    )


# --------------------------------------------------------------------------- CSV


def test_csv_string_labels_round_trip(tmp_path):
    path = write(
        tmp_path,
        "a,b,kind\n1.5,2,dog\n3,4,cat\n5,-6e-1,bird\n7,8,cat\n",
    )
    data = load_dataset(str(path))
    assert isinstance(data, Dataset)
    assert data.classes == ["bird", "cat", "dog"]
    assert data.y.tolist() == [2, 1, 0, 1]
    np.testing.assert_array_equal(data.X, [[1.5, 2.0], [3.0, 4.0], [5.0, -0.6], [7.0, 8.0]])
    assert data.feature_names == ["a", "b"]
    assert data.name == "data.csv"
    assert [data.classes[c] for c in data.y] == ["dog", "cat", "bird", "cat"]


def test_csv_numeric_labels_sort_numerically(tmp_path):
    path = write(tmp_path, "x,label\n0,10\n1,9\n2,2\n3,10.0\n4,9\n")
    data = load_dataset(path)
    assert data.classes == [2, 9, 10]
    assert all(type(c) is int for c in data.classes)
    assert data.y.tolist() == [2, 1, 0, 2, 1]


def test_csv_fractional_labels_stay_floats(tmp_path):
    data = load_dataset(write(tmp_path, "x,label\n0,0.5\n1,1.5\n2,0.5\n"), task="classification")
    assert data.classes == [0.5, 1.5]
    assert data.y.tolist() == [0, 1, 0]


def test_csv_named_target_column_in_the_middle(tmp_path):
    path = write(tmp_path, "x1,species,x2\n1,b,10\n2,a,20\n3,b,30\n")
    data = load_dataset(path, target="species")
    assert data.feature_names == ["x1", "x2"]
    np.testing.assert_array_equal(data.X, [[1, 10], [2, 20], [3, 30]])
    assert data.y.tolist() == [1, 0, 1]


def test_csv_tolerates_bom_blank_lines_spaces_and_quotes(tmp_path):
    path = write(tmp_path, '\ufeffx , y ,label\n\n 1 , "2" , a \n3,4,b\n\n', encoding="utf-8")
    data = load_dataset(path)
    assert data.feature_names == ["x", "y"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.classes == ["a", "b"]


def test_csv_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DatasetError, match="no such file") as info:
        load_dataset(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert "nope.csv" in str(info.value)


def test_existing_file_that_is_not_a_table(tmp_path):
    path = write(tmp_path, "a\tb\n1\t2\n", name="data.xlsx")
    with pytest.raises(DatasetError, match=r"not a table fcnn reads.*iris, wine, breast_cancer"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("a,b,label\n", "no data rows"),
        ("1,2,0\n3,4,1\n", "no header row"),
        ("a,b,label\n1,2,x\n3,4\n", "line 3 has 2 fields but the header has 3 columns"),
        ("a,a,label\n1,2,x\n3,4,y\n", "duplicate column name(s) 'a'"),
        (",a,label\n0,1,x\n1,2,y\n", "column 1 has no name.*index=False"),
        ("a,b,label\n1,,x\n3,4,y\n", "column 'b' has a missing value (empty cell) at line 2"),
        ("a,b,label\n1,2,x\n3,NA,y\n", "column 'b' has a missing value ('NA') at line 3"),
        ("a,b,label\n1,2,x\nnan,4,y\n", "column 'a' has a missing value ('nan') at line 3"),
        ("a,b,label\n1,2,x\n3,-inf,y\n", "column 'b' holds the infinite value '-inf' at line 3"),
        ("a,b,label\n1,2,x\n3,4,\n", "label column 'label' is empty at line 3"),
        ("a,b,label\n1,2,x\n3,4,x\n", "single class ('x')"),
    ],
)
def test_csv_errors_are_clear(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    for piece in words.split(".*"):
        assert piece in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FcnnError)


def test_csv_stray_text_in_a_number_column_names_column_line_and_value(tmp_path):
    path = write(tmp_path, "a,size,label\n1,2,x\n3,red,y\n5,4,y\n6,blue,x\n7,5,x\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, target="label")
    message = str(info.value)
    for piece in ("column 'size'", "'red'", "line 3", "2 non-numeric values", "--drop size"):
        assert piece in message


def test_csv_label_in_first_column_is_found_by_its_name(tmp_path):
    path = write(tmp_path, "species,a,b\nx,1,2\ny,3,4\nx,5,6\n")
    data = load_dataset(path)
    assert data.target == "species" and data.feature_names == ["a", "b"]
    assert any("first column, named like a label" in note for note in data.notes)


def test_csv_missing_target_lists_columns(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(DatasetError, match=r"no column named 'class'.*'a', 'b', 'label'"):
        load_dataset(path, target="class")


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b,étiquette\n1,2,x\n3,4,y\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_dataset(path)


# --------------------------------------------------------------------------- features CSV


def test_load_features_by_name_ignores_extra_columns_and_reorders(tmp_path):
    path = write(tmp_path, "b,label,a\n2,x,1\n4,y,3\n")
    X = load_features_csv(path, ["a", "b"])
    np.testing.assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])
    assert X.dtype == np.float64


def test_load_features_missing_columns_are_listed(tmp_path):
    path = write(tmp_path, "b,label\n2,x\n")
    with pytest.raises(DatasetError, match=r"missing feature column\(s\) 'a', 'c'"):
        load_features_csv(path, ["a", "b", "c"])


def test_load_features_all_columns_must_be_numeric(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,x\n")
    with pytest.raises(DatasetError, match=r"column 'b' holds the non-numeric value 'x' at line 3"):
        load_features_csv(path)
    np.testing.assert_array_equal(load_features_csv(path, ["a"]), [[1.0], [3.0]])


def test_load_features_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_features_csv(tmp_path / "new.csv")


# --------------------------------------------------------------------------- split


def test_split_is_stratified_with_labs_proportions():
    data = load_dataset("iris")
    split = train_test_split(data, test_size=0.2, seed=0)
    assert split.X_train.shape == (120, 4) and split.X_test.shape == (30, 4)
    assert np.bincount(split.y_test).tolist() == [10, 10, 10]
    assert np.bincount(split.y_train).tolist() == [40, 40, 40]
    assert split.mean is None and split.scale is None


def test_split_is_deterministic_under_a_seed_and_partitions_rows():
    X = np.column_stack([np.arange(40.0), np.zeros(40)])  # row i is identified by X[i, 0]
    y = np.repeat([0, 1, 2, 3], 10)
    first = train_test_split(X, y, seed=7)
    again = train_test_split(X, y, seed=7)
    other = train_test_split(X, y, seed=8)
    np.testing.assert_array_equal(first.X_test, again.X_test)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.X_test, other.X_test)
    ids = np.concatenate([first.X_train[:, 0], first.X_test[:, 0]])
    assert sorted(ids.tolist()) == list(range(40))
    # labels travel with their rows
    np.testing.assert_array_equal(first.y_test, y[first.X_test[:, 0].astype(int)])
    assert np.bincount(first.y_test).tolist() == [2, 2, 2, 2]


def test_split_keeps_string_labels_and_float32():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.array(["a", "b"] * 5)
    split = train_test_split(X, y, test_size=4, seed=1)
    assert split.X_train.dtype == np.float32
    assert sorted(split.y_test.tolist()) == ["a", "a", "b", "b"]


def test_standardization_uses_training_statistics_only():
    data = load_dataset("iris")
    raw = train_test_split(data, seed=3)
    scaled = train_test_split(data, seed=3, standardize=True)
    np.testing.assert_allclose(scaled.mean, raw.X_train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaled.scale, raw.X_train.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaled.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.X_train.std(axis=0), 1.0, rtol=1e-12)
    # the test part is transformed with the training statistics, not its own
    assert np.abs(scaled.X_test.mean(axis=0)).max() > 1e-3
    np.testing.assert_allclose(scaled.X_test, (raw.X_test - scaled.mean) / scaled.scale)
    # the caller's data is untouched
    assert data.X[0, 0] == 5.1


def test_standardization_leaves_constant_columns_unscaled():
    X = np.column_stack([np.arange(12.0), np.full(12, 1e6)])
    y = np.tile([0, 1], 6)
    split = train_test_split(X, y, test_size=4, seed=0, standardize=True)
    assert split.scale[1] == 1.0
    np.testing.assert_array_equal(split.X_train[:, 1], 0.0)
    np.testing.assert_array_equal(split.X_test[:, 1], 0.0)


def test_split_errors():
    X = np.zeros((10, 2))
    with pytest.raises(DatasetError, match=r"\['b'\] have a single sample.*stratify=False"):
        train_test_split(X, np.array(["a"] * 9 + ["b"]))
    # without stratification a lone sample is fine
    assert train_test_split(X, np.array(["a"] * 9 + ["b"]), stratify=False).X_test.shape == (2, 2)
    with pytest.raises(DatasetError, match="test part would hold 2 samples but there are 5 cl"):
        train_test_split(X, np.repeat(np.arange(5), 2))
    with pytest.raises(DatasetError, match="single class"):
        train_test_split(X, np.zeros(10))
    with pytest.raises(TypeError, match="labels y are required"):
        train_test_split(X)
    with pytest.raises(ShapeError, match=r"labels of shape \(10,\)"):
        train_test_split(X, np.zeros(9))
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\)"):
        train_test_split(X, np.tile([0, 1], 5), test_size=1.5)
    with pytest.raises(ValueError, match="between 1 and 9"):
        train_test_split(X, np.tile([0, 1], 5), test_size=10)
    with pytest.raises(TypeError, match="seed must be"):
        train_test_split(X, np.tile([0, 1], 5), seed=-1)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(NonFiniteError):
        train_test_split(bad, np.tile([0, 1], 5))


def test_split_names_classes_of_a_dataset_in_errors(tmp_path):
    path = write(tmp_path, "a,label\n1,x\n2,x\n3,y\n")
    data = load_dataset(path)
    with pytest.raises(DatasetError, match=r"\['y'\] have a single sample"):
        train_test_split(data)


def test_standardize_applies_saved_statistics():
    X = np.array([[1.0, 10.0], [3.0, 30.0]])
    out = standardize(X, [2.0, 20.0], [1.0, 10.0])
    np.testing.assert_array_equal(out, [[-1.0, -1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(X, [[1.0, 10.0], [3.0, 30.0]])
    assert standardize(X, None, None) is X
    with pytest.raises(ShapeError, match="X has 2 features but mean has shape"):
        standardize(X, [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="scale must be positive"):
        standardize(X, [0.0, 0.0], [1.0, 0.0])
    with pytest.raises(TypeError, match="both mean and scale"):
        standardize(X, [0.0, 0.0], None)


def test_import_stays_numpy_only():
    code = "import sys, fcnn.datasets; print('sklearn' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- tables with pandas


def _tables(folder: Path) -> dict[str, Path]:
    import importlib.util

    path = Path(__file__).parent / "data" / "tables" / "make_tables.py"
    spec = importlib.util.spec_from_file_location("make_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_tables(folder)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return _tables(tmp_path_factory.mktemp("tables"))


@pytest.mark.parametrize("case", ["comma", "semicolon", "tab", "tab_txt", "gzip", "bz2", "xz",
                                  "zip"])
def test_every_format_reads_as_pandas_reads_it(tables, case):
    import pandas as pd

    reference = pd.read_csv(tables["comma"])
    data = load_dataset(tables[case])
    np.testing.assert_array_equal(data.X, reference[["x1", "x2"]].to_numpy())
    assert data.classes == sorted(reference["label"].unique().tolist())
    assert [data.classes[k] for k in data.y] == reference["label"].tolist()


def test_parquet_reads_as_pandas_reads_it(tables):
    pytest.importorskip("pyarrow")
    import pandas as pd

    reference = pd.read_parquet(tables["parquet"])
    data = load_dataset(tables["parquet"])
    expected = pd.get_dummies(reference.drop(columns="label"), columns=["color"], dtype=float)
    np.testing.assert_array_equal(data.X, expected.to_numpy())
    assert data.feature_names == list(expected.columns.str.replace("_", "="))


def test_categories_are_one_hot_as_scikit_learn_encodes_them(tables):
    import pandas as pd
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.read_csv(tables["categorical"])
    data = load_dataset(tables["categorical"])
    reference = OneHotEncoder(sparse_output=False).fit(frame[["color"]])
    np.testing.assert_array_equal(data.X[:, 2:], reference.transform(frame[["color"]]))
    assert data.columns == ["x1", "x2", "color"]
    assert data.feature_names[2:] == [n.replace("_", "=") for n in
                                      reference.get_feature_names_out()]
    assert data.feature_names[2:] == ["color=blue", "color=green", "color=red"]
    # the saved encoder applies the same way to new rows, and refuses an unseen category
    encoder = type(data.encoder).from_dict(data.encoder.to_dict())
    np.testing.assert_array_equal(encoder.transform(frame), data.X)
    with pytest.raises(DatasetError, match=r"'purple'.*never saw"):
        encoder.transform(frame.assign(color=["purple"] * len(frame)))


def test_missing_values_fill_as_simple_imputer(tables):
    import pandas as pd
    from sklearn.impute import SimpleImputer

    frame = pd.read_csv(tables["missing"])
    for strategy, sk in (("mean", "mean"), ("median", "median"),
                         ("most-frequent", "most_frequent")):
        data = load_dataset(tables["missing"], missing=strategy)
        imputer = SimpleImputer(strategy=sk).fit(frame[["x1", "x2"]])
        np.testing.assert_allclose(data.X[:, :2], imputer.transform(frame[["x1", "x2"]]),
                                   rtol=1e-12)
    dropped = load_dataset(tables["missing"], missing="drop")
    assert dropped.n_samples == len(frame.dropna())
    with pytest.raises(DatasetError, match=r"column 'x1' has a missing value \(empty cell\) at "
                       r"line 5.*--missing drop\|mean"):
        load_dataset(tables["missing"])


def test_messages_point_at_the_files_lines_after_rows_were_left_out(tmp_path):
    # rows 2 and 3 lack a label and are dropped; the bad value is on line 6 of the file
    path = write(tmp_path, "a,b,label\n1,2,x\n,3,\n4,5,\n6,7,y\n8,inf,x\n9,1,y\n")
    with pytest.raises(DatasetError, match="infinite value 'inf' at line 6"):
        load_dataset(path, missing="drop")


def test_task_and_target_are_chosen_and_said(tables, tmp_path):
    regression = load_dataset(tables["regression"])
    assert regression.task == "regression" and regression.classes is None
    assert regression.y.dtype == np.float64 and regression.target == "price"
    assert "task: regression (the target holds numbers with a fractional part)" in regression.notes
    many = write(tmp_path, "x,y\n" + "".join(f"{i},{i * 7 % 31}\n" for i in range(62)))
    assert load_dataset(many).task == "regression"  # 31 distinct integers
    assert load_dataset(many, task="classification").n_classes == 31
    few = write(tmp_path, "x,y\n" + "".join(f"{i % 9},{i % 3}\n" for i in range(30)), "few.csv")
    assert load_dataset(few).task == "classification"
    with pytest.raises(DatasetError, match="--drop names no such column"):
        load_dataset(few, drop=["z"])


def test_identifier_columns_are_left_out_and_reported(tables):
    data = load_dataset(tables["id_column"])
    assert data.columns == ["x1", "x2"]
    assert any("left out 'id'" in note for note in data.notes)
    assert load_dataset(tables["id_column"], keep_id=True).columns == ["id", "x1", "x2"]


def test_a_zip_with_two_files_and_a_text_column_of_identifiers_are_refused(tmp_path):
    import zipfile

    path = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "a,b\n1,2\n")
        archive.writestr("b.csv", "a,b\n1,2\n")
    with pytest.raises(DatasetError, match="exactly one file"):
        load_dataset(path)
    names = write(tmp_path, "name,x,label\n" + "".join(f"n{i},{i % 5},{i % 2}\n"
                                                        for i in range(120)))
    with pytest.raises(DatasetError, match=r"120 distinct text values.*--drop name"):
        load_dataset(names)


def test_a_true_false_target_keeps_its_labels(tmp_path):
    data = load_dataset(write(tmp_path, "a,b,flag\n1,2,True\n3,4,False\n5,6,True\n"))
    assert data.task == "classification" and data.classes == [False, True]
    assert data.y.tolist() == [1, 0, 1]
    assert "task: classification (the target holds true/false values)" in data.notes
