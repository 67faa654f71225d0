"""How many files each procedure holds in each state, kept by the database itself.

The back-office home and the state badges of every queue read these counters instead of counting
millions of files. Triggers on ``dossier`` keep them in the writing transaction, whoever writes (a
transition, a bulk load, a test): on PostgreSQL once per statement, from its transition tables, the
changes of each statement applied in one ordered upsert (the counters' rows are always locked in the
same order); on SQLite once per row.
"""

POSTGRES = [
    """
    CREATE OR REPLACE FUNCTION statecount_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO statecount (procedure_id, state, count)
        SELECT procedure_id, state, count(*) FROM new_rows GROUP BY procedure_id, state ORDER BY procedure_id, state
        ON CONFLICT (procedure_id, state) DO UPDATE SET count = statecount.count + EXCLUDED.count;
      ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO statecount (procedure_id, state, count)
        SELECT procedure_id, state, -count(*) FROM old_rows GROUP BY procedure_id, state ORDER BY procedure_id, state
        ON CONFLICT (procedure_id, state) DO UPDATE SET count = statecount.count + EXCLUDED.count;
      ELSE
        -- Only the files whose state or procedure changed: other updates lock no counter.
        INSERT INTO statecount (procedure_id, state, count)
        SELECT procedure_id, state, sum(delta) FROM (
          SELECT o.procedure_id, o.state, -1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id
           WHERE o.state IS DISTINCT FROM n.state OR o.procedure_id IS DISTINCT FROM n.procedure_id
          UNION ALL
          SELECT n.procedure_id, n.state, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
           WHERE o.state IS DISTINCT FROM n.state OR o.procedure_id IS DISTINCT FROM n.procedure_id
        ) AS changes GROUP BY procedure_id, state ORDER BY procedure_id, state
        ON CONFLICT (procedure_id, state) DO UPDATE SET count = statecount.count + EXCLUDED.count;
      END IF;
      RETURN NULL;
    END $$
    """,
    "DROP TRIGGER IF EXISTS dossier_counts_insert ON dossier",
    "DROP TRIGGER IF EXISTS dossier_counts_update ON dossier",
    "DROP TRIGGER IF EXISTS dossier_counts_delete ON dossier",
    """CREATE TRIGGER dossier_counts_insert AFTER INSERT ON dossier REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION statecount_apply()""",
    """CREATE TRIGGER dossier_counts_update AFTER UPDATE ON dossier REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION statecount_apply()""",
    """CREATE TRIGGER dossier_counts_delete AFTER DELETE ON dossier REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION statecount_apply()""",
]

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS dossier_counts_insert AFTER INSERT ON dossier BEGIN
         INSERT INTO statecount (procedure_id, state, count) VALUES (NEW.procedure_id, NEW.state, 1)
         ON CONFLICT (procedure_id, state) DO UPDATE SET count = count + 1;
       END""",
    """CREATE TRIGGER IF NOT EXISTS dossier_counts_update AFTER UPDATE OF state, procedure_id ON dossier
       WHEN OLD.state IS NOT NEW.state OR OLD.procedure_id IS NOT NEW.procedure_id BEGIN
         UPDATE statecount SET count = count - 1 WHERE procedure_id = OLD.procedure_id AND state = OLD.state;
         INSERT INTO statecount (procedure_id, state, count) VALUES (NEW.procedure_id, NEW.state, 1)
         ON CONFLICT (procedure_id, state) DO UPDATE SET count = count + 1;
       END""",
    """CREATE TRIGGER IF NOT EXISTS dossier_counts_delete AFTER DELETE ON dossier BEGIN
         UPDATE statecount SET count = count - 1 WHERE procedure_id = OLD.procedure_id AND state = OLD.state;
       END""",
]

RECOUNT = """
    INSERT INTO statecount (procedure_id, state, count)
    SELECT procedure_id, state, count(*) FROM dossier GROUP BY procedure_id, state
"""


def install(db):
    """Create the triggers (idempotent); count every file once when the counters are empty."""
    postgres = "Postgres" in type(db.obj).__name__
    with db.atomic():
        for statement in POSTGRES if postgres else SQLITE:
            db.execute_sql(statement)
        if db.execute_sql("SELECT count(*) FROM statecount").fetchone()[0] == 0:
            db.execute_sql(RECOUNT)
