"""E-mail the audit log's last hash of the day before to AUDIT_HASH_RECIPIENT, once a day (a copy outside the database)."""
from services import audit_chain


def run():
    return audit_chain.publish_daily_hash()
