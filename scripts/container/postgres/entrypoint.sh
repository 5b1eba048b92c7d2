#!/bin/sh
# First start: a cluster in $PGDATA with POSTGRES_USER / POSTGRES_PASSWORD /
# POSTGRES_DB, as the official image makes it, listening on every address with
# password (scram-sha-256) authentication. The setup runs on the Unix socket
# only, so `pg_isready -h 127.0.0.1` passes only once the real server is up.
set -eu
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
[ "${1:-postgres}" = postgres ] || exec "$@"
[ $# -gt 0 ] && shift

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "postgres: set POSTGRES_PASSWORD for the first start" >&2; exit 1; }
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    createdb -U "$user" -O "$user" "$database"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "postgres: initialised $PGDATA (user $user, database $database)" >&2
fi
exec postgres -D "$PGDATA" "$@"
