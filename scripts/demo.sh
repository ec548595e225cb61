#!/usr/bin/env bash
# Installs the app and starts it with demo data at http://127.0.0.1:8000 on an embedded PostgreSQL
# (pgserver, under var/pgdata) unless DATABASE_URL is set. Without REDIS_URL, tasks run in-process.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# WeasyPrint (PDF reports) needs Pango from the system.
if ! dpkg -s libpango-1.0-0 libpangoft2-1.0-0 >/dev/null 2>&1; then
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
fi
PY=${PYTHON:-python3.11}; command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e . 2>&1 | grep -v -E "^(WARNING|  )" || true
export DJANGO_SETTINGS_MODULE=otbilling.settings.dev
.venv/bin/python manage.py migrate --noinput
if [ "$(.venv/bin/python manage.py shell -c 'from clinics.models import Clinic; print(Clinic.objects.exists())')" != "True" ]; then
  .venv/bin/python manage.py seed_demo --seed "${DEMO_SEED:-1}"
else
  echo "Demo data already present (run 'python manage.py seed_demo' to rebuild it)."
fi
echo "Open http://127.0.0.1:8000 and log in with one of the users above (password: demo-OT-billing-2026)."
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
