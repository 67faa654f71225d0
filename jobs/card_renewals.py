"""Remind organisations of their tachograph cards expiring within 3 months, and offer the renewal."""
from services import cards


def run():
    return {"reminded": cards.remind_renewals()}
