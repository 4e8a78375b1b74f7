"""One name -> class table per kind: layers, losses, optimizers, activations.

Everything that turns a name into an object reads these tables and nothing
else: ``fcnn.load`` (which constructs only what is registered here: nothing is
ever imported by a name read from a file), ``fcnn gradcheck``'s subjects, the
CLI's choices, ``mlp``'s activations and the estimators' options.

A layer defined outside fcnn joins with ``@fcnn.register_layer`` and is then
saved, loaded, summarized and gradient-checked like fcnn's own::

    @fcnn.register_layer
    class Square(fcnn.Layer):
        def forward(self, X): ...
        def backward(self, dLdy): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "LOSSES",
    "OPTIMIZERS",
    "register_activation",
    "register_layer",
    "register_loss",
    "register_optimizer",
]

T = TypeVar("T", bound=type)

#: Layers by class name: what ``fcnn.load`` may construct.
LAYERS: dict[str, type] = {}
#: Losses by class name.
LOSSES: dict[str, type] = {}
#: Optimizers by lower-case name (``"sgd"``, ``"adam"``, ...).
OPTIMIZERS: dict[str, type] = {}
#: Activation layers by the name ``mlp``, the CLI and the estimators use (``"relu"``, ...).
ACTIVATIONS: dict[str, type] = {}


def _register(table: dict[str, type], kind: str, name: str, cls: type) -> type:
    if not isinstance(cls, type):
        raise TypeError(f"register_{kind} expects a class, got {cls!r}")
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_{kind}: the name must be a non-empty string, got {name!r}")
    current = table.get(name)
    if current is not None and current is not cls and _qualname(current) != _qualname(cls):
        raise ValueError(
            f"register_{kind}: the name {name!r} is already taken by {_qualname(current)}; "
            f"register {_qualname(cls)} under another name (register_{kind}(name='...'))"
        )
    table[name] = cls  # a re-definition of the same class (a reloaded module) replaces it
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _decorator(table: dict[str, type], kind: str, default: Callable[[type], str]) -> Callable[..., Any]:
    def register(cls: T | None = None, *, name: str | None = None) -> Any:
        def apply(c: T) -> T:
            _register(table, kind, default(c) if name is None else name, c)
            return c

        return apply if cls is None else apply(cls)

    register.__name__ = f"register_{kind}"
    return register


register_layer = _decorator(LAYERS, "layer", lambda cls: cls.__name__)
register_layer.__doc__ = """Register a layer class under its class name (or ``name=``).

Usable bare (``@register_layer``) or with a name (``@register_layer(name="Mine")``).
The layer must follow the contract of ``fcnn.Layer``: ``get_config()`` returns the
constructor's keyword arguments, and its Parameters and buffers are attributes
(see ``Layer.named_parameters`` and ``Layer.register_buffer``)."""
register_loss = _decorator(LOSSES, "loss", lambda cls: cls.__name__)
register_loss.__doc__ = "Register a loss class under its class name (or ``name=``)."
register_optimizer = _decorator(OPTIMIZERS, "optimizer", lambda cls: cls.__name__.lower())
register_optimizer.__doc__ = "Register an optimizer class under its lower-case class name (or ``name=``)."


def register_activation(name: str) -> Callable[[T], T]:
    """Register an activation layer under ``name`` (for ``mlp(..., activation=name)``)."""

    def apply(cls: T) -> T:
        _register(ACTIVATIONS, "activation", name, cls)
        return cls

    return apply
