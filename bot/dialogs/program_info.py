"""What a parent needs to get to a program: where (address and map link), when
(the parsed schedule, the first lesson), whom to call (contacts), what to bring.
Shared by the card (find.py), the enrollment's confirmation and "what next"
(enroll.py) and a child's week (children.py)."""
from __future__ import annotations

import datetime as dt

from bot.dialogs import format as fmt
from bot.dialogs import texts
from core import schedule
from core.contacts import map_url
from core.models import Program
from core.schedule import Lesson
from core.timetable import Clash


def lessons_of(program: Program) -> list[Lesson]:
    return schedule.loads(program.lessons)


def time_text(start: dt.time, end: dt.time) -> str:
    return texts.LESSON_TIME.format(start=f"{start:%H:%M}", end=f"{end:%H:%M}")


def lesson_text(lesson: Lesson) -> str:
    """'Пн 16:00–17:30'."""
    return texts.SCHEDULE_GROUP.format(days=texts.WEEKDAYS_SHORT[lesson.weekday - 1],
                                       time=time_text(lesson.start, lesson.end))


def schedule_text(program: Program) -> str:
    """The parsed schedule, days with the same hours together ('Пн, Ср 16:00–17:30; Сб 10:00–12:00');
    the catalog's text when it was not understood; '—' when there is none."""
    lessons = lessons_of(program)
    if not lessons:
        return program.schedule or "—"
    return "; ".join(texts.SCHEDULE_GROUP.format(
        days=", ".join(texts.WEEKDAYS_SHORT[day - 1] for day in days), time=time_text(start, end))
        for days, start, end in schedule.groups(lessons))


def map_line(program: Program) -> str:
    """'\\nНа карте: https://yandex.ru/maps/?text=…', or '' without an address."""
    url = map_url(program.municipality.name, program.address or "")
    return texts.CARD_MAP.format(url=url) if url else ""


def has_contacts(program: Program) -> bool:
    return bool(program.phone or program.email or program.website)


def contacts_text(program: Program) -> str:
    """The organisation's phone, e-mail and website, one a line; or that none are known."""
    if not has_contacts(program):
        return texts.CARD_NO_CONTACTS
    text = texts.CARD_CONTACTS_TITLE
    if program.phone:
        text += texts.CONTACT_PHONE.format(phone=program.phone)
    if program.email:
        text += texts.CONTACT_EMAIL.format(email=program.email)
    if program.website:
        text += texts.CONTACT_WEBSITE.format(website=program.website)
    return text


def first_lesson_text(program: Program, today: dt.date) -> str:
    """The first lesson on or after today and the program's start, in its study months."""
    lessons = lessons_of(program)
    found = schedule.first_lesson(lessons, max(today, program.start_date), program.end_date,
                                  program.study_months)
    if found is not None:
        day, lesson = found
        return texts.NEXT_FIRST_LESSON.format(weekday=texts.WEEKDAYS[day.isoweekday() - 1],
                                              date=fmt.date(day), time=time_text(lesson.start, lesson.end))
    if program.schedule:
        return texts.NEXT_SCHEDULE_ONLY.format(schedule=schedule_text(program))
    return texts.NEXT_NO_SCHEDULE


def what_next_text(program: Program, today: dt.date, certificate_number: str | None) -> str:
    """After enrolling: where to go, when, whom to contact and what to bring (documents per
    the regions' rules for parents: the certificate's number, the child's and the parent's papers)."""
    text = texts.NEXT_TITLE
    if program.address:
        text += texts.NEXT_ADDRESS.format(address=program.address) + map_line(program)
    else:
        text += texts.NEXT_NO_ADDRESS
    text += first_lesson_text(program, today)
    text += contacts_text(program)
    text += texts.NEXT_BRING_TITLE
    if certificate_number:
        text += texts.NEXT_BRING_CERTIFICATE.format(number=certificate_number)
    text += texts.NEXT_BRING_CHILD_DOCUMENT + texts.NEXT_BRING_PARENT_DOCUMENT + texts.NEXT_BRING_FORMS
    return text


def clash_text(clashes: list[Clash]) -> str:
    """The enrollment preview's warning: each overlapping lesson with the program it meets."""
    if not clashes:
        return ""
    text = texts.CLASH_TITLE
    for clash in clashes:
        text += texts.CLASH_LINE.format(
            weekday=texts.WEEKDAYS_SHORT[clash.new.weekday - 1], new=time_text(clash.new.start, clash.new.end),
            old=time_text(clash.attended.start, clash.attended.end), title=fmt.quoted(clash.program.title))
    return text + texts.CLASH_NOTE
