"""`python -m bench` (`make bench`): the benchmarks of issues 6, 11 and 15, on SQLite and, when
the server is reachable, PostgreSQL (and Redis); prints a table, writes bench/results.json and
the README's "## Benchmarks" section (between <!-- bench:start --> and <!-- bench:end -->).
`--only` some of them keeps the other rows of bench/results.json from earlier runs.

Sizes default to the issue's; `--scale 0.1` runs everything ten times smaller (figures are
then not comparable with the targets' sizes, the table says which sizes ran).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Result, backends, pg_reachable
from core.clock import FixedClock

BENCHES = ("dialogs", "e2e", "alerts", "catalog", "memory", "contention", "newyear", "processes")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", choices=BENCHES, default=list(BENCHES))
    p.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1)")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--seconds", type=float, default=15.0, help="each delivery run (default 15)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    p.add_argument("--readme", default=str(ROOT / "README.md"), help="'' to leave README alone")
    return p.parse_args(argv)


def sizes(scale: float) -> dict[str, int]:
    def n(x: int) -> int:
        return max(10, int(x * scale))
    return {"updates": n(20_000), "parents": n(2_000), "journeys": n(200), "subscribers": n(100_000),
            "new_programs": max(5, int(50 * min(scale * 10, 1))), "programs": n(100_000),
            "searches": n(1_000), "stored_parents": n(100_000), "operations": n(1_000),
            "new_year_certificates": n(100_000), "process_parents": n(60), "process_subscribers": n(1_200)}


async def main(args: argparse.Namespace) -> list[Result]:
    s = sizes(args.scale)
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    want_pg = not args.no_postgres
    results: list[Result] = []

    def say(text: str) -> None:
        print(text, flush=True)

    for name in args.only:
        if name == "memory" and "e2e" in args.only:
            continue  # measured during the e2e run (same process)
        started = time.perf_counter()
        say(f"== {name}")
        if name in ("e2e", "memory"):
            from bench import endtoend
            with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
                found = await endtoend.run(Path(tmp), s["stored_parents"], s["journeys"], log=say)
            results += found if name == "e2e" or "e2e" in args.only else \
                [r for r in found if r.figure.startswith("memory")]
        elif name == "processes":
            from bench import processes
            with tempfile.TemporaryDirectory(prefix="bench-processes-") as tmp:
                results += await processes.run(Path(tmp), s["process_parents"], s["process_subscribers"],
                                               args.seconds, want_pg, log=say)
        else:
            async with backends(want_pg) as dbs:
                for backend, url in dbs:
                    if name == "dialogs":
                        from bench import dialogs
                        results += await dialogs.run(backend, url, clock, s["parents"], s["updates"], log=say)
                    elif name == "alerts":
                        from bench import alerts
                        results += await alerts.run(backend, url, clock, s["subscribers"], s["new_programs"],
                                                    args.seconds, log=say)
                    elif name == "catalog":
                        from bench import catalog
                        results += await catalog.run(backend, url, clock, s["programs"], s["searches"], log=say)
                    elif name == "contention":
                        from bench import contention
                        results += await contention.run(backend, url, clock, s["operations"], log=say)
                    elif name == "newyear":
                        from bench import newyear
                        results += await newyear.run(backend, url, clock, s["new_year_certificates"], log=say)
        say(f"   ({time.perf_counter() - started:.0f}s)")
    return results


def table(results: list[Result]) -> str:
    lines = ["| figure | backend | value | target | met |", "|---|---|---|---|---|"]
    for r in results:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.figure} | {r.backend} | {r.value:g} {r.unit} | {r.target} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
            f"load average at the end {load[0]:.1f} (the machine was shared with other work)")


def write_readme(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    section = f"{START}\n## Benchmarks\n\n{body}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def merged(earlier: list[dict[str, object]], fresh: list[Result]) -> list[Result]:
    """The earlier rows with those measured again replaced in place (same figure and backend),
    then the new ones."""
    by_key = {(r.figure, r.backend): r for r in fresh}
    kept = [by_key.pop((d["figure"], d["backend"]), None) or Result(**d) for d in earlier]  # type: ignore[arg-type]
    return kept + [r for r in fresh if (r.figure, r.backend) in by_key]


def cli(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    results = asyncio.run(main(args))
    print("\n" + table(results))
    partial = set(args.only) != set(BENCHES)
    out_path = Path(args.out)
    if partial and out_path.exists():
        results = merged(json.loads(out_path.read_text(encoding="utf-8")), results)
    out_path.write_text(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=1),
                        encoding="utf-8")
    pg = "PostgreSQL included" if not args.no_postgres and asyncio.run(pg_reachable()) else "SQLite only"
    if args.readme:
        s = sizes(args.scale)
        ran = (f"`python -m bench --only {' '.join(args.only)}` (code in `bench/`; the other rows are kept "
               f"from earlier runs in bench/results.json)" if partial else "`make bench` (code in `bench/`)")
        body = (f"{ran}, run {dt.date.today().isoformat()} in "
                f"{time.perf_counter() - started:.0f} s on {machine()}; {pg}.\n"
                f"Sizes: {', '.join(f'{k} {v}' for k, v in s.items())} (scale {args.scale:g}).\n\n"
                + table(results) + "\n")
        write_readme(Path(args.readme), body)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
