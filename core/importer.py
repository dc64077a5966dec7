"""Program import (SPEC §2): CSV or JSON, all or nothing, upsert by external_id.

Every row is checked before anything is written; one bad row rejects the
whole file with every problem listed by line. A good file is written in a
single transaction with bulk statements. Rubles become kopecks through
Decimal (a float never touches money). A row's municipality must be
registered (core/municipalities.py) unless the import is told to register
the file's new ones.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from core.catalog_codes import parse_category, parse_funding, parse_provider_kind
from core import schedule
from core.clock import Clock
from core.contacts import ContactInvalid, parse_email, parse_phone, parse_website
from core.db import Database
from core.errors import DomainError
from core.models import (INDEXED_FIELDS, Funding, Municipality, Program, ProgramTerm, program_terms_rows,
                         words_changed)
from core.municipalities import clean_name, closest_name, register
from core.municipalities import names as registered_names
from core.search_text import program_search_text
from core.study_months import MonthsInvalid, canonical, parse_months, study_months

log = logging.getLogger(__name__)

COLUMNS = (
    "external_id", "title", "provider", "provider_kind", "municipality", "category",
    "age_min", "age_max", "price_per_month", "hours_per_month", "start_date", "end_date",
    "address", "schedule", "seats", "funding", "description",
)
REQUIRED = frozenset({
    "external_id", "title", "provider", "provider_kind", "municipality", "category",
    "age_min", "age_max", "start_date", "end_date", "seats", "funding",
})
AGE_MIN, AGE_MAX = 5, 18
MAX_PRICE_RUBLES = Decimal(10_000_000)
MAX_HOURS = 744          # hours in a month
MAX_SEATS = 100_000
MAX_PROBLEMS = 1000      # a hopeless file need not list a million lines
CHUNK = 500
ANALYZE_AFTER = 1000     # rows written; below that the old statistics are good enough
# The columns that make a program (compared to tell "updated" from "unchanged").
_FIELDS = (
    "title", "provider", "provider_kind", "municipality_id", "category", "age_min", "age_max",
    "price_per_month", "hours_per_month", "start_date", "end_date", "address", "schedule",
    "seats", "funding", "description", "search_text", "study_months", "phone", "email", "website",
    "lessons",
)


@dataclass(frozen=True)
class Problem:
    line: int      # 1-based; 0 = the file as a whole
    reason: str


class ImportRejected(Exception):
    """The file was refused; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s): " + "; ".join(
            f"line {p.line}: {p.reason}" for p in problems[:5]))
        self.problems = problems


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Imported, but worth a look: a schedule the parser did not understand (kept as text).
    warnings: list[Problem] = field(default_factory=list)


# --- reading files ----------------------------------------------------------

