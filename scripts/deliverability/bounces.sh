#!/usr/bin/env bash
# scripts/deliverability/bounces.sh: the whole bounce loop against real
# servers. mailmerge sends a campaign to a private Postfix that accepts
# every address of example.org and then bounces the unknown ones into the
# sender's Maildir; a private Dovecot (dovecot-imapd) serves that Maildir
# over IMAP with TLS (a throwaway CA). `mailmerge bounces` must record the
# two hard bounces as bounced and add them to bounced.csv, leave the
# mailbox unflagged, change nothing when run again, and `send --resume`
# must send nobody a second copy; a second campaign with
# suppress = ["bounced.csv"] must skip them. A real report from the corpus
# placed in the mailbox is read but matches no row. Prints one PASS/FAIL
# line per check (SKIP for what this build cannot do yet); exits 1 on any
# FAIL.
#
# Everything listens on 127.0.0.1 and lives in a temporary folder; Postfix
# and Dovecot are private instances (never the system's), stopped at the
# end. Needs root (apt-get; Postfix's daemons run as postfix). The Postfix
# set-up and the throwaway CA come from lib.bash.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/deliverability/lib.bash

need=()
command -v /usr/sbin/postfix >/dev/null || need+=(postfix)
command -v /usr/sbin/dovecot >/dev/null || need+=(dovecot-imapd)
command -v openssl >/dev/null || need+=(openssl)
apt_install "${need[@]}"

W=$(mktemp -d /tmp/mailmerge-bounces.XXXXXX)
chmod 755 "$W"
PF=$W/postfix
DV=$W/dovecot
cleanup() {
  set +e
  [ -f "$PF/etc/main.cf" ] && postfix -c "$PF/etc" stop >/dev/null 2>&1
  [ -f "$DV/dovecot.conf" ] && dovecot -c "$DV/dovecot.conf" stop >/dev/null 2>&1
  sleep 0.5
  rm -rf "$W"
}
trap cleanup EXIT

go build -o "$W/mailmerge" ./cmd/mailmerge
MM=$W/mailmerge

# Throwaway CA and a certificate for localhost and 127.0.0.1, for Dovecot.
T=$W/tls; throwaway_tls "$T" bounces

# Postfix: accepts any address of example.org at RCPT (so the send reports
# sent), then virtual(8) finds no mailbox for the unknown ones and bounces
# them to the sender, nami@example.com, whose Maildir Dovecot serves.
PF_PORT=$(free_port)
private_postfix "$PF" "$PF_PORT" mx.localhost "example.com example.org"
echo "smtpd_reject_unlisted_recipient = no" >> "$PF/etc/main.cf"
printf 'nami@example.com example.com/nami/\nknown@example.org example.org/known/\n' > "$PF/etc/vmailbox"
if ! postfix -c "$PF/etc" start >"$W/postfix-start.log" 2>&1 || ! wait_port "$PF_PORT"; then
  fail "postfix: private instance did not start: $(tail -2 "$W/postfix-start.log" | tr '\n' ' ')"
  exit 1
fi

