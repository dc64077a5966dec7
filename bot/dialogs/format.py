"""Numbers, dates and ids as a parent reads them: `12 000 ₽`, `36 ч`, `21.11.2026`;
program titles in quotes that never nest (`quoted`); the child's grammatical gender
from the patronymic (`gender_of`, `for_child`).

Money arrives as int kopecks and hours as int hours; nothing here ever
touches a float. Thousands are separated by a no-break space (U+00A0) so a
messenger never wraps "12 000 ₽" across lines.
"""
from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Mapping

from pytrovich.detector import PetrovichGenderDetector
from pytrovich.enums import Gender as PetrovichGender

from core.models import Unit
from core.snils import mask_snils

NBSP = "\u00a0"


def group(number: int) -> str:
    """1234567 → '1 234 567' (no-break spaces)."""
    sign = "-" if number < 0 else ""
    digits = str(abs(int(number)))
    parts = []
    while len(digits) > 3:
        parts.append(digits[-3:])
        digits = digits[:-3]
    parts.append(digits)
    return sign + NBSP.join(reversed(parts))


def money(kopecks: int) -> str:
    """1200000 → '12 000 ₽'; 123450 → '1 234,50 ₽'."""
    kopecks = int(kopecks)
    sign = "-" if kopecks < 0 else ""
    rubles, rest = divmod(abs(kopecks), 100)
    text = group(rubles)
    if rest:
        text += f",{rest:02d}"
    return f"{sign}{text}{NBSP}₽"


def hours(value: int) -> str:
    return f"{group(int(value))}{NBSP}ч"


def amount(value: int, unit: Unit | str | None) -> str:
    """An amount in the certificate's unit (rubles in kopecks, or hours)."""
    if unit is None:
        return money(value)
    if Unit(unit) is Unit.HOURS:
        return hours(value)
    return money(value)


def date(day: dt.date | dt.datetime | None) -> str:
    if day is None:
        return "—"
    return day.strftime("%d.%m.%Y")


def snils_masked(digits: str | None) -> str:
    """A SNILS as shown after it was typed: `***-***-445 95` (the last five digits only)."""
    return mask_snils(digits) if digits and len(digits) == 11 else "—"


# Every SNILS the bot shows is masked: no screen needs the whole number back.
snils = snils_masked


def short(text: str, limit: int = 40) -> str:
    """A button label cut to fit (messengers truncate long labels badly)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def years(n: int) -> str:
    """Age with the Russian plural: 1 год, 4 года, 5 лет, 21 год, 11 лет."""
    n = int(n)
    tail, tail2 = abs(n) % 10, abs(n) % 100
    if tail == 1 and tail2 != 11:
        word = "год"
    elif 2 <= tail <= 4 and not 12 <= tail2 <= 14:
        word = "года"
    else:
        word = "лет"
    return f"{n} {word}"


def moment(when: dt.datetime, tz: dt.tzinfo) -> str:
    """An instant on the parent's calendar: '22.11.2026 14:05'."""
    return when.astimezone(tz).strftime("%d.%m.%Y %H:%M")


# --- Quotes and grammatical gender ---------------------------------------------

_INNER = str.maketrans({"«": "„", "»": "“"})


def quoted(title: str | None) -> str:
    """A program's title in «ёлочки», never nested: «Студия „Арт“», not «Студия «Арт»».

    A title wholly in quotes already is not wrapped again; quotes inside it become „лапки“,
    as Russian typography nests them."""
    text = " ".join((title or "").split()) or "—"
    for left, right in (("«", "»"), ('"', '"'), ("„", "“"), ("“", "”")):
        if len(text) > 2 and text.startswith(left) and text.endswith(right) \
                and left not in text[1:-1] and right not in text[1:-1]:
            text = text[1:-1]
            break
    text = text.translate(_INNER)
    # Straight double quotes inside pair up as „…“ (odd ones open, even ones close).
    pieces = text.split('"')
    if len(pieces) > 1:
        text = pieces[0] + "".join(("„" if n % 2 == 0 else "“") + piece for n, piece in enumerate(pieces[1:]))
    return f"«{text}»"


class Gender(enum.Enum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


@functools.cache
def _detector() -> PetrovichGenderDetector:
    return PetrovichGenderDetector()


def patronymic(full_name: str | None) -> str:
    """The patronymic of 'Фамилия Имя Отчество' (everything after the given name:
    'Лутфияр кызы' is two words); '' when there is none."""
    parts = (full_name or "").split()
    return " ".join(parts[2:])


def gender_of(full_name: str | None) -> Gender:
    """The child's grammatical gender, from the patronymic only (-ович/-евна, оглы/кызы…).

    The one place this rule lives. Without a patronymic, or with one the library cannot
    tell, the gender is UNKNOWN and texts use a wording that needs none."""
    middle = patronymic(full_name)
    if not middle:
        return Gender.UNKNOWN
    found = _detector().detect(middlename=middle)
    if found is PetrovichGender.MALE:
        return Gender.MALE
    if found is PetrovichGender.FEMALE:
        return Gender.FEMALE
    return Gender.UNKNOWN


def for_child(variants: Mapping[Gender, str], full_name: str | None) -> str:
    """The variant of a text that fits the child: variants[MALE|FEMALE], else UNKNOWN."""
    return variants.get(gender_of(full_name)) or variants[Gender.UNKNOWN]


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """The Russian plural form for n: forms = (1 оценка, 2 оценки, 5 оценок)."""
    tail, tail2 = abs(int(n)) % 10, abs(int(n)) % 100
    if tail == 1 and tail2 != 11:
        return forms[0]
    if 2 <= tail <= 4 and not 12 <= tail2 <= 14:
        return forms[1]
    return forms[2]


def tenths(value: int) -> str:
    """An average kept in tenths as a parent reads it: 46 → '4,6', 50 → '5,0'."""
    return f"{value // 10},{value % 10}"
