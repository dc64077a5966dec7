"""Every Russian sentence the bot says, in one place.

Texts are plain (no HTML or Markdown parse mode): whatever a parent types is
shown back literally and never interpreted.

Conventions that keep them fitting (tests/dialogs/test_texts_fit.py scans every constant):
- a program title comes after a noun («в программу {title}») and is filled with
  `fmt.quoted(title)`, which adds the «ёлочки» and never nests them: no «{title}» here;
- words that differ by the child's gender are a {Gender.MALE/FEMALE/UNKNOWN: …} dict,
  picked with `fmt.for_child(VARIANTS, child.full_name)` (UNKNOWN needs no gender); no "(а)";
- words that differ by the certificate's unit are a {Unit.RUB/HOURS: …} dict; any other text
  is read by hours certificates too, so it says «средства»/«номинал», never «деньги» or ₽;
- a co-payment in a line of figures is `copay_part(copay, unit)`: «без доплаты», never «0 ₽».
"""
from __future__ import annotations

from typing import Any

from bot.dialogs.format import Gender, amount, quoted, years
from bot.dialogs.screen import COMMANDS
from core.errors import DomainError
from core.models import CertificateStatus, Category, EnrollmentStatus, Funding, ProviderKind, Unit

# --- Telegram's command menu (setMyCommands), in bot.dialogs.screen.COMMANDS order
COMMAND_MENU = {
    "start": "Начать и главное меню",
    "find": "Найти кружок или секцию",
    "children": "Мои дети и их сертификаты",
    "balance": "Баланс сертификатов",
    "enrollments": "Мои записи и отмена",
    "subscribe": "Уведомления о новых кружках",
    "help": "Что такое сертификат и как пользоваться ботом",
    "cancel": "Прервать текущий вопрос",
    "forget": "Удалить мои персональные данные",
    "mydata": "Какие данные обо мне хранятся",
}

# --- Buttons --------------------------------------------------------------
BTN_AGREE = "Даю согласие"
BTN_DISAGREE = "Не даю согласия"
BTN_FIND = "🔎 Найти кружок"
BTN_CHILDREN = "👧 Мои дети"
BTN_BALANCE = "💳 Баланс"
BTN_ENROLLMENTS = "📋 Мои записи"
BTN_SUBSCRIPTIONS = "🔔 Подписки"
BTN_HELP = "❓ Помощь"
BTN_MENU = "В меню"
BTN_BACK = "« Назад"
BTN_CANCEL = "Отмена"
BTN_START_AGAIN = "Начать заново"
BTN_ADD_CHILD = "➕ Добавить ребёнка"
BTN_SAVE = "Сохранить"
BTN_EDIT_AGAIN = "Заполнить заново"
BTN_PREV = "◀"
BTN_NEXT = "▶"
BTN_FILTER_MUNI = "Муниципалитет"
BTN_FILTER_CHILD = "Возраст"
BTN_FILTER_CAT = "Направленность"
BTN_CERT_ONLY_ON = "✅ Только за сертификат"
BTN_CERT_ONLY_OFF = "Только за сертификат"
BTN_RESET_FILTERS = "Сбросить фильтры"
BTN_ANY_MUNI = "Любой муниципалитет"
BTN_ANY_AGE = "Любой возраст"
BTN_ANY_CAT = "Все направленности"
BTN_TO_RESULTS = "« К результатам"
BTN_ENROLL = "Записать ребёнка"
BTN_CONFIRM = "Подтвердить"
BTN_WAITLIST = "Встать в лист ожидания: {name}"
BTN_CANCEL_ENROLLMENT = "Отменить запись"
BTN_YES_CANCEL = "Да, отменить"
BTN_NO_KEEP = "Нет, оставить"
BTN_TO_ENROLLMENTS = "« К записям"
BTN_PLAN = "План на год: {name}"
BTN_TO_BALANCE = "« К балансу"
BTN_NEW_SUBSCRIPTION = "➕ Новая подписка"
BTN_NEXT_STEP = "Дальше »"
BTN_DELETE = "Удалить"
BTN_YES_DELETE = "Да, удалить"
BTN_NO = "Нет"
BTN_TO_SUBSCRIPTIONS = "« К подпискам"
BTN_FORGET_YES = "Да, удалить мои данные"

# --- Labels of domain values ----------------------------------------------
STATUS_LABEL = {
    CertificateStatus.UNCONFIRMED: "не подтверждён",
    CertificateStatus.REGISTERED: "учёт",
    CertificateStatus.FUNDED: "с номиналом",
}
NOT_ISSUED = "ещё не выпущен — выпустится при первой записи"
CATEGORY_LABEL = {
    Category.TECHNICAL: "Техническая",
    Category.SCIENCE: "Естественнонаучная",
    Category.SPORT: "Физкультурно-спортивная",
    Category.ART: "Художественная",
    Category.TOURISM: "Туристско-краеведческая",
    Category.SOCIAL: "Социально-гуманитарная",
}
FUNDING_BADGE = {
    Funding.CERTIFICATE: "💳 Возможна оплата сертификатом",
    Funding.MUNICIPAL: "🆓 Бесплатно (муниципальная)",
    Funding.PAID: "💰 Платная",
}
PROVIDER_KIND = {
    ProviderKind.MUNICIPAL: "муниципальная организация",
    ProviderKind.PRIVATE: "частная организация",
    ProviderKind.IP: "индивидуальный предприниматель",
}
ENROLLMENT_STATUS = {
    EnrollmentStatus.ACTIVE: "действует",
    EnrollmentStatus.CANCELLED: "отменена",
}
MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь",
          "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь")

# --- Start, consent, menu ---------------------------------------------------
GREETING = (
    "Здравствуйте! Я помогу воспользоваться сертификатом дополнительного образования: "
    "найти кружок или секцию для ребёнка от 5 до 18 лет, записаться, следить за балансом "
    "сертификата, отменить запись с возвратом средств и узнавать о новых программах."
)
CONSENT = (
    "Смотреть кружки можно без регистрации. Чтобы записывать детей, мне нужно хранить их ФИО, "
    "дату рождения, СНИЛС и муниципалитет. Пока вы не согласитесь, я ничего о вас не сохраняю. "
    "Полный текст согласия — по кнопке «Прочитать согласие». Отозвать его можно в любой момент "
    "командой /forget — данные будут удалены.\n\n"
    "Вы согласны на обработку персональных данных?"
)
CONSENT_FIRST = "Сначала нужно ваше согласие на обработку персональных данных."
CONSENT_THANKS = "Спасибо! Согласие сохранено."
CONSENT_DECLINED = (
    "Хорошо, я ничего не сохранил. Без согласия я могу только рассказать о сертификате (/help). "
    "Если передумаете — нажмите «Начать заново»."
)
MENU = "Главное меню. Что вы хотите сделать?"
CANCELLED = "Хорошо, прервали. Возвращаемся в меню."
CHOOSE_BUTTON = "Пожалуйста, выберите вариант кнопкой ниже."
# Followed by every command of bot.dialogs.screen.COMMANDS with its COMMAND_MENU line
# (see unknown_command() below), so the list never goes stale.
UNKNOWN_COMMAND = "Такой команды нет. Вот что я умею:"
COMMAND_LINE = "/{command} — {description}"
STALE_BUTTON = "Эта кнопка устарела — возможно, сообщение старое. Вот актуальный экран."
GENERIC_ERROR = "Извините, что-то пошло не так. Попробуйте ещё раз чуть позже."
TEXT_TOO_LONG = "Сообщение слишком длинное. Напишите, пожалуйста, короче."

