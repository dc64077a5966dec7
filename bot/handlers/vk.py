"""The VK adapter: a community's Bots Long Poll events in, screens out as messages with keyboards.

Nothing here decides anything about certificates or conversations: a VK
event becomes an `Input` for `ctx.dialogs`, and the `Reply` becomes VK
messages. vk_api is blocking, so the long poll runs in a worker thread that
hands raw events to the event loop, and every API call runs in a thread
behind the community token's 20 requests a second (vk_api_client).

Keyboards: parents whose client supports callback buttons (client_info of
message_new) get inline keyboards whose presses arrive as message_event and
edit the screen in place; others get a persistent keyboard of text buttons
matched back by payload or label. Both page locally when a screen has more
rows than VK allows (vk_keyboard).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import os
import threading
import traceback
from typing import Any

from bot import in_flight, metrics
from bot.delivery import Blocked, DeliveryError
from bot.dialogs.screen import Input, Reply, Screen
from bot.dialogs.share import looks_shared
from bot.handlers import vk_keyboard as kb
from bot.handlers.vk_api_client import RateLimiter, VkApiAt, VkClient, poll_forever, random_id, upload_photo
from bot.jobs.shared_pacing import shared_gate
from bot.runtime import AppContext
from core import reachability

log = logging.getLogger("bot.vk")

PLATFORM = "vk"
LONGPOLL_WAIT = 3          # seconds a long poll request is held: how fast `stop` is noticed
MAX_TEXT = 4096            # VK's message length limit
MAX_IN_FLIGHT = 200        # events being handled at once before the poller waits
REMEMBERED_SCREENS = 16    # paged screens kept per parent for «Ещё ▶»
START_WORDS = {"начать", "старт", "start", "меню"}
CHAT_PEER_START = 2_000_000_000


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """The text in parts of at most `limit` characters, cut at line ends where possible."""
    text = text or "…"
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not parts:
        parts.append(text or "…")
    return parts


class VkAdapter:
    """Per-process VK state (in memory): client kinds, last keyboards, blocked users."""

    def __init__(self, ctx: AppContext, client: VkClient) -> None:
        self.ctx = ctx
        self.client = client
        raw_group = str(ctx.settings.vk_group_id).strip().lstrip("-")
        if not raw_group.isdigit():
            raise ValueError(f"VK_GROUP_ID must be the community's numeric id, got {ctx.settings.vk_group_id!r}")
        self.group_id = int(raw_group)
        self.callback_users: dict[str, bool] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.screens: dict[str, collections.OrderedDict[str, Screen]] = {}
        self.blocked: set[str] = set()
        self.seen: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- events -------------------------------------------------------------

    async def accept(self, raws: list[dict[str, Any]]) -> None:
        """Start handling events; one parent's events run one at a time, in order."""
        for raw in raws:
            user = _event_user(raw)
            if user is None:
                continue
            task = asyncio.create_task(self._handle_in_order(user, raw))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for _ in range(100):  # back-pressure on the poller, bounded
            if len(self._tasks) <= MAX_IN_FLIGHT:
                break
            await asyncio.wait(set(self._tasks), timeout=1, return_when=asyncio.FIRST_COMPLETED)

    async def _handle_in_order(self, user: str, raw: dict[str, Any]) -> bool:
        """Handle one event in its parent's turn; False if it failed (logged, never raised)."""
        lock = self._locks.setdefault(user, asyncio.Lock())
        self._waiting[user] = self._waiting.get(user, 0) + 1
        try:
            async with lock:
                try:
                    await self.on_event(raw)
                    metrics.UPDATES.labels(PLATFORM, "ok").inc()
                except Blocked:
                    await self.mark_unreachable(user)
                except Exception as exc:  # noqa: BLE001 - one bad event must not stop the bot
                    metrics.UPDATES.labels(PLATFORM, "error").inc()
                    # Exception texts may quote SQL parameters (names, SNILS): only the type and
                    # the place at ERROR, the whole traceback at DEBUG.
                    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                    where = f"{frame.filename}:{frame.lineno}" if frame else "?"
                    log.error("VK event %s failed: %s at %s", raw.get("type"), type(exc).__name__, where)
                    log.debug("VK event failure", exc_info=True)
                    return False
                return True
        finally:
            self._waiting[user] -= 1
            if not self._waiting[user]:  # nobody queued behind: forget the lock
                del self._waiting[user]
                self._locks.pop(user, None)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    async def on_event(self, raw: dict[str, Any]) -> None:
        kind = raw.get("type")
        obj = raw.get("object") or {}
        if kind == "message_new":
            await self.on_message(obj)
        elif kind == "message_event":
            await self.on_press(obj)
        elif kind == "message_allow":
            await self.mark_reachable(str(obj.get("user_id")))
        elif kind == "message_deny":
            await self.mark_unreachable(str(obj.get("user_id")))

    async def on_message(self, obj: dict[str, Any]) -> None:
        message = obj.get("message") or {}
        user = str(message.get("from_id"))
        peer_id = int(message.get("peer_id") or 0)
        client_info = obj.get("client_info")
        if isinstance(client_info, dict):
            actions = client_info.get("button_actions") or []
            self.callback_users[user] = "callback" in actions and client_info.get("inline_keyboard", True) is not False
        if user in self.blocked or user not in self.seen:
            await self.mark_reachable(user)
        cause = f"m{message.get('conversation_message_id') or message.get('id')}"
        inp = self.input_from_message(user, message)
        if inp is None:
            return
        if inp.kind == "button" and (page := kb.parse_page_action(inp.action)):
            await self.show_page(user, peer_id, page, cause, edit_cmid=None)
            return
        reply = await metrics.step(PLATFORM, self.ctx.dialogs.handle(PLATFORM, user, inp.with_event(cause)))
        await self.deliver(user, peer_id, reply, cause)
        await self.replied(user, cause)

    def input_from_message(self, user: str, message: dict[str, Any]) -> Input | None:
        """A typed message or a text-button press as the dialogs' Input."""
        payload = message.get("payload")
        text = str(message.get("text") or "")
        ref = message.get("ref")
        if isinstance(ref, str) and looks_shared(ref):
            # The community's link with ?ref=p_<id> (a shared program): its card (or why not).
            return Input(kind="command", command="start", text=ref[:128])
        if payload is not None:
            if kb.is_start_payload(payload):
                return Input(kind="command", command="start")
            action = kb.action_from_payload(payload)
            if action is not None:
                return Input.press(action)
        stripped = " ".join(text.split())
        action = self.labels.get(user, {}).get(stripped)
        if action is not None:
            return Input.press(action)
        if stripped.lower() in START_WORDS:
            return Input(kind="command", command="start")
        return Input.from_text(text)

    async def on_press(self, obj: dict[str, Any]) -> None:
        user = str(obj.get("user_id"))
        peer_id = int(obj.get("peer_id") or obj.get("user_id") or 0)
        event_id = str(obj.get("event_id") or "")
        cmid = obj.get("conversation_message_id")
        self.callback_users[user] = True  # only a callback-capable client sends message_event
        action = kb.action_from_payload(obj.get("payload"))
        notice: str | None = None
        try:
            if action is None:
                return
            cause = f"e{event_id}"
            if page := kb.parse_page_action(action):
                await self.show_page(user, peer_id, page, cause, edit_cmid=cmid)
                return
            inp = Input.press(action).with_event(cause)
            reply = await metrics.step(PLATFORM, self.ctx.dialogs.handle(PLATFORM, user, inp))
            notice = reply.notice
            await self.deliver(user, peer_id, reply, cause, edit_cmid=cmid)
            await self.replied(user, cause)
        finally:
            await self.answer_press(event_id, user, peer_id, notice)

    async def replied(self, user: str, cause: str) -> None:
        """The answer went out: a copy of the event delivered again gets none."""
        try:
            await self.ctx.dialogs.replied(PLATFORM, user, cause)
        except Exception as exc:  # noqa: BLE001 - a copy would only see its screen again
            log.warning("VK: marking an event answered failed: %s", type(exc).__name__)

    async def handle_now(self, raw: dict[str, Any]) -> bool:
        """Handle one event and return once it was (the Callback API answers `ok` then);
        False if handling or answering it failed (VK is then asked to send it again)."""
        user = _event_user(raw)
        return True if user is None else await self._handle_in_order(user, raw)

    async def answer_press(self, event_id: str, user: str, peer_id: int, notice: str | None) -> None:
        params: dict[str, Any] = {"event_id": event_id, "user_id": int(user), "peer_id": peer_id}
        if notice:
            params["event_data"] = json.dumps({"type": "show_snackbar", "text": notice[:90]}, ensure_ascii=False)
        with contextlib.suppress(DeliveryError):  # the press spinner times out by itself
            await self.client.call("messages.sendMessageEventAnswer", **params)

    # --- screens out -------------------------------------------------------------

    def uses_callbacks(self, user: str) -> bool:
        return self.callback_users.get(user, False)

    def _remember(self, user: str, screen: Screen) -> None:
        store = self.screens.setdefault(user, collections.OrderedDict())
        key = kb.screen_key(screen)
        store[key] = screen
        store.move_to_end(key)
        while len(store) > REMEMBERED_SCREENS:
            store.popitem(last=False)

    async def deliver(self, user: str, peer_id: int, reply: Reply, cause: str,
                      edit_cmid: int | None = None) -> None:
        """The reply's screens: the first edits the pressed message when it can, the rest are new."""
        if user in self.blocked:
            return
        inline = self.uses_callbacks(user)
        any_buttons = any(screen.rows for screen in reply.screens)
        part = 0
        for index, screen in enumerate(reply.screens):
            page = kb.render(screen, inline=inline)
            if page is not None and page.pages > 1:
                self._remember(user, screen)
            if not inline and page is not None:
                self.labels[user] = page.labels
            # A photo is never an edit of a text message: it comes as a new one.
            if index == 0 and edit_cmid and inline and not screen.image:
                if await self.edit(peer_id, edit_cmid, screen.text, page):
                    continue
            keyboard = page.keyboard if page is not None else None
            if not inline and not any_buttons and index == len(reply.screens) - 1:
                keyboard = kb.EMPTY_KEYBOARD  # typed input is expected: put the old buttons away
                self.labels.pop(user, None)
            attachment = await self.photo(peer_id, screen.image) if screen.image else None
            part = await self.send_screen(peer_id, screen.text, keyboard, cause, part, attachment=attachment)

    async def photo(self, peer_id: int, path: str) -> str | None:
        """The uploaded picture's attachment; None (the caption goes alone) when it cannot be had."""
        if not os.path.isfile(path):
            return None
        try:
            return await upload_photo(self.client, peer_id, path)
        except Blocked:
            raise
        except DeliveryError as exc:
            log.warning("VK photo upload failed: %s", type(exc).__name__)
            return None

    async def send_screen(self, peer_id: int, text: str, keyboard: str | None, cause: str, part: int,
                          attempts: int | None = None, attachment: str | None = None) -> int:
        """Send the text (in parts if long; the keyboard and `attachment` on the last);
        returns the next part index."""
        chunks = split_text(text)
        for number, chunk in enumerate(chunks):
            params: dict[str, Any] = {
                "peer_id": peer_id, "message": chunk, "dont_parse_links": 1,
                "random_id": random_id(peer_id, cause, part),
            }
            if keyboard is not None and number == len(chunks) - 1:
                params["keyboard"] = keyboard
            if attachment is not None and number == len(chunks) - 1:
                params["attachment"] = attachment
            await self.client.call("messages.send", attempts=attempts, **params)
            part += 1
        return part

    async def edit(self, peer_id: int, cmid: int, text: str, page: kb.Page | None) -> bool:
        """Replace the pressed message; False when VK refuses (then the screen is sent anew)."""
        if len(text) > MAX_TEXT:
            return False
        keyboard = page.keyboard if page is not None else kb.EMPTY_INLINE_KEYBOARD
        try:
            await self.client.call("messages.edit", peer_id=peer_id, conversation_message_id=cmid,
                                   message=text or "…", keyboard=keyboard, dont_parse_links=1)
        except Blocked:
            raise
        except DeliveryError:
            return False
        return True

    async def show_page(self, user: str, peer_id: int, page_ref: tuple[int, str], cause: str,
                        edit_cmid: int | None) -> None:
        number, key = page_ref
        screen = self.screens.get(user, {}).get(key)
        if screen is None:
            # Not remembered here: shown by another process behind the balancer, or before a
            # restart. The parent's screen is rebuilt from their stored state; if it has moved
            # on since, they get the screen they are on instead of silence.
            reply = await self.ctx.dialogs.current(PLATFORM, user)
            if reply is None:
                return
            screen = next((shown for shown in reply.screens if kb.screen_key(shown) == key), None)
            if screen is None:
                await self.deliver(user, peer_id, reply, cause, edit_cmid=edit_cmid)
                return
            self._remember(user, screen)
        inline = self.uses_callbacks(user)
        page = kb.render(screen, inline=inline, page=number)
        if page is None:
            return
        if inline and edit_cmid:
            if await self.edit(peer_id, edit_cmid, screen.text, page):
                return
        if not inline:
            self.labels[user] = page.labels
            await self.send_screen(peer_id, f"{page.page + 1}/{page.pages}", page.keyboard, cause, 0)
        else:
            await self.send_screen(peer_id, screen.text, page.keyboard, cause, 0)

    # --- reachability -------------------------------------------------------------

    async def mark_unreachable(self, user: str) -> None:
        """VK refused to deliver (901) or the parent denied messages: stop writing to them."""
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


