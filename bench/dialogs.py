"""Benchmark 1: dialog throughput — a mixed stream of updates from many parents through
aiogram's Dispatcher.feed_update (network mocked), against a bare aiogram echo bot fed the
very same updates in the same batches."""
from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import CallbackQuery, Message, Update

from bench import data, people
from bench.common import Result, migrated
from bot.config import Settings
from bot.dialogs import texts
from bot.dialogs.engine import Dialogs
from bot.handlers import telegram as tg
from bot.handlers import telegram_polling
from core.clock import FixedClock
from core.models import Funding

TOKEN = "42:BENCH"
BATCH = 100          # updates per getUpdates answer, as Telegram sends them
TARGET_RATIO = 3.0


class MockedSession(BaseSession):
    """Answers every Bot API call at once, remembering each chat's newest keyboard."""

    def __init__(self) -> None:
        super().__init__()
        self.keyboards: dict[int, tuple[int, list[tuple[str, str]]]] = {}
        self.texts: dict[int, str] = {}
        self.calls = 0
        self._ids = itertools.count(1)

    async def close(self) -> None:
        return None

    async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:
        self.calls += 1
        if isinstance(method, (SendMessage, EditMessageText)):
            chat = int(method.chat_id)
            self.texts[chat] = method.text
            message_id = getattr(method, "message_id", None) or next(self._ids)
            markup = method.reply_markup
            if markup is not None:
                self.keyboards[chat] = (message_id, [(b.text, b.callback_data) for row in markup.inline_keyboard
                                                     for b in row])
            return Message.model_validate({
                "message_id": message_id, "date": 0, "text": method.text,
                "chat": {"id": chat, "type": "private"}}, context={"bot": bot})
        if isinstance(method, AnswerCallbackQuery):
            return True
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - unused
        raise NotImplementedError


class Stream:
    """Parents acting on what the bot last showed them; every update is recorded for the echo bot."""

    def __init__(self, session: MockedSession) -> None:
        self.session = session
        self.ids = itertools.count(1)
        self.recorded: list[list[Update]] = []

    def _user(self, user: int) -> dict[str, Any]:
        return {"id": user, "is_bot": False, "first_name": "P"}

    def text(self, user: int, text: str) -> Update:
        return Update.model_validate({"update_id": next(self.ids), "message": {
            "message_id": next(self.ids), "date": 0, "chat": {"id": user, "type": "private"},
            "from": self._user(user), "text": text}})

    def press(self, user: int, label: str, action: str = "") -> Update:
        """The button labelled `label` (or whose action starts with `action`) on the last screen."""
        message_id, buttons = self.session.keyboards.get(user, (1, []))
        if action:
            data_ = next((d for _, d in buttons if d.startswith(action)), None)
        else:
            data_ = next((d for t, d in buttons if t == label), None) or \
                next((d for t, d in buttons if label and label in t), None)
        if data_ is None:
            return self.text(user, "/start")  # the button is not there (program full…): start over
        return Update.model_validate({"update_id": next(self.ids), "callback_query": {
            "id": str(next(self.ids)), "from": self._user(user), "chat_instance": "c", "data": data_,
            "message": {"message_id": message_id, "date": 0, "chat": {"id": user, "type": "private"},
                        "from": {"id": 42, "is_bot": True, "first_name": "B"}, "text": "…"}}})


# One program in the list /find shows: its number, ages and funding badge (texts.FIND_LINE).
_ITEM = re.compile(r"^(\d+)\. .*\n .*; (\d+)–(\d+) лет; .*\n +(.+)$", re.MULTILINE)


def fitting_card(listing: str, age: int, rng: random.Random) -> str:
    """The number of a program on the page that a parent would open for a child of `age`:
    in the child's age range and not paid (the certificate cannot pay for those), one of
    them at random (parents do not all pick the first); 1 if none fits."""
    fitting = [number for number, low, high, badge in _ITEM.findall(listing)
               if int(low) <= age <= int(high) and badge.strip() != texts.FUNDING_BADGE[Funding.PAID]]
    return rng.choice(fitting) if fitting else "1"


