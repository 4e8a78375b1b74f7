# ruff: noqa: UP006, UP035, NPY002
"""The lab-style baseline: the seed notebook's classes exactly as the lab wrote
them (Parameters, Linear, Relu, NLLLoss, NeuralNetwork, Optimizer, with their
``X.copy()`` calls and per-step ``np.zeros_like`` allocations), and the lab's
training loop.

Only the class bodies below are the lab's; they are copied verbatim, which is
why this file carries a ruff exemption for the lab's typing style. The
benchmark's additions are at the bottom (``lab_train``, ``lab_network``) and
are marked as such.
"""

from typing import List, Tuple

import numpy as np

# --------------------------------------------------------------------------
# The lab's code, verbatim (docstrings included).
# --------------------------------------------------------------------------


class Parameters:
    """
    Класс для хранения весов и градиентов.
    """
    def __init__(self, shape: Tuple[int, int]):
        # Weights
        self.weights = np.random.randn(*shape) * 0.1
        # Gradients
        self.grad = np.zeros_like(self.weights)


class Linear:
    """
    Линейный (полносвязный) слой.
    """
    def __init__(self,
                 input_size: int,
                 output_size: int):
        self.w = Parameters((input_size, output_size))
        self.bias = Parameters((1, output_size))
        self.output_size = output_size

    def forward(self, X: np.ndarray) -> np.ndarray:
        """
        Прямой проход через слой.

        Аргументы:
        X: np.ndarray
            Входной массив формы (N, input_size).

        Возвращает:
        y: np.ndarray
            Выходной массив формы (N, output_size).
        """
        self.X = X.copy()
        self.y = X @ self.w.weights + self.bias.weights

        return self.y

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """
        Обратное распространение ошибки.

        Вычисляет:
            1. Градиент по входу: dL/dx = dL/dy @ W.T.
            2. Градиент по весам: dL/dW = X.T @ dL/dy.
            3. Градиент по смещениям: сумма по батчу.

        Аргументы:
        dLdy: np.ndarray
            Градиент ошибки по выходу слоя.

        Возвращает:
        dLdx: np.ndarray
            Градиент ошибки по входу слоя.
        """
        # Градиент по входу: dL/dx = dL/dy @ W.T
        dLdx = dLdy @ self.w.weights.T
        # Градиент по весам: dL/dW = X.T @ dL/dy
        self.w.grad = self.X.T.dot(dLdy)
        # Градиент по смещениям
        self.bias.grad = dLdy.sum(0)

        return dLdx


class Relu:
    """
    Функция активации ReLu
    """
    def __init__(self):
        pass

    def forward(self, X: np.ndarray) -> np.ndarray:
        """
        Прямой проход через ReLU.

        Аргументы:
        X: np.ndarray
            Входной массив.

        Возвращает:
        np.ndarray
            Результат применения ReLU.
        """
        self.X = X

        return np.maximum(0, X)

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """
        Обратное распространение через ReLU.

        Аргументы:
        dLdy: np.ndarray
            Градиент по выходу.

        Возвращает:
        np.ndarray
            Градиент по входу.
        """
        dLdx = dLdy * (self.X > 0)

        return dLdx


class NLLLoss:
    """
    Класс вычисляет функцию потерь
    Применяет softmax к входам и вычисляет Negative Likelihood Loss.
    """
    def __init__(self):
        pass

    def forward(self, X: np.ndarray, y: np.ndarray) -> float:
        """
        Прямой проход через слой NLLLoss.

        Аргументы:
        X: np.ndarray
            Входной массив формы (N, C), где C число классов.
        y: np.ndarray
            Вектор меток формы (N,).

        Возвращает:
        float
            Значение NLL loss.
        """
        self.X = X
        self.y = y

        exp_X = np.exp(X)
        self.probs = exp_X / np.sum(exp_X, axis=1, keepdims=True)

        eps = 1e-10
        logprobs = -np.log(self.probs[np.arange(X.shape[0]), y] + eps)
        loss = np.mean(logprobs)
        return loss

    def backward(self):
        """
        Обратное распространение через NLLLoss.
        Вычисляет градиент по входу:
            dLdx = (probs - one_hot(y)) / N.

        Возвращает:
        np.ndarray
            Градиент по входу.
        """
        N = self.probs.shape[0]
        dLdx = self.probs.copy()
        dLdx[np.arange(N), self.y] -= 1
        dLdx /= N
        return dLdx


