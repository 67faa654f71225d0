"""The errors every layer shares: what the rules refuse, said in French for the person who asked."""


class Refused(Exception):
    """Something the rules refuse; ``message`` is for the user, ``field`` names the form field it belongs to."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


class TransitionError(Refused):
    """An event that the lifecycle does not allow from the current state."""


class PaymentError(Refused):
    """A payment that cannot start (no tariff) or a notification refused; the message says why."""


class UploadRefused(Refused):
    """An upload the rules refuse (empty, too big, a type not accepted)."""
