""".ci/run, CI's entry point, fails a green run whose PostgreSQL or Redis tests were skipped
(issue 15: the several-processes path must really run in CI). `make test` is stood in for by
a script printing what pytest would, so the check itself is what runs here."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PASSED = "1234 passed in 800.00s (0:13:20)"
REDIS_SKIPPED = ("SKIPPED [1] tests/unit/test_several_processes.py:38: Redis not reachable at "
                 "redis://127.0.0.1:6379/0: Error 111 connecting")
POSTGRES_SKIPPED = "SKIPPED [3] tests/conftest.py:66: PostgreSQL not reachable at postgresql+asyncpg://…"
OTHER_SKIPPED = "SKIPPED [1] tests/unit/test_lean_aiogram.py:12: needs a newer aiogram"


def ci_run(tmp_path: Path, output: list[str], status: int = 0) -> int:
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    make = shim / "make"
    lines = "".join(f"printf '%s\\n' {subprocess.list2cmdline([line])}\n" for line in output)
    make.write_text(f"#!/usr/bin/env bash\n{lines}exit {status}\n", encoding="utf-8")
    make.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True,
                          timeout=30).returncode


@pytest.mark.parametrize("skipped", [REDIS_SKIPPED, POSTGRES_SKIPPED])
def test_a_run_whose_redis_or_postgres_tests_were_skipped_fails(tmp_path, skipped):
    assert ci_run(tmp_path, ["...s...", "short test summary info", skipped, PASSED]) == 1


def test_a_run_with_every_test_run_passes_and_other_skips_are_allowed(tmp_path):
    assert ci_run(tmp_path, ["........", PASSED]) == 0
    assert ci_run(tmp_path, ["...s....", OTHER_SKIPPED, PASSED]) == 0


def test_a_failing_run_fails_and_a_run_of_nothing_fails(tmp_path):
    assert ci_run(tmp_path, ["..F..", "1 failed, 4 passed"], status=2) == 2
    assert ci_run(tmp_path, ["no tests ran in 0.01s"]) == 1
