"""The benchmarks (bench/, `make bench`) still run: every one of them at a tiny size, SQLite only
(the several processes' benchmark, which needs PostgreSQL and Redis, at a tiny size on its own)."""
from __future__ import annotations

import json

import pytest

from bench.__main__ import BENCHES, cli, merged, write_readme
from bench.common import Result

pytestmark = pytest.mark.e2e  # starts the real bot process (benchmarks 2 and 5)


def test_every_benchmark_runs_at_a_tiny_size_and_reports_its_figures(tmp_path):
    """All but the new year's, which has a test of its own below (at a size that takes
    20 s rather than 27 here: the suite must stay under 15 minutes)."""
    out = tmp_path / "results.json"
    others = [name for name in BENCHES if name != "newyear"]
    assert cli(["--only", *others, "--scale", "0.005", "--no-postgres", "--seconds", "1", "--readme", "",
                "--out", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    figures = {r["figure"] for r in results}
    assert {"dialogs time / echo time", "e2e: reply latency p99", "alerts: matching + outbox",
            "catalog search p95", "contention: certificates overdrawn or unbalanced"} <= figures
    assert any(f.startswith("memory: RSS") for f in figures)
    assert all(r["backend"] == "sqlite" for r in results)
    overdrawn = next(r for r in results if r["figure"] == "contention: certificates overdrawn or unbalanced")
    assert overdrawn["value"] == 0
    # The dialog journeys reach the money: most parents enroll, and some cancel (their
    # journeys once fell back to /start at the first card that did not fit).
    enrolled = next(r for r in results if r["figure"] == "dialogs: enrollments made (of them cancelled)")
    parents = 10   # the smallest size, as at this scale
    assert enrolled["value"] >= parents // 2 and enrolled["unit"] != "(0)"
    assert len(BENCHES) == 8


def test_the_new_year_benchmark_rolls_every_certificate_over_while_parents_chat(tmp_path):
    out = tmp_path / "results.json"
    assert cli(["--only", "newyear", "--scale", "0.001", "--no-postgres", "--readme", "", "--out", str(out)]) == 0
    found = {r["figure"]: r for r in json.loads(out.read_text(encoding="utf-8"))}
    assert found["new year: certificates rolled"]["value"] == 100 and found["new year: certificates rolled"]["met"]
    assert found["new year: replies failed"]["value"] == 0
    assert found["new year: replies failed"]["unit"] != "of 0"          # the parents did chat meanwhile
    for figure in ("new year: rollover time", "new year: longest event-loop pause",
                   "new year: reply p99 while rolling over"):
        assert found[figure]["value"] > 0


def test_the_readme_section_is_replaced_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Bot\n\nintro\n", encoding="utf-8")
    write_readme(readme, "first")
    write_readme(readme, "second")
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Bot\n\nintro\n")
    assert text.count("## Benchmarks") == 1 and "second" in text and "first" not in text


def test_a_partial_run_replaces_only_the_rows_it_measured_again():
    from bench.__main__ import merged
    from bench.common import Result
    old = [Result("catalog search p95", 3.3, "ms", "sqlite", "<= 10 ms", True).as_dict(),
           Result("alerts: matching + outbox", 0.98, "s", "sqlite", "<= 3 s", True).as_dict()]
    rows = merged(old, [Result("catalog search p95", 4.9, "ms", "sqlite", "<= 10 ms", True),
                        Result("catalog search p95", 4.6, "ms", "postgresql", "<= 10 ms", True)])
    assert [(r["figure"], r["backend"], r["value"]) for r in rows] == [
        ("catalog search p95", "sqlite", 4.9), ("alerts: matching + outbox", "sqlite", 0.98),
        ("catalog search p95", "postgresql", 4.6)]


@pytest.mark.redis
def test_the_processes_benchmark_compares_one_process_with_two_and_paces_the_alerts(tmp_path):
    import asyncio

    from bench.common import pg_reachable
    from bench.processes import redis_reachable

    if not asyncio.run(pg_reachable()) or not asyncio.run(redis_reachable()):
        pytest.skip("the processes benchmark needs PostgreSQL and Redis")
    out = tmp_path / "results.json"
    assert cli(["--only", "processes", "--scale", "0.005", "--seconds", "1", "--readme", "",
                "--out", str(out)]) == 0
    found = {(r["figure"], r["backend"]): r for r in json.loads(out.read_text(encoding="utf-8"))}
    for backend in ("postgresql+redis", "postgresql"):
        for count in ("1 process", "2 processes"):
            assert found[(f"processes: updates/s, {count}", backend)]["value"] > 0
            assert found[(f"processes: reply latency p99, {count}", backend)]["value"] > 0
        assert found[("processes: updates/s, 2 processes / 1", backend)]["value"] > 0
    assert found[("processes: updates unanswered", "postgresql")]["value"] == 0
    assert found[("processes: Telegram sends in the busiest second, 2 processes", "postgresql+redis")]["met"]
    assert found[("processes: 429 answers to the alerts", "postgresql+redis")]["value"] == 0
    assert found[("processes: alerts delivered, 2 processes, server enforcing 30/s", "postgresql+redis")]["value"] > 0


def test_a_partial_run_keeps_the_notes_above_and_below_the_table(tmp_path):
    from bench.__main__ import _around_table
    readme = tmp_path / "README.md"
    write_readme(readme, "run once.\nSizes: small.\n\n| figure | backend |\n|---|---|\n| a | sqlite |\n\n"
                         "The a rows: measured apart.\n")
    header, footer = _around_table(readme)
    assert header == "run once.\nSizes: small.\n"
    assert footer == "\nThe a rows: measured apart.\n"