HELP = (
    "ℹ️ Что такое сертификат дополнительного образования\n"
    "Это электронная запись в реестре, которая позволяет оплачивать кружки и секции для детей "
    "от 5 до 18 лет за счёт бюджета. Сертификат выпускается один раз на ребёнка и действует "
    "до 18-летия — продлевать его не нужно. У него есть номер из 10 цифр.\n\n"
    "Статусы сертификата:\n"
    "• «не подтверждён» — данные ребёнка внесены, но СНИЛС ещё не подтверждён;\n"
    "• «учёт» — СНИЛС подтверждён, можно бесплатно заниматься в муниципальных кружках;\n"
    "• «с номиналом» — на сертификате есть средства (рубли или часы), ими можно оплатить программы "
    "с пометкой «Возможна оплата сертификатом».\n\n"
    "Как получить\n"
    "Отдельно оформлять ничего не нужно: сертификат выпустится автоматически при первой записи "
    "на программу, которой он нужен. Если он уже есть, он применится сам.\n\n"
    "Средства на сертификате\n"
    "Номинал устанавливает муниципалитет — в рублях или в часах. Средства зачисляются сразу на "
    "весь год, а 31 декабря неиспользованный остаток сгорает. Планируйте так, чтобы хватило и на "
    "январь — май, и на сентябрь — декабрь. Если средств не хватает, остаток стоимости можно "
    "доплатить самим. Обналичить средства или передать их другому ребёнку нельзя. Если отменить "
    "запись, неиспользованная сумма за будущие месяцы вернётся на сертификат.\n\n"
    "Оплачиваются только месяцы занятий: обычно все, кроме июня, июля и августа, а у летнего "
    "лагеря — только лето. Если программа длится несколько лет, перед записью вы увидите оценку "
    "стоимости и каждого следующего года.\n\n"
    "Как пользоваться ботом\n"
    "/children — добавить ребёнка (ФИО, дата рождения, СНИЛС, муниципалитет)\n"
    "/find — найти кружок и записаться\n"
    "/balance — баланс и план расходов на год\n"
    "/enrollments — записи и их отмена\n"
    "/subscribe — уведомления о новых программах\n"
    "/mydata — какие данные о вас и детях хранятся\n"
    "/cancel — прервать текущий вопрос, /forget — удалить ваши данные."
)

# --- /forget ---------------------------------------------------------------
FORGET_DONE = (
    "Готово: ФИО, даты рождения и СНИЛС детей, подписки и места в листах ожидания удалены. "
    "Сведения о записях и движении средств сохранены в обезличенном виде. "
    "Чтобы снова пользоваться ботом, нажмите «Начать заново»."
)

# --- /children --------------------------------------------------------------
CHILDREN_EMPTY = "Вы ещё не добавили детей. Добавьте ребёнка, чтобы записывать его в кружки."
CHILDREN_TITLE = "Ваши дети:"
CHILD_LINE = "{n}. {name}, {birth} ({age})\n   СНИЛС: {snils}\n   Сертификат: {certificate}"
CHILD_SNILS_UNCONFIRMED = (
    "   ⚠️ СНИЛС не подтверждён: для записи обратитесь с документами в организацию "
    "дополнительного образования."
)
CERTIFICATE_LINE = "№ {number}, статус «{status}»"
CHILD_ASK_NAME = "Введите ФИО ребёнка полностью, например: Иванова Мария Петровна."
CHILD_ASK_BIRTH = "Дата рождения ребёнка в формате ДД.ММ.ГГГГ, например 05.03.2016."
CHILD_ASK_SNILS = "СНИЛС ребёнка: 11 цифр, можно с дефисами и пробелами, например 112-233-445 95."
CHILD_ASK_MUNI = "В каком муниципалитете живёт ребёнок? Выберите кнопкой."
CHILD_NO_MUNIS = "Список муниципалитетов пока пуст — каталог ещё не загружен. Попробуйте позже."
CHILD_SUMMARY = (
    "Проверьте данные:\n"
    "ФИО: {name}\n"
    "Дата рождения: {birth} ({age})\n"
    "СНИЛС: {snils}\n"
    "Муниципалитет: {muni}\n\n"
    "Всё верно?"
)
CHILD_SAVED = "✅ Ребёнок добавлен."
CHILD_SAVED_UNCONFIRMED = (
    "✅ Ребёнок добавлен, но его СНИЛС относится к старым номерам без контрольной суммы и не может "
    "быть подтверждён автоматически. Для записи обратитесь в организацию дополнительного образования."
)

# --- /find -------------------------------------------------------------------
FIND_TITLE = "🔎 Поиск кружков"
FIND_FILTERS = "Фильтры: {filters}"
FIND_NO_FILTERS = "Показаны все программы."
FIND_WORDS = "слова {words}"
FIND_AGE = "возраст {age}"
FIND_CERT_ONLY = "только за сертификат"
FIND_FOUND = "Найдено: {total}. Страница {page} из {pages}."
FIND_FOUND_ONE_PAGE = "Найдено: {total}."
# More than core.catalog.COUNT_LIMIT matches are not counted out (a search in every municipality).
FIND_FOUND_MORE = ("Найдено больше {limit}. Страница {page}. "
                   "Выберите муниципалитет, возраст или добавьте слова, чтобы сузить поиск.")
FIND_NOTHING = "Ничего не нашлось. Попробуйте другие слова или сбросьте фильтры."
FIND_NOTHING_AT_ALL = "В каталоге пока нет программ. Загляните позже или подпишитесь на новые: /subscribe"
FIND_HINT = "Чтобы искать по словам, просто напишите их сообщением."
FIND_PICK_MUNI = "Выберите муниципалитет:"
FIND_PICK_CAT = "Выберите направленность:"
FIND_WORDS_TOO_LONG = "Слишком длинный запрос — напишите до {limit} символов."
FIND_WORDS_NO_LETTERS = ("В запросе нет ни одного слова. Напишите, что ищете, буквами или цифрами: "
                         "например, «футбол», «рисование» или «робототехника».")
AGES = "{min}–{max} лет"
PRICE_MONTH = "{price} в месяц"
HOURS_MONTH = "{hours} в месяц"
PRICE_FREE = "бесплатно"
PRICE_EITHER = " или "

CARD = (
    "{title}\n"
    "{badge}\n\n"
    "Организация: {provider} ({provider_kind})\n"
    "Муниципалитет: {muni}\n"
    "Направленность: {category}\n"
    "Возраст: {ages}\n"
    "Стоимость: {price}\n"
    "Период: с {start} по {end}\n"
    "Адрес: {address}\n"
    "Расписание: {schedule}\n"
    "Свободных мест: {seats}"
)
CARD_DESCRIPTION = "\n\n{description}"
CARD_PAID = (
    "\n\nЭто платная программа: оплата вносится напрямую организации, сертификатом её "
    "оплатить нельзя. Запишитесь, связавшись с организацией."
)

