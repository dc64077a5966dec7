"""/find [words]: the catalog with filters, five results a page, and program cards.

Every /find starts afresh. A consented parent's search starts from a child (the one
searched for last time, else the first): the child's municipality and age are its
first filters, and prices are shown in the unit of that child's certificate; a button
per child and «Все» switch. Each filter set is a «✕» button that removes it;
«Сбросить фильтры» removes them all but the words; «Как в прошлый раз» brings back the
last search's filters (state["find_last"]).

Browsing needs no consent (nothing personal is involved): the search, its filters
and the cards work before /start's agreement, then without any child; choosing
one's child and the card's enroll button ask for consent first.

The filters live in state["find"], apart from the current step, so a parent
can open a card (or a digest's card) and come back to the same page.
"""
from __future__ import annotations

from typing import Any

from bot.dialogs import format as fmt
from bot.dialogs import program_info as info
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.enroll import months_runs, study_months_text
from bot.dialogs.find_filters import (
    FILTER_KEYS,
    child_buttons,
    describe_filters,
    drop_filter,
    for_child,
    kept,
    present,
    searchable_children,
)
from bot.dialogs.review_card import reviews_section
from bot.dialogs.screen import Button, Screen
from bot.dialogs.share import share_row
from bot.dialogs.state import Ctx, Stale, action, chunked, command, int_arg, on_text, paged, rows, step
from core import catalog, certificates, enrollment, municipalities, search_text, waitlist
from core import children as core_children
from core.errors import DomainError
from core.models import Category, Child, Funding, Program, Unit
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


def price_text(program: Program, unit: Unit | None = None, childs: bool = False) -> str:
    """The monthly price in `unit`, the unit of the certificate that would pay (the child's
    the search is for, else that of the certificates of the program's municipality this
    year); both prices only while that unit is unknown (no nominal). With `childs` (the
    unit is that of the child's certificate), a certificate-funded program with no price
    in it says the certificate cannot pay it."""
    if program.funding is Funding.MUNICIPAL:
        return texts.PRICE_FREE
    rubles = texts.PRICE_MONTH.format(price=fmt.money(program.price_per_month)) if program.price_per_month else None
    hours = texts.HOURS_MONTH.format(hours=fmt.hours(program.hours_per_month)) if program.hours_per_month else None
    missing = ""
    if program.funding is Funding.PAID:
        hours = None if rubles else hours    # a parent pays a paid program in rubles
    elif unit is Unit.RUB and rubles:
        hours = None
    elif unit is Unit.HOURS and hours:
        rubles = None
    elif unit is not None and childs:
        missing = texts.PRICE_NOT_IN_UNIT[unit]
    return (texts.PRICE_EITHER.join(part for part in (rubles, hours) if part) or "—") + missing


async def searched_child(ctx: Ctx) -> Child | None:
    """The parent's child the search is for (state["find"]["child"]), if still theirs."""
    f = ctx.state.get("find")
    child_id = f.get("child") if isinstance(f, dict) else None
    if not isinstance(child_id, int) or not await ctx.consented():
        return None
    try:
        return await core_children.get_child(ctx.session, await ctx.parent(), child_id)
    except DomainError:
        return None


async def child_unit(ctx: Ctx) -> Unit | None:
    """The unit of the certificate of the child the search is for (it pays in its own unit
    in any municipality of the region); None without a child or a nominal."""
    child = await searched_child(ctx)
    return await enrollment.certificate_unit(ctx.session, child, ctx.today().year) if child is not None else None


async def price_units(ctx: Ctx, programs: list[Program]) -> dict[int, Unit]:
    """The unit each program's price is shown in: the child's certificate's (child_unit),
    else each program's municipality's nominal unit this year (one query for a page)."""
    unit = await child_unit(ctx)
    if unit is not None:
        return {p.municipality_id: unit for p in programs}
    return await certificates.nominal_units(ctx.session, {p.municipality_id for p in programs}, ctx.today().year)


def ages_text(program: Program) -> str:
    return texts.AGES.format(min=program.age_min, max=program.age_max)


def result_line(n: int, program: Program, unit: Unit | None, childs: bool, full: bool) -> str:
    """One program of the results: its municipality, provider, ages, price (in `unit`; the
    child's certificate's with `childs`), funding, and whether it is full (a paid one has no
    waiting list here)."""
    line = texts.FIND_LINE.format(
        n=n, title=program.title, muni=program.municipality.name, provider=program.provider,
        ages=ages_text(program), price=price_text(program, unit, childs),
        badge=texts.FUNDING_BADGE[program.funding])
    if full:
        line += texts.FIND_ITEM_FULL_PAID if program.funding is Funding.PAID else texts.FIND_ITEM_FULL
    return line


