#!/usr/bin/env python3
"""Writes a synthetic fault-harness history (tests/fault/history.h) the size of a long soak, to
measure the checker (mqfault-check) on it:

    python3 tests/fault/gen_history.py --sends 1000000 --out /tmp/h.jsonl
    /usr/bin/time -v build/bin/mqfault-check /tmp/h.jsonl

The rows look like the workload's (workload.cc): nlohmann's dump, keys sorted, no spaces. Twelve
producers (three groups of four queues) send paced messages; every --fault-interval-ms a fault row
(hosts array, groups ["*"]) hits one group, whose sends time out ("unknown", some stored after all)
or fail for a while; tailing consumers write "consume" rows; at the end every queue is drained.

--defects N plants N of each defect in the drain (a lost message, a pair of swapped neighbours,
i.e. two moved and one order violation, and a duplicate copy) and the expected verdict counts are
printed on stderr.
"""
import argparse
import json
import random
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sends", type=int, default=1000000, help="send invokes (about)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--fault-interval-ms", type=int, default=30000)
    ap.add_argument("--defects", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode

    groups = ["broker-a", "broker-b", "broker-c"]
    hosts = ["h0", "h1", "h2"]
    kinds = ["bridge", "isolate", "kill9", "kill9-host", "stop-leader", "halves", "isolate-leader", "stop"]
    producers = 12
    topic = "FaultTopic"
    addr = {g: "10.77.0.%d:10911" % (i + 2) for i, g in enumerate(groups)}

    out = open(a.out, "w", buffering=1 << 20)
    w = lambda row: out.write(dumps(row) + "\n")
    t = 1765000000000
    w({"t": t, "f": "note", "type": "info", "detail": "workload start", "topic": topic, "brokers": groups})

    seq = [0] * producers
    next_off = {}  # (group, queue) -> next queue offset
    stored = {}  # (group, queue) -> [key at each offset]
    down_until = {g: 0 for g in groups}  # sends to a hit group time out / fail until then
    next_fault = t + a.fault_interval_ms
    sends = acked = 0
    while sends < a.sends:
        t += 2  # 12 producers pacing 20 ms, roughly
        if t >= next_fault:
            g = rng.choice(groups)
            kind = rng.choice(kinds)
            w({"t": t, "f": "fault", "type": "info", "fault": kind, "hosts": [hosts[groups.index(g)]],
               "groups": ["*"], "n": 1})
            down_until[g] = t + rng.choice([300, 600, 3000, 6000])
            w({"t": t + 10000, "f": "heal", "type": "info", "fault": kind, "hosts": [hosts[groups.index(g)]],
               "n": 1})
            next_fault += a.fault_interval_ms
        p = sends % producers
        g = groups[p // 4]
        q = p % 4
        key = "p%d-%d" % (p, seq[p])
        base = {"proc": p, "topic": topic, "broker": g, "queue": q, "key": key, "seq": seq[p], "addr": addr[g]}
        w(dict(base, t=t, f="send", type="invoke"))
        sends += 1
        oq = (g, q)
        if t < down_until[g]:
            if rng.random() < 0.5:
                row = dict(base, t=t + 3000, f="send", type="unknown", start=t,
                           detail="timeout: no response in 3000 ms")
                if rng.random() < 0.3:  # stored after all: the retry stores it again
                    off = next_off.get(oq, 0)
                    next_off[oq] = off + 1
                    stored.setdefault(oq, []).append(key)
            else:
                row = dict(base, t=t + 1, f="send", type="fail", start=t, detail="connect failed: refused")
            w(row)
            continue
        off = next_off.get(oq, 0)
        next_off[oq] = off + 1
        stored.setdefault(oq, []).append(key)
        done = t + rng.randint(1, 6)
        w(dict(base, t=done, f="send", type="ok", start=t, offset=off, status="SEND_OK"))
        acked += 1
        seq[p] += 1
        for _ in range(2 if rng.random() < 0.18 else 1):
            w({"t": done + rng.randint(1, 20), "f": "consume", "type": "ok", "proc": "c-" + g, "topic": topic,
               "broker": g, "queue": q, "offset": off, "key": key, "born": t, "addr": addr[g]})

    w({"t": t + 20000, "f": "note", "type": "info", "detail": "healed", "leaders": {"h0": ["broker-a"]}})
    w({"t": t + 20001, "f": "drain", "type": "info", "proc": "drain", "detail": "start", "queues": 12,
       "sabotage_drop_drained_every": 0})
    # Defects, planted in the drain of the first queues that are long enough.
    lost = moved = order = dups = 0
    plans = {}
    for n in range(a.defects):
        oq = sorted(stored)[n % len(stored)]
        plans.setdefault(oq, []).append(n)
    summary = []
    tt = t + 20002
    for oq in sorted(stored):
        keys = list(stored[oq])
        drops = set()
        extra = []
        for i, n in enumerate(plans.get(oq, [])):
            at = 100 + 1000 * i
            if at + 3 >= len(keys):
                continue
            keys[at], keys[at + 1] = keys[at + 1], keys[at]  # two moved, one order violation
            moved += 2
            order += 1
            drops.add(at + 2)  # never drained: lost
            lost += 1
            extra.append(at + 3)  # drained twice: a duplicate
            dups += 1
        for off, key in enumerate(keys):
            if off in drops:
                continue
            for _ in range(2 if off in extra else 1):
                w({"t": tt, "f": "drain", "type": "ok", "proc": "drain", "topic": topic, "broker": oq[0],
                   "queue": oq[1], "offset": off if off not in extra or _ == 0 else len(keys) + off,
                   "key": key, "addr": addr[oq[0]]})
            tt += 1
        summary.append({"broker": oq[0], "queue": oq[1], "min": 0, "max": len(keys), "read": len(keys),
                        "done": True, "error": ""})
    w({"t": tt, "f": "drain", "type": "info", "proc": "drain", "detail": "done", "queues": summary})
    out.close()
    print("sends %d acked %d; planted: lost %d moved %d order %d duplicates %d" % (sends, acked, lost, moved, order,
                                                                                  dups), file=sys.stderr)


if __name__ == "__main__":
    main()
