"""Alert staff about driver accounts waiting for analysis, and contracts waiting for their number, for more than 24 hours."""
from services import analysis


def run():
    # The total only: the report's per-watch counts repeat it, and the run records the sum of what run() returns.
    return {"alerted": analysis.alert_overdue()["alerted"]}
