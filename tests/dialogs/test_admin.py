"""SPEC §2 stats: an operator sees the numbers in the chat; for anybody else /stats does not exist."""
from bot.config import Settings
from bot.dialogs import texts
from bot.dialogs.engine import Dialogs
from core.errors import DomainError
from tests.dialogs.kit import DialogClient, SNILS_1, add_nominal


async def test_stats_for_an_admin_and_an_unknown_command_for_a_parent(db, clock):
    await add_nominal(db, "Город Тест", 2026, 1_200_000)
    dialogs = Dialogs(db, clock, Settings(admin_ids=["test:7"]))
    parent = DialogClient(dialogs, user_id="1")
    await parent.start()
    await parent.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, "Город Тест")
    await parent.send("/stats")
    assert texts.refusal(DomainError("unknown_command")) in parent.text
    assert "Статистика" not in parent.text
    admin = DialogClient(dialogs, user_id="7")
    await admin.send("/stats")
    assert "Статистика" in admin.text
    assert "Родители: 1 " in admin.text and "Дети: 1" in admin.text
    assert admin.has_button("В меню")
