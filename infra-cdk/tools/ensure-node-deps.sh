# shellcheck shell=bash
# Sourced by scripts/export-asl and scripts/test-infra: installs infra-cdk's node_modules with
# `npm ci` when they are missing or were installed from a different package-lock.json.
# Needs node >= 20 and npm on PATH; reaches only the npm registry.

ensure_node_deps() {
  local infra="$1"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: node (>= 20) and npm are required for infra-cdk; install them (e.g. apt-get install nodejs npm)" >&2
    return 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "error: node $(node --version) is too old for infra-cdk; node >= 20 is required" >&2
    return 1
  fi
  local stamp="$infra/node_modules/.tote-package-lock.sha256"
  local want
  want="$(sha256sum "$infra/package-lock.json" | cut -d' ' -f1)"
  if [ -d "$infra/node_modules" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "infra-cdk: npm ci (package-lock.json changed or node_modules missing)" >&2
  (cd "$infra" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
}
