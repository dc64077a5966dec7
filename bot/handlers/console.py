"""The dialogs in a terminal, as one parent (platform "console", user "local").

Each screen is printed as its text followed by its buttons, numbered across
the whole reply (`[1] Найти кружок   [2] Мои дети`). Typing a number presses
that button; anything else is typed text or a /command. End of input (Ctrl-D)
or Ctrl-C ends the chat cleanly. Input and output streams are injectable, so
a test can feed lines and read what was printed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any, TextIO

from bot.dialogs.screen import Button, Input, Reply, Screen
from bot.runtime import until_stopped

log = logging.getLogger("bot.console")

PLATFORM = "console"
USER_ID = "local"
PROMPT = "> "
HINT = "Terminal chat as one parent: type text or /commands, a number presses that button; Ctrl-D quits."


def render(reply: Reply) -> tuple[str, list[Button]]:
    """The reply as terminal text, and its buttons in the order they are numbered."""
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
                cells.append(f"[{len(buttons)}] {button.label}")
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


async def chat(dialogs: Any, stop: asyncio.Event | None = None,
               stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """Talk to `dialogs` until end of input or `stop`; opens with /start."""
    stop = stop or asyncio.Event()
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    reader_done = _start_reader(stdin, asyncio.get_running_loop(), queue)

    def show(reply: Reply) -> list[Button]:
        text, buttons = render(reply)
        stdout.write(text + "\n" + PROMPT)
        stdout.flush()
        return buttons

    stdout.write(HINT + "\n\n")
    try:
        buttons = show(await _ask(dialogs, Input.from_text("/start")))
        while not stop.is_set():
            _, line = await until_stopped(stop, queue.get())
            if line is None:
                break
            if not line.strip():
                stdout.write(PROMPT)
                stdout.flush()
                continue
            stdout.write("\n")
            buttons = show(await _ask(dialogs, to_input(line, buttons)))
    finally:
        reader_done.set()
    stdout.write("\n")
    stdout.flush()


async def serve(ctx: Any, stop: asyncio.Event, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    await chat(ctx.dialogs, stop, stdin, stdout)