def _event_user(raw: dict[str, Any]) -> str | None:
    """The VK user a private-dialog event is about; None for chats, groups and other events."""
    if not isinstance(raw, dict):
        return None
    obj = raw.get("object")
    if not isinstance(obj, dict):
        return None
    kind = raw.get("type")
    if kind == "message_new":
        message = obj.get("message")
        if not isinstance(message, dict):
            return None
        from_id, peer_id = message.get("from_id"), message.get("peer_id")
        if isinstance(from_id, int) and from_id > 0 and peer_id == from_id:
            return str(from_id)
        return None
    if kind in ("message_event", "message_allow", "message_deny"):
        user_id = obj.get("user_id")
        peer_id = obj.get("peer_id", user_id)
        if isinstance(user_id, int) and user_id > 0 and peer_id == user_id:
            return str(user_id)
    return None


# --- the adapter contract (bot/runtime.py) -------------------------------------------

class VkSender:
    """Alerts and notices as new messages; failures as bot.delivery errors."""
    platform = PLATFORM

    def __init__(self, adapter: VkAdapter) -> None:
        self.adapter = adapter

    async def send(self, user_id: str, screen: Screen) -> None:
        user = str(user_id)
        if user in self.adapter.blocked:
            raise Blocked(f"vk user {user} forbade messages")
        digest = hashlib.sha256(
            json.dumps([screen.text, [b.action for b in screen.buttons]], ensure_ascii=False).encode()
        ).hexdigest()[:16]
        # Same alert, same day: the same random_id, so a retried send shows once.
        cause = f"alert:{self.adapter.ctx.clock.today().isoformat()}:{digest}"
        adapter = self.adapter
        inline = adapter.uses_callbacks(user)
        page = kb.render(screen, inline=inline)
        if page is not None and page.pages > 1:
            adapter._remember(user, screen)
        if page is not None and not inline:
            adapter.labels[user] = page.labels
        try:
            # No retrying here: the alert worker paces the platform on RetryLater and
            # backs off on TransientError; the random_id makes its retry safe.
            await adapter.send_screen(int(user), screen.text, page.keyboard if page else None, cause, 0,
                                      attempts=1)
        except Blocked:
            await adapter.mark_unreachable(user)
            raise


