#!/usr/bin/env python3
"""scripts/scale/tally.py: counts a results file against the Maildirs the
relays delivered into, for scripts/scale/relays.sh.

    tally.py RESULTS.csv ROWS [--stop EPOCH --restart EPOCH] NAME=MAILDIR...

Prints one JSON object: the rows of the results file (missing, twice,
by status, by relay), every Message-ID found in the Maildirs and how many
copies each has (lost: a sent row with no copy; duplicates: a Message-ID
with two or more copies, in one Maildir or across them), the unknown rows
reconciled (delivered once, and by which relay's Maildir, or not at all;
one in the Maildir of a relay other than its own was retried elsewhere),
and with --stop/--restart the rows each relay took before the stop,
during the outage and after the restart (by the time column, which has
whole seconds: the second of the stop and the one after are left out of
the outage so that the replies in flight then do not count)."""

import csv
import json
import os
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone


def message_id(path):
    """The Message-ID header of a stored message (headers only are read)."""
    with open(path, "rb") as f:
        for line in f:
            if line in (b"\n", b"\r\n"):
                return None
            if line[:11].lower() == b"message-id:":
                return line[11:].strip().decode("ascii", "replace")
    return None


def maildir_ids(maildir):
    ids = Counter()
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            mid = message_id(os.path.join(d, name))
            ids[mid or "(none)"] += 1
    return ids


def epoch(stamp):
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def main(argv):
    results, want = argv[0], int(argv[1])
    stop = restart = None
    rest = argv[2:]
    boxes = []
    while rest:
        a = rest.pop(0)
        if a == "--stop":
            stop = int(rest.pop(0))
        elif a == "--restart":
            restart = int(rest.pop(0))
        else:
            name, _, path = a.partition("=")
            boxes.append((name, path))

    rows = {}
    twice = []
    with open(results, newline="", encoding="utf-8-sig") as f:
        for rec in csv.DictReader(f):
            n = int(rec["row"])
            if n in rows:
                twice.append(n)
            rows[n] = rec
    missing = [n for n in range(1, want + 1) if n not in rows]
    extra = sorted(n for n in rows if n < 1 or n > want)

    copies = defaultdict(list)  # Message-ID -> relay of each copy
    per_box = {}
    for name, path in boxes:
        ids = maildir_ids(path)
        per_box[name] = sum(ids.values())
        for mid, k in ids.items():
            copies[mid].extend([name] * k)
    by_id = {rec["message_id"]: n for n, rec in rows.items()}

    out = {
        "rows": len(rows),
        "missing": missing[:20], "missing_count": len(missing),
        "twice": twice[:20], "twice_count": len(twice),
        "out_of_range": extra[:20],
        "status": dict(Counter(r["status"] for r in rows.values())),
        "relay": dict(Counter(r.get("relay", "") for r in rows.values() if r["status"] == "sent")),
        "maildir": per_box,
    }
    lost, dups, wrong_box = [], [], []
    unknown = {"delivered": Counter(), "not_delivered": [], "elsewhere": []}
    for n, rec in sorted(rows.items()):
        got = copies.get(rec["message_id"], [])
        if len(got) > 1:
            dups.append({"row": n, "status": rec["status"], "relay": rec.get("relay", ""), "maildirs": got})
        if rec["status"] == "unknown":
            if len(got) == 1:
                unknown["delivered"][got[0]] += 1
                if rec.get("relay") and got[0] != rec["relay"]:
                    unknown["elsewhere"].append({"row": n, "relay": rec["relay"], "maildirs": got})
            elif not got:
                unknown["not_delivered"].append({"row": n, "relay": rec.get("relay", ""), "reply": rec["reply"]})
            continue
        if rec["status"] == "sent":
            if not got:
                lost.append({"row": n, "relay": rec.get("relay", ""), "reply": rec["reply"]})
            elif rec.get("relay") and got[0] != rec["relay"]:
                wrong_box.append({"row": n, "relay": rec["relay"], "maildirs": got})
    strangers = [mid for mid in copies if mid not in by_id]
    out.update({
        "lost": lost[:20], "lost_count": len(lost),
        "duplicates": dups[:20], "duplicates_count": len(dups),
        "wrong_maildir": wrong_box[:20], "wrong_maildir_count": len(wrong_box),
        "strangers": strangers[:20], "strangers_count": len(strangers),
        "unknown": {"delivered": dict(unknown["delivered"]),
                    "not_delivered": unknown["not_delivered"][:20],
                    "not_delivered_count": len(unknown["not_delivered"]),
                    "not_delivered_rows": ",".join(str(u["row"]) for u in unknown["not_delivered"]),
                    "elsewhere": unknown["elsewhere"][:20],
                    "elsewhere_count": len(unknown["elsewhere"])},
    })

    if stop is not None and restart is not None:
        phases = {"before": Counter(), "outage": Counter(), "after": Counter()}
        for rec in rows.values():
            if rec["status"] != "sent":
                continue
            t = epoch(rec["time"])
            if t < stop:
                phases["before"][rec.get("relay", "")] += 1
            elif stop + 2 <= t < restart:
                phases["outage"][rec.get("relay", "")] += 1
            elif t >= restart:
                phases["after"][rec.get("relay", "")] += 1
        out["phases"] = {k: dict(v) for k, v in phases.items()}
    json.dump(out, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
