"""Getting a settled month for the rating journeys (Telegram, VK, the terminal).

The bot process runs on the real clock, and a parent enrolls today: the first month is not
over yet, so rating is not open (the journeys check the bot says when it opens). To go on,
the enrollment is moved back as if made two months ago (its earliest reservation with it),
and the real `python -m bot jobs run settle-month --at <the 1st of last month>` settles that
month, as the scheduler would have. Two months, not one: the bot settled last month at
start-up already (its catch-up), and a settled period is never run again.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.dialogs import format as fmt


def first_of_next_month(today: dt.date | None = None) -> str:
    """The day rating opens for an enrollment made today (when this month is taught)."""
    today = today or dt.date.today()
    following = dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return fmt.date(following)


def _months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def as_if_enrolled_two_months_ago(database: Path) -> None:
    """The one enrollment made two months ago, its first reservation in that month."""
    today = dt.date.today()
    back = _months_back(today, 2)
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT id, enrolled_at FROM enrollments").fetchall()
        assert len(rows) == 1, rows
        enrollment_id, enrolled_at = rows[0]
        conn.execute("UPDATE enrollments SET enrolled_at = ? WHERE id = ?",
                     (back.replace(day=10).isoformat() + str(enrolled_at)[10:], enrollment_id))
        first = conn.execute(
            "SELECT id FROM ledger_entries WHERE enrollment_id = ? AND kind = 'reserve' "
            "ORDER BY year, month LIMIT 1", (enrollment_id,)).fetchone()
        if first is None:
            pytest.skip("the program is not taught this month or the next ones (summer): nothing reserved")
        conn.execute("UPDATE ledger_entries SET year = ?, month = ? WHERE id = ?", (back.year, back.month, first[0]))


def settle_the_month_before_last(workdir: Path, env: dict[str, str]) -> str:
    """`jobs run settle-month --at` the 1st of last month: the month before it is settled."""
    at = _months_back(dt.date.today(), 1)
    done = subprocess.run([sys.executable, "-m", "bot", "jobs", "run", "settle-month", "--at", at.isoformat()],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "settle-month" in done.stdout, done.stdout + done.stderr
    return done.stdout


def settled_months(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM ledger_entries WHERE kind = 'settle'").fetchone()[0]


def reviews(database: Path) -> list[tuple[int, str | None]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT rating, comment_enc FROM reviews ORDER BY id").fetchall()
