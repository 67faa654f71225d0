#!/usr/bin/env bash
# Set up and run the whole test suite (SQLite by default; PostgreSQL when DATABASE_URL points to it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest -q "$@"
