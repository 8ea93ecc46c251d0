#!/usr/bin/env bash
# scripts/scale/relays.sh: the relay pool and shards against real MTAs
# (issue #14, section 3). Three private Postfix instances, a, b and c, act
# as relays, each delivering every address of example.test into its own
# Maildir.
#
#   failover  20,000 rows over a, b and c; b is stopped (postfix stop) once a
#             third is recorded and started again at half, during the run.
#             The results file must have one row per list row, none failed;
#             every sent row's Message-ID in exactly one Maildir, its relay's;
#             each unknown row (a connection cut by the stop) in its own
#             relay's Maildir or in none, never another's. b must take
#             nothing during its outage and mail again after its restart.
#             Then, as send's hint says, the unknown rows found in no
#             Maildir are resent (--resume --resend-unknown --rows), and
#             every row's Message-ID must be in exactly one Maildir (0 lost,
#             0 duplicates).
#   rate      each relay limited to the same rate: one relay against three,
#             by wall time of the whole send; three must be >= 2.7x faster.
#   shards    four `send --shard i/4` over 100,000 rows to the three relays,
#             at the same time, then `mailmerge results merge`: every row
#             exactly once, in the merged file and in the Maildirs. Prints
#             each shard's peak RSS and the results-file bytes per row.
#
# Prints one PASS/FAIL line per check and a table of what was measured;
# exits 1 on any FAIL. Knobs (environment): FAIL_N (20000), FAIL_RATE
# (100/s per relay), RATE_N (1500), RATE (50/s per relay), SHARD_N (100000),
# SCALE_TMP (/dev/shm: a tmpfs, so Postfix's fsyncs cost nothing; /tmp
# when /dev/shm is missing), SECTIONS ("failover rate shards"),
# MAILMERGE_BIN (a prebuilt binary instead of building ./cmd/mailmerge),
# KEEP=1 keeps the scratch folder.
#
# Everything listens on 127.0.0.1 and lives in a temporary folder; the
# Postfix instances are private (never the system's) and stopped at the end,
# on failure too. Needs root (apt-get; Postfix's daemons run as postfix).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/deliverability/lib.bash

FAIL_N=${FAIL_N:-20000} FAIL_RATE=${FAIL_RATE:-100/s}
RATE_N=${RATE_N:-1500} RATE=${RATE:-50/s}
SHARD_N=${SHARD_N:-100000}
SECTIONS=${SECTIONS:-failover rate shards}
RELAYS=(a b c)

need=()
command -v /usr/sbin/postfix >/dev/null || need+=(postfix)
[ -x /usr/bin/time ] || need+=(time)
apt_install "${need[@]}"

tmp=${SCALE_TMP:-/dev/shm}
[ -d "$tmp" ] && [ -w "$tmp" ] || tmp=/tmp
W=$(mktemp -d "$tmp/mailmerge-relays.XXXXXX")
chmod 755 "$W"
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for r in "${RELAYS[@]}"; do
    [ -f "$W/$r/etc/main.cf" ] && postfix -c "$W/$r/etc" stop >/dev/null 2>&1
  done
  wait 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "scratch kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

MM=${MAILMERGE_BIN:-$W/mailmerge}
[ -n "${MAILMERGE_BIN:-}" ] || go build -o "$MM" ./cmd/mailmerge
declare -A PORT

# relay_setup NAME: a private Postfix in $W/NAME on a free port, taking
# every address of example.test into one Maildir, $W/NAME/mail/example.test/all.
# Tuned so local delivery keeps up: no in-flow delay (smtpd would wait for
# the queue manager), no per-client connection limit, more processes.
relay_setup() {
  local PF=$W/$1
  PORT[$1]=$(free_port)
  private_postfix "$PF" "${PORT[$1]}" "$1.localhost" example.test
  cat >> "$PF/etc/main.cf" <<CF
in_flow_delay = 0
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
CF
  echo "@example.test example.test/all/" > "$PF/etc/vmailbox"
}
relay_start() { postfix -c "$W/$1/etc" start >>"$W/$1.start.log" 2>&1 && wait_port "${PORT[$1]}"; }
relay_stop() { postfix -c "$W/$1/etc" stop >>"$W/$1.start.log" 2>&1; }
maildir() { echo "$W/$1/mail/example.test/all"; }
# drain: every relay's queue delivered (up to 120 s), then the Maildirs are
# complete.
drain() {
  local r ok=0
  for r in "${RELAYS[@]}"; do wait_queue "$W/$r" 120 || { echo "relay $r: queue not empty after 120 s" >&2; ok=1; }; done
  return $ok
}
# clear_mail: empties the Maildirs between sections (virtual(8) makes them again).
clear_mail() { local r; for r in "${RELAYS[@]}"; do rm -rf "$(maildir "$r")"; done; }

