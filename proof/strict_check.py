#!/usr/bin/python3
"""Parse every .eml given with Python's email package under
email.policy.strict and print one JSON line per file: its defects (header and
MIME), or the exception strict parsing raised."""
import email, email.policy, json, sys

for path in sys.argv[1:]:
    out = {"section": "strict", "file": "/".join(path.split("/")[-2:]), "defects": []}
    try:
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.strict)
        for part in msg.walk():
            out["defects"] += [type(d).__name__ + ": " + str(d) for d in part.defects]
            for k, v in part.items():  # header values are parsed lazily; strict raises here
                out["defects"] += [type(d).__name__ for d in getattr(v, "defects", ())]
            if not part.is_multipart():
                part.get_content()
        out["subject"] = str(msg["subject"])
    except Exception as e:  # strict policy raises on the first defect
        out["defects"].append("%s: %s" % (type(e).__name__, e))
    out["pass"] = not out["defects"]
    print(json.dumps(out, ensure_ascii=False))
