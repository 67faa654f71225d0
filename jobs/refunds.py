"""Refund the payments confirmed for files that no longer waited for them, when the provider could not be reached."""
from services import payments


def run():
    return {"refunded": payments.refund_pending()}
