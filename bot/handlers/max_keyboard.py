"""A `Screen` as MAX messages: texts within MAX's length, buttons as `inline_keyboard`
attachments within MAX's limits, never dropping a choice.

MAX (dev.max.ru, «Клавиатура»): at most 30 rows, 7 buttons a row and 210
buttons on one keyboard; a callback button's payload at most 1 024 bytes; a
message's text at most 4 000 characters. A wider row becomes several rows; a
keyboard with more rows or buttons than one message may carry continues on
the next message (the dialogs' screens fit one; nothing is ever cut off).
Each callback button's payload is the dialogs' action id as it is (ASCII,
at most 60 bytes, bot/dialogs/screen.py).
"""
from __future__ import annotations

from typing import Any

from bot.dialogs.screen import Button, Screen

MAX_TEXT = 4000
MAX_ROWS = 30
MAX_BUTTONS_PER_ROW = 7
MAX_BUTTONS = 210
MAX_PAYLOAD_BYTES = 1024
MAX_LABEL = 128
CONTINUED = "…"   # the text of a message that only carries the rest of a keyboard


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends where possible."""
    text = text if text and text.strip() else CONTINUED
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text.strip() or not parts:
        parts.append(text if text.strip() else CONTINUED)
    return parts


def clip_label(label: str) -> str:
    label = " ".join(label.split()) or "·"
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def split_rows(rows: tuple[tuple[Button, ...], ...]) -> list[tuple[Button, ...]]:
    result: list[tuple[Button, ...]] = []
    for row in rows:
        for start in range(0, len(row), MAX_BUTTONS_PER_ROW):
            result.append(tuple(row[start:start + MAX_BUTTONS_PER_ROW]))
    return [row for row in result if row]


def _button(button: Button) -> dict[str, Any]:
    payload = button.action
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:  # Button already refuses > 60 bytes
        raise ValueError("callback payload over 1024 bytes")
    return {"type": "callback", "text": clip_label(button.label), "payload": payload}


def keyboards(screen: Screen) -> list[dict[str, Any]]:
    """The screen's `inline_keyboard` attachments, one per message (usually one; none without buttons)."""
    pages: list[list[tuple[Button, ...]]] = []
    used = 0
    for row in split_rows(screen.rows):
        if not pages or len(pages[-1]) >= MAX_ROWS or used + len(row) > MAX_BUTTONS:
            pages.append([])
            used = 0
        pages[-1].append(row)
        used += len(row)
    return [{"type": "inline_keyboard", "payload": {"buttons": [[_button(b) for b in row] for row in page]}}
            for page in pages]


def messages(screen: Screen) -> list[tuple[str, list[dict[str, Any]]]]:
    """(text, attachments) of each message that shows `screen`: the keyboard rides on the
    last part of the text; a keyboard too big for one message continues on further ones."""
    texts = split_text(screen.text)
    boards = keyboards(screen)
    result: list[tuple[str, list[dict[str, Any]]]] = [(text, []) for text in texts]
    if boards:
        result[-1] = (result[-1][0], [boards[0]])
        result.extend((CONTINUED, [board]) for board in boards[1:])
    return result
