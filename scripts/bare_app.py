"""The bare page the benchmark compares every product page with: Flask + peewee, one indexed lookup, a small template.

    DATABASE_URL=postgresql://… .venv/bin/gunicorn -w 2 'scripts.bare_app:create_app()'
"""
import os

from flask import Flask, render_template_string, request
from playhouse.db_url import connect

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Accueil</title></head>
<body><h1>Bienvenue {{ user.first_name }} {{ user.last_name }}</h1><p>{{ user.email }}</p></body></html>"""


def create_app():
    app = Flask(__name__)
    url = os.environ["DATABASE_URL"]
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+pool://" + url.split("://", 1)[1]
    database = connect(url, max_connections=32, stale_timeout=300)

    @app.before_request
    def _open():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()

    @app.route("/")
    def home():
        number = request.args.get("id", 1, type=int)
        cursor = database.execute_sql('SELECT id, email, first_name, last_name FROM "user" WHERE id = %s', (number,))
        row = cursor.fetchone() or (0, "", "", "")
        user = dict(zip(("id", "email", "first_name", "last_name"), row))
        return render_template_string(PAGE, user=user)

    return app
