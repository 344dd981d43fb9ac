#!/usr/bin/env bash
# The README's first command, as a newcomer runs it, before the suite (.ci/run): `npm start` in
# the background, wait until the cluster is up, use it through the CLI (create a volume, write a
# file, read it back, status), stop it with SIGINT to its process group as Ctrl-C does, check that
# it exited cleanly and left ./.basalt behind (state "stopped"), and that a CLI command against
# the stopped cluster says so at once. `npm test` then runs with that folder in the checkout.
#   bash scripts/try-local-cluster.sh [ARGS FOR basalt up, e.g. --base-port 27100 --nbd-port 27809]
set -euo pipefail
cd "$(dirname "$0")/.."

start_timeout_s=900   # a fresh machine: bootstrap (pnpm, node modules), build, then the cluster
step_timeout_s=180    # each CLI step
stop_timeout_s=60     # Ctrl-C to every process gone (basalt up gives each 10 s before SIGKILL)

mkdir -p .test-results
log=.test-results/npm-start.log
work="$(mktemp -d)"
say() { echo "try-local-cluster: $*"; }
fail() {
  say "FAILED: $*"
  say "last lines of $log:"
  tail -n 40 "$log" | sed 's/^/  /'
  exit 1
}
basalt() { timeout "$step_timeout_s" node packages/cli/dist/bin.js "$@"; }

: >"$log"
# Its own session and process group, so a SIGINT to the group reaches npm, basalt up and every
# process it started, as Ctrl-C in a terminal does.
setsid npm start -- "$@" >"$log" 2>&1 < /dev/null &
group=$!
cleanup() {
  if kill -0 "$group" 2>/dev/null; then kill -TERM -- "-$group" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say "npm start (pid $group), waiting up to ${start_timeout_s}s for the cluster"
deadline=$((SECONDS + start_timeout_s))
until grep -q 'Basalt is up' "$log"; do
  kill -0 "$group" 2>/dev/null || fail "npm start exited before the cluster was up"
  [ "$SECONDS" -lt "$deadline" ] || fail "the cluster was not up after ${start_timeout_s}s"
  sleep 1
done
say "up after ${SECONDS}s"
pids="$(node -e 'const f = require("./.basalt/cluster.json"); console.log([f.supervisorPid, ...f.metad.map((m) => m.pid), ...f.chunkd.map((c) => c.pid), f.agent.pid].join(" "))')"

volume="try-$(date +%s)"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$work/in.img"
basalt volume create "$volume" --size 64MiB || fail "volume create"
basalt volume write "$volume" --from "$work/in.img" || fail "volume write"
basalt volume read "$volume" --to "$work/out.img" || fail "volume read"
cmp -n $((4 * 1024 * 1024)) "$work/in.img" "$work/out.img" || fail "the volume read back differs from what was written"
basalt status >/dev/null || fail "status"
say "wrote and read back 4 MiB through volume $volume"

kill -INT -- "-$group"
deadline=$((SECONDS + stop_timeout_s))
while kill -0 "$group" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "npm start still runs ${stop_timeout_s}s after SIGINT"
  sleep 1
done
status=0
wait "$group" || status=$?
# npm exits 130 (128 + SIGINT) when its script was interrupted, as after Ctrl-C in a terminal.
[ "$status" = 0 ] || [ "$status" = 130 ] || fail "npm start exited $status after SIGINT"
for pid in $pids; do
  if kill -0 "$pid" 2>/dev/null; then fail "process $pid of the cluster outlived Ctrl-C"; fi
done
grep -q 'basalt up: stopped' "$log" || fail "basalt up did not report a clean stop"
if grep -q 'stopped unexpectedly\| exited (' "$log"; then fail "a process of the cluster died on its own before basalt up stopped it"; fi
state="$(node -p 'require("./.basalt/cluster.json").state')"
[ "$state" = stopped ] || fail ".basalt/cluster.json says \"$state\" after Ctrl-C, not \"stopped\""
say "Ctrl-C stopped every process (npm start exited $status); .basalt/cluster.json says stopped"

set +e
started=$SECONDS
answer="$(basalt volume ls 2>&1)"
set -e
echo "$answer" | grep -q 'BASALT_CLUSTER_NOT_RUNNING' || fail "a command against the stopped cluster said: $answer"
say "a command against the stopped cluster answered in $((SECONDS - started))s: $answer"
