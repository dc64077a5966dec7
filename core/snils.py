"""SNILS (СНИЛС): 11 digits shown as XXX-XXX-XXX YY, with a checksum (SPEC §1)."""
from __future__ import annotations

import re

from core.errors import DomainError

# Numbers up to 001-001-998 were issued before the checksum existed.
CHECKSUM_FROM = 1_001_998
_SEPARATORS = re.compile(r"[\s\-‐‑–—]+")


def control_number(first_nine: str) -> int:
    """Σ d_i·(10−i) over the first nine digits, reduced as the Pension Fund does."""
    total = sum(int(digit) * (9 - index) for index, digit in enumerate(first_nine))
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    total %= 101
    return 0 if total == 100 else total


def checksum_applies(digits: str) -> bool:
    return int(digits[:9]) > CHECKSUM_FROM


def normalize_snils(raw: str) -> str:
    """The 11 digits of a SNILS typed with or without dashes and spaces.

    Raises DomainError("snils_format") or DomainError("snils_checksum").
    """
    digits = _SEPARATORS.sub("", raw or "")
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        raise DomainError("snils_format")
    if checksum_applies(digits) and control_number(digits[:9]) != int(digits[9:]):
        raise DomainError("snils_checksum")
    return digits


def format_snils(digits: str) -> str:
    return f"{digits[0:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:11]}"


def mask_snils(digits: str) -> str:
    """`***-***-445 95`: enough for a parent to recognise the number, not to use it."""
    return f"***-***-{digits[6:9]} {digits[9:11]}"
