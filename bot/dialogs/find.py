"""/find [words]: the catalog with filters, five results a page, and program cards.

Browsing needs no consent (nothing personal is involved): the search, its filters
and the cards work before /start's agreement; choosing one's child as the age filter
and the card's enroll button ask for consent first.

The filters live in state["find"], apart from the current step, so a parent
can open a card (or a digest's card) and come back to the same page.
"""
from __future__ import annotations

from typing import Any

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.enroll import months_runs, study_months_text
from bot.dialogs.review_card import reviews_section
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, chunked, command, int_arg, on_text, paged, rows, step
from core import catalog, certificates, municipalities, waitlist
from core import children as core_children
from core.errors import DomainError
from core.models import Category, Funding, Program, Unit
from core.costing import payable_months
from core.study_months import study_months

PAGE_SIZE = 5
MAX_WORDS = 100
AGE_CHOICES = range(5, 18)


def filters_of(ctx: Ctx) -> dict[str, Any]:
    found = ctx.state.get("find")
    if not isinstance(found, dict):
        found = {}
        ctx.state["find"] = found
    return found


def search_filters(f: dict[str, Any]) -> catalog.SearchFilters:
    category = f.get("cat")
    return catalog.SearchFilters(
        municipality_id=f.get("muni"), age=f.get("age"),
        category=Category(category) if category else None,
        certificate_only=bool(f.get("cert")), words=f.get("words") or "")


def price_text(program: Program, unit: Unit | None = None) -> str:
    """The monthly price in `unit`, the unit of the certificates of the program's
    municipality this year; both prices only while that unit is unknown (no nominal)."""
    if program.funding is Funding.MUNICIPAL:
        return texts.PRICE_FREE
    rubles = texts.PRICE_MONTH.format(price=fmt.money(program.price_per_month)) if program.price_per_month else None
    hours = texts.HOURS_MONTH.format(hours=fmt.hours(program.hours_per_month)) if program.hours_per_month else None
    if program.funding is Funding.PAID:
        hours = None if rubles else hours    # a parent pays a paid program in rubles
    elif unit is Unit.RUB and rubles:
        hours = None
    elif unit is Unit.HOURS and hours:
        rubles = None
    return texts.PRICE_EITHER.join(part for part in (rubles, hours) if part) or "—"


async def price_units(ctx: Ctx, programs: list[Program]) -> dict[int, Unit]:
    """Each program's municipality's nominal unit this year (one query for a page)."""
    return await certificates.nominal_units(ctx.session, {p.municipality_id for p in programs}, ctx.today().year)


def ages_text(program: Program) -> str:
    return texts.AGES.format(min=program.age_min, max=program.age_max)


async def describe_filters(ctx: Ctx, f: dict[str, Any]) -> str:
    parts = []
    if f.get("words"):
        parts.append(texts.FIND_WORDS.format(words=fmt.quoted(f["words"])))
    if f.get("muni"):
        try:
            parts.append((await municipalities.get(ctx.session, int(f["muni"]))).name)
        except DomainError:
            f.pop("muni", None)
    if f.get("age") is not None:
        parts.append(texts.FIND_AGE.format(age=fmt.years(int(f["age"]))))
    if f.get("cat"):
        parts.append(texts.CATEGORY_LABEL[Category(f["cat"])].lower())
    if f.get("cert"):
        parts.append(texts.FIND_CERT_ONLY)
    return ", ".join(parts)


