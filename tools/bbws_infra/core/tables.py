"""One table shape for everything the tasks print, so that what a person copies out of it is
whole: identifier columns (version ids, commits, ARNs, lock ids, addresses, names, times) are
never wrapped, folded or cut; prose columns (what was found, notes) wrap, but only between
words, so an id inside a sentence stays whole too. When the console is too narrow for that
(a pipe or CI log counts as 80 columns, or $COLUMNS), the table is wider than the console
rather than split an id: consoles printing these tables must use soft_wrap=True, which never
cuts a line at the console's width. For scripts every such task has --json."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from rich.console import (
    Console,
    ConsoleOptions,
    JustifyMethod,
    RenderableType,
    RenderResult,
)
from rich.measure import Measurement
from rich.table import Table


@dataclass(frozen=True)
class Column:
    """A column: an identifier unless declared prose."""

    header: str
    prose: bool = False
    justify: JustifyMethod = "left"


def prose(header: str) -> Column:
    """A free-text column: may wrap between words."""
    return Column(header, prose=True)


class CopyableTable(Table):
    """A rich Table whose no_wrap columns (the identifiers) always get their full width and
    whose other columns get at least their longest word, whatever width it is printed at."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ranges = self._content_ranges(console, options)
        frame = self._frame_width()
        if sum(most for _, most in ranges) + frame <= options.max_width:
            yield from super().__rich_console__(console, options)  # it all fits: rich's layout
            return
        widths = _shares(ranges, options.max_width - frame)
        # Rich would narrow the prose columns evenly, folding a long word; fixed widths on a
        # copy keep each at least as wide as its longest word (and leave this table as it is).
        laid_out = copy.copy(self)
        laid_out.columns = [replace(c, width=w) for c, w in zip(self.columns, widths, strict=True)]
        yield from Table.__rich_console__(laid_out, console,
                                          options.update_width(sum(widths) + frame))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        measured = super().__rich_measure__(console, options)
        needed = self.least_width(console, options)
        return Measurement(max(measured.minimum, needed), max(measured.maximum, needed))

    def least_width(self, console: Console, options: ConsoleOptions) -> int:
        """The narrowest this table may be without splitting an identifier or a word."""
        ranges = self._content_ranges(console, options)
        return sum(least for least, _ in ranges) + self._frame_width()

    def _content_ranges(self, console: Console, options: ConsoleOptions
                        ) -> list[tuple[int, int]]:
        """Per column, the least and most width of its content: an identifier's least is its
        most; prose may go down to its longest word."""
        unbounded = options.update_width(1_000_000)  # the cells' own widths, not the console's
        ranges = []
        for column in self.columns:
            measured = [Measurement.get(console, unbounded, _renderable(console, cell))
                        for cell in [column.header, *column.cells]]
            most = max(m.maximum for m in measured)
            ranges.append((most if column.no_wrap else max(m.minimum for m in measured), most))
        return ranges

    def _frame_width(self) -> int:
        """Borders and padding: everything in a row that is not content."""
        _, right, _, left = self.padding
        count = len(self.columns)
        edges = 0 if self.pad_edge else (left + right) * min(count, 1)
        return (left + right) * count - edges + self._extra_width


def _shares(ranges: list[tuple[int, int]], room: int) -> list[int]:
    """Content widths: each column its least, and the room left over shared among the columns
    that could use more, in proportion to how much more."""
    spare = max(0, room - sum(least for least, _ in ranges))
    total = sum(most - least for least, most in ranges) or 1
    return [least + min(most - least, spare * (most - least) // total) for least, most in ranges]


def _renderable(console: Console, cell: RenderableType) -> RenderableType:
    # markup such as [red]FAIL[/red] counts as the text it shows
    return console.render_str(cell) if isinstance(cell, str) else cell


def table(title: str | None, columns: Sequence[Column | str],
          rows: Iterable[Sequence[str]]) -> CopyableTable:
    """A table of identifier and prose columns (a plain string declares an identifier)."""
    shaped = CopyableTable(title=title, title_justify="left")
    for column in _declared(columns):
        if column.prose:
            shaped.add_column(column.header, justify=column.justify, overflow="fold")
        else:
            shaped.add_column(column.header, justify=column.justify, no_wrap=True,
                              overflow="ignore")
    for row in rows:
        shaped.add_row(*row)
    return shaped


def _declared(columns: Sequence[Column | str]) -> Iterator[Column]:
    for column in columns:
        yield column if isinstance(column, Column) else Column(column)
