"""The one entry point of the conversations: `Dialogs.handle(platform, user_id, input)`.

Each call is one unit of work: load the parent's DialogState, run the step or
button handler, save the new state, commit. A refusal (DomainError) rolls the
whole unit back and answers with its reason plus the screen the parent was
on; any other failure is logged without personal data and answered with a
short apology and the main menu.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import traceback
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.dialogs import texts
from bot.dialogs.screen import COMMANDS, Input, Reply, Screen
from bot.dialogs.state import (
    ACTIONS,
    COMMAND_HANDLERS,
    TEXT_HANDLERS,
    TEXT_WITHOUT_CONSENT,
    Ctx,
    NeedConsent,
    Stale,
    as_reply,
    with_prefix,
)
from core import handled_updates
from core.clock import Clock
from core.db import Database
from core.errors import DomainError
from core.models import DialogState, Parent

# Importing the journeys registers their steps, actions and commands.
from bot.dialogs import start as _start  # noqa: E402,F401  isort: skip
from bot.dialogs import children as _children  # noqa: E402,F401  isort: skip
from bot.dialogs import find as _find  # noqa: E402,F401  isort: skip
from bot.dialogs import enroll as _enroll  # noqa: E402,F401  isort: skip
from bot.dialogs import balance as _balance  # noqa: E402,F401  isort: skip
from bot.dialogs import history as _history  # noqa: E402,F401  isort: skip
from bot.dialogs import enrollments as _enrollments  # noqa: E402,F401  isort: skip
from bot.dialogs import waitlist as _waitlist  # noqa: E402,F401  isort: skip
from bot.dialogs import subscribe as _subscribe  # noqa: E402,F401  isort: skip
from bot.dialogs import admin as _admin  # noqa: E402,F401  isort: skip
from bot.dialogs import privacy as _privacy  # noqa: E402,F401  isort: skip
from bot.dialogs import reviews as _reviews  # noqa: E402,F401  isort: skip
from bot.dialogs import link as _link  # noqa: E402,F401  isort: skip
from bot.dialogs import share as _share  # noqa: E402,F401  isort: skip

log = logging.getLogger("bot.dialogs")

# One retry after losing a race on a unique row (bounded: never a loop).
ATTEMPTS = 2
# SQLite: replies marked sent are written by the next update's unit of work, or after this
# many seconds by a unit of their own (a crash in between re-shows a screen to a copy).
MARKS_DELAY = 0.02
# Typed text longer than this is refused before any step sees it.
MAX_TEXT = 1000
# VK's "Начать" button and its plain-word equivalents open /start.
START_WORDS = {"начать", "start", "старт"}
# Screens a parent may be on before consenting (a refusal there re-shows them).
NO_CONSENT_STEPS = {"consent", "declined", "help", "find", "find.muni", "find.age", "find.cat", "card", "share"}


def command_menu() -> list[tuple[str, str]]:
    """(command, short Russian description) for Telegram's setMyCommands."""
    return [(name, texts.COMMAND_MENU[name]) for name in COMMANDS]


# Built once (every update runs them; building a statement costs more than running it here).
_STATE = select(DialogState.state).where(DialogState.platform == bindparam("the_platform"),
                                         DialogState.user_id == bindparam("the_user"))
_UPDATE_STATE = (
    update(DialogState)
    .where(DialogState.platform == bindparam("the_platform"), DialogState.user_id == bindparam("the_user"))
    .values(state=bindparam("new_state", type_=DialogState.__table__.c.state.type),
            updated_at=bindparam("now", type_=DialogState.__table__.c.updated_at.type))
    .execution_options(synchronize_session=False))


_MINE = (DialogState.platform == Parent.platform) & (DialogState.user_id == Parent.external_id)
_PARENT_AND_STATE = select(
    Parent,
    select(DialogState.user_id).where(_MINE).scalar_subquery().label("has_state"),
    select(DialogState.state).where(_MINE).scalar_subquery().label("state"),
).where(Parent.platform == bindparam("the_platform"), Parent.external_id == bindparam("the_user"))


