"""The MAX adapter: Bot API updates in, screens out as messages with inline keyboards.

Nothing here decides anything about certificates or conversations: a MAX
update becomes an `Input` for `ctx.dialogs`, and the `Reply` becomes MAX
messages (bot/handlers/max_keyboard.py), sent through bot/handlers/max_api.py
at MAX's request rate.

  message_created   typed text (or a /command) in the bot's dialog with a parent;
  message_callback  a callback button pressed: the first screen of the reply
                    replaces the message the button was on (PUT /messages), the
                    press is answered (POST /answers, the reply's notice shown);
  bot_started       the parent opened the bot («Начать», or a link with
                    ?start=PAYLOAD): "/start PAYLOAD" for the dialogs;
  bot_stopped       the parent stopped the bot: alerts to them pause.

Updates come by long polling (bot/handlers/max_updates.py) or, with
MAX_WEBHOOK_URL, by webhook (bot/handlers/max_webhook.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import traceback
from typing import Any

from bot import in_flight
from bot.delivery import Blocked, DeliveryError
from bot.dialogs.screen import Input, Reply, Screen
from bot.handlers import max_keyboard as kb
from bot.handlers.max_api import AttachmentNotReady, MaxClient, TokenRefused
from bot.jobs.pacing import Pacer
from bot.runtime import AppContext
from core import reachability

log = logging.getLogger("bot.max")

PLATFORM = "max"
NOT_READY_TRIES = 3        # an uploaded picture still processing: tries before the text goes alone
NOTICE_LIMIT = 200


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def update_user(raw: Any) -> str | None:
    """The MAX user a private-dialog update is about; None for group chats, bots and other updates."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("update_type")
    if kind == "message_created":
        message = raw.get("message")
        if not isinstance(message, dict):
            return None
        sender = message.get("sender") if isinstance(message.get("sender"), dict) else {}
        recipient = message.get("recipient") if isinstance(message.get("recipient"), dict) else {}
        user = _int(sender.get("user_id"))
        if user is None or sender.get("is_bot") or recipient.get("chat_type", "dialog") != "dialog":
            return None
        return str(user)
    if kind == "message_callback":
        callback = raw.get("callback")
        user_obj = callback.get("user") if isinstance(callback, dict) else None
        user = _int(user_obj.get("user_id")) if isinstance(user_obj, dict) else None
        return None if user is None else str(user)
    if kind in ("bot_started", "bot_stopped"):
        user_obj = raw.get("user")
        user = _int(user_obj.get("user_id")) if isinstance(user_obj, dict) else None
        return None if user is None else str(user)
    return None