# --- Enrollment ------------------------------------------------------------
ENROLL_PICK = "Кого записываем в программу {title}?"
ENROLL_NO_CHILDREN = "Сначала добавьте ребёнка — тогда я смогу его записать."
ENROLL_NOT_ELIGIBLE_TITLE = "Не могут быть записаны:"
ENROLL_NOT_ELIGIBLE = "• {name}: {reason}"
ENROLL_NOBODY = "Никого из ваших детей нельзя записать на эту программу."
QUOTE = (
    "Запись: {child} → программа {title}\n"
    "Месяцы {year} года: {months}\n"
    "Стоимость: {cost}\n"
    "Оплатит сертификат: {covered}\n"
    "Доплата родителя: {copay}\n"
    "Баланс сертификата: было {before}, станет {after}"
)
QUOTE_FREE = (
    "Запись: {child} → программа {title}\n"
    "Программа бесплатная (муниципальная), с сертификата ничего не списывается."
)
QUOTE_ISSUES = "\nСертификат будет выпущен автоматически со статусом «{status}»."
QUOTE_COPAY = {
    Unit.RUB: "\n⚠️ Средств сертификата не хватает: {copay} нужно будет доплатить организации.",
    Unit.HOURS: "\n⚠️ Часов на сертификате не хватает: {copay} занятий нужно будет оплатить организации самим.",
}
NO_COPAY = "нет"
COPAY_PART = "доплата {copay}"
NO_COPAY_PART = "без доплаты"
BUDGET_WARNING = (
    "\n⚠️ Номинал зачисляется на сертификат один раз в год, а неиспользованный остаток сгорает 31 декабря. "
    "С сентября продолжающимся занятиям понадобится {needed}, а после этой записи останется "
    "{left}. Оставьте достаточно на сентябрь — декабрь."
)
QUOTE_ASK = "\n\nПодтверждаете запись?"
ENROLLED = {
    Gender.MALE: "✅ {child} записан в программу {title}.",
    Gender.FEMALE: "✅ {child} записана в программу {title}.",
    Gender.UNKNOWN: "✅ Запись в программу {title} оформлена: {child}.",
}
ENROLLED_CERT_ISSUED = "\n🎉 Выпущен сертификат № {number}, статус «{status}»."
ENROLLED_CERT_USED = "\nСертификат № {number}, статус «{status}»."
ENROLLED_BALANCE = "\nБаланс сертификата: доступно {available}, зарезервировано {reserved}."
ENROLLED_COPAY = "\nДоплата родителя: {copay}."
WAITLIST_JOINED = (
    "✅ {child} в листе ожидания на программу {title}, место в очереди: {position}. "
    "Когда освободится место, я сообщу."
)

# --- /balance ----------------------------------------------------------------
BALANCE_TITLE = "💳 Баланс сертификатов"
BALANCE_EMPTY = "Вы ещё не добавили детей. Добавьте ребёнка в разделе «Мои дети»."
BALANCE_NO_CERT = "{name}: сертификат {status}."
BALANCE_CERT = "{name}: сертификат № {number}, статус «{status}»"
BALANCE_NO_MONEY = "   Номинала на сертификате нет: с ним можно заниматься в бесплатных муниципальных кружках."
BALANCE_LINES = (
    "   Номинал {year}: {credited}\n"
    "   Доступно: {available}\n"
    "   Зарезервировано: {reserved}\n"
    "   Потрачено: {spent}"
)
BALANCE_EXPIRED = "   Сгорело: {expired}"
PLAN_TITLE = "План на {year} год: {name}"
PLAN_MONTH = "{month}: {reserved}"
PLAN_EMPTY_MONTH = "—"
PLAN_TOTAL = "Зарезервировано всего: {reserved}\nСвободно: {free}"
PLAN_ADVICE = (
    "Номинал зачисляется раз в год, а остаток сгорает 31 декабря. Распределяйте его так, чтобы "
    "хватило и на январь — май, и на сентябрь — декабрь."
)
PLAN_NO_CERT = "У этого ребёнка пока нет сертификата с номиналом — плана нет."

# --- /enrollments --------------------------------------------------------------
ENROLLMENTS_TITLE = "📋 Ваши записи:"
ENROLLMENTS_EMPTY = "Записей пока нет. Найдите кружок через «Найти кружок»."
ENROLLMENT_LINE = "{n}. {title} — {child} ({status})"
ENROLLMENT_DETAILS = (
    "Программа {title}\n"
    "Ребёнок: {child}\n"
    "Организация: {provider}\n"
    "Статус: {status}\n"
    "Дата записи: {date}"
)
ENROLLMENT_CANCELLED_AT = "\nОтменена: {date}"
ENROLLMENT_CHARGE = "\n{year}: {months} мес., стоимость {cost}, сертификатом {covered}, {copay}"
CANCEL_ASK = (
    "Отменить запись в программу {title} ({child})?\n"
    "На сертификат вернётся: {refund}\n"
    "Баланс: было {before}, станет {after}"
)
CANCEL_ASK_FREE = "Отменить запись в программу {title} ({child})? Место освободится для других."
CANCELLED_DONE = "✅ Запись отменена. Вернулось на сертификат: {refund}."
# A free program reserved nothing: no "0 ₽" refund (its certificate may have no unit at all).
CANCELLED_DONE_NOTHING = "✅ Запись отменена, место освободилось для других."
CANCELLED_BALANCE = "\nБаланс: доступно {available}, зарезервировано {reserved}."

# --- /subscribe ------------------------------------------------------------------
SUBS_TITLE = "🔔 Подписки на новые программы"
SUBS_EMPTY = (
    "Подписок нет. Создайте подписку — и я сообщу, когда появятся новые программы "
    "по вашим условиям."
)
SUB_LINE = "{n}. {summary}"
SUB_SUMMARY = "{muni}; {cats}; {age}; {cert}"
SUB_ALL_CATS = "все направленности"
SUB_AGE = "возраст {age}"
SUB_ANY_AGE = "любой возраст"
SUB_CERT = "только за сертификат"
SUB_ANY_FUNDING = "любая оплата"
SUB_PICK_MUNI = "Новая подписка. Выберите муниципалитет:"
SUB_PICK_CATS = "Какие направленности интересны? Можно выбрать несколько; если ничего не выбрать — все."
SUB_PICK_AGE = "Для какого возраста? Выберите ребёнка или «Любой возраст»."
SUB_OPTIONS = "Проверьте подписку:\n{summary}\n\nСохранить?"
SUB_SAVED = "✅ Подписка сохранена. О новых программах я сообщу одним сообщением."
SUB_VIEW = "Подписка:\n{summary}\nСоздана: {date}"
SUB_DELETE_ASK = "Удалить подписку?\n{summary}"
SUB_DELETED = "✅ Подписка удалена."

# --- Refusals (DomainError reasons) -------------------------------------------------
REFUSALS: dict[str, str] = {
    "consent_required": CONSENT_FIRST,
    "name_invalid": (
        "Не похоже на ФИО. Напишите фамилию, имя и (если есть) отчество буквами, через пробел, "
        "например: Иванова Мария Петровна."
    ),
    "date_format": "Не понял дату. Напишите её в формате ДД.ММ.ГГГГ, например 05.03.2016.",
    "date_invalid": "Такой даты не существует. Проверьте день и месяц и напишите в формате ДД.ММ.ГГГГ.",
    "date_in_future": "Дата рождения не может быть в будущем.",
    "age_out_of_range": (
        "Сертификат выдаётся детям от {min} лет до 18-летия, а ребёнку сейчас {age_years}."
    ),
    "age_out_of_range_short": "Возраст ребёнка не подходит.",
    "age_out_of_range_program": "Программа для детей {min}–{max} лет, а ребёнку {age_years}.",
    "snils_format": "СНИЛС — это 11 цифр, например 112-233-445 95. Проверьте номер.",
    "snils_checksum": (
        "В СНИЛС ошибка: контрольное число не сходится. Сверьте номер с документом."
    ),
    "snils_taken": (
        "Этот СНИЛС уже указан в боте у другого родителя. Сверьте номер с документом; "
        "если он верный, напишите оператору бота."
    ),
    "snils_not_confirmed": (
        "СНИЛС ребёнка не подтверждён. Обратитесь с документами в организацию дополнительного "
        "образования, после подтверждения можно будет записаться."
    ),
    "municipality_not_found": "Такого муниципалитета нет в списке. Выберите из кнопок.",
    "municipality_invalid": "Такого муниципалитета нет в списке. Выберите из кнопок.",
    "child_not_found": "Ребёнок не найден среди ваших детей.",
    "program_not_found": "Программа не найдена — возможно, её уже убрали из каталога.",
    "enrollment_not_found": "Запись не найдена среди ваших.",
    "subscription_not_found": "Подписка не найдена среди ваших.",
    "already_enrolled": "Ребёнок уже записан на эту программу.",
    "already_waiting": "Ребёнок уже стоит в листе ожидания на эту программу.",
    "seats_available": "Места есть — можно записаться сразу, лист ожидания не нужен.",
    "no_seats": "Свободных мест нет. Можно встать в лист ожидания.",
    "nominal_not_set": (
        "Номинал сертификата на {year} год в муниципалитете {municipality} ещё не установлен, "
        "поэтому записаться с оплатой сертификатом пока нельзя."
    ),
    "nominal_not_set_short": (
        "Номинал сертификата на этот год ещё не установлен, поэтому записаться с оплатой "
        "сертификатом пока нельзя."
    ),
    "paid_program": (
        "Это платная программа: её оплачивают напрямую организации, сертификат здесь не применяется."
    ),
    "program_finished": "Программа уже закончилась — записаться нельзя.",
    "price_missing": "У программы нет цены в единицах вашего сертификата, записаться через бота нельзя.",
    "certificate_expired": "Срок действия сертификата закончился (он действует до 18-летия).",
    "not_active": "Эта запись уже отменена.",
    "too_many_subscriptions": "Подписок слишком много. Удалите ненужные и попробуйте снова.",
    "category_invalid": "Такой направленности нет. Выберите из кнопок.",
    "categories_repeated": "Направленность выбрана дважды. Выберите из кнопок.",
    "words_too_long": FIND_WORDS_TOO_LONG,
    "words_no_letters": FIND_WORDS_NO_LETTERS,
    "stale_button": STALE_BUTTON,
    "text_too_long": TEXT_TOO_LONG,
    "choose_button": CHOOSE_BUTTON,
    "unknown_command": UNKNOWN_COMMAND,
    "consent_invalid": "Не получилось сохранить согласие. Нажмите /start и попробуйте ещё раз.",
}
REFUSAL_FALLBACK = "Не получилось выполнить действие. Проверьте данные и попробуйте ещё раз."