def read_file(path: str | Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows (as dicts) and the line each starts on; raises ImportRejected."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRejected([Problem(0, f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ImportRejected([Problem(line, "the file is not UTF-8 text")]) from None
    if path.suffix.lower() == ".json" or (path.suffix.lower() != ".csv" and text.lstrip().startswith("[")):
        return parse_json(text)
    return parse_csv(text)


def parse_csv(text: str) -> tuple[list[dict[str, Any]], list[int]]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportRejected([Problem(1, f"unreadable header: {exc}")]) from None
    if not header or not any(cell.strip() for cell in header):
        raise ImportRejected([Problem(1, "the file is empty (a header row is needed)")])
    names = [cell.strip().lower() for cell in header]
    problems = [Problem(1, f"missing column {name}") for name in COLUMNS if name not in names]
    problems += [Problem(1, f"unknown column '{name}'") for name in names
                 if name not in COLUMNS and name not in OPTIONAL]
    problems += [Problem(1, f"column {name} appears twice") for i, name in enumerate(names)
                 if name in names[:i]]
    if problems:
        raise ImportRejected(problems)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    bad: list[Problem] = []
    previous_end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportRejected(bad + [Problem(previous_end + 1, f"unreadable CSV: {exc}")]) from None
        start, previous_end = previous_end + 1, reader.line_num
        if not cells or not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed between rows
        if len(cells) != len(names):
            bad.append(Problem(start, f"{len(cells)} fields, expected {len(names)}"))
            continue
        rows.append(dict(zip(names, cells)))
        lines.append(start)
    if bad:
        # Rows with a wrong field count are reported with the others' problems.
        _, others = _validate_all(rows, lines)
        raise ImportRejected(sorted(bad + others, key=lambda p: p.line))
    return rows, lines


def parse_json(text: str) -> tuple[list[dict[str, Any]], list[int]]:
    """A list of objects; each object's line is where its `{` stands."""
    decoder = json.JSONDecoder(parse_float=Decimal)

    def line_of(index: int) -> int:
        return text.count("\n", 0, index) + 1

    def skip(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n\ufeff":
            index += 1
        return index

    index = skip(0)
    if index >= len(text) or text[index] != "[":
        raise ImportRejected([Problem(line_of(index), "the JSON must be a list of objects")])
    index = skip(index + 1)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    if index < len(text) and text[index] == "]":
        return rows, lines
    while True:
        start = index
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise ImportRejected(problems + [Problem(exc.lineno, f"invalid JSON: {exc.msg}")]) from None
        if isinstance(value, dict):
            rows.append(value)
            lines.append(line_of(start))
        else:
            problems.append(Problem(line_of(start), "expected an object {...}"))
        index = skip(index)
        if index < len(text) and text[index] == ",":
            index = skip(index + 1)
            continue
        if index < len(text) and text[index] == "]":
            if skip(index + 1) != len(text):
                problems.append(Problem(line_of(skip(index + 1)), "text after the end of the list"))
            break
        raise ImportRejected(problems + [Problem(line_of(index), "invalid JSON: expected ',' or ']'")])
    if problems:
        _, others = _validate_all(rows, lines)
        raise ImportRejected(sorted(problems + others, key=lambda p: p.line))
    return rows, lines


# --- checking rows ----------------------------------------------------------

class _Bad(Exception):
    pass


def _text(row: dict[str, Any], key: str, limit: int, required: bool) -> str:
    value = row.get(key)
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _Bad(f"{key} must be text")
    value = str(value).strip()
    if "\x00" in value:
        raise _Bad(f"{key} contains a NUL character")
    if required and not value:
        raise _Bad(f"{key} is empty")
    if len(value) > limit:
        raise _Bad(f"{key} is longer than {limit} characters")
    return value


def _int(row: dict[str, Any], key: str, required: bool) -> int | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _Bad(f"{key} is empty")
        return None
    if isinstance(value, bool):
        raise _Bad(f"{key} {value!r} is not a whole number")
    if isinstance(value, int):
        return value
    raw = str(value).strip()
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise _Bad(f"{key} '{raw}' is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _Bad(f"{key} '{raw}' is not a whole number")
    return int(number)


def rubles_to_kopecks(value: Any, key: str = "price_per_month") -> int | None:
    """'1500', '1 500,50', 1500.5 (as Decimal) → kopecks; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _Bad(f"{key} {value!r} is not a number")
    raw = str(value).strip()
    cleaned = raw.replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise _Bad(f"{key} '{raw}' is not a number") from None
    if not number.is_finite():
        raise _Bad(f"{key} '{raw}' is not a number")
    if number < 0:
        raise _Bad(f"{key} {raw} is negative")
    if number > MAX_PRICE_RUBLES:
        raise _Bad(f"{key} {raw} is too large")
    if number.as_tuple().exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise _Bad(f"{key} '{raw}' has more than two decimals")
    return int(number * 100)


def _date(row: dict[str, Any], key: str) -> dt.date:
    value = row.get(key)
    raw = "" if value is None else str(value).strip()
    if not raw:
        raise _Bad(f"{key} is empty")
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise _Bad(f"{key} '{raw[:30]}' is not a date YYYY-MM-DD") from None


def _coded(parser: Any, row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    try:
        return parser(value if value is not None else "")
    except DomainError:
        raise _Bad(f"unknown {key} '{'' if value is None else str(value)[:50]}'") from None


def validate_row(row: dict[str, Any]) -> dict[str, Any]:
    """One row's program fields (municipality by name), or _Bad with every
    problem of the row joined by '; '."""
    problems: list[str] = []
    out: dict[str, Any] = {}

    def take(key: str, fn: Any) -> None:
        try:
            out[key] = fn()
        except _Bad as exc:
            problems.append(str(exc))

    missing = [key for key in COLUMNS if key not in row and key in REQUIRED]
    for key in missing:
        problems.append(f"missing field {key}")
    unknown = [key for key in row if key not in COLUMNS and key not in OPTIONAL]
    for key in unknown:
        problems.append(f"unknown field '{str(key)[:40]}'")
    take("external_id", lambda: _text(row, "external_id", 100, True))
    take("title", lambda: _text(row, "title", 300, True))
    take("provider", lambda: _text(row, "provider", 300, True))
    take("provider_kind", lambda: _coded(parse_provider_kind, row, "provider_kind"))
    take("municipality", lambda: _municipality(row))
    take("category", lambda: _coded(parse_category, row, "category"))
    take("age_min", lambda: _int(row, "age_min", True))
    take("age_max", lambda: _int(row, "age_max", True))
    take("price_per_month", lambda: rubles_to_kopecks(row.get("price_per_month")))
    take("hours_per_month", lambda: _int(row, "hours_per_month", False))
    take("start_date", lambda: _date(row, "start_date"))
    take("end_date", lambda: _date(row, "end_date"))
    take("address", lambda: _text(row, "address", 1000, False))
    take("schedule", lambda: _text(row, "schedule", 1000, False))
    out["lessons"] = schedule.dumps(schedule.parse(out.get("schedule")))
    take("seats", lambda: _int(row, "seats", True))
    take("funding", lambda: _coded(parse_funding, row, "funding"))
    take("description", lambda: _text(row, "description", 10000, False))
    for column, (attribute, reader) in OPTIONAL.items():
        take(attribute, lambda column=column, reader=reader: _optional(row, column, reader))

    for key in ("age_min", "age_max"):
        age = out.get(key)
        if age is not None and age < AGE_MIN:
            problems.append(f"{key} {age} is below {AGE_MIN}")
        elif age is not None and age > AGE_MAX:
            problems.append(f"{key} {age} is above {AGE_MAX}")
    if out.get("age_min") is not None and out.get("age_max") is not None and out["age_min"] > out["age_max"]:
        problems.append(f"age_min {out['age_min']} is above age_max {out['age_max']}")
    hours = out.get("hours_per_month")
    if hours is not None and hours < 0:
        problems.append(f"hours_per_month {hours} is negative")
    elif hours is not None and hours > MAX_HOURS:
        problems.append(f"hours_per_month {hours} is more than a month has")
    seats = out.get("seats")
    if seats is not None and seats < 0:
        problems.append(f"seats {seats} is negative")
    elif seats is not None and seats > MAX_SEATS:
        problems.append(f"seats {seats} is too many")
    if out.get("start_date") and out.get("end_date") and out["end_date"] < out["start_date"]:
        problems.append("end_date before start_date")
    if out.get("study_months") and out.get("start_date") and out.get("end_date") \
            and not _taught_within(out["study_months"], out["start_date"], out["end_date"]):
        problems.append(f"months {out['study_months']} never fall between start_date and end_date")
    if (out.get("funding") == Funding.CERTIFICATE and "price_per_month" in out and "hours_per_month" in out
            and not out["price_per_month"] and not out["hours_per_month"]):
        problems.append("a certificate-funded program needs price_per_month or hours_per_month")
    if problems:
        raise _Bad("; ".join(problems))
    return out


def _optional(row: dict[str, Any], column: str, reader: Any) -> Any:
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return reader(value)


def _months(value: Any) -> str:
    """The `months` column: '9-12,1-5' (or, in JSON, 7 or [6, 7, 8]) → canonical text."""
    if isinstance(value, list) and value and all(isinstance(m, int) and not isinstance(m, bool) for m in value):
        value = ",".join(str(m) for m in value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Bad("months must be text like 9-12,1-5")
    try:
        return canonical(parse_months(value))
    except MonthsInvalid as exc:
        raise _Bad(f"months '{value.strip()[:40]}': {exc}") from None


# Optional columns, read by header name after the fixed ones (CSV) or by key
# (JSON): column → (Program attribute, reader of a non-empty raw value that
# returns the stored value or raises _Bad). An absent or empty column stores
# None, the program's default.
OPTIONAL: dict[str, tuple[str, Any]] = {
    "months": ("study_months", _months),
    "phone": ("phone", lambda value: _contact(parse_phone, value, "phone")),
    "email": ("email", lambda value: _contact(parse_email, value, "email")),
    "website": ("website", lambda value: _contact(parse_website, value, "website")),
}


def _contact(reader: Any, value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{key} must be text")
    try:
        return reader(value)
    except ContactInvalid as exc:
        raise _Bad(str(exc)) from None


def _taught_within(months: str, start: dt.date, end: dt.date) -> bool:
    """Does any study month lie within the dates? (a program never taught cannot be costed)"""
    taught = study_months(months)
    year, month = start.year, start.month
    for _ in range(12):  # twelve months in a row meet every study month
        if (year, month) > (end.year, end.month):
            return False
        if month in taught:
            return True
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return True


def _municipality(row: dict[str, Any]) -> str:
    raw = _text(row, "municipality", 200, True)
    try:
        return clean_name(raw)
    except DomainError:
        raise _Bad("municipality is not a valid name") from None


def _validate_all(rows: list[dict[str, Any]], lines: list[int]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every row checked; one Problem per bad row (its reasons joined by '; ')."""
    valid: list[dict[str, Any]] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for row, line in zip(rows, lines):
        reasons: list[str] = []
        clean: dict[str, Any] | None = None
        try:
            clean = validate_row(row)
        except _Bad as exc:
            reasons.append(str(exc))
        raw_id = row.get("external_id")
        external_id = clean["external_id"] if clean else ("" if raw_id is None else str(raw_id).strip())
        if external_id and external_id in first_line:
            reasons.append(f"duplicate external_id '{external_id[:100]}' (also on line {first_line[external_id]})")
        elif external_id:
            first_line[external_id] = line
        if reasons:
            problems.append(Problem(line, "; ".join(reasons)))
        elif clean is not None:
            valid.append(clean)
    return valid, problems[:MAX_PROBLEMS]


# --- writing ----------------------------------------------------------------

async def import_file(db: Database, path: str | Path, clock: Clock, *,
                      new_municipalities: bool = False) -> ImportReport:
    rows, lines = read_file(path)
    return await import_rows(db, rows, clock, source_lines=lines, new_municipalities=new_municipalities)


async def import_rows(db: Database, rows: list[dict[str, Any]], clock: Clock,
                      source_lines: list[int] | None = None, *,
                      new_municipalities: bool = False) -> ImportReport:
    """Check every row, then upsert all of them in one transaction (or none).

    A municipality must be registered already; `new_municipalities` (a
    region's first load) registers the file's unknown names instead."""
    if not isinstance(rows, list):
        raise ImportRejected([Problem(0, "the rows must be a list of objects")])
    lines = source_lines if source_lines is not None else list(range(1, len(rows) + 1))
    if len(lines) != len(rows):
        raise ValueError("source_lines must have one line per row")
    not_objects = [Problem(line, "expected an object {...}")
                   for row, line in zip(rows, lines) if not isinstance(row, dict)]
    if not_objects:
        raise ImportRejected(not_objects)
    valid, problems = _validate_all(rows, lines)
    if not new_municipalities:
        async with db.read() as session:
            registered = set(await registered_names(session))
        problems = _with_unregistered(rows, lines, problems, registered)
    if problems:
        raise ImportRejected(problems)
    now = clock.now()
    report = ImportReport(warnings=[
        Problem(line, f"schedule '{row['schedule'][:60]}' not understood: imported as text, no lessons")
        for row, line in zip(valid, lines) if row["schedule"] and row["lessons"] is None])
    async with db.write() as session:
        municipality_ids = await _municipality_ids(
            session, {row["municipality"] for row in valid}, new_municipalities)
        for row in valid:
            row["municipality_id"] = municipality_ids[row.pop("municipality")]
            row["search_text"] = program_search_text(
                row["title"], row["provider"], row["description"], row["address"])
        columns = [getattr(Program, name) for name in ("id", "external_id", *_FIELDS)]
        existing: dict[str, Any] = {}
        for start in range(0, len(valid), CHUNK):
            ids = [row["external_id"] for row in valid[start:start + CHUNK]]
            for found in await session.execute(select(*columns).where(Program.external_id.in_(ids))):
                existing[found.external_id] = found
        existing_by_id = {found.id: found for found in existing.values()}
        to_insert: list[dict[str, Any]] = []
        to_update: list[dict[str, Any]] = []
        for row in valid:
            old = existing.get(row["external_id"])
            if old is None:
                to_insert.append({**row, "published_at": now, "updated_at": now})
            elif all(getattr(old, name) == row[name] for name in _FIELDS):
                report.unchanged += 1
            else:
                to_update.append({**{k: v for k, v in row.items() if k != "external_id"},
                                  "id": old.id, "updated_at": now})
        for start in range(0, len(to_insert), CHUNK):
            await session.execute(insert(Program), to_insert[start:start + CHUNK])
        for start in range(0, len(to_update), CHUNK):
            # ORM bulk UPDATE by primary key (executemany).
            await session.execute(update(Program), to_update[start:start + CHUNK])
        await _index_terms(session, to_insert, [row for row in to_update if any(
            row[name] != getattr(existing_by_id[row["id"]], name) for name in INDEXED_FIELDS)])
        report.created = len(to_insert)
        report.updated = len(to_update)
    if report.created + report.updated >= ANALYZE_AFTER:
        await _refresh_statistics(db)
    return report


def _with_unregistered(rows: list[dict[str, Any]], lines: list[int], problems: list[Problem],
                       registered: set[str]) -> list[Problem]:
    """The rows' problems plus, on each row naming an unregistered municipality,
    that one (with the closest registered name, so a typo is easy to fix)."""
    closest: dict[str, str | None] = {}
    found: dict[int, str] = {}
    for row, line in zip(rows, lines):
        try:
            name = _municipality(row)
        except _Bad:
            continue   # already among the row's problems
        if name in registered:
            continue
        if name not in closest:
            closest[name] = closest_name(name, registered)
        hint = f"; did you mean '{closest[name]}'?" if closest[name] else ""
        found[line] = f"municipality '{name}' is not registered{hint}"
    if not found:
        return problems
    merged = {problem.line: problem.reason for problem in problems}
    for line, reason in found.items():
        merged[line] = f"{merged[line]}; {reason}" if line in merged else reason
    return [Problem(line, reason) for line, reason in sorted(merged.items())][:MAX_PROBLEMS]


async def _municipality_ids(session: Any, wanted: set[str], register_new: bool) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name in sorted(wanted):
        if register_new:
            ids[name] = (await register(session, name)).id
            continue
        found = (await session.execute(
            select(Municipality.id).where(Municipality.name == name))).scalar_one_or_none()
        if found is None:   # renamed or merged away since the check
            raise ImportRejected([Problem(0, f"municipality '{name}' is no longer registered")])
        ids[name] = found
    return ids


async def _index_terms(session: Any, inserted: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
    """Keep the word index (ProgramTerm) in step with the rows just written; bulk
    statements bypass the ORM events that do it for single programs."""
    ids: dict[str, int] = {}
    for start in range(0, len(inserted), CHUNK):
        chunk = [row["external_id"] for row in inserted[start:start + CHUNK]]
        ids.update((await session.execute(
            select(Program.external_id, Program.id).where(Program.external_id.in_(chunk)))).all())
    for start in range(0, len(changed), CHUNK):
        await session.execute(delete(ProgramTerm).where(
            ProgramTerm.program_id.in_([row["id"] for row in changed[start:start + CHUNK]])))
    terms = [term for row in [{**row, "id": ids[row["external_id"]]} for row in inserted] + changed
             for term in program_terms_rows(row)]
    for start in range(0, len(terms), CHUNK * 4):
        await session.execute(insert(ProgramTerm), terms[start:start + CHUNK * 4])
    if inserted or changed:
        await session.run_sync(lambda sync: words_changed(sync.connection()))


async def _refresh_statistics(db: Database) -> None:
    """After a big import, let the planner see the new catalog at once (it
    would otherwise pick the category index over the municipality one)."""
    try:
        async with db.write() as session:
            await session.execute(text("ANALYZE programs"))
            await session.execute(text("ANALYZE program_terms"))
    except Exception:  # noqa: BLE001 - statistics are an optimisation, the import is done
        log.warning("ANALYZE programs failed after an import", exc_info=True)
