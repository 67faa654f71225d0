"""Limits per address (Flask-Limiter): counted in memory by default, in Redis when several processes serve the site."""
from flask import current_app, render_template
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

#: Counted per client address (ProxyFix gives the visitor's own behind trusted proxies).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def forms_per_hour():
    """The limit of account creations and e-mailed links per address: FORM_RATE_LIMIT an hour."""
    return f"{current_app.config['FORM_RATE_LIMIT']} per hour"


def logins():
    """The limit of login attempts per address, whatever the accounts tried."""
    return current_app.config["LOGIN_RATE_LIMIT"]


def too_many(error):
    """Answer a visitor over a limit with a French page (429)."""
    current_app.logger.warning("Limite atteinte pour %s : %s", get_remote_address(), error.description)
    return render_template("public/too_many.html"), 429


def allow(action):
    """Count one use of a limited form (an account created, a link e-mailed) by this address; False past the limit."""
    return limiter.limiter.hit(parse(forms_per_hour()), action, get_remote_address())
