"""Issue 13: the common schedule forms parse into lessons (weekday, start, end); what the
parser does not understand is None (kept as text); lessons that only touch do not overlap;
the first lesson falls on or after a date, in a study month."""
from __future__ import annotations

import datetime as dt

import pytest

from core.schedule import Lesson, clashes, dumps, first_lesson, groups, loads, parse


@pytest.mark.parametrize("text, stored", [
    ("пн, ср 16:00–17:30", "1 16:00-17:30;3 16:00-17:30"),
    ("Пн, Ср 16:00-17:30", "1 16:00-17:30;3 16:00-17:30"),
    ("Пн-Пт 15:00-16:00", "1 15:00-16:00;2 15:00-16:00;3 15:00-16:00;4 15:00-16:00;5 15:00-16:00"),
    ("Пн–Пт 9:00–14:00", "1 09:00-14:00;2 09:00-14:00;3 09:00-14:00;4 09:00-14:00;5 09:00-14:00"),
    ("сб 10:00–13:00", "6 10:00-13:00"),
    ("СБ 10:00—13:00", "6 10:00-13:00"),
    ("пн, ср 16:00–17:30; сб 10:00–12:00", "1 16:00-17:30;3 16:00-17:30;6 10:00-12:00"),
    ("пн, ср 16:00–17:30, сб 10:00–12:00", "1 16:00-17:30;3 16:00-17:30;6 10:00-12:00"),
    ("Вт, Чт 16.00-17.30", "2 16:00-17:30;4 16:00-17:30"),
    ("Вт, Чт 16.00 – 17.30", "2 16:00-17:30;4 16:00-17:30"),
    ("Пн. и Ср. 16:00-17:30", "1 16:00-17:30;3 16:00-17:30"),
    ("вторник, четверг 16:00–17:30", "2 16:00-17:30;4 16:00-17:30"),
    ("по средам с 16:00 до 17:30", "3 16:00-17:30"),
    ("Суббота 9:00-13:00\nВоскресенье 10:00-11:00", "6 09:00-13:00;7 10:00-11:00"),
    ("пн 10:00-11:00, 15:00-16:00", "1 10:00-11:00;1 15:00-16:00"),
    ("пт-пн 10:00-11:00", "1 10:00-11:00;5 10:00-11:00;6 10:00-11:00;7 10:00-11:00"),
    ("пн по ср 8:30-9:15", "1 08:30-09:15;2 08:30-09:15;3 08:30-09:15"),
    ("ежедневно 9:00-10:00", ";".join(f"{d} 09:00-10:00" for d in range(1, 8))),
    ("Сб, Вс 11:00–12:30", "6 11:00-12:30;7 11:00-12:30"),
    ("по будням 9:00-10:00", ";".join(f"{d} 09:00-10:00" for d in range(1, 6))),
    ("будни 9:00-10:00, сб 10:00-11:00", ";".join(f"{d} 09:00-10:00" for d in range(1, 6)) + ";6 10:00-11:00"),
])
def test_common_forms_parse(text, stored):
    assert dumps(parse(text)) == stored


@pytest.mark.parametrize("text", [
    "Вт, Чт 16:00",               # no end time
    "по договорённости",
    "16:00-17:30",                # no day
    "пн 17:30-16:00",             # ends before it starts
    "пн 25:00-26:00",
    "вторая смена",
    "пн, ср",                     # days without a time
    "пн 16:00-17:30 (кроме праздников)",
])
def test_other_text_is_not_guessed(text):
    assert parse(text) is None


def test_an_empty_schedule_has_no_lessons():
    assert parse("") == [] and parse(None) == [] and dumps([]) is None


def test_stored_lessons_read_back():
    lessons = parse("пн, ср 16:00–17:30; сб 10:00–12:00")
    assert loads(dumps(lessons)) == lessons and loads(None) == []


def test_days_with_the_same_hours_group_together():
    assert groups(parse("сб 10:00-12:00; пн, ср 16:00-17:30")) == [
        ([1, 3], dt.time(16), dt.time(17, 30)), ([6], dt.time(10), dt.time(12))]


def test_lessons_that_only_touch_do_not_clash():
    assert clashes(parse("пн 16:00-17:30"), parse("пн 17:30-18:00")) == []
    assert clashes(parse("пн 17:30-18:00"), parse("пн 16:00-17:30")) == []


def test_overlapping_lessons_clash_on_each_shared_day():
    found = clashes(parse("Пн, Ср 15:00–16:30"), parse("Пн, Ср, Пт 16:00–17:00"))
    assert found == [(Lesson(1, dt.time(15), dt.time(16, 30)), Lesson(1, dt.time(16), dt.time(17))),
                     (Lesson(3, dt.time(15), dt.time(16, 30)), Lesson(3, dt.time(16), dt.time(17)))]
    assert clashes(parse("вт 16:00-17:00"), parse("пн 16:00-17:00")) == []


def test_first_lesson_on_or_after_a_day():
    lessons = parse("вт, чт 16:00-17:30")
    # 2026-12-02 is a Wednesday: Thursday comes first.
    assert first_lesson(lessons, dt.date(2026, 12, 2), dt.date(2027, 5, 31)) == (
        dt.date(2026, 12, 3), Lesson(4, dt.time(16), dt.time(17, 30)))
    assert first_lesson(lessons, dt.date(2026, 12, 3), dt.date(2027, 5, 31))[0] == dt.date(2026, 12, 3)


def test_first_lesson_skips_the_months_off():
    # Enrolled in June to a program of the school year: the first lesson is in September.
    assert first_lesson(parse("пн 10:00-11:00"), dt.date(2026, 6, 10), dt.date(2027, 5, 31))[0] == \
        dt.date(2026, 9, 7)
    assert first_lesson(parse("пн 10:00-11:00"), dt.date(2026, 6, 10), dt.date(2026, 8, 31)) is None
    assert first_lesson([], dt.date(2026, 6, 10), dt.date(2027, 5, 31)) is None
