"""The operator's command line (SPEC §2): `python -m bot COMMAND …`.

Every command prints a clear message and exits non-zero on refusal; a
traceback never reaches the operator (it goes to the log at DEBUG).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from decimal import Decimal, InvalidOperation

from bot import log_privacy, logfile
from bot.config import Settings, get_settings
from core.errors import DomainError

log = logging.getLogger("bot.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Бот сертификата дополнительного образования")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="migrate, load the demo catalog into an empty database, start the bot")
    sub.add_parser("chat", help="the bot's dialogs in this terminal, as one parent")
    sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    sub.add_parser("seed-demo", help="load the demo catalog and this year's nominals")
    sub.add_parser("stats", help="parents, children, certificates, enrollments, subscriptions, alerts")
    imp = sub.add_parser("import-programs", help="import programs from a CSV or JSON file (all or nothing)")
    imp.add_argument("file")
    imp.add_argument("--new-municipalities", action="store_true",
                     help="register the file's municipalities that are not registered yet (a region's first load)")
    nom = sub.add_parser("set-nominal", help="set a municipality's certificate nominal for a year")
    nom.add_argument("municipality")
    nom.add_argument("year", type=int)
    nom.add_argument("amount", help="rubles (e.g. 12000 or 12000.50), or hours with --hours")
    nom.add_argument("--hours", action="store_true", help="the nominal is in hours, not rubles")
    _municipality_parser(sub)
    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    jrun = jobs_sub.add_parser("run", help="run a job now: notify, settle-month, year-rollover")
    jrun.add_argument("name", choices=["notify", "settle-month", "year-rollover"])
    jrun.add_argument("--at", help="the date to run it as of, YYYY-MM-DD (default: today)")
    from bot import pd_cli, reviews_cli

    pd_cli.add_parser(sub)
    reviews_cli.add_parser(sub)
    return parser


def _municipality_parser(sub: Any) -> None:
    muni = sub.add_parser("municipality", help="the registry of municipalities: add, list, rename")
    actions = muni.add_subparsers(dest="municipality_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a municipality")
    add.add_argument("name")
    actions.add_parser("list", help="every registered municipality with its programs, children and nominals")
    rename = actions.add_parser("rename", help="fix a municipality's name; --merge folds it into another")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.add_argument("--merge", action="store_true",
                        help="NEW is registered already: move everything of OLD into it and remove OLD")


class UsageError(Exception):
    pass


def parse_amount(raw: str, hours: bool) -> int:
    """Rubles with up to two decimals → kopecks; hours → whole hours."""
    text = raw.replace(" ", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"amount is not a number: {raw!r}") from None
    if value <= 0:
        raise UsageError("amount must be positive")
    if hours:
        if value != value.to_integral_value():
            raise UsageError("hours must be a whole number")
        return int(value)
    if value.as_tuple().exponent < -2:
        raise UsageError("rubles have at most two decimals")
    return int(value * 100)


def parse_at(raw: str | None) -> dt.date | None:
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"--at must be a date YYYY-MM-DD, got {raw!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Before the first record: no log line may carry a child's name, birth date or SNILS.
    log_privacy.install()
    # stderr, the operator's console; the terminal chat moves it to a file (bot/logfile.py).
    logging.basicConfig(level=logging.INFO, format=logfile.FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = get_settings()
    except Exception as exc:  # noqa: BLE001 - a bad setting is the operator's to fix
        print(f"error: bad settings: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    if settings.log_level == "DEBUG":
        # SQLAlchemy holds its loggers at WARNING unless told: DEBUG means every statement,
        # its parameters and its rows too (masked like every record, bot/log_privacy.py).
        logging.getLogger("sqlalchemy").setLevel(logging.DEBUG)
    command = COMMANDS[args.command]
    try:
        return command(args, settings)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        from bot.operator_texts import describe

        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback for the operator
        log.debug("command failed", exc_info=True)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _async(fn: Callable[[argparse.Namespace, Settings], Awaitable[int]]) -> Callable[[argparse.Namespace, Settings], int]:
    def runner(args: argparse.Namespace, settings: Settings) -> int:
        return asyncio.run(fn(args, settings))
    return runner


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.config import use_pd_keys
    from bot.migrate import upgrade

    use_pd_keys(settings)    # a migration may encrypt what an older version stored (0010)
    upgrade(settings.database_url)
    print("database is at the latest revision")
    return 0


@_async
async def cmd_set_nominal(args: argparse.Namespace, settings: Settings) -> int:
    from core.certificates import set_nominal
    from core.models import Unit

    from bot.runtime import open_database

    amount = parse_amount(args.amount, args.hours)
    unit = Unit.HOURS if args.hours else Unit.RUB
    if not 2000 <= args.year <= 2100:
        raise UsageError("year must be between 2000 and 2100")
    db = await open_database(settings)
    try:
        async with db.write() as session:
            nominal = await set_nominal(session, args.municipality, args.year, amount, unit)
            shown = f"{amount} ч" if args.hours else f"{Decimal(amount) / 100:.2f} ₽"
            print(f"nominal for {nominal.municipality.name}, {args.year}: {shown}")
    finally:
        await db.dispose()
    return 0


@_async
async def cmd_import_programs(args: argparse.Namespace, settings: Settings) -> int:
    from core.importer import ImportRejected, import_file

    from bot.runtime import open_database, make_clock

    db = await open_database(settings)
    try:
        try:
            report = await import_file(db, args.file, make_clock(settings),
                                       new_municipalities=args.new_municipalities)
        except ImportRejected as rejected:
            print(f"error: {args.file}: nothing imported, {len(rejected.problems)} bad row(s):", file=sys.stderr)
            for problem in rejected.problems:
                print(f"  line {problem.line}: {problem.reason}", file=sys.stderr)
            if any("is not registered" in problem.reason for problem in rejected.problems):
                print("  (register a municipality with `python -m bot municipality add NAME`, or import a "
                      "region's first file with --new-municipalities)", file=sys.stderr)
            return 1
        print(f"imported {report.created} new and {report.updated} updated program(s) from {args.file}")
        if report.warnings:
            print(f"{len(report.warnings)} warning(s):")
            for warning in report.warnings:
                print(f"  line {warning.line}: {warning.reason}")
    finally:
        await db.dispose()
    return 0


@_async
async def cmd_municipality(args: argparse.Namespace, settings: Settings) -> int:
    from core import municipalities

    from bot.runtime import open_database

    db = await open_database(settings)
    try:
        if args.municipality_command == "list":
            async with db.read() as session:
                found = await municipalities.summaries(session)
            if not found:
                print("no municipality is registered yet; register one with: python -m bot municipality add NAME")
            for row in found:
                years = ", ".join(str(year) for year in row.nominal_years) or "none"
                print(f"{row.name}: {row.programs} program(s), {row.children} child(ren), "
                      f"{row.subscriptions} subscription(s); nominals: {years}")
        elif args.municipality_command == "add":
            async with db.write() as session:
                others = await municipalities.names(session)
                added = await municipalities.add(session, args.name)
            print(f"registered municipality «{added.name}»")
            like = municipalities.closest_name(added.name, others)
            if like:
                print(f"note: «{like}» is registered too; if they are the same, fix it with "
                      f'python -m bot municipality rename "{added.name}" "{like}" --merge')
        else:
            async with db.write() as session:
                done = await municipalities.rename(session, args.old, args.new, merge=args.merge)
            if done.merged:
                print(f"merged «{done.old}» into «{done.new}»: moved {done.programs} program(s), "
                      f"{done.children} child(ren), {done.subscriptions} subscription(s), "
                      f"{done.nominals} nominal(s); «{done.old}» removed")
            else:
                print(f"renamed «{done.old}» to «{done.new}»")
    finally:
        await db.dispose()
    return 0


@_async
async def cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from core.demo import seed_demo

    from bot.runtime import open_database, make_clock

    db = await open_database(settings)
    try:
        report = await seed_demo(db, make_clock(settings))
        print(f"demo catalog: {report.created} new and {report.updated} updated program(s); nominals set")
    finally:
        await db.dispose()
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    at = parse_at(args.at)
    from bot.jobs.cli import run_job

    return asyncio.run(run_job(args.name, at, settings))


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.stats import print_stats

    return asyncio.run(print_stats(settings))


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run

    return run(settings)


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import chat

    return chat(settings)


@_async
async def cmd_pd(args: argparse.Namespace, settings: Settings) -> int:
    from bot import pd_cli

    return await pd_cli.run(args, settings)


@_async
async def cmd_reviews(args: argparse.Namespace, settings: Settings) -> int:
    from bot import reviews_cli
    from bot.runtime import make_clock

    return await reviews_cli.run(args, settings, make_clock(settings))


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "run": cmd_run,
    "chat": cmd_chat,
    "migrate": cmd_migrate,
    "seed-demo": cmd_seed_demo,
    "stats": cmd_stats,
    "import-programs": cmd_import_programs,
    "set-nominal": cmd_set_nominal,
    "municipality": cmd_municipality,
    "jobs": cmd_jobs,
    "pd": cmd_pd,
    "reviews": cmd_reviews,
}
