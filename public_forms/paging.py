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


def page_of(total, size=PAGE_SIZE):
    """Return the page the address asks for among `total` rows, brought between the first and the last page."""
    count = max(1, -(-total // size))
    return Page(number=min(requested_page(), count), count=count, size=size, total=total)
