"""The SMS provider adapter. The default backend keeps SMS in the outbox, shown to staff."""
import json
import urllib.request

from flask import current_app


class SmsError(Exception):
    """The provider refused or could not be reached; the outbox retries later."""


def send(number, text):
    """Send one SMS; return True when it was only kept (no provider configured)."""
    backend = current_app.config["SMS_BACKEND"]
    if backend == "outbox":
        print(f"\n--- SMS (non envoyé : pas de fournisseur) ---\nÀ : {number}\n{text}\n--- fin ---", flush=True)
        return True
    # Any other value is the URL of an HTTP provider taking {"to", "text"} as JSON.
    body = json.dumps({"to": number, "text": text}).encode()
    req = urllib.request.Request(backend, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            if response.status >= 300:
                raise SmsError(f"Réponse {response.status} du fournisseur SMS")
    except OSError as error:
        raise SmsError(str(error)) from error
    return False
