"""Where the log goes while the terminal chat runs: `bot.log` in the data folder.

In messenger mode the log goes to stderr, the operator's console (or systemd's /
docker's journal), as `bot/cli.py` sets it up. In the terminal chat that console
is the conversation itself, so log lines there would land between the bot's
screens: `to_file` moves them to `<data folder>/bot.log` instead (appended, never
rotated: a terminal chat logs little). The personal-data mask (bot/log_privacy.py)
already rewrites every record as it is made; the file handler carries the
filter too, so a record made before the mask was installed is masked as well.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from bot import log_privacy
from bot.config import Settings
from core.db import data_dir

FILE_NAME = "bot.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path(settings: Settings) -> Path:
    return data_dir(settings.database_url) / FILE_NAME


def _is_console(handler: logging.Handler) -> bool:
    """A handler writing to the terminal (what logging.basicConfig installs), not to a file."""
    if isinstance(handler, logging.FileHandler) or not isinstance(handler, logging.StreamHandler):
        return False
    terminal = {id(s) for s in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__) if s is not None}
    return id(handler.stream) in terminal


@contextlib.contextmanager
def to_file(settings: Settings) -> Iterator[Path]:
    """Send every log record to the data folder's bot.log, none to the terminal, until exit."""
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(log_privacy.PersonalDataFilter())
    root = logging.getLogger()
    removed = [h for h in root.handlers if _is_console(h)]
    for console in removed:
        root.removeHandler(console)
    root.addHandler(handler)
    logging.captureWarnings(True)  # a library's warning would otherwise print into the chat
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for console in removed:
            root.addHandler(console)
