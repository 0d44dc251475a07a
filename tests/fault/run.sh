#!/usr/bin/env bash
# Fault-injection harness for msgc (issue 4 §3). See docs/fault-injection.md.
#
# N msgcd servers, each in a network namespace of its own, joined by veth
# pairs to a bridge in a "switch" namespace (link-local 169.254.215.x
# addresses that exist only inside these namespaces). C clients per server
# (msgc-fault-client) join G groups and send paced fifo/agreed/safe traffic
# while a seeded random schedule of F faults strikes:
#   kill      kill -9 a server, restart it after the hold
#   stop      SIGSTOP a server, SIGCONT after the hold
#   isolate   the server's switch-side veth down (cable pulled), then up
#   cut       blackhole routes between two servers (one link), then removed
#   partition blackhole every link across a random split, then healed
#   slow      tbf rate limit (queueing delay) on a server's links (needs tc)
#   delay     every packet a server receives held 5-50 ms by msgc-netdelay
#             (NFQUEUE; tests/netdelay/), then removed
# At the end everything is healed, the harness waits for every client to
# converge to one view per group, lets traffic run, quiesces the senders,
# stops every process by PID, deletes the namespaces and runs checker.py.
#
#   tests/fault/run.sh [--seed S] [--faults F] [--nodes N] [--clients-per-node C]
#                      [--groups G] [--rate MSGS_PER_S] [--duration-per-fault MS]
#                      [--idle-timeout S] [--out DIR]
#
# A quarter of the faults (drawn from the seed) stay in force while the next
# fault strikes and heals, then heal too (e.g. a kill inside a partition).
# Logs stay in DIR (default a new /tmp/msgc-fault.XXXXXX): client-*.jsonl,
# faults.jsonl, schedule.txt, node*.log, violations.txt.
#
# MSGC_FAULT_DEBUG_LEVEL=DEBUG runs the servers with debug logs (the mesh
# logs every item it delivers or passes, late bodies and barriers).
#
# Exit status: the checker's (0 = no violation, 1 = violations), 2 = harness
# error. Not root / no `ip netns`: prints "SKIP: ..." and exits 0.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${MSGC_BUILD_DIR:-$ROOT/build}

SEED=$(( $(date +%s) % 100000 ))
FAULTS=50
NODES=3
CPN=2
GROUPS_N=3
RATE=10
MS=1000
IDLE=2
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seed) SEED=$2; shift 2 ;;
    --faults) FAULTS=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --clients-per-node) CPN=$2; shift 2 ;;
    --groups) GROUPS_N=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --duration-per-fault) MS=$2; shift 2 ;;
    --idle-timeout) IDLE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n 2,32p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if (( NODES < 2 || NODES > 20 )); then echo "--nodes must be 2..20" >&2; exit 2; fi

if [[ $EUID -ne 0 ]]; then
  echo "SKIP: tests/fault/run.sh needs root (network namespaces); not run"
  exit 0
fi
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: 'ip netns' does not work here; not run"
  exit 0
fi

MSGCD=${MSGCD:-$BUILD/src/server/msgcd}
if [[ ! -x $MSGCD ]]; then echo "msgcd not found at $MSGCD (build it first)" >&2; exit 2; fi

