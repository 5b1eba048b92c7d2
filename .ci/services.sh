# Sourced by .ci/run before `npm ci`: system services the tests use.
#  - Debian chromium, for the web app's browser tests (never a downloaded browser);
#  - a PostgreSQL cluster on 127.0.0.1 with a test database, exported as TEST_DATABASE_URL.
# Idempotent and quiet: a second run only checks and exports. Runs as root, no TTY.

services_setup() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "services: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi

  # The newest installed PostgreSQL, its first cluster (created when there is none).
  local version cluster port
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  cluster=$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v {print $2; exit}')
  if [ -z "$cluster" ]; then
    cluster=main
    pg_createcluster "$version" "$cluster" >/dev/null
  fi
  local status
  status=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $4}')
  [ "$status" = online ] || pg_ctlcluster "$version" "$cluster" start
  port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $3}')

  local user=digit_test database=digit_test password=digit_test
  local psql=(runuser -u postgres -- psql -p "$port" -qtAX -v ON_ERROR_STOP=1)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" != 1 ]; then
    "${psql[@]}" -c "CREATE ROLE $user LOGIN PASSWORD '$password'" >/dev/null
  fi
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
    "${psql[@]}" -c "CREATE DATABASE $database OWNER $user" >/dev/null
  fi

  export TEST_DATABASE_URL="postgres://$user:$password@127.0.0.1:$port/$database"
}

services_setup
unset -f services_setup
