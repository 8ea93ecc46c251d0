#!/usr/bin/env bash
# scripts/deliverability/dkim.sh: DKIM signatures verify as received, with a
# verifier independent of the signer. mailmerge sends a signed campaign (a
# Chinese subject, an attachment, a line SMTP must dot-stuff, a bcc and the
# one-click unsubscribe headers) to a private Postfix instance delivering to
# Maildirs, to Python's aiosmtpd and to Mailpit (read back over its HTTP
# API), with an RSA 2048 and an Ed25519 key;
# Debian's python3-dkim verifies every stored copy, its DNS answered from the
# record `mailmerge dkim keygen` printed. A copy with one body byte changed
# must fail. Prints one PASS/FAIL line per check; exits 1 on any FAIL.
#
# Everything listens on 127.0.0.1 and lives in a temporary folder; the
# Postfix instance is private (never the system's) and stopped at the end.
# Needs root (apt-get; Postfix's daemons run as postfix). The Postfix set-up
# and the throwaway CA come from lib.bash; the aiosmtpd server is
# scripts/proof's own proof/aiosmtpd_server.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/deliverability/lib.bash

need=()
command -v /usr/sbin/postfix >/dev/null || need+=(postfix)
$PY -c 'import dkim' 2>/dev/null || need+=(python3-dkim)
$PY -c 'import nacl' 2>/dev/null || need+=(python3-nacl)   # dkimpy's Ed25519
$PY -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
command -v openssl >/dev/null || need+=(openssl)
apt_install "${need[@]}"

