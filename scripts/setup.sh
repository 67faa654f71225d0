#!/usr/bin/env bash
# Install what Hub Pro Transport needs: a virtual environment with the pinned requirements,
# and Debian's packages (wkhtmltopdf; for the tests, chromium) when missing.
# Usage: scripts/setup.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

debian_packages=()
command -v wkhtmltopdf >/dev/null || debian_packages+=(wkhtmltopdf)
if [ "$purpose" = test ]; then
  command -v chromium >/dev/null || debian_packages+=(chromium chromium-driver)
  command -v pdftotext >/dev/null || debian_packages+=(poppler-utils)
  command -v npm >/dev/null || debian_packages+=(nodejs npm)
fi
if [ ${#debian_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installation des paquets Debian : ${debian_packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debian_packages[@]}" >/dev/null
  else
    echo "Paquets Debian manquants. Exécutez : sudo apt-get install -y ${debian_packages[*]}" >&2
    [ "$purpose" = test ] && exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ "$purpose" = test ] && [ ! -f node_modules/axe-core/axe.min.js ]; then
  # axe-core, run by the browser tests to check accessibility (package.json, package-lock.json).
  npm ci --no-audit --no-fund --silent
fi

requirements=requirements.txt
[ "$purpose" = test ] && requirements=requirements-dev.txt
# This machine's pip configuration warns about missing local mirrors: keep the output readable.
.venv/bin/pip install -q --disable-pip-version-check -r "$requirements" 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
[ "${PIPESTATUS[0]}" = 0 ]
