"""Telegram rendering: a Screen → message texts (split at Telegram's limits) and inline keyboards."""
from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialogs.screen import Screen

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


def keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    if not screen.rows:
        return None
    rows = []
    for row in screen.rows:
        buttons = []
        for button in row:
            if len(button.action.encode()) > MAX_CALLBACK_DATA:  # Button already refuses > 60
                raise ValueError(f"callback_data over {MAX_CALLBACK_DATA} bytes")
            # model_construct: the Screen's buttons are checked already; pydantic validation of
            # each button was a tenth of a dialog step's time.
            buttons.append(InlineKeyboardButton.model_construct(text=button.label, callback_data=button.action))
        rows.append(buttons)
    return InlineKeyboardMarkup.model_construct(inline_keyboard=rows)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends where possible."""
    if not text.strip():
        text = "…"  # Telegram refuses an empty message
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:  # a single line longer than a message: cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    cleaned = [part.rstrip("\n") for part in parts]
    return [part for part in cleaned if part.strip()] or ["…"]


def render(screen: Screen) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """The messages for one screen; the keyboard rides on the last one."""
    parts = split_text(screen.text)
    markup = keyboard(screen)
    return [(part, markup if i == len(parts) - 1 else None) for i, part in enumerate(parts)]