def refusal(error: DomainError) -> str:
    """The parent-facing sentence for a refusal, filled from its details."""
    reason = error.reason
    details: dict[str, Any] = dict(error.details)
    if reason == "age_out_of_range":
        if isinstance(details.get("age"), int):
            details["age_years"] = years(details["age"])
        if (details.get("min"), details.get("max")) != (5, 17):
            reason = "age_out_of_range_program"
    if reason == "unknown_command":
        return unknown_command()
    if reason == "price_missing" and (text := price_missing(details)) is not None:
        return text
    if reason == "nominal_not_set" and not details.get("municipality"):
        reason = "nominal_not_set_short"
    elif reason == "nominal_not_set":
        details["municipality"] = quoted(str(details["municipality"]))
    template = REFUSALS.get(reason, REFUSAL_FALLBACK)
    try:
        return template.format(**details)
    except (KeyError, IndexError, ValueError):
        # Details missing: say it without the numbers rather than fail.
        return REFUSALS.get(reason.replace("_program", "") + "_short", REFUSAL_FALLBACK)


def unknown_command() -> str:
    """The reply to a command the bot does not know: every command it does know."""
    lines = [UNKNOWN_COMMAND]
    for name in COMMANDS:
        description = COMMAND_MENU.get(name)
        lines.append(COMMAND_LINE.format(command=name, description=description) if description else f"/{name}")
    return "\n".join(lines)


def copay_part(copay: int, unit: Unit | str | None, template: str = COPAY_PART) -> str:
    """'доплата 500 ₽' in a line of figures, or 'без доплаты': never a '0 ₽' or '0 ч' co-payment."""
    return template.format(copay=amount(copay, unit)) if copay else NO_COPAY_PART


def refusal_short(error: DomainError) -> str:
    """Why a child cannot enroll, for a line in a list."""
    return refusal(error).rstrip(".")


# --- Messages the bot sends on its own: digests, notices, reminders (bot/jobs) ---
DIGEST_ONE = "🔔 Новый кружок по вашей подписке:"
DIGEST_MANY = "🔔 Новые кружки по вашей подписке ({count}):"
DIGEST_MORE = "…и ещё {more}. Все программы — в поиске: /find"
DIGEST_HINT = "Нажмите номер, чтобы открыть карточку программы и записать ребёнка."
BTN_UNSUBSCRIBE = "🔕 Отписаться"
BTN_UNSUBSCRIBE_N = "🔕 Отписаться ({municipality})"
BTN_OPEN_PROGRAM = "Открыть программу"
BTN_MY_ENROLLMENTS = "📋 Мои записи"

WAITLIST_OFFER = (
    "🎉 В программе {title} освободилось место, и оно придержано для ребёнка {name} "
    "до {until}.\n"
    "Нажмите «Записать ребёнка» — я покажу стоимость и попрошу подтвердить запись. "
    "Если место не нужно, нажмите «Не нужно»: его получит следующий в очереди. "
    "Без ответа в течение суток место перейдёт следующему."
)

COPAY_NOTICE = (
    "💳 {name}: с 1 января продлена запись в программу {title} на {year} год.\n"
    "Стоимость: {cost}, сертификат покрывает {covered}."
)
COPAY_NOTICE_SHORTFALL = {
    Unit.RUB: "\nНе хватает средств сертификата: {copay} нужно будет доплатить организации.",
    Unit.HOURS: "\nНе хватает часов сертификата: {copay} занятий нужно будет оплатить организации самим.",
}

YEAR_END_TITLE = "⏳ Напоминание: на сертификате остались свободные средства."
YEAR_END_LINE = "• {name}: сертификат № {number} — {amount} {verb} 31 декабря"
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

# --- VK keyboard paging (bot/handlers/vk_keyboard.py) ---
LABEL_PREV = "◀ Назад"
LABEL_NEXT = "Ещё ▶"


# --- WP2: enrollments paged, waiting places, seats held for the first in line ---
ENROLLMENTS_PAGE = "Страница {page} из {pages}."
ENROLLMENT_YEAR = "   {year}: стоимость {cost}, {copay}"
ENROLLMENT_FREE = "   бесплатно (муниципальная программа)"
WAITING_LINE = "{n}. {title} — {child}: лист ожидания, место в очереди {position}"
WAITING_HELD_LINE = "{n}. {title} — {child}: 🎉 место придержано до {until}"
WAITING_RUN_OUT_LINE = "{n}. {title} — {child}: срок, на который место было придержано, истёк"
BTN_LEAVE_QUEUE = "{n}. Покинуть очередь"
BTN_HOLD_ENROLL = "{n}. Записать ребёнка"
BTN_HOLD_DECLINE = "{n}. Не нужно"
BTN_ENROLL_HELD = "Записать ребёнка"
BTN_DECLINE_HELD = "Не нужно"
BTN_JOIN_WAITLIST = "Встать в лист ожидания"
BTN_YES_LEAVE = "Да, покинуть"
LEAVE_ASK = (
    "Покинуть лист ожидания на программу {title} ({child})?\n"
    "Место в очереди пропадёт: если передумаете, встать можно будет только в конец очереди."
)
LEAVE_ASK_HELD = (
    "Покинуть лист ожидания на программу {title} ({child})?\n"
    "Придержанное место сразу перейдёт следующему в очереди."
)
LEFT_QUEUE = "✅ {child} больше не в листе ожидания на программу {title}."
HOLD_DECLINED = (
    "Хорошо, место в программе {title} передано следующему в очереди. "
    "{child} больше не в листе ожидания на эту программу."
)
FIND_ITEM_FULL = "\n   ⛔ мест нет — можно встать в лист ожидания"
CARD_FULL = (
    "\n\nСвободных мест нет. Встаньте в лист ожидания: когда место освободится, первый в очереди "
    "получит его придержанным на сутки и сообщение с кнопкой записи."
)
CARD_HELD = "\n\n🎉 Место придержано для ребёнка {name} до {until}: можно записаться."
WAITLIST_PICK = "Кого поставить в лист ожидания на программу {title}?"
WAITLIST_PICK_NOBODY = "Никого из ваших детей нельзя поставить в лист ожидания на эту программу."
WAITLIST_ALREADY = "• {name}: уже в листе ожидания"
WAITLIST_CAN_ENROLL = "Для этих детей место есть — их можно записать сразу:"
REFUSALS.update({
    "waitlist_entry_not_found": "Место в листе ожидания не найдено среди ваших.",
    "not_waiting": "Ребёнок уже не стоит в листе ожидания на эту программу.",
    "hold_declined": "Вы уже отказались от этого места — оно передано следующему в очереди.",
    "hold_expired": (
        "Срок, на который место было придержано, истёк: оно передано следующему в очереди. "
        "Можно снова встать в лист ожидания."
    ),
})

