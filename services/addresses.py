"""E-mail addresses: each one belongs to one account of the whole platform (drivers, organisations, staff)."""
from models import User
from services.errors import Refused


def check_email_free(email, *, staff_too=False):
    """Refuse an address already used by a public account (and by a staff member, for a staff account).

    A public form never says that an address belongs to staff: the two spaces log in separately.
    """
    if User.email_taken(email, staff_too=staff_too):
        raise Refused("Cette adresse électronique est déjà associée à un compte Hub Pro Transport.", "email")