if [[ -z $OUT ]]; then OUT=$(mktemp -d /tmp/msgc-fault.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

CLIENT=${MSGC_FAULT_CLIENT:-$BUILD/tests/fault/msgc-fault-client}
if [[ ! -x $CLIENT ]]; then
  # Not built by CMake (yet): compile it directly against the built library.
  CLIENT=$OUT/msgc-fault-client
  echo "== building msgc-fault-client into $CLIENT"
  if ! g++ -std=c++20 -O1 -I"$ROOT/include" -I"$ROOT/src" "$HERE/fault_client.cc" \
      "$BUILD/src/client/libmsgc.a" "$BUILD/src/config/libmsgc_config.a" \
      "$BUILD/src/wire/libmsgc_wire.a" "$BUILD/src/base/libmsgc_base.a" \
      -lspdlog -lfmt -lpthread -o "$CLIENT"; then
    echo "cannot build msgc-fault-client" >&2; exit 2
  fi
fi

# The packet delayer of the `delay` fault: built by CMake when
# libnetfilter-queue-dev is installed; else compiled here (installing the
# package with apt-get when it is missing). Without it (or without
# iptables, or when NFQUEUE does not work) the schedule has no `delay`.
NETDELAY=${MSGC_NETDELAY:-$BUILD/tests/netdelay/msgc-netdelay}
IPT=""
if command -v iptables-legacy >/dev/null; then IPT=iptables-legacy
elif command -v iptables >/dev/null; then IPT=iptables; fi
if [[ ! -x $NETDELAY || -z $IPT ]] && [[ ${MSGC_FAULT_NO_APT:-0} != 1 ]] && command -v apt-get >/dev/null; then
  if [[ -z $IPT ]] || ! pkg-config --exists libnetfilter_queue 2>/dev/null; then
    echo "== installing iptables libnetfilter-queue-dev pkg-config (for the delay fault)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables libnetfilter-queue-dev pkg-config \
      >"$OUT/apt.log" 2>&1 || echo "   apt-get failed (see $OUT/apt.log); no delay faults"
    if command -v iptables-legacy >/dev/null; then IPT=iptables-legacy
    elif command -v iptables >/dev/null; then IPT=iptables; fi
  fi
fi
if [[ ! -x $NETDELAY ]] && pkg-config --exists libnetfilter_queue 2>/dev/null; then
  NETDELAY=$OUT/msgc-netdelay
  gcc -std=gnu11 -O2 -Wall -Wextra -Werror "$ROOT/tests/netdelay/netdelay.c" \
    $(pkg-config --cflags --libs libnetfilter_queue) -o "$NETDELAY" || NETDELAY=""
fi
HAVE_DELAY=0
[[ -n $NETDELAY && -x $NETDELAY && -n $IPT ]] && HAVE_DELAY=1

PORT=4809
P=mf$$
SW=${P}s
host_ns() { echo "${P}h$1"; }
addr() { echo "169.254.215.$1"; }

declare -a SRV_PID CLI_PID CLI_NAME
declare -A DELAY_PID  # fault number -> msgc-netdelay PID
NSLIST=()
FAULTLOG=$OUT/faults.jsonl
: >"$FAULTLOG"

flog() {  # flog JSON-FIELDS (without t)
  printf '{"t":%s,%s}\n' "$(date +%s.%N)" "$1" >>"$FAULTLOG"
}

cleanup() {
  local p
  for p in "${CLI_PID[@]}" "${SRV_PID[@]}" "${DELAY_PID[@]}"; do
    [[ -n $p ]] && kill -CONT "$p" 2>/dev/null
    [[ -n $p ]] && kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  for n in "${NSLIST[@]}"; do ip netns del "$n" 2>/dev/null; done
  NSLIST=()
}
trap 'cleanup; exit 2' INT TERM
trap cleanup EXIT

# ---- network --------------------------------------------------------------
# Namespaces left by an earlier run that was killed (its PID is gone).
for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^mf[0-9]+(s|h[0-9]+)$'); do
  pid=${n#mf}; pid=${pid%%[sh]*}
  kill -0 "$pid" 2>/dev/null || ip netns del "$n" 2>/dev/null
done
ip netns add "$SW" || { echo "ip netns add failed" >&2; exit 2; }
NSLIST+=("$SW")
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
ip -n "$SW" link set lo up
for ((i = 1; i <= NODES; i++)); do
  H=$(host_ns "$i")
  ip netns add "$H" || exit 2
  NSLIST+=("$H")
  ip -n "$SW" link add "h$i" type veth peer name eth0 netns "$H" || exit 2
  ip -n "$SW" link set "h$i" master br0 up
  ip -n "$H" link set lo up
  ip -n "$H" addr add "$(addr "$i")/24" dev eth0
  ip -n "$H" link set eth0 up
done

# ---- servers --------------------------------------------------------------
{
  echo "msgc_server {"
  echo "  debug_level = ${MSGC_FAULT_DEBUG_LEVEL:-INFO}"
  echo "  port = $PORT"
  echo "  idle_timeout = $IDLE"
  echo "  keepalive_interval = $(awk -v s="$IDLE" 'BEGIN{printf "%.3f", s * 0.15}')"
  echo "  reconnect_interval = 0.2"
  echo "  peers = ["
  for ((i = 1; i <= NODES; i++)); do echo "    node$i = \"$(addr "$i")\""; done
  echo "  ]"
  echo "}"
} >"$OUT/msgc_server.conf"
for ((i = 1; i <= NODES; i++)); do
  cat >"$OUT/node$i.conf" <<CONF
include "msgc_server.conf"
msgcserver_listener { listen "$(addr "$i"):$PORT" { } }
CONF
done

start_server() {  # start_server I
  local i=$1
  ip netns exec "$(host_ns "$i")" "$MSGCD" -c "$OUT/node$i.conf" --node "node$i" \
    >>"$OUT/node$i.log" 2>&1 &
  SRV_PID[$i]=$!
}
for ((i = 1; i <= NODES; i++)); do start_server "$i"; done

# ---- clients --------------------------------------------------------------
GROUP_LIST=$(seq -s, -f 'g%g' 1 "$GROUPS_N")
k=0
for ((i = 1; i <= NODES; i++)); do
  servers="$(addr "$i"):$PORT"
  for ((j = 1; j <= NODES; j++)); do
    (( j != i )) && servers+=",$(addr "$j"):$PORT"
  done
  for ((c = 1; c <= CPN; c++)); do
    name="c${i}_$c"
    ip netns exec "$(host_ns "$i")" "$CLIENT" --name "$name" --servers "$servers" \
      --groups "$GROUP_LIST" --rate "$RATE" --seed $((SEED * 100 + k)) --idle-timeout "$IDLE" \
      --log "$OUT/client-$name.jsonl" >>"$OUT/client-$name.err" 2>&1 &
    CLI_PID[$k]=$!
    CLI_NAME[$k]=$name
    k=$((k + 1))
  done
done
NCLIENTS=$k

echo "== msgc fault injection: seed=$SEED faults=$FAULTS nodes=$NODES clients=$NCLIENTS" \
     "groups=$GROUPS_N rate=$RATE/s duration-per-fault=${MS}ms idle-timeout=${IDLE}s" \
     "delay-fault=$HAVE_DELAY out=$OUT"
flog "\"ev\":\"config\",\"seed\":$SEED,\"faults\":$FAULTS,\"nodes\":$NODES,\"clients\":$NCLIENTS,\"groups\":$GROUPS_N,\"rate\":$RATE,\"ms\":$MS,\"idle_timeout\":$IDLE,\"delay\":$HAVE_DELAY"

wait_converged() {  # wait_converged TIMEOUT_S -> 0 when converged
  local deadline=$(( $(date +%s) + $1 ))
  while (( $(date +%s) < deadline )); do
    if python3 "$HERE/checker.py" --converged "$OUT" --clients "$NCLIENTS" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

if wait_converged 30; then
  flog '"ev":"initial_converged"'
else
  echo "== warning: the cluster did not converge before the schedule"
  flog '"ev":"initial_not_converged"'
fi

# ---- schedule -------------------------------------------------------------
HAVE_TC=0
command -v tc >/dev/null && HAVE_TC=1
# One line per fault: "KIND ARGS... HOLD_MS GAP_MS", from Python's seeded PRNG
# (reproducible whatever the bash version).
python3 - "$SEED" "$FAULTS" "$NODES" "$MS" "$HAVE_TC" "$HAVE_DELAY" >"$OUT/schedule.txt" <<'PY'
import random, sys
seed, faults, nodes, ms, have_tc, have_delay = map(int, sys.argv[1:])
r = random.Random(seed)
kinds = [("kill", 3), ("stop", 3), ("isolate", 2), ("cut", 2), ("partition", 2)]
if have_tc:
    kinds.append(("slow", 1))
if have_delay:
    kinds.append(("delay", 2))
total = sum(w for _, w in kinds)
for _ in range(faults):
    x = r.uniform(0, total)
    for kind, w in kinds:
        x -= w
        if x <= 0:
            break
    hold = int(ms * r.uniform(0.2, 3.0))
    gap = int(ms * r.uniform(0.1, 1.0))
    n = r.randint(1, nodes)
    if kind == "cut":
        a, b = r.sample(range(1, nodes + 1), 2)
        args = f"{a}-{b}"
    elif kind == "partition":
        side = [i for i in range(1, nodes + 1) if r.random() < 0.5]
        if not side or len(side) == nodes:
            side = [n]
        args = ",".join(map(str, side))
    elif kind == "delay":
        args = "%d:%d" % (n, r.randint(5, 50))  # server:milliseconds
    else:
        args = str(n)
    overlap = 1 if r.random() < 0.25 else 0
    print(kind, args, hold, gap, overlap)
PY

blackhole() {  # blackhole A B add|del: drop traffic between hosts A and B
  ip -n "$(host_ns "$1")" route "$3" blackhole "$(addr "$2")/32" 2>/dev/null
  ip -n "$(host_ns "$2")" route "$3" blackhole "$(addr "$1")/32" 2>/dev/null
}
msleep() { sleep "$(awk -v m="$1" 'BEGIN{printf "%.3f", m/1000}')"; }

partition_pairs() {  # partition_pairs 1,3 -> "1 2" "3 2" ... (cross pairs)
  local side x y s in iny
  IFS=, read -r -a side <<<"$1"
  PAIRS=()
  for ((x = 1; x <= NODES; x++)); do
    in=0; for s in "${side[@]}"; do (( s == x )) && in=1; done
    (( in )) || continue
    for ((y = 1; y <= NODES; y++)); do
      iny=0; for s in "${side[@]}"; do (( s == y )) && iny=1; done
      (( iny )) && continue
      PAIRS+=("$x $y")
    done
  done
}
# delay I:D (fault number F): every packet node I receives on eth0 goes
# through NFQUEUE queue F (one queue per fault, so overlapping delays never
# share one), held D ms by msgc-netdelay in node I's namespace: D more
# round-trip time on each of its links. (Receive side only: a packet held
# on the OUTPUT hook still counts against its socket's TCP small-queue
# budget, which throttles the sender to a few packets per delay.)
delay_rules() {  # delay_rules -A|-D I F
  local ns; ns=$(host_ns "$2")
  ip netns exec "$ns" "$IPT" "$1" INPUT -i eth0 -j NFQUEUE --queue-num "$3" --queue-bypass 2>/dev/null
}
delay_start() {  # delay_start I D F
  ip netns exec "$(host_ns "$1")" "$NETDELAY" --queue "$3" --delay "$2" \
    >>"$OUT/netdelay.log" 2>&1 &
  DELAY_PID[$3]=$!
  delay_rules -A "$1" "$3"
}
delay_stop() {  # delay_stop I F: rules out first (no new packets), then release
  local p=${DELAY_PID[$2]:-}
  delay_rules -D "$1" "$2"
  if [[ -n $p ]]; then
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    unset "DELAY_PID[$2]"
  fi
}

apply_fault() {  # apply_fault KIND ARGS [FAULT_NUMBER]
  local a b pr
  case "$1" in
    kill) kill -9 "${SRV_PID[$2]}" 2>/dev/null; wait "${SRV_PID[$2]}" 2>/dev/null ;;
    stop) kill -STOP "${SRV_PID[$2]}" 2>/dev/null ;;
    isolate) ip -n "$SW" link set "h$2" down ;;
    cut) IFS=- read -r a b <<<"$2"; blackhole "$a" "$b" add ;;
    partition) partition_pairs "$2"; for pr in "${PAIRS[@]}"; do blackhole ${pr} add; done ;;
    slow)
      ip netns exec "$SW" tc qdisc add dev "h$2" root tbf rate 200kbit burst 3000 latency 400ms 2>/dev/null
      ip netns exec "$(host_ns "$2")" tc qdisc add dev eth0 root tbf rate 200kbit burst 3000 latency 400ms 2>/dev/null ;;
    delay) IFS=: read -r a b <<<"$2"; delay_start "$a" "$b" "$3" ;;
  esac
}
heal_fault() {  # heal_fault KIND ARGS [FAULT_NUMBER]
  local a b pr
  case "$1" in
    kill) kill -0 "${SRV_PID[$2]}" 2>/dev/null || start_server "$2" ;;
    stop) kill -CONT "${SRV_PID[$2]}" 2>/dev/null ;;
    isolate) ip -n "$SW" link set "h$2" up ;;
    cut) IFS=- read -r a b <<<"$2"; blackhole "$a" "$b" del ;;
    partition) partition_pairs "$2"; for pr in "${PAIRS[@]}"; do blackhole ${pr} del; done ;;
    slow)
      ip netns exec "$SW" tc qdisc del dev "h$2" root 2>/dev/null
      ip netns exec "$(host_ns "$2")" tc qdisc del dev eth0 root 2>/dev/null ;;
    delay) IFS=: read -r a b <<<"$2"; delay_stop "$a" "$3" ;;
  esac
}