# --- WP3: municipalities are a registry ---
# Operators meet these reasons at the command line (bot/operator_texts.py); a parent
# only picks registered municipalities from buttons, so these are a fallback.
REFUSALS.update({
    "municipality_unknown": "Такого муниципалитета нет в списке. Выберите из кнопок.",
    "municipality_exists": "Такой муниципалитет уже есть в списке.",
    "municipality_same_name": "У муниципалитета уже такое название.",
    "municipality_merge_needed": "Муниципалитет «{new}» уже есть в списке.",
    "municipality_nominals_differ": "У муниципалитетов разные номиналы на {years} год.",
})
# --- WP1b: freed money covers co-payments ---
CANCEL_ASK_COVERS = "\nСначала вернувшиеся средства покроют доплату по другим записям ребёнка:"
CANCEL_COVER_LINE = "\n• {title}: доплата станет {copay} (было {before})"
CANCEL_COVER_LINE_ALL = "\n• {title}: доплаты не будет (было {before})"
CANCELLED_COVERED = "\nВернувшиеся средства покрыли доплату по другим записям ребёнка:"
CANCELLED_COVER_LINE = "\n• {title}: доплата теперь {copay}"
CANCELLED_COVER_LINE_ALL = "\n• {title}: доплаты больше нет"
# --- WP5b: consent document, /mydata, /forget ---------------------------------------
BTN_READ_CONSENT = "📄 Прочитать согласие"
BTN_BROWSE = "🔎 Смотреть кружки"
BTN_TO_START = "В начало"
BTN_MYDATA = "🗂 Мои данные"
BTN_FORGET = "Удалить мои данные"
CONSENT_NEW_VERSION = (
    "Текст согласия на обработку персональных данных изменился (новая версия от {version}). "
    "Пока вы не согласитесь с новой редакцией, я не показываю и не сохраняю данные о ваших детях. "
    "Прочитайте её по кнопке ниже. Если не согласны — командой /forget можно удалить все ваши данные."
)
CONSENT_READ_TAIL = "Вы согласны на обработку персональных данных на этих условиях?"
CONSENT_DECLINED_OUTDATED = (
    "Хорошо. Без согласия с новой редакцией я не показываю и не меняю данные о ваших детях. "
    "Смотреть кружки можно и так. Удалить все ваши данные — команда /forget."
)

MYDATA_TITLE = (
    "🗂 Какие данные о вас хранятся (статья 14 закона 152-ФЗ)\n"
    "Это сообщение видите только вы."
)
MYDATA_ACCOUNT = "Аккаунт: {platform}, идентификатор {external_id}\nЗапись создана: {created}"
MYDATA_CONSENT = "Согласие: версия {version}, дано {given} ({platform})"
MYDATA_CONSENT_NONE = "Согласие: не записано"
MYDATA_LINKED = (
    "Связан (/link) с аккаунтами семьи в: {accounts}. Дети и всё о них ниже — общие для этих аккаунтов; "
    "уведомления приходят в: {alerts}. Согласие у каждого аккаунта своё."
)
MYDATA_NOT_LINKED = "Связанных мессенджеров нет (связать: /link)."
MYDATA_CHILDREN_TITLE = "👧 Дети"
MYDATA_NO_CHILDREN = "Дети: не добавлены."
MYDATA_CHILD = (
    "{n}. {name}\n"
    "   Дата рождения: {birth}\n"
    "   СНИЛС: {snils}\n"
    "   Муниципалитет: {muni}\n"
    "   {added}"
)
MYDATA_ADDED = {
    Gender.MALE: "Добавлен: {date}",
    Gender.FEMALE: "Добавлена: {date}",
    Gender.UNKNOWN: "Дата добавления: {date}",
}
MYDATA_CERTIFICATE = "   Сертификат: № {number}, статус «{status}», выпущен {issued}, действует до {until}"
MYDATA_NO_CERTIFICATE = "   Сертификат: ещё не выпущен"
MYDATA_ENROLLMENTS_TITLE = "📋 Записи"
MYDATA_ENROLLMENT = "• {title} — {child}, {status}, {enrolled}"
MYDATA_ENROLLED = {
    Gender.MALE: "записан {date}",
    Gender.FEMALE: "записана {date}",
    Gender.UNKNOWN: "дата записи {date}",
}
MYDATA_ENROLLMENT_CANCELLED = ", отменена {date}"
MYDATA_NO_ENROLLMENTS = "Записи: нет."
MYDATA_WAITING_TITLE = "⏳ Листы ожидания"
MYDATA_WAITING = "• {title} — {child}, в очереди с {date}"
MYDATA_NO_WAITING = "Листы ожидания: нет."
MYDATA_SUBS_TITLE = "🔔 Подписки"
MYDATA_SUB = "• {summary}; создана {date}"
MYDATA_NO_SUBS = "Подписки: нет."
MYDATA_TAIL = (
    "Данные хранятся до отзыва согласия. Удалить их — команда /forget: я сначала покажу, "
    "что произойдёт, и только после подтверждения удалю."
)
PLATFORM_LABEL = {"telegram": "Telegram", "vk": "ВКонтакте", "max": "MAX", "console": "терминал"}

