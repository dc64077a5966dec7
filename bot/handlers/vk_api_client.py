"""VK transport for the adapter: method calls at a configurable base URL, the 20 rps limit,
retries, error mapping, and the Bots Long Poll worker thread.

vk_api is blocking (requests) and hard-codes `https://api.vk.ru/method/`;
`VkApiAt` calls methods at `VK_API_URL` instead, and `VkClient` runs every
call in a worker thread after taking a slot from the shared `RateLimiter`.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from vk_api import VkApiGroup
from vk_api.bot_longpoll import VkBotLongPoll
from vk_api.exceptions import ApiError, ApiHttpError

from bot import metrics
from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError

log = logging.getLogger("bot.vk")

API_VERSION = "5.199"
# VK error codes (https://dev.vk.com/ru/reference/errors).
TOO_MANY_REQUESTS = 6
FLOOD_CONTROL = 9
INTERNAL_ERROR = 10
CANT_SEND_TO_USER = 901      # the user forbade messages from the community
CANT_SEND_PRIVACY = 902      # privacy settings
RETRY_CODES = {TOO_MANY_REQUESTS: 1.0, FLOOD_CONTROL: 3.0}
BLOCKED_CODES = {CANT_SEND_TO_USER, CANT_SEND_PRIVACY}


class VkApiAt(VkApiGroup):
    """A community-token VkApi calling methods at `base_url` (VK_API_URL).

    Only `method` is replaced: the URL, a request timeout, and no sleeping
    or retrying in the library (our limiter and `VkClient` do that).
    """

    def __init__(self, token: str, base_url: str, *, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        super().__init__(token=token, api_version=API_VERSION, session=session)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout

    def method(self, method: str, values: dict[str, Any] | None = None, raw: bool = False,  # type: ignore[override]
               **_ignored: Any) -> Any:
        values = dict(values or {})
        values.setdefault("v", self.api_version)
        values.setdefault("access_token", self.token["access_token"])
        response = self.http.post(self.base_url + method, values, timeout=self.timeout)
        if not response.ok:
            raise ApiHttpError(self, method, values, raw, response)
        data = response.json()
        if "error" in data:
            raise ApiError(self, method, values, raw, data["error"])
        return data if raw else data["response"]


class RateLimiter:
    """At most `rate` acquisitions in any `per`-second window (a sliding window).

    `clock` and `sleep` are injectable so tests count instead of waiting.
    """

    def __init__(self, rate: int = 20, per: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("rate must be >= 1 and per > 0")
        self.rate = rate
        self.per = per
        self._clock = clock
        self._sleep = sleep
        self._stamps: collections.deque[float] = collections.deque()
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for _ in range(self.rate + 100):  # each wait frees a slot; bounded anyway
                now = self._clock()
                while self._stamps and self._stamps[0] <= now - self.per:
                    self._stamps.popleft()
                if len(self._stamps) < self.rate:
                    break
                await self._sleep(max(self._stamps[0] + self.per - now, 0.001))
            self._stamps.append(self._clock())


def random_id(peer_id: int | str, cause: str, part: int = 0) -> int:
    """A stable non-zero int32 for messages.send: the same cause and part give the same id.

    VK drops a message whose random_id it has already seen from this
    community to this peer, so a retried send is never shown twice.
    """
    digest = hashlib.sha256(f"{peer_id}|{cause}|{part}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def map_error(exc: BaseException) -> DeliveryError:
    """A vk_api / requests failure as the delivery error the senders speak."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, ApiError):
        code = exc.code
        if code in RETRY_CODES:
            return RetryLater(RETRY_CODES[code])
        if code in BLOCKED_CODES:
            return Blocked(f"VK error {code}")
        if code == INTERNAL_ERROR:
            return TransientError(f"VK error {code}")
        return DeliveryError(f"VK error {code} in {exc.method}")
    if isinstance(exc, ApiHttpError):
        status = exc.response.status_code
        if status == 429:
            return RetryLater(1.0)
        if status >= 500:
            return TransientError(f"HTTP {status}")
        return DeliveryError(f"HTTP {status} in {exc.method}")
    if isinstance(exc, (requests.RequestException, ValueError, OSError)):
        # Connection refused/reset, timeouts, a body that is not JSON.
        return TransientError(type(exc).__name__)
    return DeliveryError(type(exc).__name__)


