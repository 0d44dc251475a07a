#!/usr/bin/env bash
# The README's run command: installs dependencies, builds, then runs a local
# 3-node msgc cluster (three msgcd on 127.0.0.1, 127.0.0.2 and 127.0.0.3,
# port 4809) with a listener on node 2 and a sender on node 1, so you can
# watch messages and membership events cross the mesh. Node 3 is then killed
# and restarted to show `network` membership events. Everything runs on
# loopback and is stopped (by PID) when the demo ends.
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

# The shared file every node includes (Momentum keeps it in conf/global);
# each node adds its own listener, since all three share one host here.
cat >"$WORK/msgc_server.conf" <<CONF
msgc_server {
  debug_level = INFO
  port = $PORT
  idle_timeout = 3
  keepalive_interval = 0.5
  reconnect_interval = 0.5
  peers = [
    node1 = "127.0.0.1"
    node2 = "127.0.0.2"
    node3 = "127.0.0.3"
  ]
}
CONF
for n in 1 2 3; do
  cat >"$WORK/node$n.conf" <<CONF
include "msgc_server.conf"
msgcserver_listener { listen "127.0.0.$n:$PORT" { } }
CONF
done

start_node() {  # start_node N: msgcd for nodeN on 127.0.0.N
  local n=$1
  $BIN/server/msgcd -c "$WORK/node$n.conf" --node "node$n" 2>>"$WORK/node$n.log" &
  node_pid[$n]=$!
  pids+=($!)
}
declare -a node_pid
echo "== starting a 3-node cluster on 127.0.0.1-3:$PORT (logs in $WORK)"
for n in 1 2 3; do start_node "$n"; done
for _ in $(seq 100); do
  grep -q "members \[node1, node2, node3\]" "$WORK/node1.log" 2>/dev/null && break
  sleep 0.1
done
grep "mesh: configuration" "$WORK/node1.log" | tail -1

echo "== a listener on node2 joins group 'demo' and prints what it sees (JSON lines)"
$BIN/tools/msgc --server 127.0.0.2:$PORT --name listener listen --json --timeout 12 demo &
pids+=($!)
sleep 1

echo "== a member on node3 joins 'demo'; a sender on node1 sends three messages"
$BIN/tools/msgc --server 127.0.0.3:$PORT --name watcher listen --timeout 30 demo >/dev/null &
pids+=($!)
sleep 1
printf 'hello\nfrom\nnode1\n' |
  $BIN/tools/msgc --server 127.0.0.1:$PORT --name sender send --lines demo
sleep 1

echo "== node3 is killed (kill -9): the listener sees a 'network' event"
kill -9 "${node_pid[3]}"
sleep 2
echo "== node3 restarts: the cluster merges again"
start_node 3
sleep 3
echo "== node1 log (tail)"
tail -8 "$WORK/node1.log"
