"""`make audit`: every pin of the requirements files compared with what the package index offers."""

from __future__ import annotations

from tools import audit_pins
from tools.audit_pins import Pin, audit, read_pins, report

INDEX = {  # what a fake index offers: the tests never ask the real one
    "django": ["5.2.21", "5.2.20", "5.2.19", "5.1.9", "6.0a1"],
    "psycopg": ["3.3.9", "3.2.1"],
    "ruff": ["0.18.0", "0.17.9", "0.17.5"],
}


def lookup(name: str) -> list[str]:
    if name not in INDEX:
        raise LookupError("No matching distribution found")
    return INDEX[name]


def test_the_pins_of_both_files_are_read_with_their_extras_and_includes(tmp_path):
    (tmp_path / "requirements.txt").write_text("# runtime\nDjango==5.2.19\npsycopg[binary]==3.3.9  # the driver\n")
    (tmp_path / "requirements-dev.txt").write_text("-r requirements.txt\nruff==0.17.5\nDjango==5.2.19\n")

    pins = read_pins([tmp_path / "requirements.txt", tmp_path / "requirements-dev.txt"])

    assert [(pin.name, pin.version, pin.file, pin.line) for pin in pins] == [
        ("django", "5.2.19", "requirements.txt", 2),
        ("psycopg", "3.3.9", "requirements.txt", 3),
        ("ruff", "0.17.5", "requirements-dev.txt", 2),
    ]


def test_the_report_puts_patch_releases_first_then_newer_lines_then_what_the_index_did_not_answer():
    pins = [Pin("django", "5.2.19", "requirements.txt", 2), Pin("psycopg", "3.3.9", "requirements.txt", 3)]
    pins += [Pin("ruff", "0.17.5", "requirements-dev.txt", 2), Pin("gone", "1.0", "requirements-dev.txt", 3)]

    text = report(audit(pins, lookup=lookup))

    assert text.splitlines()[0] == (
        "4 pins checked against the package index: 2 behind on a patch release, "
        "0 behind on a newer release line, 1 not answered."
    )
    assert "  django==5.2.19 -> 5.2.21  (requirements.txt:2)" in text  # not the 6.0 pre-release
    assert "  ruff==0.17.5 -> 0.17.9  (requirements-dev.txt:2)" in text
    assert "psycopg" not in text  # current
    assert "  gone==1.0: No matching distribution found" in text


def test_it_reports_without_failing_unless_strict(monkeypatch, tmp_path, capsys):
    (tmp_path / "requirements.txt").write_text("ruff==0.17.5\n")
    monkeypatch.setattr(audit_pins, "index_versions", lookup)

    assert audit_pins.main([str(tmp_path / "requirements.txt")]) == 0
    assert "ruff==0.17.5 -> 0.17.9" in capsys.readouterr().out
    assert audit_pins.main(["--strict", str(tmp_path / "requirements.txt")]) == 1