@step("find")
async def results_screen(ctx: Ctx) -> Screen:
    f = filters_of(ctx)
    page = await catalog.search(ctx.session, search_filters(f), page=int(f.get("page") or 0),
                                page_size=PAGE_SIZE, clock=ctx.clock)
    f["page"] = page.page
    described = await describe_filters(ctx, f)
    lines = [texts.FIND_TITLE]
    if described:
        lines.append(texts.FIND_FILTERS.format(filters=described))
    elif page.items:
        lines.append(texts.FIND_NO_FILTERS)
    if not page.items:
        lines.append(texts.FIND_NOTHING if described else texts.FIND_NOTHING_AT_ALL)
    else:
        if page.more:
            lines.append(texts.FIND_FOUND_MORE.format(limit=catalog.COUNT_LIMIT, page=page.page + 1))
        elif page.pages > 1:
            lines.append(texts.FIND_FOUND.format(total=page.total, page=page.page + 1, pages=page.pages))
        else:
            lines.append(texts.FIND_FOUND_ONE_PAGE.format(total=page.total))
        # Full programs are marked (one query for the page); a paid one has no waiting list here.
        full = await waitlist.full_programs(
            ctx.session, [p for p in page.items if p.funding is not Funding.PAID], ctx.clock)
        units = await price_units(ctx, page.items)
        for n, program in enumerate(page.items, 1):
            lines.append(texts.FIND_ITEM.format(
                n=n, title=program.title, provider=program.provider, ages=ages_text(program),
                price=price_text(program, units.get(program.municipality_id)),
                badge=texts.FUNDING_BADGE[program.funding])
                + (texts.FIND_ITEM_FULL if program.id in full else ""))
    lines.append(texts.FIND_HINT)
    # Numbered buttons (one row) keep the keyboard within VK's inline limits.
    cards = [Button(str(n), f"card:{program.id}") for n, program in enumerate(page.items, 1)]
    nav = []
    if page.has_prev:
        nav.append(Button(texts.BTN_PREV, f"find:p:{page.page - 1}"))
    if page.has_next:
        nav.append(Button(texts.BTN_NEXT, f"find:p:{page.page + 1}"))
    cert = texts.BTN_CERT_ONLY_ON if f.get("cert") else texts.BTN_CERT_ONLY_OFF
    return Screen(text="\n\n".join(lines), rows=rows(
        cards, nav,
        [Button(texts.BTN_FILTER_MUNI, "find:f:muni"), Button(texts.BTN_FILTER_CHILD, "find:f:age"),
         Button(texts.BTN_FILTER_CAT, "find:f:cat")],
        [Button(cert, "find:cert"), Button(texts.BTN_RESET_FILTERS, "find:reset")],
        Button(texts.BTN_MENU, "cmd:menu"),
    ))


@step("find.muni")
async def pick_muni_screen(ctx: Ctx) -> Screen:
    munis = await catalog.list_municipalities(ctx.session)
    buttons = [Button(fmt.short(m.name, 30), f"find:muni:{m.id}") for m in munis]
    return Screen(text=texts.FIND_PICK_MUNI, rows=rows(
        *paged(buttons, int(ctx.data.get("mpage", 0)), "find:mp"), Button(texts.BTN_ANY_MUNI, "find:muni:0"),
        Button(texts.BTN_BACK, "find:back")))


@step("find.age")
async def pick_age_screen(ctx: Ctx) -> Screen:
    kids = []
    if await ctx.consented():
        parent = await ctx.require_parent()
        kids = [Button(first_name(child), f"find:child:{child.id}")
                for child in await core_children.list_children(ctx.session, parent) if child.birth_date]
    ages = [Button(str(age), f"find:age:{age}") for age in AGE_CHOICES]
    return Screen(text=texts.FIND_PICK_CHILD, rows=rows(
        *chunked(kids, 3), *chunked(ages, 5), Button(texts.BTN_ANY_AGE, "find:age:0"),
        Button(texts.BTN_BACK, "find:back")))


@step("find.cat")
async def pick_category_screen(ctx: Ctx) -> Screen:
    buttons = [Button(texts.CATEGORY_LABEL[c], f"find:cat:{c.value}") for c in Category]
    return Screen(text=texts.FIND_PICK_CAT, rows=rows(
        *chunked(buttons, 2), Button(texts.BTN_ANY_CAT, "find:cat:any"), Button(texts.BTN_BACK, "find:back")))


def card_months_text(program: Program) -> str:
    """The months a card names: a program of a year or less names the months it is taught
    within its dates ("февраль — май" for February to June, summer off), a longer one its
    study months from the first after a break ("сентябрь — май")."""
    taught = [month for year in range(program.start_date.year, program.end_date.year + 1)
              for month in payable_months(program, year)]
    if len(taught) < 12 and (program.end_date - program.start_date).days < 366:
        return months_runs(taught)
    return study_months_text(study_months(program.study_months))