FORGET_PLAN_TITLE = "⚠️ Удаление ваших персональных данных. Вот что произойдёт:"
FORGET_PLAN_CANCEL_TITLE = "Будут отменены записи (с обычным возвратом на сертификат):"
FORGET_PLAN_CANCEL = "• {title} — {child}: вернётся {refund}"
FORGET_PLAN_CANCEL_FREE = "• {title} — {child}: бесплатная программа, место освободится"
FORGET_PLAN_WAITING = "Ребёнок будет снят с листов ожидания: {count}."
FORGET_PLAN_SUBS = "Будут удалены подписки на новые программы: {count}."
FORGET_PLAN_CHILDREN = "Будут уничтожены ФИО, дата рождения и СНИЛС детей: {names}."
FORGET_PLAN_NO_CHILDREN = "Данных о детях нет."
FORGET_PLAN_MONEY = (
    "Записи о движении средств сертификата останутся, но обезличенными — так требует учёт "
    "бюджетных средств. Сертификат ребёнка не пропадает: если добавить ребёнка снова, найдётся он же."
)
FORGET_PLAN_ASK = "Удалить данные? Это нельзя отменить."
FORGET_NOTHING = "Я ничего о вас не храню — удалять нечего."
FORGET_DONE_CANCELLED = "Отменено записей: {count}; оплата будущих месяцев вернулась на сертификаты."
# --- WP1a: study months and the whole cost before confirming ---
MONTHS_RANGE = "{first} — {last}"
MONTHS_COUNT = "{months} ({count} мес.)"
QUOTE_NOT_THIS_YEAR = (
    "Запись: {child} → программа {title}\n"
    "До конца {year} года занятий по программе нет, платить в этом году не нужно. "
    "Баланс сертификата не изменится: {before}."
)
QUOTE_LATER_TITLE = (
    "\n\nСледующие годы — это оценка: номинал на новый год утверждают в начале года, здесь посчитано "
    "по номиналу {year} года, и из него сначала оплачиваются более ранние записи ребёнка."
)
QUOTE_LATER_LINE = "\n• {year}: {months} — стоимость {cost}, сертификатом ≈ {covered}, {copay}"
COPAY_ESTIMATE_PART = "доплата ≈ {copay}"
QUOTE_LATER_MORE = "\n• …и дальше, до {year} года"
CARD_MONTHS = "\nМесяцы занятий: {months}"
ENROLLMENT_LATER_TITLE = "\nСледующие годы (оценка по номиналу {year} года):"
REFUSALS["no_months_left"] = "У программы больше не будет занятий — записаться нельзя."
# --- WP5a: personal data at rest ---
REFUSALS.update({
    "snils_already_added": "Ребёнок с этим СНИЛС уже есть в вашем списке детей.",
    "child_draft_lost": (
        "Введённые данные ребёнка не сохранились. Начните добавление заново в разделе «Мои дети»."
    ),
})
# --- WP7: the money's history and what expires at year end ---
BTN_HISTORY = "Движение средств: {name}"
HISTORY_TITLE = "📜 Движение средств: {name}, сертификат № {number}"
HISTORY_EMPTY = "Движений по сертификату пока не было."
HISTORY_PAGE = "Страница {page} из {pages} (всего записей: {total})"
HISTORY_LINE = "{date} · {what}"
HISTORY_PROGRAM = ", программа {title}"
HISTORY_CREDIT = "зачислено {amount} на {year} год"
HISTORY_RESERVE = "зарезервировано {amount} за {month}{program}"
HISTORY_SETTLE = "оплачен {month} — {amount}{program}"
HISTORY_REFUND = "возвращено {amount} за {month}{program} (отмена записи)"
HISTORY_EXPIRE = "сгорело {amount} — остаток {year} года"
HISTORY_MONTH_OF_YEAR = "{month} {year}"
# {verb}: «сгорит» for 1, 21, 31 … (рубль, час), «сгорят» otherwise.
EXPIRES_VERB_ONE = "сгорит"
EXPIRES_VERB_MANY = "сгорят"
# /balance indents a certificate's lines; the plan shows them unindented (stripped).
EXPIRES_LINE = "   ⏳ {amount} {verb} 31 декабря: свободный остаток не переносится на следующий год."
EXPIRES_NOTHING = "Свободного остатка нет — 31 декабря ничего не сгорит."
EXPIRES_SUGGEST = "   Ещё можно потратить в декабре — программы с занятиями в декабре и свободными местами:"
EXPIRES_SUGGEST_ITEM = "   {n}. {title} — {price} в месяц"
EXPIRES_SUGGEST_NONE = "   Программ с занятиями в декабре и свободными местами сейчас нет: посмотрите /find."
EXPIRES_HINT = "Нажмите номер программы, чтобы открыть её и записаться."
REFUSALS["certificate_not_found"] = "Сертификат не найден среди сертификатов ваших детей."
REFUSALS["history_page_invalid"] = "Такой страницы нет. Откройте движение средств заново из /balance."
# --- WP8: children can be corrected ---
CHILDREN_PICK_HINT = "Чтобы исправить данные ребёнка или удалить его, нажмите на его имя."
BTN_CHILD = "{n}. {name}"
BTN_EDIT_NAME = "✏️ ФИО"
BTN_EDIT_BIRTH = "✏️ Дата рождения"
BTN_EDIT_MUNI = "✏️ Муниципалитет"
BTN_DELETE_CHILD = "🗑 Удалить ребёнка"
BTN_TO_CHILDREN = "« К списку детей"
BTN_TO_CHILD = "« Назад"
CHILD_CARD = (
    "{name}\n"
    "Дата рождения: {birth} ({age})\n"
    "СНИЛС: {snils}\n"
    "Муниципалитет: {muni}\n"
    "Сертификат: {certificate}"
)
CHILD_CARD_SNILS_FIXED = (
    "СНИЛС изменить нельзя: по нему ребёнок связан со своим сертификатом. Если номер введён "
    "с ошибкой, удалите ребёнка и добавьте его заново с верным номером."
)
CHILD_CARD_SNILS_FIXED_FOR_GOOD = (
    "СНИЛС изменить нельзя: по нему ребёнок связан со своим сертификатом. Если номер неверный, "
    "напишите оператору бота."
)
CHILD_CARD_DATA_FIXED = "Дату рождения и муниципалитет сейчас изменить нельзя: {why}"
CHILD_ASK_NEW_NAME = "Сейчас: {name}\nНапишите ФИО ребёнка полностью, например: Иванова Мария Петровна."
CHILD_ASK_NEW_BIRTH = "Сейчас: {birth}\nНапишите дату рождения в формате ДД.ММ.ГГГГ, например 05.03.2016."
CHILD_ASK_NEW_MUNI = "Сейчас: {muni}\nВ каком муниципалитете живёт ребёнок? Выберите кнопкой."
CHILD_RENAMED = "✅ ФИО исправлено."
CHILD_BIRTH_CHANGED = "✅ Дата рождения исправлена."
CHILD_MUNI_CHANGED = "✅ Муниципалитет изменён."
CHILD_DELETE_ASK = (
    "Удалить ребёнка «{name}» из списка? Его ФИО, дата рождения и СНИЛС будут уничтожены. "
    "Это нельзя отменить."
)
CHILD_DELETED = "✅ Ребёнок удалён, его данные уничтожены."
REFUSALS.update({
    "child_enrolled": (
        "Ребёнок записан на программу, и она приняла его с этими датой рождения и муниципалитетом, "
        "поэтому их менять нельзя, пока запись действует. Если данные неверны, сначала отмените "
        "запись в /enrollments. ФИО можно исправить в любой момент."
    ),
    "child_waiting": (
        "Ребёнок стоит в листе ожидания, поэтому дату рождения и муниципалитет менять нельзя. "
        "Сначала покиньте очередь в /enrollments. ФИО можно исправить в любой момент."
    ),
    "child_certificate_funded": (
        "На сертификат ребёнка уже зачислен номинал муниципалитета, в котором он записан, поэтому "
        "муниципалитет и дату рождения менять нельзя. Если данные неверны, напишите оператору бота. "
        "ФИО можно исправить в любой момент."
    ),
    "child_has_certificate": (
        "У ребёнка уже есть сертификат: он закреплён за ребёнком навсегда, поэтому удалить ребёнка "
        "из списка нельзя. Удалить все свои данные и данные детей можно командой /forget."
    ),
    "child_has_enrollments": (
        "Ребёнка уже записывали на программы, эти записи хранятся в учёте, поэтому удалить ребёнка "
        "из списка нельзя. Удалить все свои данные и данные детей можно командой /forget."
    ),
    "child_waiting_delete": (
        "Ребёнок стоит в листе ожидания. Сначала покиньте очередь в /enrollments, потом удалите ребёнка."
    ),
})
# Why the birth date and the municipality are fixed, for the child's screen.
CHILD_DATA_FIXED_WHY = {
    "child_enrolled": "ребёнок записан на программу.",
    "child_waiting": "ребёнок стоит в листе ожидания.",
    "child_certificate_funded": "на сертификат ребёнка уже зачислен номинал муниципалитета.",
}
# --- WP6: a picture of the year (/balance chart) ---
CHART_MONTHS_SHORT = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")
CHART_TITLE = "{year} год"
CHART_FORECAST_TITLE = "{year} год — прогноз по номиналу {nominal_year} года"
CHART_SETTLED = "Оплачено"
CHART_RESERVED = "Зарезервировано"
CHART_COPAY = "Доплата родителя"
CHART_FREE = "Свободно"
CHART_FREE_BAR = "своб."
CHART_AXIS = {Unit.RUB: "₽", Unit.HOURS: "ч"}
CHART_CAPTION = "📊 {name}: сертификат в {year} году по месяцам. Те же цифры — в следующем сообщении."
CHART_WORDS_TITLE = "{name}, {year} год по месяцам:"
CHART_WORDS_MONTH = "• {month}: {parts}"
CHART_WORDS_SETTLED = "оплачено {amount}"
CHART_WORDS_RESERVED = "зарезервировано {amount}"
CHART_WORDS_COPAY = "доплата {amount}"
CHART_WORDS_NOTHING = "В этом году по месяцам пока ничего не оплачено и не зарезервировано."
CHART_WORDS_OTHER_MONTHS = "В остальные месяцы — ничего."
CHART_WORDS_TOTAL = "Итого: оплачено {settled}, зарезервировано {reserved}, {copay}; свободно {free}."
CHART_WORDS_FORECAST = "\n{year} год (прогноз по номиналу {nominal_year} года — {nominal}):"
CHART_WORDS_FORECAST_MONTH = "• {month}: сертификатом ≈ {covered}{copay}"
CHART_WORDS_FORECAST_COPAY = ", доплата ≈ {amount}"
CHART_WORDS_FORECAST_FREE = "Останется свободным ≈ {free}."
# --- wp13a: /find starts from the child; removable filters; the unit a program is paid in ---
FIND_LINE = "{n}. {title}\n   📍 {muni} · {provider}; {ages}; {price}\n   {badge}"
FIND_ITEM_FULL_PAID = "\n   ⛔ мест нет"
FIND_FOR_CHILD = "Подбираю для ребёнка: {name}."
FIND_HINT_FILTERS = "Чтобы искать по словам, просто напишите их сообщением. Фильтр снимается кнопкой с «✕»."
FIND_PICK_AGE = "Выберите возраст ребёнка:"
FIND_DROP_WORDS = "слова: {words}"
FIND_DROP_CERT = "только сертификат"
BTN_FIND_DROP = "✕ {what}"
BTN_FIND_CHILD_ON = "✓ {name}"
BTN_FIND_ALL = "Все"
BTN_FIND_LAST = "Как в прошлый раз"
# After a price in a unit the certificate is not counted in (the unit of the certificate).
PRICE_NOT_IN_UNIT = {
    Unit.RUB: " (цены в рублях нет — сертификат в рублях её не оплатит)",
    Unit.HOURS: " (цены в часах нет — сертификат в часах её не оплатит)",
}
# The enrollment preview of a program in another municipality than the child's.
QUOTE_ELSEWHERE = (
    "\n\nℹ️ Программа — в муниципалитете {program_municipality}, а ребёнок — из муниципалитета "
    "{child_municipality}. Сертификат действует во всех муниципалитетах региона."
)
QUOTE_ELSEWHERE_UNIT = {
    Unit.RUB: " Стоимость считается в рублях, как и сертификат ребёнка.",
    Unit.HOURS: " Стоимость считается в часах, как и сертификат ребёнка.",
}
# A program with no price in the unit of the child's certificate (reason price_missing).
PRICE_MISSING_HERE = {
    Unit.RUB: "У программы нет цены в рублях, а сертификат ребёнка считается в рублях: "
              "оплатить её сертификатом нельзя.",
    Unit.HOURS: "У программы нет цены в часах, а сертификат ребёнка считается в часах: "
                "оплатить её сертификатом нельзя.",
}
PRICE_MISSING_ELSEWHERE = {
    Unit.RUB: "Программа идёт в муниципалитете {program_municipality}, и цены в рублях у неё нет, а сертификат "
              "ребёнка выдан в муниципалитете {child_municipality} и считается в рублях. Сертификатом можно "
              "оплатить программу любого муниципалитета региона, но только в его единицах, поэтому эту "
              "программу он оплатить не может.",
    Unit.HOURS: "Программа идёт в муниципалитете {program_municipality}, и цены в часах у неё нет, а сертификат "
                "ребёнка выдан в муниципалитете {child_municipality} и считается в часах. Сертификатом можно "
                "оплатить программу любого муниципалитета региона, но только в его единицах, поэтому эту "
                "программу он оплатить не может.",
}


