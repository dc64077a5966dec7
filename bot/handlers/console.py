"""The dialogs in a terminal, as one parent (platform "console", user "local").

Each screen is printed as its text followed by its buttons, numbered across
the whole reply (`[1] Найти кружок   [2] Мои дети`). Typing a number presses
that button; anything else is typed text or a /command. End of input (Ctrl-D)
or Ctrl-C ends the chat cleanly. Input and output streams are injectable, so
a test can feed lines and read what was printed.

Like a messenger:
- it opens on the screen the parent was on (`Dialogs.current`), so a question
  half answered before a restart is asked again; /start only on the first run;
- alerts and notices the bot owes the terminal parent (outbox rows of platform
  "console") arrive through `ConsoleSender` while a chat runs: each is printed
  on its own lines at the prompt, then the prompt again; its buttons are
  numbered after the ones already shown, so both stay pressable. A row counts
  as sent once printed; while no chat runs the rows wait in the outbox.
  What the parent had half typed stays in the terminal's line buffer and is
  sent with Enter as usual (the chat does not edit the line: no readline).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any, TextIO

from bot.delivery import DeliveryError, RetryLater
from bot.dialogs.screen import Button, Input, Reply, Screen
from bot.runtime import until_stopped

log = logging.getLogger("bot.console")

PLATFORM = "console"
USER_ID = "local"
PROMPT = "> "
HINT = "Terminal chat as one parent: type text or /commands, a number presses that button; Ctrl-D quits."
# What a send answers while no chat prints alerts: longer than the delivery worker waits
# (bot/jobs/delivery.py MAX_PAUSE_SECONDS), so the rows stay pending, no attempt counted.
NO_CHAT_SECONDS = 3600.0


def render(reply: Reply, numbered: int = 0) -> tuple[str, list[Button]]:
    """The reply as terminal text, and its buttons in the order they are numbered
    (after the `numbered` buttons already on the screen)."""
    lines: list[str] = []
    buttons: list[Button] = []
    if reply.notice:
        lines.append(f"» {reply.notice}")
    for screen in reply.screens:
        if lines:
            lines.append("")
        lines.append(screen.text)
        if screen.image and os.path.isfile(screen.image):
            lines.append(f"🖼 {os.path.abspath(screen.image)}")   # the picture: open the file to see it
        for row in screen.rows:
            cells = []
            for button in row:
                buttons.append(button)
                cells.append(f"[{numbered + len(buttons)}] {button.label}")
            lines.append("   ".join(cells))
    return "\n".join(lines), buttons


def to_input(line: str, buttons: list[Button]) -> Input:
    """A number of a shown button presses it; anything else is text (or a /command)."""
    stripped = line.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        return Input.press(buttons[int(stripped) - 1].action)
    return Input.from_text(line.rstrip("\r\n"))


def _start_reader(stream: TextIO, loop: asyncio.AbstractEventLoop,
                  queue: asyncio.Queue[str | None]) -> threading.Event:
    """Read lines in a daemon thread: a blocked terminal read never holds up the exit.

    Returns an event that tells the reader to stop after its current line.
    """
    done = threading.Event()

    def deliver(line: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, line)
            return True
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False

    def read() -> None:
        try:
            while not done.is_set():
                line = stream.readline()
                if not line or not deliver(line):
                    break
        except (OSError, ValueError):  # the stream was closed under us
            pass
        finally:
            if not done.is_set():
                deliver(None)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return done


async def _ask(dialogs: Any, inp: Input) -> Reply:
    try:
        return await dialogs.handle(PLATFORM, USER_ID, inp)
    except Exception as exc:  # noqa: BLE001 - no traceback in the chat
        from bot.dialogs import texts

        log.error("dialog failed on a %s input: %s", inp.kind, type(exc).__name__)
        return Reply(screens=[Screen(texts.GENERIC_ERROR)])


class _Alert:
    """A screen waiting for the chat to print it; `printed` is resolved once it was."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.printed: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class ConsoleSender:
    """The bot.delivery.Sender of the terminal chat: a send prints at the running chat's prompt
    and returns once printed; with no chat running it answers RetryLater (the row waits)."""

    platform = PLATFORM

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] | None = None

    def attach(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    def detach(self) -> None:
        self._queue = None

    async def send(self, user_id: str, screen: Screen) -> None:
        if str(user_id) != USER_ID:
            raise DeliveryError("not the terminal parent")
        if self._queue is None:
            raise RetryLater(NO_CHAT_SECONDS)
        alert = _Alert(screen)
        self._queue.put_nowait(alert)
        await alert.printed


def register_sender(ctx: Any) -> ConsoleSender:
    """The terminal's Sender in ctx.senders["console"] (the scheduler's worker finds it there)."""
    sender = ctx.senders.get(PLATFORM)
    if not isinstance(sender, ConsoleSender):
        sender = ctx.senders[PLATFORM] = ConsoleSender()
    return sender


def _not_printed(alert: _Alert) -> None:
    if not alert.printed.done():
        alert.printed.set_exception(RetryLater(NO_CHAT_SECONDS))


async def _opening(dialogs: Any) -> Reply:
    """The screen the parent was on before a restart; /start the first time."""
    try:
        reply = await dialogs.current(PLATFORM, USER_ID)
    except Exception as exc:  # noqa: BLE001 - a fresh start rather than no chat at all
        log.error("picking the conversation up failed: %s", type(exc).__name__)
        reply = None
    return reply if reply is not None else await _ask(dialogs, Input.from_text("/start"))


async def chat(dialogs: Any, stop: asyncio.Event | None = None,
               stdin: TextIO | None = None, stdout: TextIO | None = None,
               sender: ConsoleSender | None = None) -> None:
    """Talk to `dialogs` until end of input or `stop`; opens where the parent left off (else
    /start). Alerts sent through `sender` meanwhile are printed at the prompt."""
    stop = stop or asyncio.Event()
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    queue: asyncio.Queue[Any] = asyncio.Queue()
    reader_done = _start_reader(stdin, asyncio.get_running_loop(), queue)

    def show(reply: Reply, numbered: int = 0) -> list[Button]:
        text, buttons = render(reply, numbered)
        stdout.write(text + "\n" + PROMPT)
        stdout.flush()
        return buttons

    stdout.write(HINT + "\n\n")
    if sender is not None:  # alerts sent while the opening screen is read print right after it
        sender.attach(queue)
    try:
        buttons = show(await _opening(dialogs))
        while not stop.is_set():
            _, item = await until_stopped(stop, queue.get())
            if item is None:
                break
            if isinstance(item, _Alert):
                try:
                    stdout.write("\n")
                    buttons = buttons + show(Reply([item.screen]), len(buttons))
                except BaseException:
                    _not_printed(item)
                    raise
                if not item.printed.done():
                    item.printed.set_result(None)
                continue
            if not item.strip():
                stdout.write(PROMPT)
                stdout.flush()
                continue
            stdout.write("\n")
            buttons = show(await _ask(dialogs, to_input(item, buttons)))
    finally:
        reader_done.set()
        if sender is not None:
            sender.detach()
        while not queue.empty():  # alerts not printed stay in the outbox for the next chat
            item = queue.get_nowait()
            if isinstance(item, _Alert):
                _not_printed(item)
    stdout.write("\n")
    stdout.flush()


async def serve(ctx: Any, stop: asyncio.Event, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    await chat(ctx.dialogs, stop, stdin, stdout, sender=register_sender(ctx))
