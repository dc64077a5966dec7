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


def merged(old: list[dict], new: list[Result]) -> list[dict]:
    """A partial run (`--only`) replaces the rows it measured again, in place, and keeps the
    others: re-running one benchmark must not wipe the record of the rest."""
    fresh = {(r.figure, r.backend): r.as_dict() for r in new}
    rows = [fresh.pop((o["figure"], o["backend"]), o) for o in old]
    return rows + list(fresh.values())


def cli(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    results = asyncio.run(main(args))
    print("\n" + table(results))
    out_path = Path(args.out)
    partial = set(args.only) != set(BENCHES)
    rows = [r.as_dict() for r in results]
    if partial and out_path.exists():
        rows = merged(json.loads(out_path.read_text(encoding="utf-8")), results)
    out_path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    pg = "PostgreSQL included" if not args.no_postgres and asyncio.run(pg_reachable()) else "SQLite only"
    if args.readme:
        s = sizes(args.scale)
        took = f"{time.perf_counter() - started:.0f} s on {machine()}; {pg}"
        readme = Path(args.readme)
        header = (f"`make bench` (code in `bench/`), run {dt.date.today().isoformat()} in {took}.\n"
                  f"Sizes: {', '.join(f'{k} {v}' for k, v in s.items())} (scale {args.scale:g}).\n")
        footer = ""
        if partial:
            header, footer = _around_table(readme)
            header += (f"Re-run {dt.date.today().isoformat()} with `--only {' '.join(args.only)}` "
                       f"in {took}.\n")
        write_readme(readme, header + "\n" + table([Result(**r) for r in rows]) + "\n" + footer)
    return 0


def _around_table(readme: Path) -> tuple[str, str]:
    """The lines above and below the table in the README's benchmarks section (notes on which
    run measured which rows), kept by a partial run."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if START not in text:
        return "", ""
    body = text.split(START, 1)[1].split(END, 1)[0].split("## Benchmarks", 1)[-1].strip("\n")
    lines = body.split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("|")]
    if not rows:
        return body + "\n", ""
    above, below = lines[:rows[0]], lines[rows[-1] + 1:]
    footer = "\n".join(below).strip("\n")
    return "\n".join(above).strip("\n") + "\n", ("\n" + footer + "\n") if footer else ""


if __name__ == "__main__":
    raise SystemExit(cli())
