"""Every refusal reason core may raise has its own Russian sentence; amounts,
dates and SNILS are formatted the way a parent reads them."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dialogs import format as fmt
from bot.dialogs import texts
from core.errors import DomainError, NotFound
from core.models import Unit

REASONS = {
    "consent_required": {}, "name_invalid": {}, "date_format": {}, "date_invalid": {"text": "31.02.2015"},
    "date_in_future": {}, "age_out_of_range": {"age": 4, "min": 5, "max": 17}, "snils_format": {},
    "snils_checksum": {}, "snils_taken": {}, "snils_already_added": {}, "child_draft_lost": {}, "snils_not_confirmed": {}, "municipality_not_found": {},
    "child_not_found": {}, "program_not_found": {}, "enrollment_not_found": {}, "subscription_not_found": {},
    "already_enrolled": {}, "already_waiting": {}, "seats_available": {}, "no_seats": {},
    "nominal_not_set": {"municipality": "Город Тест", "year": 2026}, "paid_program": {"provider": "ИП"},
    "program_finished": {"end_date": dt.date(2026, 5, 31)}, "price_missing": {}, "certificate_expired": {"age": 18},
    "not_active": {}, "too_many_subscriptions": {"limit": 10}, "category_invalid": {},
    "no_months_left": {},
}


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_has_its_own_sentence(reason):
    text = texts.refusal(DomainError(reason, **REASONS[reason]))
    assert text != texts.REFUSAL_FALLBACK and "{" not in text and text.endswith(".")


def test_details_fill_the_sentence_and_missing_details_do_not_break_it():
    assert "4 года" in texts.refusal(DomainError("age_out_of_range", age=4, min=5, max=17))
    assert "Программа для детей 7–10 лет, а ребёнку 12 лет" in texts.refusal(
        DomainError("age_out_of_range", age=12, min=7, max=10))
    assert texts.refusal(DomainError("age_out_of_range")) == "Возраст ребёнка не подходит."
    assert "2026" in texts.refusal(DomainError("nominal_not_set", municipality="Город Тест", year=2026))
    # A program with no price in the certificate's unit: that unit, and both towns when they differ.
    assert texts.refusal(DomainError("price_missing", unit="hours", elsewhere=False)) == (
        texts.PRICE_MISSING_HERE[Unit.HOURS])
    elsewhere = texts.refusal(DomainError("price_missing", unit="rub", elsewhere=True,
                                          program_municipality="г. Абакан", child_municipality="г. Пятигорск"))
    assert "«г. Абакан», и цены в рублях у неё нет" in elsewhere and "«г. Пятигорск» и считается в рублях" in elsewhere
    assert "ещё не установлен" in texts.refusal(DomainError("nominal_not_set"))
    assert texts.refusal(NotFound("child", child_id=5)) == texts.REFUSALS["child_not_found"]
    assert texts.refusal(DomainError("something_new")) == texts.REFUSAL_FALLBACK


def test_money_hours_dates_and_snils():
    nb = fmt.NBSP
    assert fmt.money(1_200_000) == f"12{nb}000{nb}₽"
    assert fmt.money(123_450) == f"1{nb}234,50{nb}₽"
    assert fmt.money(5) == f"0,05{nb}₽"
    assert fmt.money(0) == f"0{nb}₽"
    assert fmt.money(-800_000) == f"-8{nb}000{nb}₽"
    assert fmt.hours(36) == f"36{nb}ч" and fmt.amount(1200, Unit.HOURS) == f"1{nb}200{nb}ч"
    assert fmt.amount(100, Unit.RUB) == f"1{nb}₽"
    assert fmt.date(dt.date(2026, 11, 21)) == "21.11.2026"
    # Shown masked everywhere once typed: only the last five digits.
    assert fmt.snils("11223344595") == "***-***-445 95"
    assert fmt.snils_masked("11223344595") == "***-***-445 95"
    assert [fmt.years(n) for n in (1, 4, 5, 11, 12, 21, 22, 17)] == [
        "1 год", "4 года", "5 лет", "11 лет", "12 лет", "21 год", "22 года", "17 лет"]


@given(st.integers(min_value=0, max_value=10**13))
def test_money_text_reads_back_to_the_same_kopecks(kopecks):
    text = fmt.money(kopecks).replace(fmt.NBSP, "").removesuffix("₽")
    rubles, _, cents = text.partition(",")
    assert int(rubles) * 100 + int(cents or 0) == kopecks
    assert cents == "" or len(cents) == 2


def test_the_help_tells_the_facts_of_the_certificate():
    for fact in ("от 5 до 18 лет", "один раз", "до 18-летия", "не подтверждён", "учёт", "с номиналом",
                 "31 декабря", "январь — май", "сентябрь — декабрь", "доплатить", "Обналичить",
                 "другому ребёнку", "вернётся", "кроме июня, июля и августа", "каждого следующего года"):
        assert fact in texts.HELP, fact
