"""The page numbers of the holder's lists (« Mes notifications », « Mes demandes », « Mes factures », « Mes cartes »)."""
from dataclasses import dataclass

from public_forms import requested_page

#: Rows a holder's list shows per page.
PAGE_SIZE = 20


@dataclass(frozen=True)
class Page:
    """Which page of a list is shown: its number, from 1 to the last (1 for an empty list), and the rows it skips."""

    number: int
    count: int
    size: int
    total: int

    @property
    def offset(self):
        return (self.number - 1) * self.size

    @property
    def has_previous(self):
        return self.number > 1

    @property
    def has_next(self):
        return self.number < self.count


def page_of(total, size=PAGE_SIZE, number=None):
    """Return the page the address asks for (or this number) among `total` rows, brought between the first and the
    last page."""
    count = max(1, -(-total // size))
    return Page(number=min(number or requested_page(), count), count=count, size=size, total=total)


def listed(rows_at, count, size=PAGE_SIZE):
    """Return (page, rows) of a list whose query is models.with_total(…): ``rows_at(limit, offset)`` reads a page, ``count()``
    counts the list. The page asked for brings its own total; only an address past the last page (a link kept from
    a longer list) costs a count and the last page's read."""
    number = requested_page()
    rows = rows_at(size, (number - 1) * size)
    total = rows[0].listed_total if rows else (count() if number > 1 else 0)
    page = page_of(total, size, number)
    if not rows and total:
        rows = rows_at(page.size, page.offset)
    return page, rows
