"""One table shape for everything the tasks print, so that what a person copies out of it is
whole: identifier columns (version ids, commits, ARNs, lock ids, addresses, names, times) are
never wrapped, folded or cut; prose columns (what was found, notes) wrap, but only between
words, so an id inside a sentence stays whole too. When the console is too narrow for that
(a pipe or CI log counts as 80 columns, or $COLUMNS), the table is wider than the console
rather than split an id: consoles printing these tables must use soft_wrap=True, which never
cuts a line at the console's width. For scripts every such task has --json."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.measure import Measurement
from rich.table import Column as RichColumn
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
        needed = self.least_width(console, options)
        yield from super().__rich_console__(
            console, options.update_width(max(options.max_width, needed)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        measured = super().__rich_measure__(console, options)
        needed = self.least_width(console, options)
        return Measurement(max(measured.minimum, needed), max(measured.maximum, needed))

    def least_width(self, console: Console, options: ConsoleOptions) -> int:
        """The narrowest this table may be without splitting an identifier or a word."""
        unbounded = options.update_width(1_000_000)  # the cells' own widths, not the console's
        widths = [_least_column_width(console, unbounded, column) + self.padding_width(index)
                  for index, column in enumerate(self.columns)]
        return sum(widths) + self._extra_width

    def padding_width(self, index: int) -> int:
        """Left and right padding of the column at index (outer edges may have none)."""
        _, right, _, left = self.padding
        if not self.pad_edge:
            left *= index > 0
            right *= index < len(self.columns) - 1
        return left + right


def _least_column_width(console: Console, options: ConsoleOptions, column: RichColumn) -> int:
    cells = [column.header, *column.cells, column.footer if column.footer else ""]
    measured = [Measurement.get(console, options, _renderable(console, cell)) for cell in cells]
    return max((m.maximum if column.no_wrap else m.minimum) for m in measured)


def _renderable(console: Console, cell: object) -> object:
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
