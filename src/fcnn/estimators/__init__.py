"""scikit-learn estimators on fcnn: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor`` (scikit-learn 1.9's constructor, semantics, random draws,
fitted attributes, messages and warnings): the same code with the same
``random_state`` gives scikit-learn's fitted model, to rounding, in less
time. fcnn adds more activations ("leaky_relu", "elu", "gelu", "silu"),
``dropout``, ``dtype`` (float32 end to end), ``class_weight``,
``callbacks``, ``progress`` and ``model_`` (the network as fcnn layers, for
``fcnn.save`` and ONNX export). docs/estimators.md lists what still differs.

scikit-learn and SciPy are imported with this package: import it only when you
use the estimators (``import fcnn`` itself stays NumPy-only).
"""

from ._mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
