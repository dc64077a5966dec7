"""A fake VK API and Bots Long Poll server on 127.0.0.1, for end-to-end tests of the VK adapter.

It answers what the adapter calls (groups.getLongPollServer, groups.getById,
messages.send / edit / sendMessageEventAnswer) the way VK API 5.199 does for
a community token, and serves a real (bounded) long poll of the events a
test pushes. It records every call, keeps each user's chat as the user
would see it (messages, the inline keyboard under a message, the persistent
keyboard), drops a repeated random_id like VK, and misbehaves on demand:
`fail_api(method, code)` (e.g. error 6 once), `block(user)` (error 901),
`fail_longpoll(2)`.

A test plays the parent:

    fake.user_says(7, "Начать", callbacks=True)
    await fake.wait_for(lambda: fake.last(7).text.startswith("Здравствуйте"))
    fake.press(7, "Даю согласие")      # a callback button, or the text button's label
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GROUP_ID = 777
TOKEN = "vk-fake-community-token"
CHAT_PEER_START = 2_000_000_000


@dataclass
class VkButton:
    label: str
    kind: str          # "callback" | "text"
    payload: str | None

    @property
    def action(self) -> str | None:
        try:
            return json.loads(self.payload or "").get("a")
        except (ValueError, AttributeError):
            return None


@dataclass
class VkMessage:
    message_id: int
    cmid: int
    peer_id: int
    text: str
    out: bool                      # sent by the community
    keyboard: dict[str, Any] | None = None
    random_id: int = 0
    edits: int = 0
    attachments: list[str] = field(default_factory=list)   # "photo<owner>_<id>"

    @property
    def inline(self) -> bool:
        return bool(self.keyboard and self.keyboard.get("inline"))

    @property
    def buttons(self) -> list[VkButton]:
        return _buttons(self.keyboard) if self.inline else []


def _buttons(keyboard: dict[str, Any] | None) -> list[VkButton]:
    result = []
    for row in (keyboard or {}).get("buttons", []):
        for button in row:
            action = button.get("action", {})
            result.append(VkButton(action.get("label", ""), action.get("type", ""), action.get("payload")))
    return result


@dataclass
class Call:
    method: str
    params: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class FakeVk:
    def __init__(self, group_id: int = GROUP_ID, token: str = TOKEN) -> None:
        self.group_id = group_id
        self.token = token
        self.calls: list[Call] = []
        self.events: list[dict[str, Any]] = []
        self.ts_base = 1000
        self.key_serial = 1
        self.longpoll_failures: list[int] = []
        self.longpoll_requests = 0
        self.api_failures: list[tuple[str, int]] = []   # (method, error code), consumed in order
        self.blocked: set[int] = set()
        self.messages: dict[int, list[VkMessage]] = {}
        self.persistent: dict[int, dict[str, Any] | None] = {}  # peer → current text keyboard
        self.snackbars: list[dict[str, Any]] = []
        self.uploads: dict[str, tuple[int, bytes]] = {}       # upload token → (peer, PNG) not saved yet
        self.photos: dict[str, tuple[int, bytes]] = {}        # "photo<owner>_<id>" → (peer, PNG) saved
        self._next_photo = 9000
        self._by_random_id: dict[tuple[int, int], VkMessage] = {}
        self._next_message_id = 500
        self._next_event = 1
        self.confirmation_code = "c0nf1rm"
        self.posted = 0                                       # events already POSTed (Callback API)
        self.callback_answers: list[tuple[str, int, str]] = []  # (event_id, status, body)
        self._callback_url, self._callback_secret = "", ""          # deliver_to(): POSTed by itself
        self._auto_from = 0
        self._answered: set[str] = set()
        self._delivering: asyncio.Task[None] | None = None
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- the server -----------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What VK_API_URL is set to."""
        return f"{self.url}/method/"

    @property
    def key(self) -> str:
        return f"key{self.key_serial}"

    @property
    def ts(self) -> int:
        return self.ts_base + len(self.events)

    async def start(self) -> "FakeVk":
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/method/{name}", self._method)
        app.router.add_get("/lp", self._longpoll)
        app.router.add_post("/upload/photo/{peer}", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._delivering is not None:
            self._delivering.cancel()
            with contextlib.suppress(BaseException):
                await self._delivering
            self._delivering = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeVk":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _poke(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    # --- API methods ------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        self.calls.append(Call(name, params))
        try:
            body = {"response": self._answer(name, params)}
        except _VkError as error:
            body = {"error": {"error_code": error.code, "error_msg": error.message,
                              "request_params": [{"key": "method", "value": name}]}}
        self._poke()
        return web.json_response(body)

    def _answer(self, name: str, params: dict[str, str]) -> Any:
        if params.get("access_token") != self.token:
            raise _VkError(5, "User authorization failed: invalid access_token")
        if params.get("v") != "5.199":
            raise _VkError(8, "Invalid request: v (version) is required and must be 5.199 here")
        for index, (method, code) in enumerate(self.api_failures):
            if method == name:
                del self.api_failures[index]
                raise _VkError(code, {6: "Too many requests per second", 9: "Flood control"}.get(code, "error"))
        handler = getattr(self, "_api_" + name.replace(".", "_"), None)
        if handler is None:
            raise _VkError(3, f"Unknown method passed: {name}")
        return handler(params)

    def _api_groups_getLongPollServer(self, params: dict[str, str]) -> Any:
        if str(params.get("group_id", "")).lstrip("-") != str(self.group_id):
            raise _VkError(100, "One of the parameters specified was missing or invalid: group_id")
        return {"key": self.key, "server": f"{self.url}/lp", "ts": str(self.ts)}

    def _api_groups_getCallbackConfirmationCode(self, params: dict[str, str]) -> Any:
        if str(params.get("group_id", "")).lstrip("-") != str(self.group_id):
            raise _VkError(100, "One of the parameters specified was missing or invalid: group_id")
        return {"code": self.confirmation_code}

    def _api_groups_getById(self, params: dict[str, str]) -> Any:
        return {"groups": [{"id": self.group_id, "name": "Сертификат ДО", "screen_name": f"club{self.group_id}",
                            "type": "group"}], "profiles": []}

    # --- photos in messages (dev.vk.com/ru/api/upload/photo-in-message) -------------

    def _api_photos_getMessagesUploadServer(self, params: dict[str, str]) -> Any:
        peer_id = int(params.get("peer_id") or 0)
        return {"upload_url": f"{self.url}/upload/photo/{peer_id}", "album_id": -3, "group_id": self.group_id}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload server: a multipart POST with the picture in `photo` (or `file0`)."""
        form = await request.post()
        picture = next((form[name] for name in ("photo", "file0", "file") if name in form), None)
        if picture is None or isinstance(picture, str):
            return web.json_response({"server": 1, "photo": "[]", "hash": ""})
        data = picture.file.read()
        if not data.startswith(b"\x89PNG\r\n\x1a\n") and not data.startswith(b"\xff\xd8"):
            return web.json_response({"error": "ERR_UPLOAD_BAD_IMAGE_SIZE: image is invalid"})
        token = f"up{len(self.uploads) + len(self.photos) + 1}"
        self.uploads[token] = (int(request.match_info["peer"]), data)
        self._poke()
        return web.json_response({"server": 4242, "photo": json.dumps([{"token": token}]), "hash": f"h{token}"})

    def _api_photos_saveMessagesPhoto(self, params: dict[str, str]) -> Any:
        try:
            token = json.loads(params.get("photo") or "")[0]["token"]
        except (ValueError, LookupError, TypeError):
            raise _VkError(100, "One of the parameters specified was missing or invalid: photo") from None
        if token not in self.uploads or params.get("hash") != f"h{token}" or params.get("server") != "4242":
            raise _VkError(121, "Invalid hash")
        self._next_photo += 1
        owner = -self.group_id
        self.photos[f"photo{owner}_{self._next_photo}"] = self.uploads.pop(token)
        return [{"id": self._next_photo, "owner_id": owner, "album_id": -3, "date": int(time.time()),
                 "sizes": [{"type": "x", "width": 720, "height": 900}]}]

    def _api_messages_send(self, params: dict[str, str]) -> Any:
        peer_id = int(params.get("peer_id") or params.get("user_id") or 0)
        if not peer_id:
            raise _VkError(100, "One of the parameters specified was missing or invalid: peer_id")
        if "random_id" not in params:
            raise _VkError(100, "One of the parameters specified was missing or invalid: random_id is required")
        text = params.get("message", "")
        attachments = [a for a in (params.get("attachment") or "").split(",") if a]
        for attachment in attachments:
            if "_".join(attachment.split("_")[:2]) not in self.photos:
                raise _VkError(100, f"One of the parameters specified was missing or invalid: attachment {attachment}")
        if not text and not attachments:
            raise _VkError(100, "One of the parameters specified was missing or invalid: message is empty")
        if len(text) > 4096:
            raise _VkError(914, "Message is too long")
        if peer_id in self.blocked:
            raise _VkError(901, "Can't send messages for users without permission")
        keyboard = self._keyboard(params)
        random_id = int(params["random_id"])
        if random_id and (peer_id, random_id) in self._by_random_id:
            return self._by_random_id[(peer_id, random_id)].message_id   # VK drops the repeat
        message = self._add_message(peer_id, text, out=True, keyboard=keyboard)
        message.random_id = random_id
        message.attachments = attachments
        if random_id:
            self._by_random_id[(peer_id, random_id)] = message
        if keyboard is not None and not keyboard.get("inline"):
            self.persistent[peer_id] = keyboard if keyboard.get("buttons") else None
        return message.message_id

    def _api_messages_edit(self, params: dict[str, str]) -> Any:
        peer_id = int(params.get("peer_id") or 0)
        message = None
        for candidate in self.messages.get(peer_id, []):
            if ("conversation_message_id" in params and candidate.cmid == int(params["conversation_message_id"])) \
                    or ("message_id" in params and candidate.message_id == int(params["message_id"])):
                message = candidate
        if message is None or not message.out:
            raise _VkError(100, "One of the parameters specified was missing or invalid: message not found")
        text = params.get("message", "")
        if not text or len(text) > 4096:
            raise _VkError(100, "One of the parameters specified was missing or invalid: message")
        message.text = text
        message.keyboard = self._keyboard(params)
        message.edits += 1
        return 1

    def _api_messages_sendMessageEventAnswer(self, params: dict[str, str]) -> Any:
        for name in ("event_id", "user_id", "peer_id"):
            if not params.get(name):
                raise _VkError(100, f"One of the parameters specified was missing or invalid: {name}")
        data = json.loads(params["event_data"]) if params.get("event_data") else None
        self.snackbars.append({"user_id": int(params["user_id"]), "event_id": params["event_id"], "data": data})
        return 1

    @staticmethod
    def _keyboard(params: dict[str, str]) -> dict[str, Any] | None:
        if "keyboard" not in params or not params["keyboard"]:
            return None
        keyboard = json.loads(params["keyboard"])
        rows = keyboard.get("buttons", [])
        # dev.vk.com/ru/api/bots/development/keyboard: 5×6 and 10 keys inline, 5×10 and 40 keys otherwise.
        limit, keys = (6, 10) if keyboard.get("inline") else (10, 40)
        if len(rows) > limit or any(len(row) > 5 for row in rows) or sum(len(row) for row in rows) > keys:
            raise _VkError(911, "Keyboard format is invalid: too many buttons")
        for row in rows:
            for button in row:
                label = button.get("action", {}).get("label", "")
                if len(label) > 40:
                    raise _VkError(911, "Keyboard format is invalid: label is too long")
                payload = button.get("action", {}).get("payload")
                if payload is not None and len(payload) > 255:
                    raise _VkError(911, "Keyboard format is invalid: payload is too long")
        return keyboard

    def _add_message(self, peer_id: int, text: str, *, out: bool,
                     keyboard: dict[str, Any] | None = None) -> VkMessage:
        chat = self.messages.setdefault(peer_id, [])
        self._next_message_id += 1
        message = VkMessage(self._next_message_id, len(chat) + 1, peer_id, text, out, keyboard)
        chat.append(message)
        return message

    # --- the long poll ------------------------------------------------------------

    async def _longpoll(self, request: web.Request) -> web.Response:
        self.longpoll_requests += 1
        query = request.query
        if query.get("act") != "a_check":
            return web.json_response({"failed": 2})
        if self.longpoll_failures:
            code = self.longpoll_failures.pop(0)
            self.key_serial += code in (2, 3)   # the old key (and for 3, the history) is gone
            return web.json_response({"failed": code, "ts": str(self.ts)} if code == 1 else {"failed": code})
        if query.get("key") != self.key:
            return web.json_response({"failed": 2})
        try:
            ts = int(query.get("ts", ""))
        except ValueError:
            return web.json_response({"failed": 1, "ts": str(self.ts)})
        if not self.ts_base <= ts <= self.ts:
            return web.json_response({"failed": 1, "ts": str(self.ts)})
        wait = min(max(int(query.get("wait", "25") or 25), 0), 90)
        deadline = time.monotonic() + wait
        assert self._changed is not None
        while ts >= self.ts and time.monotonic() < deadline:
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(deadline - time.monotonic(), 0.01))
                except asyncio.TimeoutError:
                    break
        if query.get("key") != self.key:
            return web.json_response({"failed": 2})
        updates = self.events[ts - self.ts_base:]
        return web.json_response({"ts": str(self.ts), "updates": updates})

    def push(self, kind: str, obj: dict[str, Any]) -> None:
        self.events.append({"group_id": self.group_id, "type": kind, "event_id": f"ev{len(self.events) + 1}",
                            "v": "5.199", "object": obj})
        self._poke()

    # --- the Callback API: VK POSTs each event to the bot ---------------------------------

    async def post(self, url: str, body: dict[str, Any], secret: str | None) -> tuple[int, str]:
        """One POST as VK makes it (`secret` None: left out); (status, answer)."""
        import aiohttp

        payload = dict(body)
        if secret is not None:
            payload["secret"] = secret
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=25)) as answer:
                return answer.status, await answer.text()

    async def confirm(self, url: str, secret: str | None) -> tuple[int, str]:
        """The confirmation request VK sends when the server's address is saved."""
        return await self.post(url, {"type": "confirmation", "group_id": self.group_id}, secret)

    async def post_events(self, url: str, secret: str | None, *, attempts: int = 5) -> list[tuple[int, str]]:
        """POST every event pushed since the last call, in order; each re-sent (like VK) until it
        is answered `ok`, at most `attempts` times. The last answer of each."""
        answers = []
        while self.posted < len(self.events):
            event = self.events[self.posted]
            self.posted += 1
            answers.append(await self.resend(url, event, secret, attempts=attempts))
        return answers

    async def resend(self, url: str, event: dict[str, Any], secret: str | None, *,
                     attempts: int = 1) -> tuple[int, str]:
        """POST `event` (again), re-sending while the answer is not `ok`."""
        answer = (0, "")
        for _ in range(attempts):
            try:
                answer = await self.post(url, event, secret)
            except Exception as exc:  # noqa: BLE001 - VK re-sends on any failure
                answer = (0, type(exc).__name__)
            self.callback_answers.append((event["event_id"], *answer))
            if answer == (200, "ok"):
                break
        return answer

    def deliver_to(self, url: str, secret: str) -> None:
        """From now on POST every pushed event to `url` by itself, as VK's Callback API does: each
        until it is answered `ok` (sent again after a pause otherwise), one user's events in
        order, one at a time, different users' side by side."""
        self._callback_url, self._callback_secret = url, secret
        if self._delivering is None:
            self._auto_from = len(self.events)
            self._delivering = asyncio.get_running_loop().create_task(self._deliver_events())

    def answered_ok(self, event_id: str) -> bool:
        """The event was answered `ok` (Callback API)."""
        return any(answer[0] == event_id and answer[1:] == (200, "ok") for answer in self.callback_answers)

    @property
    def last_event_id(self) -> str:
        return self.events[-1]["event_id"]

    async def _deliver_events(self) -> None:
        assert self._changed is not None
        sending: dict[str | None, asyncio.Task[None]] = {}
        try:
            while True:
                for user, task in list(sending.items()):
                    if task.done():
                        del sending[user]
                waiting: set[str | None] = set()   # users whose first unanswered event is taken
                for event in self.events[self._auto_from:]:
                    user = _user_of(event)
                    if event["event_id"] in self._answered or user in waiting:
                        continue
                    waiting.add(user)
                    if user not in sending:
                        sending[user] = asyncio.get_running_loop().create_task(self._deliver_event(event))
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait(), timeout=0.5)
                    except asyncio.TimeoutError:
                        pass
        finally:
            for task in sending.values():
                task.cancel()

    async def _deliver_event(self, event: dict[str, Any]) -> None:
        pauses = (0.1, 0.2, 0.5, 1.0)
        for attempt in range(200):   # bounded: a few minutes at most
            answer = await self.resend(self._callback_url, event, self._callback_secret)
            if answer == (200, "ok"):
                break
            await asyncio.sleep(pauses[min(attempt, len(pauses) - 1)])
        self._answered.add(event["event_id"])
        await self._notify()

    def fail_longpoll(self, code: int) -> None:
        """The next long poll request answers `{"failed": code}` (1: new ts; 2: key expired; 3: history lost)."""
        self.longpoll_failures.append(code)

    def fail_api(self, method: str, code: int) -> None:
        """The next call of `method` answers VK error `code` (6: too many requests, 9: flood control)."""
        self.api_failures.append((method, code))

    def block(self, user_id: int) -> None:
        """The user forbade messages from the community: messages.send answers error 901."""
        self.blocked.add(user_id)

    # --- playing the parent --------------------------------------------------------------

    def user_says(self, user_id: int, text: str, *, callbacks: bool = True,
                  payload: str | None = None, ref: str | None = None) -> VkMessage:
        """A message from `user_id`; `ref`: the user came by the community's link with ?ref=…
        (VK puts it in the message object)."""
        message = self._add_message(user_id, text, out=False)
        body: dict[str, Any] = {"date": int(time.time()), "from_id": user_id, "id": message.message_id,
                                "out": 0, "peer_id": user_id, "text": text,
                                "conversation_message_id": message.cmid, "attachments": [],
                                "fwd_messages": [], "important": False, "is_hidden": False}
        if payload is not None:
            body["payload"] = payload
        if ref is not None:
            body["ref"] = ref
        actions = ["text", "vkpay", "open_app", "location", "open_link", "intent_subscribe", "intent_unsubscribe"]
        if callbacks:
            actions.append("callback")
        self.push("message_new", {"message": body, "client_info": {
            "button_actions": actions, "keyboard": True, "inline_keyboard": callbacks,
            "carousel": callbacks, "lang_id": 0}})
        return message

    def press_payload(self, user_id: int, payload: dict[str, Any] | str, cmid: int,
                      peer_id: int | None = None) -> str:
        """A message_event as a client would send it — or as a forger would."""
        event_id = f"{self._next_event:012x}"
        self._next_event += 1
        if isinstance(payload, str):
            payload = json.loads(payload)
        self.push("message_event", {"user_id": user_id, "peer_id": peer_id or user_id, "event_id": event_id,
                                    "payload": payload, "conversation_message_id": cmid})
        return event_id

    def buttons(self, user_id: int) -> list[VkButton]:
        """What the user can press now: the inline keyboard of the last message, else the persistent one."""
        last = self.last(user_id)
        if last is not None and last.inline:
            return last.buttons
        return _buttons(self.persistent.get(user_id))

    def find_button(self, user_id: int, label: str) -> tuple[VkButton, VkMessage | None]:
        """The newest button whose label contains `label` (inline ones on any bot message, then the keyboard)."""
        for message in reversed(self.chat(user_id)):
            for button in message.buttons:
                if label in button.label:
                    return button, message
        for button in _buttons(self.persistent.get(user_id)):
            if label in button.label:
                return button, None
        shown = [b.label for b in self.buttons(user_id)]
        raise AssertionError(f"no button {label!r} for user {user_id}; shown: {shown}")

    def press(self, user_id: int, label: str) -> None:
        button, message = self.find_button(user_id, label)
        if button.kind == "callback":
            assert message is not None
            self.press_payload(user_id, button.payload or "{}", message.cmid)
        else:
            self.user_says(user_id, button.label, callbacks=False, payload=button.payload)

    def chat(self, user_id: int) -> list[VkMessage]:
        return [m for m in self.messages.get(user_id, []) if m.out]

    def last(self, user_id: int) -> VkMessage | None:
        chat = self.chat(user_id)
        return chat[-1] if chat else None

    def texts(self, user_id: int) -> list[str]:
        return [m.text for m in self.chat(user_id)]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
        """Wait (bounded) until `predicate()` is truthy, re-checking after every call the bot makes."""
        assert self._changed is not None
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))
                except asyncio.TimeoutError:
                    pass

    async def reply_to(self, user_id: int, action: Callable[[], Any], timeout: float = 15.0,
                       settle: float = 0.3) -> VkMessage:
        """Do `action` (a message or a press) and wait until the bot has answered it.

        Answered means: a new message, an edit, or the press's event answer,
        followed by `settle` seconds of quiet (a reply may be several messages).
        """
        before = (len(self.chat(user_id)), sum(m.edits for m in self.chat(user_id)), len(self.snackbars))
        action()

        def answered() -> bool:
            now = (len(self.chat(user_id)), sum(m.edits for m in self.chat(user_id)), len(self.snackbars))
            return now != before
        await self.wait_for(answered, timeout, what=f"the bot's answer to user {user_id}")
        quiet_since, seen = time.monotonic(), len(self.calls)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(self.calls) != seen:
                quiet_since, seen = time.monotonic(), len(self.calls)
            elif time.monotonic() - quiet_since >= settle:
                break
        last = self.last(user_id)
        assert last is not None
        return last


def _user_of(event: dict[str, Any]) -> str | None:
    obj = event.get("object") or {}
    user = (obj.get("message") or {}).get("from_id") if event.get("type") == "message_new" else obj.get("user_id")
    return None if user is None else str(user)


class _VkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