class NeuralNetwork:
    def __init__(self,
                 input_size: int,
                 hidden_size: int,
                 output_size: int):
        self.layers = [Linear(input_size, hidden_size),
                       Relu(),
                       Linear(hidden_size, hidden_size),
                       Relu(),
                       Linear(hidden_size, output_size)]

    def forward(self, X: np.ndarray) -> np.ndarray:
        """
        Прямой проход через сеть.

        Аргументы:
        X: np.ndarray
            Входной массив формы (N, input_size).

        Возвращает:
        np.ndarray
            Выход сети формы (N, output_size).
        """
        out = X.copy()
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """
        Обратное распространение ошибки через сеть.

        Аргументы:
        dLdy: np.ndarray
            Градиент функции потерь по выходу сети.

        Возвращает:
        np.ndarray
            Градиент функции потерь по входу сети.
        """
        grad = dLdy
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def get_parameters(self) -> List[Parameters]:
        """
        Извлекает параметры (веса и смещения) всех линейных слоев сети.

        Возвращает:
        params: List
            Список параметров для линейных слоев.
        """
        params = []
        for layer in self.layers:
            if isinstance(layer, Linear):
                params.append(layer.w)
                params.append(layer.bias)
        return params


class Optimizer:
    """
    Класс оптимизатора.
    """
    def __init__(self,
                 parameters: List[Parameters],
                 lr: float):
        self.parameters = parameters
        self.lr = lr

    def step(self) -> None:
        """
        Выполняет один шаг оптимизации: обновляет веса параметров
        по правилу: W = W - lr * grad.
        """
        for param in self.parameters:
            param.weights -= self.lr * param.grad

    def zero_grad(self) -> None:
        """
        Обнуляет градиенты всех параметров.
        """
        for param in self.parameters:
            param.grad = np.zeros_like(param.weights)


# --------------------------------------------------------------------------
# The benchmark's additions (not the lab's code).
# --------------------------------------------------------------------------


def lab_network(sizes, weights, dtype):
    """The lab's ``NeuralNetwork`` for ``sizes = [in, hidden, hidden, out]``,
    with its initial weights replaced by ``weights`` (a list of ``(W, b)``
    pairs, ``W: (in, out)``, ``b: (out,)``) cast to ``dtype``.

    The lab draws ``randn * 0.1``; the benchmark gives every system the same
    initial values instead (PyTorch's default scheme, drawn by fcnn), so that
    accuracies and losses are comparable. Casting the Parameters is how the
    lab's code runs in float32.
    """
    if len(sizes) != 4 or sizes[1] != sizes[2]:
        raise ValueError(f"the lab's NeuralNetwork is in-hidden-hidden-out, got sizes {sizes}")
    net = NeuralNetwork(sizes[0], sizes[1], sizes[3])
    linears = [layer for layer in net.layers if isinstance(layer, Linear)]
    for layer, (W, b) in zip(linears, weights, strict=True):
        layer.w.weights = np.array(W, dtype=dtype)
        layer.w.grad = np.zeros_like(layer.w.weights)
        layer.bias.weights = np.array(b, dtype=dtype).reshape(1, -1)
        layer.bias.grad = np.zeros_like(layer.bias.weights)
    return net


def lab_train(nn, X_train, y_train, num_epochs, batch_size, lr, rng):
    """The lab's training loop (its cell 27), returning the last epoch's mean loss.

    Changes from the notebook, none of them in the per-step work: the
    permutation comes from ``rng`` (a ``np.random.Generator``) instead of the
    global ``np.random``, so the lab sees exactly the batches fcnn sees; the
    learning rate, epochs and batch size are arguments; and the progress
    ``print`` every 100 epochs is dropped (it would time the terminal).
    """
    criterion = NLLLoss()
    optimizer = Optimizer(nn.get_parameters(), lr=lr)

    loss_history = []
    num_samples = X_train.shape[0]

    for epoch in range(num_epochs):
        indices = rng.permutation(num_samples)
        epoch_loss = 0
        num_batches = 0

        for start in range(0, num_samples, batch_size):
            optimizer.zero_grad()

            batch_indices = indices[start:start+batch_size]
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
            avg_epoch_loss = epoch_loss / num_batches
            loss_history.append(avg_epoch_loss)

    return float(epoch_loss / num_batches)