# Dovecot: IMAP with implicit TLS only, one user, nami@example.com, whose
# mail is the Maildir Postfix delivers to (same uid).
mkdir -p "$DV/run" "$PF/mail/example.com/nami/"{cur,new,tmp}
chown -R postfix:postfix "$PF/mail"
DV_PORT=$(free_port)
PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
printf 'nami@example.com:{PLAIN}%s\n' "$PASSWORD" > "$DV/passwd"
chmod 644 "$DV/passwd"
cat > "$DV/dovecot.conf" <<EOF
# Private Dovecot for scripts/deliverability/bounces.sh; never the system instance.
base_dir = $DV/run
instance_name = mailmerge-bounces
protocols = imap
listen = 127.0.0.1
log_path = $DV/dovecot.log
ssl = required
ssl_cert = <$T/server.pem
ssl_key = <$T/server.key
disable_plaintext_auth = yes
auth_mechanisms = plain
first_valid_uid = $(id -u postfix)
mail_location = maildir:$PF/mail/%d/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DV/passwd
}
userdb {
  driver = static
  args = uid=postfix gid=postfix home=$PF/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $DV_PORT
    ssl = yes
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
EOF
if ! dovecot -c "$DV/dovecot.conf" >"$W/dovecot-start.log" 2>&1 || ! wait_port "$DV_PORT"; then
  fail "dovecot: private instance did not start: $(tail -3 "$W/dovecot-start.log" "$DV/dovecot.log" 2>/dev/null | tr '\n' ' ')"
  exit 1
fi

# The campaign: one known address, two unknown ones.
C=$W/campaign; mkdir -p "$C"
printf 'name,email\nKnown,known@example.org\nGhost One,ghost1@example.org\nGhost Two,ghost2@example.org\n' > "$C/list.csv"
printf 'Dear {{.name}},\n\nthe meeting is on Friday.\n' > "$C/body.txt"
cat > "$C/campaign.toml" <<TOML
recipients = "list.csv"
from       = "Nami <nami@example.com>"
to         = "{{.name}} <{{.email}}>"
subject    = "Friday {{.name}}"
text       = "body.txt"
[smtp]
host     = "127.0.0.1"
port     = $PF_PORT
security = "none"
ca_file  = "$T/ca.pem"
[send]
rate = "50/s"
[imap]
host     = "localhost"
port     = $DV_PORT
security = "ssl"
username = "nami@example.com"
TOML
export MAILMERGE_PASSWORD=$PASSWORD

if "$MM" send "$C/campaign.toml" --yes --quiet >"$W/send.out" 2>&1 && \
   [ "$(grep -c ',sent,' "$C/results.csv")" = 3 ]; then
  pass "send: Postfix accepted all 3 messages (results.csv: 3 sent)"
else
  fail "send: $(tail -3 "$W/send.out" | tr '\n' ' ')"
fi
wait_queue "$PF" || true
NAMI=$PF/mail/example.com/nami
reports=$(grep -l 'report-type=delivery-status' "$NAMI"/new/* 2>/dev/null | wc -l)
if [ "$reports" = 2 ]; then
  pass "postfix: bounced the 2 unknown addresses into the sender's Maildir"
else
  fail "postfix: $reports delivery reports in the sender's Maildir, want 2 ($(grep -E 'status=' "$PF/maillog" | tail -3 | tr '\n' ' '))"
fi
# A real report from the corpus, about nobody of this campaign.
cp internal/bounce/testdata/lhost-qmail-01.eml "$NAMI/new/1700000000.corpus.mx.localhost"
chown postfix:postfix "$NAMI/new/1700000000.corpus.mx.localhost"
maildir_state() { (cd "$NAMI" && find new cur -type f | sed 's/^\(new\|cur\)\///' | sort | sha256sum); }
flags_set() { find "$NAMI/cur" -type f -name '*:2,*[STD]*' | wc -l; }

if "$MM" bounces "$C/campaign.toml" --json >"$W/b1.json" 2>"$W/b1.err"; then
  got=$(json "$W/b1.json" 'f"{hard} {recorded} {suppressed} {unmatched} {messages}"')
  if [ "$got" = "3 2 2 1 3" ]; then
    pass "bounces over Dovecot (TLS, verified CA): 3 messages, 2 hard bounces recorded, 1 corpus report unmatched"
  else
    fail "bounces: hard recorded suppressed unmatched messages = $got, want 3 2 2 1 3: $(cat "$W/b1.json")"
  fi
else
  fail "bounces: exit $?: $(cat "$W/b1.err" | tr '\n' ' ')"
fi
# virtual(8) refuses without an SMTP reply: the code column is 0, the reason Postfix's.
if grep -q '^3,ghost2@example.org,bounced,0,"5.1.1 unknown user' "$C/results.csv" && grep -q '^2,ghost1@example.org,bounced,0,"5.1.1 unknown user' "$C/results.csv" && \
   grep -q '^1,known@example.org,sent,' "$C/results.csv"; then
  pass "results.csv: rows 2 and 3 bounced with 5.1.1 and Postfix's reason, row 1 still sent"
else
  fail "results.csv: $(tr '\r\n' '  ' < "$C/results.csv")"
fi
if grep -q ghost1@example.org "$C/bounced.csv" && grep -q ghost2@example.org "$C/bounced.csv" && ! grep -q known@ "$C/bounced.csv"; then
  pass "bounced.csv: both unknown addresses, not the known one"
else
  fail "bounced.csv: $(tr '\r\n' '  ' < "$C/bounced.csv" 2>/dev/null)"
fi
if [ "$(flags_set)" = 0 ]; then
  pass "read-only: Dovecot's Maildir has no message marked seen, trashed or deleted"
else
  fail "read-only: $(flags_set) messages got flags: $(ls "$NAMI/cur" | tr '\n' ' ')"
fi

state=$(maildir_state); results=$(sha256sum < "$C/results.csv"); bounced=$(sha256sum < "$C/bounced.csv")
if "$MM" bounces "$C/campaign.toml" --json >"$W/b2.json" 2>"$W/b2.err" && \
   [ "$(json "$W/b2.json" 'f"{recorded} {suppressed}"')" = "0 0" ] && \
   [ "$results" = "$(sha256sum < "$C/results.csv")" ] && [ "$bounced" = "$(sha256sum < "$C/bounced.csv")" ] && \
   [ "$state" = "$(maildir_state)" ]; then
  pass "idempotent: a second run records nothing and changes no file, mailbox included"
else
  fail "idempotent: second run $(cat "$W/b2.json" "$W/b2.err" | tr '\n' ' ')"
fi

before=$(grep -c 'status=sent' "$PF/maillog" || true)
if "$MM" send "$C/campaign.toml" --resume --retry-failed --yes --quiet >"$W/resume.out" 2>&1; then
  wait_queue "$PF" || true
  after=$(grep -c 'status=sent' "$PF/maillog" || true)
  if [ "$before" = "$after" ] && grep -q 'bounced 2' "$W/resume.out"; then
    pass "send --resume: the bounced rows are final; nothing was sent again"
  else
    fail "send --resume: Postfix delivered $((after - before)) more: $(tail -3 "$W/resume.out" | tr '\n' ' ')"
  fi
else
  fail "send --resume: $(tail -3 "$W/resume.out" | tr '\n' ' ')"
fi

# --move-to: the reports leave INBOX for a folder, only once the results are safe.
mkdir -p "$NAMI/.Bounces/"{cur,new,tmp} && chown -R postfix:postfix "$NAMI/.Bounces"
if "$MM" bounces "$C/campaign.toml" --move-to Bounces --json >"$W/b3.json" 2>"$W/b3.err" && \
   [ "$(json "$W/b3.json" 'f"{moved} {recorded}"')" = "3 0" ] && \
   [ "$(find "$NAMI/new" "$NAMI/cur" -type f | wc -l)" = 0 ] && [ "$(find "$NAMI/.Bounces/new" "$NAMI/.Bounces/cur" -type f | wc -l)" = 3 ] && \
   [ "$results" = "$(sha256sum < "$C/results.csv")" ]; then
  pass "--move-to Bounces: Dovecot moved the 3 reports out of INBOX; the results file is unchanged"
else
  fail "--move-to: $(cat "$W/b3.json" "$W/b3.err" | tr '\n' ' ') INBOX $(find "$NAMI/new" "$NAMI/cur" -type f | wc -l) files"
fi

# A second campaign to the same list, suppressing bounced.csv.
C2=$W/campaign2; mkdir -p "$C2"
cp "$C/list.csv" "$C/body.txt" "$C2/"
sed 's/^text       = "body.txt"$/text       = "body.txt"\nsuppress   = ["..\/campaign\/bounced.csv"]/' "$C/campaign.toml" > "$C2/campaign.toml"
check2=$("$MM" check "$C2/campaign.toml" 2>&1 || true)
if [[ $check2 == *'unknown key "suppress"'* ]]; then
  skip "second campaign with suppress = [\"bounced.csv\"]: this build has no suppress key yet"
elif "$MM" send "$C2/campaign.toml" --yes --quiet >"$W/send2.out" 2>&1; then
  if grep -q '^2,ghost1@example.org,skipped,' "$C2/results.csv" && grep -q '^3,ghost2@example.org,skipped,' "$C2/results.csv" && \
     grep -q '^1,known@example.org,sent,' "$C2/results.csv"; then
    pass "second campaign with suppress = [\"bounced.csv\"]: the bounced addresses are skipped, the known one sent"
  else
    fail "second campaign: $(tr '\r\n' '  ' < "$C2/results.csv")"
  fi
else
  fail "second campaign: $(tail -3 "$W/send2.out" | tr '\n' ' ')"
fi

if [ $FAILS -gt 0 ]; then exit 1; fi