@step("find")
async def results_screen(ctx: Ctx) -> Screen:
    f = filters_of(ctx)
    kids = await searchable_children(ctx)
    if f.get("child") is not None and f["child"] not in {child.id for child in kids}:
        f.pop("child")    # no longer the parent's (deleted, forgotten)
    page = await catalog.search(ctx.session, search_filters(f), page=int(f.get("page") or 0),
                                page_size=PAGE_SIZE, clock=ctx.clock)
    f["page"] = page.page
    described, drops = await describe_filters(ctx, f)
    lines = [texts.FIND_TITLE]
    child = next((child for child in kids if child.id == f.get("child")), None)
    if child is not None:
        lines.append(texts.FIND_FOR_CHILD.format(name=first_name(child)))
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
        full = await waitlist.full_programs(ctx.session, page.items, ctx.clock)   # one query for the page
        unit = await child_unit(ctx)
        units = {} if unit is not None else await certificates.nominal_units(
            ctx.session, {p.municipality_id for p in page.items}, ctx.today().year)
        lines.extend(result_line(n, program, unit or units.get(program.municipality_id), unit is not None,
                                 program.id in full) for n, program in enumerate(page.items, 1))
    lines.append(texts.FIND_HINT_FILTERS if drops else texts.FIND_HINT)
    # Numbered buttons (one row) keep the keyboard within VK's inline limits (5 a row, 10 rows).
    cards = [Button(str(n), f"card:{program.id}") for n, program in enumerate(page.items, 1)]
    nav = []
    if page.has_prev:
        nav.append(Button(texts.BTN_PREV, f"find:p:{page.page - 1}"))
    if page.has_next:
        nav.append(Button(texts.BTN_NEXT, f"find:p:{page.page + 1}"))
    last = ctx.state.get("find_last")
    again = Button(texts.BTN_FIND_LAST, "find:last") if isinstance(last, dict) and last and last != kept(f) else None
    return Screen(text="\n\n".join(lines), rows=rows(
        cards, nav, *chunked(child_buttons(f, kids), 5), *chunked(drops, 3),
        [Button(texts.BTN_FILTER_MUNI, "find:f:muni"), Button(texts.BTN_FILTER_CHILD, "find:f:age"),
         Button(texts.BTN_FILTER_CAT, "find:f:cat")],
        present(None if f.get("cert") else Button(texts.BTN_CERT_ONLY_OFF, "find:cert"),
                Button(texts.BTN_RESET_FILTERS, "find:reset") if kept(f) else None),
        present(again, Button(texts.BTN_MENU, "cmd:menu")),
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
    ages = [Button(str(age), f"find:age:{age}") for age in AGE_CHOICES]
    return Screen(text=texts.FIND_PICK_AGE, rows=rows(
        *chunked(ages, 5), Button(texts.BTN_ANY_AGE, "find:age:0"), Button(texts.BTN_BACK, "find:back")))


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


# The card is built from sections, each a small function returning its text (or its buttons):
# a new section is one more line in card_screen.

async def card_facts(ctx: Ctx, program: Program, seats: int) -> str:
    """Title, organisation, place, price, dates, address with its map link, schedule, seats left."""
    return texts.CARD.format(
        title=program.title, badge=texts.FUNDING_BADGE[program.funding], provider=program.provider,
        provider_kind=texts.PROVIDER_KIND[program.provider_kind], muni=program.municipality.name,
        category=texts.CATEGORY_LABEL[program.category], ages=ages_text(program),
        price=price_text(program, (await price_units(ctx, [program])).get(program.municipality_id)),
        start=fmt.date(program.start_date), end=fmt.date(program.end_date),
        address=(program.address or "—") + info.map_line(program),
        schedule=info.schedule_text(program), seats=seats)


def card_months(program: Program) -> str:
    return texts.CARD_MONTHS.format(months=card_months_text(program))


def card_description(program: Program) -> str:
    return texts.CARD_DESCRIPTION.format(description=program.description) if program.description else ""


def card_contacts(program: Program) -> str:
    return info.contacts_text(program)


async def card_joining(ctx: Ctx, program: Program, seats: int) -> tuple[str, Button | None]:
    """How to join: a paid program names whom to contact; otherwise enroll, a held seat,
    or the waiting list of a full program."""
    if program.funding is Funding.PAID:
        more = texts.CARD_PAID_CONTACTS if info.has_contacts(program) else texts.CARD_PAID_NO_CONTACTS
        return texts.CARD_PAID + more, None
    text = ""
    # A seat held for one of the parent's children is theirs to take; otherwise a full
    # program offers the waiting list, not enrollment.
    held = await waitlist.holds_of(ctx.session, await ctx.parent(), program.id, ctx.clock)
    for entry in held:
        text += texts.CARD_HELD.format(name=first_name(entry.child),
                                       until=fmt.moment(entry.hold_until, ctx.clock.tz))
    if seats > 0 or held:
        return text, Button(texts.BTN_ENROLL, f"enr:start:{program.id}")
    return text + texts.CARD_FULL, Button(texts.BTN_JOIN_WAITLIST, f"wl:start:{program.id}")


def card_nav(ctx: Ctx) -> list[Button]:
    nav = [Button(texts.BTN_MENU, "cmd:menu")]
    if isinstance(ctx.state.get("find"), dict):
        nav.insert(0, Button(texts.BTN_TO_RESULTS, "find:back"))
    return nav


@step("card")
async def card_screen(ctx: Ctx) -> Screen:
    program = await catalog.get_program(ctx.session, int(ctx.data["program"]))
    seats = await waitlist.seats_left(ctx.session, program, ctx.clock)
    joining, enroll = await card_joining(ctx, program, seats)
    text = "".join((
        await card_facts(ctx, program, seats),
        card_months(program),
        card_contacts(program),
        await reviews_section(ctx, program),
        card_description(program),
        joining,
    ))
    return Screen(text=text, rows=rows(enroll, share_row(program.id), card_nav(ctx)))


def check_words(words: str) -> None:
    """A query too long to be a search, or with nothing to search by (only emoji or
    punctuation, which would filter nothing yet show as a filter), is refused."""
    if len(words) > MAX_WORDS:
        raise DomainError("words_too_long", limit=MAX_WORDS)
    if words.strip() and not search_text.words(words):
        raise DomainError("words_no_letters")


@command("find", consent=False)
async def find_command(ctx: Ctx, words: str) -> Screen:
    """A new search starts afresh: from the child's municipality and age (the child searched
    for last time, else the first), or from nothing; the last search's filters are kept for
    «Как в прошлый раз»."""
    check_words(words)
    last = ctx.state.get("find")
    last = kept(last) if isinstance(last, dict) else {}
    remembered = ctx.state.get("find_last")
    f: dict[str, Any] = {"words": words.strip(), "page": 0}
    kids = await searchable_children(ctx)
    if kids:
        child_id = last.get("child") or (remembered.get("child") if isinstance(remembered, dict) else None)
        for_child(ctx, f, next((child for child in kids if child.id == child_id), kids[0]))
    if last and last != kept(f):    # a search just like a fresh one is nothing to come back to
        ctx.state["find_last"] = last
    ctx.state["find"] = f
    return await ctx.show("find")


@on_text("find", consent=False)
async def words_text(ctx: Ctx, text: str) -> Screen:
    """Words typed on the results screen replace the words, keeping the other filters."""
    check_words(text)
    f = filters_of(ctx)
    f.update(words=text.strip(), page=0)
    return await ctx.show("find")


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
    if what == "x" and len(rest) == 1:
        drop_filter(f, rest[0])
        return await ctx.show("find")
    if what == "cert" and not rest:
        f["cert"] = not f.get("cert")
        f["page"] = 0
        return await ctx.show("find")
    if what == "reset" and not rest:
        # Every filter goes, the words stay: they are what the parent asked for.
        ctx.state["find"] = {"words": f.get("words") or "", "page": 0}
        return await ctx.show("find")
    if what == "last" and not rest:
        last = ctx.state.get("find_last")
        if not isinstance(last, dict) or not last:
            raise Stale()
        ctx.state["find"] = {**{key: last[key] for key in FILTER_KEYS if key in last}, "page": 0}
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
        child_id = int_arg(rest, 0)
        parent = await ctx.require_parent()
        if not child_id:    # «Все»: no child's municipality and age
            for key in ("child", "muni", "age"):
                f.pop(key, None)
            f["page"] = 0
            return await ctx.show("find")
        child = await core_children.get_child(ctx.session, parent, child_id)
        if child.birth_date is None:
            raise Stale()
        for_child(ctx, f, child)
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