# campaign DIR ROWS RATE WORKERS RELAY...: a campaign in DIR over a list of
# ROWS rows (bench/gen's: 5 columns, a ~2 KB text+HTML message) sent to the
# named relays, each limited to RATE with WORKERS connections.
campaign() {
  local dir=$1 n=$2 rate=$3 workers=$4 r; shift 4
  go run ./bench/gen -dir "$dir" -n "$n" -list-only >/dev/null
  {
    cat <<TOML
# scripts/scale/relays.sh: loopback only.
recipients = "recipients.csv"
from       = "Newsletter <news@example.test>"
to         = "{{.name}} <{{.email}}>"
subject    = "Ihre persönliche Einladung – {{.name}}"
text       = "body.txt.tmpl"
html       = "body.html.tmpl"

[smtp]
host     = "127.0.0.1"
security = "none"

[send]
rate    = "$rate"
results = "results.csv"
TOML
    for r; do
      printf '\n[[relays]]\nname = "%s"\nhost = "127.0.0.1"\nport = %d\nrate = "%s"\nworkers = %d\nmax_per_connection = 100\n' \
        "$r" "${PORT[$r]}" "$rate" "$workers"
    done
  } > "$dir/campaign.toml"
}
# done_rows FILE: outcomes recorded so far (0 before the file exists).
done_rows() { if [ -f "$1" ]; then echo $(( $(wc -l < "$1") - 1 )); else echo 0; fi; }
# tally OUT RESULTS ROWS [ARGS...]: tally.py's counts of RESULTS against the
# three Maildirs, into OUT (JSON).
tally() {
  local out=$1 results=$2 n=$3; shift 3
  $PY scripts/scale/tally.py "$results" "$n" "$@" a="$(maildir a)" b="$(maildir b)" c="$(maildir c)" > "$out"
}
now() { echo "$EPOCHREALTIME"; }
since() { $PY -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }

# failover: b is stopped once a third of the rows are recorded and started
# again at half (and at least 8 s later), while the run goes on.
failover() {
  local C=$W/failover out=$W/failover.json t="$W/failover.tally.json"
  mkdir -p "$C"
  campaign "$C" "$FAIL_N" "$FAIL_RATE" 2 a b c
  local t0; t0=$(now)
  "$MM" send --yes --quiet --json "$C/campaign.toml" > "$out" 2> "$W/failover.err" &
  local pid=$! rc=0 stop_t= restart_t=
  PIDS+=("$pid")
  while kill -0 "$pid" 2>/dev/null; do
    local got; got=$(done_rows "$C/results.csv")
    if [ -z "$stop_t" ] && [ "$got" -ge $((FAIL_N / 3)) ]; then
      relay_stop b || fail "failover: relay b did not stop: $(tail -1 "$W/b.start.log")"
      stop_t=$(date +%s); echo "failover: relay b stopped after $got rows"
    elif [ -n "$stop_t" ] && [ -z "$restart_t" ] && [ "$got" -ge $((FAIL_N / 2)) ] && [ $(( $(date +%s) - stop_t )) -ge 8 ]; then
      relay_start b || fail "failover: relay b did not start again"
      restart_t=$(date +%s); echo "failover: relay b started again after $got rows, $((restart_t - stop_t)) s out"
    fi
    sleep 0.2
  done
  wait "$pid" || rc=$?
  local secs; secs=$(since "$t0")
  if [ -z "$stop_t" ]; then
    fail "failover: the run ended (exit $rc) before a third of the rows were recorded: $(tail -2 "$W/failover.err" | tr '\n' ' ')"
    stop_t=$(date +%s)
  fi
  if [ -z "$restart_t" ]; then
    fail "failover: the run ended (exit $rc) before relay b was started again: $(tail -2 "$W/failover.err" | tr '\n' ' ')"
    relay_start b || true; restart_t=$(date +%s)
  fi
  drain || fail "failover: a relay's queue did not drain"
  [ -f "$C/results.csv" ] || { fail "failover: no results file (send exit $rc): $(tail -2 "$W/failover.err" | tr '\n' ' ')"; return; }
  tally "$t" "$C/results.csv" "$FAIL_N" --stop "$stop_t" --restart "$restart_t"
  echo "failover: send exit $rc in $secs s; $(json "$t" 'f"status {status}, sent by relay {relay}, Maildirs {maildir}"')"
  failover_checks "$t" "$rc"
  failover_resend "$C" "$t"
  measured "failover: rows, wall time" "$FAIL_N rows, $secs s (exit $rc)"
  measured "failover: sent per relay (a b c)" "$(json "$t" '" ".join(str(relay.get(r, 0)) for r in "abc")')"
  local p label
  for p in before outage after; do
    case $p in before) label="before b's stop" ;; outage) label="during b's outage" ;; after) label="after b's restart" ;; esac
    measured "failover: sent per relay (a b c) $label" "$(json "$t" '" ".join(str(phases["'$p'"].get(r, 0)) for r in "abc")')"
  done
  measured "failover: unknown (delivered / not)" "$(json "$t" '"%d / %d" % (sum(unknown["delivered"].values()), unknown["not_delivered_count"])')"
}

