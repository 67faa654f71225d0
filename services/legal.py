"""The terms the portal publishes (CGU, CGV, privacy policy): the version in force, recorded with each consent."""
import datetime as dt
from typing import NamedTuple


class Version(NamedTuple):
    """A dated version of a document: « 1.0 du 30/11/2026 »."""

    number: str
    dated: dt.date

    def __str__(self):
        return f"{self.number} du {self.dated:%d/%m/%Y}"


#: The versions in force. A changed text takes a new number and date here; each consent keeps the one it accepted.
CGU = Version("1.0", dt.date(2026, 11, 30))
CGV = Version("1.0", dt.date(2026, 11, 30))
RGPD = Version("1.0", dt.date(2026, 11, 30))
#: The accessibility statement's date (RGAA: it is dated, and redone after each audit).
ACCESSIBILITY_STATEMENT = dt.date(2026, 11, 30)

#: The document each consent box accepts, by the box's code (an attestation such as « exactitude » accepts none).
VERSIONS = {"cgu": CGU, "cgv": CGV, "rgpd": RGPD}

#: Where people write to IN Groupe about the portal, and about their personal data.
CONTACT_EMAIL = "contact-hubprotransport@ingroupe.com"
DPO_EMAIL = "dpo@ingroupe.com"


def version_of(code):
    """Return the version a consent box of this code accepts today, as recorded (« 1.0 du 30/11/2026 »), or None."""
    version = VERSIONS.get(code)
    return str(version) if version else None
