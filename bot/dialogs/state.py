"""The dialog machinery shared by every journey: the per-update context, the
registries of steps and button actions, and the errors a dialog may raise.

A parent's conversation state is a small JSON dict stored in DialogState:
  {"step": "ch.birth", "data": {...answers of the current question...},
   "find": {...search filters, kept while the parent wanders off to a card...}}
A journey module registers
  - steps: `@step("name")` renders that step's screen from the state, and an
    optional `@on_text("name")` takes typed text while the parent is there;
  - actions: `@action("prefix")` handles a button whose id is "prefix:arg:arg".
Handlers move the parent with `await ctx.show(step, ...)`, which sets the state
and returns that step's screen.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.dialogs.consent_document import CONSENT_VERSION
from bot.dialogs.screen import Button, Reply, Screen
from core import consent, parents
from core.clock import Clock
from core.errors import DomainError
from core.models import Parent


class Stale(DomainError):
    """A button that no longer fits (old screen, forged or malformed id)."""

    def __init__(self) -> None:
        super().__init__("stale_button")


class NeedConsent(Exception):
    """The parent has not agreed to personal-data processing yet."""


Render = Callable[["Ctx"], Awaitable[Screen]]
TextHandler = Callable[["Ctx", str], Awaitable["Reply | Screen"]]
ActionHandler = Callable[["Ctx", list[str]], Awaitable["Reply | Screen"]]
CommandHandler = Callable[["Ctx", str], Awaitable["Reply | Screen"]]

STEPS: dict[str, Render] = {}
TEXT_HANDLERS: dict[str, TextHandler] = {}
# Steps whose typed text needs no consent (the consent screen, catalog search words).
TEXT_WITHOUT_CONSENT: set[str] = set()
ACTIONS: dict[str, tuple[ActionHandler, bool]] = {}
COMMAND_HANDLERS: dict[str, tuple[CommandHandler, bool]] = {}


def step(name: str) -> Callable[[Render], Render]:
    def register(func: Render) -> Render:
        STEPS[name] = func
        return func
    return register


def on_text(name: str, *, consent: bool = True) -> Callable[[TextHandler], TextHandler]:
    def register(func: TextHandler) -> TextHandler:
        TEXT_HANDLERS[name] = func
        if not consent:
            TEXT_WITHOUT_CONSENT.add(name)
        return func
    return register


def action(prefix: str, *, consent: bool = True) -> Callable[[ActionHandler], ActionHandler]:
    """`consent=False` lets the button work before the parent agreed (the consent screen's own)."""
    def register(func: ActionHandler) -> ActionHandler:
        ACTIONS[prefix] = (func, consent)
        return func
    return register


def command(name: str, *, consent: bool = True) -> Callable[[CommandHandler], CommandHandler]:
    def register(func: CommandHandler) -> CommandHandler:
        COMMAND_HANDLERS[name] = (func, consent)
        return func
    return register


def int_arg(args: list[str], index: int) -> int:
    """A numeric id from a button's action; anything else makes the button stale."""
    try:
        raw = args[index]
    except IndexError:
        raise Stale() from None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise Stale()
    return int(raw)


@dataclass
class Ctx:
    session: AsyncSession
    clock: Clock
    settings: Settings
    platform: str
    user_id: str
    state: dict[str, Any]
    # Set by /forget: the DialogState row is gone with the parent's data.
    drop_state: bool = False
    _parent: Parent | None = None
    _parent_loaded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def step_name(self) -> str:
        return str(self.state.get("step") or "")

    @property
    def data(self) -> dict[str, Any]:
        data = self.state.get("data")
        if not isinstance(data, dict):
            data = {}
            self.state["data"] = data
        return data

    def today(self) -> dt.date:
        return self.clock.today()

    async def parent(self) -> Parent | None:
        if not self._parent_loaded:
            self._parent = await parents.get_parent(self.session, self.platform, self.user_id)
            self._parent_loaded = True
        return self._parent

    async def consented(self) -> bool:
        """Agreed to the consent document in force (an earlier version is asked again)."""
        return consent.standing(await self.parent(), CONSENT_VERSION).current

    async def consent_outdated(self) -> bool:
        """Agreed to an earlier version of the document only."""
        return consent.standing(await self.parent(), CONSENT_VERSION).outdated

    async def require_parent(self) -> Parent:
        parent = await self.parent()
        if not consent.standing(parent, CONSENT_VERSION).current:
            raise NeedConsent()
        assert parent is not None
        return parent

    async def once(self, key: tuple[Any, ...], compute: Callable[[], Awaitable[Any]]) -> Any:
        """`compute()`, run at most once per update for `key`: a button's handler checks what
        the next screen then shows (a quote, a refund), within the one unit of work, and each
        computation is a handful of statements (bench/, benchmark 1)."""
        memo = self.extra.setdefault("once", {})
        if key not in memo:
            memo[key] = await compute()
        return memo[key]

    def after_commit(self, job: Callable[[], Awaitable[Any]]) -> None:
        """Run `job` once this update's unit of work has committed, before the reply goes
        out: slow work (drawing a chart) must not hold the database's write lock."""
        self.extra.setdefault("after_commit", []).append(job)

    def set_parent(self, parent: Parent | None) -> None:
        self._parent = parent
        self._parent_loaded = True

    async def show(self, step_name: str, prefix: str = "", /, **data: Any) -> Screen:
        """Move to step `step_name` with `data` as its answers, and return its screen."""
        self.state["step"] = step_name
        self.state["data"] = dict(data)
        screen = await STEPS[step_name](self)
        return with_prefix(screen, prefix)

    async def advance(self, step_name: str, prefix: str = "", /, **updates: Any) -> Screen:
        """Move to step `step_name`, keeping the answers collected so far plus `updates`."""
        return await self.show(step_name, prefix, **{**self.data, **updates})

    async def render_current(self) -> Screen:
        render = STEPS.get(self.step_name)
        if render is None:
            return await self.show("menu")
        return await render(self)


def with_prefix(screen: Screen, prefix: str) -> Screen:
    if not prefix:
        return screen
    return Screen(text=f"{prefix}\n\n{screen.text}", rows=screen.rows)


def rows(*rows_: list[Button] | tuple[Button, ...] | Button | None) -> tuple[tuple[Button, ...], ...]:
    """Keyboard rows from buttons or lists of buttons; None and empty rows are skipped."""
    out: list[tuple[Button, ...]] = []
    for row in rows_:
        if row is None:
            continue
        if isinstance(row, Button):
            out.append((row,))
        elif row:
            out.append(tuple(row))
    return tuple(out)


def chunked(buttons: list[Button], size: int) -> list[list[Button]]:
    return [buttons[i:i + size] for i in range(0, len(buttons), size)]


def as_reply(result: Reply | Screen) -> Reply:
    return result if isinstance(result, Reply) else Reply(screens=[result])


PICK_PAGE = 12  # choices per page of a long list (6 rows of 2: VK allows 10 rows)


def paged(buttons: list[Button], page: int, nav_action: str, per_row: int = 2,
          per_page: int = PICK_PAGE) -> list[list[Button]]:
    """One page of a long list of choices, with ◀/▶ (`nav_action` + ":<page>") when needed."""
    pages = max(1, -(-len(buttons) // per_page))
    page = min(max(page, 0), pages - 1)
    out = chunked(buttons[page * per_page:(page + 1) * per_page], per_row)
    nav = []
    if page > 0:
        nav.append(Button("◀", f"{nav_action}:{page - 1}"))
    if page < pages - 1:
        nav.append(Button("▶", f"{nav_action}:{page + 1}"))
    if nav:
        out.append(nav)
    return out
