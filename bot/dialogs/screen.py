"""Screens as data: the one contract between the dialogs and the platform adapters.

A dialog turns (the parent's stored state, an `Input`) into a `Reply`: one or
more `Screen`s, each a text plus rows of `Button`s with short action ids.
Adapters (telegram.py, vk.py, console.py) only translate: a platform event
into an `Input`, a `Screen` into a message with a keyboard.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

# Telegram's callback_data is at most 64 bytes; VK payloads are small JSON.
MAX_ACTION_BYTES = 60


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # short ASCII id, e.g. "card:42", "enr:ok:7:42"

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"action id too long: {self.action!r}")


@dataclass(frozen=True)
class Screen:
    text: str
    rows: tuple[tuple[Button, ...], ...] = ()
    # A PNG file to send as a photo, `text` being its short caption. Always sent as a
    # new message (a photo never replaces a text message); a missing file sends the text alone.
    image: str | None = None

    @property
    def buttons(self) -> list[Button]:
        return [button for row in self.rows for button in row]


@dataclass(frozen=True)
class Input:
    """What the parent did: typed text, a /command (with its words), or a button press."""
    kind: Literal["text", "command", "button"]
    text: str = ""      # the typed text, or the words after a command
    command: str = ""   # "start", "find", … without the slash
    action: str = ""    # the pressed button's action id
    # The platform's id of the event (message or press). A platform that
    # re-delivers an event after a crash gets the current screen back
    # instead of a second run of the step (the dialogs remember the last id).
    event_id: str = ""

    @classmethod
    def from_text(cls, raw: str) -> "Input":
        """Typed text; "/find робот" or "/find@MyBot робот" becomes a command."""
        stripped = raw.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            head, _, rest = stripped[1:].partition(" ")
            command = head.split("@", 1)[0].lower()
            if command.isascii() and command.replace("_", "").isalnum():
                return cls(kind="command", command=command, text=rest.strip())
        return cls(kind="text", text=raw)

    @classmethod
    def press(cls, action: str) -> "Input":
        return cls(kind="button", action=action)

    def with_event(self, event_id: str) -> "Input":
        return replace(self, event_id=event_id)


@dataclass
class Reply:
    """The dialog's answer to one input.

    `screens[0]` replaces the screen the pressed button was on (adapters edit
    that message in place when they can); any further screens are sent as new
    messages. `notice` is a short toast for a button press (Telegram's
    answerCallbackQuery text, VK's show_snackbar); it may be None.
    """
    screens: list[Screen] = field(default_factory=list)
    notice: str | None = None


# The commands of SPEC §2, in menu order, with their menu descriptions
# living in bot/dialogs/texts.py (COMMAND_MENU).
COMMANDS = ("start", "find", "children", "balance", "enrollments", "subscribe", "mydata", "help", "cancel",
            "forget", "link", "unlink")
