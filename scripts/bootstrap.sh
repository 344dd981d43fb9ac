#!/usr/bin/env bash
# Installs what is missing: pnpm (through npm; corepack cannot download it on these machines)
# and the workspace's node modules; with --system-packages also the Debian packages the test
# suite needs (scripts/system-packages.txt). Safe to run again: it only installs what is absent.
#   bash scripts/bootstrap.sh                    # enough to build and run a cluster (npm start)
#   bash scripts/bootstrap.sh --system-packages  # what npm test needs as well
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if [ "${1:-}" = "--system-packages" ]; then
  while read -r cmd pkg; do
  [ -z "${cmd:-}" ] || [ "${cmd:0:1}" = "#" ] && continue
  if [ "${cmd:0:1}" = "/" ]; then
    # A path (glob allowed) for packages that install no command, e.g. a kernel image.
    compgen -G "$cmd" >/dev/null || missing+=("$pkg")
  else
    command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  fi
  done < scripts/system-packages.txt
fi
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$want" ]; then
  echo "bootstrap: installing pnpm@$want with npm"
  npm install --global --no-fund --no-audit "pnpm@$want"
fi
if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ] || [ package.json -nt node_modules/.modules.yaml ]; then
  echo "bootstrap: installing node modules"
  pnpm install --frozen-lockfile
fi