# failover_checks TALLY RC: the PASS/FAIL lines of the failover run.
failover_checks() {
  local t=$1 rc=$2
  if [ "$(json "$t" 'missing_count + twice_count + len(out_of_range)')" = 0 ] && [ "$(json "$t" 'rows')" = "$FAIL_N" ]; then
    pass "failover results: one row per list row ($FAIL_N): $(json "$t" 'status') (send exit $rc)"
  else
    fail "failover results: $(json "$t" 'f"{rows} rows; missing {missing_count} {missing}; twice {twice_count} {twice}; out of range {out_of_range}"')"
  fi
  if [ "$(json "$t" 'status.get("failed", 0) + status.get("skipped", 0)')" = 0 ]; then
    pass "failover: no row failed"
  else
    fail "failover: $(json "$t" 'status') (send exit $rc): $(tail -2 "$W/failover.err" | tr '\n' ' ')"
  fi
  if [ "$(json "$t" 'lost_count + duplicates_count + wrong_maildir_count + strangers_count')" = 0 ]; then
    pass "failover delivery: every sent row's Message-ID in exactly one Maildir, that of its relay; no Message-ID twice (Maildirs $(json "$t" 'maildir'))"
  else
    fail "failover delivery: $(json "$t" 'f"lost {lost_count} {lost}; duplicates {duplicates_count} {duplicates}; in the Maildir of another relay {wrong_maildir_count} {wrong_maildir}; not in the results {strangers_count} {strangers}"')"
  fi
  local u; u=$(json "$t" 'status.get("unknown", 0)')
  if [ "$(json "$t" 'unknown["elsewhere_count"]')" = 0 ]; then
    pass "failover unknown: $u rows unknown, none retried on another relay; $(json "$t" '"%d delivered once (by Maildir %s), %d in no Maildir (cut before Postfix queued them)" % (sum(unknown["delivered"].values()), unknown["delivered"], unknown["not_delivered_count"])')"
  else
    fail "failover unknown: in the Maildir of a relay other than the one the results name: $(json "$t" '"%d %s" % (unknown["elsewhere_count"], unknown["elsewhere"])')"
  fi
  if [ "$(json "$t" 'phases["outage"].get("b", 0)')" = 0 ] && [ "$(json "$t" 'phases["outage"].get("a", 0) > 0 and phases["outage"].get("c", 0) > 0')" = True ]; then
    pass "failover share: during b's outage a and c took every row ($(json "$t" 'phases["outage"]'))"
  else
    fail "failover share: rows sent during b's outage by relay: $(json "$t" 'phases["outage"]')"
  fi
  if [ "$(json "$t" 'phases["after"].get("b", 0) > 0')" = True ]; then
    pass "failover return: b took mail again after its restart ($(json "$t" 'phases["after"]'))"
  else
    fail "failover return: b took nothing after its restart (after: $(json "$t" 'phases["after"]'))"
  fi
}

