"""Tell each subscription's « Notifications » address of the new files of its procedure."""
from services import analysis


def run():
    return analysis.tell_subscriptions()
