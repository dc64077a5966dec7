"""A fake MAX Bot API server on 127.0.0.1, for end-to-end tests of the MAX adapter.

It answers what the adapter calls the way MAX's Bot API does (dev.max.ru):
GET/PATCH /me, GET /updates (a real, bounded long poll with a marker),
POST /messages?user_id=…, PUT /messages?message_id=…, POST /answers?callback_id=…,
POST /uploads?type=image and the upload URL it hands out, and
POST/GET/DELETE /subscriptions. The token must come in the `Authorization`
header (401 `verify.token` otherwise, also when it comes in the query). MAX's
limits are enforced with MAX's error answers (400 `proto.payload`): text up to
4 000 characters, an inline keyboard of at most 30 rows, 7 buttons a row and 210
buttons, a callback payload of at most 1 024 bytes.

It keeps each user's chat as the user sees it (messages, the keyboard under
each, edits), records every call, and misbehaves on demand: `fail_next(call,
status)` (429 once, say), `block(user)` (403 `chat.denied`). With a webhook
subscribed, an update a test pushes is POSTed to the subscribed URL with the
secret in `X-Max-Bot-Api-Secret` instead of waiting for a long poll.

A test plays the parent:

    fake.start_bot(7)                       # «Начать» (bot_started)
    message = await fake.reply_to(7, lambda: fake.press(7, "Даю согласие"))
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "max-fake-bot-token"
BOT_ID = 9_000_001
MAX_TEXT = 4000
MAX_ROWS, MAX_PER_ROW, MAX_BUTTONS, MAX_PAYLOAD = 30, 7, 210, 1024


@dataclass
class MaxButton:
    text: str
    kind: str
    payload: str


@dataclass
class MaxMessage:
    mid: str
    user_id: int
    text: str
    out: bool
    attachments: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0
    touched: int = 0          # the order of the last change (sent or edited)

    @property
    def buttons(self) -> list[MaxButton]:
        found = []
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                for row in attachment["payload"]["buttons"]:
                    found.extend(MaxButton(b["text"], b["type"], b.get("payload", "")) for b in row)
        return found

    @property
    def images(self) -> list[str]:
        return [a["payload"]["token"] for a in self.attachments if a.get("type") == "image"]


@dataclass
class Call:
    method: str        # "POST /messages"
    params: dict[str, str]
    body: Any
    status: int = 200
    at: float = field(default_factory=time.monotonic)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def make_tls(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A root CA of our own (standing in for «Russian Trusted Root CA») and a certificate it
    signed for 127.0.0.1: (the root's PEM file for MAX_CA_BUNDLE, the server's TLS context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Trusted Root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "root-ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


class FakeMax:
    def __init__(self, token: str = TOKEN, tls: ssl.SSLContext | None = None) -> None:
        self.token = token
        self.tls = tls
        self.calls: list[Call] = []
        self.events: list[dict[str, Any]] = []      # every update pushed, in order (the marker indexes it)
        self.confirmed = 0                          # updates before this index were confirmed by a marker
        self.poll_requests = 0
        self.failures: list[tuple[str, int]] = []   # ("POST /messages", 429), consumed in order
        self.blocked: set[int] = set()
        self.messages: dict[int, list[MaxMessage]] = {}
        self.answers: list[dict[str, Any]] = []     # {"callback_id", "notification"}
        self.callbacks: dict[str, int] = {}         # callback_id → user, not yet answered
        self.commands: list[dict[str, str]] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.webhook_answers: list[int] = []        # the bot's HTTP status for each webhook delivery
        self.uploads: dict[str, bytes] = {}         # image token → PNG bytes
        self._serial = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0

    # --- the server -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What MAX_API_URL is set to."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> "FakeMax":
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=20_000_000)
        app.router.add_post("/upload/{token}", self._upload)
        app.router.add_route("*", "/{path:.*}", self._api)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._client = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeMax":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _poke(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    async def _api(self, request: web.Request) -> web.Response:
        name = f"{request.method} /{request.match_info['path']}"
        params = dict(request.query)
        body: Any = None
        if request.can_read_body:
            try:
                body = json.loads(await request.read() or b"null")
            except ValueError:
                body = "<not json>"
        call = Call(name, params, body)
        self.calls.append(call)
        try:
            if request.headers.get("Authorization") != self.token or "access_token" in params:
                raise _Refused(401, "verify.token", "Invalid access_token")
            for index, (failing, status) in enumerate(self.failures):
                if failing == name:
                    del self.failures[index]
                    raise _Refused(status, {429: "too.many.requests"}.get(status, "internal.error"),
                                   "Too many requests" if status == 429 else "Internal error")
            if name == "GET /updates":
                answer = await self._updates(params)
            else:
                handler = getattr(self, "_" + name.replace(" /", "_").replace("/", "_").lower(), None)
                if handler is None:
                    raise _Refused(404, "not.found", f"Path {name} is not recognized")
                answer = handler(params, body)
        except _Refused as refused:
            call.status = refused.status
            self._poke()
            return web.json_response({"code": refused.code, "message": refused.message}, status=refused.status)
        self._poke()
        return web.json_response(answer)

    # --- the bot -----------------------------------------------------------------

    def _get_me(self, params: dict[str, str], body: Any) -> Any:
        return {"user_id": BOT_ID, "name": "Сертификат ДО", "username": "certificate_bot", "is_bot": True,
                "commands": self.commands}

    def _patch_me(self, params: dict[str, str], body: Any) -> Any:
        commands = (body or {}).get("commands")
        if not isinstance(commands, list) or len(commands) > 32 or not all(
                isinstance(c, dict) and 1 <= len(c.get("name", "")) <= 64 and len(c.get("description", "")) <= 128
                for c in commands):
            raise _Refused(400, "proto.payload", "commands: invalid")
        self.commands = commands
        return self._get_me(params, body)

    # --- updates ---------------------------------------------------------------------

    async def _updates(self, params: dict[str, str]) -> Any:
        self.poll_requests += 1
        if self.subscriptions:
            raise _Refused(400, "bad.request", "Long polling is unavailable while a webhook is subscribed")
        marker = int(params["marker"]) if params.get("marker") else self.confirmed
        self.confirmed = max(self.confirmed, marker)
        timeout = min(float(params.get("timeout", 30)), 30.0)
        deadline = time.monotonic() + timeout
        assert self._changed is not None
        while len(self.events) <= marker and time.monotonic() < deadline:
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(0.5, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    pass
        batch = self.events[marker:marker + int(params.get("limit", 100))]
        return {"updates": batch, "marker": marker + len(batch)}

    def push(self, update: dict[str, Any]) -> None:
        """A new update: to the webhook when one is subscribed, else to the long poll."""
        update.setdefault("timestamp", int(time.time() * 1000) + len(self.events))
        if self.subscriptions:
            subscription = self.subscriptions[-1]
            asyncio.get_running_loop().create_task(self.deliver_webhook(update, subscription.get("secret")))
            return
        self.events.append(update)
        self._poke()

    async def deliver_webhook(self, update: dict[str, Any], secret: str | None) -> int:
        """POST one update to the subscribed URL as MAX does; the bot's HTTP status."""
        assert self._client is not None and self.subscriptions
        headers = {"X-Max-Bot-Api-Secret": secret} if secret else {}
        async with self._client.post(self.subscriptions[-1]["url"], json=update, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=30)) as response:
            status = response.status
        self.webhook_answers.append(status)
        await self._notify()
        return status

    # --- subscriptions -----------------------------------------------------------------

    def _post_subscriptions(self, params: dict[str, str], body: Any) -> Any:
        url = (body or {}).get("url")
        secret = (body or {}).get("secret")
        if not isinstance(url, str) or not url.startswith(("https://", "http://127.0.0.1")):
            raise _Refused(400, "proto.payload", "url: must be https")
        if secret is not None and not (5 <= len(secret) <= 256):
            raise _Refused(400, "proto.payload", "secret: 5-256 characters")
        self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
        self.subscriptions.append({"url": url, "update_types": body.get("update_types"), "secret": secret,
                                   "time": int(time.time() * 1000)})
        return {"success": True}

    def _get_subscriptions(self, params: dict[str, str], body: Any) -> Any:
        return {"subscriptions": [{"url": s["url"], "time": s["time"], "update_types": s["update_types"]}
                                  for s in self.subscriptions]}

    def _delete_subscriptions(self, params: dict[str, str], body: Any) -> Any:
        self.subscriptions = [s for s in self.subscriptions if s["url"] != params.get("url")]
        return {"success": True}

    # --- messages ------------------------------------------------------------------------

    def _check_body(self, body: Any) -> tuple[str, list[dict[str, Any]] | None]:
        if not isinstance(body, dict):
            raise _Refused(400, "proto.payload", "body: expected an object")
        text = body.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            raise _Refused(400, "proto.payload", "text: size must be between 0 and 4000")
        attachments = body.get("attachments")
        for attachment in attachments or []:
            kind = attachment.get("type")
            if kind == "inline_keyboard":
                rows = attachment.get("payload", {}).get("buttons")
                if not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
                    raise _Refused(400, "proto.payload", "buttons: rows must be between 1 and 30")
                if any(not row or len(row) > MAX_PER_ROW for row in rows):
                    raise _Refused(400, "proto.payload", "buttons: up to 7 in a row")
                if sum(len(row) for row in rows) > MAX_BUTTONS:
                    raise _Refused(400, "proto.payload", "buttons: up to 210")
                for row in rows:
                    for button in row:
                        if button.get("type") != "callback" or not button.get("text"):
                            raise _Refused(400, "proto.payload", "button: type and text required")
                        if len(str(button.get("payload", "")).encode()) > MAX_PAYLOAD:
                            raise _Refused(400, "proto.payload", "payload: up to 1024 bytes")
            elif kind == "image":
                if attachment.get("payload", {}).get("token") not in self.uploads:
                    raise _Refused(400, "attachment.not.found", "image: unknown token")
            else:
                raise _Refused(400, "proto.payload", f"attachment type {kind!r} is not supported here")
        if not text and not attachments:
            raise _Refused(400, "proto.payload", "text or attachments required")
        return text or "", attachments

    def _post_messages(self, params: dict[str, str], body: Any) -> Any:
        if "chat_id" in params:
            raise _Refused(400, "proto.payload", "this fake serves dialogs: user_id")
        user = int(params.get("user_id", 0))
        if user in self.blocked:
            raise _Refused(403, "chat.denied", f"Key: error.dialog.suspended, args: [{user},].")
        text, attachments = self._check_body(body)
        message = self._add(user, text, out=True, attachments=attachments or [])
        return {"message": self._message_json(message)}

    def _put_messages(self, params: dict[str, str], body: Any) -> Any:
        message = self._find(params.get("message_id", ""))
        if message is None or not message.out:
            raise _Refused(404, "not.found", "Message not found")
        if message.user_id in self.blocked:
            raise _Refused(403, "chat.denied", "Key: error.dialog.suspended")
        text, attachments = self._check_body(body)
        message.text = text
        if attachments is not None:
            message.attachments = attachments
        message.edits += 1
        message.touched = next(self._serial)
        return {"success": True}

    def _post_answers(self, params: dict[str, str], body: Any) -> Any:
        callback_id = params.get("callback_id", "")
        if callback_id not in self.callbacks:
            raise _Refused(400, "proto.payload", "callback_id: unknown or already answered")
        notification = (body or {}).get("notification")
        if notification is not None and (not isinstance(notification, str) or len(notification) > MAX_TEXT):
            raise _Refused(400, "proto.payload", "notification: invalid")
        self.callbacks.pop(callback_id)
        self.answers.append({"callback_id": callback_id, "notification": notification})
        return {"success": True}

    # --- uploads ----------------------------------------------------------------------------

    def _post_uploads(self, params: dict[str, str], body: Any) -> Any:
        if params.get("type") != "image":
            raise _Refused(400, "proto.payload", "type: this fake takes images")
        token = f"img{next(self._serial)}"
        self.uploads[token] = b""
        return {"url": f"{self.base_url}/upload/{token}"}

    async def _upload(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        form = await request.post()
        data = form.get("data")
        if token not in self.uploads or data is None or not hasattr(data, "file"):
            return web.json_response({"code": "bad.request", "message": "no file"}, status=400)
        self.uploads[token] = data.file.read()  # type: ignore[union-attr]
        self.calls.append(Call("POST /upload", {}, None))
        return web.json_response({"photos": {"p1": {"token": token}}})

    # --- the chats ---------------------------------------------------------------------------

    def _add(self, user: int, text: str, *, out: bool, attachments: list[dict[str, Any]] | None = None) -> MaxMessage:
        serial = next(self._serial)
        message = MaxMessage(f"mid.{serial:016x}", user, text, out, list(attachments or []), touched=serial)
        self.messages.setdefault(user, []).append(message)
        return message

    def _find(self, mid: str) -> MaxMessage | None:
        for chat in self.messages.values():
            for message in chat:
                if message.mid == mid:
                    return message
        return None

    def _message_json(self, message: MaxMessage) -> dict[str, Any]:
        sender, recipient = ((BOT_ID, message.user_id) if message.out else (message.user_id, BOT_ID))
        return {"sender": {"user_id": sender, "name": "Родитель", "is_bot": message.out},
                "recipient": {"chat_id": message.user_id, "chat_type": "dialog", "user_id": recipient},
                "timestamp": int(time.time() * 1000),
                "body": {"mid": message.mid, "seq": int(message.mid.split(".")[1], 16), "text": message.text,
                         "attachments": message.attachments}}

    # --- the parent's side -------------------------------------------------------------------

    def block(self, user_id: int) -> None:
        self.blocked.add(user_id)

    def fail_next(self, call: str, status: int) -> None:
        self.failures.append((call, status))

    def start_bot(self, user_id: int, payload: str | None = None, stamped: bool = True) -> None:
        """The parent opens the bot («Начать», or a link with ?start=PAYLOAD); `stamped=False`:
        an update without a timestamp, as MAX may send one."""
        update: dict[str, Any] = {"update_type": "bot_started", "chat_id": user_id,
                                  "user": {"user_id": user_id, "name": "Родитель", "is_bot": False},
                                  "payload": payload, "user_locale": "ru"}
        if not stamped:
            update["timestamp"] = None
        self.push(update)

    def stop_bot(self, user_id: int) -> None:
        self.push({"update_type": "bot_stopped", "chat_id": user_id,
                   "user": {"user_id": user_id, "name": "Родитель", "is_bot": False}})

    def user_says(self, user_id: int, text: str) -> None:
        message = self._add(user_id, text, out=False)
        self.push({"update_type": "message_created", "message": self._message_json(message), "user_locale": "ru"})

    def press_payload(self, user_id: int, payload: str, mid: str) -> str:
        callback_id = f"cb{next(self._serial)}"
        self.callbacks[callback_id] = user_id
        message = self._find(mid)
        self.push({"update_type": "message_callback",
                   "callback": {"timestamp": int(time.time() * 1000), "callback_id": callback_id,
                                "payload": payload, "user": {"user_id": user_id, "name": "Родитель"}},
                   "message": self._message_json(message) if message else None, "user_locale": "ru"})
        return callback_id

    def find_button(self, user_id: int, label: str) -> tuple[MaxButton, MaxMessage]:
        """The newest message of the bot with a button labelled `label` (else one whose label holds it)."""
        newest_first = sorted(self.chat(user_id), key=lambda m: m.touched, reverse=True)
        for exact in (True, False):
            for message in newest_first:
                for button in message.buttons:
                    if button.text == label or (not exact and label in button.text):
                        return button, message
        raise AssertionError(f"no button {label!r} in user {user_id}'s chat: "
                             f"{[b.text for m in self.chat(user_id) for b in m.buttons][-20:]}")

    def press(self, user_id: int, label: str) -> str:
        button, message = self.find_button(user_id, label)
        return self.press_payload(user_id, button.payload, message.mid)

    def chat(self, user_id: int) -> list[MaxMessage]:
        return [m for m in self.messages.get(user_id, []) if m.out]

    def latest(self, user_id: int) -> MaxMessage | None:
        """The bot's message changed last (sent or edited)."""
        chat = self.chat(user_id)
        return max(chat, key=lambda m: m.touched) if chat else None

    def texts(self, user_id: int) -> list[str]:
        return [m.text for m in self.chat(user_id)]

    def calls_of(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.method == name]

    def unanswered_callbacks(self) -> list[str]:
        return list(self.callbacks)

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

    def _state(self, user_id: int) -> tuple[int, int]:
        chat = self.chat(user_id)
        return (max((m.touched for m in chat), default=0), len(self.answers))

    async def reply_to(self, user_id: int, action: Callable[[], Any], timeout: float = 15.0,
                       settle: float = 0.3) -> MaxMessage:
        """Do `action` (a message or a press) and wait until the bot has answered it: a new
        message, an edit or the press's answer, then `settle` seconds of quiet. The message
        changed last is returned."""
        before = self._state(user_id)
        action()
        await self.wait_for(lambda: self._state(user_id) != before, timeout,
                            what=f"the bot's answer to user {user_id}")
        quiet_since, seen = time.monotonic(), len(self.calls)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(self.calls) != seen:
                quiet_since, seen = time.monotonic(), len(self.calls)
            elif time.monotonic() - quiet_since >= settle:
                break
        latest = self.latest(user_id)
        assert latest is not None
        return latest
