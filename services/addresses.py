"""E-mail addresses: each one belongs to one account of the whole platform (drivers, organisations, staff)."""
from models import User
from services.errors import Refused


def check_email_free(email):
    """Refuse an address already used by any account of the platform."""
    if User.email_taken(email):
        raise Refused("Cette adresse électronique est déjà associée à un compte Hub Pro Transport.", "email")