# A fault marked "overlap" stays in force while the next fault strikes and
# heals; then it heals too (e.g. a kill inside a partition).
nf=0
pending=()
while read -r kind args hold gap overlap; do
  nf=$((nf + 1))
  flog "\"ev\":\"fault\",\"n\":$nf,\"kind\":\"$kind\",\"args\":\"$args\",\"hold_ms\":$hold,\"overlap\":$overlap"
  defer=0
  (( overlap )) && (( ${#pending[@]} == 0 )) && (( nf < FAULTS )) && defer=1
  printf '  fault %d/%d: %s %s hold=%dms%s\n' "$nf" "$FAULTS" "$kind" "$args" "$hold" \
    "$( (( defer )) && echo ' (stays in force over the next fault)')"
  apply_fault "$kind" "$args" "$nf"
  if (( defer )); then
    pending=("$kind" "$args" "$nf")
    msleep $((hold / 2))
    continue
  fi
  msleep "$hold"
  heal_fault "$kind" "$args" "$nf"
  flog "\"ev\":\"heal\",\"n\":$nf,\"kind\":\"$kind\",\"args\":\"$args\""
  if (( ${#pending[@]} )); then
    heal_fault "${pending[0]}" "${pending[1]}" "${pending[2]}"
    flog "\"ev\":\"heal\",\"n\":${pending[2]},\"kind\":\"${pending[0]}\",\"args\":\"${pending[1]}\""
    pending=()
  fi
  msleep "$gap"
done <"$OUT/schedule.txt"

# ---- final heal (idempotent) ------------------------------------------------
for f in "${!DELAY_PID[@]}"; do
  for ((i = 1; i <= NODES; i++)); do delay_rules -D "$i" "$f"; done
  delay_stop 1 "$f"
done
for ((i = 1; i <= NODES; i++)); do
  kill -CONT "${SRV_PID[$i]}" 2>/dev/null
  ip -n "$SW" link set "h$i" up
  for ((j = 1; j <= NODES; j++)); do
    (( i != j )) && ip -n "$(host_ns "$i")" route del blackhole "$(addr "$j")/32" 2>/dev/null
  done
  if (( HAVE_TC )); then
    ip netns exec "$SW" tc qdisc del dev "h$i" root 2>/dev/null
    ip netns exec "$(host_ns "$i")" tc qdisc del dev eth0 root 2>/dev/null
  fi
  kill -0 "${SRV_PID[$i]}" 2>/dev/null || start_server "$i"
done
flog '"ev":"final_heal"'
echo "== all faults healed; waiting for convergence"
if wait_converged 60; then
  flog '"ev":"converged"'
  echo "== converged; traffic runs 4 s more"
  sleep 4
else
  flog '"ev":"not_converged"'
  echo "== NOT converged within 60 s"
fi
for ((c = 0; c < NCLIENTS; c++)); do kill -USR1 "${CLI_PID[$c]}" 2>/dev/null; done
sleep 0.5
flog '"ev":"quiesce"'
sleep 4
flog '"ev":"stop"'
for ((c = 0; c < NCLIENTS; c++)); do kill -TERM "${CLI_PID[$c]}" 2>/dev/null; done
for ((c = 0; c < NCLIENTS; c++)); do
  for _ in $(seq 50); do kill -0 "${CLI_PID[$c]}" 2>/dev/null || break; sleep 0.1; done
  kill -9 "${CLI_PID[$c]}" 2>/dev/null
done
for ((i = 1; i <= NODES; i++)); do kill -TERM "${SRV_PID[$i]}" 2>/dev/null; done
sleep 0.5
cleanup
trap - EXIT INT TERM

echo "== checking (seed=$SEED); logs in $OUT"
python3 "$HERE/checker.py" "$OUT"
rc=$?
echo "== seed=$SEED faults=$FAULTS nodes=$NODES: checker exit $rc (logs kept in $OUT)"
exit $rc
