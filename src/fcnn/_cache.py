"""What layers and losses share: a forward pass caches arrays for backward,
and those caches are not part of the object's state when it is pickled or
deep-copied (a fitted model would otherwise carry its last batch along)."""

from __future__ import annotations

from typing import Any


class DropsCacheWhenPickled:
    #: Attributes holding what the last forward cached for backward.
    _cache: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._cache:
            state[name] = None
        return state
