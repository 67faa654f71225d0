"""The password rule (DESIGN §4, OWASP ASVS 5.0 V6.2) and password hashing."""
import os
import re

from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 12
#: A passphrase this long is accepted without the character classes.
PASSPHRASE_LENGTH = 64
MAX_LENGTH = 128

RULE_TEXT = (
    "Votre mot de passe doit comporter un minimum de 12 caractères dont 1 majuscule, "
    "1 minuscule et 1 caractère spécial (par exemple : ? ! * # . – etc.)."
)

_COMMON_FILE = os.path.join(os.path.dirname(__file__), "common_passwords.txt")
_common = None


def _common_passwords():
    global _common
    if _common is None:
        with open(_COMMON_FILE, encoding="utf-8") as handle:
            _common = {line.strip().lower() for line in handle if line.strip() and not line.startswith("#")}
    return _common


def is_common(password):
    """Is this password, or its letters with digits and symbols stripped around them, a common one?"""
    lowered = password.lower()
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    common = _common_passwords()
    return lowered in common or core in common


def problems(password):
    """Return, in French, what this password lacks under the rule; an empty list means it is valid."""
    found = []
    if len(password) > MAX_LENGTH:
        return [f"Le mot de passe ne doit pas dépasser {MAX_LENGTH} caractères."]
    if len(password) < PASSPHRASE_LENGTH:
        if len(password) < MIN_LENGTH:
            found.append(f"au moins {MIN_LENGTH} caractères")
        if not any(c.isupper() for c in password):
            found.append("une majuscule")
        if not any(c.islower() for c in password):
            found.append("une minuscule")
        if not any(not c.isalnum() and not c.isspace() for c in password):
            found.append("un caractère spécial")
        if found:
            found = ["Le mot de passe doit contenir " + ", ".join(found) + "."]
    if not found and is_common(password):
        found.append("Ce mot de passe est trop courant : choisissez-en un autre.")
    return found


def hash_password(password):
    """Return the salted hash stored for a password (never the password itself)."""
    method = current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else "scrypt"
    return generate_password_hash(password, method=method)


_dummy = {}


def verify(password_hash, password):
    """Does this password match the stored hash? Without a hash (no such account, no password yet), the password
    is checked against a dummy hash of the same method all the same: the answer takes as long either way."""
    if not password_hash:
        method = current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else "scrypt"
        if method not in _dummy:
            _dummy[method] = generate_password_hash("hubpro-dummy-password", method=method)
        check_password_hash(_dummy[method], password)
        return False
    return check_password_hash(password_hash, password)
