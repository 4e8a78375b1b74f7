"""examples/tabular.ipynb runs top to bottom, headless, like the lab's notebook
(a kernel of this very interpreter, written to a temporary folder)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "tabular.ipynb"
KERNEL = "fcnn-test-python"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory):
    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    (kernels / KERNEL).mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "fcnn test kernel", "language": "python"}
    (kernels / KERNEL / "kernel.json").write_text(json.dumps(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(kernels.parent))
        patch.setenv("MPLBACKEND", "Agg")
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(notebook, timeout=180, kernel_name=KERNEL,
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()  # raises CellExecutionError on the first failing cell
    return notebook


def outputs(notebook, key: str) -> list:
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if key in output or key in output.get("data", {})]


def test_the_committed_notebook_is_clean():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells and all(not c.outputs and c.execution_count is None for c in code_cells)


def test_the_notebook_trains_both_tables_and_draws_its_plots(executed):
    text = "".join(o.get("text", "") for o in outputs(executed, "text")
                   if o.get("name") == "stdout")
    assert "Traceback" not in text
    assert not [o for o in outputs(executed, "ename")]
    assert "task: regression" in text and "exit code 0" in text
    assert "target: 'target' (first column, named like a label" in text
    match = re.search(r"test accuracy: ([0-9.]+); warnings: \[\]", text)
    assert match and float(match[1]) >= 0.9
    r2 = [float(v) for v in re.findall(r"R² ([-0-9.]+), the command line's run: ([-0-9.]+)",
                                        text)[0]]
    assert r2[0] == r2[1] > 0.3  # the API and the command line ran the same run
    assert "prediction" in text  # fcnn predict's header
    # loss curve, confusion matrix, predicted vs true, residuals
    assert len(outputs(executed, "image/png")) == 4
