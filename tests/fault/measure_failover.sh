#!/usr/bin/env bash
# How long a lost server takes to leave the views (issue 4 §2), measured.
# See docs/fault-injection.md, "Fail-over times".
#
#   tests/fault/measure_failover.sh [--reps R] [--idle-timeouts "default 2 1"]
#                                   [--kinds "kill stop drop"] [--out DIR]
#
# Three msgcd servers in network namespaces (as run.sh), one
# msgc-fault-client per server joined to g1 (node3's client knows only
# node3, so it never fails over). Per idle timeout (`default` = no
# idle_timeout/keepalive_interval in the configuration: msgcd's defaults, 30
# s and 5 s; a number S = idle_timeout S, keepalive_interval 0.15 S) and per
# kind, R repetitions of:
#   kill   kill -9 node3 (the kernel closes its connections)
#   stop   SIGSTOP node3 (silent: its kernel still acknowledges TCP)
#   drop   iptables DROP of everything in and out of node3's eth0 (silent)
# From the fault to the first transitional event, and to the first regular
# view with cause network without node3's client, of g1 at the clients of
# node1 and node2 (the later of the two), from the clients' logs (one clock).
# Between repetitions the fault is healed and the script waits until every
# client is back in one view. Prints one line per repetition and a summary
# (min / median / max, ms); writes DIR/failover.txt. Exit 2 on a harness
# error, 0 otherwise (this measures, it does not judge).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${MSGC_BUILD_DIR:-$ROOT/build}
REPS=5
IDLES="default 2 1"
KINDS="kill stop drop"
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --idle-timeouts) IDLES=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n 2,23p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ $EUID -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 0; fi
MSGCD=${MSGCD:-$BUILD/src/server/msgcd}
CLIENT=${MSGC_FAULT_CLIENT:-$BUILD/tests/fault/msgc-fault-client}
for b in "$MSGCD" "$CLIENT"; do
  [[ -x $b ]] || { echo "$b not built" >&2; exit 2; }