class VkClient:
    """Async VK API calls: limiter slot, worker thread, bounded retries of 6/9 and network errors."""

    def __init__(self, api: VkApiAt, limiter: RateLimiter, *, attempts: int = 4,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 backoff: float = 0.5) -> None:
        self.api = api
        self.limiter = limiter
        self.attempts = attempts
        self._sleep = sleep
        self.backoff = backoff

    async def call(self, method: str, *, attempts: int | None = None, **params: Any) -> Any:
        """The method's `response`, or a DeliveryError once retries are used up.

        `attempts=1` leaves retrying to the caller (the alert worker paces
        the whole platform when told RetryLater).
        """
        attempts = attempts or self.attempts
        last: DeliveryError | None = None
        for attempt in range(attempts):
            await self.limiter.acquire()
            try:
                return await asyncio.to_thread(self.api.method, method, params)
            except Exception as exc:  # noqa: BLE001 - mapped below, nothing swallowed
                last = map_error(exc)
            # Never the message text or names: just what failed.
            log.warning("VK %s failed: %s (attempt %d/%d)", method, type(last).__name__, attempt + 1, attempts)
            if isinstance(last, RetryLater):
                metrics.RATE_LIMITED.labels("vk").inc()
                delay = last.seconds
            elif isinstance(last, TransientError):
                delay = self.backoff * (2 ** attempt)
            else:
                raise last
            if attempt + 1 < attempts:
                await self._sleep(delay)
        assert last is not None
        raise last


# --- photos in messages -----------------------------------------------------------

async def upload_photo(client: VkClient, peer_id: int, path: str) -> str:
    """Upload a PNG for a message to `peer_id`; the `attachment` of messages.send
    (`photo<owner>_<id>[_<access key>]`). VK's three steps: the upload server
    (at VK_API_URL, like every method), the file POSTed to the URL VK gives, then
    saving what the upload answered."""
    server = await client.call("photos.getMessagesUploadServer", peer_id=peer_id)
    uploaded = await asyncio.to_thread(_post_photo, client.api, str(server["upload_url"]), path)
    if not uploaded.get("photo") or uploaded.get("photo") == "[]":
        raise DeliveryError("VK upload returned no photo")
    saved = await client.call("photos.saveMessagesPhoto", photo=uploaded["photo"], server=uploaded.get("server"),
                              hash=uploaded.get("hash"))
    photo = saved[0]
    attachment = f"photo{photo['owner_id']}_{photo['id']}"
    if photo.get("access_key"):
        attachment += f"_{photo['access_key']}"
    return attachment


def _post_photo(api: VkApiAt, url: str, path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as image:
            response = api.http.post(url, files={"photo": ("chart.png", image, "image/png")}, timeout=api.timeout)
        response.raise_for_status()
        return dict(response.json())
    except Exception as exc:  # noqa: BLE001 - mapped like a method call's failure
        raise map_error(exc) from None


# --- Bots Long Poll, in a worker thread ------------------------------------------

class LongPoll(VkBotLongPoll):
    """vk_api's Bots Long Poll (it already handles failed 1/2/3 as VK documents:
    1 takes the new ts, 2 a new key, 3 a new key and ts), yielding raw dicts."""

    def __init__(self, vk: VkApiAt, group_id: int, wait: int, before_call: Callable[[], None]) -> None:
        self._before_call = before_call
        super().__init__(vk, group_id, wait=wait)

    def update_longpoll_server(self, update_ts: bool = True) -> None:
        self._before_call()
        super().update_longpoll_server(update_ts=update_ts)

    def _parse_event(self, raw_event: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        return raw_event


def poll_forever(client: VkClient, group_id: int, wait: int, loop: asyncio.AbstractEventLoop,
                 stopping: threading.Event,
                 accept: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> None:
    """The worker thread: long poll until `stopping` is set, handing each batch to `accept` on the loop.

    Failures (network, VK errors, bad answers) back off from 0.5 s up to 30 s;
    every wait watches `stopping`, and one request lasts at most `wait` s.
    """

    def slot() -> None:
        # The long poll's own API calls (groups.getLongPollServer) count against the 20 rps too.
        try:
            asyncio.run_coroutine_threadsafe(client.limiter.acquire(), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - loop closing or busy: go on, VK will say 6 if need be
            pass

    poll: LongPoll | None = None
    delay = 0.5
    while not stopping.is_set():
        try:
            if poll is None:
                poll = LongPoll(client.api, group_id, wait, before_call=slot)
            raws = poll.check()
            delay = 0.5
        except Exception as exc:  # noqa: BLE001 - back off and retry
            log.warning("VK long poll failed: %s; retrying in %.1fs", type(exc).__name__, delay)
            stopping.wait(delay)
            delay = min(delay * 2, 30.0)
            continue
        if not raws:
            continue
        future = asyncio.run_coroutine_threadsafe(accept(raws), loop)
        for _ in range(600):  # back-pressure: up to ~10 minutes, checking `stopping` every second
            try:
                future.result(timeout=1)
                break
            except TimeoutError:
                if stopping.is_set():
                    break
            except Exception:  # noqa: BLE001
                log.error("VK events were not accepted", exc_info=True)
                break