async def load_parent_and_state(session: Any, platform: str, user_id: str
                                ) -> tuple[Parent | None, dict[str, Any] | None]:
    """The parent (if they exist) and their dialog state, in one statement: every update needs
    both, and each statement is a good part of a step's cost."""
    found = (await session.execute(_PARENT_AND_STATE, {"the_platform": platform, "the_user": user_id})).first()
    if found is None:
        return None, await load_state(session, platform, user_id)
    parent, has_state, state = found
    return parent, None if has_state is None else _readable(state)


async def load_state(session: Any, platform: str, user_id: str) -> dict[str, Any] | None:
    """The parent's dialog state; None if they have no row yet ({} if it was unreadable)."""
    found = await session.execute(_STATE, {"the_platform": platform, "the_user": user_id})
    row = found.first()
    return None if row is None else _readable(row.state)


def _readable(state: Any) -> dict[str, Any]:
    return state if isinstance(state, dict) else {}


async def store_state(session: Any, platform: str, user_id: str, state: dict[str, Any],
                      now: Any) -> None:
    """Overwrite the state of a parent who has a row already."""
    await session.execute(_UPDATE_STATE, {"the_platform": platform, "the_user": user_id,
                                          "new_state": state, "now": now})


class Dialogs:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.reply_marks = handled_updates.ReplyMarks()  # SQLite: written in batches
        self._marks_flush: asyncio.Task[None] | None = None

    async def handle(self, platform: str, user_id: str, inp: Input) -> Reply:
        platform, user_id = str(platform), str(user_id)
        for attempt in range(ATTEMPTS):
            try:
                return await self._handle_once(platform, user_id, inp)
            except DomainError as error:
                return await self._refused(platform, user_id, error)
            except IntegrityError as exc:
                # A race lost to a concurrent update (a double press, two processes):
                # the second attempt sees the winner's rows and answers accordingly.
                if attempt + 1 < ATTEMPTS:
                    log.info("dialog: retrying after a concurrent update on %s", platform)
                    continue
                self._log_failure(platform, inp, exc)
                return await self._apology(platform, user_id)
            except Exception as exc:  # noqa: BLE001 - the parent must never see a traceback
                self._log_failure(platform, inp, exc)
                return await self._apology(platform, user_id)
        raise AssertionError("unreachable")  # pragma: no cover

    async def replied(self, platform: str, user_id: str, event_id: str) -> None:
        """An adapter calls this once the reply to the event `event_id` was sent, so that a
        copy of the event delivered again later (a webhook re-sent, a poll after a crash) is
        answered with nothing, while a copy of an event whose reply never went out gets the
        current screen. (Issue 15: each update handled once across processes.)"""
        if not event_id:
            return
        platform, user_id, event_id = str(platform), str(user_id), str(event_id)
        if self.db.sqlite:
            # Batched: one write unit of work for the marks of every reply sent meanwhile,
            # within milliseconds (or with the next update's unit, whichever comes first).
            self.reply_marks.add(platform, user_id, event_id)
            if self._marks_flush is None or self._marks_flush.done():
                self._marks_flush = asyncio.create_task(self._flush_marks())
            return
        try:
            await handled_updates.mark_replied_now(self.db.engine, platform, user_id, event_id)
        except Exception as exc:  # noqa: BLE001 - a lost mark only re-shows a screen to a copy
            log.warning("dialog: marking a reply sent failed: %s", type(exc).__name__)

    async def _flush_marks(self) -> None:
        # Under load the next update's unit of work writes them (no unit of its own); when
        # none comes within MARKS_DELAY, this one does.
        await asyncio.sleep(MARKS_DELAY)
        if not self.reply_marks.waiting:
            return
        try:
            async with self.db.write() as session:
                # Taken once this unit holds the writer's turn: never in neither place.
                marks = self.reply_marks.take()
                if marks:
                    await handled_updates.mark_replied(session, marks)
        except Exception as exc:  # noqa: BLE001 - a lost mark only re-shows a screen to a copy
            log.warning("dialog: marking replies sent failed: %s", type(exc).__name__)

    async def current(self, platform: str, user_id: str) -> Reply | None:
        """The screen the parent is on, from their stored state, which stays as it is (a
        conversation picked up again after a restart). None when there is nothing to pick up:
        no state yet, or no step in it (the caller then opens with /start)."""
        platform, user_id = str(platform), str(user_id)
        try:
            async with self.db.read() as session:
                row = await load_state(session, platform, user_id)
                if not row or not row.get("step"):
                    return None
                ctx = Ctx(session=session, clock=self.clock, settings=self.settings,
                          platform=platform, user_id=user_id, state=copy.deepcopy(row))
                if not await ctx.consented() and ctx.step_name not in NO_CONSENT_STEPS:
                    return Reply([await ctx.show("consent")])
                return Reply([await ctx.render_current()])
        except DomainError as error:  # e.g. the screen's program or child is gone
            log.info("dialog: current screen unavailable (%s)", error.reason)
        except Exception as exc:  # noqa: BLE001 - /start instead; never a traceback
            self._log_failure(platform, None, exc)
        return None

    async def _handle_once(self, platform: str, user_id: str, inp: Input) -> Reply:
        marks: list[tuple[str, str, str]] = []
        try:
            return await self._handle_in_unit(platform, user_id, inp, marks)
        except BaseException:
            if marks:   # rolled back with the unit: written by the next one
                self.reply_marks.waiting[:0] = marks
            raise

    async def _handle_in_unit(self, platform: str, user_id: str, inp: Input,
                              marks: list[tuple[str, str, str]]) -> Reply:
        event_id = inp.event_id[:64]
        async with self.db.write() as session:
            # One parent at a time, across processes too; then whether a copy was handled.
            await handled_updates.serialise_parent(session, platform, user_id)
            if self.reply_marks.waiting:
                # Replies sent meanwhile, written with this unit (SQLite): given back if it fails.
                marks.extend(self.reply_marks.take())
                await handled_updates.mark_replied(session, marks)
            if event_id:
                answered = await handled_updates.seen(session, platform, user_id, event_id)
                if answered:
                    return Reply([])   # handled and answered: a copy gets nothing
            parent, row = await load_parent_and_state(session, platform, user_id)
            ctx = Ctx(session=session, clock=self.clock, settings=self.settings,
                      platform=platform, user_id=user_id, state=copy.deepcopy(row or {}))
            ctx.set_parent(parent)
            if event_id and answered is False:
                # Handled and committed, its answer lost (a crash): the screen it left.
                return Reply([await ctx.render_current()])
            reply = await self._dispatch(ctx, inp)
            if event_id:
                await handled_updates.record(session, platform, user_id, event_id, self.clock.now())
            if not ctx.drop_state:
                await self._save(session, row, ctx)
        await self._after_commit(ctx)
        return reply

    @staticmethod
    async def _after_commit(ctx: Ctx) -> None:
        for job in ctx.extra.get("after_commit", ()):
            try:
                await job()
            except Exception as exc:  # noqa: BLE001 - the reply still goes out (a screen copes)
                log.error("dialog: work after the commit failed: %s", type(exc).__name__,
                          exc_info=log.isEnabledFor(logging.DEBUG))

    # --- dispatch -----------------------------------------------------------
    async def _dispatch(self, ctx: Ctx, inp: Input) -> Reply:
        try:
            if inp.kind == "button":
                return await self._press(ctx, inp.action)
            if inp.kind == "command":
                return await self._command(ctx, inp.command, inp.text)
            text = inp.text or ""
            if text.strip().lower() in START_WORDS:
                return await self._command(ctx, "start", "")
            return await self._text(ctx, text)
        except NeedConsent:
            return await _start.consent_reply(ctx, texts.CONSENT_FIRST)

    async def _command(self, ctx: Ctx, name: str, words: str) -> Reply:
        found = COMMAND_HANDLERS.get(name)
        if found is None:
            raise DomainError("unknown_command")
        handler, needs_consent = found
        if needs_consent:
            await ctx.require_parent()
        return as_reply(await handler(ctx, words))

    async def _press(self, ctx: Ctx, action: str) -> Reply:
        if not action or not action.isascii() or len(action) > 64:
            raise Stale()
        prefix, *args = action.split(":")
        found = ACTIONS.get(prefix)
        if found is None:
            raise Stale()
        handler, needs_consent = found
        if needs_consent:
            await ctx.require_parent()
        return as_reply(await handler(ctx, args))

    async def _text(self, ctx: Ctx, text: str) -> Reply:
        if not ctx.step_name:
            # A first message of any kind opens the conversation.
            return await self._command(ctx, "start", "")
        if len(text) > MAX_TEXT:
            raise DomainError("text_too_long")
        handler = TEXT_HANDLERS.get(ctx.step_name)
        if handler is None:
            raise DomainError("choose_button")
        if ctx.step_name not in TEXT_WITHOUT_CONSENT:
            await ctx.require_parent()
        return as_reply(await handler(ctx, text))

    async def _save(self, session: Any, row: dict[str, Any] | None, ctx: Ctx) -> None:
        """`row`: the state as loaded (None: the parent has no row yet)."""
        if row is None:
            session.add(DialogState(platform=ctx.platform, user_id=ctx.user_id,
                                    state=ctx.state, updated_at=self.clock.now()))
        elif row != ctx.state:
            await store_state(session, ctx.platform, ctx.user_id, ctx.state, self.clock.now())

    # --- failures -----------------------------------------------------------
    async def _refused(self, platform: str, user_id: str, error: DomainError) -> Reply:
        """The reason, then the screen the parent was on; nothing of the refused input is kept."""
        try:
            async with self.db.read() as session:
                row = await load_state(session, platform, user_id)
                ctx = Ctx(session=session, clock=self.clock, settings=self.settings,
                          platform=platform, user_id=user_id, state=copy.deepcopy(row or {}))
                if not await ctx.consented() and ctx.step_name not in NO_CONSENT_STEPS:
                    screen = await ctx.show("consent")
                else:
                    screen = await ctx.render_current()
        except Exception as exc:  # noqa: BLE001 - e.g. the old screen's object is gone
            if isinstance(exc, DomainError):
                log.info("dialog: current screen unavailable (%s), showing the menu", exc.reason)
            else:
                self._log_failure(platform, None, exc)
            return await self._menu_reply(platform, user_id, texts.refusal(error))
        return Reply([with_prefix(screen, texts.refusal(error))],
                     notice=texts.refusal(error)[:190] if error.reason == "stale_button" else None)

    async def _apology(self, platform: str, user_id: str) -> Reply:
        return await self._menu_reply(platform, user_id, texts.GENERIC_ERROR)

    async def _menu_reply(self, platform: str, user_id: str, prefix: str) -> Reply:
        """Reset the parent to the menu (or consent); if even that fails, a bare apology."""
        try:
            async with self.db.write() as session:
                await handled_updates.serialise_parent(session, platform, user_id)
                row = await load_state(session, platform, user_id)
                ctx = Ctx(session=session, clock=self.clock, settings=self.settings,
                          platform=platform, user_id=user_id, state={})
                screen = await ctx.show("menu" if await ctx.consented() else "consent")
                await self._save(session, row, ctx)
            return Reply([with_prefix(screen, prefix)])
        except Exception as exc:  # noqa: BLE001
            self._log_failure(platform, None, exc)
            return Reply([Screen(text=prefix)])

    @staticmethod
    def _log_failure(platform: str, inp: Input | None, exc: BaseException) -> None:
        # Only the exception type, where it happened and what kind of input:
        # exception messages and SQL parameters may hold SNILS or names.
        where = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)[-6:]))
        what = "-"
        if inp is not None:
            what = inp.kind
            if inp.kind == "command":
                what += f" /{inp.command[:20]}"
            elif inp.kind == "button":
                what += f" {inp.action.split(':', 1)[0][:20]}"
        log.error("dialog failed on %s (%s): %s\n%s", platform, what, type(exc).__name__, where)
