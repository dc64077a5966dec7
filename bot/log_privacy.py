"""No child's personal data in any log record, at any level (152-ФЗ; SPEC §1).

`PersonalDataFilter` rewrites a record's message, its arguments and its traceback with
what could be a child's data masked:
  - SNILS-like numbers: 11 digits, with or without dashes and spaces (`112-233-445 95`,
    `112-233-44595`, `11223344595`);
  - dates: `05.03.2016`, `5-3-2016`, `2016-03-05`, and `date(2016, 3, 5)` as SQL parameters
    are printed;
  - names: every Cyrillic word (the bot's own log lines are English, so Cyrillic in a
    record is something a parent typed or was shown), Cyrillic escaped as `\\u0418` or
    `%D0%98`, and runs of two to four capitalised Latin words (a name typed in Latin).

`install()` applies it to every record as the record is made (the log record factory),
so no logger, handler or library escapes it: a filter on one logger would miss records
of its children, a filter on handlers would miss handlers added later.
"""
from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

_PATTERNS = (
    # SNILS: three groups of three and two digits, optional dash or space between groups.
    re.compile(r"(?<!\d)\d{3}[- ]?\d{3}[- ]?\d{3}[- ]?\d{2}(?!\d)"),
    # Dates a birth date is written as.
    re.compile(r"(?<!\d)\d{1,2}[./-]\d{1,2}[./-]\d{4}(?!\d)"),
    re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)"),
    re.compile(r"\bdate\(\d{4}, \d{1,2}, \d{1,2}\)"),
    # Names.
    re.compile(r"[А-Яа-яЁё]+(?:[-'’][А-Яа-яЁё]+)*"),
    re.compile(r"(?:\\+u04[0-9a-fA-F]{2})+"),
    re.compile(r"(?:%D[01]%[89AB][0-9A-F])+", re.IGNORECASE),
    re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?(?: [A-Z][a-z]+(?:[-'][A-Z][a-z]+)?){1,3}\b"),
)


def mask(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class PersonalDataFilter(logging.Filter):
    """Masks the record in place; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pd_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: keep its template, drop its args
            message = str(record.msg)
        record.msg, record.args = mask(message), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # The formatter prints exc_text; without exc_info none recomputes it unmasked.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        record._pd_masked = True
        return True


_installed: dict[str, Any] = {}


def install() -> None:
    """Mask every log record from now on (idempotent)."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    masker = PersonalDataFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        masker.filter(record)
        return record

    _installed["previous"] = previous
    logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Back to the factory before install() (tests)."""
    previous = _installed.pop("previous", None)
    if previous is not None:
        logging.setLogRecordFactory(previous)
