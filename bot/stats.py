"""`python -m bot stats` and the admin-only chat command /stats (the same numbers)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.dialogs.screen import Screen
from bot.dialogs import texts
from core import outbox
from core.models import CertificateStatus
from core.stats import Stats, collect


def lines(stats: Stats) -> list[str]:
    """The operator's plain report (English, like the rest of the command line)."""
    cert = stats.certificates
    alerts = stats.alerts
    return [
        f"parents: {stats.parents} (consented {stats.consented}, unreachable {stats.unreachable}, "
        f"forgotten {stats.forgotten})",
        f"children: {stats.children}",
        f"certificates: {stats.certificates_total} (unconfirmed {cert.get(CertificateStatus.UNCONFIRMED, 0)}, "
        f"registered {cert.get(CertificateStatus.REGISTERED, 0)}, funded {cert.get(CertificateStatus.FUNDED, 0)})",
        f"enrollments: active {stats.enrollments_active}, cancelled {stats.enrollments_cancelled}",
        f"subscriptions: {stats.subscriptions}",
        f"alerts: pending {alerts.get(outbox.PENDING, 0)}, sent {alerts.get(outbox.SENT, 0)}, "
        f"failed {alerts.get(outbox.FAILED, 0)}, dropped {alerts.get(outbox.DROPPED, 0)}",
    ]


def render(stats: Stats) -> str:
    cert = stats.certificates
    alerts = stats.alerts
    return texts.STATS_TITLE + "\n\n" + texts.STATS_BODY.format(
        parents=stats.parents, consented=stats.consented, unreachable=stats.unreachable,
        children=stats.children, certificates=stats.certificates_total,
        unconfirmed=cert.get(CertificateStatus.UNCONFIRMED, 0),
        registered=cert.get(CertificateStatus.REGISTERED, 0), funded=cert.get(CertificateStatus.FUNDED, 0),
        active=stats.enrollments_active, cancelled=stats.enrollments_cancelled,
        subscriptions=stats.subscriptions, pending=alerts.get(outbox.PENDING, 0),
        sent=alerts.get(outbox.SENT, 0), failed=alerts.get(outbox.FAILED, 0),
        dropped=alerts.get(outbox.DROPPED, 0))


async def stats_screen(session: AsyncSession) -> Screen:
    """The /stats screen for operators (the dialogs engine checks settings.is_admin first)."""
    return Screen(text=render(await collect(session)))


def denied_screen() -> Screen:
    return Screen(text=texts.STATS_DENIED)


async def print_stats(settings: Settings) -> int:
    from bot.runtime import open_database

    db = await open_database(settings)
    try:
        async with db.read() as session:
            stats = await collect(session)
    finally:
        await db.dispose()
    print("\n".join(lines(stats)))
    return 0
