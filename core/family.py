"""One family across messengers (/link, /unlink).

Each messenger account keeps its own `parents` row and its own consent. Linked accounts
share one set of data: the family's children and subscriptions hang off one account of
the family, its *owner* (`Parent.owner_id`: the owner's id, which the other accounts hold
in `family_id`); certificates, enrollments and waiting places follow the children. The
owner's `alerts_to_id` names the account that gets the family's alerts (NULL: the owner):
each alert is queued once per family, to that account (core/outbox.py).

Linking: an account shows a one-time code (six digits, ten minutes, one live code per
account, stored as a keyed hash); another account types it. The typing account and all
the accounts already linked to it join the code's family, bringing their children and
subscriptions. Wrong and expired codes are counted per typing account: the fifth pauses
its linking for an hour. An account that unlinks leaves with nothing: the children, their
certificates, enrollments and subscriptions stay with the family's other accounts.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox, pd
from core.clock import Clock
from core.errors import DomainError
from core.models import Child, LinkState, Parent, Subscription
from core.subscriptions import MAX_SUBSCRIPTIONS

CODE_DIGITS = 6
CODE_LIFETIME = dt.timedelta(minutes=10)
MAX_WRONG_CODES = 5
PAUSE = dt.timedelta(hours=1)
_HASH_PURPOSE = "link-code"
_CODE = re.compile(r"^\d{6}$")
# A new code colliding with another account's live one is drawn again, this many times at most.
_DRAWS = 8

# The outcomes of typing a code (`join`); only JOINED changed the family.
JOINED = "joined"
FORMAT = "format"                   # not six digits: not counted as a try
WRONG = "wrong"                     # no such code: counted
EXPIRED = "expired"                 # the code ran out: counted
PAUSED = "paused"                   # five wrong codes in a row: linking waits
OWN = "own"                         # the account's own code
SAME_FAMILY = "same_family"         # the code of an account already linked to this one
TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"


@dataclass(frozen=True)
class JoinResult:
    outcome: str
    other: Parent | None = None          # the account whose code it was (JOINED)
    paused_until: dt.datetime | None = None
    tries_left: int | None = None        # WRONG / EXPIRED: before linking pauses


def code_hash(code: str) -> str:
    return pd.keyed_hash(_HASH_PURPOSE, code)


def normalize_code(text: str) -> str:
    """The digits typed, spaces and dashes dropped ("123 456" is 123456)."""
    return "".join(ch for ch in (text or "") if ch not in " -\u00a0")


async def _state(session: AsyncSession, parent: Parent) -> LinkState:
    state = await session.get(LinkState, parent.id)
    if state is None:
        state = LinkState(parent_id=parent.id, failures=0)
        session.add(state)
        await session.flush()
    return state


async def members(session: AsyncSession, parent: Parent) -> list[Parent]:
    """The family's accounts (this one too), the owner first, then by id."""
    owner = parent.owner_id
    found = (await session.execute(
        select(Parent).where(or_(Parent.id == owner, Parent.family_id == owner), Parent.forgotten_at.is_(None))
        .order_by((Parent.id != owner), Parent.id))).scalars().all()
    return list(found) or [parent]


async def is_linked(session: AsyncSession, parent: Parent) -> bool:
    return len(await members(session, parent)) > 1


async def alerts_account(session: AsyncSession, parent: Parent) -> Parent:
    """The family's account that gets the alerts."""
    owner = await session.get(Parent, parent.owner_id)
    assert owner is not None
    if owner.alerts_to_id is not None:
        chosen = await session.get(Parent, owner.alerts_to_id)
        if chosen is not None and chosen.forgotten_at is None:
            return chosen
    return owner


async def recipients(session: AsyncSession, owner_ids: set[int]) -> dict[int, int]:
    """For each family owner's id, the id of the account that gets the family's alerts now
    (an alert queued for any other account is not sent: bot/jobs/screens.py)."""
    found: dict[int, int] = {}
    ordered = sorted(owner_ids)
    for start in range(0, len(ordered), 1000):
        found.update((owner, chosen) for owner, chosen in (await session.execute(
            select(Parent.id, func.coalesce(Parent.alerts_to_id, Parent.id))
            .where(Parent.id.in_(ordered[start:start + 1000])))).all())
    return found


async def alerts_elsewhere(session: AsyncSession, parent: Parent) -> Parent | None:
    """`parent`'s account can no longer be written to: if it gets the family's alerts, they go
    to the first reachable account of the family from now on (those waiting too). Returns
    that account, None when nothing moved (not the alerts' account, or none reachable)."""
    if (await alerts_account(session, parent)).id != parent.id:
        return None
    for member in await members(session, parent):
        if member.id != parent.id and member.unreachable_at is None:
            await send_alerts_here(session, member)
            return member
    return None


async def send_alerts_here(session: AsyncSession, parent: Parent) -> None:
    """The family's alerts go to `parent`'s account from now on (those waiting too)."""
    before = await alerts_account(session, parent)
    owner = await session.get(Parent, parent.owner_id)
    assert owner is not None
    owner.alerts_to_id = None if owner.id == parent.id else parent.id
    await session.flush()
    await outbox.redirect_pending(session, [before.id], parent)


