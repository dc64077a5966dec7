"""A `Screen`'s buttons as VK keyboards, within VK's limits, never dropping a choice.

VK allows at most 5 buttons a row, 6 rows and 10 buttons in all on an inline
keyboard, 10 rows and 40 buttons on a regular one, and labels of at most 40
characters (dev.vk.com/ru/api/bots/development/keyboard). A screen with more rows is
shown in pages: the last row of each page holds «◀ Назад» / «Ещё ▶», whose
actions (`vkpage:N:KEY`) the adapter answers itself by re-rendering the
remembered screen (`KEY` names it), without asking the dialogs.

Every button carries its action in the payload (`{"a": action}`); text
buttons are also matched back by label (`Page.labels`) for clients that send
the label without the payload.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from bot.dialogs.screen import Button, Screen
from bot.dialogs.texts import LABEL_NEXT, LABEL_PREV  # the adapter's own paging labels

MAX_BUTTONS_PER_ROW = 5
MAX_ROWS_INLINE = 6
MAX_ROWS_DEFAULT = 10
MAX_BUTTONS_INLINE = 10    # buttons in all on one inline keyboard
MAX_BUTTONS_DEFAULT = 40
MAX_LABEL = 40

PAGE_PREFIX = "vkpage:"


def screen_key(screen: Screen) -> str:
    """A short stable name of a screen's buttons, to find it again when a page button is pressed."""
    blob = json.dumps([[b.label, b.action] for b in screen.buttons], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def page_action(page: int, key: str) -> str:
    return f"{PAGE_PREFIX}{page}:{key}"


def parse_page_action(action: str) -> tuple[int, str] | None:
    """(page, key) of an adapter paging action, None for any other action."""
    if not action.startswith(PAGE_PREFIX):
        return None
    page, _, key = action[len(PAGE_PREFIX):].partition(":")
    if not page.isdigit() or not key or len(page) > 4:
        return None
    return int(page), key


def clip_label(label: str) -> str:
    label = " ".join(label.split()) or "·"
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def split_rows(rows: tuple[tuple[Button, ...], ...]) -> list[tuple[Button, ...]]:
    """The screen's rows with none wider than VK allows (a wide row becomes several)."""
    result: list[tuple[Button, ...]] = []
    for row in rows:
        for start in range(0, len(row), MAX_BUTTONS_PER_ROW):
            chunk = row[start:start + MAX_BUTTONS_PER_ROW]
            if chunk:
                result.append(tuple(chunk))
    return result


@dataclass(frozen=True)
class Page:
    keyboard: str                    # the JSON VK's `keyboard` parameter takes
    rows: list[list[Button]]         # what is on this page, navigation included
    page: int
    pages: int
    labels: dict[str, str] = field(default_factory=dict)  # shown label → action

    @property
    def actions(self) -> list[str]:
        return [button.action for row in self.rows for button in row]


def _limits(inline: bool) -> tuple[int, int]:
    """(rows, buttons) one keyboard may hold."""
    return (MAX_ROWS_INLINE, MAX_BUTTONS_INLINE) if inline else (MAX_ROWS_DEFAULT, MAX_BUTTONS_DEFAULT)


def paginate(rows: list[tuple[Button, ...]], inline: bool) -> list[list[tuple[Button, ...]]]:
    """The rows in pages that fit VK's limits with room left for the navigation row.

    Rows stay whole (a row never holds more than 5 buttons, and a page has
    room for more), so the dialogs' layout survives, only spread over pages.
    """
    max_rows, max_buttons = _limits(inline)
    if len(rows) <= max_rows and sum(len(row) for row in rows) <= max_buttons:
        return [rows]
    room_rows, room_buttons = max_rows - 1, max_buttons - 2   # «◀ Назад» «Ещё ▶»
    pages: list[list[tuple[Button, ...]]] = [[]]
    used = 0
    for row in rows:
        if pages[-1] and (len(pages[-1]) + 1 > room_rows or used + len(row) > room_buttons):
            pages.append([])
            used = 0
        pages[-1].append(row)
        used += len(row)
    return pages


def page_count(screen: Screen, inline: bool) -> int:
    return len(paginate(split_rows(screen.rows), inline))


def render(screen: Screen, *, inline: bool, page: int = 0) -> Page | None:
    """The keyboard of one page of `screen` (None when the screen has no buttons).

    `inline` means an inline keyboard of callback buttons (clients that
    support them); otherwise a persistent keyboard of text buttons.
    """
    rows = split_rows(screen.rows)
    if not rows:
        return None
    pages_of_rows = paginate(rows, inline)
    pages = len(pages_of_rows)
    page = min(max(page, 0), pages - 1)
    shown = [list(row) for row in pages_of_rows[page]]
    if pages > 1:
        key = screen_key(screen)
        nav: list[Button] = []
        if page > 0:
            nav.append(Button(LABEL_PREV, page_action(page - 1, key)))
        if page < pages - 1:
            nav.append(Button(LABEL_NEXT, page_action(page + 1, key)))
        shown.append(nav)
    button_type = "callback" if inline else "text"
    vk_rows = []
    labels: dict[str, str] = {}
    for row in shown:
        vk_row = []
        for button in row:
            label = clip_label(button.label)
            labels.setdefault(label, button.action)
            vk_row.append({
                "action": {
                    "type": button_type,
                    "label": label,
                    "payload": json.dumps({"a": button.action}, separators=(",", ":")),
                },
                "color": "secondary",
            })
        vk_rows.append(vk_row)
    keyboard = json.dumps({"one_time": False, "inline": inline, "buttons": vk_rows},
                          ensure_ascii=False, separators=(",", ":"))
    return Page(keyboard=keyboard, rows=shown, page=page, pages=pages, labels=labels)


EMPTY_KEYBOARD = json.dumps({"one_time": False, "buttons": []}, separators=(",", ":"))
EMPTY_INLINE_KEYBOARD = json.dumps({"inline": True, "buttons": []}, separators=(",", ":"))


def action_from_payload(payload: object) -> str | None:
    """The action id a button press carries (VK gives the payload as a dict or a JSON string).

    Anything else — malformed JSON, a non-string action, an over-long or
    non-ASCII action — is None: the press is ignored, never guessed at.
    """
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if not isinstance(payload, dict):
        return None
    action = payload.get("a")
    if not isinstance(action, str) or not action or not action.isascii() or len(action) > 60:
        return None
    return action


def is_start_payload(payload: object) -> bool:
    """VK's own «Начать» button sends `{"command":"start"}`."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return False
    return isinstance(payload, dict) and payload.get("command") == "start"
