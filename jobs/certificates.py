"""Make the training PDFs left to make; warn drivers before their certificate ends without a CQC request; expire.

The PDFs left to make are those wkhtmltopdf could not make when the training was attached.
"""
from services import trainings


def run():
    return {"published": trainings.publish_pending(), "warned": trainings.warn_expiring(), "expired": trainings.expire()}
