"""/subscribe: create (municipality → categories → age → certificate-only), view, delete;
the digest's «отписаться» button works from any screen."""
from __future__ import annotations

from sqlalchemy import select

from core.models import Category, Subscription
from tests.dialogs.kit import SNILS_1, DialogClient, add_nominal, add_program, count, make_dialogs, snapshot

MUNI = "Город Тест"


async def subscriber(db, clock, user_id="1", dialogs=None) -> DialogClient:
    await add_program(db, clock, municipality=MUNI)
    client = DialogClient(dialogs or make_dialogs(db, clock), user_id=user_id)
    await client.start()
    return client


async def create(client: DialogClient, *categories: str, child: str | None = None, cert: bool = False) -> None:
    await client.send("/subscribe")
    await client.click("Новая подписка")
    await client.click(MUNI)
    for label in categories:
        await client.click(label)
    await client.click("Дальше")
    await client.click(child or "Любой возраст")
    if cert:
        await client.click("Только за сертификат")
    await client.click("Сохранить")


async def test_creating_a_subscription_with_toggles(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = await subscriber(db, clock)
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.send("/subscribe")
    assert "Подписок нет" in client.text
    await client.click("Новая подписка")
    await client.click(MUNI)
    await client.click("Техническая")
    await client.click("Художественная")
    assert client.has_button("✅ Техническая") and client.has_button("✅ Художественная")
    await client.click("✅ Художественная")                # toggled off again
    assert not client.has_button("✅ Художественная")
    await client.click("Дальше")
    await client.click("Мария")
    assert "техническая; возраст 10 лет; любая оплата" in client.text
    await client.click("Только за сертификат")
    assert client.has_button("✅ Только за сертификат") and "только за сертификат" in client.text
    assert await count(db, Subscription) == 0
    await client.click("Сохранить")
    assert "Подписка сохранена" in client.text and "1. Город Тест; техническая; возраст 10 лет" in client.text
    async with db.read() as session:
        sub = (await session.execute(select(Subscription))).scalar_one()
    assert (sub.age, sub.certificate_only) == (10, True)
    assert [c.category for c in sub.categories] == [Category.TECHNICAL]


async def test_view_and_delete_with_confirmation(db, clock):
    client = await subscriber(db, clock)
    await create(client)
    assert "все направленности; любой возраст; любая оплата" in client.text
    await client.click("1")
    assert "Создана: 21.11.2026" in client.text
    await client.click("Удалить")
    assert "Удалить подписку?" in client.text
    await client.click("Нет")
    assert await count(db, Subscription) == 1
    await client.click("Удалить")
    await client.click("Да, удалить")
    assert "Подписка удалена" in client.text and await count(db, Subscription) == 0


async def test_unsubscribe_button_works_from_any_screen(db, clock):
    client = await subscriber(db, clock)
    await create(client, "Техническая")
    async with db.read() as session:
        sub_id = (await session.execute(select(Subscription.id))).scalar_one()
    await client.send("/children")
    await client.click("Добавить ребёнка")                  # in the middle of a question
    await client.press(f"unsub:{sub_id}")
    assert "Подписка удалена" in client.text and await count(db, Subscription) == 0


async def test_another_parents_subscription_is_not_touched(db, clock):
    owner = await subscriber(db, clock)
    await create(owner)
    async with db.read() as session:
        sub_id = (await session.execute(select(Subscription.id))).scalar_one()
    stranger = DialogClient(owner.dialogs, user_id="2")
    await stranger.start()
    before = await snapshot(db)
    for action in (f"unsub:{sub_id}", f"sub:view:{sub_id}", f"sub:delok:{sub_id}"):
        await stranger.press(action)
        assert "Подписка не найдена среди ваших" in stranger.text, action
    assert await snapshot(db) == before


async def test_toggles_from_an_old_screen_are_stale(db, clock):
    client = await subscriber(db, clock)
    await client.send("/subscribe")
    before = await snapshot(db)
    for action in ("sub:cat:technical", "sub:save", "sub:next", "sub:age:any"):
        await client.press(action)
        assert "Эта кнопка устарела" in client.text, action
    await client.click("Новая подписка")
    await client.click(MUNI)
    await client.press("sub:cat:cooking")
    assert "Такой направленности нет" in client.text and client.has_button("Дальше")
    assert await snapshot(db) == before
