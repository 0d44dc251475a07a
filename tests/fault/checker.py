#!/usr/bin/env python3
"""Checker for the msgc fault-injection harness (tests/fault/run.sh).

Reads every client log (client-*.jsonl, written by msgc-fault-client) and the
fault log (faults.jsonl, written by run.sh) of one run directory and checks
the guarantees of docs/semantics.md:

  integrity        no duplicate delivery at a member; only sent messages are
                   delivered, with the service and destinations they were
                   sent with, from the sender they name
  fifo             per sender connection, a receiver delivers in send order
                   (within one connection incarnation of the receiver);
                   fifo_session: the same across two connections of a sender
  reliability      a gap (a and c of one sender connection delivered, b sent
                   between them not) is a violation by the EVS rules of
                   check_reliability (self, order, together, lost); else it
                   is allowed (receiver and sending configuration apart)
  same_view        a message is delivered in one configuration everywhere
  transitional     a network view that removes members follows a
                   transitional event
  stall            no connected member goes > 5 s without any event while
                   others deliver what it sends
  agreed           any two receiver incarnations deliver their common
                   agreed/safe messages in the same relative order
  view_agreement   same (group, regular view id) => same member list, in the
                   same order; a transitional event carries the id of the
                   last regular view the member installed (the view it
                   closes), lists a subset of that view, and two members
                   whose transitional lists name each other have the same
                   list
  self_inclusion   a member is in every view it installs
  virtual_synchrony two receivers that install the same two consecutive
                   regular views of a group deliver the same set of that
                   group's messages between them
  safe             a safe message delivered by a member in a regular view V
                   (before its transitional signal) is delivered by every
                   member that installed V and stayed connected past it
  liveness         after the final heal all clients converge to one view per
                   group with every client in it, and every message sent
                   after convergence is delivered to every client

Prints a verdict with counts and every violation (details), exits 1 on any
violation. Python 3 standard library only.

  checker.py RUN_DIR                      full check
  checker.py --converged RUN_DIR --clients K
                                          exit 0 iff all K clients are
                                          connected and agree on one regular
                                          view per group that holds them all
"""
import argparse
import bisect
import collections
import glob
import itertools
import json
import os
import sys

AGREED_SLACK = 60.0  # seconds; see check_agreed
STALL_S = 5.0  # seconds; see check_stall
MAX_SHOWN = 15  # violations printed per kind (all go to violations.txt)


def read_jsonl(path, filter_substrings=None):
    out = []
    with open(path, "r", errors="replace") as f:
        for line in f:
            if filter_substrings and not any(s in line for s in filter_substrings):
                continue
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                # a torn last line of a client killed mid-write
                pass
    return out


def name_of(priv):
    """'#c1_1#node1' -> 'c1_1'."""
    if priv.startswith("#"):
        parts = priv.split("#")
        if len(parts) >= 3:
            return parts[1]
    return priv


def client_logs(run_dir):
    return sorted(glob.glob(os.path.join(run_dir, "client-*.jsonl")))


# ---------------------------------------------------------------- converged
def converged(run_dir, k, until=None):
    """(ok, why); with `until`, from the events logged before that time."""
    logs = client_logs(run_dir)
    if len(logs) != k:
        return False, "%d logs, want %d" % (len(logs), k)
    finals = {}
    names = set()
    groups = None
    for path in logs:
        evs = read_jsonl(path, ['"view"', '"connected"', '"disconnected"', '"start"'])
        if until is not None:
            evs = [e for e in evs if e["t"] <= until]
        start = next((e for e in evs if e["ev"] == "start"), None)
        if start is None:
            return False, "no start in " + path
        names.add(start["name"])
        groups = start["groups"]
        state, inc, last = None, 0, {}
        for e in evs:
            if e["ev"] == "connected":
                state, inc, last = "up", e["inc"], {}
            elif e["ev"] == "disconnected":
                state = "down"
            elif e["ev"] == "view" and e.get("inc") == inc:
                last[e["group"]] = e
        if state != "up":
            return False, start["name"] + " not connected"
        for g in groups:
            v = last.get(g)
            if v is None or v["trans"] or v["self_leave"]:
                return False, "%s has no regular view of %s" % (start["name"], g)
            finals.setdefault(g, set()).add((v["view"], tuple(v["members"])))
    for g in groups:
        if len(finals.get(g, ())) != 1:
            return False, "views of %s differ: %s" % (g, finals.get(g))
        (_, members), = finals[g]
        if set(name_of(m) for m in members) != names or len(members) != k:
            return False, "view of %s is %s" % (g, members)
    return True, "converged"


