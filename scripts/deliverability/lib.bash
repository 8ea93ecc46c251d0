# scripts/deliverability/lib.bash: what the deliverability scripts share
# (not a check itself: scripts/proof runs only the *.sh here),
# sourced from the repository root. Everything listens on
# 127.0.0.1; the Postfix instance is private, never the system's.

PY=/usr/bin/python3
export PATH=$PATH:/usr/sbin
FAILS=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
skip() { echo "SKIP $*"; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# json FILE EXPR: EXPR evaluated over the keys of the JSON object in FILE.
json() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2], dict(v)))' "$@"; }

# apt_install PKG...: installs what is missing; the postfix package must
# not set up or start a system MTA ("No configuration").
apt_install() {
  [ $# -gt 0 ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

# throwaway_tls DIR NAME: a throwaway CA (DIR/ca.pem) and a certificate
# for localhost and 127.0.0.1 (DIR/server.pem, DIR/server.key).
throwaway_tls() {
  local T=$1; mkdir -p "$T"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=mailmerge $2 throwaway CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$T/server.key" -out "$T/server.csr" -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$T/ext.cnf"
  openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 -out "$T/server.pem" -extfile "$T/ext.cnf" 2>/dev/null
  chmod 644 "$T"/*
}

# private_postfix PF PORT HOSTNAME DOMAINS: the configuration of a Postfix
# instance in PF listening on 127.0.0.1:PORT, delivering DOMAINS to virtual
# Maildirs under PF/mail by PF/etc/vmailbox. The caller appends its own
# main.cf lines and writes vmailbox, then starts it.
private_postfix() {
  local PF=$1 port=$2
  mkdir -p "$PF/etc" "$PF/queue" "$PF/data" "$PF/mail"
  chown postfix "$PF/data" "$PF/mail"
  cp /etc/postfix/master.cf "$PF/etc/master.cf" 2>/dev/null || cp /usr/share/postfix/master.cf.dist "$PF/etc/master.cf"
  awk -v port="$port" '
    /^smtp[ \t]+inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
    /^[^# \t]/ && NF >= 8 { $5 = "n" }
    { print }' "$PF/etc/master.cf" > "$PF/etc/master.cf.new" && mv "$PF/etc/master.cf.new" "$PF/etc/master.cf"
  cat > "$PF/etc/main.cf" <<CF
# Private Postfix for scripts/deliverability; never the system instance.
compatibility_level = 3.6
config_directory = $PF/etc
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $3
mydomain = localhost
myorigin = $3
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
alias_maps =
alias_database =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
virtual_mailbox_domains = $4
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
CF
}

# wait_queue PF [SECONDS]: until the Postfix instance in PF has no message
# left to deliver (30 s unless told); fails if one is still queued then.
wait_queue() {
  local tenths=$(( ${2:-30} * 10 ))
  for _ in $(seq "$tenths"); do
    [ -z "$(find "$1/queue/incoming" "$1/queue/active" "$1/queue/deferred" "$1/queue/maildrop" "$1/queue/hold" -type f 2>/dev/null | head -1)" ] && return 0
    sleep 0.1
  done
  return 1
}