_ADAPTERS: dict[int, tuple[AppContext, VkAdapter]] = {}


def _adapter_for(ctx: AppContext) -> VkAdapter:
    """One adapter (one limiter for the one token) per AppContext."""
    entry = _ADAPTERS.get(id(ctx))
    if entry is None or entry[0] is not ctx:
        settings = ctx.settings
        api = VkApiAt(settings.vk_group_token.get_secret_value(), settings.vk_api_url)
        # With REDIS_URL every process's calls count in one window (bot/jobs/shared_pacing.py).
        limiter = shared_gate(settings, PLATFORM) or RateLimiter(20, 1.0)
        entry = (ctx, VkAdapter(ctx, VkClient(api, limiter)))
        _ADAPTERS[id(ctx)] = entry
    return entry[1]


def make_sender(ctx: AppContext) -> VkSender:
    return VkSender(_adapter_for(ctx))


async def _serve_callbacks(ctx: AppContext, adapter: VkAdapter, secret: str, stop: asyncio.Event) -> None:
    """Callback API mode: VK POSTs events to /vk/callback (bot/handlers/vk_callback.py)."""
    from bot.handlers.vk_callback import PATH, CallbackEndpoint

    endpoint = CallbackEndpoint(adapter, secret, in_flight.for_context(ctx))
    ctx.http_routes.append(endpoint.route())   # before the first await
    log.info("VK: community %s through the Callback API at %s", adapter.group_id, PATH)
    try:
        await stop.wait()
    finally:
        await adapter.drain(timeout=10)
        log.info("VK: stopped")


async def serve(ctx: AppContext, stop: asyncio.Event) -> None:
    """Serve the community's messages until `stop` is set."""
    adapter = _adapter_for(ctx)
    ctx.senders[PLATFORM] = VkSender(adapter)
    secret = ctx.settings.vk_callback_secret.get_secret_value()
    if secret:
        await _serve_callbacks(ctx, adapter, secret, stop)
        return
    loop = asyncio.get_running_loop()
    stopping = threading.Event()
    thread = threading.Thread(
        target=poll_forever, name="vk-longpoll", daemon=True,
        args=(adapter.client, adapter.group_id, LONGPOLL_WAIT, loop, stopping, adapter.accept))
    thread.start()
    log.info("VK: serving community %s", adapter.group_id)
    try:
        await stop.wait()
    finally:
        stopping.set()
        await asyncio.to_thread(thread.join, LONGPOLL_WAIT + 15)
        await adapter.drain(timeout=10)
        log.info("VK: stopped")