# ---------------------------------------------------------------- full check
class Checker:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.violations = collections.defaultdict(list)
        self.faults = read_jsonl(os.path.join(run_dir, "faults.jsonl")) \
            if os.path.exists(os.path.join(run_dir, "faults.jsonl")) else []
        self.fault_times = [(f["t"], f) for f in self.faults if f["ev"] == "fault"]
        self.fault_t = [t for t, _ in self.fault_times]
        self.clients = {}  # name -> list of events
        for path in client_logs(run_dir):
            evs = read_jsonl(path)
            start = next((e for e in evs if e["ev"] == "start"), None)
            if start is None:
                self.add("harness", "log %s has no start record" % path)
                continue
            self.clients[start["name"]] = evs

    def near(self, t):
        """The fault(s) around wall time t, for violation details."""
        if not self.fault_times or t is None:
            return ""
        i = bisect.bisect_right(self.fault_t, t)
        shown = []
        for j in range(max(0, i - 2), min(len(self.fault_times), i + 1)):
            f = self.fault_times[j][1]
            rel = t - f["t"]
            shown.append("#%d %s %s (%+.2fs)" % (f["n"], f["kind"], f["args"], rel))
        return " [faults near: " + "; ".join(shown) + "]"

    def add(self, kind, text):
        self.violations[kind].append(text)

    def run(self):
        self.collect()
        self.annotate()
        self.check_integrity()
        self.check_fifo()
        self.check_reliability()
        self.check_same_view()
        self.check_transitional_first()
        self.check_agreed()
        self.check_views()
        self.check_vs()
        self.check_safe()
        self.check_liveness()
        self.check_stall()
        return self.report()

    # -- gathering
    def collect(self):
        self.sends = {}  # (name, seq) -> send record (+ ok)
        self.incs = {}   # (name, inc) -> {"priv":..., "events": [...]}
        self.quiesce_t = {}
        self.n_failed_sends = 0
        for name, evs in self.clients.items():
            pending = {}
            for e in evs:
                ev = e["ev"]
                if ev == "send":
                    pending[e["seq"]] = e
                    self.sends[(name, e["seq"])] = dict(e, ok=None)
                elif ev == "sent":
                    rec = self.sends.get((name, e["seq"]))
                    if rec is not None:
                        rec["ok"] = e["ok"]
                        rec["t_sent"] = e["t"]
                        rec["err"] = e.get("err", "")
                        if not e["ok"]:
                            self.n_failed_sends += 1
                elif ev == "connected":
                    self.incs[(name, e["inc"])] = {"priv": e["priv"], "events": [],
                                                   "t": e["t"], "t_end": float("inf")}
                elif ev == "disconnected":
                    if (name, e["inc"]) in self.incs:
                        self.incs[(name, e["inc"])]["t_end"] = e["t"]
                elif ev in ("deliver", "view"):
                    key = (name, e["inc"])
                    if key not in self.incs:
                        self.add("harness", "%s: %s event in unknown incarnation %s"
                                 % (name, ev, e["inc"]))
                        self.incs[key] = {"priv": "", "events": [], "t": e["t"]}
                    self.incs[key]["events"].append(e)
                elif ev == "quiesce":
                    self.quiesce_t[name] = e["t"]
        for inc in self.incs.values():
            inc["events"].sort(key=lambda e: e["idx"])
        # The sender's connection incarnation of each send: both the "send"
        # (before the call) and "sent" (after) records inside one connection
        # interval; None when ambiguous (a connection change around the call).
        intervals = collections.defaultdict(list)
        for (n, i), rec in self.incs.items():
            intervals[n].append((rec["t"], rec["t_end"], i))
        for iv in intervals.values():
            iv.sort()
        for (name, seq), s in self.sends.items():
            s["sinc"] = None
            iv = intervals.get(name, [])
            k = bisect.bisect_right(iv, (s["t"], float("inf"), 1 << 62)) - 1
            if k >= 0 and iv[k][0] < s["t"] and s.get("t_sent", s["t"]) < iv[k][1]:
                s["sinc"] = iv[k][2]

    # -- integrity
    def check_integrity(self):
        self.n_deliveries = 0
        self.delivered_by = collections.defaultdict(set)  # msg -> receivers
        for name in self.clients:
            seen = {}
            for (rn, inc), rec in sorted(self.incs.items()):
                if rn != name:
                    continue
                for e in rec["events"]:
                    if e["ev"] != "deliver":
                        continue
                    self.n_deliveries += 1
                    m = (e["from"], e["seq"])
                    where = "%s inc %d idx %d" % (name, inc, e["idx"])
                    if m in seen:
                        self.add("integrity", "duplicate: %s delivered %s#%d twice "
                                 "(%s and %s)%s" % (name, m[0], m[1], seen[m], where,
                                                    self.near(e["t"])))
                    seen[m] = where
                    self.delivered_by[m].add(name)
                    s = self.sends.get(m)
                    if s is None:
                        self.add("integrity", "never sent: %s delivered %s#%d (%s)%s"
                                 % (name, m[0], m[1], where, self.near(e["t"])))
                        continue
                    if s["ok"] is False:
                        self.add("integrity", "failed send delivered: %s#%d (send "
                                 "error %r) at %s%s" % (m[0], m[1], s.get("err"), where,
                                                       self.near(e["t"])))
                    if e["svc"] != s["svc"] or e["wsvc"] != s["svc"]:
                        self.add("integrity", "%s#%d sent as %s delivered as %s/%s at %s"
                                 % (m[0], m[1], s["svc"], e["svc"], e["wsvc"], where))
                    if list(e["groups"]) != list(s["groups"]):
                        self.add("integrity", "%s#%d sent to %s delivered with groups "
                                 "%s at %s" % (m[0], m[1], s["groups"], e["groups"], where))
                    if name_of(e["sender"]) != m[0]:
                        self.add("integrity", "%s#%d delivered with sender %s at %s"
                                 % (m[0], m[1], e["sender"], where))
                    if e["t"] < s["t"]:
                        self.add("integrity", "%s#%d delivered before it was sent (%s)"
                                 % (m[0], m[1], where))

    # -- configuration context of every delivery (EVS)
    def annotate(self):
        """Walks every incarnation's events and records, for each delivery and
        each of its groups the receiver is a member of, the receiver's
        configuration context (docs/fault-injection.md, "The EVS rules"):

          ctx    the regular view of the group the message belongs to: the
                 last regular view, or, after a transitional signal, the
                 view that signal closed, i.e. the last regular view before
                 it (clean-up views changed after the signal do not start a
                 configuration)
          phase  "reg" before the transitional signal, "trans" after it
                 (until the next regular view with cause network)
          cur    the last regular view installed (clean-up views included)
          first  cur is the receiver's first view of the group in this
                 incarnation (its own join)

        and, per (incarnation, group, regular view V), the next regular view
        installed after V: "END" when V was the last one of the client's
        last incarnation (it stayed until the run stopped), "DISC" when the
        incarnation ended in V (a reconnection follows)."""
        last_inc = {}
        for (n, i) in self.incs:
            last_inc[n] = max(i, last_inc.get(n, 0))
        self.deliv_ctx = collections.defaultdict(list)  # msg -> [(key, ctxs)]
        # clean-up view epoch -> epochs of the views whose transitional
        # signal preceded it (see conf_epoch)
        self.cleanup_of = collections.defaultdict(set)
        self.n_trans_open = 0
        self.first_deliv_t = {}
        for key, rec in self.incs.items():
            st = {}
            seq = collections.defaultdict(list)  # g -> regular view ids
            for e in rec["events"]:
                if e["ev"] == "view":
                    g = e["group"]
                    s = st.setdefault(g, {"ctx": None, "phase": "reg", "cur": None,
                                          "member": False, "first": None, "mem": ()})
                    if e["self_leave"]:
                        s.update(ctx=None, phase="reg", cur=None, member=False)
                        continue
                    if e["trans"]:
                        # The context stays the last regular view this
                        # member installed, and the event carries its id
                        # (every configuration change announces each
                        # group's new view, so none is renumbered unseen).
                        if s["cur"] is not None and e["view"] != s["cur"]:
                            self.add("view_agreement",
                                     "%s inc %d idx %d: transitional event of %s carries view "
                                     "id %s, its last regular view was %s%s"
                                     % (key[0], key[1], e["idx"], g, e["view"], s["cur"],
                                        self.near(e["t"])))
                        s.update(phase="trans")
                        continue
                    seq[g].append(e["view"])
                    if s["first"] is None:
                        s["first"] = e["view"]
                    if not (s["phase"] == "trans" and e["cause"] != "network"):
                        s.update(phase="reg", ctx=e["view"])
                    elif s["ctx"] is not None:
                        # A clean-up view: its epoch belongs to the
                        # transitional configuration of the view closed.
                        self.cleanup_of[epoch(e["view"])].add(epoch(s["ctx"]))
                    s.update(cur=e["view"], member=True, mem=frozenset(e["members"]))
                elif e["ev"] == "deliver":
                    ctxs = {}
                    mem = {}
                    for g in e["groups"]:
                        s = st.get(g)
                        if s and s["member"]:
                            ctxs[g] = (s["ctx"], s["phase"], s["cur"], s["cur"] == s["first"])
                            mem[g] = s["mem"]
                    e["_ctx"] = ctxs
                    e["_mem"] = mem
                    m = (e["from"], e["seq"])
                    if e["t"] < self.first_deliv_t.get(m, float("inf")):
                        self.first_deliv_t[m] = e["t"]
                    self.deliv_ctx[(e["from"], e["seq"])].append((key, ctxs))
            self.n_trans_open += sum(1 for s in st.values() if s["phase"] == "trans")
            tail = "END" if key[1] == last_inc[key[0]] else "DISC"
            nxt = {}
            for g, vs in seq.items():
                for i, v in enumerate(vs):
                    nxt[(g, v)] = vs[i + 1] if i + 1 < len(vs) else tail
            rec["next"] = nxt
            rec["installed"] = {(g, v) for g, vs in seq.items() for v in vs}

    # -- fifo
    def check_fifo(self):
        """Per-sender order within one receiver incarnation. Two messages of
        one sender connection out of order: "fifo"; of two different
        connections of one sender (a reconnection, possibly through another
        server): "fifo_session"."""
        for (name, inc), rec in sorted(self.incs.items()):
            last = {}
            for e in rec["events"]:
                if e["ev"] != "deliver":
                    continue
                prev = last.get(e["from"])
                if prev is not None and e["seq"] <= prev[0]:
                    sp = self.sends.get((e["from"], prev[0]), {})
                    se = self.sends.get((e["from"], e["seq"]), {})
                    same = (sp.get("sinc") is not None and sp.get("sinc") == se.get("sinc")
                            and prev[2] == e["sender"])
                    self.add("fifo" if same else "fifo_session",
                             "%s inc %d delivered %s#%d (idx %d, via %s) after %s#%d "
                             "(idx %d, via %s)%s"
                             % (name, inc, e["from"], e["seq"], e["idx"], e["sender"],
                                e["from"], prev[0], prev[1], prev[2], self.near(e["t"])))
                last[e["from"]] = (e["seq"], e["idx"], e["sender"])

    # -- reliability
    def check_reliability(self):
        """Every gap -- a receiver incarnation R delivers a and c sent on one
        connection of sender S, not some b sent between them on that
        connection (R had joined b's groups before a) -- is judged by the
        EVS rules; it is a violation when
          (self)     R is that connection of S: a sender delivers its own
                     messages while its connection lasts;
          (together) some Q delivered b in configuration context V of a
                     group g of b that R is a member of, R installed V too,
                     and R and Q went from V to the same next regular view
                     (or both stayed in V to the end): they moved together
                     from V, so they deliver the same messages in it;
          (lost)     nobody delivered b, and R stayed in one regular
                     configuration from a to c (a delivered before any
                     transitional signal, no transitional signal or network
                     view of b's groups at R between a and c): S's server was
                     in R's configuration and ordered a, b and c there.
        Otherwise R and the configuration in which b was ordered were apart
        (a partition, or a server lost and merged back), which EVS allows:
        counted as excused."""
        self.gaps = 0
        self.gaps_excused = 0
        for key, rec in sorted(self.incs.items()):
            name, inc = key
            last = {}
            joined = {}  # group -> idx of the first view in this incarnation
            events = rec["events"]
            pos = {}
            for k, e in enumerate(events):
                if e["ev"] == "view":
                    joined.setdefault(e["group"], e["idx"])
                    continue
                if e["ev"] != "deliver":
                    continue
                pos[e["idx"]] = k
                prev = last.get(e["from"])
                last[e["from"]] = (e["seq"], e["idx"])
                if prev is None or e["seq"] <= prev[0] + 1:
                    continue
                sa = self.sends.get((e["from"], prev[0]))
                sc = self.sends.get((e["from"], e["seq"]))
                if not (sa and sc and sa["sinc"] is not None and sa["sinc"] == sc["sinc"]):
                    continue
                ea = events[pos[prev[1]]]
                between = [x for x in events[pos[prev[1]] + 1:k] if x["ev"] == "view"]
                for b in range(prev[0] + 1, e["seq"]):
                    sb = self.sends.get((e["from"], b))
                    if not sb or not sb["ok"] or sb["sinc"] != sa["sinc"]:
                        continue
                    if not all(joined.get(g, 1 << 62) < prev[1] for g in sb["groups"]):
                        continue
                    self.gaps += 1
                    why = self.gap_rule(key, rec, e["from"], sa["sinc"], (e["from"], b),
                                        sb, ea, e, between)
                    if why is None:
                        self.gaps_excused += 1
                        continue
                    self.add("reliability", "%s inc %d delivered %s#%d (idx %d) and %s#%d "
                             "(idx %d) but not %s#%d (%s to %s), all sent on %s's "
                             "connection %d: %s%s"
                             % (name, inc, e["from"], prev[0], prev[1], e["from"],
                                e["seq"], e["idx"], e["from"], b, sb["svc"], sb["groups"],
                                e["from"], sa["sinc"], why, self.near(e["t"])))

    def gap_rule(self, key, rec, sender, sinc, m, sb, ea, ec, between):
        """The EVS rule a gap breaks (text), or None when it is allowed."""
        if key == (sender, sinc):
            return "(self) the sender's own connection lost it"
        groups = set(sb["groups"])
        c_conf = {epoch(ctx) for ctx, _, _, _ in ec.get("_ctx", {}).values() if ctx}
        for qkey, ctxs in self.deliv_ctx.get(m, []):
            for g, (ctx, phase, _, _) in ctxs.items():
                if ctx and epoch(ctx) in c_conf:
                    return ("(order) %s inc %d delivered it in configuration %s (%s view %s), "
                            "where this receiver delivered the later %s#%d: one sender "
                            "connection, one origin server, so it precedes that one in "
                            "the configuration's order (or the other member delivered "
                            "it in a configuration it was not ordered in)"
                            % (qkey[0], qkey[1], epoch(ctx), g, ctx, sender, ec["seq"]))
        for qkey, ctxs in self.deliv_ctx.get(m, []):
            qrec = self.incs[qkey]
            for g, (ctx, phase, _, _) in ctxs.items():
                if g not in groups or ctx is None or (g, ctx) not in rec["installed"]:
                    continue
                nr = rec["next"].get((g, ctx))
                nq = qrec["next"].get((g, ctx))
                if nr == nq and nr != "DISC":
                    return ("(together) %s inc %d delivered it in %s view %s (%s), and both "
                            "went on from that view to %s" % (qkey[0], qkey[1], g, ctx,
                                                              "regular" if phase == "reg"
                                                              else "transitional", nr))
        if m in self.deliv_ctx:
            return None
        # Nobody delivered b. R's views show R's configuration only through
        # members: the sending session must be a member of R's view of b's
        # groups from a to c (else its server may have been apart from R's
        # without R seeing any change: groups are open).
        actx = ea.get("_ctx", {})
        amem = ea.get("_mem", {})
        mine = [g for g in groups if g in actx]
        if not mine or any(actx[g][1] != "reg" for g in mine):
            return None
        if any(ea["sender"] not in amem[g] for g in mine):
            return None
        for x in between:
            if x["group"] in groups and (x["trans"] or x["cause"] == "network"
                                         or ea["sender"] not in x["members"]):
                return None
        return ("(lost) delivered by nobody, and the receiver stayed in one configuration "
                "with the sending session %s in its view" % ea["sender"])

    # -- a network view that removes members comes after a transitional event
    def check_transitional_first(self):
        """Issue 4 §2: a crash, partition or merge gives first a transitional
        event, then the new regular view. A regular view with cause network
        that lacks a member of the member's previous regular view must
        follow a transitional event of that group (since that view)."""
        self.n_network_views = 0
        for key, rec in sorted(self.incs.items()):
            prev = {}      # g -> members of the last regular view
            trans = set()  # groups with a transitional event since then
            nreg = collections.Counter()  # g -> regular views installed
            for e in rec["events"]:
                if e["ev"] != "view":
                    continue
                g = e["group"]
                if e["self_leave"]:
                    prev.pop(g, None)
                    trans.discard(g)
                    continue
                if e["trans"]:
                    trans.add(g)
                    continue
                if e["cause"] == "network" and g in prev:
                    self.n_network_views += 1
                    gone = prev[g] - set(e["members"])
                    if gone and g not in trans:
                        self.add("transitional", "%s inc %d idx %d: %s view %s (network) "
                                 "removes %s with no transitional event before it%s%s"
                                 % (key[0], key[1], e["idx"], g, e["view"], sorted(gone),
                                    " (since its own join, its only view)" if nreg[g] == 1
                                    else "", self.near(e["t"])))
                prev[g] = set(e["members"])
                nreg[g] += 1
                if e["cause"] == "network":
                    trans.discard(g)  # clean-up views keep the signal pending

    # -- a connected member whose server delivers nothing while its own
    #    messages reach the others
    def check_stall(self):
        """Liveness during the faults: a member that stays connected for more
        than STALL_S seconds without any delivery or view while messages it
        sent in that time are delivered by other members (its server goes
        on ordering them but gives its own clients nothing)."""
        own_by = collections.defaultdict(list)  # (name, sinc) -> send times
        for (n, q), s in self.sends.items():
            if (s["sinc"] is not None and s["ok"] and (n, q) in self.first_deliv_t
                    and self.delivered_by.get((n, q), set()) - {n}):
                own_by[(n, s["sinc"])].append(s["t"])
        for key, rec in sorted(self.incs.items()):
            name, inc = key
            times = [rec["t"]] + [e["t"] for e in rec["events"]]
            end = min(rec.get("t_end", float("inf")), self.quiesce_t.get(name, float("inf")))
            if end != float("inf"):
                times.append(end)
            times.sort()
            own = sorted(own_by.get(key, ()))
            for t0, t1 in zip(times, times[1:]):
                if t1 - t0 <= STALL_S:
                    continue
                k = bisect.bisect_right(own, t0)
                if k < len(own) and own[k] < t1 - 1.0:
                    n_own = bisect.bisect_left(own, t1) - k
                    self.add("stall", "%s inc %d received nothing for %.1f s while connected "
                             "(%.3f to %.3f); %d of its messages sent then were delivered "
                             "by others%s" % (name, inc, t1 - t0, t0, t1, n_own,
                                              self.near(t0)))

    # -- EVS: a message belongs to one configuration
    def check_same_view(self):
        """Every member that delivers m delivers it in the same configuration:
        the epoch of its configuration context (annotate) is the same at
        every deliverer, for every group of m (view ids are (configuration
        epoch, seq); after a transitional signal the context is the view that
        signal closed, so both sides of a partition still name the old
        configuration). A joiner whose first view is its context is skipped
        when its epoch differs: a join delivered during clean-up gets a view
        of the transitional set's epoch, and the joiner's log alone cannot
        name the configuration it joined in. A context that is a clean-up
        view stands for the view whose transitional signal preceded it
        (conf_epoch)."""
        self.n_same_view = 0
        for m, lst in self.deliv_ctx.items():
            seen = collections.defaultdict(list)  # epoch -> [(where)]
            firsts = []
            for qkey, ctxs in lst:
                for g, (ctx, phase, cur, first) in ctxs.items():
                    if ctx is None:
                        continue
                    if first and phase == "reg":
                        firsts.append(epoch(ctx))
                        continue
                    seen[self.conf_epoch(ctx)].append("%s inc %d %s %s%s" % (
                        qkey[0], qkey[1], g, ctx, " (transitional)" if phase == "trans" else ""))
            self.n_same_view += 1
            if len(seen) > 1:
                t = self.sends.get(m, {}).get("t")
                self.add("same_view", "%s#%d (%s to %s) delivered in %d configurations: %s%s"
                         % (m[0], m[1], self.sends.get(m, {}).get("svc"),
                            self.sends.get(m, {}).get("groups"), len(seen),
                            "; ".join("%s: %s" % (ep, ", ".join(w[:3]))
                                      for ep, w in sorted(seen.items())), self.near(t)))

    def conf_epoch(self, ctx):
        """The configuration a delivery context names. A member that joins
        during clean-up (after others got the transitional signal) has the
        clean-up view as its context, although the members that got the
        signal deliver the same messages in the context of the view it
        closed: a clean-up view's epoch stands for that view's (when exactly
        one closed view is known for it)."""
        ep = epoch(ctx)
        closed = self.cleanup_of.get(ep)
        if closed and len(closed) == 1:
            ep = next(iter(closed))
        # Where no client there saw the closed view (every member of the
        # group at that server joined during clean-up), the server's own
        # derivation of clean-up epochs names it (cleanup_bases); every
        # epoch of one configuration maps to one name.
        return self.cleanup_bases().get(ep, ep)

    def cleanup_bases(self):
        """clean-up epoch -> the epoch of the configuration it cleans up.
        msgcd numbers the views changed after a transitional signal with
        SplitMix64(base ^ SplitMix64(h)), base the configuration's regular
        epoch and h the FNV-1a hash of the sorted node names of the
        transitional set, each followed by 0xff (Server::OnTransitional).
        SplitMix64 is a bijection, so every epoch seen gives one candidate
        base per possible transitional set; a candidate is real when it is
        an epoch seen, or when two epochs seen give it (two sides of one
        partition, both cleaning up a configuration whose own regular views
        no client saw: a change that left every group as it was renumbers
        its views without an event). Chance agreements of 64-bit values
        are negligible."""
        if getattr(self, "_cleanup_bases", None) is not None:
            return self._cleanup_bases
        cfg = next((f for f in self.faults if f["ev"] == "config"), {})
        nodes = ["node%d" % i for i in range(1, int(cfg.get("nodes", 3)) + 1)]
        hashes = []
        for r in range(1, len(nodes) + 1):
            for subset in itertools.combinations(sorted(nodes), r):
                h = 0xcbf29ce484222325
                for node in subset:
                    for c in node.encode():
                        h = ((h ^ c) * 0x100000001b3) & MASK64
                    h = ((h ^ 0xff) * 0x100000001b3) & MASK64
                hashes.append(split_mix64(h))
        epochs = {epoch(e["view"]) for rec in self.incs.values()
                  for e in rec["events"] if e["ev"] == "view"}
        derived = collections.defaultdict(set)  # candidate base -> epochs
        for ep in epochs:
            inv = split_mix64_inverse(int(ep, 16))
            for sh in hashes:
                derived["%016x" % (inv ^ sh)].add(ep)
        # Epochs linked through a real candidate name one configuration
        # (union-find; a pair of clean-up epochs of one base also agrees on
        # a second, spurious candidate, which links the same two epochs).
        parent = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for base, eps in derived.items():
            if base in epochs or len(eps) > 1:
                linked = sorted(eps | ({base} if base in epochs else set()))
                for ep in linked[1:]:
                    parent[find(ep)] = find(linked[0])
        out = {}
        for ep in list(parent):
            out[ep] = find(ep)
        self._cleanup_bases = out
        return out

    # -- agreed
    def check_agreed(self):
        pos = {}
        for key, rec in self.incs.items():
            p = {}
            for e in rec["events"]:
                if e["ev"] == "deliver" and e["svc"] in ("agreed", "safe"):
                    p.setdefault((e["from"], e["seq"]), (len(p), e["t"]))
            if p:
                pos[key] = p
        # Only incarnations whose delivery periods come within AGREED_SLACK
        # seconds of each other can share messages worth comparing (keeps
        # long runs with many reconnections tractable).
        span = {k: (min(t for _, t in p.values()), max(t for _, t in p.values()))
                for k, p in pos.items()}
        keys = sorted(pos, key=lambda k: span[k][0])
        for i, a in enumerate(keys):
            pa = pos[a]
            for b in keys[i + 1:]:
                if span[b][0] > span[a][1] + AGREED_SLACK:
                    break
                if a[0] == b[0]:
                    continue  # two incarnations of one process never overlap
                pb = pos[b]
                small, big = (pa, pb) if len(pa) <= len(pb) else (pb, pa)
                common = [m for m in small if m in big]
                if len(common) < 2:
                    continue
                common.sort(key=lambda m: pa[m][0])
                best = None
                for m in common:
                    if best is not None and pb[m][0] < pb[best][0]:
                        self.add("agreed", "%s inc %d delivered %s#%d before %s#%d; "
                                 "%s inc %d the other way round%s"
                                 % (a[0], a[1], best[0], best[1], m[0], m[1],
                                    b[0], b[1], self.near(pa[m][1])))
                        break  # one report per pair
                    if best is None or pb[m][0] > pb[best][0]:
                        best = m

    # -- views
    def check_views(self):
        self.view_members = {}
        self.n_view_events = 0
        self.n_trans = 0
        trans_seen = {}
        for (name, inc), rec in sorted(self.incs.items()):
            for e in rec["events"]:
                if e["ev"] != "view":
                    continue
                self.n_view_events += 1
                if e["trans"]:
                    self.n_trans += 1
                if e["self_leave"]:
                    continue
                key = (e["group"], e["view"], e["trans"])
                members = tuple(e["members"])
                where = "%s inc %d idx %d" % (name, inc, e["idx"])
                if e["trans"]:
                    # A transitional event carries the id of the view it
                    # closes and the members moving on together: each side of
                    # a partition has its own list. Two members that list
                    # each other must list the same members.
                    trans_seen.setdefault((e["group"], e["view"]), []).append(
                        (rec["priv"], members, where, e["t"]))
                elif key in self.view_members:
                    other, owhere = self.view_members[key]
                    if other != members:
                        self.add("view_agreement", "%s view %s%s: %s sees %s, %s sees %s%s"
                                 % (e["group"], e["view"], " (transitional)" if e["trans"]
                                    else "", owhere, list(other), where, list(members),
                                    self.near(e["t"])))
                if not e["trans"] and key not in self.view_members:
                    self.view_members[key] = (members, where)
                if rec["priv"] and rec["priv"] not in members:
                    self.add("self_inclusion", "%s (%s) installed %s view %s%s without "
                             "itself: %s%s" % (where, rec["priv"], e["group"], e["view"],
                                               " (transitional)" if e["trans"] else "",
                                               list(members), self.near(e["t"])))
                if len(set(members)) != len(members):
                    self.add("view_agreement", "%s view %s lists a member twice: %s (%s)"
                             % (e["group"], e["view"], list(members), where))
        for (g, vid), lst in sorted(trans_seen.items()):
            regular = self.view_members.get((g, vid, False))
            for i, (pa, ma, wa, ta) in enumerate(lst):
                if regular is not None and not set(ma) <= set(regular[0]):
                    self.add("view_agreement", "%s transitional of view %s at %s lists "
                             "%s, not a subset of the view %s%s"
                             % (g, vid, wa, list(ma), list(regular[0]), self.near(ta)))
                for pb, mb, wb, tb in lst[i + 1:]:
                    if pa in mb and pb in ma and ma != mb:
                        self.add("view_agreement", "%s transitional of view %s: %s sees "
                                 "%s, %s sees %s (each lists the other)%s"
                                 % (g, vid, wa, list(ma), wb, list(mb), self.near(ta)))

    # -- virtual synchrony
    def check_vs(self):
        seen = {}
        self.n_vs_pairs = 0
        for (name, inc), rec in sorted(self.incs.items()):
            cur = {}   # group -> (view id, set of msgs, t)
            for e in rec["events"]:
                if e["ev"] == "deliver":
                    m = (e["from"], e["seq"])
                    for g in e["groups"]:
                        if g in cur:
                            cur[g][1].add(m)
                elif e["ev"] == "view" and not e["trans"]:
                    g = e["group"]
                    if e["self_leave"]:
                        cur.pop(g, None)
                        continue
                    if g in cur:
                        key = (g, cur[g][0], e["view"])
                        msgs = frozenset(cur[g][1])
                        where = "%s inc %d" % (name, inc)
                        if key in seen:
                            self.n_vs_pairs += 1
                            omsgs, owhere = seen[key]
                            if omsgs != msgs:
                                only_a = sorted(omsgs - msgs)
                                only_b = sorted(msgs - omsgs)
                                self.add("virtual_synchrony",
                                         "%s views %s -> %s: %s delivered %d msgs, %s %d; "
                                         "only at %s: %s; only at %s: %s%s"
                                         % (g, key[1], key[2], owhere, len(omsgs), where,
                                            len(msgs), owhere, fmt_msgs(only_a), where,
                                            fmt_msgs(only_b), self.near(e["t"])))
                        else:
                            seen[key] = (msgs, where)
                    cur[g] = (e["view"], set(), e["t"])

    # -- safe
    def check_safe(self):
        """A safe message delivered by R in regular view V of g (before R's
        transitional signal closing V) was held by every server of the
        configuration: every member that installed V and stayed connected
        past V (a later event of g in the same incarnation) delivers it."""
        safe_in = collections.defaultdict(dict)  # (g, V) -> {msg: where}
        installed = collections.defaultdict(list)  # (g, V) -> [(inc key)]
        self.n_safe_checked = 0
        self.safe_views = set()
        delivered = {}
        for key, rec in self.incs.items():
            cur = {}      # g -> (V, closed)
            dset = set()
            for e in rec["events"]:
                if e["ev"] == "view":
                    g = e["group"]
                    if g in cur and cur[g][0] is not None:
                        installed[(g, cur[g][0])].append(key)  # continued past V
                    if e["self_leave"]:
                        cur[g] = (None, True)
                    elif e["trans"]:
                        cur[g] = (cur.get(g, (None, True))[0], True)
                    else:
                        cur[g] = (e["view"], False)
                elif e["ev"] == "deliver":
                    m = (e["from"], e["seq"])
                    dset.add(m)
                    if e["svc"] != "safe":
                        continue
                    for g in e["groups"]:
                        v = cur.get(g)
                        if v and v[0] is not None and not v[1]:
                            safe_in[(g, v[0])].setdefault(
                                m, ("%s inc %d idx %d" % (key[0], key[1], e["idx"]),
                                    e["t"]))
            delivered[key] = dset
        for gv, msgs in sorted(safe_in.items()):
            for key in sorted(set(installed.get(gv, []))):
                for m, (where, t) in sorted(msgs.items()):
                    self.n_safe_checked += 1
                    if m not in delivered[key]:
                        self.safe_views.add(gv)
                        self.add("safe", "%s#%d (safe to %s) delivered in %s view %s at %s, "
                                 "but %s inc %d installed that view, stayed connected past "
                                 "it and never delivered it%s"
                                 % (m[0], m[1], self.sends.get(m, {}).get("groups"), gv[0],
                                    gv[1], where, key[0], key[1], self.near(t)))

    # -- liveness
    def check_liveness(self):
        conv = [f for f in self.faults if f["ev"] == "converged"]
        self.liveness_checked = 0
        nc = [f for f in self.faults if f["ev"] == "not_converged"]
        if nc:
            ok, why = converged(self.run_dir, len(self.clients), nc[-1]["t"])
            self.add("liveness", "clients did not converge to one view within 60 s of "
                     "the final heal: " + why)
            return
        if not conv:
            self.add("liveness", "no convergence record in faults.jsonl (run cut short?)")
            return
        t_conv = conv[-1]["t"]
        names = set(self.clients)
        # final regular views before quiesce
        finals = collections.defaultdict(set)
        for name in names:
            incs = sorted(i for (n, i) in self.incs if n == name)
            if not incs:
                self.add("liveness", "%s never connected" % name)
                continue
            rec = self.incs[(name, incs[-1])]
            if rec["t"] > t_conv:
                self.add("liveness", "%s reconnected after convergence (inc %d at %.3f)"
                         % (name, incs[-1], rec["t"]))
            lastv = {}
            for e in rec["events"]:
                if e["ev"] == "view" and e["t"] < self.quiesce_t.get(name, float("inf")):
                    lastv[e["group"]] = e
            for g, e in lastv.items():
                finals[g].add((e["view"], e["trans"], tuple(e["members"])))
        for g, vs in sorted(finals.items()):
            if len(vs) != 1:
                self.add("liveness", "final views of %s differ: %s" % (g, sorted(vs)))
                continue
            (vid, trans, members), = vs
            if trans or set(name_of(m) for m in members) != names:
                self.add("liveness", "final view %s of %s is %s%s, want all %d clients"
                         % (vid, g, list(members), " (transitional)" if trans else "",
                            len(names)))
        for (name, seq), s in sorted(self.sends.items()):
            if s["t"] <= t_conv or not s["ok"]:
                continue
            if s["t"] >= self.quiesce_t.get(name, float("inf")):
                continue
            self.liveness_checked += 1
            missing = names - self.delivered_by.get((name, seq), set())
            if missing:
                self.add("liveness", "%s#%d (%s to %s, sent %.3f s after convergence) "
                         "not delivered at %s" % (name, seq, s["svc"], s["groups"],
                                                  s["t"] - t_conv, sorted(missing)))

    # -- verdict
    def report(self):
        n_sent = sum(1 for s in self.sends.values() if s["ok"])
        distinct = len(self.delivered_by)
        faults = [f for f in self.faults if f["ev"] == "fault"]
        by_kind = collections.Counter(f["kind"] for f in faults)
        cfg = next((f for f in self.faults if f["ev"] == "config"), {})
        views = len({(g, v) for (g, v, t) in self.view_members})
        reconnects = sum(1 for (n, i) in self.incs if i > 1)
        total = sum(len(v) for v in self.violations.values())
        print("msgc fault-injection checker: %s" % self.run_dir)
        print("  seed %s, nodes %s, clients %d, groups %s"
              % (cfg.get("seed", "?"), cfg.get("nodes", "?"), len(self.clients),
                 cfg.get("groups", "?")))
        print("  faults: %d (%s)" % (len(faults), ", ".join(
            "%s %d" % kv for kv in sorted(by_kind.items()))))
        print("  messages: %d sent (%d sends refused locally), %d distinct delivered, "
              "%d deliveries" % (n_sent, self.n_failed_sends, distinct, self.n_deliveries))
        print("  views: %d distinct view ids, %d view events (%d transitional), "
              "%d reconnections" % (views, self.n_view_events, self.n_trans, reconnects))
        print("  virtual synchrony: %d view pairs compared; safe: %d (message, member) "
              "pairs; liveness: %d messages checked after convergence"
              % (self.n_vs_pairs, self.n_safe_checked, self.liveness_checked))
        print("  reliability: %d gaps, %d allowed by EVS (receiver and the sending "
              "configuration apart), %d not; same configuration: %d messages"
              % (self.gaps, self.gaps_excused, self.gaps - self.gaps_excused,
                 self.n_same_view))
        kinds = ["integrity", "fifo", "fifo_session", "reliability", "same_view", "agreed",
                 "view_agreement", "transitional", "self_inclusion", "virtual_synchrony", "safe",
                 "liveness", "stall", "harness"]
        print("  violations: %d (%s)" % (total, ", ".join(
            "%s %d" % (k, len(self.violations.get(k, []))) for k in kinds)))
        if self.safe_views:
            print("  safe violations fall in %d views (group, view id): %s"
                  % (len(self.safe_views), ", ".join(
                      "%s %s" % gv for gv in sorted(self.safe_views)[:12])))
        with open(os.path.join(self.run_dir, "violations.txt"), "w") as f:
            for k in kinds:
                for v in self.violations.get(k, []):
                    f.write("%s: %s\n" % (k, v))
        for k in kinds:
            vs = self.violations.get(k, [])
            for v in vs[:MAX_SHOWN]:
                print("  VIOLATION %s: %s" % (k, v))
            if len(vs) > MAX_SHOWN:
                print("  ... %d more %s violations in violations.txt"
                      % (len(vs) - MAX_SHOWN, k))
        print("VERDICT: %s (seed %s)" % ("PASS" if total == 0 else "FAIL",
                                         cfg.get("seed", "?")))
        return 0 if total == 0 else 1


