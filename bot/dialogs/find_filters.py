"""The filters of /find (bot/dialogs/find.py): which are set, which child a search starts
from, and the buttons that show them (a «✕» per filter, a button per child and «Все»).
They live in state["find"]: "words", "muni", "age", "cat", "cert", "child", "page"."""
from __future__ import annotations

from typing import Any

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.screen import Button
from bot.dialogs.state import Ctx, Stale
from core import municipalities
from core import children as core_children
from core.errors import DomainError
from core.models import Category, Child

# The keys of state["find"] that make a search (besides "page"); "child" is the child the
# search is for: their municipality and age were its first filters, and prices are shown
# in the unit of their certificate.
FILTER_KEYS = ("words", "muni", "age", "cat", "cert", "child")


def kept(f: dict[str, Any]) -> dict[str, Any]:
    """The filters worth remembering: those set, without the page."""
    return {key: f[key] for key in FILTER_KEYS if f.get(key) not in (None, "", False)}


async def searchable_children(ctx: Ctx) -> list[Child]:
    """The children a search can start from: a consented parent's, with a birth date."""
    if not await ctx.consented():
        return []
    return [child for child in await core_children.list_children(ctx.session, await ctx.parent())
            if child.birth_date]


def for_child(ctx: Ctx, f: dict[str, Any], child: Child) -> None:
    """Search for `child`: their municipality and their age today."""
    assert child.birth_date is not None
    f.update(child=child.id, muni=child.municipality_id, age=core_children.age_on(child.birth_date, ctx.today()),
             page=0)


async def describe_filters(ctx: Ctx, f: dict[str, Any]) -> tuple[str, list[Button]]:
    """The filters in words, and a «✕» button removing each."""
    parts, drops = [], []
    if f.get("words"):
        parts.append(texts.FIND_WORDS.format(words=fmt.quoted(f["words"])))
        drops.append((texts.FIND_DROP_WORDS.format(words=fmt.short(f["words"], 20)), "words"))
    if f.get("muni"):
        try:
            name = (await municipalities.get(ctx.session, int(f["muni"]))).name
            parts.append(name)
            drops.append((fmt.short(name, 25), "muni"))
        except DomainError:
            f.pop("muni", None)
    if f.get("age") is not None:
        parts.append(texts.FIND_AGE.format(age=fmt.years(int(f["age"]))))
        drops.append((fmt.years(int(f["age"])), "age"))
    if f.get("cat"):
        label = texts.CATEGORY_LABEL[Category(f["cat"])]
        parts.append(label.lower())
        drops.append((label, "cat"))
    if f.get("cert"):
        parts.append(texts.FIND_CERT_ONLY)
        drops.append((texts.FIND_DROP_CERT, "cert"))
    return ", ".join(parts), [Button(texts.BTN_FIND_DROP.format(what=what), f"find:x:{key}") for what, key in drops]


def child_buttons(f: dict[str, Any], kids: list[Child]) -> list[Button]:
    """A button per child (the one searched for ticked) and «Все»; none without children."""
    if not kids:
        return []
    buttons = [Button(texts.BTN_FIND_CHILD_ON.format(name=first_name(child)) if child.id == f.get("child")
                      else first_name(child), f"find:child:{child.id}") for child in kids[:9]]
    return [*buttons, Button(texts.BTN_FIND_ALL, "find:child:0")]


def present(*buttons: Button | None) -> list[Button]:
    return [button for button in buttons if button is not None]


def drop_filter(f: dict[str, Any], key: str) -> None:
    """«✕» on a filter: only that one goes (the child stays the one prices are shown for)."""
    if key not in ("words", "muni", "age", "cat", "cert"):
        raise Stale()
    f.pop(key, None)
    f["page"] = 0
