#!/bin/sh
# Entrypoint of the container image (see Containerfile): `serve` (the default)
# prepares the volumes and starts the web app on 0.0.0.0; any other command
# runs the CLI, e.g. `podman run IMAGE predict --checkpoint-path … --input-path …`.
#
# Before serving, one clear line and a non-zero exit for what would otherwise
# fail later: a volume the node user cannot write, a DATABASE_URL that never
# accepts connections (waited for DATABASE_WAIT_SECONDS: a database started
# next to this container may still be initialising). serve itself refuses a
# port already taken, a bad token and an unusable database the same way.
set -eu

fail() {
  echo "digit-classification: $*" >&2
  exit 1
}

if [ "${1:-serve}" != serve ]; then
  exec digit-classification "$@"
fi
[ $# -gt 0 ] && shift

runs=/runs
data=/data
predictions=/predictions

# Every volume must be writable by this user: runs and data when training from
# the page, the SQLite log on every prediction.
for dir in "$runs" "$data" "$predictions"; do
  [ "$dir" = "$predictions" ] && [ -n "${DATABASE_URL:-}" ] && continue
  probe="$dir/.write-test.$$"
  if ! (: >"$probe") 2>/dev/null; then
    fail "$dir is not writable by uid $(id -u) (read-only or owned by another user); mount it read-write, owned by uid $(id -u)"
  fi
  rm -f "$probe"
done

# The MNIST files for training from the page, on first start (the bundled
# sample by default: no network needed).
if [ ! -e "$data/train-images-idx3-ubyte.gz" ] && [ ! -e "$data/train-images-idx3-ubyte" ]; then
  echo "digit-classification: first start: getting MNIST into $data (--source $DIGIT_CLASSIFICATION_DATA_SOURCE)" >&2
  digit-classification download-data --data-dir "$data" --source "$DIGIT_CLASSIFICATION_DATA_SOURCE" >/dev/null \
    || fail "could not get MNIST into $data with --source $DIGIT_CLASSIFICATION_DATA_SOURCE (see above)"
fi

# The model: DIGIT_CLASSIFICATION_CHECKPOINT, else the sample model shipped in
# the image, copied once into /runs so the dashboard shows its run. Copied
# beside and renamed into place: replicas starting together on one volume
# never see half a run.
checkpoint=${DIGIT_CLASSIFICATION_CHECKPOINT:-}
if [ -z "$checkpoint" ]; then
  if [ ! -e "$runs/sample/best.ckpt" ]; then
    staging="$runs/.sample.$$"
    cp -R /opt/digit-classification-model/sample "$staging"
    mv -T "$staging" "$runs/sample" 2>/dev/null || rm -rf "$staging"
  fi
  checkpoint=$runs/sample/best.ckpt
fi

# A shared PostgreSQL may still be starting (compose starts it alongside):
# wait for it to answer, then let serve report what is still wrong.
if [ -n "${DATABASE_URL:-}" ]; then
  case $DATABASE_URL in
    postgres://* | postgresql://*)
      node --input-type=module -e '
        const {default: pg} = await import("/opt/digit-classification/node_modules/pg/lib/index.js")
        const deadline = Date.now() + Number(process.env.DATABASE_WAIT_SECONDS || 0) * 1000
        let said = false
        for (;;) {
          const client = new pg.Client({connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000})
          try {
            await client.connect()
            await client.end()
            break
          } catch {
            await client.end().catch(() => {})
            if (Date.now() >= deadline) break
            if (!said) process.stderr.write(`digit-classification: waiting up to ${process.env.DATABASE_WAIT_SECONDS} s for the database\n`)
            said = true
            await new Promise((resolve) => setTimeout(resolve, 1000))
          }
        }'
      ;;
  esac
fi

set -- --host 0.0.0.0 --port "$PORT" --runs-dir "$runs" --data-dir "$data" --checkpoint-path "$checkpoint" \
  --database-url "${DATABASE_URL:-sqlite:$predictions/predictions.sqlite}" "$@"
# Further host names (a reverse proxy's public name), comma- or space-separated.
for name in $(echo "${DIGIT_CLASSIFICATION_ALLOWED_HOSTS:-}" | tr ',' ' '); do
  set -- "$@" --allowed-host "$name"
done
exec digit-classification serve "$@"
