"""A national-scale data set, bulk-loaded on PostgreSQL with set-based SQL (flask demo-data --scale N).

N drivers (a few with many files), about 3 N files over every procedure and state and their history
(about 10 N rows), trainings, certificates, cards, notifications, outbox rows, the centres' monthly
invoices, and the transport companies with their drivers and tachograph cards: shaped like the real
data, consistent (every foreign key holds), in minutes rather than hours. Every driver logs in with
BENCH_PASSWORD as conducteur<its user id>@exemple.fr; each organisation's administrator as admin<siret>@exemple.fr.
"""
import time

from models import Product, Tariff, db
from services import passwords

#: The password of every account of the data set (the benchmark logs in with it).
BENCH_PASSWORD = "Bench-Hub-Pro-2026!"
LAST_NAMES = ["MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
              "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
              "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LEFEVRE", "FAURE", "ANDRE"]
FIRST_NAMES = ["Paul", "Marie", "Jean", "Anne", "Pierre", "Sophie", "Luc", "Julie", "Marc", "Claire", "Louis", "Emma",
               "Hugo", "Léa", "Nicolas", "Camille", "Thomas", "Sarah", "Karim", "Inès"]

#: How a request's state is drawn: (state, share in thousandths), in the order of the draw.
STATES = [("acceptee", 780), ("envoyee", 30), ("en_instruction", 20), ("attente_complement", 10), ("refusee", 20),
          ("annulee", 60), ("brouillon", 80)]
#: The events each state went through after « create » (their number makes the history).
PATHS = {
    "brouillon": [], "annulee": ["cancel"], "envoyee": ["submit"], "en_instruction": ["submit", "take"],
    "attente_complement": ["submit", "take", "ask_info"], "refusee": ["submit", "take", "reject"],
    "acceptee": ["submit", "take", "accept"],
}
TARGETS = {"create": "brouillon", "cancel": "annulee", "submit": "envoyee", "take": "en_instruction",
           "ask_info": "attente_complement", "reject": "refusee", "accept": "acceptee"}


class DatasetError(Exception):
    """The data set cannot be loaded here (the message says why, in French)."""


def _sql_array(values):
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _state_case(column):
    """A CASE drawing a request state from a number 0..999 in `column`, per STATES."""
    parts, bound = [], 0
    for state, share in STATES:
        bound += share
        parts.append(f"WHEN {column} < {bound} THEN '{state}'")
    return "CASE " + " ".join(parts) + " ELSE 'acceptee' END"