def journey(user: int, rng: random.Random) -> list[tuple[str, str]]:
    """start, find, open a card that fits the child, enroll, balance, cancel: 10 updates.
    Every other parent looks at the balance and then leaves the cancellation unconfirmed;
    the others skip the balance and cancel."""
    start = [
        ("text", "/start"),
        ("text", f"/find {rng.choice(data.QUERIES)}"),
        ("card", ""),
        ("press", texts.BTN_ENROLL),
        ("press", people.child_name(user)),
        ("press", texts.BTN_CONFIRM),
    ]
    cancel = [("text", "/enrollments"), ("action", "enl:view:"), ("press", texts.BTN_CANCEL_ENROLLMENT)]
    if user % 2:
        return start + [("text", "/balance")] + cancel
    return start + cancel + [("press", texts.BTN_YES_CANCEL)]


async def state_only_seconds(db: Any, clock: FixedClock, users: list[int], rounds: int = 2000) -> float:
    """The least a dialog that keeps its place in the database does per update: load the
    state and write it back, in one write unit of work, exactly as bot/dialogs/engine.py."""
    from bot.dialogs.engine import load_state, store_state

    async def step(n: int) -> None:
        user = str(users[n % len(users)])
        async with db.write() as session:
            state = dict(await load_state(session, "telegram", user) or {})
            state["bench"] = n
            await store_state(session, "telegram", user, state, clock.now())

    started = time.perf_counter()
    for first in range(0, rounds, BATCH):  # as many side by side as in the dialogs' batches
        await asyncio.gather(*(step(n) for n in range(first, min(first + BATCH, rounds))))
    return (time.perf_counter() - started) / rounds


async def state_by_driver_seconds(url: str, clock: FixedClock, users: list[int], rounds: int = 2000) -> float:
    """The same read and write of the dialog state in one transaction, through the database
    driver alone (sqlite3, asyncpg) with the SQL written out: what the floor above costs
    without SQLAlchemy. One after another, on one connection."""
    import json

    from bench.common import _raw

    now = clock.now()
    if url.startswith("sqlite"):
        import sqlite3

        raw = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        raw.execute("PRAGMA synchronous=NORMAL")   # as the bot's connections (core/db.py)
        started = time.perf_counter()
        for n in range(rounds):
            user = str(users[n % len(users)])
            raw.execute("BEGIN IMMEDIATE")
            row = raw.execute("SELECT state FROM dialog_states WHERE platform = ? AND user_id = ?",
                              ("telegram", user)).fetchone()
            state = dict(json.loads(row[0]) if row else {}, bench=n)
            raw.execute("UPDATE dialog_states SET state = ?, updated_at = ? WHERE platform = ? AND user_id = ?",
                        (json.dumps(state), now.isoformat(sep=" "), "telegram", user))
            raw.execute("COMMIT")
        took = time.perf_counter() - started
        raw.close()
        return took / rounds
    import asyncpg

    conn = await asyncpg.connect(_raw(url))
    try:
        started = time.perf_counter()
        for n in range(rounds):
            user = str(users[n % len(users)])
            async with conn.transaction():
                found = await conn.fetchval(
                    "SELECT state::text FROM dialog_states WHERE platform = $1 AND user_id = $2", "telegram", user)
                state = dict(json.loads(found) if found else {}, bench=n)
                await conn.execute("UPDATE dialog_states SET state = $1::json, updated_at = $2 "
                                   "WHERE platform = $3 AND user_id = $4", json.dumps(state), now, "telegram", user)
        return (time.perf_counter() - started) / rounds
    finally:
        await conn.close()


async def enrollments_made(db: Any) -> tuple[int, int]:
    """(enrollments, of them cancelled): the journeys' money path did run."""
    from sqlalchemy import func, select

    from core.models import Enrollment, EnrollmentStatus

    async with db.read() as session:
        by_status = dict((await session.execute(
            select(Enrollment.status, func.count()).group_by(Enrollment.status))).all())
    return sum(by_status.values()), by_status.get(EnrollmentStatus.CANCELLED, 0)


