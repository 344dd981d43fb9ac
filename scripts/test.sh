#!/usr/bin/env bash
# The full test suite: `npm test`. Works on a fresh Debian machine with Node 20 and npm:
# installs pnpm and the dependencies when missing, builds, lints, type-checks and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --system-packages
pnpm run build
pnpm run lint
mkdir -p .test-results
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json "$@" || status=$?
node scripts/test-summary.mjs .test-results/vitest.json || status=$?
exit "$status"
