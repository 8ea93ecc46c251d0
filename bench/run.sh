#!/bin/bash
# End-to-end benchmark of `mailmerge send` against Postfix's smtp-sink on
# loopback, in the same run as the reference clients (smtp-source, the Python
# tutorial baseline), plus peak memory of send and check. See README.md.
#
#   sudo bench/setup.sh      # once
#   bench/run.sh             # ~10-20 min on a 2-core box; writes bench/RESULTS.md
#
# Env (defaults):
#   BENCH_DIR=/tmp/mailmerge-bench   scratch: binary, campaigns, logs, raw figures
#   SINK_PORT=22525 TLS_PORT=22465   loopback ports; the run refuses busy ones
#   N=10000 REPS=3                   messages per throughput run, repetitions (medians)
#   MEM_SIZES="10000 100000 1000000" recipients of the peak-memory send runs
#   CHECK_ROWS=1000000               rows of the `check` peak-memory run
#   SKIP_MEM=1                       skip the memory runs (quick look)
#   OUT=bench/RESULTS.md             where the markdown table goes
#   REPORT_ONLY=1                    rewrite OUT from the last run's BENCH_DIR/raw.tsv, measure nothing
#   MAILMERGE_BIN=path               use this binary instead of building ./cmd/mailmerge
#   QUIET_PCT=20 QUIET_WAIT=90       before each run wait (at most QUIET_WAIT s) until the box is
#                                    under QUIET_PCT % busy (the box may be shared)
#   MAX_OTHER_PCT=15 RETRIES=2       re-run a measurement when processes other than the client,
#                                    smtp-sink and stunnel used more than MAX_OTHER_PCT % of one core
# All traffic stays on 127.0.0.1. Every client run has a time limit (RUN_TIMEOUT, 600 s).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
REF="${REF:-$ROOT/../shared/bench}"
D="${BENCH_DIR:-/tmp/mailmerge-bench}"
SP="${SINK_PORT:-22525}"
TP="${TLS_PORT:-22465}"
N="${N:-10000}"
REPS="${REPS:-3}"
MEM_SIZES="${MEM_SIZES:-10000 100000 1000000}"
CHECK_ROWS="${CHECK_ROWS:-1000000}"
SKIP_MEM="${SKIP_MEM:-0}"
OUT="${OUT:-$HERE/RESULTS.md}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
QUIET_PCT="${QUIET_PCT:-20}"
QUIET_WAIT="${QUIET_WAIT:-90}"
MAX_OTHER_PCT="${MAX_OTHER_PCT:-15}"
RETRIES="${RETRIES:-2}"
export PATH="$PATH:/usr/sbin:/usr/local/go/bin"
# TUNE (smtp-sink's malloc setting), die, log, waitport, now, timev, HZ, boxbusy, quiet
. "$HERE/lib.sh"

for t in smtp-sink smtp-source stunnel4 openssl go /usr/bin/python3 /usr/bin/time ss; do
  command -v "$t" >/dev/null || die "$t not found; run bench/setup.sh first"
done
[ -f "$REF/py_tutorial_baseline.py" ] || die "$REF/py_tutorial_baseline.py not found (set REF=)"
if [ "${REPORT_ONLY:-0}" != 1 ]; then
for p in "$SP" "$TP"; do
  [ "$(ss -Htln "sport = :$p" | wc -l)" -eq 0 ] || die "port $p is busy; set SINK_PORT/TLS_PORT"
done

