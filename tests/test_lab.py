"""The lab's own test cells, run against fcnn.lab with only the import line changed.

Where the lab only prints, the expected values are written out by hand (from
the definitions of ReLU, sigmoid and softmax) and asserted.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split

from fcnn.lab import (
    Linear,
    NeuralNetwork,
    NLLLoss,
    Optimizer,
    Parameters,
    Relu,
    Sigmoid,
    check_gradient,
    grad_mse,
    mse,
)


def test_linear_cell():
    layer = Linear(input_size=4, output_size=3)

    X = np.random.randn(5, 4)
    output = layer.forward(X)
    assert output.shape == (5, 3), "Неверная форма выхода прямого прохода"

    dLdy = np.ones_like(output)
    dl_dx = layer.backward(dLdy)
    assert layer.w.grad.shape == (4, 3), "Неверная форма градиента весов"
    assert layer.bias.grad.shape == (3,), "Неверная форма градиента смещений"
    assert dl_dx.shape == (5, 4), "Неверная форма градиента по входу"
    # values: y = XW + b, dX = 1 W^T, dW = X^T 1, db = column sums of 1
    np.testing.assert_allclose(output, X @ layer.w.weights + layer.bias.weights)
    np.testing.assert_allclose(dl_dx, np.tile(layer.w.weights.sum(axis=1), (5, 1)))
    np.testing.assert_allclose(layer.w.grad, np.tile(X.sum(axis=0)[:, None], (1, 3)))
    np.testing.assert_allclose(layer.bias.grad, [5.0, 5.0, 5.0])


def test_mse_cells():
    y_pred = np.array([1.0, 2.0, 3.0])
    y_true = np.array([1.5, 2.5, 3.5])

    loss = mse(y_pred, y_true)
    expected_loss = ((y_pred - y_true) ** 2).sum()
    assert np.isclose(loss, expected_loss), "Неверное значение MSE"
    assert loss == pytest.approx(0.75)

    grad = grad_mse(y_pred, y_true)
    expected_grad = 2 * (y_pred - y_true)
    assert np.allclose(grad, expected_grad), "Неверное значение градиента MSE"
    np.testing.assert_array_equal(grad, [-1.0, -1.0, -1.0])


def test_relu_cell():
    X_relu = np.array([[-1, 2], [3, -4]])
    relu = Relu()
    forward_relu = relu.forward(X_relu)
    backward_relu = relu.backward(np.ones_like(X_relu))
    np.testing.assert_array_equal(forward_relu, [[0, 2], [3, 0]])
    np.testing.assert_array_equal(backward_relu, [[0, 1], [1, 0]])


def test_sigmoid_cell():
    X_relu = np.array([[-1, 2], [3, -4]])
    sigmoid = Sigmoid()
    forward_sigmoid = sigmoid.forward(X_relu)
    backward_sigmoid = sigmoid.backward(np.ones_like(X_relu))
    s = 1 / (1 + np.exp(-X_relu.astype(float)))
    np.testing.assert_allclose(forward_sigmoid, s, rtol=1e-15)
    np.testing.assert_allclose(backward_sigmoid, s * (1 - s), rtol=1e-14)
    assert forward_sigmoid[0, 0] == pytest.approx(0.2689414213699951, rel=1e-15)


def test_nll_cell():
    X_nll = np.array([[2.0, 1.0, 0.1], [0.5, 1.5, 1.0]])
    y_nll = np.array([0, 2])
    nll_loss = NLLLoss()
    loss_value = nll_loss.forward(X_nll, y_nll)
    grad_nll = nll_loss.backward()
    p0 = np.exp([2.0, 1.0, 0.1]) / np.exp([2.0, 1.0, 0.1]).sum()
    p1 = np.exp([0.5, 1.5, 1.0]) / np.exp([0.5, 1.5, 1.0]).sum()
    assert loss_value == pytest.approx(-(np.log(p0[0]) + np.log(p1[2])) / 2, rel=1e-14)
    expected = np.array([p0 - [1, 0, 0], p1 - [0, 0, 1]]) / 2
    np.testing.assert_allclose(grad_nll, expected, rtol=1e-13)
    assert loss_value == pytest.approx(0.7986498434597841, rel=1e-12)


def test_check_gradient_cells():
    def quad_func(X):
        loss = np.sum(X**2)
        grad = 2 * X
        return loss, grad

    X = np.random.randn(3, 4)

    numerical_grad, max_dev = check_gradient(quad_func, X.copy(), return_max_deviation=True)
    assert max_dev < 1e-6, f"Максимальное отклонение слишком велико: {max_dev}"

    _, analytical_grad = quad_func(X)
    assert np.allclose(numerical_grad, analytical_grad, atol=1e-6), "Градиенты не сходятся"

    def sigmoid_loss(X):
        s = Sigmoid()
        out = s.forward(X)
        loss = np.sum(out)
        grad = s.backward(np.ones_like(out))
        return loss, grad

    X = np.random.randn(3, 4)

    numerical_grad, max_dev = check_gradient(sigmoid_loss, X.copy(), return_max_deviation=True)
    assert max_dev < 1e-5, f"Максимальное отклонение для сигмоиды слишком велико: {max_dev}"

    _, analytical_grad = sigmoid_loss(X)
    assert np.allclose(numerical_grad, analytical_grad, atol=1e-5), "Градиенты не сходятся"
    # a correct layer deviates ~1e-8..1e-6 per the lab; ours is well inside
    assert max_dev < 1e-8


def test_check_gradient_without_deviation_returns_gradient_only():
    X = np.array([[1.0, -2.0]])
    grad = check_gradient(lambda X: (float(np.sum(X**3)), 3 * X**2), X)
    np.testing.assert_allclose(grad, [[3.0, 12.0]], atol=1e-6)
    np.testing.assert_array_equal(X, [[1.0, -2.0]])  # restored


def test_network_cell():
    input_size = 4
    hidden_size = 5
    output_size = 3
    n_samples = 10

    nn = NeuralNetwork(input_size, hidden_size, output_size)
    X = np.random.randn(n_samples, input_size)

    out = nn.forward(X)
    assert out.shape == (n_samples, output_size)

    dLdy = np.ones_like(out)
    grad = nn.backward(dLdy)
    assert grad.shape == (n_samples, input_size)

    params = nn.get_parameters()
    assert len(params) == 6, "Неверное количество параметров."
    assert [type(layer).__name__ for layer in nn.layers] == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    # the forward pass is the composition written out by hand
    W1, b1, W2, b2, W3, b3 = (p.weights for p in params)
    h = np.maximum(np.maximum(X @ W1 + b1, 0) @ W2 + b2, 0)
    np.testing.assert_allclose(out, h @ W3 + b3, rtol=1e-12)


def test_lab_init_follows_global_seed():
    np.random.seed(7)
    a = NeuralNetwork(4, 100, 3)
    np.random.seed(7)
    expected_w1 = np.random.randn(4, 100) * 0.1
    expected_b1 = np.random.randn(1, 100) * 0.1
    np.testing.assert_array_equal(a.layers[0].w.weights, expected_w1)
    np.testing.assert_array_equal(a.layers[0].bias.weights, expected_b1.ravel())
    np.random.seed(7)
    b = NeuralNetwork(4, 100, 3)
    for p, q in zip(a.get_parameters(), b.get_parameters()):
        np.testing.assert_array_equal(p.weights, q.weights)


def test_optimizer_cells():
    param = Parameters((2, 2))
    param.weights = np.array([[1.0, 2.0], [3.0, 4.0]])
    param.grad = np.array([[0.1, 0.2], [0.3, 0.4]])

    lr = 0.1
    optimizer = Optimizer([param], lr)

    weights_old = param.weights.copy()
    optimizer.step()
    expected_weights = weights_old - lr * param.grad
    assert np.allclose(param.weights, expected_weights, atol=1e-7)
    np.testing.assert_allclose(param.weights, [[0.99, 1.98], [2.97, 3.96]], rtol=1e-15)

    optimizer.zero_grad()
    assert np.all(param.grad == 0), "Метод zero_grad() не обнуляет градиенты корректно."


def test_trajectory_cell():
    target = np.array([[3.0, 5.0]])
    param = Parameters((1, 2))
    param.weights = np.array([[0.0, 0.0]])

    optimizer = Optimizer([param], 0.1)

    num_iterations = 50
    trajectory = []

    for _ in range(num_iterations):
        trajectory.append(param.weights.copy())
        param.grad = 2 * (param.weights - target)
        optimizer.step()
        optimizer.zero_grad()

    trajectory = np.concatenate(trajectory, axis=0)
    # w_k = (1 - 0.8^k) * target in closed form
    k = np.arange(num_iterations)[:, None]
    np.testing.assert_allclose(trajectory, (1 - 0.8**k) * target, rtol=1e-12, atol=1e-15)


def test_iris_training_cells():
    np.random.seed(0)
    iris = load_iris(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data.to_numpy(), iris.target.to_numpy(), stratify=iris.target, test_size=0.2
    )
    input_size = X_train.shape[1]
    hidden_size = 100
    output_size = np.unique(y_train).shape[0]

    nn = NeuralNetwork(input_size=input_size, hidden_size=hidden_size, output_size=output_size)
    criterion = NLLLoss()
    optimizer = Optimizer(nn.get_parameters(), lr=0.01)

    num_epochs = 2000
    batch_size = 32
    loss_history = []
    num_samples = X_train.shape[0]
    for epoch in range(num_epochs):
        indices = np.random.permutation(num_samples)
        epoch_loss = 0
        num_batches = 0
        for start in range(0, num_samples, batch_size):
            optimizer.zero_grad()
            batch_indices = indices[start : start + batch_size]
            X_batch = X_train[batch_indices]
            y_batch = y_train[batch_indices]
            logits = nn.forward(X_batch)
            loss = criterion.forward(logits, y_batch)
            epoch_loss += loss
            num_batches += 1
            dLdx = criterion.backward()
            nn.backward(dLdx)
            optimizer.step()
        if epoch % 10 == 0:
            loss_history.append(epoch_loss / num_batches)

    assert len(loss_history) == 200
    assert loss_history[-1] < 0.25 * loss_history[0]
    logits = nn.forward(X_test)
    accuracy = accuracy_score(np.argmax(logits, axis=1), y_test)
    assert accuracy >= 0.9
    cm = confusion_matrix(np.argmax(logits, axis=1), y_test)
    assert cm.shape == (3, 3) and cm.sum() == 30
