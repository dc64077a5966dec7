"""The waiting list in the conversations: full programs marked in /find, their card
offering the line (not enrollment), places listed in /enrollments and left there,
and a freed seat's message leading to the usual preview and confirmation."""
from __future__ import annotations

from sqlalchemy import select

from bot.dialogs import texts
from bot.jobs import screens, tasks
from core import outbox
from core.models import Enrollment, EnrollmentStatus, Parent, WaitlistEntry, WaitlistStatus
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    SNILS_3,
    DialogClient,
    add_nominal,
    add_program,
    children_of,
    count,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"


async def parent_with_child(db, clock, dialogs, user_id: str, snils: str, name: str) -> DialogClient:
    client = DialogClient(dialogs, user_id=user_id)
    await client.start()
    await client.add_child(name, "05.03.2016", snils, MUNI)
    return client


async def full_program(db, clock, title="Плавание"):
    """A one-seat program taken by parent 1; parents 2 and 3 each have a child."""
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title=title, seats=1, description="Бассейн")
    dialogs = make_dialogs(db, clock)
    first = await parent_with_child(db, clock, dialogs, "1", SNILS_1, "Иванова Мария Петровна")
    await first.press(f"enr:start:{program_id}")
    await first.click("Иванова Мария")
    await first.click("Подтвердить")
    second = await parent_with_child(db, clock, dialogs, "2", SNILS_2, "Петров Пётр Иванович")
    third = await parent_with_child(db, clock, dialogs, "3", SNILS_3, "Сидорова Анна Олеговна")
    return program_id, first, second, third


async def join(client: DialogClient, program_id: int, name: str) -> None:
    await client.press(f"card:{program_id}")
    await client.click("Встать в лист ожидания")
    await client.click(f"Встать в лист ожидания: {name}")
    assert "в листе ожидания" in client.text


async def entries(db) -> list[tuple[int, WaitlistStatus]]:
    async with db.read() as session:
        return [tuple(row) for row in (await session.execute(
            select(WaitlistEntry.id, WaitlistEntry.status).order_by(WaitlistEntry.id))).all()]


async def the_offer(db, entry_id: int, clock):
    """The message the outbox would send for a held seat (built as the worker builds it)."""
    async with db.read() as session:
        entry = await session.get(WaitlistEntry, entry_id)
        unit = outbox.Unit(parent_id=entry.child.parent_id, platform="test", user_id="?", kind=outbox.WAITLIST,
                           row_ids=(1,), refs=(entry_id,))
        return await screens.build(session, unit, clock.today(), clock.tz)


async def cancel_first(first: DialogClient, db) -> None:
    async with db.read() as session:
        enrollment_id = (await session.execute(select(Enrollment.id))).scalars().first()
    await first.press(f"cancel:yes:{enrollment_id}")
    assert "Запись отменена" in first.text


async def test_full_program_card_offers_waiting_list_not_enrollment(db, clock):
    program_id, first, second, _ = await full_program(db, clock)
    await second.send("/find бассейн")
    assert "мест нет — можно встать в лист ожидания" in second.text
    await second.press(f"card:{program_id}")
    assert "Свободных мест: 0" in second.text
    assert not second.has_button(texts.BTN_ENROLL)
    await second.click("Встать в лист ожидания")
    assert "Кого поставить в лист ожидания на программу «Плавание»" in second.text
    assert not [b for b in second.buttons() if b.action.startswith("enr:pick")]
    await second.click("Встать в лист ожидания: Петров")
    assert "место в очереди: 1" in second.text
    # Asked again, the child is shown as already waiting, with no button.
    await second.press(f"wl:start:{program_id}")
    assert "уже в листе ожидания" in second.text
    assert not [b for b in second.buttons() if b.action.startswith("wl:")]
    # A program with seats is not marked and its card enrolls.
    free_id = await add_program(db, clock, title="Бассейн для малышей", seats=5, description="Бассейн")
    await second.send("/find бассейн")
    assert second.text.count("мест нет") == 1
    await second.press(f"card:{free_id}")
    assert second.has_button(texts.BTN_ENROLL) and not second.has_button("лист ожидания")


async def test_leaving_the_waiting_list(db, clock):
    program_id, first, second, third = await full_program(db, clock)
    await join(second, program_id, "Петров")
    await join(third, program_id, "Сидорова")
    await third.send("/enrollments")
    assert "Плавание — Сидорова Анна Олеговна: лист ожидания, место в очереди 2" in third.text
    await second.send("/enrollments")
    assert "место в очереди 1" in second.text
    await second.click("Покинуть очередь")
    assert "Покинуть лист ожидания на программу «Плавание»" in second.text
    await second.click("Нет, оставить")
    assert "место в очереди 1" in second.text
    await second.click("Покинуть очередь")
    await second.click("Да, покинуть")
    assert "больше не в листе ожидания" in second.text
    assert "Записей пока нет" in second.text
    await third.send("/enrollments")
    assert "место в очереди 1" in third.text
    # A second press, and another parent's place: refused, nothing written.
    [(second_entry, status), (third_entry, _)] = await entries(db)
    assert status is WaitlistStatus.WITHDRAWN
    before = await snapshot(db), await entries(db)
    await second.press(f"wl:out:{second_entry}")
    assert "уже не стоит в листе ожидания" in second.text
    for action in (f"wl:leave:{third_entry}", f"wl:out:{third_entry}", f"wl:no:{third_entry}"):
        await second.press(action)
        assert "не найдено среди ваших" in second.text, action
    assert (await snapshot(db), await entries(db)) == before