def statements(scale, password_hash):
    """Return (label, SQL) of the load, in order; ids continue from what the database holds."""
    n = int(scale)
    centres = max(20, n // 2000)
    companies = max(20, n // 500)
    last, first = _sql_array(LAST_NAMES), _sql_array(FIRST_NAMES)
    draw = _state_case("f.draw")
    return [
        ("base", """
            CREATE TEMP TABLE base AS SELECT
              (SELECT COALESCE(MAX(id), 0) FROM "user") AS u0, (SELECT COALESCE(MAX(id), 0) FROM organisation) AS o0,
              (SELECT COALESCE(MAX(id), 0) FROM dossier) AS d0, (SELECT COALESCE(MAX(id), 0) FROM training) AS t0,
              (SELECT COALESCE(MAX(id), 0) FROM card) AS c0, (SELECT COALESCE(MAX(number), 0) FROM invoice) AS i0,
              (SELECT COALESCE(MAX(id), 0) FROM invoice) AS iv0, (SELECT COALESCE(MAX(id), 0) FROM companydriver) AS k0
        """),
        ("organisations", f"""
            INSERT INTO organisation (id, kind, siret, name, created_at)
            SELECT b.o0 + g, CASE WHEN g <= {centres} THEN 'centre' ELSE 'entreprise' END,
                   '8' || lpad((b.o0 + g)::text, 13, '0'),
                   CASE WHEN g <= {centres} THEN 'CENTRE DE FORMATION ' ELSE 'TRANSPORTS ' END || g,
                   now() - interval '3 years'
            FROM base b, generate_series(1, {centres + companies}) g
        """),
        ("organisation administrators", f"""
            INSERT INTO "user" (id, email, password_hash, role, organisation_id, last_name, first_name, function, phone,
                                created_at, deleted_email, session_key)
            SELECT b.u0 + {n} + g, 'admin' || o.siret || '@exemple.fr', '{password_hash}', 'org_admin', o.id,
                   ({last})[1 + g % 30], ({first})[1 + g % 20], 'Directeur', '0320000000', o.created_at, '',
                   md5(random()::text || g::text)
            FROM base b, generate_series(1, {centres + companies}) g JOIN organisation o ON o.id = (SELECT o0 FROM base) + g
        """),
        ("drivers", f"""
            INSERT INTO "user" (id, email, password_hash, role, last_name, first_name, function, phone, created_at,
                                deleted_email, session_key)
            SELECT b.u0 + g, 'conducteur' || (b.u0 + g) || '@exemple.fr', '{password_hash}', 'driver',
                   ({last})[1 + g % 30], ({first})[1 + (g / 30) % 20], '', '',
                   now() - (g % 1800) * interval '1 day', '', md5(random()::text || g::text)
            FROM base b, generate_series(1, {n}) g
        """),
        ("driver identities", f"""
            INSERT INTO driver (user_id, birth_date, birth_place, birth_country, licence_number, mobile, address,
                                address_extra, postal_code, city)
            SELECT b.u0 + g, date '1960-01-01' + (g * 37 % 15000), 'Lille', 'France', lpad((b.u0 + g)::text, 12, '0'),
                   '+3361' || lpad((g % 10000000)::text, 7, '0'), g || ' rue des Lilas', '', '59000', 'Lille'
            FROM base b, generate_series(1, {n}) g
        """),
        ("files to create", f"""
            CREATE TEMP TABLE files AS
            SELECT row_number() OVER (ORDER BY g, j) + (SELECT d0 FROM base) AS id, (SELECT u0 FROM base) + g AS user_id,
                   g, j, CASE WHEN j = 0 THEN 'COMPTE_PARTICULIER'
                              WHEN j = k.m AND k.m > 1 AND g % 10 = 0
                                   THEN (ARRAY['CQC_PERTE', 'CQC_VOL', 'CQC_QUALITE'])[1 + g / 10 % 3]
                              ELSE 'CQC' END AS code,
                   (g::bigint * 7919 + j * 104729) % 1000 AS draw,
                   now() - ((g + j * 97) % 1500) * interval '1 day' - (g % 86400) * interval '1 second' AS opened
            FROM generate_series(1, {n}) g
            -- 1 account file and 1 to 3 requests per driver; one in 20,000 drivers has 40.
            CROSS JOIN LATERAL (SELECT CASE WHEN g % 20000 = 0 THEN 40
                                            ELSE 1 + (g % 2 = 0)::int + (g % 3 = 0)::int END AS m) k
            CROSS JOIN LATERAL generate_series(0, k.m) j
        """),
        ("files", f"""
            INSERT INTO dossier (id, procedure_id, user_id, state, created_at, submitted_at, updated_at, price_ht, vat_rate,
                                 decided_at)
            SELECT f.id, p.id, f.user_id,
                   CASE WHEN f.code = 'COMPTE_PARTICULIER'
                        THEN CASE WHEN f.draw < 3 THEN 'en_analyse' WHEN f.draw < 4 THEN 'a_corriger' ELSE 'active' END
                        ELSE {draw} END,
                   f.opened, f.opened + interval '1 hour', f.opened + interval '2 days',
                   CASE WHEN f.code = 'COMPTE_PARTICULIER' THEN NULL ELSE 28.24 END,
                   CASE WHEN f.code = 'COMPTE_PARTICULIER' THEN NULL ELSE 20 END,
                   -- Decided when its history says: an account analysed 5 hours after opening, a request 15 hours.
                   CASE WHEN f.code = 'COMPTE_PARTICULIER'
                        THEN CASE WHEN f.draw >= 3 THEN f.opened + interval '5 hours' END
                        WHEN ({draw}) IN ('acceptee', 'refusee') THEN f.opened + interval '15 hours' END
            FROM files f JOIN procedure p ON p.code = f.code
        """),
        ("trainings", f"""
            INSERT INTO training (id, centre_id, kind, category, start_date, end_date, last_name, first_name, birth_date,
                                  licence_number, user_id, created_at)
            SELECT (SELECT t0 FROM base) + row_number() OVER (ORDER BY f.id), (SELECT o0 FROM base) + 1 + f.g % {centres},
                   (ARRAY['FIMO', 'FCO', 'Passerelle'])[1 + f.j % 3], (ARRAY['Marchandises', 'Voyageurs'])[1 + f.g % 2],
                   f.opened::date - 40, f.opened::date - 5, u.last_name, u.first_name, d.birth_date, d.licence_number, f.user_id,
                   f.opened - interval '4 days'
            FROM files f JOIN "user" u ON u.id = f.user_id JOIN driver d ON d.user_id = f.user_id
            WHERE f.code = 'CQC'
        """),
        ("certificates", """
            INSERT INTO certificate (training_id, user_id, issued_on, expires_on, warned_at, expired_at)
            SELECT t.id, t.user_id, t.end_date, t.end_date + 120, NULL,
                   CASE WHEN t.end_date + 120 < current_date THEN now() END
            FROM training t WHERE t.id > (SELECT t0 FROM base)
        """),
        ("CQC requests", """
            INSERT INTO cqcrequest (dossier_id, training_id, step, identity_confirmed, delivery_name, delivery_address,
                                    delivery_address_extra, delivery_postal_code, delivery_city)
            SELECT q.id, q.training_id, 'recapitulatif', true, t.first_name || ' ' || t.last_name,
                   q.g || ' rue des Lilas', '', '59000', 'Lille'
            FROM (SELECT f.id, f.g, (SELECT t0 FROM base) + row_number() OVER (ORDER BY f.id) AS training_id
                  FROM files f WHERE f.code = 'CQC') q
            JOIN training t ON t.id = q.training_id
        """),
        ("cards", """
            INSERT INTO card (id, kind, user_id, dossier_id, number, category, state, last_name, first_name, birth_date,
                              birth_place, licence_number, issued_on, expires_on, delivery_lines, created_at)
            SELECT (SELECT c0 FROM base) + row_number() OVER (ORDER BY d.id), 'cqc', d.user_id, d.id,
                   'B' || lpad(d.id::text, 10, '0'), t.category,
                   CASE WHEN d.id % 1000 = 1 THEN 'pnd' WHEN d.id % 50 = 2 THEN 'expediee' WHEN d.id % 40 = 3 THEN 'livree'
                        WHEN d.id % 97 = 4 THEN 'en_fabrication' ELSE 'activee' END,
                   t.last_name, t.first_name, t.birth_date, 'Lille', t.licence_number, d.updated_at::date,
                   d.updated_at::date + 1826, t.first_name || ' ' || t.last_name || E'\\n' || 'Lille', d.updated_at
            FROM dossier d JOIN cqcrequest r ON r.dossier_id = d.id JOIN training t ON t.id = r.training_id
            WHERE d.id > (SELECT d0 FROM base) AND d.state = 'acceptee'
        """),
        ("replacements", """
            INSERT INTO replacement (dossier_id, card_id, reason, step, commitment, circumstances, defects, delivery_name,
                                     delivery_address, delivery_address_extra, delivery_postal_code, delivery_city,
                                     billing_name, billing_address, billing_postal_code, billing_city, fault)
            SELECT f.id, c.id, CASE f.code WHEN 'CQC_PERTE' THEN 'perte' WHEN 'CQC_VOL' THEN 'vol' ELSE 'qualite' END,
                   'recapitulatif', true, '', '', '', '', '', '', '', '', '', '', '', ''
            FROM files f JOIN LATERAL (SELECT id FROM card WHERE card.user_id = f.user_id ORDER BY id LIMIT 1) c ON true
            WHERE f.code IN ('CQC_PERTE', 'CQC_VOL', 'CQC_QUALITE')
        """),
        ("files without their data", """
            DELETE FROM dossier d USING files f
            WHERE d.id = f.id AND f.code IN ('CQC_PERTE', 'CQC_VOL', 'CQC_QUALITE')
              AND NOT EXISTS (SELECT 1 FROM replacement r WHERE r.dossier_id = d.id)
        """),
        ("history of files", f"""
            INSERT INTO dossierevent (dossier_id, event, from_state, to_state, comment, user_id, at)
            SELECT d.id, e.event, e.from_state, e.to_state, '', d.user_id, d.created_at + e.step * interval '5 hours'
            FROM dossier d JOIN procedure p ON p.id = d.procedure_id
            CROSS JOIN LATERAL (
              SELECT 0 AS step, 'create' AS event, '' AS from_state,
                     CASE WHEN p.code = 'COMPTE_PARTICULIER' THEN 'en_analyse' ELSE 'brouillon' END AS to_state
              UNION ALL
              SELECT s.n, s.event, s.from_state, s.to_state FROM (VALUES {_path_values()}) s(state, n, event, from_state, to_state)
              WHERE s.state = d.state AND p.code <> 'COMPTE_PARTICULIER'
              UNION ALL
              SELECT 1, 'accept', 'en_analyse', 'conforme' WHERE p.code = 'COMPTE_PARTICULIER' AND d.state = 'active'
              UNION ALL
              SELECT 2, 'activate', 'conforme', 'active' WHERE p.code = 'COMPTE_PARTICULIER' AND d.state = 'active'
            ) e
            WHERE d.id > (SELECT d0 FROM base)
        """),
        ("history of cards", """
            INSERT INTO cardevent (card_id, event, from_state, to_state, comment, at)
            SELECT c.id, e.event, e.from_state, e.to_state, '', c.created_at + e.step * interval '2 days'
            FROM card c CROSS JOIN LATERAL (VALUES
              (0, 'order', '', 'en_fabrication', 0), (1, 'ship', 'en_fabrication', 'expediee', 1),
              (2, 'deliver', 'expediee', 'livree', 2), (3, 'activate', 'livree', 'activee', 3),
              (2, 'return', 'expediee', 'pnd', 9)) e(step, event, from_state, to_state, rank)
            WHERE c.id > (SELECT c0 FROM base) AND (
              (c.state = 'en_fabrication' AND e.rank = 0) OR (c.state = 'expediee' AND e.rank <= 1)
              OR (c.state = 'livree' AND e.rank <= 2) OR (c.state = 'activee' AND e.rank <= 3)
              OR (c.state = 'pnd' AND (e.rank <= 1 OR e.rank = 9)))
        """),
        ("notifications", f"""
            INSERT INTO notification (user_id, message, link, created_at, read_at)
            SELECT b.u0 + g, 'Votre carte a été expédiée.', '/mes-cartes/', now() - (g % 400) * interval '1 day',
                   CASE WHEN g % 4 = 0 THEN NULL ELSE now() END
            FROM base b, generate_series(1, {n}) g
        """),
        ("outbox", f"""
            INSERT INTO outboxmessage (channel, recipient, subject, body_text, body_html, attachments, status, attempts,
                                       next_attempt_at, last_error, created_at, sent_at)
            SELECT 'email', 'conducteur' || g || '@exemple.fr', 'Votre carte est expédiée', 'Bonjour,', '', '[]',
                   'sent', 1, now(), '', now() - (g % 400) * interval '1 day', now() - (g % 400) * interval '1 day'
            FROM generate_series(1, {n}) g
        """),
        ("monthly invoices", """
            CREATE TEMP TABLE monthly AS
            SELECT row_number() OVER (ORDER BY period, centre_id) AS n, centre_id, period, cards
            FROM (SELECT t.centre_id, date_trunc('month', c.issued_on)::date AS period, count(*) AS cards
                  FROM card c JOIN cqcrequest r ON r.dossier_id = c.dossier_id JOIN training t ON t.id = r.training_id
                  WHERE c.id > (SELECT c0 FROM base) AND c.issued_on < date_trunc('month', current_date)
                  GROUP BY 1, 2) per_month;
            INSERT INTO invoice (id, number, kind, issued_at, due_on, organisation_id, buyer_name, buyer_address, total_ht,
                                 total_vat, total_ttc, pdf_sha256, period)
            SELECT (SELECT iv0 FROM base) + m.n, (SELECT i0 FROM base) + m.n, 'invoice',
                   (m.period + interval '1 month')::timestamp + interval '3 hours', (m.period + interval '1 month 30 days')::date,
                   m.centre_id, o.name, 'SIRET ' || o.siret, m.cards * 28.24, round(m.cards * 28.24 * 0.2, 2),
                   m.cards * 28.24 + round(m.cards * 28.24 * 0.2, 2), 'bench', m.period
            FROM monthly m JOIN organisation o ON o.id = m.centre_id;
            INSERT INTO invoiceline (invoice_id, description, quantity, unit_ht, vat_rate, total_ht)
            SELECT (SELECT iv0 FROM base) + m.n, 'CQC n° ' || c.number || ' – ' || c.last_name || ' ' || c.first_name,
                   1, 28.24, 20, 28.24
            FROM card c JOIN cqcrequest r ON r.dossier_id = c.dossier_id JOIN training t ON t.id = r.training_id
            JOIN monthly m ON m.centre_id = t.centre_id AND m.period = date_trunc('month', c.issued_on)::date
            WHERE c.id > (SELECT c0 FROM base);
            UPDATE invoicesequence SET last_number = (SELECT COALESCE(MAX(number), 0) FROM invoice) WHERE id = 1
        """),
        ("company drivers", f"""
            INSERT INTO companydriver (id, organisation_id, last_name, first_name, birth_date, birth_place, licence_number,
                                       address, address_extra, postal_code, city, email, created_at)
            SELECT (SELECT k0 FROM base) + row_number() OVER (ORDER BY o.id, g), o.id, ({last})[1 + g % 30],
                   ({first})[1 + g % 20], date '1970-01-01' + (o.id * 31 + g * 17) % 12000, 'Lens',
                   lpad((o.id % 100)::text, 2, '0') || 'TK' || lpad(g::text, 5, '0'),
                   g || ' rue du Port', '', '62300', 'Lens', '', now()
            FROM organisation o CROSS JOIN generate_series(1, 20) g
            WHERE o.kind = 'entreprise' AND o.id > (SELECT o0 FROM base)
        """),
        ("audit log", f"""
            INSERT INTO auditlog (at, user_id, action, target, detail, ip, request_id, actor_ref, prev_hash, row_hash)
            SELECT now() - (g % 400) * interval '1 day', b.u0 + g, 'Connexion', 'conducteur' || g || '@exemple.fr', '',
                   '192.0.2.' || (g % 250), '', 'u' || (b.u0 + g), '', ''
            FROM base b, generate_series(1, {n // 2}) g
        """),
        # The loaded lines stand outside the hash chain (services/audit_chain): it starts after them.
        ("audit chain", """
            UPDATE auditchain SET anchor_id = loaded.last, last_id = loaded.last, anchor_hash = last_hash
            FROM (SELECT MAX(id) AS last FROM auditlog) loaded
        """),
        ("identifier sequences", ";\n".join(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT COALESCE(MAX(id), 1) FROM \"{table}\"))"
            for table in ("organisation", "user", "driver", "dossier", "dossierevent", "training", "certificate",
                          "cqcrequest", "card", "cardevent", "replacement", "notification", "outboxmessage", "invoice",
                          "invoiceline", "companydriver", "auditlog")
        )),
    ]


def _path_values():
    rows = []
    for state, events in PATHS.items():
        previous = "brouillon"
        for step, event in enumerate(events, start=1):
            rows.append(f"('{state}', {step}, '{event}', '{previous}', '{TARGETS[event]}')")
            previous = TARGETS[event]
    return ", ".join(rows)


def load(scale, echo=print):
    """Bulk-load the data set (PostgreSQL only); echo each part and its time; return the seconds taken."""
    if "Postgres" not in type(db.obj).__name__:
        raise DatasetError("Le jeu de données national se charge sur PostgreSQL (DATABASE_URL=postgresql://…).")
    if int(scale) < 100:
        raise DatasetError("L'échelle est un nombre de conducteurs, au moins 100.")
    for product, amount in ((Product.CQC, "28.24"), (Product.CQC_REMPLACEMENT, "28.24"), (Product.REEXPEDITION, "6.50"),
                            (Product.TACHY_CONDUCTEUR, "59.00"), (Product.TACHY_ENTREPRISE, "59.00")):
        if not Tariff.select().where(Tariff.product == product).exists():
            Tariff.create(product=product, amount_ht=amount, vat_rate=20, start_date="2023-09-01")
    password_hash = passwords.hash_password(BENCH_PASSWORD)
    started = time.monotonic()
    with db.atomic():
        db.execute_sql("SET LOCAL synchronous_commit = off")
        for label, sql in statements(scale, password_hash):
            at = time.monotonic()
            for statement in (part for part in sql.split(";\n") if part.strip()):
                db.execute_sql(statement.replace("%", "%%"))  # a modulo, not a placeholder
            echo(f"{label:32} {time.monotonic() - at:7.1f} s")
        for table in ("base", "files", "monthly"):
            db.execute_sql(f"DROP TABLE {table}")
    # Outside the transaction: the visibility map lets counts read the indexes alone; the planner gets statistics.
    at = time.monotonic()
    db.execute_sql("VACUUM ANALYZE")
    echo(f"{'vacuum and statistics':32} {time.monotonic() - at:7.1f} s")
    return time.monotonic() - started
