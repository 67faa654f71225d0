"""Send the e-mails and SMS waiting in the outbox, with retries and back-off."""
from services import outbox


def run():
    return outbox.dispatch()
