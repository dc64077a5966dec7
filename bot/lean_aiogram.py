"""Import aiogram with its pydantic schemas built on first use instead of all at once.

aiogram 3 describes every Bot API type and method (about 800 of them) as a pydantic model,
and `aiogram.types` builds every model's validator as it is imported: about 115 MB of
memory (aiogram issue #1513), although the bot only ever validates an Update and sends a
handful of methods. pydantic has a documented switch for this, `defer_build`: the schema
is built the first time a model validates or serialises. aiogram does not set it, and ends
its import with `model_rebuild()` on every type, which would build them all anyway.

`defer_schemas()` imports aiogram with `defer_build` on and that final rebuild turned into
"remember the namespace": every aiogram model gets the names of all Bot API types as its
`__pydantic_parent_namespace__` (which pydantic consults when it builds a deferred model) and
builds itself on first use.
Measured (aiogram 3.31, pydantic 2.13): 174 MB RSS after `import aiogram`, 60 MB with this.
Everything else about the models is unchanged; the whole test suite runs with it.
"""
from __future__ import annotations

import sys
from typing import Any


def defer_schemas() -> bool:
    """Import aiogram lazily-built; False if it had already been imported (nothing to do)."""
    if "aiogram" in sys.modules:
        return False
    from pydantic import BaseModel
    from pydantic._internal import _config

    defaults = _config.config_defaults
    eager_default = defaults["defer_build"]
    rebuild = BaseModel.__dict__["model_rebuild"]
    namespace: dict[str, Any] = {}   # every Bot API type by name, as aiogram.types collects them

    def remember_namespace(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                           _parent_namespace_depth: int = 2,
                           _types_namespace: Any = None) -> bool | None:
        if force or _types_namespace is None or not cls.__module__.startswith("aiogram."):
            return rebuild.__func__(cls, force=force, raise_errors=raise_errors,
                                    _parent_namespace_depth=_parent_namespace_depth + 1,
                                    _types_namespace=_types_namespace)
        namespace.update(_types_namespace)
        cls.__pydantic_parent_namespace__ = namespace
        return None

    defaults["defer_build"] = True
    BaseModel.model_rebuild = classmethod(remember_namespace)  # type: ignore[method-assign,assignment]
    try:
        import aiogram  # noqa: F401
        import aiogram.methods  # noqa: F401
        import aiogram.types  # noqa: F401
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
        defaults["defer_build"] = eager_default
    # A model's schema is built with the outermost model's namespace (a method's, say), and
    # must find every type nested in it: give all of aiogram's deferred models the full one.
    for model in _subclasses(BaseModel):
        if model.__module__.startswith("aiogram.") and not model.__pydantic_complete__:
            model.__pydantic_parent_namespace__ = namespace
    return True


def _subclasses(base: type) -> list[type]:
    found, todo = [], [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


_KEPT: list[type] = []


def build_now(*models: type) -> None:
    """Build these models' schemas now (at start), so that the first parent does not wait for
    them: the Update schema alone takes about half a second to build. For a Bot API method,
    also the `Response[…]` its answer is read with (built on first use even without deferring)."""
    from aiogram.methods.base import Response, TelegramMethod

    for model in models:
        if not getattr(model, "__pydantic_complete__", True):
            model.model_rebuild()
        if isinstance(model, type) and issubclass(model, TelegramMethod):
            response = Response[model.__returning__]  # type: ignore[name-defined]
            if response in _KEPT:
                continue
            response.model_rebuild()
            # pydantic keeps parametrised generics in a weak cache: without this reference the
            # garbage collector drops them and the next answer rebuilds the schema (seen 48
            # times in 265 sends while profiling the alert delivery).
            _KEPT.append(response)
