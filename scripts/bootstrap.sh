#!/usr/bin/env bash
# Installs what the build needs when it is missing: pnpm (through npm; corepack cannot
# download it on these machines) and the workspace's node modules.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$want" ]; then
  echo "bootstrap: installing pnpm@$want with npm"
  npm install --global --no-fund --no-audit "pnpm@$want"
fi
if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ] || [ package.json -nt node_modules/.modules.yaml ]; then
  echo "bootstrap: installing node modules"
  pnpm install --frozen-lockfile
fi