W=$(mktemp -d /tmp/mailmerge-dkim.XXXXXX)
chmod 755 "$W"
PF=$W/postfix
AIO_PID=
cleanup() {
  set +e
  [ -f "$PF/etc/main.cf" ] && postfix -c "$PF/etc" stop >/dev/null 2>&1
  [ -n "$AIO_PID" ] && kill "$AIO_PID" 2>/dev/null && wait "$AIO_PID" 2>/dev/null
  [ -n "${MP_PID:-}" ] && kill "$MP_PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

go build -o "$W/mailmerge" ./cmd/mailmerge
MM=$W/mailmerge

# Throwaway CA and a certificate for localhost, for aiosmtpd's implicit TLS.
T=$W/tls; throwaway_tls "$T" dkim

# The keys, and the DNS the verifier sees: the records keygen printed.
: > "$W/records.txt"
for kind in rsa ed25519; do
  "$MM" dkim keygen --domain example.com --selector "s-$kind" --type "$kind" --out "$W/$kind.pem" >"$W/$kind.zone" 2>/dev/null
  $PY - "$W/$kind.zone" >>"$W/records.txt" <<'PY'
import re, sys
line = open(sys.argv[1]).read().strip()
print(line.split(" ")[0], "".join(re.findall(r'"([^"]*)"', line)))
PY
done

# campaign KIND HOST PORT SECURITY USER NAME: a signed campaign aimed at a
# server, in its own folder NAME; its 3 rows and their bcc make 6 copies.
campaign() {
  local dir=$W/campaign-$1-$6
  mkdir -p "$dir"
  printf 'name,email\n李雷,li.lei@example.com\nAlice,alice@example.org\nHan Meimei,han@example.com\n' > "$dir/list.csv"
  printf '亲爱的 {{.name}}:\n\n.a line that starts with a dot\nyour monthly report is attached.\n' > "$dir/body.txt"
  head -c 3000 /dev/urandom > "$dir/report.bin"
  cat > "$dir/campaign.toml" <<TOML
recipients  = "list.csv"
from        = "娜美 <nami@news.example.com>"
to          = "{{.name}} <{{.email}}>"
bcc         = "audit@example.net"
subject     = "来自娜美的问候：你的月度报告 {{.name}}"
text        = "body.txt"
attachments = ["report.bin"]
[headers]
List-Unsubscribe      = "<https://news.example.com/u?t={{.email}}>"
List-Unsubscribe-Post = "List-Unsubscribe=One-Click"
[smtp]
host     = "$2"
port     = $3
security = "$4"
username = "$5"
ca_file  = "$T/ca.pem"
[send]
rate = "50/s"
[dkim]
domain   = "example.com"
selector = "s-$1"
key_file = "$W/$1.pem"
TOML
  echo "$dir/campaign.toml"
}

# verify SERVER KIND FILES...: every stored copy verifies; a tampered one fails.
# verify_stored SERVER KIND WANT FIND-ARGS...: the messages find lists must
# be WANT in number, then each is verified.
verify_stored() {
  local server=$1 kind=$2 want=$3; shift 3
  local files
  mapfile -t files < <(find "$@" -type f | sort)
  if [ ${#files[@]} -ne "$want" ]; then
    fail "dkim $kind via $server: ${#files[@]} copies stored, want $want"; return
  fi
  verify "$server" "$kind" "${files[@]}"
}

verify() {
  local server=$1 kind=$2; shift 2
  local out
  if out=$($PY scripts/deliverability/dkim_verify.py "$W/records.txt" "$@" 2>&1); then
    pass "dkim $kind as received by $server: python3-dkim verifies all $# copies (${out##*$'\n'})"
  else
    fail "dkim $kind as received by $server: $(echo "$out" | head -3 | tr '\n' ' ')"
  fi
  if out=$($PY scripts/deliverability/dkim_verify.py "$W/records.txt" --tamper "$@" 2>&1); then
    pass "dkim $kind tamper via $server: one body byte changed fails on every copy"
  else
    fail "dkim $kind tamper via $server: a changed copy still verifies ($out)"
  fi
  local f=$1 c
  # The bcc's own copy says Delivered-To (and X-Original-To) audit@...: the
  # server's lines, not the message's.
  if for c; do grep -vi '^delivered-to:\|^x-original-to:\|^return-path:' "$c"; done | grep -qi '^bcc:\|audit@example.net'; then
    fail "dkim $kind via $server: the bcc shows in a received copy"
  elif grep -A3 '^DKIM-Signature:' "$f" | tr -d '\r\n ' | grep -q 'List-Unsubscribe:List-Unsubscribe-Post;'; then
    pass "dkim $kind via $server: h= signs List-Unsubscribe and List-Unsubscribe-Post, no bcc anywhere"
  else
    fail "dkim $kind via $server: h= does not sign both unsubscribe headers"
  fi
}

# Postfix: a private instance, loopback only, virtual Maildirs per domain.
PF_PORT=$(free_port)
private_postfix "$PF" "$PF_PORT" dkim.localhost "example.com example.org example.net"
echo "virtual_mailbox_limit = 0" >> "$PF/etc/main.cf"
for dom in example.com example.org example.net; do echo "@$dom $dom/all/"; done > "$PF/etc/vmailbox"
if postfix -c "$PF/etc" start >"$W/postfix-start.log" 2>&1 && wait_port "$PF_PORT"; then
  for kind in rsa ed25519; do
    rm -rf "${PF:?}/mail/"*
    c=$(campaign "$kind" 127.0.0.1 "$PF_PORT" none "" postfix)
    sed -i '/^username/d; /^ca_file/d' "$c"
    if ! "$MM" send "$c" --yes --quiet >"$W/send.log" 2>&1; then
      fail "dkim $kind via postfix: send failed: $(tail -2 "$W/send.log" | tr '\n' ' ')"; continue
    fi
    for _ in $(seq 150); do # Postfix delivers asynchronously
      [ "$(find "$PF/mail" -path '*/new/*' -type f | wc -l)" -ge 6 ] && break; sleep 0.2
    done
    verify_stored postfix "$kind" 6 "$PF/mail" -path '*/new/*'
  done
else
  fail "dkim via postfix: the private instance did not start: $(tail -2 "$W/postfix-start.log" | tr '\n' ' ')"
fi

# aiosmtpd: implicit TLS and AUTH, each copy written as received.
AIO_PORT=$(free_port)
$PY proof/aiosmtpd_server.py "$AIO_PORT" "$T/server.pem" "$T/server.key" "$W/aio" proof proof-secret >"$W/aiosmtpd.log" 2>&1 &
AIO_PID=$!
if wait_port "$AIO_PORT"; then
  for kind in rsa ed25519; do
    rm -rf "${W:?}/aio/"*
    c=$(campaign "$kind" localhost "$AIO_PORT" ssl proof aiosmtpd)
    if ! MAILMERGE_PASSWORD=proof-secret "$MM" send "$c" --yes --quiet >"$W/send.log" 2>&1; then
      fail "dkim $kind via aiosmtpd: send failed: $(tail -2 "$W/send.log" | tr '\n' ' ')"; continue
    fi
    verify_stored aiosmtpd "$kind" 6 "$W/aio" -path '*/new/*'
  done
else
  fail "dkim via aiosmtpd: the server did not start: $(tail -2 "$W/aiosmtpd.log" | tr '\n' ' ')"
fi

# Mailpit: implicit TLS, any login; each message read back raw over its
# HTTP API. It stores a message once for all its recipients: 3, not 6.
MP_PID=""
if GOBIN=$W/bin go install github.com/axllent/mailpit@v1.33.1 >"$W/mailpit-install.log" 2>&1; then
  MP_SMTP=$(free_port) MP_HTTP=$(free_port)
  "$W/bin/mailpit" --smtp "127.0.0.1:$MP_SMTP" --listen "127.0.0.1:$MP_HTTP" --database "$W/mailpit.db" --max 0 \
    --smtp-auth-accept-any --smtp-tls-cert "$T/server.pem" --smtp-tls-key "$T/server.key" --smtp-require-tls \
    --smtp-disable-rdns >"$W/mailpit.log" 2>&1 &
  MP_PID=$!
  if wait_port "$MP_SMTP" && wait_port "$MP_HTTP"; then
    for kind in rsa ed25519; do
      $PY -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$MP_HTTP/api/v1/messages', method='DELETE'))"
      c=$(campaign "$kind" localhost "$MP_SMTP" ssl proof mailpit)
      if ! MAILMERGE_PASSWORD=proof-secret "$MM" send "$c" --yes --quiet >"$W/send.log" 2>&1; then
        fail "dkim $kind via mailpit: send failed: $(tail -2 "$W/send.log" | tr '\n' ' ')"; continue
      fi
      rm -rf "$W/mp-$kind"; mkdir -p "$W/mp-$kind"
      $PY - "http://127.0.0.1:$MP_HTTP" "$W/mp-$kind" <<'PY'
import json, sys, urllib.request as u
base, out = sys.argv[1:]
for m in json.load(u.urlopen(base + "/api/v1/messages?limit=1000"))["messages"]:
    open("%s/%s.eml" % (out, m["ID"]), "wb").write(u.urlopen(base + "/api/v1/message/%s/raw" % m["ID"]).read())
PY
      verify_stored mailpit "$kind" 3 "$W/mp-$kind"
    done
  else
    fail "dkim via mailpit: the server did not start: $(tail -2 "$W/mailpit.log" | tr '\n' ' ')"
  fi
  kill "$MP_PID" 2>/dev/null; wait "$MP_PID" 2>/dev/null || true
else
  echo "SKIP dkim via mailpit: go install github.com/axllent/mailpit@v1.33.1 failed: $(tail -1 "$W/mailpit-install.log")"
fi

# render's .eml files are signed the same way.
for kind in rsa ed25519; do
  c=$(campaign "$kind" 127.0.0.1 25 none "" render)
  "$MM" render "$c" --out "$W/eml-$kind" --deterministic >/dev/null 2>&1
  if out=$($PY scripts/deliverability/dkim_verify.py "$W/records.txt" "$W/eml-$kind"/*.eml 2>&1); then
    pass "dkim $kind: render's .eml files verify (${out##*$'\n'})"
  else
    fail "dkim $kind: render's .eml files do not verify: $(echo "$out" | head -2 | tr '\n' ' ')"
  fi
done

[ "$FAILS" -eq 0 ]
