"""The lock (requirements/*.lock) and pyproject.toml agree, and the environment the tests run in is the lock.

`./dev lock` writes the locks from pyproject.toml; these tests fail when one was edited without the other, when
a locked package needs something the lock lacks, or when the venv holds anything but the locked versions.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")
DIRECT = "tessera (pyproject.toml"  # how `./dev lock` marks a requirement that comes from pyproject itself


@dataclass
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: int = 0
    via: list[str] = field(default_factory=list)

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def read_lock(name: str) -> list[Pin]:
    pins: list[Pin] = []
    in_via = False
    for raw in (ROOT / "requirements" / name).read_text().splitlines():
        line = raw.strip()
        if match := PIN.match(raw):
            marker = match["marker"]
            pins.append(Pin(canonicalize_name(match["name"]), match["version"], Marker(marker) if marker else None))
            in_via = False
        elif line.startswith("--hash=sha256:"):
            pins[-1].hashes += 1
        elif line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                pins[-1].via.append(rest)
        elif in_via and line.startswith("#   "):
            pins[-1].via.append(line.removeprefix("#").strip())
        elif line and not line.startswith("#"):
            raise AssertionError(f"requirements/{name}: cannot read line {raw!r}")
    return pins


def active(pins: list[Pin]) -> dict[str, Pin]:
    return {p.name: p for p in pins if p.applies()}


def direct_requirements(*, dev: bool) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if dev:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]
        reqs += [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate()]


def test_every_pin_is_exact_and_hash_checked() -> None:
    for lock in ("runtime.lock", "dev.lock", "lock-tool.lock"):
        pins = read_lock(lock)
        assert pins, f"requirements/{lock} pins nothing"
        unhashed = [p.name for p in pins if p.hashes == 0]
        assert not unhashed, f"requirements/{lock}: {unhashed} have no --hash (run ./dev lock)"


def test_every_pyproject_dependency_is_locked_at_a_version_it_allows() -> None:
    for lock, dev in (("runtime.lock", False), ("dev.lock", True)):
        pins = active(read_lock(lock))
        for req in direct_requirements(dev=dev):
            pin = pins.get(canonicalize_name(req.name))
            assert pin is not None, f"{req} is in pyproject.toml but not in requirements/{lock}: run ./dev lock"
            assert req.specifier.contains(pin.version, prereleases=True), (
                f"requirements/{lock} pins {pin.name}=={pin.version}, outside pyproject.toml's {req}: run ./dev lock")


def test_the_lock_names_no_direct_dependency_that_pyproject_dropped() -> None:
    for lock, dev in (("runtime.lock", False), ("dev.lock", True)):
        wanted = {canonicalize_name(r.name) for r in direct_requirements(dev=dev)}
        claimed = {p.name for p in read_lock(lock) if any(v.startswith(DIRECT) for v in p.via)}
        assert claimed <= wanted, (
            f"requirements/{lock} still lists {sorted(claimed - wanted)} as coming from pyproject.toml: run ./dev lock")
        orphans = [p.name for p in read_lock(lock) if not p.via]
        assert not orphans, f"requirements/{lock}: {orphans} are needed by nothing"


def test_the_dev_lock_keeps_the_runtime_pins() -> None:
    dev = {(p.name, p.version, str(p.marker)) for p in read_lock("dev.lock")}
    missing = [f"{p.name}=={p.version}" for p in read_lock("runtime.lock") if (p.name, p.version, str(p.marker)) not in dev]
    assert not missing, f"requirements/dev.lock differs from runtime.lock on {missing}: run ./dev lock"


def test_the_lock_is_closed_under_the_installed_packages_requirements() -> None:
    pins = active(read_lock("dev.lock"))
    needed: list[str] = []
    for pin in pins.values():
        for text in importlib.metadata.requires(pin.name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an optional extra of that package, or another platform's requirement
            if canonicalize_name(req.name) not in pins:
                needed.append(f"{pin.name} needs {req}")
    assert not needed, f"requirements/dev.lock lacks {needed}: run ./dev lock"


def test_the_test_environment_holds_exactly_the_locked_versions() -> None:
    pins = active(read_lock("dev.lock"))
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    wrong = {n: (p.version, installed.get(n)) for n, p in pins.items() if installed.get(n) != p.version}
    assert not wrong, f"installed versions differ from requirements/dev.lock (locked, installed): {wrong}; ./dev test rebuilds"
    extra = set(installed) - set(pins) - {"tessera", "pip"}
    assert not extra, f"installed but not locked: {sorted(extra)}"