MASK64 = (1 << 64) - 1


def split_mix64(x):
    """msgcd's SplitMix64 (src/server/server.cc)."""
    x = (x + 0x9e3779b97f4a7c15) & MASK64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & MASK64
    return x ^ (x >> 31)


def split_mix64_inverse(y):
    """The x with split_mix64(x) == y."""
    def unxorshift(v, shift):
        x = v
        for _ in range(64 // shift + 1):
            x = v ^ (x >> shift)
        return x
    x = unxorshift(y, 31)
    x = (x * pow(0x94d049bb133111eb, -1, 1 << 64)) & MASK64
    x = unxorshift(x, 27)
    x = (x * pow(0xbf58476d1ce4e5b9, -1, 1 << 64)) & MASK64
    x = unxorshift(x, 30)
    return (x - 0x9e3779b97f4a7c15) & MASK64


def epoch(view_id):
    """'89f3e68646687eee.7' -> '89f3e68646687eee' (the configuration)."""
    return view_id.rsplit(".", 1)[0]


def fmt_msgs(ms, limit=6):
    s = ", ".join("%s#%d" % m for m in ms[:limit])
    if len(ms) > limit:
        s += ", ... (%d)" % len(ms)
    return "[" + s + "]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--converged", action="store_true")
    ap.add_argument("--clients", type=int, default=0)
    a = ap.parse_args()
    if a.converged:
        ok, why = converged(a.run_dir, a.clients)
        print(why)
        return 0 if ok else 1
    return Checker(a.run_dir).run()


if __name__ == "__main__":
    sys.exit(main())
