"""152-ФЗ in the dialogs: consent as a separate, versioned document; browsing the catalog
needs no consent; /mydata shows the asker's own data; /forget shows what it will do, then
cancels enrollments (refund, seat freed) and erases."""
from __future__ import annotations


from sqlalchemy import select, update

from bot.config import Settings
from bot.dialogs.consent_document import CONSENT_VERSION, OPERATOR_NAME_MISSING
from bot.dialogs.engine import Dialogs
from core import waitlist
from core.models import (
    Child,
    Consent,
    Enrollment,
    EnrollmentStatus,
    LedgerEntry,
    LedgerKind,
    Parent,
    Program,
    Subscription,
    WaitlistEntry,
    WaitlistStatus,
)
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    DialogClient,
    add_nominal,
    add_program,
    children_of,
    count,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"
NAME = "Иванова Мария Петровна"
BIRTH = "05.03.2016"


async def parent_with_child(dialogs, user_id="1", snils=SNILS_1, name=NAME, birth=BIRTH) -> DialogClient:
    client = DialogClient(dialogs, user_id=user_id)
    await client.start()
    await client.add_child(name, birth, snils, MUNI)
    assert "Ребёнок добавлен" in client.text
    return client


async def enroll(client: DialogClient, program_id: int, child_label: str) -> None:
    await client.press(f"enr:start:{program_id}")
    await client.click(child_label)
    await client.click("Подтвердить")
    assert "записана в программу" in client.text


# --- consent as a document ------------------------------------------------------------
async def test_consent_document_can_be_read_before_agreeing_and_names_the_operator(db, clock):
    settings = Settings(_env_file=None, pd_operator_name="ГБУ «Региональный модельный центр»",
                        pd_operator_address="г. Пятигорск, ул. Ленина, 1")
    client = DialogClient(Dialogs(db, clock, settings))
    await client.send("/start")
    await client.click("Прочитать согласие")
    parts = [screen.text for screen in client.reply.screens]
    document = "\n".join(parts)
    for fact in ("ГБУ «Региональный модельный центр»", "г. Пятигорск, ул. Ленина, 1", f"версия {CONSENT_VERSION}",
                 "Цели обработки", "фамилия, имя, отчество", "дата рождения", "СНИЛС", "муниципалитет",
                 "идентификатор вашего аккаунта", "Действия с данными", "Срок действия", "/forget", "/mydata"):
        assert fact in document, fact
    assert len(parts) >= 3 and all(len(part) <= 1500 for part in parts)   # each one a readable screen
    assert client.has_button("Даю согласие") and client.has_button("Не даю согласия")
    assert await count(db, Parent) == 0   # reading stores nothing


