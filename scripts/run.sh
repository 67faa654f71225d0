#!/usr/bin/env bash
# Set up and run Hub Pro Transport on its embedded default: SQLite, local files,
# e-mails kept in the outbox (shown in the back office and printed here).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export FLASK_APP=app.py
# The demo runs in development: production refuses the demo accounts and the default secrets.
export HUBPRO_ENV="${HUBPRO_ENV:-development}"
port="${PORT:-5000}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$port}"
.venv/bin/flask init-db
.venv/bin/flask demo-data

.venv/bin/flask jobs run > instance/scheduler.log 2>&1 &
scheduler=$!
trap 'kill $scheduler 2>/dev/null' EXIT

cat <<TXT

  Hub Pro Transport est démarré.

  Portail public  : http://127.0.0.1:$port/
  Back-office     : http://127.0.0.1:$port/admin/
  Planificateur   : flask jobs run (journal : instance/scheduler.log ; les e-mails y sont imprimés)

  Comptes de démonstration (adresse / mot de passe) :
    Administrateur local (back-office)  admin@hubpro-transport.fr       Demo-Admin-2026!
    Agent instructeur (back-office)     agent@hubpro-transport.fr       Demo-Agent-2026!
    Conducteur (portail)                paul.martin@exemple.fr          Demo-Conducteur-2026!
    Centre de formation (portail)       cfa-lille@exemple.fr            Demo-Centre-2026!
    Entreprise de transport (portail)   direction@transports-martin.fr  Demo-Entreprise-2026!

  Sans MAIL_SERVER, les e-mails restent dans la boîte d'envoi : Back-office > Suivi > Boîte d'envoi
  (chaque message se lit et ses liens s'ouvrent). Arrêt : Ctrl+C.

TXT
.venv/bin/flask run --host 127.0.0.1 --port "$port"
