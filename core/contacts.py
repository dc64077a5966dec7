"""A program's contacts (import columns `phone`, `email`, `website`) and its map link.

Each reader takes what a catalog writes and returns the stored form, or raises
ContactInvalid with the reason: a Russian phone number becomes "+7 XXX XXX-XX-XX",
an e-mail keeps its local part and lower-cases its domain, a website is an
http(s) address (a bare domain gets "https://").
"""
from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

MAX_LENGTH = 300
MAP_SEARCH = "https://yandex.ru/maps/?text="

_PHONE_PUNCTUATION = re.compile(r"[\s()\-.\u2010-\u2015]")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([^@\s]+)$")
_LABEL = re.compile(r"^[a-zа-яё0-9](?:[a-zа-яё0-9-]{0,61}[a-zа-яё0-9])?$")
_TLD = re.compile(r"^(?:[a-zа-яё]{2,24}|xn--[a-z0-9-]{2,59})$")


class ContactInvalid(ValueError):
    pass


def _checked(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > MAX_LENGTH:
        raise ContactInvalid(f"{what} is longer than {MAX_LENGTH} characters")
    return value


def parse_phone(raw: str) -> str:
    """'8 (8793) 33-12-45', '+7 928 123 45 67', '89281234567', '(928) 123-45-67' → '+7 928 123-45-67'."""
    value = _checked(raw, "phone")
    digits = _PHONE_PUNCTUATION.sub("", value)
    if digits.startswith("+7"):
        digits = digits[2:]
    elif len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if not (digits.isascii() and digits.isdigit() and len(digits) == 10):
        raise ContactInvalid(f"phone '{value[:40]}' is not a Russian number (+7 and ten digits)")
    return f"+7 {digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def _host(host: str) -> bool:
    labels = host.lower().rstrip(".").split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels) and bool(_TLD.match(labels[-1]))


def parse_email(raw: str) -> str:
    value = _checked(raw, "email")
    found = _EMAIL.match(value)
    if not found or not _host(found.group(1)) or ".." in value or value.startswith("."):
        raise ContactInvalid(f"email '{value[:60]}' is not an e-mail address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def parse_website(raw: str) -> str:
    """'https://cdt26.ru/kruzhki', 'http://сайт.рф', 'www.cdt26.ru' → an http(s) address."""
    value = _checked(raw, "website")
    address = value if re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE) else f"https://{value}"
    try:
        parts = urlsplit(address)
        host, scheme, user = parts.hostname or "", parts.scheme.lower(), parts.username
        parts.port   # noqa: B018 - raises on a bad port
    except ValueError:
        host, scheme, user = "", "", None
    if scheme not in ("http", "https") or any(c.isspace() for c in value) or user or not _host(host):
        raise ContactInvalid(f"website '{value[:60]}' is not a web address (http, https or a domain)")
    return address


def map_url(municipality: str, address: str) -> str | None:
    """A Yandex Maps search for the address in its municipality; None without an address."""
    if not address.strip():
        return None
    address = address.strip()
    where = address if municipality.lower() in address.lower() else f"{municipality}, {address}"
    return MAP_SEARCH + quote(where, safe="")