async def issue_code(session: AsyncSession, parent: Parent, clock: Clock) -> tuple[str, dt.datetime]:
    """A new one-time code for `parent` (its previous one stops working) and until when it works."""
    now = clock.now()
    state = await _state(session, parent)
    for _ in range(_DRAWS):
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        hashed = code_hash(code)
        taken = (await session.execute(
            select(func.count()).select_from(LinkState)
            .where(LinkState.code_hash == hashed, LinkState.expires_at > now,
                   LinkState.parent_id != parent.id))).scalar_one()
        if not taken:
            break
    else:  # pragma: no cover - eight collisions in a million codes
        raise DomainError("link_busy")
    state.code_hash = hashed
    state.expires_at = now + CODE_LIFETIME
    await session.flush()
    return code, state.expires_at


async def paused_until(session: AsyncSession, parent: Parent, clock: Clock) -> dt.datetime | None:
    state = await session.get(LinkState, parent.id)
    if state is not None and state.paused_until is not None and state.paused_until > clock.now():
        return state.paused_until
    return None


async def _counted(state: LinkState, outcome: str, clock: Clock) -> JoinResult:
    state.failures = (state.failures or 0) + 1
    if state.failures >= MAX_WRONG_CODES:
        state.failures = 0
        state.paused_until = clock.now() + PAUSE
        return JoinResult(PAUSED, paused_until=state.paused_until)
    return JoinResult(outcome, tries_left=MAX_WRONG_CODES - state.failures)


async def join(session: AsyncSession, parent: Parent, typed: str, clock: Clock) -> JoinResult:
    """`parent` types a code: on a live code of another family, `parent`'s family joins that one.

    Every refusal changes nothing but the count of wrong tries (which the caller commits)."""
    now = clock.now()
    state = await _state(session, parent)
    if state.paused_until is not None and state.paused_until > now:
        return JoinResult(PAUSED, paused_until=state.paused_until)
    code = normalize_code(typed)
    if not _CODE.match(code):
        return JoinResult(FORMAT)
    found = (await session.execute(
        select(LinkState).where(LinkState.code_hash == code_hash(code))
        .order_by(LinkState.expires_at.desc()).limit(1))).scalar_one_or_none()
    other = None if found is None else await session.get(Parent, found.parent_id)
    if found is None or other is None or other.forgotten_at is not None or other.consent_at is None:
        return await _counted(state, WRONG, clock)
    if other.id == parent.id:
        return JoinResult(OWN)
    if found.expires_at is None or found.expires_at <= now:
        return await _counted(state, EXPIRED, clock)
    if other.owner_id == parent.owner_id:
        return JoinResult(SAME_FAMILY)
    target, source = other.owner_id, parent.owner_id
    subscriptions = (await session.execute(
        select(func.count()).select_from(Subscription)
        .where(Subscription.parent_id.in_([target, source])))).scalar_one()
    if subscriptions > MAX_SUBSCRIPTIONS:
        return JoinResult(TOO_MANY_SUBSCRIPTIONS)
    recipient = await alerts_account(session, other)
    await _move_data(session, source, target)
    joining = list((await session.execute(
        select(Parent).where(or_(Parent.id == source, Parent.family_id == source)))).scalars())
    for account in joining:
        account.family_id = target
        account.alerts_to_id = None
    await session.flush()
    # What waits to be sent about the joining accounts' children goes where the family's alerts go.
    await outbox.redirect_pending(session, [account.id for account in joining], recipient)
    found.code_hash = None
    found.expires_at = None
    state.failures = 0
    state.paused_until = None
    await session.flush()
    return JoinResult(JOINED, other=other)


async def _move_data(session: AsyncSession, source: int, target: int) -> None:
    """The children (with their certificates, enrollments, waiting places) and subscriptions
    of the account `source` become the account `target`'s."""
    await session.execute(update(Child).where(Child.parent_id == source).values(parent_id=target)
                          .execution_options(synchronize_session="fetch"))
    await session.execute(update(Subscription).where(Subscription.parent_id == source).values(parent_id=target)
                          .execution_options(synchronize_session="fetch"))


async def leave(session: AsyncSession, parent: Parent) -> None:
    """`parent`'s account leaves its family with nothing: the family's children and
    subscriptions stay with the other accounts (the owner's role passes on if needed)."""
    family = await members(session, parent)
    others = [account for account in family if account.id != parent.id]
    if not others:
        raise DomainError("link_not_linked")
    owner = family[0]
    if owner.id == parent.id:
        heir = others[0]
        await _move_data(session, parent.id, heir.id)
        chosen = parent.alerts_to_id
        heir.family_id = None
        heir.alerts_to_id = None if chosen in (None, parent.id, heir.id) else chosen
        for account in others[1:]:
            account.family_id = heir.id
    elif owner.alerts_to_id == parent.id:
        owner.alerts_to_id = None
    parent.family_id = None
    parent.alerts_to_id = None
    await session.flush()
    # The leaving account keeps nothing: what waits to be sent to it about the family's
    # children goes to the account that gets the family's alerts now.
    await outbox.redirect_pending(session, [parent.id], await alerts_account(session, others[0]))


async def forget_links(session: AsyncSession, parent: Parent) -> None:
    """Before /forget erases an account: it leaves its family (the family's data stays with
    the other accounts) and its linking code is gone."""
    if await is_linked(session, parent):
        await leave(session, parent)
    state = await session.get(LinkState, parent.id)
    if state is not None:
        await session.delete(state)
        await session.flush()
