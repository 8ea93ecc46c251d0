#!/usr/bin/python3
"""Verify the DKIM signature of messages as a receiver stored them, with
Debian's python3-dkim (dkimpy), whose DNS lookup answers from the records
given on the command line only: nothing leaves the machine.

usage: dkim_verify.py RECORDS_FILE [--tamper] MESSAGE...

RECORDS_FILE holds "NAME VALUE" lines (the zone name with its final dot and
the TXT value). Prints "verified N" and, for each message that fails, the
file and the reason; exits 1 when any fails. With --tamper it changes one
byte of each message's body first and exits 0 only when every one fails.
"""
import sys
import dkim

args = sys.argv[1:]
records = {}
with open(args.pop(0)) as f:
    for line in f:
        name, _, value = line.strip().partition(" ")
        records[name.lower().rstrip(".")] = value.encode()
tamper = args and args[0] == "--tamper"
if tamper:
    args.pop(0)


def dnsfunc(name, timeout=5):
    return records.get(name.decode().lower().rstrip("."))


def received(path):
    data = open(path, "rb").read()
    # A Maildir file may store lines with LF alone (Postfix's virtual(8)
    # does); on the wire, where a receiver verifies, they end in CRLF.
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if tamper:
        head, sep, body = data.partition(b"\r\n\r\n")
        i = body.find(b"report")
        if i < 0:
            i = len(body) // 2
        body = body[:i] + b"R" + body[i + 1:]
        data = head + sep + body
    return data


failed = verified = 0
for path in args:
    logs = []

    class Log:
        def debug(self, *a): pass
        def info(self, *a): logs.append(" ".join(map(str, a)))
        def warning(self, *a): logs.append(" ".join(map(str, a)))
        error = warning

    try:
        ok = dkim.verify(received(path), logger=Log(), dnsfunc=dnsfunc, minkey=2048)
    except Exception as e:  # a message dkimpy cannot read fails too
        ok, logs = False, logs + [repr(e)]
    if ok:
        verified += 1
    else:
        failed += 1
        if not tamper:
            print("%s: %s" % (path, "; ".join(logs) or "does not verify"))
print("verified %d, failed %d" % (verified, failed))
if tamper:
    sys.exit(0 if verified == 0 and failed > 0 else 1)
sys.exit(1 if failed or not verified else 0)