@step("card")
async def card_screen(ctx: Ctx) -> Screen:
    program = await catalog.get_program(ctx.session, int(ctx.data["program"]))
    seats = await waitlist.seats_left(ctx.session, program, ctx.clock)
    text = texts.CARD.format(
        title=program.title, badge=texts.FUNDING_BADGE[program.funding], provider=program.provider,
        provider_kind=texts.PROVIDER_KIND[program.provider_kind], muni=program.municipality.name,
        category=texts.CATEGORY_LABEL[program.category], ages=ages_text(program),
        price=price_text(program, (await price_units(ctx, [program])).get(program.municipality_id)),
        start=fmt.date(program.start_date), end=fmt.date(program.end_date), address=program.address or "—",
        schedule=program.schedule or "—", seats=seats)
    text += texts.CARD_MONTHS.format(months=card_months_text(program))
    text += await reviews_section(ctx, program)
    if program.description:
        text += texts.CARD_DESCRIPTION.format(description=program.description)
    enroll = None
    if program.funding is Funding.PAID:
        text += texts.CARD_PAID
    else:
        # A seat held for one of the parent's children is theirs to take; otherwise a full
        # program offers the waiting list, not enrollment.
        held = await waitlist.holds_of(ctx.session, await ctx.parent(), program.id, ctx.clock)
        for entry in held:
            text += texts.CARD_HELD.format(name=first_name(entry.child),
                                           until=fmt.moment(entry.hold_until, ctx.clock.tz))
        if seats > 0 or held:
            enroll = Button(texts.BTN_ENROLL, f"enr:start:{program.id}")
        else:
            text += texts.CARD_FULL
            enroll = Button(texts.BTN_JOIN_WAITLIST, f"wl:start:{program.id}")
    nav = [Button(texts.BTN_MENU, "cmd:menu")]
    if isinstance(ctx.state.get("find"), dict):
        nav.insert(0, Button(texts.BTN_TO_RESULTS, "find:back"))
    return Screen(text=text, rows=rows(enroll, nav))


@command("find", consent=False)
async def find_command(ctx: Ctx, words: str) -> Screen:
    if len(words) > MAX_WORDS:
        raise DomainError("words_too_long", limit=MAX_WORDS)
    f = filters_of(ctx)
    f["words"] = words.strip()
    f["page"] = 0
    return await ctx.show("find")


@on_text("find", consent=False)
async def words_text(ctx: Ctx, text: str) -> Screen:
    return await find_command(ctx, text)


@action("card", consent=False)
async def press_card(ctx: Ctx, args: list[str]) -> Screen:
    program = await catalog.get_program(ctx.session, int_arg(args, 0))
    return await ctx.show("card", program=program.id)


@action("find", consent=False)
async def press_find(ctx: Ctx, args: list[str]) -> Screen:
    f = filters_of(ctx)
    what, rest = (args[0] if args else ""), args[1:]
    if what == "back" and not rest:
        return await ctx.show("find")
    if what == "p" and len(rest) == 1:
        f["page"] = int_arg(rest, 0)
        return await ctx.show("find")
    if what == "f" and rest in (["muni"], ["age"], ["cat"]):
        return await ctx.show(f"find.{rest[0]}")
    if what == "cert" and not rest:
        f["cert"] = not f.get("cert")
        f["page"] = 0
        return await ctx.show("find")
    if what == "reset" and not rest:
        ctx.state["find"] = {}
        return await ctx.show("find")
    if what == "mp" and len(rest) == 1 and ctx.step_name == "find.muni":
        return await ctx.show("find.muni", mpage=int_arg(rest, 0))
    if what == "muni" and len(rest) == 1:
        muni_id = int_arg(rest, 0)
        if muni_id:
            await municipalities.get(ctx.session, muni_id)
        f["muni"] = muni_id or None
        f["page"] = 0
        return await ctx.show("find")
    if what == "age" and len(rest) == 1:
        age = int_arg(rest, 0)
        if age and age not in AGE_CHOICES:
            raise Stale()
        f["age"] = age or None
        f["page"] = 0
        return await ctx.show("find")
    if what == "child" and len(rest) == 1:
        parent = await ctx.require_parent()
        child = await core_children.get_child(ctx.session, parent, int_arg(rest, 0))
        if child.birth_date is None:
            raise Stale()
        f["age"] = core_children.age_on(child.birth_date, ctx.today())
        f["page"] = 0
        return await ctx.show("find")
    if what == "cat" and len(rest) == 1:
        if rest[0] == "any":
            f["cat"] = None
        else:
            try:
                f["cat"] = Category(rest[0]).value
            except ValueError:
                raise Stale() from None
        f["page"] = 0
        return await ctx.show("find")
    raise Stale()
