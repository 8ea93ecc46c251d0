#!/usr/bin/python3
"""Score each .eml given with SpamAssassin, local tests only (spamassassin -L),
and print one proof record per file: score, the rules that fired with their
points, and pass if the score is below the limit (argv[1])."""
import json, re, subprocess, sys

limit = float(sys.argv[1])
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        out = subprocess.run(["spamassassin", "-L", "-t"], stdin=f, capture_output=True).stdout.decode("utf-8", "replace")
    m = re.search(r"^X-Spam-Status: .*?score=(-?[\d.]+)", out, re.M)
    score = float(m.group(1)) if m else None
    rules = re.findall(r"^\s*(-?[\d.]+)\s+([A-Z0-9_]+)\s", out.split("Content analysis details:")[-1], re.M)
    print(json.dumps({"section": "spam", "file": path.split("/")[-2] + "/" + path.split("/")[-1],
                      "score": score, "rules": ["%s (%s)" % (r, p) for p, r in rules],
                      "pass": score is not None and score < limit}, ensure_ascii=False))
