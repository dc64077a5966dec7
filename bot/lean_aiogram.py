"""Import aiogram with its pydantic schemas built on first use instead of all at once.

aiogram 3 describes every Bot API type and method (about 800 of them) as a pydantic model.
Its types already ask pydantic to defer building their schemas (`defer_build`, a documented
model setting), but `aiogram.types` ends its import with `model_rebuild()` on every type,
which builds them all anyway: about 110 MB of memory (aiogram issue #1513), although the bot
only ever validates an Update and sends a handful of methods.

`defer_schemas()` imports aiogram with that final rebuild turned into "remember the
namespace": while aiogram is imported, BaseModel.model_rebuild (public API) is replaced, for
aiogram's models only, by giving the model the names of all Bot API types as its
`__pydantic_parent_namespace__` (which pydantic consults when it builds a deferred model),
and it builds itself on first use. No pydantic internals are imported.
bot/app.py calls `start()` once at start, before any adapter imports aiogram; should it fail
(a future aiogram or pydantic), aiogram is imported the plain way and the bot runs as before,
with the memory. Anything that imports aiogram without calling it (tests, `bot jobs`) gets the
plain import.
Measured (aiogram 3.31, pydantic 2.13): 165 MB RSS after a plain `import aiogram`, 58 MB with
this. (Also deferring aiogram's methods, whose base class does not ask for it, saved 3 MB
more, but only through pydantic's private config defaults: not worth an internal.)
Everything else about the models is unchanged; the whole test suite runs with it.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("bot.lean_aiogram")


def start() -> bool:
    """Called once at start (bot/app.py): import aiogram lazily built if possible, else the
    plain way. True when the lazy import is in place."""
    try:
        return defer_schemas()
    except Exception as exc:  # noqa: BLE001 - the plain import works, it only costs memory
        log.warning("aiogram: lazy schemas not possible (%s); importing it the usual way", type(exc).__name__)
        for name in [name for name in sys.modules if name == "aiogram" or name.startswith("aiogram.")]:
            del sys.modules[name]   # a half-done import is done again, plainly
        import aiogram.methods  # noqa: F401
        import aiogram.types  # noqa: F401
        return False


def defer_schemas() -> bool:
    """Import aiogram lazily-built; False if it had already been imported (nothing to do)."""
    if "aiogram" in sys.modules:
        return False
    from pydantic import BaseModel

    rebuild = BaseModel.__dict__["model_rebuild"]
    namespace: dict[str, Any] = {}   # every Bot API type by name, as aiogram.types collects them

    def remember_namespace(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                           _parent_namespace_depth: int = 2,
                           _types_namespace: Any = None) -> bool | None:
        # The parameters are model_rebuild's documented ones; aiogram passes _types_namespace.
        if force or _types_namespace is None or not cls.__module__.startswith("aiogram."):
            return rebuild.__func__(cls, force=force, raise_errors=raise_errors,
                                    _parent_namespace_depth=_parent_namespace_depth + 1,
                                    _types_namespace=_types_namespace)
        namespace.update(_types_namespace)
        cls.__pydantic_parent_namespace__ = namespace
        return None

    BaseModel.model_rebuild = classmethod(remember_namespace)  # type: ignore[method-assign,assignment]
    try:
        import aiogram  # noqa: F401
        import aiogram.methods  # noqa: F401
        import aiogram.types  # noqa: F401
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
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
