"""Alert staff about driver accounts waiting for analysis, and contracts waiting for their number, for more than 24 hours."""
from services import analysis


def run():
    return analysis.alert_overdue()
