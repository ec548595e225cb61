#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine with Python 3.11, starts a throw-away
# PostgreSQL and Redis on loopback, runs the guard rails and the whole suite, and stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. System packages: PostgreSQL, Redis, Chromium for Playwright, Pango for WeasyPrint, poppler for PDF text.
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
dpkg -s libpango-1.0-0 libpangoft2-1.0-0 >/dev/null 2>&1 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. Python environment.
PY=${PYTHON:-python3.11}; command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -E "^(WARNING|  )" || true

# 3. Throw-away PostgreSQL and Redis on loopback.
RUN_DIR=$(mktemp -d /tmp/otb-test.XXXXXX)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_PORT=${TEST_PG_PORT:-55432}
REDIS_PORT=${TEST_REDIS_PORT:-56379}
PG_USER_CMD=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$RUN_DIR"; PG_USER_CMD=(runuser -u postgres --); fi
cleanup() {
  "${PG_USER_CMD[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
"${PG_USER_CMD[@]}" "$PG_BIN/initdb" -D "$RUN_DIR/pg" -U postgres -A trust --no-sync >/dev/null
"${PG_USER_CMD[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -l "$RUN_DIR/pg.log" -w \
  -o "-p $PG_PORT -k $RUN_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --logfile "$RUN_DIR/redis.log" >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres otbilling

export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/otbilling"
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export OTB_VAR_DIR="$RUN_DIR/var"
unset REDIS_URL

# 4. Guard rails, then the suite.
echo "== ruff"; .venv/bin/ruff check .
echo "== manage.py check --deploy (production settings)"
SECRET_KEY="ci-$(head -c 48 /dev/urandom | base64 | tr -d '/+=')" ALLOWED_HOSTS=billing.example.org \
  DJANGO_SETTINGS_MODULE=otbilling.settings.production .venv/bin/python manage.py check --deploy --fail-level WARNING
echo "== makemigrations --check"; .venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
.venv/bin/python -m pytest "$@"
