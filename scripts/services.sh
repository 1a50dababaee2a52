#!/usr/bin/env bash
# Make PostgreSQL (127.0.0.1:5432, user postgres, trust auth on loopback) and Redis
# (127.0.0.1:6379) answer for the service tests. Idempotent: servers that already answer
# are used as they are; otherwise the Debian packages are installed (if missing) and
# started. Source it or run it; it exports nothing, the tests find the servers at:
#   SYNTHGEN_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres
#   SYNTHGEN_TEST_REDIS_URL=redis://127.0.0.1:6379/15
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_answers() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 -t 2
}

postgres_trusts_us() {
  command -v psql >/dev/null 2>&1 \
    && psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

newest_postgres() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

trust_loopback() {
  # test machines only: trust connections from loopback (the cluster listens on localhost)
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  if [ -f "$hba" ] && ! grep -q '^# synthgen-ci' "$hba"; then
    sed -i '1i # synthgen-ci: trust loopback for the test suite\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
}

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing postgresql"
    apt_install postgresql
  fi
  local version
  version=$(newest_postgres)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version main"; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main --port 5432 >/dev/null
  fi
  trust_loopback "$version"
  log "starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 30); do
    postgres_answers && return 0
    sleep 1
  done
  log "PostgreSQL did not come up"; return 1
}

redis_answers() {
  command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
}

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server"
    apt_install redis-server
  fi
  log "starting redis-server"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do
    redis_answers && return 0
    sleep 0.5
  done
  log "Redis did not come up"; return 1
}

if postgres_answers; then
  log "PostgreSQL answers on 127.0.0.1:5432"
else
  start_postgres
fi
if ! postgres_trusts_us; then
  version=$(newest_postgres)
  if [ "${CI:-}" = "true" ] && [ -n "$version" ] && pg_lsclusters -h 2>/dev/null | grep -q "^$version main 5432 online"; then
    log "PostgreSQL refuses user postgres without a password: trusting loopback (CI only)"
    trust_loopback "$version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    log "PostgreSQL answers but refuses user postgres without a password on 127.0.0.1;"
    log "set SYNTHGEN_TEST_POSTGRES_URL=postgresql+psycopg://USER:PASSWORD@HOST:PORT/postgres"
  fi
fi

if redis_answers; then
  log "Redis answers on 127.0.0.1:6379"
else
  start_redis
fi