class MaxAdapter:
    """Per-process MAX state (in memory): blocked users, the updates in flight."""

    def __init__(self, ctx: AppContext, client: MaxClient) -> None:
        self.ctx = ctx
        self.client = client
        self.blocked: set[str] = set()
        self.seen: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    # --- updates in ------------------------------------------------------------

    async def accept(self, raws: list[Any]) -> None:
        """Handle a batch: each parent's updates in order, different parents side by side."""
        await asyncio.gather(*(self.handle_in_order(raw) for raw in raws))

    async def handle_in_order(self, raw: Any) -> bool:
        """Handle one update in its parent's turn; False if it failed (logged, never raised)."""
        user = update_user(raw)
        if user is None:
            return True
        lock = self._locks.setdefault(user, asyncio.Lock())
        self._waiting[user] = self._waiting.get(user, 0) + 1
        try:
            async with lock:
                try:
                    await self.on_update(user, raw)
                except Blocked:
                    await self.mark_unreachable(user)
                except TokenRefused:
                    log.error("MAX refused MAX_BOT_TOKEN while answering an update")
                except Exception as exc:  # noqa: BLE001 - one bad update must not stop the bot
                    # Exception texts may quote SQL parameters (names, SNILS): the type and place only.
                    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                    where = f"{frame.filename}:{frame.lineno}" if frame else "?"
                    log.error("MAX update %s failed: %s at %s", raw.get("update_type"), type(exc).__name__, where)
                    log.debug("MAX update failure", exc_info=True)
                    return False
                return True
        finally:
            self._waiting[user] -= 1
            if not self._waiting[user]:
                del self._waiting[user]
                self._locks.pop(user, None)

    async def on_update(self, user: str, raw: dict[str, Any]) -> None:
        kind = raw.get("update_type")
        if kind == "bot_stopped":
            await self.mark_unreachable(user)
            return
        if user in self.blocked or user not in self.seen:
            await self.mark_reachable(user)
        if kind == "message_created":
            message = raw["message"]
            body = message.get("body") if isinstance(message.get("body"), dict) else {}
            text = body.get("text") if isinstance(body.get("text"), str) else ""
            event = f"m{body.get('mid') or raw.get('timestamp')}"
            await self.answer(user, Input.from_text(text).with_event(event), event)
        elif kind == "bot_started":
            payload = raw.get("payload")
            words = payload.strip() if isinstance(payload, str) else ""
            # A deep link's payload (?start=p_42) arrives as the words after /start.
            inp = Input(kind="command", command="start", text=" ".join(words.split())[:128])
            event = f"s{raw.get('timestamp')}"
            await self.answer(user, inp.with_event(event), event)
        elif kind == "message_callback":
            await self.on_press(user, raw)

    async def answer(self, user: str, inp: Input, event: str) -> None:
        reply = await self.ctx.dialogs.handle(PLATFORM, user, inp)
        await self.deliver(user, reply)
        await self.ctx.dialogs.replied(PLATFORM, user, event)

    async def on_press(self, user: str, raw: dict[str, Any]) -> None:
        callback = raw["callback"]
        callback_id = str(callback.get("callback_id") or "")
        payload = callback.get("payload")
        message = raw.get("message") if isinstance(raw.get("message"), dict) else {}
        body = message.get("body") if isinstance(message.get("body"), dict) else {}
        mid = body.get("mid") if isinstance(body.get("mid"), str) else None
        notice: str | None = None
        event = f"c{callback_id}"
        try:
            # Whatever the payload says, the dialogs decide: a forged or stale one is refused there.
            action = payload if isinstance(payload, str) else ""
            reply = await self.ctx.dialogs.handle(PLATFORM, user, Input.press(action).with_event(event))
            notice = reply.notice
            await self.deliver(user, reply, edit_mid=mid)
            await self.ctx.dialogs.replied(PLATFORM, user, event)
        finally:
            if callback_id:
                await self.answer_press(callback_id, user, notice)

    async def answer_press(self, callback_id: str, user: str, notice: str | None) -> None:
        body: dict[str, Any] = {}
        if notice:
            body["notification"] = notice[:NOTICE_LIMIT]
        try:
            await self.client.call("POST", "/answers", params={"callback_id": callback_id}, body=body, chat=user)
        except Blocked:
            raise
        except DeliveryError as exc:  # the press's spinner stops by itself
            log.info("MAX /answers failed: %s", type(exc).__name__)

    # --- screens out ----------------------------------------------------------------

    async def deliver(self, user: str, reply: Reply, edit_mid: str | None = None) -> None:
        """The reply's screens: the first replaces the pressed message when it can, the rest are new."""
        if user in self.blocked:
            return
        for index, screen in enumerate(reply.screens):
            if index == 0 and edit_mid and not screen.image and await self.edit(user, edit_mid, screen):
                continue
            await self.send_screen(user, screen)

    async def send_screen(self, user: str, screen: Screen, attempts: int | None = None) -> None:
        """Send `screen` as new message(s); a chart comes as a picture on the first one."""
        parts = kb.messages(screen)
        picture = await self.picture(user, screen.image) if screen.image else None
        for number, (text, attachments) in enumerate(parts):
            body: dict[str, Any] = {"text": text, "notify": True}
            with_picture = picture is not None and number == 0
            if attachments or with_picture:
                body["attachments"] = ([picture] if with_picture else []) + attachments
            await self.send_message(user, body, attempts=attempts, with_picture=with_picture)

    async def send_message(self, user: str, body: dict[str, Any], *, attempts: int | None,
                           with_picture: bool) -> None:
        for _ in range(NOT_READY_TRIES if with_picture else 1):
            try:
                await self.client.call("POST", "/messages", params={"user_id": int(user)}, body=body,
                                       attempts=attempts, chat=user)
                return
            except AttachmentNotReady:
                await asyncio.sleep(1.0)
        # The picture never became ready: its caption and buttons go alone.
        body = dict(body, attachments=[a for a in body.get("attachments", []) if a.get("type") != "image"])
        if not body["attachments"]:
            del body["attachments"]
        await self.client.call("POST", "/messages", params={"user_id": int(user)}, body=body,
                               attempts=attempts, chat=user)

    async def picture(self, user: str, path: str) -> dict[str, Any] | None:
        """The uploaded chart's attachment; None (the text goes alone) when it cannot be had."""
        if not os.path.isfile(path):
            return None
        try:
            return await self.client.upload_image(path, chat=user)
        except (Blocked, TokenRefused):
            raise
        except DeliveryError as exc:
            log.warning("MAX picture upload failed: %s", type(exc).__name__)
            return None

    async def edit(self, user: str, mid: str, screen: Screen) -> bool:
        """Replace the pressed message; False when it cannot be (then the screen is sent anew)."""
        parts = kb.messages(screen)
        if len(parts) != 1:
            return False
        text, attachments = parts[0]
        # An empty list takes the old keyboard away; a screen without buttons has none.
        body = {"text": text, "attachments": attachments}
        try:
            await self.client.call("PUT", "/messages", params={"message_id": mid}, body=body, chat=user)
        except (Blocked, TokenRefused):
            raise
        except DeliveryError as exc:
            log.info("MAX edit failed (%s), sending a new message instead", type(exc).__name__)
            return False
        return True

    # --- reachability --------------------------------------------------------------

    async def mark_unreachable(self, user: str) -> None:
        """MAX refused to deliver (403 chat.denied) or the parent stopped the bot."""
        try:
            async with self.ctx.db.write() as session:
                await reachability.mark_unreachable(session, PLATFORM, user, self.ctx.clock)
        finally:
            self.blocked.add(user)

    async def mark_reachable(self, user: str) -> None:
        self.seen.add(user)
        self.blocked.discard(user)
        async with self.ctx.db.write() as session:
            await reachability.mark_reachable(session, PLATFORM, user)