done
IPT=""
if command -v iptables-legacy >/dev/null; then IPT=iptables-legacy
elif command -v iptables >/dev/null; then IPT=iptables; fi
if [[ -z $IPT && $KINDS == *drop* ]]; then
  echo "no iptables: the drop kind is skipped" >&2
  KINDS=${KINDS//drop/}
fi
if [[ -z $OUT ]]; then OUT=$(mktemp -d /tmp/msgc-failover.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

N=3
PORT=4809
P=mfo$$
SW=${P}s
host_ns() { echo "${P}h$1"; }
addr() { echo "169.254.214.$1"; }
declare -a SRV_PID CLI_PID
NSLIST=()
cleanup() {
  local p
  for p in "${CLI_PID[@]}" "${SRV_PID[@]}"; do
    [[ -n $p ]] && kill -CONT "$p" 2>/dev/null
    [[ -n $p ]] && kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  for n in "${NSLIST[@]}"; do ip netns del "$n" 2>/dev/null; done
  NSLIST=()
}
trap 'cleanup; exit 2' INT TERM
trap cleanup EXIT

ip netns add "$SW" || exit 2
NSLIST+=("$SW")
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
for ((i = 1; i <= N; i++)); do
  H=$(host_ns "$i")
  ip netns add "$H" || exit 2
  NSLIST+=("$H")
  ip -n "$SW" link add "h$i" type veth peer name eth0 netns "$H" || exit 2
  ip -n "$SW" link set "h$i" master br0 up
  ip -n "$H" link set lo up
  ip -n "$H" addr add "$(addr "$i")/24" dev eth0
  ip -n "$H" link set eth0 up
done

start_server() {  # start_server I RUN_DIR
  ip netns exec "$(host_ns "$1")" "$MSGCD" -c "$2/node$1.conf" --node "node$1" \
    >>"$2/node$1.log" 2>&1 &
  SRV_PID[$1]=$!
}
stop_all() {
  local p
  for p in "${CLI_PID[@]}" "${SRV_PID[@]}"; do
    kill -CONT "$p" 2>/dev/null
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  CLI_PID=()
  SRV_PID=()
}
converged() {  # converged RUN_DIR TIMEOUT_S
  local deadline=$(( $(date +%s) + $2 ))
  while (( $(date +%s) < deadline )); do
    python3 "$HERE/checker.py" --converged "$1" --clients "$N" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
now() { date +%s.%N; }

RESULTS=$OUT/failover.txt
: >"$RESULTS"
for idle in $IDLES; do
  RUN=$OUT/idle-$idle
  mkdir -p "$RUN"
  {
    echo "msgc_server {"
    echo "  debug_level = INFO"
    echo "  port = $PORT"
    if [[ $idle != default ]]; then
      echo "  idle_timeout = $idle"
      echo "  keepalive_interval = $(awk -v s="$idle" 'BEGIN{printf "%.3f", s * 0.15}')"
    fi
    echo "  peers = ["
    for ((i = 1; i <= N; i++)); do echo "    node$i = \"$(addr "$i")\""; done
    echo "  ]"
    echo "}"
  } >"$RUN/msgc_server.conf"
  for ((i = 1; i <= N; i++)); do
    printf 'include "msgc_server.conf"\nmsgcserver_listener { listen "%s:%d" { } }\n' \
      "$(addr "$i")" "$PORT" >"$RUN/node$i.conf"
    start_server "$i" "$RUN"
  done
  for ((i = 1; i <= N; i++)); do
    servers="$(addr "$i"):$PORT"
    (( i < N )) && servers+=",$(addr $(( i % (N - 1) + 1 ))):$PORT"
    ip netns exec "$(host_ns "$i")" "$CLIENT" --name "c$i" --servers "$servers" \
      --groups g1 --rate 5 --seed "$i" --log "$RUN/client-c$i.jsonl" \
      >>"$RUN/client-c$i.err" 2>&1 &
    CLI_PID[$i]=$!
  done
  converged "$RUN" 60 || { echo "idle $idle: no initial convergence" >&2; exit 2; }
  for kind in $KINDS; do
    for ((r = 1; r <= REPS; r++)); do
      sleep 1
      t0=$(now)
      case $kind in
        kill) kill -9 "${SRV_PID[3]}"; wait "${SRV_PID[3]}" 2>/dev/null ;;
        stop) kill -STOP "${SRV_PID[3]}" ;;
        drop)
          ip netns exec "$(host_ns 3)" "$IPT" -I INPUT -i eth0 -j DROP
          ip netns exec "$(host_ns 3)" "$IPT" -I OUTPUT -o eth0 -j DROP ;;
      esac
      # Wait (bounded) until both survivors' clients installed the new view.
      limit=$([[ $idle == default ]] && echo 45 || echo 15)
      res=""
      deadline=$(( $(date +%s) + limit ))
      while (( $(date +%s) < deadline )); do
        sleep 0.2
        res=$(python3 - "$RUN" "$t0" <<'PY'
import json, sys
run, t0 = sys.argv[1], float(sys.argv[2])
out = []
for c in ("c1", "c2"):
    tr = rg = None
    for line in open("%s/client-%s.jsonl" % (run, c)):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e["t"] < t0 or e["ev"] != "view" or e["group"] != "g1":
            continue
        if any(m.startswith("#c3#") for m in e["members"]):
            continue
        if e["trans"] and tr is None:
            tr = e["t"]
        if not e["trans"] and e["cause"] == "network" and rg is None:
            rg = e["t"]
            break
    if tr is None or rg is None:
        sys.exit(1)
    out.append((tr, rg))
print("%.0f %.0f" % (1000 * (max(t for t, _ in out) - t0), 1000 * (max(r for _, r in out) - t0)))
PY
        ) && break
        res=""
      done
      line="idle=$idle kind=$kind rep=$r"
      if [[ -n $res ]]; then
        read -r tms rms <<<"$res"
        line+=" transitional_ms=$tms regular_ms=$rms"
      else
        line+=" timeout (no view without node3 within ${limit}s)"
      fi
      echo "$line" | tee -a "$RESULTS"
      case $kind in
        kill) start_server 3 "$RUN" ;;
        stop) kill -CONT "${SRV_PID[3]}" ;;
        drop)
          ip netns exec "$(host_ns 3)" "$IPT" -D INPUT -i eth0 -j DROP
          ip netns exec "$(host_ns 3)" "$IPT" -D OUTPUT -o eth0 -j DROP ;;
      esac
      converged "$RUN" 90 || { echo "idle $idle: no convergence after $kind" >&2; exit 2; }
    done
  done
  stop_all
done
cleanup
trap - EXIT INT TERM

echo "== summary (ms from the fault to the view at the survivors' clients; min / median / max)"
python3 - "$RESULTS" <<'PY' | tee -a "$RESULTS"
import collections, re, sys
rows = collections.defaultdict(lambda: ([], []))
for line in open(sys.argv[1]):
    m = re.match(r"idle=(\S+) kind=(\S+) rep=\d+ transitional_ms=(\d+) regular_ms=(\d+)", line)
    if m:
        rows[(m.group(1), m.group(2))][0].append(int(m.group(3)))
        rows[(m.group(1), m.group(2))][1].append(int(m.group(4)))
def mmm(v):
    v = sorted(v)
    return "%d / %d / %d" % (v[0], v[len(v) // 2], v[-1])
for (idle, kind), (t, r) in rows.items():
    print("idle_timeout=%s %s (n=%d): transitional %s, regular %s"
          % (idle, kind, len(t), mmm(t), mmm(r)))
PY