def price_missing(details: dict[str, Any]) -> str | None:
    """The refusal of a program with no price in the certificate's unit, naming the
    municipalities when they differ; None when the details do not say the unit."""
    try:
        unit = Unit(details.get("unit"))
    except ValueError:
        return None
    if not details.get("elsewhere"):
        return PRICE_MISSING_HERE[unit]
    return PRICE_MISSING_ELSEWHERE[unit].format(
        program_municipality=quoted(str(details.get("program_municipality") or "—")),
        child_municipality=quoted(str(details.get("child_municipality") or "—")))
# --- wp13c: contacts, map, schedule, what next, the week's timetable, clashes ---
WEEKDAYS_SHORT = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")
WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
LESSON_TIME = "{start}–{end}"
SCHEDULE_GROUP = "{days} {time}"
CARD_MAP = "\nНа карте: {url}"
CARD_CONTACTS_TITLE = "\n\nКонтакты организации:"
CONTACT_PHONE = "\n📞 {phone}"
CONTACT_EMAIL = "\n✉️ {email}"
CONTACT_WEBSITE = "\n🌐 {website}"
CARD_NO_CONTACTS = "\n\nКонтакты организации в каталоге не указаны."
CARD_PAID_CONTACTS = " Телефон, почта и сайт организации — выше, в разделе «Контакты организации»."
CARD_PAID_NO_CONTACTS = (
    " Контактов организации в каталоге нет: обратитесь по адресу программы, указанному выше."
)
NEXT_TITLE = "\n\nЧто дальше:"
NEXT_ADDRESS = "\n📍 Адрес: {address}"
NEXT_NO_ADDRESS = "\n📍 Адрес в каталоге не указан — уточните его у организации."
NEXT_FIRST_LESSON = "\n🗓 Первое занятие: {weekday}, {date}, {time}."
NEXT_SCHEDULE_ONLY = "\n🗓 Расписание: {schedule}. День первого занятия уточните у организации."
NEXT_NO_SCHEDULE = "\n🗓 Расписания в каталоге нет: день первого занятия уточните у организации."
NEXT_BRING_TITLE = "\n\nЧто взять на первое занятие:"
NEXT_BRING_CERTIFICATE = "\n• номер сертификата дополнительного образования: № {number};"
NEXT_BRING_CHILD_DOCUMENT = "\n• свидетельство о рождении или паспорт ребёнка;"
NEXT_BRING_PARENT_DOCUMENT = "\n• документ, удостоверяющий личность родителя (законного представителя)."
NEXT_BRING_FORMS = (
    "\nОрганизация может попросить заполнить заявление и согласие на обработку персональных данных "
    "и заключить договор об обучении. Что ещё нужно именно для этой программы, смотрите в её "
    "описании и уточняйте у организации."
)
BTN_WEEK = "🗓 Расписание недели"
WEEK_TITLE = "Расписание недели: {name}"
WEEK_DAY = "\n\n{weekday}:"
WEEK_LESSON = "\n• {time} — {title}"
WEEK_NO_LESSONS = "\n\nНа этой неделе занятий нет: ребёнок пока не записан ни на одну программу."
WEEK_UNPARSED_TITLE = "\n\nРасписание этих программ записано в каталоге так, как его дала организация:"
WEEK_UNPARSED = "\n• {title}: {schedule}"
WEEK_FREE_DAYS = "\n\nСвободные дни: {days}."
CLASH_TITLE = "\n\n⚠️ Занятия пересекаются с тем, куда ребёнок уже ходит:"
CLASH_LINE = "\n• {weekday} {new}: в это же время — программа {title} ({old})"
CLASH_NOTE = "\nЗаписать всё равно можно; проверьте, успеет ли ребёнок на оба занятия."
# --- wp13e: ratings and reviews of programs ---
RATINGS_WORD = ("оценка", "оценки", "оценок")
REVIEWS_SECTION = "\n\n⭐ Оценки родителей: ★ {average} · {count} {word}"
REVIEWS_SECTION_NONE = "\n\n⭐ Оценок родителей пока нет."
REVIEWS_COMMENT = "\n{stars} «{comment}»"
REVIEWS_COMMENT_CUT = 300      # characters of a comment a card shows
BTN_RATE = "⭐ Оценить программу"
BTN_RATE_AGAIN = "⭐ Изменить оценку"
BTN_NO_COMMENT = "Без комментария"
BTN_RATE_FOR = "⭐ {name}"
BTN_RATE_LINE = "⭐ Оценить: {n}. {title}"
BTN_TO_CARD = "« К программе"
RATE_PICK_CHILD = "Оценить программу {title}. Чьи это впечатления? Выберите ребёнка:"
RATE_ASK_STARS = (
    "Как вам программа {title}? Поставьте оценку от 1 до 5 звёзд по итогам занятий ребёнка "
    "({child})."
)
RATE_ASK_STARS_AGAIN = "\n\nВаша оценка сейчас: {stars}. Новая оценка заменит её."
RATE_ASK_COMMENT = (
    "Оценка: {stars}\n\n"
    "Напишите в ответ пару слов о программе — её увидят другие родители, без вашего имени "
    "(до {limit} знаков). Не указывайте ФИО и телефоны. Или нажмите «Без комментария»."
)
RATE_THANKS = (
    "🙏 Спасибо! Оценка {stars} программе {title} сохранена. "
    "Её можно изменить в любой момент: оцените программу ещё раз."
)
RATE_THANKS_COMMENT = "\nВаш отзыв: «{comment}»"
RATE_NOT_YET = (
    "Оценить программу {title} можно будет с {date}: тогда закончится и будет закрыт первый "
    "месяц занятий. Оценивают программу по итогам обучения."
)
RATE_NOT_YET_TODAY = (
    "Первый месяц занятий в программе {title} закончился и сегодня закрывается — "
    "оценить программу можно будет чуть позже сегодня."
)
MYDATA_REVIEWS_TITLE = "\n⭐ Оценки программ"
MYDATA_REVIEW = "• {title} — {child}: {stars}, {date}"
MYDATA_REVIEW_COMMENT = "\n   Отзыв: «{comment}»"
MYDATA_REVIEW_HIDDEN = " (скрыта оператором)"
MYDATA_NO_REVIEWS = "Оценки программ: нет."
FORGET_PLAN_COMMENTS = (
    "Будут удалены тексты ваших отзывов о программах: {count}. Сами оценки останутся "
    "в средней оценке программы — без имени."
)
REFUSALS.update({
    "rating_invalid": "Оценка — от {min} до {max} звёзд. Выберите её кнопкой.",
    "comment_too_long": "Отзыв длиннее {limit} знаков. Сократите его, пожалуйста, и отправьте снова.",
    "never_attended": (
        "Ребёнок не занимался в этой программе, поэтому оценить её нельзя: программу оценивают "
        "по итогам обучения."
    ),
    "rating_not_open": "Оценить программу пока нельзя: первый месяц занятий ещё не закончился.",
    "review_not_found": "Такого отзыва нет.",
})
# --- wp16b: one family across messengers (/link, /unlink) and sharing a program ---
COMMAND_MENU.update({
    "link": "Связать с другим мессенджером",
    "unlink": "Отвязать этот аккаунт от семьи",
})
HELP += (
    "\n\n🔗 Пользуетесь ботом в нескольких мессенджерах? Напишите /link — бот покажет код; "
    "отправьте «/link код» боту в другом мессенджере, и там будут те же дети и записи."
)
BTN_LINK_NEW_CODE = "🔢 Новый код"
BTN_ALERTS_HERE = "🔔 Уведомления сюда"
BTN_UNLINK = "Отвязать этот аккаунт"
BTN_UNLINK_YES = "Да, отвязать"
BTN_SHARE = "📤 Поделиться"
LINK_CODE = (
    "🔢 Код для связывания: {code}\n"
    "Он действует 10 минут, до {until}, и только один раз.\n"
    "Откройте бота в другом мессенджере (или с другого аккаунта) и отправьте: /link {code}"
)
LINK_ALONE = (
    "🔗 Связать мессенджеры\n"
    "Этот аккаунт ({platform}) пока ни с чем не связан. Чтобы в другом мессенджере были те же дети, "
    "сертификаты, записи и подписки, получите код кнопкой ниже и отправьте его боту там: /link код.\n"
    "Если код показали в другом мессенджере, напишите его сюда."
)
LINK_FAMILY = (
    "🔗 Связанные аккаунты семьи:\n{accounts}\n\n"
    "Дети, сертификаты, записи и подписки у них общие. Уведомления приходят в: {alerts}."
)
LINK_ACCOUNT_LINE = "• {platform}"
LINK_ACCOUNT_THIS = "• {platform} — этот аккаунт"
LINK_JOINED = (
    "✅ Аккаунты связаны: здесь и в {platform} теперь одни и те же дети, сертификаты, записи и подписки."
)
LINK_ALERTS_MOVED = "🔔 Уведомления семьи теперь приходят сюда."
LINK_REFUSED = {
    "format": "Код — это 6 цифр. Отправьте его так: /link 123456",
    "wrong": "Такого кода нет. Проверьте цифры: код показывает команда /link в другом мессенджере.",
    "expired": "Срок этого кода истёк: код действует 10 минут. Получите новый командой /link там, где его брали.",
    "own": "Это код этого же аккаунта. Отправьте его боту в другом мессенджере или с другого аккаунта.",
    "same_family": "Эти аккаунты уже связаны — ничего делать не нужно.",
    "too_many_subscriptions": (
        "Вместе у двух аккаунтов больше 10 подписок на новые программы, а у семьи их может быть не больше 10. "
        "Удалите лишние в /subscribe и отправьте код снова."
    ),
}
LINK_TRIES_LEFT = "Осталось попыток: {left}."
LINK_PAUSED = "Слишком много неверных кодов. Связывание с этого аккаунта приостановлено до {until}."
UNLINK_NOT_LINKED = "Этот аккаунт ни с чем не связан — отвязывать нечего. Связать мессенджеры: /link."
UNLINK_ASK = (
    "Отвязать этот аккаунт ({platform}) от семьи?\n\n"
    "Дети, их сертификаты, записи, листы ожидания и подписки останутся у семьи в: {others}. "
    "Здесь список детей станет пустым, и уведомления сюда приходить не будут. "
    "Ваше согласие на обработку данных в этом аккаунте сохранится. Связать снова можно командой /link."
)
UNLINK_DONE = "Аккаунт отвязан. Дети и записи семьи остались в: {others}."
FORGET_PLAN_LINKED = (
    "Этот аккаунт связан с семьёй в: {others}. Удалятся только данные этого аккаунта: он отвяжется "
    "от семьи, согласие на обработку данных будет отозвано. Дети, их сертификаты, записи и подписки "
    "останутся у семьи там — чтобы удалить и их, отправьте /forget в том мессенджере."
)
SHARE_TEXT = (
    "📤 Ссылка на программу {title}:\n{link}\n\n"
    "Перешлите её — по ссылке бот сразу откроет карточку программы."
)
SHARE_NOWHERE = (
    "📤 Поделиться программой {title} можно в мессенджере: там бот даёт ссылку, "
    "которая сразу открывает карточку программы."
)
SHARE_LINK_BROKEN = (
    "⚠️ Эта ссылка на программу не работает: такой программы нет в каталоге (возможно, её убрали "
    "или ссылку скопировали не целиком). Найти программу можно через /find."
)
REFUSALS["link_not_linked"] = UNLINK_NOT_LINKED