async def test_consent_document_shows_a_clear_placeholder_without_operator_settings(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.send("/start")
    await client.click("Прочитать согласие")
    assert OPERATOR_NAME_MISSING in "\n".join(screen.text for screen in client.reply.screens)


async def test_consent_version_is_recorded_with_time_and_platform(db, clock):
    client = DialogClient(make_dialogs(db, clock), platform="vk", user_id="77")
    await client.send("/start")
    await client.click("Прочитать согласие")
    await client.click("Даю согласие")
    assert "Главное меню" in client.text
    async with db.read() as session:
        consent = (await session.execute(select(Consent))).scalar_one()
        parent = await session.get(Parent, consent.parent_id)
    assert (consent.version, consent.platform, consent.given_at) == (CONSENT_VERSION, "vk", clock.now())
    assert parent.external_id == "77" and parent.consent_version == CONSENT_VERSION


async def test_a_new_consent_version_asks_again_before_showing_anything_personal(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    dialogs = make_dialogs(db, clock)
    client = await parent_with_child(dialogs)
    # The parent agreed to an earlier text; the one in force is newer.
    async with db.write() as session:
        await session.execute(update(Parent).values(consent_version="2020-01-01"))
        await session.execute(update(Consent).values(version="2020-01-01"))
    for command in ("/children", "/mydata", "/balance", "/enrollments", "/start"):
        await client.send(command)
        shown = "\n".join(screen.text for screen in client.reply.screens)
        # The new document itself, then the question.
        assert "Текст согласия на обработку персональных данных изменился" in shown, command
        assert f"версия {CONSENT_VERSION}" in shown and "Цели обработки" in shown, command
        assert client.has_button("Даю согласие")
        assert "Иванова" not in shown and "445 95" not in shown
    # Nothing personal can be stored either.
    before = await snapshot(db)
    await client.press("ch:add")
    assert "изменился" in client.reply.screens[0].text
    await client.press("ch:name")
    await client.send("Петров Пётр Ильич")
    assert await snapshot(db) == before
    await client.click("Не даю согласия")
    assert "/forget" in client.text and "Иванова" not in client.text

    await client.send("/start")
    await client.click("Даю согласие")
    await client.send("/children")
    assert "Иванова Мария Петровна" in client.text
    async with db.read() as session:
        versions = [c.version for c in (await session.execute(select(Consent).order_by(Consent.id))).scalars()]
        parent = (await session.execute(select(Parent))).scalar_one()
    assert versions == ["2020-01-01", CONSENT_VERSION] and parent.consent_version == CONSENT_VERSION


# --- browsing without consent -------------------------------------------------------------
async def test_catalog_browsing_works_before_consent_while_adding_a_child_asks_for_it(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника")
    for n in range(6):
        await add_program(db, clock, title=f"Шахматы {n}", description="Шахматный клуб")
    client = DialogClient(make_dialogs(db, clock))
    await client.send("/start")
    await client.click("Смотреть кружки")
    assert "Поиск кружков" in client.text and "Найдено: 7" in client.text
    await client.click("▶")
    assert "Страница 2" in client.text
    await client.click("Муниципалитет")
    await client.click(MUNI)
    await client.click("Возраст")
    assert not [b for b in client.buttons() if b.action.startswith("find:child")]
    await client.click("9")
    await client.click("Направленность")
    await client.click("Техническая")
    assert "Найдено: 7" in client.text and "возраст 9 лет" in client.text
    await client.send("робот")
    assert "Найдено: 1" in client.text
    await client.click("1")
    assert "Робототехника" in client.text and "Свободных мест" in client.text
    await client.click("К результатам")
    assert "Найдено: 1" in client.text
    assert await count(db, Parent) == 0

    # Enrolling, choosing one's child, adding a child, subscribing: consent first.
    await client.press(f"card:{program_id}")
    await client.click("Записать ребёнка")
    assert "Сначала нужно ваше согласие" in client.text and client.has_button("Даю согласие")
    for action in ("find:child:1", "cmd:children", "ch:add", "cmd:subscribe"):
        await client.press(action)
        assert "Сначала нужно ваше согласие" in client.text, action
    await client.press("cmd:menu")
    assert client.has_button("Даю согласие")
    assert await count(db, Parent) == 0


# --- /mydata ----------------------------------------------------------------------------------
async def test_mydata_shows_what_is_stored_and_when(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника")
    full_id = await add_program(db, clock, title="Плавание", seats=0)
    dialogs = make_dialogs(db, clock)
    client = await parent_with_child(dialogs)
    await enroll(client, program_id, "Иванова Мария")
    await client.press(f"enr:start:{full_id}")
    await client.click("Встать в лист ожидания")
    await client.send("/subscribe")
    await client.click("Новая подписка")
    await client.click(MUNI)
    await client.click("Дальше")
    await client.click("Любой возраст")
    await client.click("Сохранить")

    await client.send("/mydata")
    text = "\n".join(screen.text for screen in client.reply.screens).replace("\u00a0", " ")
    async with db.read() as session:
        number = (await session.execute(select(Child))).scalar_one().certificate.number
    for fact in ("идентификатор 1", f"Согласие: версия {CONSENT_VERSION}, дано 21.11.2026",
                 NAME, "Дата рождения: 05.03.2016", "СНИЛС: ***-***-445 95", f"Муниципалитет: {MUNI}",
                 "Добавлена: 21.11.2026", f"№ {number}", "«Робототехника» — Мария, действует, записана 21.11.2026",
                 "«Плавание» — Мария, в очереди с 21.11.2026", "Город Тест; все направленности", "/forget"):
        assert fact in text, fact
    assert "112-233-445" not in text and "11223344595" not in text
    assert len(client.reply.screens) >= 3 and client.has_button("В меню")


async def test_mydata_shows_only_the_askers_data(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника")
    dialogs = make_dialogs(db, clock)
    first = await parent_with_child(dialogs)
    await enroll(first, program_id, "Иванова Мария")
    second = DialogClient(dialogs, user_id="2")
    await second.start()
    await second.send("/mydata")
    text = "\n".join(screen.text for screen in second.reply.screens)
    for secret in ("Иванова", "Мария", "05.03.2016", "445 95", "Робототехника", "идентификатор 1"):
        assert secret not in text, secret
    assert "идентификатор 2" in text and "Дети: не добавлены" in text and "Записи: нет" in text


# --- /forget ------------------------------------------------------------------------------------
async def test_forget_shows_its_consequences_before_acting(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника", price=150_000)
    full_id = await add_program(db, clock, title="Плавание", seats=0)
    dialogs = make_dialogs(db, clock)
    client = await parent_with_child(dialogs)
    await enroll(client, program_id, "Иванова Мария")
    await client.press(f"enr:start:{full_id}")
    await client.click("Встать в лист ожидания")
    clock.advance(days=3)   # no longer the enrollment day: the usual refund, months after this one
    before = await snapshot(db)

    await client.send("/forget")
    text = client.text.replace("\u00a0", " ")
    for consequence in ("Будут отменены записи", "«Робототехника» — Мария: вернётся 1 500 ₽",
                        "снят с листов ожидания: 1", "ФИО, дата рождения и СНИЛС детей: Мария",
                        "обезличенными", "нельзя отменить"):
        assert consequence in text, consequence
    assert client.has_button("Да, удалить мои данные") and client.has_button("Нет")
    assert await snapshot(db) == before   # shown, nothing done
    await client.click("Нет")
    assert await snapshot(db) == before
    async with db.read() as session:
        assert (await session.execute(select(Enrollment.status))).scalar_one() is EnrollmentStatus.ACTIVE


async def test_forget_cancels_enrollments_refunds_and_frees_seats_for_the_waiting_list(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника", price=150_000, seats=1)
    dialogs = make_dialogs(db, clock)
    client = await parent_with_child(dialogs)
    await enroll(client, program_id, "Иванова Мария")
    other = await parent_with_child(dialogs, user_id="2", snils=SNILS_2, name="Петров Пётр Ильич", birth="01.02.2015")
    await other.press(f"enr:start:{program_id}")
    await other.click("Встать в лист ожидания")
    clock.advance(days=3)

    await client.send("/forget")
    await client.click("Да, удалить мои данные")
    assert "удалены" in client.text and "Отменено записей: 1" in client.text
    async with db.read() as session:
        enrollment = (await session.execute(select(Enrollment))).scalar_one()
        refunds = list((await session.execute(
            select(LedgerEntry.month, LedgerEntry.amount).where(LedgerEntry.kind == LedgerKind.REFUND))).all())
        program = await session.get(Program, program_id)
        free_for_others = await waitlist.seats_left(session, program, clock)
        waiting_entry = (await session.execute(select(WaitlistEntry))).scalar_one()
        free = await waitlist.seats_left(session, program, clock, for_child=waiting_entry.child_id)
        waiting = waiting_entry.status
        forgotten = (await session.execute(select(Child).where(Child.forgotten_at.is_not(None)))).scalar_one()
        consent = (await session.execute(select(Consent).where(Consent.parent_id == forgotten.parent_id))).scalar_one()
    assert enrollment.status is EnrollmentStatus.CANCELLED and enrollment.cancelled_at is not None
    assert refunds == [(12, 150_000)]      # December back; November is the current month
    assert free == 1 and free_for_others == 0     # held for the first in line, nobody else's
    assert waiting is WaitlistStatus.OFFERED       # the other family's child is offered the seat
    assert forgotten.full_name is None and forgotten.snils is None and forgotten.birth_date is None
    assert consent.withdrawn_at is not None
    assert await count(db, Subscription) == 0


async def test_nobody_can_see_a_forgotten_childs_data_afterwards(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника")
    dialogs = make_dialogs(db, clock)
    client = await parent_with_child(dialogs)
    await enroll(client, program_id, "Иванова Мария")
    child_id = (await children_of(db))[0].id
    await client.send("/forget")
    await client.click("Да, удалить мои данные")

    # The same messenger account, after agreeing again, and another parent.
    again = DialogClient(dialogs, user_id="1")
    await again.start()
    stranger = DialogClient(dialogs, user_id="2")
    await stranger.start()
    for who in (again, stranger):
        seen = []
        for command in ("/children", "/enrollments", "/balance", "/mydata"):
            await who.send(command)
            seen += [screen.text for screen in who.reply.screens]
        for action in (f"find:child:{child_id}", "enl:view:1", f"plan:{child_id}"):
            await who.press(action)
            seen += [screen.text for screen in who.reply.screens]
        text = "\n".join(seen)
        for secret in ("Иванова", "Мария", "05.03.2016", "445 95", "Робототехника"):
            assert secret not in text, secret


async def test_forget_without_any_data_says_there_is_nothing_to_delete(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.send("/forget")
    assert "ничего о вас не храню" in client.text
    await client.press("forget:yes")
    assert "кнопка устарела" in client.text
    assert await snapshot(db) == {key: 0 for key in await snapshot(db)}


async def test_mydata_and_forget_are_reachable_by_buttons_alone(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.click("Мои данные")
    assert "Какие данные о вас хранятся" in client.reply.screens[0].text
    await client.click("Удалить мои данные")
    assert "Вот что произойдёт" in client.text and client.has_button("Да, удалить мои данные")
    await client.click("Нет")
    assert "Главное меню" in client.text
