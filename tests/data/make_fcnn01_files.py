"""Write the fcnn 0.1 model files in this folder with fcnn 0.1's own code (kept for the record).

Run from the repository root with the 0.1 sources on the path::

    mkdir -p /tmp/fcnn01 && git archive ed1f044 src | tar -x -C /tmp/fcnn01
    PYTHONPATH=/tmp/fcnn01/src python tests/data/make_fcnn01_files.py
    PYTHONPATH=/tmp/fcnn01/src python -m fcnn train --hidden 8,6 --epochs 30 --standardize \
        --dtype float32 --activation tanh --out /tmp/fcnn01run --no-progress
    cp /tmp/fcnn01run/model.safetensors tests/data/fcnn01_cli_float32.safetensors
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import fcnn

assert fcnn.__version__ == "0.1.0", fcnn.__file__
here = Path(__file__).parent
rng = np.random.default_rng(2024)
model = fcnn.Sequential(
    fcnn.Linear(4, 6, rng=rng), fcnn.ReLU(), fcnn.Linear(6, 5, rng=rng), fcnn.LeakyReLU(0.2),
    fcnn.Linear(5, 5, rng=rng), fcnn.Sigmoid(), fcnn.Dropout(0.3, rng=1), fcnn.Linear(5, 4, rng=rng),
    fcnn.Tanh(), fcnn.Linear(4, 3, rng=rng),
)
fcnn.save(model, here / "fcnn01_float64.safetensors", epoch=7, classes=[0, 1, 2])
fcnn.save(fcnn.NeuralNetwork(4, 5, 3, rng=rng), here / "fcnn01_neural_network.safetensors")
fcnn.save(fcnn.Linear(4, 2, rng=rng, dtype=np.float32), here / "fcnn01_bare_linear.safetensors",
          note="bare")
# The inputs the tests feed to the loaded models (a plain safetensors file, not a model).
save_file({"X": np.random.default_rng(5).normal(size=(16, 4))}, here / "fcnn01_inputs.safetensors")
