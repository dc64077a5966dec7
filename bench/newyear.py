"""Benchmark 7: 1 January — the year rollover of 100 000 funded certificates (10 % with an
enrollment continuing into the new year) while 50 parents keep chatting through
`Dialogs.handle`. Measured: the rollover's wall time, the longest pause of the event loop
during it (a ticker every 10 ms records the largest gap between its ticks), and the parents'
reply times (p99) and failures."""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from typing import Any

from sqlalchemy import insert, select

from bench import data, people
from bench.common import Result, as_autovacuum_would, migrated, percentile
from bot.config import Settings
from bot.dialogs import texts
from bot.dialogs.engine import Dialogs
from bot.dialogs.screen import Input
from bot.runtime import keep_startup_objects_out_of_gc
from core import calendar_jobs
from core.clock import FixedClock
from core.models import (
    Certificate,
    CertificateStatus,
    Charge,
    Child,
    Enrollment,
    EnrollmentStatus,
    Funding,
    LedgerEntry,
    LedgerKind,
    Parent,
    Program,
    Unit,
)

CHATTERS = 50
TICK = 0.010
PAUSE_MS, P99_MS = 100.0, 250.0
THINK_SECONDS = (1.0, 3.0)     # a parent's pause between a reply and their next tap (as bench/endtoend.py)
QUIET_SECONDS = 5.0            # the parents chat this long before the job starts: the baseline
CONTINUING = 10                # every 10th certificate has an enrollment into the new year
NOMINAL = 12_000_00
CHUNK = 5000
MESSAGES = ["/balance", "/enrollments", "/start", "/find робот", "/help", "/children"]


async def fund(db: Any, clock: FixedClock, users: list[int]) -> int:
    """Each of these parents' children gets a funded certificate credited with this year's
    nominal; every CONTINUING-th is enrolled in a certificate program of its town that goes on
    into next year, November and December reserved. Straight to the tables, in chunks."""
    now, year = clock.now(), clock.today().year
    async with db.read() as session:
        continuing = {}
        for town, program_id, price in (await session.execute(
                select(Program.municipality_id, Program.id, Program.price_per_month)
                .where(Program.funding == Funding.CERTIFICATE, Program.price_per_month.is_not(None),
                       Program.end_date >= dt.date(year + 1, 1, 1), Program.start_date <= dt.date(year, 11, 1))
                .order_by(Program.id))).all():
            continuing.setdefault(town, (program_id, price))
    enrolled = 0
    for start in range(0, len(users), CHUNK):
        block = [str(u) for u in users[start:start + CHUNK]]
        async with db.write() as session:
            # Whole rows: the birth date is stored encrypted and read through the model.
            kids = (await session.execute(
                select(Child).join(Parent, Parent.id == Child.parent_id)
                .where(Parent.platform == "telegram", Parent.external_id.in_(block)).order_by(Child.id))).scalars().all()
            await session.execute(insert(Certificate), [{
                "child_id": kid.id, "number": f"{7_000_000_000 + kid.id}", "status": CertificateStatus.FUNDED,
                "unit": Unit.RUB, "issued_at": now,
                "valid_until": kid.birth_date.replace(year=kid.birth_date.year + 18) - dt.timedelta(days=1)}
                for kid in kids])
            certificates = dict((await session.execute(select(Certificate.child_id, Certificate.id).where(
                Certificate.child_id.in_([kid.id for kid in kids])))).all())
            ledger = [{"certificate_id": certificates[kid.id], "kind": LedgerKind.CREDIT, "amount": NOMINAL,
                       "unit": Unit.RUB, "year": year, "created_at": now} for kid in kids]
            goers = [kid for kid in kids if kid.id % CONTINUING == 0 and kid.municipality_id in continuing]
            if goers:
                await session.execute(insert(Enrollment), [{
                    "child_id": kid.id, "program_id": continuing[kid.municipality_id][0],
                    "status": EnrollmentStatus.ACTIVE, "enrolled_at": now} for kid in goers])
                enrollment_ids = dict((await session.execute(select(Enrollment.child_id, Enrollment.id).where(
                    Enrollment.child_id.in_([kid.id for kid in goers])))).all())
                charges = []
                for kid in goers:
                    price = continuing[kid.municipality_id][1]
                    for month in (11, 12):
                        ledger.append({"certificate_id": certificates[kid.id], "kind": LedgerKind.RESERVE,
                                       "amount": price, "unit": Unit.RUB, "year": year, "month": month,
                                       "enrollment_id": enrollment_ids[kid.id], "created_at": now})
                    charges.append({"enrollment_id": enrollment_ids[kid.id], "year": year, "unit": Unit.RUB,
                                    "months": 2, "cost": 2 * price, "covered": 2 * price, "copay": 0,
                                    "created_at": now})
                await session.execute(insert(Charge), charges)
                enrolled += len(goers)
            await session.execute(insert(LedgerEntry), ledger)
    return enrolled


