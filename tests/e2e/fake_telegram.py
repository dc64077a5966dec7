"""A fake Telegram Bot API server on 127.0.0.1, for end-to-end tests.

It speaks the HTTP Bot API the way aiogram (or any client) uses it:
`POST /bot<token>/<method>` with form, multipart, JSON or query parameters,
answering `{"ok": true, "result": …}` or `{"ok": false, "error_code": …,
"description": …}` with Telegram's status codes and descriptions. getUpdates
is a real long poll: it honours `offset` (confirming earlier updates) and
`timeout` (capped, so nothing waits forever).

Test side:
    fake = FakeTelegram(); await fake.start()      # fake.base_url → TELEGRAM_API_URL
    fake.push_message(user_id, "/start")
    fake.push_callback(user_id, message_id, "menu")  # or: fake.press(user_id, "Найти кружок")
    await fake.wait_for(lambda: ..., timeout=5)
    fake.view(user_id)  → the chat as the parent sees it now (edits applied)
    fake.block(chat_id) / fake.throttle(chat_id, retry_after=3, times=2)
    await fake.close()
Every call is recorded in `fake.calls` (method, params, chat, status).

Webhook mode, as Telegram does it: once the bot called setWebhook (its arguments kept in
`fake.webhooks`), getUpdates answers 409 and every pushed update is POSTed to the URL with
the header X-Telegram-Bot-Api-Secret-Token until it is answered 2xx (a non-2xx answer, a
timeout or a refused connection: sent again after a pause); one chat's updates in order, one
at a time, different chats' side by side (up to `max_connections`). Each delivery is
recorded in `fake.deliveries` with how many writes the chat had seen when it was POSTed and
when its answer came. A test may also POST anything itself: `await fake.post_webhook(update,
secret=…)`; `fake.new_message_update(user, text)` makes an update without queueing it.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.e2e.ports import serve_on_free_port

DEFAULT_TOKEN = "123456789:TEST-token_for-the-fake-server"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Сертификат", "username": "cert_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_POLL_SECONDS = 10.0
WEBHOOK_TIMEOUT = 20.0           # a webhook request not answered within this is sent again
WEBHOOK_RETRY_PAUSES = (0.1, 0.2, 0.5, 1.0)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class Call:
    seq: int
    method: str
    params: dict[str, Any]
    chat_id: int | None
    status: int | str = 200   # "stalled" while held by stall()
    at: float = field(default_factory=time.monotonic)
    files: dict[str, bytes] = field(default_factory=dict)   # multipart uploads by field name


@dataclass
class StoredMessage:
    message_id: int
    chat_id: int
    from_bot: bool
    text: str
    reply_markup: dict[str, Any] | None
    date: int
    edited: int = 0
    deleted: bool = False
    photo: bytes | None = None      # a sendPhoto's picture; `text` is then its caption

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        """Inline keyboard as rows of (label, callback_data)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[(b.get("text", ""), b.get("callback_data", "")) for b in row] for row in rows]

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]


@dataclass
class Delivery:
    """One POST of an update to the bot's webhook."""
    update_id: int
    chat_id: int | None
    status: int | None              # None: timed out or the connection failed
    writes_before: int              # successful writes to the chat when the update was POSTed …
    writes_after: int = 0           # … and when its answer came


@dataclass
class Failure:
    code: int
    description: str
    parameters: dict[str, Any] | None
    methods: frozenset[str] | None  # None: every method aimed at the chat
    times: int | None               # None: until cleared