# failover_resend DIR TALLY: what the unknown hint tells a user to do:
# resend only the unknown rows found in no Maildir; then every row's
# Message-ID must be in exactly one Maildir.
failover_resend() {
  local C=$1 t=$2 rows rc=0
  rows=$(json "$t" 'unknown["not_delivered_rows"]')
  if [ -n "$rows" ]; then
    "$MM" send --resume --resend-unknown --rows "$rows" --yes --quiet --json "$C/campaign.toml" > "$W/resend.json" 2> "$W/resend.err" || rc=$?
    drain || fail "failover resend: a relay's queue did not drain"
  fi
  local t2=$W/failover.final.json
  tally "$t2" "$C/results.csv" "$FAIL_N"
  if [ "$(json "$t2" 'lost_count + duplicates_count + strangers_count + missing_count + twice_count + unknown["not_delivered_count"]')" = 0 ] \
     && [ "$(json "$t2" 'status.get("sent", 0) + sum(unknown["delivered"].values())')" = "$FAIL_N" ]; then
    pass "failover: every one of the $FAIL_N rows' Message-ID in exactly one Maildir across a, b and c (0 lost, 0 duplicates$([ -n "$rows" ] && echo "; after resending the $(json "$t" 'unknown["not_delivered_count"]') unknown rows in no Maildir, exit $rc"))"
  else
    fail "failover: after the resend (exit $rc, rows $rows): $(json "$t2" 'f"status {status}; lost {lost_count} {lost}; duplicates {duplicates_count} {duplicates}; unknown {unknown}; not in the results {strangers_count}"')"
  fi
}

# timed_send DIR: sends DIR/campaign.toml; prints the wall seconds.
timed_send() {
  local t0 rc=0; t0=$(now)
  "$MM" send --yes --quiet --json "$1/campaign.toml" > "$1.json" 2> "$1.err" || rc=$?
  [ "$rc" = 0 ] || echo "send $1: exit $rc: $(tail -2 "$1.err" | tr '\n' ' ')" >&2
  since "$t0"
}

