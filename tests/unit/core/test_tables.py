"""One table shape for everything the tasks print: identifier columns (ids, commits, ARNs,
names, times) are never wrapped, folded or cut, whatever the width; prose columns wrap, but
only between words, so an id inside a sentence stays whole too."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bbws_infra.core import tables

VERSION_ID = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"
ARN = "arn:aws:dynamodb:af-south-1:123456789012:table/tenants/backup/01733456789012-abcdef12"
LOCK_ID = "3f1b1e52-9d7a-4c1e-8a57-5d9f6f0b6a01"
NOTE = (f"held by ci@runner since 2026-11-22 (lock {LOCK_ID}); nobody is applying, so it is "
        "safe to release")


def _printed(renderable, width: int, terminal: bool = False) -> list[str]:
    # the project's consoles: soft_wrap, so rich never cuts a line at the console's width
    out = io.StringIO()
    Console(file=out, width=width, soft_wrap=True, highlight=False,
            force_terminal=terminal).print(renderable)
    return out.getvalue().splitlines()


def _sample() -> tables.CopyableTable:
    return tables.table(
        "state versions", [tables.Column("version id"), tables.Column("backup"),
                           tables.Column("serial", justify="right"), tables.prose("note")],
        [[VERSION_ID + " (current)", ARN, "7", NOTE], ["[red]unreadable[/red]", "-", "-", "-"]])


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_identifiers_are_never_split_whatever_the_width(width: int):
    lines = _printed(_sample(), width)
    for whole in (VERSION_ID + " (current)", ARN, LOCK_ID, "ci@runner", "2026-11-22"):
        assert any(whole in line for line in lines), "\n".join(lines)


def test_prose_wraps_between_words_to_fit_the_console_when_the_ids_leave_room():
    narrow = tables.table(None, [tables.Column("component"), tables.prose("note")],
                          [["tenants", NOTE]])
    lines = _printed(narrow, 60)
    assert max(len(line) for line in lines) <= 60
    assert sum("│" in line for line in lines) > 1  # the note took several lines
    assert any(LOCK_ID in line for line in lines)


def test_a_table_wider_than_the_console_is_as_wide_as_its_identifiers_need():
    lines = _printed(_sample(), 60)
    longest = max(len(line) for line in lines)
    assert longest > 60
    # the prose gave way first: nothing is wider than the ids and the note's longest word need
    needed = (len(VERSION_ID + " (current)") + len(ARN) + len("serial") + len(f"{LOCK_ID});")
              + 4 * 2 + 5)
    assert longest == needed


def test_markup_counts_as_the_text_it_shows():
    lines = _printed(tables.table(None, [tables.Column("result")],
                                  [["[red]FAIL[/red]"], ["[green]ok[/green]"]]), 80)
    assert max(len(line) for line in lines) == len("│ result │")
    assert any("FAIL" in line for line in lines) and not any("[red]" in line for line in lines)


def test_identifier_and_prose_are_declared_per_column():
    shaped = _sample()
    assert [c.no_wrap for c in shaped.columns] == [True, True, True, False]
    assert shaped.columns[2].justify == "right"


def test_every_prose_column_keeps_its_longest_word_when_the_console_is_narrow():
    digest = "sha256 " + "1f2e3d4c5b6a7988" * 4
    shaped = tables.table(None, ["component", "check", tables.prose("expected"),
                                 tables.prose("found"), "result"],
                          [["templates", "object receipts/receipt.html: bytes", digest,
                            "sha256 99999999 of the object written by hand", "FAIL"]])
    for width in (60, 120, 160):
        lines = _printed(shaped, width)
        assert any("1f2e3d4c5b6a7988" * 4 in line for line in lines), "\n".join(lines)
        assert any("object receipts/receipt.html: bytes" in line for line in lines)


def test_a_table_that_fits_is_laid_out_by_rich_as_usual():
    shaped = tables.table(None, ["component", tables.prose("note")], [["tenants", "all fine"]])
    assert _printed(shaped, 80) == ["┏━━━━━━━━━━━┳━━━━━━━━━━┓",
                                    "┃ component ┃ note     ┃",
                                    "┡━━━━━━━━━━━╇━━━━━━━━━━┩",
                                    "│ tenants   │ all fine │",
                                    "└───────────┴──────────┘"]
