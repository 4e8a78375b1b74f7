"""Sequential, NeuralNetwork and mlp."""

import numpy as np
import pytest

import fcnn
from fcnn.errors import NonFiniteError, ShapeError


def test_mlp_structure_and_repr():
    model = fcnn.mlp([4, 100, 100, 3], rng=0)
    assert [type(layer).__name__ for layer in model] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert len(model) == 5 and len(model.parameters()) == 6
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=100)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=100, out_features=100)\n"
        "  (3): ReLU()\n"
        "  (4): Linear(in_features=100, out_features=3)\n"
        ")"
    )
    assert isinstance(model[0], fcnn.Linear)
    head = model[:2]
    assert isinstance(head, fcnn.Sequential) and len(head) == 2
    with_dropout = fcnn.mlp([4, 8, 8, 2], "leaky_relu", dropout=0.25, rng=0)
    assert [type(layer).__name__ for layer in with_dropout] == [
        "Linear", "LeakyReLU", "Dropout", "Linear", "LeakyReLU", "Dropout", "Linear"]


def test_same_seed_same_network(rng):
    a, b = fcnn.mlp([5, 7, 2], rng=9), fcnn.mlp([5, 7, 2], rng=9)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.weights, q.weights)
    c = fcnn.mlp([5, 7, 2], rng=10)
    assert not np.array_equal(a.parameters()[0].weights, c.parameters()[0].weights)


def test_neural_network_is_the_labs_architecture(rng):
    nn = fcnn.NeuralNetwork(4, 6, 3, rng=0)
    assert [type(layer).__name__ for layer in nn.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert nn.get_parameters() == nn.parameters()
    assert [p.shape for p in nn.get_parameters()] == [(4, 6), (6,), (6, 6), (6,), (6, 3), (3,)]


def test_backward_without_input_grad_gives_the_same_parameter_gradients(rng):
    model = fcnn.mlp([3, 5, 2], rng=1)
    X, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    model.forward(X)
    dX = model.backward(g)
    full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model.forward(X)
    assert model.backward(g, input_grad=False) is None
    for p, expected in zip(model.parameters(), full):
        np.testing.assert_array_equal(p.grad, expected)
    assert dX.shape == (4, 3)


def test_train_eval_propagates():
    model = fcnn.mlp([3, 4, 2], dropout=0.5)
    model.eval()
    assert not model.training and all(not layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)


def test_sequential_checks_its_input():
    model = fcnn.mlp([3, 4, 2], rng=0)
    with pytest.raises(NonFiniteError, match="NaN"):
        model.forward(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ShapeError, match="reshape"):
        model.forward(np.ones(3))
    with pytest.raises(ShapeError, match=r"Linear\(3 -> 4\)"):
        model.forward(np.ones((2, 5)))
    with pytest.raises(TypeError, match="layer"):
        fcnn.Sequential(fcnn.Linear(2, 2), "relu")


def test_mismatched_layers_are_named():
    model = fcnn.Sequential(fcnn.Linear(4, 3), fcnn.ReLU(), fcnn.Linear(5, 2))
    with pytest.raises(ShapeError, match=r"Linear\(5 -> 2\) expected input of shape \(N, 5\), got \(2, 3\)"):
        model.forward(np.ones((2, 4)))
