"""Sending a screen to a parent outside of a conversation (alerts, notices).

Each platform adapter provides a `Sender`; the alert worker (bot/jobs) paces
and retries using the exceptions below, so it never needs to know which
platform it talks to.
"""
from __future__ import annotations

from typing import Protocol

from bot.dialogs.screen import Screen


class DeliveryError(Exception):
    """Base of what a Sender raises."""


class Blocked(DeliveryError):
    """The parent blocked the bot or forbade messages (Telegram 403, VK 901, MAX 403 chat.denied): never retry."""


class RetryLater(DeliveryError):
    """The platform asked to slow down (Telegram 429 retry_after, VK error 6/9, MAX 429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class TransientError(DeliveryError):
    """A network error or a 5xx: back off and retry, the message is not lost."""


class Sender(Protocol):
    platform: str  # "telegram" | "vk" | "max" | "console" (the terminal chat, bot/handlers/console.py)

    async def send(self, user_id: str, screen: Screen) -> None:
        """Deliver one screen as a new message; raise a DeliveryError subclass on failure."""
        ...
