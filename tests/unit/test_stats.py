"""SPEC §2 `stats`: the operator's counts (parents, children, certificates by status,
enrollments, subscriptions, alerts pending/sent/failed), never personal data."""
from __future__ import annotations

import datetime as dt

from bot import stats as bot_stats
from bot.config import Settings
from core import outbox
from core.clock import FixedClock
from core.models import CertificateStatus, Parent
from core.stats import collect
from tests.unit.test_jobs import funded_child
from tests.unit.test_outbox import a_parent, fan_out, publish, subscribe


async def test_collect_counts_each_thing_once(db):
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    parent, result = await funded_child(db, clock)
    blocked = await a_parent(db, clock, "5")
    await subscribe(db, clock, blocked)
    await subscribe(db, clock, await a_parent(db, clock, "6"))
    clock.advance(minutes=1)
    await publish(db, clock)
    await fan_out(db, clock)
    async with db.write() as session:
        (await session.get(Parent, blocked.id)).unreachable_at = clock.now()
        rows = (await session.execute(outbox.Outbox.__table__.select())).all()
        await outbox.mark_failed(session, outbox.Unit(blocked.id, "telegram", "5", outbox.PROGRAM,
                                                      tuple(r.id for r in rows if r.parent_id == blocked.id)),
                                 "blocked", clock)
    async with db.read() as session:
        stats = await collect(session)
    assert (stats.parents, stats.consented, stats.unreachable, stats.children) == (3, 3, 1, 1)
    assert stats.certificates[CertificateStatus.FUNDED] == 1 and stats.certificates_total == 1
    assert (stats.enrollments_active, stats.enrollments_cancelled, stats.subscriptions) == (1, 0, 2)
    assert stats.alerts == {outbox.PENDING: 1, outbox.SENT: 0, outbox.FAILED: 1, outbox.DROPPED: 0}
    async with db.read() as session:
        screen = await bot_stats.stats_screen(session)
    assert "недоступны: 1" in screen.text and "не доставлены 1" in screen.text and "с номиналом: 1" in screen.text
    assert "Иванов" not in screen.text


async def test_print_stats_reports_an_empty_database(tmp_path, capsys):
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/s.sqlite3")
    assert await bot_stats.print_stats(settings) == 0
    out = capsys.readouterr().out
    assert "parents: 0" in out and "alerts: pending 0, sent 0, failed 0" in out
