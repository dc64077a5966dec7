"""The Screen of one outbox message (a digest, a notice, a reminder), built just
before it is sent from the rows it settles. None means "nothing left to say" (the
program or the money is gone): the rows are dropped, not sent.

`build_many` builds the screens of a batch of messages in one read unit of work:
the digests of all of them take four queries (the programs still there, the
shown programs, the subscriptions, the units of their towns' nominals), not three or
four per message."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import raiseload
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogs import format as fmt
from bot.dialogs.children import first_name
from bot.dialogs.find import result_line
from bot.dialogs.screen import Button, Screen
from bot.dialogs import texts
from bot.dialogs import year_end as year_end_words
from core import family, outbox
from core.certificates import nominal_units
from core.models import (
    Certificate,
    CertificateStatus,
    Charge,
    Child,
    Enrollment,
    Parent,
    Program,
    Subscription,
    WaitlistEntry,
    Unit,
    WaitlistStatus,
)

DIGEST_MAX = 10          # programs listed in one digest; the rest are "и ещё N"
UNSUBSCRIBE_MAX = 3      # unsubscribe buttons (one per matching subscription)
NUMBERS_PER_ROW = 5
REFS_LOOKED_AT = 5000    # a digest's programs are looked up among its first 5000 rows
ROWS_MAX = 10            # VK: at most 10 keyboard rows


def digest(programs: list[Program], total: int, subscriptions: list[Subscription],
           units: dict[int, Unit] | None = None) -> Screen:
    """One message for `total` new programs: the first DIGEST_MAX listed with a numbered
    button opening each card (each line naming the program's town, as in /find), then
    "и ещё N", and «Отписаться» per subscription. A price is
    shown in the unit of the program's municipality's nominal (`units`, by municipality id)."""
    units = units or {}
    shown = programs[:DIGEST_MAX]
    total = max(total, len(shown))
    head = texts.DIGEST_ONE if total == 1 else texts.DIGEST_MANY.format(count=total)
    lines = [head]
    # The same line as a search result: the program's town is named, since a subscription
    # may cover several towns and a certificate is spent in any of the region's.
    lines.extend(result_line(n, program, units.get(program.municipality_id), childs=False, full=False)
                 for n, program in enumerate(shown, 1))
    if total > len(shown):
        lines.append(texts.DIGEST_MORE.format(more=total - len(shown)))
    lines.append(texts.DIGEST_HINT)
    numbers = [Button(str(n), f"card:{program.id}") for n, program in enumerate(shown, 1)]
    rows = [tuple(numbers[i:i + NUMBERS_PER_ROW]) for i in range(0, len(numbers), NUMBERS_PER_ROW)]
    subs = subscriptions[:UNSUBSCRIBE_MAX]
    for sub in subs:
        label = texts.BTN_UNSUBSCRIBE if len(subs) == 1 else texts.BTN_UNSUBSCRIBE_N.format(
            municipality=fmt.short(sub.municipality.name, 24))
        rows.append((Button(label, f"unsub:{sub.id}"),))
    return Screen(text="\n\n".join(lines), rows=tuple(rows))


async def build(session: AsyncSession, unit: outbox.Unit, today: dt.date,
                tz: dt.tzinfo = dt.timezone.utc, now: dt.datetime | None = None) -> Screen | None:
    return (await build_many(session, [unit], today, tz, now))[0]


async def build_many(session: AsyncSession, units: list[outbox.Unit], today: dt.date,
                     tz: dt.tzinfo = dt.timezone.utc, now: dt.datetime | None = None) -> list[Screen | None]:
    """The screen of each unit (None: nothing left to say), in the order given; times
    shown on the calendar of `tz` (the bot's TIMEZONE). `now` (default: noon of `today`)
    tells which held seats still count as taken for the year-end reminder's programs."""
    digests = await _digests(session, {n: unit for n, unit in enumerate(units)
                                       if unit.kind == outbox.PROGRAM and unit.row_ids}, today.year)
    return [digests.get(n) if unit.kind == outbox.PROGRAM else await _notice(session, unit, today, tz, now)
            for n, unit in enumerate(units)]


def _pieces(ids: set[int]) -> list[list[int]]:
    """Ids in pieces small enough for any driver's limit on bound parameters."""
    ordered = sorted(ids)
    return [ordered[i:i + REFS_LOOKED_AT] for i in range(0, len(ordered), REFS_LOOKED_AT)]


async def _digests(session: AsyncSession, units: dict[int, outbox.Unit], year: int) -> dict[int, Screen]:
    """The digests of `units`, under the same keys (absent: nothing left to say)."""
    if not units:
        return {}
    # Programs deleted since the fan-out are skipped; the count is of those still there
    # (a parent owed more than REFS_LOOKED_AT programs gets the count of the rows).
    present: set[int] = set()
    for ids in _pieces({ref for unit in units.values() for ref in unit.refs[:REFS_LOOKED_AT]}):
        present.update((await session.execute(select(Program.id).where(Program.id.in_(ids)))).scalars())
    shown = {key: [ref for ref in unit.refs[:REFS_LOOKED_AT] if ref in present][:DIGEST_MAX]
             for key, unit in units.items()}
    programs: dict[int, Program] = {}
    for ids in _pieces({ref for refs in shown.values() for ref in refs}):
        programs.update((p.id, p) for p in (await session.execute(
            select(Program).where(Program.id.in_(ids)))).scalars())
    subscriptions: dict[int, Subscription] = {}
    # With each subscription, the account its family gets alerts at (core/family.py): a digest
    # lists a subscription's programs only to that account.
    alerts_to: dict[int, int] = {}
    for ids in _pieces({sub for unit in units.values() for sub in unit.subscription_ids}):
        for subscription, chosen in (await session.execute(
                select(Subscription, func.coalesce(Parent.alerts_to_id, Parent.id))
                .join(Parent, Parent.id == Subscription.parent_id)
                .options(raiseload(Subscription.categories))  # not shown: not loaded
                .where(Subscription.id.in_(ids)))).all():
            subscriptions[subscription.id] = subscription
            alerts_to[subscription.id] = chosen
    price_units = await nominal_units(session, {p.municipality_id for p in programs.values()}, year)
    screens: dict[int, Screen] = {}
    for key, unit in units.items():
        listed = [programs[ref] for ref in shown[key] if ref in programs]
        subs = [subscriptions[s] for s in unit.subscription_ids  # ascending ids
                if s in subscriptions and alerts_to[s] == unit.parent_id]
        if not listed or not subs:
            continue
        total = len(unit.refs) if len(unit.refs) > REFS_LOOKED_AT else \
            sum(1 for ref in unit.refs if ref in present)
        screens[key] = digest(listed, total, subs, price_units)
    return screens


async def _notice(session: AsyncSession, unit: outbox.Unit, today: dt.date, tz: dt.tzinfo,
                  now: dt.datetime | None = None) -> Screen | None:
    """A seat held on a waiting list, a co-payment notice or a year-end reminder (one row each)."""
    if not unit.row_ids:
        return None
    ref = unit.refs[0]
    if unit.kind == outbox.WAITLIST:
        # Once the hold is answered or has run out (the entry is no longer OFFERED), nothing to say.
        entry = await session.get(WaitlistEntry, ref)
        if entry is None or entry.status is not WaitlistStatus.OFFERED or entry.child.forgotten_at \
                or entry.hold_until is None or not await _told_here(session, entry.child, unit):
            return None
        return Screen(
            text=texts.WAITLIST_OFFER.format(title=fmt.quoted(entry.program.title), name=first_name(entry.child),
                                             until=fmt.moment(entry.hold_until, tz)),
            rows=((Button(texts.BTN_ENROLL_HELD, f"enr:pick:{entry.program_id}:{entry.child_id}"),
                   Button(texts.BTN_DECLINE_HELD, f"wl:no:{entry.id}")),
                  (Button(texts.BTN_OPEN_PROGRAM, f"card:{entry.program_id}"),)))
    if unit.kind == outbox.COPAY:
        charge = await session.get(Charge, ref)
        if charge is None or charge.copay <= 0:
            return None
        enrollment = await session.get(Enrollment, charge.enrollment_id)
        if enrollment is None or enrollment.child.forgotten_at or not await _told_here(session, enrollment.child, unit):
            return None
        return Screen(
            text=texts.COPAY_NOTICE.format(
                name=first_name(enrollment.child), title=fmt.quoted(enrollment.program.title), year=charge.year,
                cost=fmt.amount(charge.cost, charge.unit), covered=fmt.amount(charge.covered, charge.unit))
            + texts.COPAY_NOTICE_SHORTFALL[charge.unit].format(copay=fmt.amount(charge.copay, charge.unit)),
            rows=((Button(texts.BTN_MY_ENROLLMENTS, "cmd:enrollments"),),))
    if unit.kind == outbox.YEAR_END:
        year = int(ref) // 10000
        account = await session.get(Parent, unit.parent_id)
        if today.year != year or account is None or \
                (await family.recipients(session, {account.owner_id})).get(account.owner_id) != account.id:
            return None
        return await _year_end(session, unit.parent_id, _Moment(now or _noon(today, tz), tz))
    return None


async def _told_here(session: AsyncSession, child: Child, unit: outbox.Unit) -> bool:
    """Whether the unit's account is the one the child's family gets its notices at now: an
    account unlinked from the family (/unlink) or no longer chosen is never told about the
    family's children."""
    return (await family.recipients(session, {child.parent_id})).get(child.parent_id) == unit.parent_id


class _Moment:
    """The delivery's moment as the Clock the core's year-end queries take."""

    def __init__(self, now: dt.datetime, tz: dt.tzinfo) -> None:
        self.tz = tz
        self._now = now

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.astimezone(self.tz).date()


def _noon(today: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(today, dt.time(12, 0), tzinfo=tz)


async def _year_end(session: AsyncSession, parent_id: int, clock: _Moment) -> Screen | None:
    """What expires on 31 December on each of the parent's funded certificates, with the
    programs that can still take it (the same words and programs as /balance shows)."""
    # The reminder went to the family's chosen account; the children are its owner's.
    owner = select(func.coalesce(Parent.family_id, Parent.id)).where(Parent.id == parent_id).scalar_subquery()
    certificates = (await session.execute(
        select(Certificate).join(Child, Child.id == Certificate.child_id)
        .where(Child.parent_id == owner, Child.forgotten_at.is_(None),
               Certificate.status == CertificateStatus.FUNDED)
        .order_by(Certificate.id))).scalars().all()
    lines: list[str] = []
    suggested: list[Program] = []
    room = (ROWS_MAX - 1) * year_end_words.NUMBERS_PER_ROW
    for certificate in certificates:
        found = await year_end_words.december(session, certificate.child, certificate, clock)
        if found is None:
            continue
        lines.append(texts.YEAR_END_LINE.format(
            name=first_name(certificate.child), number=certificate.number,
            **year_end_words.expires_words(found.expiring)))
        shown = found.programs[:max(0, room - len(suggested))]
        if shown:
            lines.append(texts.EXPIRES_SUGGEST)
            lines.extend(year_end_words.suggestion_lines(shown, found.expiring.unit, len(suggested) + 1))
            suggested.extend(shown)
    if not lines:
        return None
    tail = [texts.YEAR_END_TAIL, texts.EXPIRES_HINT] if suggested else [texts.YEAR_END_TAIL]
    return Screen(text="\n".join([texts.YEAR_END_TITLE, *lines, "", *tail]),
                  rows=(*year_end_words.number_rows(suggested), (Button(texts.BTN_BALANCE, "cmd:balance"),)))
