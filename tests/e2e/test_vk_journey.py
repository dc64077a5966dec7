"""The real `python -m bot run` serving a VK community (the fake VK server), end to end.

A parent goes from «Начать» to a cancelled enrollment with a refund, once
with a client that has callback buttons (inline keyboards, edits in place)
and once with text buttons only; a forged button press, VK's error 6 and a
long-poll failure=2 change nothing they should not.
"""
from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.e2e.botproc import BotProcess, running_bot
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk

pytestmark = pytest.mark.e2e

SNILS = "112-233-445 95"


def vk_env(fake: FakeVk) -> dict[str, str]:
    return {"VK_GROUP_TOKEN": TOKEN, "VK_GROUP_ID": str(GROUP_ID), "VK_API_URL": fake.api_url}


class VkParent:
    """One parent in the VK app: types or presses, then waits for the bot's answer."""

    def __init__(self, fake: FakeVk, user_id: int, callbacks: bool) -> None:
        self.fake = fake
        self.user_id = user_id
        self.callbacks = callbacks

    async def says(self, text: str) -> str:
        message = await self.fake.reply_to(self.user_id, lambda: self.fake.user_says(
            self.user_id, text, callbacks=self.callbacks))
        return message.text

    async def presses(self, label: str) -> str:
        message = await self.fake.reply_to(self.user_id, lambda: self.fake.press(self.user_id, label))
        return message.text

    def labels(self) -> list[str]:
        return [b.label for b in self.fake.buttons(self.user_id)]


async def sign_up(parent: VkParent, first_words: str = "Начать") -> None:
    greeting = await parent.says(first_words)
    assert "согласны на обработку персональных данных" in greeting
    assert "Главное меню" in await parent.presses("Даю согласие")


async def add_child(parent: VkParent, snils: str = SNILS) -> None:
    await parent.presses("Мои дети")
    assert "ФИО ребёнка" in await parent.presses("Добавить ребёнка")
    assert "Дата рождения" in await parent.says("Иванова Мария Петровна")
    assert "СНИЛС" in await parent.says("15.03.2016")
    assert "муниципалитете" in await parent.says(snils)
    assert "Проверьте данные" in await parent.presses("г. Пятигорск")
    assert "Ребёнок добавлен" in await parent.presses("Сохранить")


async def enroll(parent: VkParent) -> str:
    """Find → card → enroll; returns the certificate number shown in the confirmation."""
    found = await parent.says("/find робот")
    assert "Робототехника на Arduino" in found
    number = re.search(r"(\d+)\. Робототехника на Arduino", found).group(1)  # type: ignore[union-attr]
    card = await parent.presses(number)
    assert "Возможна оплата сертификатом" in card and "Свободных мест" in card
    assert "Кого записываем" in await parent.presses("Записать ребёнка")
    summary = await parent.presses("Иванова Мария")
    for part in ("Стоимость", "Оплатит сертификат", "Доплата родителя", "Баланс сертификата"):
        assert part in summary, part
    done = await parent.presses("Подтвердить")
    assert "Иванова Мария Петровна записана в программу «Робототехника на Arduino»" in done
    certificate = re.search(r"Выпущен сертификат № (\d{10})", done)
    assert certificate, done
    return certificate.group(1)


async def balance_and_cancel(parent: VkParent, certificate: str) -> None:
    balance = await parent.says("/balance")
    assert certificate in balance and "Зарезервировано" in balance
    enrollments = await parent.says("/enrollments")
    assert "Робототехника на Arduino" in enrollments and "(действует)" in enrollments
    assert "Статус: действует" in await parent.presses("Робототехника на Arduino")
    ask = await parent.presses("Отменить запись")
    assert "На сертификат вернётся" in ask
    done = await parent.presses("Да, отменить")
    assert "Запись отменена" in done and "Вернулось на сертификат" in done and "(отменена)" in done