# --- the adapter contract (bot/runtime.py) -------------------------------------------

class MaxSender:
    """Alerts, notices and charts as new messages; failures as bot.delivery errors."""
    platform = PLATFORM

    def __init__(self, adapter: MaxAdapter) -> None:
        self.adapter = adapter

    @property
    def bot(self) -> Any:  # bot/jobs/cli.py closes the HTTP session of a sender's `bot`
        return self.adapter.client.bot

    async def send(self, user_id: str, screen: Screen) -> None:
        user = str(user_id)
        if user in self.adapter.blocked:
            raise Blocked(f"max user {user} stopped the bot")
        try:
            # No retrying here: the alert worker paces the platform on RetryLater and backs off
            # on TransientError.
            await self.adapter.send_screen(user, screen, attempts=1)
        except Blocked:
            await self.adapter.mark_unreachable(user)
            raise
        except TokenRefused as exc:
            raise DeliveryError(str(exc)) from None


_ADAPTERS: dict[int, tuple[AppContext, MaxAdapter]] = {}


def _adapter_for(ctx: AppContext) -> MaxAdapter:
    """One adapter (one client, one pacer for the one token) per AppContext."""
    entry = _ADAPTERS.get(id(ctx))
    if entry is None or entry[0] is not ctx:
        entry = (ctx, MaxAdapter(ctx, MaxClient(ctx.settings, Pacer.for_platform(PLATFORM))))
        _ADAPTERS[id(ctx)] = entry
    return entry[1]


def make_sender(ctx: AppContext) -> MaxSender:
    return MaxSender(_adapter_for(ctx))


async def serve(ctx: AppContext, stop: asyncio.Event) -> None:
    """Serve MAX until `stop` is set (adapter contract of bot/runtime.py)."""
    from bot.handlers import max_updates, max_webhook

    settings = ctx.settings
    adapter = _adapter_for(ctx)
    ctx.senders[PLATFORM] = MaxSender(adapter)
    webhook = bool(settings.max_webhook_url)
    if webhook:
        max_webhook.check_settings(settings)
        # Before the first await: the server starts after every adapter appended its routes.
        ctx.http_routes.append(max_webhook.route(adapter, settings, in_flight.for_context(ctx)))
    try:
        if not await max_updates.prepare(adapter.client, ctx, stop):
            return
        if webhook:
            log.info("MAX: receiving updates by webhook")
            await stop.wait()
        else:
            log.info("MAX: polling for updates")
            await max_updates.poll(adapter, stop)
    finally:
        await adapter.client.close()
        log.info("MAX: stopped")
