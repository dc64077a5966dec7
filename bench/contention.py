"""Benchmark 6: contention — 1 000 concurrent enroll/cancel operations on 10 certificates."""
from __future__ import annotations

import asyncio
import random
import time

from sqlalchemy import func, select

from bench import data, people
from bench.common import Result, migrated
from core.certificates import balance
from core.clock import FixedClock
from core.enrollment import cancel, enroll
from core.errors import DomainError
from core.models import Certificate, Child, Enrollment, EnrollmentStatus, Parent, Program

CERTIFICATES = 10


async def run(backend: str, url: str, clock: FixedClock, operations: int, log: callable = print) -> list[Result]:
    db = await migrated(url)
    try:
        await data.load_catalog(db, clock, 300)
        users = await people.add_parents(db, clock, CERTIFICATES, first_user=30_000_000)
        async with db.read() as session:
            kids = list((await session.execute(
                select(Child).join(Parent, Parent.id == Child.parent_id)
                .where(Parent.external_id.in_([str(u) for u in users])))).scalars())
            choices = {}
            for kid in kids:
                age = clock.today().year - kid.birth_date.year - 1
                choices[kid.id] = list((await session.execute(select(Program.id).where(
                    Program.municipality_id == kid.municipality_id, Program.age_min <= age,
                    Program.age_max >= age + 1, Program.end_date > clock.today(),
                    ).limit(40))).scalars())
        rng = random.Random(data.SEED + 6)
        plan = []
        for i in range(operations):
            kid = kids[i % len(kids)]
            plan.append(("cancel" if rng.random() < 0.4 else "enroll", kid, rng.choice(choices[kid.id] or [0])))
        outcome = {"done": 0, "refused": 0, "error": 0}

        async def operate(kind: str, kid, program_id: int) -> None:
            try:
                async with db.write() as session:
                    parent = await session.get(Parent, kid.parent_id)
                    if kind == "enroll":
                        await enroll(session, parent, kid.id, program_id, clock)
                    else:
                        latest = (await session.execute(select(Enrollment.id).where(
                            Enrollment.child_id == kid.id, Enrollment.status == EnrollmentStatus.ACTIVE)
                            .order_by(Enrollment.id.desc()).limit(1))).scalar()
                        if latest is None:
                            raise DomainError("nothing_to_cancel")
                        await cancel(session, parent, latest, clock)
                outcome["done"] += 1
            except DomainError:
                outcome["refused"] += 1
            except Exception as exc:  # noqa: BLE001 - counted: a lost race the caller would retry
                outcome["error"] += 1
                if outcome["error"] <= 3:
                    log(f"  [{backend}] operation failed: {type(exc).__name__}: {str(exc)[:120]}")

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(operate(*p) for p in plan)), timeout=300)
        seconds = time.perf_counter() - started
        overdrawn = 0
        async with db.read() as session:
            certificates = (await session.execute(select(Certificate))).scalars().all()
            for certificate in certificates:
                b = await balance(session, certificate, clock.today().year)
                if b.available < 0 or b.available + b.reserved + b.spent + b.expired != b.credited:
                    overdrawn += 1
            active = (await session.execute(select(func.count()).select_from(Enrollment).where(
                Enrollment.status == EnrollmentStatus.ACTIVE))).scalar_one()
        log(f"  [{backend}] {outcome} in {seconds:.2f}s; {len(certificates)} certificates, "
            f"{active} active enrollments")
        return [
            Result("contention: operations/s", round(operations / seconds, 1), "ops/s", backend),
            Result("contention: certificates overdrawn or unbalanced", overdrawn, "count", backend, "= 0",
                   overdrawn == 0),
            Result("contention: operations failed (not refused)", outcome["error"], "count", backend),
        ]
    finally:
        await db.dispose()