def echo_dispatcher() -> Dispatcher:
    router = Router()

    @router.message()  # as aiogram's own echo example: no filter (a magic one would run in a thread)
    async def echo(message: Message, bot: Bot) -> None:
        await bot.send_message(chat_id=message.chat.id, text=message.text or "…")

    @router.callback_query()
    async def pressed(callback: CallbackQuery, bot: Bot) -> None:
        await bot.answer_callback_query(callback.id)

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def run(backend: str, url: str, clock: FixedClock, parents: int, updates: int,
              log: callable = print) -> list[Result]:
    db = await migrated(url)
    try:
        await data.load_catalog(db, clock, 3000)
        users = await people.add_parents(db, clock, parents, first_user=20_000_000)
        ages = await people.child_ages(db, clock, users)
        rng = random.Random(data.SEED + 1)
        plans = {u: journey(u, rng) for u in users}
        per_parent = max(1, updates // parents)
        session = MockedSession()
        bot = Bot(TOKEN, session=session)
        dialogs = Dialogs(db, clock, Settings(_env_file=None, database_url=url))
        dispatcher = tg.make_dispatcher(dialogs)
        stream = Stream(session)
        handled = 0
        cpu = time.process_time()
        started = time.perf_counter()
        # Round r: every parent's r-th action, handed over BATCH updates at a time.
        for step in range(per_parent):
            batch: list[Update] = []
            for user in users:
                kind, value = plans[user][step % len(plans[user])]
                if kind == "card":
                    kind, value = "press", fitting_card(session.texts.get(user, ""), ages[user], rng)
                batch.append(stream.text(user, value) if kind == "text" else
                             stream.press(user, "", action=value) if kind == "action" else stream.press(user, value))
                if len(batch) == BATCH:
                    await telegram_polling.handle_batch(dispatcher, bot, batch)
                    stream.recorded.append(batch)
                    handled += len(batch)
                    batch = []
            if batch:
                await telegram_polling.handle_batch(dispatcher, bot, batch)
                stream.recorded.append(batch)
                handled += len(batch)
        ours = time.perf_counter() - started
        ours_cpu = time.process_time() - cpu
        made, cancelled = await enrollments_made(db)
        echo_session = MockedSession()
        echo_bot = Bot(TOKEN, session=echo_session)
        echo = echo_dispatcher()
        cpu = time.process_time()
        started = time.perf_counter()
        for batch in stream.recorded:
            await telegram_polling.handle_batch(echo, echo_bot, batch)
        theirs = time.perf_counter() - started
        theirs_cpu = time.process_time() - cpu
        ratio = ours / theirs if theirs else float("inf")
        floor = await state_only_seconds(db, clock, users)
        floor_ratio = (theirs / handled + floor) / (theirs / handled)
        by_driver = await state_by_driver_seconds(url, clock, users)
        log(f"  [{backend}] the dialog state alone (read + write, one unit of work): {floor * 1000:.2f} ms "
            f"per update, so an echo bot that stored it would already take {floor_ratio:.1f}x; "
            f"through the driver alone {by_driver * 1000:.3f} ms")
        log(f"  [{backend}] {made} enrollments made, {cancelled} of them cancelled")
        log(f"  [{backend}] {handled} updates: ours {ours:.2f}s ({ours_cpu:.2f}s CPU, {session.calls} API "
            f"calls), echo {theirs:.2f}s ({theirs_cpu:.2f}s CPU, {echo_session.calls} API calls)")
        return [
            Result("dialogs: updates/s", round(handled / ours, 1), "updates/s", backend),
            Result("dialogs: enrollments made (of them cancelled)", made, f"({cancelled})", backend),
            Result("echo bot: updates/s", round(handled / theirs, 1), "updates/s", backend),
            Result("dialogs time / echo time", round(ratio, 2), "x", backend, f"<= {TARGET_RATIO:g}",
                   ratio <= TARGET_RATIO),
            Result("dialog state read + write alone", round(floor * 1000, 2), "ms/update", backend),
            Result("the same through the driver alone, no SQLAlchemy", round(by_driver * 1000, 3), "ms/update",
                   backend),
            Result("echo bot that stored its dialog state / echo time", round(floor_ratio, 2), "x", backend),
        ]
    finally:
        await db.dispose()
