"""Remind drivers of unanswered information requests; warn about, then erase, abandoned drafts."""
from services import followups


def run():
    return {"reminded": followups.remind_unanswered(), **followups.sweep_drafts()}
