"""Warn drivers before their qualification certificate ends without a CQC request; mark the ended ones expired."""
from services import trainings


def run():
    return {"warned": trainings.warn_expiring(), "expired": trainings.expire()}
