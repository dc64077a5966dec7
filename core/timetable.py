"""A child's week: the lessons of the programs the child attends (active
enrollments), and the lessons of a new program that clash with them.

A program whose schedule was not parsed has no lessons here: it cannot clash,
and the week lists it apart with its schedule text.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import schedule
from core.models import Enrollment, EnrollmentStatus, Program
from core.schedule import Lesson


@dataclass(frozen=True)
class Clash:
    new: Lesson            # a lesson of the program being considered
    attended: Lesson       # the lesson it overlaps
    program: Program       # the attended program


@dataclass(frozen=True)
class Week:
    days: dict[int, list[tuple[Lesson, Program]]]   # ISO weekday → lessons by start time
    unparsed: list[Program]                          # attended, schedule not understood
    programs: list[Program]                          # everything attended


async def attended_programs(session: AsyncSession, child_id: int) -> list[Program]:
    """The programs of the child's active enrollments, by title. The caller has checked
    the child belongs to the parent (core.children.get_child)."""
    stmt = (select(Program).join(Enrollment, Enrollment.program_id == Program.id)
            .where(Enrollment.child_id == child_id, Enrollment.status == EnrollmentStatus.ACTIVE)
            .order_by(Program.title, Program.id))
    return list((await session.execute(stmt)).scalars().unique())


async def week(session: AsyncSession, child_id: int) -> Week:
    programs = await attended_programs(session, child_id)
    days: dict[int, list[tuple[Lesson, Program]]] = {}
    unparsed = []
    for program in programs:
        lessons = schedule.loads(program.lessons)
        if not lessons and program.schedule:
            unparsed.append(program)
        for lesson in lessons:
            days.setdefault(lesson.weekday, []).append((lesson, program))
    for lessons in days.values():
        lessons.sort(key=lambda pair: (pair[0].start, pair[0].end, pair[1].title))
    return Week(dict(sorted(days.items())), unparsed, programs)


async def clashes(session: AsyncSession, child_id: int, program: Program) -> list[Clash]:
    """The new program's lessons that overlap those of a program the child attends
    (not itself: a program the child is already in is refused elsewhere)."""
    new = schedule.loads(program.lessons)
    if not new:
        return []
    found = []
    for attended in await attended_programs(session, child_id):
        if attended.id == program.id:
            continue
        found += [Clash(a, b, attended) for a, b in schedule.clashes(new, schedule.loads(attended.lessons))]
    return sorted(found, key=lambda clash: (clash.new, clash.attended, clash.program.title))