async def run(backend: str, url: str, clock: FixedClock, certificates: int, log: callable = print) -> list[Result]:
    clock = FixedClock(clock.now())      # this benchmark moves its own clock to 1 January
    db = await migrated(url)
    try:
        await data.load_catalog(db, clock, 300)
        users = await people.add_parents(db, clock, certificates, first_user=60_000_000)
        continuing = await fund(db, clock, users)
        if db.engine.dialect.name == "postgresql":
            await as_autovacuum_would(db, "certificates", "ledger_entries", "enrollments", "charges",
                                      "children", "parents")
        year = clock.today().year + 1
        clock.set(dt.datetime(year, 1, 1, 0, 10))
        dialogs = Dialogs(db, clock, Settings(_env_file=None, database_url=url))
        chatters = users[:min(CHATTERS, len(users))]
        rng = random.Random(data.SEED + 7)
        latencies: list[float] = []
        failed = 0
        longest_gap = 0.0
        done, job_started = asyncio.Event(), asyncio.Event()

        gaps: list[float] = []

        async def ticker() -> None:
            nonlocal longest_gap
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(TICK)
                now = time.perf_counter()
                longest_gap = max(longest_gap, now - last)
                gaps.append(now - last)
                last = now

        quiet: list[float] = []

        async def chat(user: int) -> None:
            nonlocal failed
            await asyncio.sleep(rng.uniform(0, THINK_SECONDS[1]))
            while not done.is_set():
                during = job_started.is_set()     # a message sent during the job counts for it
                started = time.perf_counter()
                try:
                    reply = await dialogs.handle("telegram", str(user), Input.from_text(rng.choice(MESSAGES)))
                    if during and any(texts.GENERIC_ERROR in screen.text for screen in reply.screens):
                        failed += 1
                except Exception:  # noqa: BLE001 - counted: the parent got no answer
                    failed += during
                (latencies if during else quiet).append(time.perf_counter() - started)
                await asyncio.sleep(rng.uniform(*THINK_SECONDS))

        # As `python -m bot run` does once started (bot/runtime.py): what is alive now lives as
        # long as the process, and without this each full collection walks it all, a pause of
        # the loop that is the garbage collector's, not the job's.
        keep_startup_objects_out_of_gc()
        background = [asyncio.create_task(ticker())] + [asyncio.create_task(chat(u)) for u in chatters]
        await asyncio.sleep(QUIET_SECONDS)    # the parents are talking when the job starts
        quiet_p99_ms, quiet_gap_ms = percentile(quiet, 99) * 1000, longest_gap * 1000
        gaps.clear()
        longest_gap = 0.0
        job_started.set()
        started = time.perf_counter()
        try:
            report = await calendar_jobs.year_rollover(db, year, clock)
        finally:
            seconds = time.perf_counter() - started
            pause_ms, job_gaps = longest_gap * 1000, list(gaps)
            done.set()
            await asyncio.gather(*background, return_exceptions=True)
        p99_ms = percentile(latencies, 99) * 1000
        log(f"  [{backend}] {report.summary()}; {seconds:.1f}s "
            f"({report.certificates / seconds:.0f} certificates/s, {continuing} continuing)")
        log(f"  [{backend}] before the job: reply p99 {quiet_p99_ms:.0f} ms, longest event-loop gap "
            f"{quiet_gap_ms:.0f} ms")
        log(f"  [{backend}] during it: longest event-loop gap {pause_ms:.0f} ms (p99 "
            f"{percentile(job_gaps, 99) * 1000:.0f} ms, {sum(g > PAUSE_MS / 1000 for g in job_gaps)} over "
            f"{PAUSE_MS:g} ms); {len(latencies)} replies, "
            f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {p99_ms:.0f} ms, {failed} failed")
        return [
            Result("new year: rollover time", round(seconds, 1), "s", backend),
            Result("new year: certificates rolled", report.certificates, "count", backend, f"= {certificates}",
                   report.certificates == certificates),
            Result("new year: longest event-loop pause", round(pause_ms, 1), "ms", backend,
                   f"<= {PAUSE_MS:g}", pause_ms <= PAUSE_MS),
            Result("new year: reply p99 while rolling over", round(p99_ms, 1), "ms", backend,
                   f"<= {P99_MS:g}", p99_ms <= P99_MS),
            Result("new year: replies failed", failed, f"of {len(latencies)}", backend, "= 0", failed == 0),
            Result("new year: reply p99 before the job (baseline)", round(quiet_p99_ms, 1), "ms", backend),
        ]
    finally:
        await db.dispose()
