"""The lock file installs what pyproject.toml allows: every dependency (runtime and the test
extra) is pinned in requirements.lock at a version within its declared range, so a fresh
machine gets the versions the tests ran with. Fails after a dependency is added or its range
changed without `make lock`."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]]


def pinned() -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", (ROOT / "requirements.lock").read_text(encoding="utf-8"),
                       flags=re.MULTILINE)
    return {canonicalize_name(name): version for name, version in found}


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = pinned()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pins[name]}, outside {requirement.specifier}: "
            "run `make lock`")


def test_every_declared_dependency_has_an_upper_bound():
    unbounded = [str(r) for r in declared() if not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)]
    assert unbounded == []
