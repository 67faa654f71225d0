"""A date as a person types it in the portal's forms: day, month and year in the three boxes of its group."""
import re


def date_group(page, legend):
    """The group of three boxes (Jour, Mois, Année) a legend names (the « * » of a required date is optional)."""
    return page.get_by_role("group", name=re.compile(r"^" + re.escape(legend) + r"( \*)?$"))


def fill_date(page, legend, day):
    """Type a date the French way: day, month and year in their boxes."""
    group = date_group(page, legend)
    for label, value in (("Jour", f"{day.day:02d}"), ("Mois", f"{day.month:02d}"), ("Année", str(day.year))):
        group.get_by_label(label, exact=True).fill(value)
