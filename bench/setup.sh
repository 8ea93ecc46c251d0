#!/bin/bash
# Install what bench/run.sh needs and make a throwaway TLS certificate.
# Run as root (or with sudo). Postfix is installed only for its smtp-sink and
# smtp-source test programs: its mail daemon is never started.
# Env: BENCH_DIR (/tmp/mailmerge-bench): scratch directory, also holds the cert.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
BENCH_DIR="${BENCH_DIR:-/tmp/mailmerge-bench}"

# "No configuration" keeps the installer from setting up (and starting) a mail system.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get -o DPkg::Lock::Timeout=600 update
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends postfix stunnel4 python3 openssl time procps iproute2 ca-certificates
if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then postfix stop; fi

# smtp-sink/smtp-source live in /usr/sbin; make sure they are reachable.
for t in smtp-sink smtp-source stunnel4 openssl; do
  command -v "$t" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$t" >/dev/null \
    || { echo "setup: $t not found after install" >&2; exit 1; }
done
/usr/bin/python3 -c 'import smtplib, ssl, email.mime.text'

# Self-signed cert for stunnel, valid for the name and the address we dial.
mkdir -p "$BENCH_DIR/tls"
if [ ! -s "$BENCH_DIR/tls/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
    -keyout "$BENCH_DIR/tls/key.pem" -out "$BENCH_DIR/tls/cert.pem" \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  chmod 644 "$BENCH_DIR/tls/key.pem"   # stunnel may drop privileges; throwaway key
fi
echo "setup ok (cert: $BENCH_DIR/tls/cert.pem)"