async def test_held_seat_message_leads_to_the_usual_preview_and_confirmation(db, clock):
    program_id, first, second, third = await full_program(db, clock)
    await join(second, program_id, "Петров")
    await join(third, program_id, "Сидорова")
    await cancel_first(first, db)
    [(held, status), _] = await entries(db)
    assert status is WaitlistStatus.OFFERED
    offer = await the_offer(db, held, clock)
    assert "придержано для ребёнка Пётр до 22.11.2026 12:00" in offer.text
    actions = {b.label: b.action for b in offer.buttons}
    [child] = await children_of(db, user_id="2")
    assert actions["Записать ребёнка"] == f"enr:pick:{program_id}:{child.id}"
    assert actions["Не нужно"] == f"wl:no:{held}"
    # Others see no free seat meanwhile, and are offered the waiting list.
    await third.press(f"card:{program_id}")
    assert "Свободных мест: 0" in third.text and not third.has_button(texts.BTN_ENROLL)
    await first.press(f"card:{program_id}")
    assert first.has_button("Встать в лист ожидания")
    # The holder's card offers enrollment; /enrollments shows the hold.
    await second.press(f"card:{program_id}")
    assert "Место придержано для ребёнка Пётр" in second.text and second.has_button(texts.BTN_ENROLL)
    await second.send("/enrollments")
    assert "место придержано до 22.11.2026 12:00" in second.text
    await second.press(actions["Записать ребёнка"])
    assert "Стоимость: 3 000 ₽" in second.text and "Подтверждаете запись?" in second.text
    await second.click("Подтвердить")
    assert "Петров Пётр Иванович записан в программу «Плавание»" in second.text
    async with db.read() as session:
        assert (await session.get(WaitlistEntry, held)).status is WaitlistStatus.ENROLLED
    # The message is moot now: nothing to send.
    assert await the_offer(db, held, clock) is None


async def test_not_needed_passes_the_seat_on_and_a_second_press_writes_nothing(db, clock):
    program_id, first, second, third = await full_program(db, clock)
    await join(second, program_id, "Петров")
    await join(third, program_id, "Сидорова")
    await cancel_first(first, db)
    [(held, _), (next_in_line, _)] = await entries(db)
    await second.press(f"wl:no:{held}")
    assert "передано следующему в очереди" in second.text
    assert await entries(db) == [(held, WaitlistStatus.DECLINED), (next_in_line, WaitlistStatus.OFFERED)]
    offer = await the_offer(db, next_in_line, clock)
    assert "Анна" in offer.text
    before = await snapshot(db), await entries(db)
    await second.press(f"wl:no:{held}")
    assert "Вы уже отказались от этого места" in second.text
    assert (await snapshot(db), await entries(db)) == before


async def test_a_press_on_an_expired_hold_is_refused_and_writes_nothing(db, clock):
    program_id, first, second, third = await full_program(db, clock)
    await join(second, program_id, "Петров")
    await join(third, program_id, "Сидорова")
    await cancel_first(first, db)
    offer_actions = [b.action for b in (await the_offer(db, (await entries(db))[0][0], clock)).buttons]
    clock.advance(hours=24, minutes=1)
    await tasks.run_expire_holds(db, clock)
    [(held, status), (next_in_line, next_status)] = await entries(db)
    assert (status, next_status) == (WaitlistStatus.EXPIRED, WaitlistStatus.OFFERED)
    before = await snapshot(db), await entries(db)
    enroll_action, decline_action = offer_actions[0], offer_actions[1]
    await second.press(decline_action)
    assert "Срок, на который место было придержано, истёк" in second.text
    await second.press(enroll_action)
    assert "Свободных мест нет" in second.text
    assert (await snapshot(db), await entries(db)) == before
    assert await count(db, Enrollment) == 1
    async with db.read() as session:
        statuses = (await session.execute(select(Enrollment.status))).scalars().all()
    assert statuses == [EnrollmentStatus.CANCELLED]


async def test_the_held_seat_notice_reaches_a_messenger_parent(db, clock):
    program_id, first, second, _ = await full_program(db, clock)
    await join(second, program_id, "Петров")
    async with db.write() as session:
        parent = (await session.execute(select(Parent).where(Parent.external_id == "2"))).scalar_one()
        parent.platform = "telegram"
    await cancel_first(first, db)
    await tasks.run_expire_holds(db, clock)     # also queues the offers' messages
    async with db.read() as session:
        [unit] = await outbox.due_units(session, ["telegram"], clock)
        screen = await screens.build(session, unit, clock.today(), clock.tz)
    assert unit.kind == outbox.WAITLIST and "Записать ребёнка" in [b.label for b in screen.buttons]


async def test_a_hold_run_out_before_the_job_reads_so_and_can_still_be_left(db, clock):
    program_id, first, second, third = await full_program(db, clock)
    await join(second, program_id, "Петров")
    await join(third, program_id, "Сидорова")
    await cancel_first(first, db)
    clock.advance(hours=24, minutes=1)
    await second.send("/enrollments")
    assert "срок, на который место было придержано, истёк" in second.text
    assert not second.has_button("Не нужно")
    await second.click("Покинуть очередь")
    await second.click("Да, покинуть")
    [(_, status), (_, next_status)] = await entries(db)
    assert (status, next_status) == (WaitlistStatus.WITHDRAWN, WaitlistStatus.OFFERED)