class FakeTelegram:
    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.messages: dict[int, dict[int, StoredMessage]] = {}   # chat → message_id → message
        self.callbacks: dict[str, dict[str, Any]] = {}            # id → {"user": …, "answered": …}
        self.texts_sent: list[tuple[int, str]] = []                # every text the bot sent or edited in
        self.photos: list[tuple[int, bytes, str]] = []             # (chat, PNG bytes, caption) of sendPhoto
        self.failures: dict[int, list[Failure]] = {}
        self.delays: dict[int, float] = {}                          # chat → seconds each write waits
        self.stalled: dict[int, asyncio.Event] = {}               # chat → writes wait for it
        self._next_update = 1
        self._next_message: dict[int, int] = {}
        self._seq = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.webhooks: list[dict[str, Any]] = []                   # every setWebhook's arguments
        self.webhook: dict[str, Any] | None = None                 # the one in force
        self.deliveries: list[Delivery] = []
        self._delivering: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self.port is not None, "start() the server first"
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self.port = await serve_on_free_port(self._runner)
        return self.base_url

    async def close(self) -> None:
        self._closing = True
        for chat_id in list(self.stalled):
            self.unstall(chat_id)
        await self._notify()
        if self._delivering is not None:
            self._delivering.cancel()
            with contextlib.suppress(BaseException):
                await self._delivering
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeTelegram":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the test's side: what the parents do -------------------------------
    def user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"Parent{user_id}", "language_code": "ru"}

    def _chat(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": "private", "first_name": f"Parent{user_id}"}

    def _new_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update_id = self._next_update
        self._next_update += 1
        return {"update_id": update_id, **payload}

    def _push_update(self, payload: dict[str, Any]) -> int:
        update = self._new_update(payload)
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update["update_id"]

    def new_message_update(self, user_id: int, text: str) -> dict[str, Any]:
        """An update of the parent typing `text`, not queued: for a test to POST itself."""
        message = self._store(user_id, from_bot=False, text=text, reply_markup=None)
        return self._new_update({"message": self._message_json(message)})

    def push_message(self, user_id: int, text: str) -> int:
        """The parent types `text`; returns the update id."""
        message = self._store(user_id, from_bot=False, text=text, reply_markup=None)
        return self._push_update({"message": self._message_json(message)})

    def push_callback(self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None) -> str:
        """The parent presses a button with `data` on message `message_id` (in `chat_id`, default theirs).

        The data may be anything, as from a forged client; returns the callback query id.
        """
        chat = user_id if chat_id is None else chat_id
        message = self.messages.get(chat, {}).get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat}")
        query_id = f"cq{next(self._callback_ids)}"
        self.callbacks[query_id] = {"user": user_id, "data": data, "answered": None, "message_id": message_id}
        self._push_update({"callback_query": {
            "id": query_id, "from": self.user(user_id), "message": self._message_json(message),
            "chat_instance": f"ci{chat}", "data": data,
        }})
        return query_id

    def button(self, user_id: int, label: str) -> tuple[int, str]:
        """(message_id, callback_data) of the button labelled `label` (exactly, else containing it)
        on the newest bot message that has one."""
        for message in sorted(self.chat(user_id), key=lambda m: m.message_id, reverse=True):
            flat = [button for row in message.buttons for button in row]
            for text, data in flat:
                if text == label:
                    return message.message_id, data
            for text, data in flat:
                if label in text:
                    return message.message_id, data
        raise AssertionError(f"no button {label!r} in chat {user_id}; the chat shows:\n{self.transcript(user_id)}")

    def press(self, user_id: int, label: str) -> str:
        """Press a button by its label (see `button`); returns the callback query id."""
        message_id, data = self.button(user_id, label)
        return self.push_callback(user_id, message_id, data)

    # --- the test's side: what the parents see ------------------------------
    def chat(self, user_id: int) -> list[StoredMessage]:
        """The bot's visible messages in a chat, oldest first (edits applied, deleted ones gone)."""
        return [m for _, m in sorted(self.messages.get(user_id, {}).items()) if m.from_bot and not m.deleted]

    def view(self, user_id: int) -> StoredMessage:
        """The newest visible bot message in the chat."""
        messages = self.chat(user_id)
        if not messages:
            raise AssertionError(f"the bot has not written to {user_id}")
        return messages[-1]

    def transcript(self, user_id: int, last: int = 5) -> str:
        lines = []
        for m in self.chat(user_id)[-last:]:
            lines.append(f"#{m.message_id}: {m.text}")
            if m.buttons:
                lines.append("  buttons: " + " | ".join(m.labels))
        return "\n".join(lines) or "(empty)"

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def seen(self, method: str) -> bool:
        return any(c.method == method for c in self.calls)

    def unanswered_callbacks(self) -> list[str]:
        return [qid for qid, cb in self.callbacks.items() if cb["answered"] is None]

    def mark(self) -> int:
        """A position in the call log; pass it to `wait_reply(since=…)`."""
        return self.calls[-1].seq if self.calls else 0

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (bounded) until `predicate()` is true; fail with a readable message otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout}s; last calls: "
                                     f"{[(c.method, c.chat_id, c.status) for c in self.calls[-8:]]}")
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.2))
            except asyncio.TimeoutError:
                pass

    async def wait_reply(self, user_id: int, since: int, *, callback: str | None = None,
                         quiet: float = 0.25, timeout: float = 10.0) -> StoredMessage:
        """Wait until the bot has answered an action: it wrote to the chat after `since`, answered
        `callback` if given, and then stayed quiet in that chat for `quiet` seconds."""
        def wrote() -> bool:
            return any(c.seq > since and c.chat_id == user_id and c.status == 200 and c.method in _WRITES
                       for c in self.calls)

        def answered() -> bool:
            return callback is None or self.callbacks[callback]["answered"] is not None

        await self.wait_for(lambda: (wrote() or callback is not None) and answered(), timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = max((c.at for c in self.calls if c.chat_id == user_id), default=0.0)
            if time.monotonic() - last >= quiet:
                break
            await asyncio.sleep(quiet / 4)
        return self.view(user_id)

    async def say(self, user_id: int, text: str, **kw: Any) -> StoredMessage:
        """The parent types `text`; returns the newest bot message once the bot is done answering."""
        since = self.mark()
        self.push_message(user_id, text)
        return await self.wait_reply(user_id, since, **kw)

    async def click(self, user_id: int, label: str, **kw: Any) -> StoredMessage:
        """The parent presses a button by its label; returns the newest bot message once answered."""
        since = self.mark()
        query = self.press(user_id, label)
        return await self.wait_reply(user_id, since, callback=query, **kw)

    # --- the test's side: misbehaving on purpose -----------------------------
    def block(self, chat_id: int) -> None:
        """The parent blocked the bot: every write to the chat is 403."""
        self.failures.setdefault(chat_id, []).append(
            Failure(403, "Forbidden: bot was blocked by the user", None, None, None))

    def throttle(self, chat_id: int, retry_after: int = 1, times: int | None = 1,
                 methods: tuple[str, ...] = ("sendMessage",)) -> None:
        """Answer 429 with `retry_after` to the next `times` calls of `methods` for the chat."""
        self.failures.setdefault(chat_id, []).append(Failure(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after},
            frozenset(methods), times))

    def fail(self, chat_id: int, code: int, description: str, *, times: int | None = 1,
             methods: tuple[str, ...] | None = None) -> None:
        self.failures.setdefault(chat_id, []).append(
            Failure(code, description, None, frozenset(methods) if methods else None, times))

    def slow_down(self, chat_id: int, seconds: float) -> None:
        """Every write to the chat takes `seconds` before it is done (0: no more)."""
        self.delays[chat_id] = seconds
    def stall(self, chat_id: int) -> None:
        """Writes to the chat hang (the bot's reply stays in flight) until `unstall`; a stalled
        write is then refused with 502 and nothing stored (its sender is gone, e.g. killed)."""
        self.stalled.setdefault(chat_id, asyncio.Event())

    def unstall(self, chat_id: int) -> None:
        event = self.stalled.pop(chat_id, None)
        if event is not None:
            event.set()

    def stalled_writes(self, chat_id: int) -> int:
        return sum(1 for c in self.calls if c.chat_id == chat_id and c.status == "stalled")

    def clear_failures(self, chat_id: int | None = None) -> None:
        if chat_id is None:
            self.failures.clear()
        else:
            self.failures.pop(chat_id, None)

    # --- webhook mode ---------------------------------------------------------
    def writes_to(self, chat_id: int | None) -> int:
        """Successful writes to a chat so far (messages sent or edited, presses answered)."""
        return sum(1 for c in self.calls if c.chat_id == chat_id and c.status == 200
                   and (c.method in _WRITES or c.method == "answerCallbackQuery"))

    async def post_webhook(self, update: dict[str, Any], *, secret: str | None = None,
                           timeout: float = WEBHOOK_TIMEOUT) -> Delivery:
        """POST one update to the webhook in force (the secret: `secret`, or none if None),
        recorded in `deliveries`."""
        assert self.webhook is not None, "the bot has not called setWebhook"
        chat = _chat_of(update)
        delivery = Delivery(update["update_id"], chat, None, self.writes_to(chat))
        self.deliveries.append(delivery)
        headers = {} if secret is None else {SECRET_HEADER: secret}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.post(self.webhook["url"], json=update, headers=headers) as response:
                    await response.read()
                    delivery.status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            delivery.status = None
        delivery.writes_after = self.writes_to(chat)
        await self._notify()
        return delivery

    def delivered(self, update_id: int) -> bool:
        """The update was answered 2xx by the webhook."""
        return any(d.update_id == update_id and d.status is not None and 200 <= d.status < 300
                   for d in self.deliveries)

    @property
    def last_update_id(self) -> int:
        """The id of the update pushed last."""
        return self._next_update - 1

    async def _deliver_updates(self) -> None:
        """Telegram's side of a webhook: the queued updates, each until answered 2xx; one chat's
        in order, one at a time, different chats side by side (up to max_connections)."""
        sending: dict[int | None, asyncio.Task[None]] = {}
        while not self._closing:
            for chat, task in list(sending.items()):
                if task.done():
                    del sending[chat]
            if self.webhook is not None:
                limit = int(self.webhook.get("max_connections") or 40)
                for update in list(self.updates):
                    chat = _chat_of(update)
                    if len(sending) >= limit:
                        break
                    if chat not in sending:
                        sending[chat] = asyncio.get_running_loop().create_task(self._deliver(update))
            async with self._changed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=0.5)
        for task in sending.values():
            task.cancel()

    async def _deliver(self, update: dict[str, Any]) -> None:
        """One update, sent again after a pause until it is answered 2xx."""
        failures = 0
        while not self._closing and self.webhook is not None:
            delivery = await self.post_webhook(update, secret=self.webhook.get("secret_token"))
            if delivery.status is not None and 200 <= delivery.status < 300:
                with contextlib.suppress(ValueError):
                    self.updates.remove(update)
                await self._notify()
                return
            await asyncio.sleep(WEBHOOK_RETRY_PAUSES[min(failures, len(WEBHOOK_RETRY_PAUSES) - 1)])
            failures += 1

    # --- the HTTP side -------------------------------------------------------
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle_file(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _params(self, request: web.Request, files: dict[str, bytes] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = value if isinstance(value, str) else getattr(value, "filename", "")
                    if not isinstance(value, str) and files is not None:
                        files[key] = value.file.read()
        # Form values arrive as strings; nested objects as JSON strings.
        for key in ("reply_markup", "commands", "allowed_updates", "scope"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
        return params

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        call = Call(seq=next(self._seq), method=method, params={}, chat_id=None)
        self.calls.append(call)
        try:
            call.params = await self._params(request, call.files)
            call.chat_id = _int_or_none(call.params.get("chat_id"))
            if method in ("answerCallbackQuery",):
                cb = self.callbacks.get(str(call.params.get("callback_query_id")))
                call.chat_id = cb["user"] if cb else None
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            if call.chat_id in self.delays and method in _WRITES:
                await asyncio.sleep(self.delays[call.chat_id])
            stalled = self.stalled.get(call.chat_id) if method in _WRITES and call.chat_id else None
            if stalled is not None:
                call.status = "stalled"
                await self._notify()
                await stalled.wait()
                raise ApiError(502, "Bad Gateway")
            self._maybe_fail(method, call.chat_id)
            result = await (handler(call.params, call.files) if method == "sendPhoto" else handler(call.params))
        except ApiError as exc:
            call.status = exc.code
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            await self._notify()
            return web.json_response(body, status=exc.code)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _maybe_fail(self, method: str, chat_id: int | None) -> None:
        if chat_id is None or method not in _WRITES:
            return
        for failure in list(self.failures.get(chat_id, [])):
            if failure.methods is not None and method not in failure.methods:
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failures[chat_id].remove(failure)
            raise ApiError(failure.code, failure.description, failure.parameters)

    def _store(self, chat_id: int, *, from_bot: bool, text: str, reply_markup: dict[str, Any] | None) -> StoredMessage:
        message_id = self._next_message.get(chat_id, 0) + 1
        self._next_message[chat_id] = message_id
        message = StoredMessage(message_id, chat_id, from_bot, text, reply_markup, int(time.time()))
        self.messages.setdefault(chat_id, {})[message_id] = message
        return message

    def _message_json(self, m: StoredMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": m.message_id,
            "from": BOT_USER if m.from_bot else self.user(m.chat_id),
            "chat": self._chat(m.chat_id),
            "date": m.date,
        }
        if m.photo is not None:
            data["photo"] = [{"file_id": f"ph{m.chat_id}_{m.message_id}", "file_unique_id": f"u{m.message_id}",
                              "width": 720, "height": 900, "file_size": len(m.photo)}]
            if m.text:
                data["caption"] = m.text
        else:
            data["text"] = m.text
        if m.edited:
            data["edit_date"] = m.edited
        if m.reply_markup and m.reply_markup.get("inline_keyboard"):
            data["reply_markup"] = m.reply_markup
        return data

    @staticmethod
    def _check_text(params: dict[str, Any]) -> str:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    if not button.get("text"):
                        raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _find(self, params: dict[str, Any]) -> StoredMessage:
        chat_id = _int_or_none(params.get("chat_id"))
        message_id = _int_or_none(params.get("message_id"))
        if chat_id is None or chat_id not in self.messages:
            raise ApiError(400, "Bad Request: chat not found")
        message = self.messages[chat_id].get(message_id or 0)
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    # --- the methods ---------------------------------------------------------
    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        return True

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not (1 <= len(str(secret)) <= 256):
            raise ApiError(400, "Bad Request: secret token is invalid")
        self.webhooks.append(dict(params))
        self.webhook = dict(params)
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        if self._delivering is None:
            self._delivering = asyncio.get_running_loop().create_task(self._deliver_updates())
        return True

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands list is invalid")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not (1 <= len(name) <= 32 and name == name.lower() and name.replace("_", "").isalnum()
                    and name.isascii()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = commands
        return True

    async def _m_getmycommands(self, params: dict[str, Any]) -> Any:
        return self.commands

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = _int_or_none(params.get("offset")) or 0
        limit = min(max(_int_or_none(params.get("limit")) or 100, 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_POLL_SECONDS)
        if offset:
            # Confirming: updates below the offset are gone for good.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self.updates and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                break
        return self.updates[:limit]

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat_id = _int_or_none(params.get("chat_id"))
        if chat_id is None or chat_id not in self.messages:
            raise ApiError(400, "Bad Request: chat not found")
        text = self._check_text(params)
        markup = self._check_markup(params)
        message = self._store(chat_id, from_bot=True, text=text, reply_markup=markup)
        self.texts_sent.append((chat_id, text))
        return self._message_json(message)

    async def _m_sendphoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """A new photo message: the picture uploaded in the multipart body (`photo` is the
        file field itself, or "attach://<field>"), a caption of at most 1024 characters."""
        chat_id = _int_or_none(params.get("chat_id"))
        if chat_id is None or chat_id not in self.messages:
            raise ApiError(400, "Bad Request: chat not found")
        reference = params.get("photo")
        field = reference[len("attach://"):] if isinstance(reference, str) and reference.startswith("attach://") \
            else "photo"
        picture = files.get(field)
        if not picture:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        if len(picture) > 10 * 1024 * 1024:
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        if not picture.startswith(b"\x89PNG\r\n\x1a\n") and not picture.startswith(b"\xff\xd8"):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        caption = params.get("caption") or ""
        if len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._check_markup(params)
        message = self._store(chat_id, from_bot=True, text=caption, reply_markup=markup)
        message.photo = picture
        self.photos.append((chat_id, picture, caption))
        return self._message_json(message)

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        if message.photo is not None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = self._check_text(params)
        markup = self._check_markup(params)
        if text == message.text and (markup or None) == (message.reply_markup or None):
            raise ApiError(400, NOT_MODIFIED)
        message.text, message.reply_markup, message.edited = text, markup, int(time.time())
        self.texts_sent.append((message.chat_id, text))
        return self._message_json(message)

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        markup = self._check_markup(params)
        if (markup or None) == (message.reply_markup or None):
            raise ApiError(400, NOT_MODIFIED)
        message.reply_markup, message.edited = markup, int(time.time())
        return self._message_json(message)

    async def _m_deletemessage(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        message.deleted = True
        return True

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        cb = self.callbacks.get(str(params.get("callback_query_id")))
        if cb is None or cb["answered"] is not None:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        text = params.get("text") or ""
        if len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        cb["answered"] = {"text": text, "show_alert": str(params.get("show_alert", "")).lower() == "true"}
        return True

    async def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_close(self, params: dict[str, Any]) -> Any:
        return True


_WRITES = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessage",
                     "sendChatAction", "sendPhoto", "sendDocument"})


def _chat_of(update: dict[str, Any]) -> int | None:
    event = update.get("message") or update.get("callback_query") or {}
    return _int_or_none((event.get("from") or {}).get("id"))


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