mkdir -p "$D/logs"
RAW="$D/raw.tsv"; : > "$RAW"   # section case rep msgs wall_s rate cpu_pct maxrss_kb tool_rate status other_pct
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU ticks our servers used.
srvticks() { local t=0 p; for p in "${PIDS[@]}"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
# pre/post bracket one client run: OTHER = % of one core used by everything but
# the client (from its time -v) and our servers.
pre() { quiet; B0=($(boxbusy)); S0T=$(srvticks); }
post() {  # TIMEV WALL
  local b1 s1 cl
  b1=($(boxbusy)); s1=$(srvticks)
  cl=$(awk -F': ' '/User time|System time/ {t+=$2} END{printf "%.0f", t*'"$HZ"'}' "$1")
  OTHER=$(awk -v b=$((b1[0] - B0[0])) -v s=$((s1 - S0T)) -v c="$cl" -v w="$2" -v hz="$HZ" \
    'BEGIN{o=(b-s-c)/hz/w*100; if (o<0) o=0; printf "%.0f", o}')
}

# ---- build and generate -------------------------------------------------------
log "building mailmerge"
BIN="${MAILMERGE_BIN:-$D/mailmerge}"
if [ -z "${MAILMERGE_BIN:-}" ]; then
  (cd "$ROOT" && go build -o "$BIN" ./cmd/mailmerge) || die "go build ./cmd/mailmerge failed (or set MAILMERGE_BIN)"
fi
(cd "$ROOT" && go build -o "$D/gen" ./bench/gen) || die "go build ./bench/gen failed"
COMMIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(cd "$ROOT" && git status --porcelain 2>/dev/null | grep -vc '^??' || true)"

CERT="$D/tls/cert.pem"; KEY="$D/tls/key.pem"
if [ ! -s "$CERT" ]; then
  mkdir -p "$D/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$KEY" -out "$CERT" \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null || die "openssl failed"
fi

gen() {  # DIR ROWS SIZE: list + templates + plain campaign + TLS campaign
  [ -s "$1/recipients.csv" ] && [ "$(($(wc -l < "$1/recipients.csv") - 1))" -eq "$2" ] \
    || "$D/gen" -dir "$1" -n "$2" -size "$3" -list-only || die "gen $1 failed"
  "$D/gen" -dir "$1" -size "$3" -campaign-only -port "$SP" -security none || die "gen failed"
  "$D/gen" -dir "$1" -size "$3" -campaign-only -port "$TP" -security ssl -ca "$CERT" -name tls.toml || die "gen failed"
}
log "generating campaigns in $D"
gen "$D/c2k" "$N" 2k
gen "$D/c20k" "$N" 20k
if [ "$SKIP_MEM" != 1 ]; then
  for m in $(echo $MEM_SIZES $CHECK_ROWS | tr ' ' '\n' | sort -un); do gen "$D/m$m" "$m" 2k; done
fi
MSG2K=$("$BIN" render "$D/c2k/campaign.toml" --limit 20 --out "$D/preview2k" >/dev/null 2>&1; cat "$D"/preview2k/*.eml | wc -c)
MSG20K=$("$BIN" render "$D/c20k/campaign.toml" --limit 20 --out "$D/preview20k" >/dev/null 2>&1; cat "$D"/preview20k/*.eml | wc -c)
rm -rf "$D/preview2k" "$D/preview20k"

# ---- servers: one smtp-sink, stunnel in front of it ----------------------------
# -a: AUTH not announced (smtp-sink answers AUTH with 250, which smtplib
# rejects); mailmerge does no AUTH without [smtp] username anyway.
log "starting smtp-sink on 127.0.0.1:$SP and stunnel on 127.0.0.1:$TP"
GLIBC_TUNABLES=$TUNE smtp-sink -a -u nobody "127.0.0.1:$SP" 1024 >/dev/null 2>"$D/logs/smtp-sink.err" &
PIDS+=($!)
waitport "$SP" || die "smtp-sink did not start (see $D/logs/smtp-sink.err)"
cat > "$D/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
output = $D/logs/stunnel.log
[smtps]
accept = 127.0.0.1:$TP
connect = 127.0.0.1:$SP
cert = $CERT
key = $KEY
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
EOF
GLIBC_TUNABLES=$TUNE stunnel4 "$D/stunnel.conf" 2>>"$D/logs/stunnel.log" &
PIDS+=($!)
waitport "$TP" || die "stunnel did not start (see $D/logs/stunnel.log)"

# ---- one measured client run ----------------------------------------------------
# record SECTION CASE REP MSGS T0 T1 TIMEV TOOLRATE OK: one line of raw.tsv.
# Sets NOISY=1 when other processes used more than MAX_OTHER_PCT % of a core;
# such a line is kept but marked and left out of the medians while retries remain.
record() {
  local wall rate cpu rss st="$9"
  wall=$(awk -v a="$5" -v b="$6" 'BEGIN{printf "%.3f", b-a}')
  rate=$(awk -v n="$4" -v w="$wall" 'BEGIN{printf "%.0f", n/w}')
  cpu=$(timev "$7" "Percent of CPU"); rss=$(timev "$7" "Maximum resident set size")
  post "$7" "$wall"; NOISY=0
  if [ "$st" = ok ] && [ "$OTHER" -gt "$MAX_OTHER_PCT" ] && [ "${TRY:-0}" -lt "$RETRIES" ]; then st="noisy"; NOISY=1; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$wall" "$rate" "${cpu:-?}" "${rss:-?}" "${8:--}" "$st" "$OTHER" >> "$RAW"
  log "$(printf '%-34s rep %s: %6s msgs/s  wall %7ss  cpu %4s%%  maxrss %6s KB  other %3s%%  %s' "$2" "$3" "$rate" "$wall" "${cpu:-?}" "${rss:-?}" "$OTHER" "$st")"
}
# measure FUNCTION ARGS...: run, and again (at most RETRIES times) while noisy.
measure() { TRY=0; while :; do "$@"; [ "$NOISY" = 1 ] || break; TRY=$((TRY + 1)); done; }

# ours SECTION CASE REP CAMPAIGN WORKERS MSGS [check]
ours() {
  local dir tv js t0 t1 rc sent tool ok
  dir=$(dirname "$4"); tv="$D/logs/$2-$3.timev"; js="$D/logs/$2-$3.json"
  rm -f "$dir"/results-*   # a fresh results file for every run
  pre; t0=$(now)
  timeout "$RUN_TIMEOUT" /usr/bin/time -v -o "$tv" "$BIN" send --yes --quiet --json --rate 0 --workers "$5" "$4" > "$js" 2>"$D/logs/$2-$3.err"
  rc=$?; t1=$(now)
  sent=$(grep -o '"sent":[0-9]*' "$js" | head -1 | cut -d: -f2)
  tool=$(grep -o '"messages_per_second":[0-9.]*' "$js" | cut -d: -f2 | awk '{printf "%.0f", $1}')
  ok=ok; { [ "$rc" -eq 0 ] && [ "${sent:-0}" -eq "$6" ]; } || ok="FAIL(rc=$rc,sent=${sent:-0})"
  record "$1" "$2" "$3" "$6" "$t0" "$t1" "$tv" "$tool" "$ok"
}

# smtpsource SECTION CASE REP SIZE SESSIONS: smtp-source -d -s SESSIONS, N messages, SIZE bytes
smtpsource() {
  local tv t0 t1 rc ok
  tv="$D/logs/$2-$3.timev"; pre; t0=$(now)
  GLIBC_TUNABLES=$TUNE timeout "$RUN_TIMEOUT" /usr/bin/time -v -o "$tv" \
    smtp-source -d -s "${5:-4}" -m "$N" -l "$4" -N "127.0.0.1:$SP" >"$D/logs/$2-$3.out" 2>&1
  rc=$?; t1=$(now); ok=ok; [ "$rc" -eq 0 ] || ok="FAIL(rc=$rc)"
  record "$1" "$2" "$3" "$N" "$t0" "$t1" "$tv" - "$ok"
}

# py SECTION CASE REP: the tutorial baseline, one kept-alive SMTP_SSL connection via stunnel
py() {
  local tv js t0 t1 rc sent tool ok
  tv="$D/logs/$2-$3.timev"; js="$D/logs/$2-$3.json"; pre; t0=$(now)
  timeout "$RUN_TIMEOUT" /usr/bin/time -v -o "$tv" /usr/bin/python3 "$REF/py_tutorial_baseline.py" \
    --host 127.0.0.1 --port "$TP" --n "$N" --mode keepalive --cafile "$CERT" >"$js" 2>"$D/logs/$2-$3.err"
  rc=$?; t1=$(now)
  sent=$(grep -o '"sent": *[0-9]*' "$js" | grep -o '[0-9]*$')
  tool=$(grep -o '"msgs_per_s": *[0-9.]*' "$js" | grep -o '[0-9.]*$' | awk '{printf "%.0f", $1}')
  ok=ok; { [ "$rc" -eq 0 ] && [ "${sent:-0}" -eq "$N" ]; } || ok="FAIL(rc=$rc,sent=${sent:-0})"
  record "$1" "$2" "$3" "$N" "$t0" "$t1" "$tv" "$tool" "$ok"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u '+%Y-%m-%d %H:%M UTC'); S0=$(date +%s)

# ---- throughput: reps interleaved so a drifting box hits every case alike -------
for rep in $(seq "$REPS"); do
  log "plain round $rep/$REPS"
  measure smtpsource plain "smtp-source -d -s 4, 2 KB" "$rep" 2000 4
  measure ours   plain "mailmerge 4 workers, 2 KB" "$rep" "$D/c2k/campaign.toml" 4 "$N"
  measure smtpsource plain "smtp-source -d -s 1, 2 KB" "$rep" 2000 1
  measure ours   plain "mailmerge 1 worker, 2 KB" "$rep" "$D/c2k/campaign.toml" 1 "$N"
  measure smtpsource plain "smtp-source -d -s 16, 2 KB" "$rep" 2000 16
  measure ours   plain "mailmerge 16 workers, 2 KB" "$rep" "$D/c2k/campaign.toml" 16 "$N"
  measure smtpsource plain "smtp-source -d -s 4, 20 KB" "$rep" 20000 4
  measure ours    plain "mailmerge 4 workers, 20 KB" "$rep" "$D/c20k/campaign.toml" 4 "$N"
  log "TLS round $rep/$REPS"
  measure py   tls "py_tutorial keepalive, 1 conn" "$rep"
  measure ours tls "mailmerge TLS 4 workers, 2 KB" "$rep" "$D/c2k/tls.toml" 4 "$N"
  measure ours tls "mailmerge TLS 1 worker, 2 KB" "$rep" "$D/c2k/tls.toml" 1 "$N"
done

# ---- in-process render benchmark --------------------------------------------------
log "go test -bench Render (3 x 3 s)"; quiet
BENCHCMD="go test -run '^\$' -bench 'Render' -benchtime 3s -count 3 ./bench/"
(cd "$ROOT" && eval "$BENCHCMD") > "$D/logs/render-bench.txt" 2>&1 || log "render benchmark failed (see $D/logs/render-bench.txt)"

# ---- peak memory ------------------------------------------------------------------
if [ "$SKIP_MEM" != 1 ]; then
  for m in $MEM_SIZES; do
    log "memory: send to $m recipients"
    TRY=$RETRIES; ours mem "mailmerge send $m rcpts, 4 workers" 1 "$D/m$m/campaign.toml" 4 "$m"
    rm -f "$D/m$m"/results-*
  done
  log "memory: check on $CHECK_ROWS rows"
  tv="$D/logs/check-$CHECK_ROWS.timev"; pre; t0=$(now)
  timeout "$RUN_TIMEOUT" /usr/bin/time -v -o "$tv" "$BIN" check "$D/m$CHECK_ROWS/campaign.toml" >"$D/logs/check.out" 2>&1
  rc=$?; t1=$(now); ok=ok; [ "$rc" -eq 0 ] || ok="FAIL(rc=$rc)"
  TRY=$RETRIES; record mem "mailmerge check $CHECK_ROWS rows" 1 "$CHECK_ROWS" "$t0" "$t1" "$tv" - "$ok"
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg); S1=$(date +%s)
BENCHCMD="go test -run '^\$' -bench 'Render' -benchtime 3s -count 3 ./bench/"
declare -p COMMIT DIRTY MSG2K MSG20K LOAD0 LOAD1 START S0 S1 BENCHCMD N REPS SKIP_MEM MEM_SIZES CHECK_ROWS SP TP D BIN > "$D/meta.sh"
else
  RAW="$D/raw.tsv"; [ -s "$D/meta.sh" ] || die "no earlier run in $D"
  . "$D/meta.sh"
fi

# ---- report -------------------------------------------------------------------------
stats() {  # SECTION CASE -> "median min max cpu_median rss_median other_median ok_all" (noisy runs left out)
  awk -F'\t' -v s="$1" -v c="$2" 'BEGIN{n=0} $1==s && $2==c && $10!="noisy" {r[n]=$6; p[n]=$7; m[n]=$8; o[n]=$11; if ($10!="ok") bad=bad" "$10; n++}
    function med(a, k,   i,j,t) { for(i=0;i<k;i++) for(j=i+1;j<k;j++) if (a[j]+0<a[i]+0) {t=a[i];a[i]=a[j];a[j]=t}
      return k%2 ? a[int(k/2)] : (a[k/2-1]+a[k/2])/2 }
    END { if (!n) {print "- - - - - - none"; exit}
      lo=r[0]; hi=r[0]; for(i=0;i<n;i++){ if(r[i]+0<lo+0) lo=r[i]; if(r[i]+0>hi+0) hi=r[i] }
      printf "%s %s %s %s %s %s %s\n", med(r,n), lo, hi, med(p,n), med(m,n), med(o,n), (bad==""?"ok":bad) }' "$RAW"
}
median_of() { set -- $(stats "$1" "$2"); echo "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0>0) printf "%.2f", a/b; else print "n/a"}'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN{ if (v=="n/a") print "n/a"; else if ((dir=="ge" && v+0>=t+0) || (dir=="lt" && v+0<t+0)) print "**met**"; else print "**missed**"}'; }

SRC=$(median_of plain "smtp-source -d -s 4, 2 KB"); SRC20=$(median_of plain "smtp-source -d -s 4, 20 KB")
SRC1=$(median_of plain "smtp-source -d -s 1, 2 KB"); SRC16=$(median_of plain "smtp-source -d -s 16, 2 KB")
PY=$(median_of tls "py_tutorial keepalive, 1 conn")
R_PLAIN=$(ratio "$(median_of plain "mailmerge 4 workers, 2 KB")" "$SRC")
R_TLS=$(ratio "$(median_of tls "mailmerge TLS 4 workers, 2 KB")" "$PY")
RENDER=$(awk '/^BenchmarkRender2KB/ {for(i=1;i<=NF;i++) if ($(i+1)=="msgs/s") print $i}' "$D/logs/render-bench.txt" | sort -n | awk '{a[NR]=$1} END{if(NR) print a[int((NR+1)/2)]; else print "n/a"}')
RENDER20=$(awk '/^BenchmarkRender20KB/ {for(i=1;i<=NF;i++) if ($(i+1)=="msgs/s") print $i}' "$D/logs/render-bench.txt" | sort -n | awk '{a[NR]=$1} END{if(NR) print a[int((NR+1)/2)]; else print "n/a"}')

row() {  # SECTION CASE REFERENCE_RATE
  set -- "$1" "$2" "$3" $(stats "$1" "$2")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$4" "$5" "$6" "$(ratio "$4" "$3")" "$7" "$(awk -v k="$8" 'BEGIN{printf "%.1f", k/1024}')" "$9" "${10}"
}
memrow() {  # CASE TARGET_MB
  set -- "$1" "$2" $(stats mem "$1")
  local mb; mb=$(awk -v k="$7" 'BEGIN{printf "%.1f", k/1024}')
  printf '| %s | %s | %s | %s | < %s MB: %s | %s | %s |\n' "$1" "$mb" "$(awk -F'\t' -v c="$1" '$1=="mem" && $2==c {print $5}' "$RAW")" "$3" "$2" "$(verdict "$mb" "$2" lt)" "$8" "$9"
}

{
  echo "# mailmerge benchmark results"
  echo
  echo "Run $START, $(($S1 - S0)) s; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uname -sr);"
  echo "$(go version | cut -d' ' -f3-4); mailmerge commit $COMMIT ($DIRTY tracked files modified); postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null), stunnel $(dpkg-query -W -f '${Version}' stunnel4 2>/dev/null), $(/usr/bin/python3 --version 2>&1)."
  echo "Load average before/after: $LOAD0 / $LOAD1 (the box may be shared; rates are medians of $REPS interleaved reps)."
  echo "Messages: generated campaign, 5 columns, text+HTML; $((MSG2K / 20)) bytes (\"2 KB\") and $((MSG20K / 20)) bytes (\"20 KB\") on the wire. N=$N per throughput run."
  echo
  echo "## Targets"
  echo
  echo "| target | figure | verdict |"
  echo "|---|---|---|"
  echo "| plain, 4 workers, 2 KB: >= 0.8 x smtp-source -d -s 4 | $R_PLAIN x | $(verdict "$R_PLAIN" 0.8 ge) |"
  echo "| implicit TLS, 4 workers, 2 KB: >= 3 x py_tutorial_baseline --mode keepalive | $R_TLS x | $(verdict "$R_TLS" 3 ge) |"
  if [ "$SKIP_MEM" != 1 ]; then
    big=$(echo $MEM_SIZES | tr ' ' '\n' | sort -n | tail -1)
    mb=$(awk -F'\t' -v c="mailmerge send $big rcpts, 4 workers" '$1=="mem" && $2==c {printf "%.1f", $8/1024}' "$RAW")
    echo "| peak RSS, send to $big recipients: < 100 MB | $mb MB | $(verdict "$mb" 100 lt) |"
    mb=$(awk -F'\t' -v c="mailmerge check $CHECK_ROWS rows" '$1=="mem" && $2==c {printf "%.1f", $8/1024}' "$RAW")
    echo "| peak RSS, check on $CHECK_ROWS rows: < 64 MB | $mb MB | $(verdict "$mb" 64 lt) |"
  fi
  echo "| render 2 KB text+HTML, 5 fields, to io.Discard: >= 20,000 msgs/s | $RENDER msgs/s | $(verdict "$RENDER" 20000 ge) |"
  echo
  echo "## Plain SMTP to smtp-sink (same sink for every row)"
  echo
  echo "msgs/s = N / wall-clock seconds of the whole client process (for mailmerge that includes loading, the check of every row and opening the results file). Ratio: against smtp-source -d with as many sessions as our workers and the same message size. CPU: % of one core used by the client (200 % = whole box). Other CPU: % of one core used during the run by processes other than the client, smtp-sink and stunnel (foreign load; a run above $MAX_OTHER_PCT % was repeated up to $RETRIES times, see the raw runs)."
  echo
  echo "| case | median msgs/s | min | max | ratio | client CPU % | client max RSS MB | other CPU % | status |"
  echo "|---|---|---|---|---|---|---|---|---|"
  row plain "smtp-source -d -s 4, 2 KB" "$SRC"
  row plain "mailmerge 4 workers, 2 KB" "$SRC"
  row plain "smtp-source -d -s 1, 2 KB" "$SRC1"
  row plain "mailmerge 1 worker, 2 KB" "$SRC1"
  row plain "smtp-source -d -s 16, 2 KB" "$SRC16"
  row plain "mailmerge 16 workers, 2 KB" "$SRC16"
  row plain "smtp-source -d -s 4, 20 KB" "$SRC20"
  row plain "mailmerge 4 workers, 20 KB" "$SRC20"
  echo
  echo "## Implicit TLS: client -> stunnel :$TP -> smtp-sink :$SP"
  echo
  echo "Ratio: against py_tutorial_baseline.py --mode keepalive (one SMTP_SSL connection, MIMEText per message, ~2 KB body in base64)."
  echo
  echo "| case | median msgs/s | min | max | ratio | client CPU % | client max RSS MB | other CPU % | status |"
  echo "|---|---|---|---|---|---|---|---|---|"
  row tls "py_tutorial keepalive, 1 conn" "$PY"
  row tls "mailmerge TLS 4 workers, 2 KB" "$PY"
  row tls "mailmerge TLS 1 worker, 2 KB" "$PY"
  if [ "$SKIP_MEM" != 1 ]; then
    echo
    echo "## Peak memory (/usr/bin/time -v maximum resident set size), one run each"
    echo
    echo "| case | max RSS MB | wall s | msgs/s (rows/s for check) | target | other CPU % | status |"
    echo "|---|---|---|---|---|---|---|"
    for m in $MEM_SIZES; do
      t=100; memrow "mailmerge send $m rcpts, 4 workers" "$t"
    done
    memrow "mailmerge check $CHECK_ROWS rows" 64
  fi
  echo
  echo "## In-process render benchmark"
  echo
  echo "\`$BENCHCMD\` (median of 3; one goroutine):"
  echo
  echo "| case | msgs/s |"
  echo "|---|---|"
  echo "| BenchmarkRender2KB | $RENDER |"
  echo "| BenchmarkRender20KB | $RENDER20 |"
  echo
  echo "## Commands"
  echo
  echo '```'
  echo "GLIBC_TUNABLES=$TUNE smtp-sink -a -u nobody 127.0.0.1:$SP 1024"
  echo "GLIBC_TUNABLES=$TUNE stunnel4 $D/stunnel.conf     # accept 127.0.0.1:$TP (cert for localhost/127.0.0.1) -> connect 127.0.0.1:$SP"
  echo "GLIBC_TUNABLES=$TUNE smtp-source -d -s 4 -m $N -l 2000 -N 127.0.0.1:$SP   # and -l 20000"
  echo "$D/gen -dir DIR -n ROWS -size 2k|20k [-security ssl -port $TP -ca cert.pem]   # go build ./bench/gen"
  echo "rm -f DIR/results-*; mailmerge send --yes --quiet --json --rate 0 --workers W DIR/campaign.toml  # plain"
  echo "rm -f DIR/results-*; mailmerge send --yes --quiet --json --rate 0 --workers W DIR/tls.toml       # implicit TLS"
  echo "/usr/bin/python3 $REF/py_tutorial_baseline.py --host 127.0.0.1 --port $TP --n $N --mode keepalive --cafile cert.pem"
  echo "/usr/bin/time -v mailmerge send ... / mailmerge check DIR/campaign.toml   # memory rows"
  echo "$BENCHCMD"
  echo '```'
  echo
  echo "## Raw runs"
  echo
  echo "| section | case | rep | msgs | wall s | msgs/s | CPU % | max RSS KB | self-reported msgs/s | status | other CPU % |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11}' "$RAW"
} > "$OUT"
log "wrote $OUT (raw: $RAW, logs: $D/logs)"
cat "$OUT"
