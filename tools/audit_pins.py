"""Which pins of requirements*.txt are behind the newest release on the package index (`make audit`).

Asks the index the pip of this virtualenv uses (``pip index versions``),
so it works wherever ``pip install`` does, advisory database or not. Each
pin behind is listed with the newest release of its own line (a patch
release: the safe upgrade) and the newest of all. Exits 0 whatever it finds
(a report for CI), unless ``--strict``: then 1 when a patch release is
waiting or the index could not say. For known vulnerabilities, run
pip-audit where the network allows (docs/operations/security.md).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
FILES = ("requirements.txt", "requirements-dev.txt")
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)")
_AVAILABLE = re.compile(r"^Available versions:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    file: str
    line: int


@dataclass(frozen=True)
class Finding:
    """A pin and what the index has: the newest release of its own line (major.minor) and the newest of all."""

    pin: Pin
    newest_patch: str | None
    newest: str | None
    error: str = ""

    @property
    def patch_behind(self) -> bool:
        return bool(self.newest_patch) and Version(self.newest_patch) > Version(self.pin.version)

    @property
    def behind(self) -> bool:
        return bool(self.newest) and Version(self.newest) > Version(self.pin.version)


def read_pins(paths: Iterable[Path]) -> list[Pin]:
    """Every ``name==version`` of the files (``-r`` includes are the files themselves, listed once)."""
    pins: dict[str, Pin] = {}
    for path in paths:
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = _PIN.match(text)
            if match:
                name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
                pins.setdefault(name, Pin(name, match.group(3), path.name, number))
    return list(pins.values())


def index_versions(name: str) -> list[str]:
    """The releases the index offers for ``name`` (no pre-releases), newest first; raises LookupError."""
    try:
        done = subprocess.run(  # noqa: S603 - our own pip, a package name from our own files
            [sys.executable, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LookupError("the index did not answer in 120 s") from None
    found = _AVAILABLE.search(done.stdout)
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise LookupError(last[:200])
    return [version.strip() for version in found.group(1).split(",") if version.strip()]


def compare(pin: Pin, versions: list[str]) -> Finding:
    """The newest release of the pin's own major.minor line and the newest release of all."""
    releases = []
    for text in versions:
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if not version.is_prerelease and not version.is_devrelease:
            releases.append(version)
    if not releases:
        return Finding(pin, None, None, "the index lists no release")
    pinned = Version(pin.version)
    same_line = [version for version in releases if version.release[:2] == pinned.release[:2]]
    newest_patch = str(max(same_line)) if same_line else None
    return Finding(pin, newest_patch, str(max(releases)))


def audit(pins: list[Pin], lookup: Callable[[str], list[str]] | None = None, workers: int = 4) -> list[Finding]:
    """Each pin compared with the index's releases (``lookup``: ``index_versions`` unless given)."""
    lookup = lookup or index_versions

    def one(pin: Pin) -> Finding:
        try:
            return compare(pin, lookup(pin.name))
        except LookupError as error:
            return Finding(pin, None, None, str(error))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, pins))


def report(findings: list[Finding]) -> str:
    """The findings as text: behind on a patch release first (upgrade), then behind on a newer line, then errors."""
    patch = [f for f in findings if not f.error and f.patch_behind]
    line = [f for f in findings if not f.error and not f.patch_behind and f.behind]
    errors = [f for f in findings if f.error]
    out = [f"{len(findings)} pins checked against the package index: {len(patch)} behind on a patch release, "]
    out[0] += f"{len(line)} behind on a newer release line, {len(errors)} not answered."
    if patch:
        out.append("\nPatch releases waiting (the safe upgrade; run the tests):")
        out += [f"  {f.pin.name}=={f.pin.version} -> {f.newest_patch}  ({f.pin.file}:{f.pin.line})" for f in patch]
    if line:
        out.append("\nNewer release lines (read the changelog first):")
        out += [f"  {f.pin.name}=={f.pin.version} -> {f.newest}  ({f.pin.file}:{f.pin.line})" for f in line]
    if errors:
        out.append("\nNot answered:")
        out += [f"  {f.pin.name}=={f.pin.version}: {f.error}" for f in errors]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=[ROOT / name for name in FILES])
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a patch release is waiting or the index did not answer"
    )
    args = parser.parse_args(argv)
    findings = audit(read_pins(args.files))
    print(report(findings))
    failed = any(f.error or f.patch_behind for f in findings)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
