"""Prepare the queued « Télécharger mes données » requests: the ZIP stored, its link (48 h) e-mailed to its owner."""
from services import data_exports


def run():
    return data_exports.prepare_pending()