# rate_scaling: the same list at the same per-relay rate to one relay, then
# to three; wall time of the whole send, start-up and check included.
rate_scaling() {
  mkdir -p "$W/rate1" "$W/rate3"
  campaign "$W/rate1" "$RATE_N" "$RATE" 2 a
  campaign "$W/rate3" "$RATE_N" "$RATE" 2 a b c
  local one three ratio
  one=$(timed_send "$W/rate1")
  three=$(timed_send "$W/rate3")
  ratio=$($PY -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$one" "$three")
  local s1 s3
  s1=$(json "$W/rate1.json" 'sent' 2>/dev/null || echo 0); s3=$(json "$W/rate3.json" 'sent' 2>/dev/null || echo 0)
  measured "rate: $RATE_N rows at $RATE per relay, 1 relay" "$one s ($s1 sent)"
  measured "rate: the same, 3 relays" "$three s ($s3 sent; a b c: $(per_relay "$W/rate3/results.csv"))"
  measured "rate: 1 relay / 3 relays" "$ratio x"
  if [ "$s1" != "$RATE_N" ] || [ "$s3" != "$RATE_N" ]; then
    fail "rate scaling: sent $s1 and $s3 of $RATE_N"
  elif [ "$($PY -c 'import sys; print(float(sys.argv[1]) >= 2.7)' "$ratio")" = True ]; then
    pass "rate scaling: $RATE_N rows at $RATE per relay: 1 relay $one s, 3 relays $three s, $ratio x faster (>= 2.7)"
  else
    fail "rate scaling: 1 relay $one s, 3 relays $three s: only $ratio x faster (want >= 2.7)"
  fi
}
# per_relay RESULTS: rows sent by a, b and c.
per_relay() {
  $PY - "$1" <<'PY'
import csv, sys
from collections import Counter
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    n = Counter(r.get("relay", "") for r in csv.DictReader(f) if r["status"] == "sent")
print(" ".join(str(n.get(r, 0)) for r in "abc"))
PY
}

# shards: four `send --shard i/4` at once over the three relays, no rate
# limit, each under /usr/bin/time -v; then `results merge`.
shards() {
  local C=$W/shards i rc=0
  mkdir -p "$C"
  campaign "$C" "$SHARD_N" 0 2 a b c
  local t0 pids=(); t0=$(now)
  for i in 0 1 2 3; do
    /usr/bin/time -v -o "$W/shard-$i.time" "$MM" send --shard "$i/4" --yes --quiet --json "$C/campaign.toml" \
      > "$W/shard-$i.json" 2> "$W/shard-$i.err" &
    pids+=($!); PIDS+=($!)
  done
  for i in 0 1 2 3; do
    wait "${pids[$i]}" || { rc=$?; fail "shard $i/4: exit $rc: $(tail -2 "$W/shard-$i.err" | tr '\n' ' ')"; }
  done
  local secs; secs=$(since "$t0")
  local bytes=0 rows=0 f
  for f in "$C"/results.shard-*-of-4.csv; do
    [ -f "$f" ] || continue
    bytes=$((bytes + $(stat -c %s "$f"))); rows=$((rows + $(done_rows "$f")))
  done
  for i in 0 1 2 3; do
    measured "shard $i/4: rows sent, peak RSS" "$(json "$W/shard-$i.json" 'sent' 2>/dev/null || echo '?') sent, $(awk -F': ' '/Maximum resident/ {printf "%.1f MB", $2/1024}' "$W/shard-$i.time" 2>/dev/null)"
  done
  measured "shards: $SHARD_N rows, 4 at once, wall time" "$secs s"
  [ "$rows" -gt 0 ] && measured "shards: results-file bytes per row (shard files)" "$((bytes / rows)) ($bytes bytes, $rows rows)"
  if "$MM" results merge "$C/campaign.toml" > "$W/merge.out" 2>&1; then
    pass "shards merge: mailmerge results merge exit 0 ($(tail -1 "$W/merge.out"))"
  else
    fail "shards merge: exit $?: $(tail -3 "$W/merge.out" | tr '\n' ' ')"
  fi
  drain || fail "shards: a relay's queue did not drain"
  local t=$W/shards.tally.json
  [ -f "$C/results.csv" ] || { fail "shards: no merged results file"; return; }
  tally "$t" "$C/results.csv" "$SHARD_N"
  local merged; merged=$(stat -c %s "$C/results.csv")
  measured "shards: merged results.csv bytes per row" "$((merged / SHARD_N)) ($merged bytes)"
  measured "shards: sent per relay (a b c)" "$(json "$t" '" ".join(str(relay.get(r, 0)) for r in "abc")')"
  if [ "$(json "$t" 'missing_count + twice_count + len(out_of_range)')" = 0 ] && [ "$(json "$t" 'status.get("sent", 0)')" = "$SHARD_N" ]; then
    pass "shards: the merged results have every one of the $SHARD_N rows exactly once, all sent to the three Postfix relays ($secs s for the 4 shards)"
  else
    fail "shards: merged results: $(json "$t" 'f"{rows} rows, {status}; missing {missing_count} {missing}; twice {twice_count} {twice}"')"
  fi
  if [ "$(json "$t" 'lost_count + duplicates_count + wrong_maildir_count + strangers_count + sum(unknown["delivered"].values()) + unknown["not_delivered_count"]')" = 0 ]; then
    pass "shards delivery: every row's Message-ID in exactly one Maildir, that of its relay ($(json "$t" 'maildir'))"
  else
    fail "shards delivery: $(json "$t" 'f"lost {lost_count} {lost}; duplicates {duplicates_count} {duplicates}; unknown {unknown}; not in the results {strangers_count}"')"
  fi
}

for r in "${RELAYS[@]}"; do
  relay_setup "$r"
  if ! relay_start "$r"; then
    fail "relay $r: the private Postfix did not start: $(tail -2 "$W/$r.start.log" | tr '\n' ' ')"
    exit 1
  fi
done
echo "relays: a on ${PORT[a]}, b on ${PORT[b]}, c on ${PORT[c]} (Postfix $(postconf -d -h mail_version), Maildirs in $W)"

TABLE=()
measured() { TABLE+=("$1" "$2"); }
for s in $SECTIONS; do
  case $s in
    failover) failover ;;
    rate) rate_scaling ;;
    shards) shards ;;
    *) echo "relays.sh: unknown section $s (failover, rate, shards)" >&2; exit 2 ;;
  esac
  clear_mail
done

echo
echo "measured:"
printf '  %-52s %s\n' "${TABLE[@]}"
[ "$FAILS" = 0 ]
