"""Russian texts of the messages the bot sends on its own (digests, notices,
reminders) and of the operator's /stats screen.

They belong in bot/dialogs/texts.py with every other sentence of the bot;
they live here until the dialogs engineer moves them (one import to change).
"""
from __future__ import annotations

DIGEST_ONE = "🔔 Новый кружок по вашей подписке:"
DIGEST_MANY = "🔔 Новые кружки по вашей подписке ({count}):"
DIGEST_MORE = "…и ещё {more}. Все программы — в поиске: /find"
DIGEST_HINT = "Нажмите номер, чтобы открыть карточку программы и записать ребёнка."
BTN_UNSUBSCRIBE = "🔕 Отписаться"
BTN_UNSUBSCRIBE_N = "🔕 Отписаться ({municipality})"
BTN_OPEN_PROGRAM = "Открыть программу"
BTN_MY_ENROLLMENTS = "📋 Мои записи"
BTN_BALANCE = "💳 Баланс"

WAITLIST_OFFER = (
    "🎉 В программе «{title}» освободилось место для ребёнка {name}.\n"
    "Места не бронируются: чтобы записаться, откройте программу и нажмите «Записать ребёнка»."
)

COPAY_NOTICE = (
    "💳 С 1 января продлена запись {name} в программу «{title}» на {year} год.\n"
    "Стоимость: {cost}, сертификат покрывает {covered}.\n"
    "Не хватает средств сертификата: {copay} нужно будет доплатить организации."
)

YEAR_END_TITLE = "⏳ Напоминание: на сертификате остались свободные средства."
YEAR_END_LINE = "• {name}: сертификат № {number}, свободно {available}"
YEAR_END_TAIL = (
    "Свободный остаток сгорает 31 декабря и на следующий год не переносится. "
    "Успейте выбрать кружок: /find"
)

STATS_TITLE = "📊 Статистика бота"
STATS_BODY = (
    "Родители: {parents} (согласие дали: {consented}, недоступны: {unreachable})\n"
    "Дети: {children}\n"
    "Сертификаты: {certificates} — не подтверждён: {unconfirmed}, учёт: {registered}, с номиналом: {funded}\n"
    "Записи: действуют {active}, отменены {cancelled}\n"
    "Подписки: {subscriptions}\n"
    "Оповещения: ждут {pending}, отправлены {sent}, не доставлены {failed}, сняты {dropped}"
)
STATS_DENIED = "Эта команда только для операторов бота."