def query(bot: BotProcess, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(bot.database_path) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.mark.parametrize("callbacks", [True, False], ids=["callback-buttons", "text-buttons"])
async def test_full_journey_from_start_to_refund(tmp_path, callbacks):
    async with FakeVk() as fake:
        async with running_bot(tmp_path, vk_env(fake), ready=lambda: fake.longpoll_requests > 0, timeout=60) as bot:
            parent = VkParent(fake, 101, callbacks)
            await sign_up(parent, "Начать" if callbacks else "/start")
            await add_child(parent)
            certificate = await enroll(parent)
            await balance_and_cancel(parent, certificate)

            chat = fake.chat(101)
            if callbacks:
                assert all(m.keyboard is None or m.inline for m in chat)
                assert sum(m.edits for m in chat) >= 5            # presses edited screens in place
                assert len(fake.snackbars) >= 8                    # every press was answered
            else:
                assert not any(m.inline for m in chat) and not fake.calls_of("messages.edit")
                assert not fake.snackbars
            (status,) = query(bot, "SELECT e.status FROM enrollments e")[0]
            assert status == "cancelled"
            kinds = [k for (k,) in query(bot, "SELECT kind FROM ledger_entries ORDER BY id")]
            assert kinds[0] == "credit" and "reserve" in kinds and "refund" in kinds
            # Never two identical sends shown twice: every message has its own random_id.
            ids = [m.random_id for m in chat]
            assert len(ids) == len(set(ids))
            # Logs hold no SNILS or full names.
            output = bot.output()
            assert "112-233-445" not in output and "11223344595" not in output and "Иванова" not in output


async def test_forged_press_on_another_parents_enrollment_is_refused_and_changes_nothing(tmp_path):
    async with FakeVk() as fake:
        async with running_bot(tmp_path, vk_env(fake), ready=lambda: fake.longpoll_requests > 0, timeout=60) as bot:
            owner = VkParent(fake, 201, callbacks=True)
            await sign_up(owner)
            await add_child(owner)
            await enroll(owner)
            (enrollment_id,) = query(bot, "SELECT id FROM enrollments")[0]
            ledger_before = query(bot, "SELECT id, kind, amount FROM ledger_entries ORDER BY id")

            forger = VkParent(fake, 202, callbacks=True)
            await sign_up(forger)
            menu = fake.last(202)
            assert menu is not None
            for action in (f"cancel:yes:{enrollment_id}", f"cancel:ask:{enrollment_id}", f"enl:view:{enrollment_id}"):
                answered = len(fake.snackbars)
                fake.press_payload(202, json.dumps({"a": action}), cmid=menu.cmid)
                await fake.wait_for(lambda: len(fake.snackbars) > answered, what="the forged press answered")
            forger_saw = "\n".join(fake.texts(202))
            assert "Вернулось на сертификат" not in forger_saw and "Иванова" not in forger_saw
            assert query(bot, "SELECT status FROM enrollments") == [("active",)]
            assert query(bot, "SELECT id, kind, amount FROM ledger_entries ORDER BY id") == ledger_before
            # The owner's chat is untouched by the forger's presses.
            assert all(m.peer_id == 201 for m in fake.chat(201))


async def test_error_6_is_waited_out_and_the_message_delivered_once(tmp_path):
    async with FakeVk() as fake:
        async with running_bot(tmp_path, vk_env(fake), ready=lambda: fake.longpoll_requests > 0, timeout=60):
            fake.fail_api("messages.send", 6)
            parent = VkParent(fake, 301, callbacks=True)
            greeting = await parent.says("Начать")
            assert "согласны на обработку" in greeting
            assert len(fake.chat(301)) == 1
            sends = fake.calls_of("messages.send")
            assert len(sends) == 2 and sends[0].params["random_id"] == sends[1].params["random_id"]
            fake.fail_api("messages.edit", 9)
            assert "Главное меню" in await parent.presses("Даю согласие")


async def test_long_poll_failed_2_is_recovered(tmp_path):
    async with FakeVk() as fake:
        async with running_bot(tmp_path, vk_env(fake), ready=lambda: fake.longpoll_requests > 0, timeout=60):
            parent = VkParent(fake, 401, callbacks=False)
            assert "согласны" in await parent.says("Начать")
            servers = len(fake.calls_of("groups.getLongPollServer"))
            fake.fail_longpoll(2)
            await fake.wait_for(lambda: not fake.longpoll_failures, what="failed=2 served")
            assert "Главное меню" in await parent.presses("Даю согласие")
            assert len(fake.calls_of("groups.getLongPollServer")) == servers + 1
            assert len(fake.chat(401)) == 2


async def test_a_parent_rates_the_program_in_vk_after_its_first_settled_month(tmp_path):
    """Issue 13, ratings in VK: when rating opens, then (the month settled by `jobs run
    settle-month`) stars and a comment from /enrollments; the card shows the average and the
    comment without names; a program never attended is refused, nothing stored."""
    from bot.dialogs import texts
    from tests.e2e import ratings

    async with FakeVk() as fake:
        async with running_bot(tmp_path, vk_env(fake), ready=lambda: fake.longpoll_requests > 0, timeout=60) as bot:
            parent = VkParent(fake, 501, callbacks=True)
            await sign_up(parent)
            await add_child(parent)
            await enroll(parent)
            await parent.says("/enrollments")
            await parent.presses("Робототехника на Arduino")
            assert f"можно будет с {ratings.first_of_next_month()}" in await parent.presses(texts.BTN_RATE)

            ratings.as_if_enrolled_two_months_ago(bot.database_path)
            ratings.settle_the_month_before_last(bot.workdir, bot.env)

            # A program the child never attended: the button forged, refused.
            (child_id,) = query(bot, "SELECT id FROM children")[0]
            (other,) = query(bot, "SELECT id FROM programs WHERE title = 'Авиамоделирование'")[0]
            answered = len(fake.snackbars)
            fake.press_payload(501, json.dumps({"a": f"rv:c:{other}:{child_id}"}), cmid=fake.last(501).cmid)
            await fake.wait_for(lambda: len(fake.snackbars) > answered, what="the forged press answered")
            assert texts.REFUSALS["never_attended"] in "\n".join(fake.texts(501))
            assert query(bot, "SELECT count(*) FROM reviews") == [(0,)]

            await parent.says("/enrollments")
            await parent.presses("Робототехника на Arduino")
            assert "Как вам программа" in await parent.presses(texts.BTN_RATE)
            assert "Оценка: ★★★★☆" in await parent.presses("4 ★")
            thanks = await parent.says("Хороший педагог, но группа большая")
            assert "Спасибо! Оценка ★★★★☆" in thanks

            found = await parent.says("/find робот")
            number = re.search(r"(\d+)\. Робототехника на Arduino", found).group(1)  # type: ignore[union-attr]
            card = await parent.presses(number)
            assert "★ 4,0 · 1 оценка" in card and "«Хороший педагог, но группа большая»" in card
            assert "Иванова" not in card
            [(rating, comment_enc)] = query(bot, "SELECT rating, comment_enc FROM reviews")
            assert rating == 4 and "педагог" not in comment_enc
