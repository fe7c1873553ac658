"""``alias``: a facade name that is a manager's method, typed as that method.

``Tether.fork = alias("versions", Versions.fork)`` makes ``app.fork`` the bound method
``app.versions.fork``: same signature, docstring and type, no wrapper to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")


class alias(Generic[P, R]):  # noqa: N801 - used like a decorator-made attribute
    def __init__(self, manager: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.manager = manager
        self.name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> alias[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        method: Callable[P, R] = getattr(getattr(obj, self.manager), self.name)
        return method
