#!/usr/bin/env bash
# The README's run command: installs dependencies, builds, then runs a local
# msgcd, a listener and a sender so you can watch messages and membership
# events flow. Everything is on 127.0.0.1 and is stopped when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null

BIN=build/src
PORT=${MSGC_DEMO_PORT:-4809}
WORK=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/msgc.conf" <<CONF
msgc_server {
  debug_level = INFO
  port = $PORT
}
msgcserver_listener {
  listen "127.0.0.1:$PORT" { }
}
CONF

echo "== starting msgcd on 127.0.0.1:$PORT (log: $WORK/msgcd.log)"
$BIN/server/msgcd -c "$WORK/msgc.conf" --node demo 2>"$WORK/msgcd.log" &
pids+=($!)
for _ in $(seq 50); do
  grep -q "listening" "$WORK/msgcd.log" 2>/dev/null && break
  sleep 0.1
done

echo "== a listener joins group 'demo' and prints what it sees (JSON lines)"
$BIN/tools/msgc --server 127.0.0.1:$PORT --name listener listen --json --timeout 8 demo &
pids+=($!)
sleep 1

echo "== a second member joins and leaves; a sender sends three messages"
$BIN/tools/msgc --server 127.0.0.1:$PORT --name watcher listen --timeout 2 demo >/dev/null &
pids+=($!)
sleep 0.5
printf 'hello\nfrom\nmsgc\n' |
  $BIN/tools/msgc --server 127.0.0.1:$PORT --name sender send --lines demo
sleep 3
echo "== msgcd log"
cat "$WORK/msgcd.log"
