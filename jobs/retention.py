"""Erase what retention's time has come for (DESIGN §5, RGPD): documents, files, message texts, accounts, audit lines."""
from services import retention


def run():
    return sum(retention.run().values())
