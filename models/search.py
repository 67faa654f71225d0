"""Indexes for the staff's searches on PostgreSQL: a term typed anywhere in a name, an e-mail, a licence or
card number (``ILIKE '%term%'``) is found through trigram indexes (pg_trgm) instead of a scan of a million
rows. SQLite runs the same LIKE without them: its tables are small.
"""

#: (table, column) searched with ILIKE '%term%' by the back office's queues.
SEARCHED = [
    ("user", "last_name"),
    ("user", "first_name"),
    ("user", "email"),
    ("driver", "licence_number"),
    ("card", "number"),
    ("card", "last_name"),
    ("outboxmessage", "recipient"),
    ("outboxmessage", "subject"),
    ("auditlog", "action"),
    ("auditlog", "target"),
]


def install(db):
    """Create the extension and the trigram indexes when missing (PostgreSQL only)."""
    if "Postgres" not in type(db.obj).__name__:
        return
    db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in SEARCHED:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{table}_{column}_trgm" ON "{table}" USING gin ("{column}" gin_trgm_ops)')
