"""scikit-learn's own MLP tests, run on fcnn's estimators.

The installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py`` is
copied with one line changed, its import of ``MLPClassifier, MLPRegressor``,
which then come from ``fcnn.estimators``, and run by pytest in a child
process. Every one of its tests has to pass: worked examples checked by hand,
gradients against finite differences (through scikit-learn's private
``_loss_grad_lbfgs``), partial_fit, warm start, early stopping, sparse input,
sample weights and the messages it matches.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
CHECK = '''

def test_these_are_fcnns_estimators():
    assert MLPClassifier.__module__.startswith("fcnn.estimators")
    assert MLPRegressor.__module__.startswith("fcnn.estimators")
'''
# scikit-learn's conftest parametrizes this fixture (42 unless SKLEARN_TESTS_GLOBAL_RANDOM_SEED)
CONFTEST = '''import pytest


@pytest.fixture
def global_random_seed():
    return 42
'''


def test_scikit_learns_mlp_tests_pass_on_fcnn(tmp_path: Path) -> None:
    source = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    text = source.read_text()
    assert text.count(IMPORT) == 1, f"{source} no longer imports the estimators as expected"
    (tmp_path / "test_mlp_on_fcnn.py").write_text(
        text.replace(IMPORT, "from fcnn.estimators import MLPClassifier, MLPRegressor\n") + CHECK
    )
    (tmp_path / "conftest.py").write_text(CONFTEST)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 50, summary
    assert not re.search(r"failed|error|skipped|xfail", summary), summary
