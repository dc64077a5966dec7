"""How MAX updates reach the adapter: the setup calls at start (the command menu, the bot's
username for share links, the webhook subscription or its removal) and long polling with a marker.

The marker moves on only after its batch was handled, so a crash means the
batch comes again (the dialogs recognise an event they already answered),
never that it is lost. MAX serves long polling at most twice a second.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.delivery import DeliveryError, TransientError
from bot.handlers.max_api import MaxClient, TokenRefused
from bot.runtime import AppContext, until_stopped

if TYPE_CHECKING:
    from bot.handlers.max import MaxAdapter

log = logging.getLogger("bot.max")

POLL_TIMEOUT = 10          # seconds a long poll is held (MAX allows up to 90)
POLL_GAP = 0.5             # MAX serves long polling at most twice a second
BACKOFF = (0.5, 1, 2, 5, 10, 30)
UPDATE_TYPES = ["message_created", "message_callback", "bot_started", "bot_stopped"]


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def prepare(client: MaxClient, ctx: AppContext, stop: asyncio.Event) -> bool:
    """Publish the command menu and set up how updates arrive, retrying while MAX is unreachable."""
    attempt = 0
    while not stop.is_set():
        try:
            finished, _ = await until_stopped(stop, setup_calls(client, ctx))
            return finished
        except TokenRefused as exc:
            raise RuntimeError(str(exc)) from None
        except DeliveryError as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            log.warning("MAX setup failed (%s); retrying in %ss", type(exc).__name__, delay)
            await _wait(stop, delay)
    return False


async def setup_calls(client: MaxClient, ctx: AppContext) -> None:
    from bot.dialogs.engine import command_menu

    commands = [{"name": name, "description": description} for name, description in command_menu()]
    await client.call("PATCH", "/me", body={"commands": commands})
    settings = ctx.settings
    if not settings.max_bot_username:
        # Share links (bot/dialogs/share.py) name the bot: max.ru/<username>?start=p_<id>.
        me = await client.call("GET", "/me")
        username = me.get("username") if isinstance(me, dict) else None
        settings.max_bot_username = username if isinstance(username, str) else ""
    if settings.max_webhook_url:
        await client.call("POST", "/subscriptions", body={
            "url": settings.max_webhook_url, "update_types": UPDATE_TYPES,
            "secret": settings.max_webhook_secret.get_secret_value()})
        return
    # Long polling gets nothing while a webhook is subscribed: drop it (like Telegram's deleteWebhook).
    subscriptions = (await client.call("GET", "/subscriptions")).get("subscriptions") or []
    for subscription in subscriptions:
        url = subscription.get("url") if isinstance(subscription, dict) else None
        if isinstance(url, str) and url:
            log.warning("MAX: removing the webhook subscription to poll for updates")
            await client.call("DELETE", "/subscriptions", params={"url": url})


async def poll(adapter: "MaxAdapter", stop: asyncio.Event) -> None:
    """Long polling until `stop`: the marker moves on only after its batch was handled."""
    marker: int | None = None
    attempt = 0
    last_poll = 0.0
    while not stop.is_set():
        gap = POLL_GAP - (time.monotonic() - last_poll)
        if gap > 0:
            await _wait(stop, gap)
        last_poll = time.monotonic()
        try:
            finished, answer = await until_stopped(stop, adapter.client.updates(marker, POLL_TIMEOUT))
        except TokenRefused as exc:
            raise RuntimeError(str(exc)) from None
        except DeliveryError as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            # A network hiccup is usual for a long poll: info; anything else: warning.
            level = logging.INFO if isinstance(exc, TransientError) else logging.WARNING
            log.log(level, "MAX GET /updates failed (%s); retrying in %ss", type(exc).__name__, delay)
            await _wait(stop, delay)
            continue
        if not finished:
            break
        attempt = 0
        updates = answer.get("updates")
        if isinstance(updates, list) and updates:
            await adapter.accept(updates)
        new_marker = answer.get("marker")
        if isinstance(new_marker, int) and not isinstance(new_marker, bool):
            marker = new_marker
