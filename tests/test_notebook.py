"""The lab as a notebook: examples/lab1_iris.ipynb runs top to bottom, headless.

The notebook is executed in a kernel of this very interpreter (a kernel spec
written to a temporary folder), whatever other ``python3`` kernels the machine
has, so it tests the fcnn installed here.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "lab1_iris.ipynb"
KERNEL = "fcnn-test-python"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory):
    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    (kernels / KERNEL).mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fcnn test kernel",
        "language": "python",
    }
    (kernels / KERNEL / "kernel.json").write_text(json.dumps(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(kernels.parent))
        patch.setenv("MPLBACKEND", "Agg")
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            notebook, timeout=120, kernel_name=KERNEL,
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
    return notebook


def stdout_of(notebook) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("name") == "stdout"
    )


def test_the_committed_notebook_is_clean():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells)


def test_notebook_runs_and_the_lab_tests_pass(executed):
    errors = [output for cell in executed.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    text = stdout_of(executed)
    for line in ("Linear forward/backward test passed.", "mse and grad_mse tests passed",
                 "check_gradient tests passed", "Sigmoid tests passed",
                 "NeuralNetwork tests passed.", "Optimizer tests passed.",
                 "the loaded model predicts the same logits"):
        assert line in text


def test_notebook_trains_iris_to_the_labs_accuracy(executed):
    match = re.search(r"test accuracy: ([0-9.]+) \((\d+)/(\d+)\)", stdout_of(executed))
    assert match, "the notebook prints the test accuracy"
    accuracy, correct, total = float(match[1]), int(match[2]), int(match[3])
    assert total == 30
    assert accuracy == pytest.approx(correct / total, abs=5e-5)
    assert accuracy >= 0.9


def test_notebook_draws_its_figures(executed):
    images = [output for cell in executed.cells if cell.cell_type == "code"
              for output in cell.outputs if "image/png" in output.get("data", {})]
    # optimizer path, loss curve, confusion matrix
    assert len(images) == 3
