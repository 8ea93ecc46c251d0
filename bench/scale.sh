#!/bin/bash
# The measured figures behind docs/SCALE.md: what one send process costs per
# million recipients. Against Postfix's smtp-sink on loopback, in one run:
#   - the results file of a real send of ROWS rows: bytes per row;
#   - send --resume over that fully sent file (it sends nobody): wall, CPU %,
#     peak RSS; and journal.Open of 1,000,000 rows alone (BenchmarkOpenMillion);
#   - peak RSS of the send itself, and of one shard: send --shard 0/SHARDS of a
#     list of ROWS x SHARDS rows when this build has --shard, otherwise
#     send --rows of the list's last ROWS rows, which is what a shard does
#     (reads the whole list, sends ROWS rows numbered up to its end);
#   - BenchmarkRender2KB before and after, the reference every throughput
#     figure is quoted against (machines differ up to 3x).
# See README.md.
#
#   sudo bench/setup.sh      # once
#   bench/scale.sh           # ~15-25 min on a 2-core box; writes bench/SCALE-RESULTS.md
#
# Env (defaults):
#   BENCH_DIR=/tmp/mailmerge-scale   scratch: binary, campaigns, logs
#   SINK_PORT=22625                  loopback port of smtp-sink; the run refuses a busy one
#   ROWS=1000000                     rows of the measured send
#   SHARDS=10                        the shard run sends 1/SHARDS of ROWS x SHARDS rows (10,000,000)
#   RESUME_REPS=3                    --resume runs (median)
#   OUT=bench/SCALE-RESULTS.md       where the markdown goes
#   MAILMERGE_BIN=path               use this binary instead of building ./cmd/mailmerge
#   QUIET_PCT=20 QUIET_WAIT=90       before each run wait (at most QUIET_WAIT s) until the
#                                    box is under QUIET_PCT % busy (the box may be shared)
#   RUN_TIMEOUT=1800                 limit per client run, seconds
# All traffic stays on 127.0.0.1.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
D="${BENCH_DIR:-/tmp/mailmerge-scale}"
SP="${SINK_PORT:-22625}"
ROWS="${ROWS:-1000000}"
SHARDS="${SHARDS:-10}"
RESUME_REPS="${RESUME_REPS:-3}"
OUT="${OUT:-$HERE/SCALE-RESULTS.md}"
QUIET_PCT="${QUIET_PCT:-20}"
QUIET_WAIT="${QUIET_WAIT:-90}"
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}"
export PATH="$PATH:/usr/sbin:/usr/local/go/bin"
. "$HERE/lib.sh"

for t in smtp-sink go /usr/bin/time ss; do
  command -v "$t" >/dev/null || die "$t not found; run bench/setup.sh first"
done
[ "$(ss -Htln "sport = :$SP" | wc -l)" -eq 0 ] || die "port $SP is busy; set SINK_PORT"
mkdir -p "$D/logs"
SINK=
cleanup() { [ -n "$SINK" ] && kill "$SINK" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build and generate -------------------------------------------------------
log "building mailmerge"
BIN="${MAILMERGE_BIN:-$D/mailmerge}"
if [ -z "${MAILMERGE_BIN:-}" ]; then
  (cd "$ROOT" && go build -o "$BIN" ./cmd/mailmerge) || die "go build ./cmd/mailmerge failed (or set MAILMERGE_BIN)"
fi
(cd "$ROOT" && go build -o "$D/gen" ./bench/gen) || die "go build ./bench/gen failed"
COMMIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(cd "$ROOT" && git status --porcelain 2>/dev/null | grep -vc '^??' || true)"
HAS_SHARD=0; "$BIN" send --help 2>&1 | grep -q -- '--shard' && HAS_SHARD=1

gen() {  # DIR ROWS: the 2 KB campaign of bench/gen, plain, to smtp-sink
  [ -s "$1/recipients.csv" ] && [ "$(($(wc -l < "$1/recipients.csv") - 1))" -eq "$2" ] \
    || "$D/gen" -dir "$1" -n "$2" -size 2k -list-only || die "gen $1 failed"
  "$D/gen" -dir "$1" -size 2k -campaign-only -port "$SP" -security none || die "gen failed"
}
log "generating campaigns in $D"
gen "$D/c$ROWS" "$ROWS"
BIG=$((ROWS * SHARDS)); gen "$D/s$BIG" "$BIG"

log "starting smtp-sink on 127.0.0.1:$SP"
GLIBC_TUNABLES=$TUNE smtp-sink -a -u nobody "127.0.0.1:$SP" 1024 >/dev/null 2>"$D/logs/smtp-sink.err" &
SINK=$!
waitport "$SP" || die "smtp-sink did not start (see $D/logs/smtp-sink.err)"

# ---- measurements -------------------------------------------------------------------
# run NAME CMD...: the command under /usr/bin/time -v after the box is quiet;
# sets WALL CPU RSS_KB USER SYS and RC, keeps stdout in logs/NAME.out.
run() {
  local name=$1 tv="$D/logs/$1.timev"; shift
  quiet
  timeout "$RUN_TIMEOUT" /usr/bin/time -v -o "$tv" "$@" >"$D/logs/$name.out" 2>"$D/logs/$name.err"
  RC=$?
  WALL=$(timev "$tv" "Elapsed (wall clock)" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')
  CPU=$(timev "$tv" "Percent of CPU"); RSS_KB=$(timev "$tv" "Maximum resident set size")
  USER=$(timev "$tv" "User time"); SYS=$(timev "$tv" "System time")
  log "$(printf '%-22s rc %s  wall %8ss  cpu %4s%%  user %7ss  sys %6ss  maxrss %7s KB' "$name" "$RC" "$WALL" "$CPU" "$USER" "$SYS" "$RSS_KB")"
}
json() { grep -o "\"$2\":[0-9.]*" "$D/logs/$1.out" | head -1 | cut -d: -f2; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
median() { sort -n | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
# render: BenchmarkRender2KB, 3 x 3 s; sets RENDER (msgs/s) and RENDER_CPU (cpu-µs/msg), medians.
render() {
  quiet
  (cd "$ROOT" && go test -run '^$' -bench '^BenchmarkRender2KB$' -benchtime 3s -count 3 ./bench/) > "$D/logs/render-$1.txt" 2>&1 \
    || log "render benchmark failed (see $D/logs/render-$1.txt)"
  RENDER=$(awk '/^BenchmarkRender2KB/ {for (i = 1; i < NF; i++) if ($(i+1) == "msgs/s") print $i}' "$D/logs/render-$1.txt" | median)
  RENDER_CPU=$(awk '/^BenchmarkRender2KB/ {for (i = 1; i < NF; i++) if ($(i+1) == "cpu-µs/msg") print $i}' "$D/logs/render-$1.txt" | median)
  log "BenchmarkRender2KB ($1): $RENDER msgs/s, $RENDER_CPU cpu-µs/msg"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg); START=$(date -u '+%Y-%m-%d %H:%M UTC'); S0=$(date +%s)
render before; RENDER0=$RENDER; RENDER_CPU0=$RENDER_CPU

C="$D/c$ROWS/campaign.toml"; RES="$D/c$ROWS/results-$SP.csv"
log "send to $ROWS recipients"
rm -f "$D/c$ROWS"/results-*
run send "$BIN" send --yes --quiet --json --rate 0 --workers 4 "$C"
SEND=("$WALL" "$CPU" "$RSS_KB" "$USER" "$SYS" "$RC" "$(json send sent)" "$(json send messages_per_second)")
SIZE=$(stat -c %s "$RES" 2>/dev/null || echo 0)
LINES=$(($(wc -l < "$RES") - 1))
SENTROWS=$(grep -c ',sent,250,' "$RES")
head -3 "$RES" > "$D/results-head.txt"

RESUME=()
for rep in $(seq "$RESUME_REPS"); do
  log "send --resume over the $ROWS sent rows, $rep/$RESUME_REPS"
  run "resume-$rep" "$BIN" send --resume --yes --quiet --json --rate 0 --workers 4 "$C"
  RESUME+=("$WALL $CPU $RSS_KB $USER $SYS $RC $(json "resume-$rep" sent)")
done

log "journal.Open of 1,000,000 rows (BenchmarkOpenMillion)"
quiet
(cd "$ROOT" && go test -run '^$' -bench '^BenchmarkOpenMillion$' -benchtime 3x -count 3 ./internal/journal) > "$D/logs/open-bench.txt" 2>&1 \
  || log "journal benchmark failed (see $D/logs/open-bench.txt)"
OPEN_MS=$(awk '/^BenchmarkOpenMillion/ {print $3 / 1e6}' "$D/logs/open-bench.txt" | median)
OPEN_B=$(awk '/^BenchmarkOpenMillion/ {for (i = 1; i < NF; i++) if ($(i+1) == "B/op") print $i}' "$D/logs/open-bench.txt" | median)
OPEN_FILE=$(awk '/^BenchmarkOpenMillion/ {for (i = 1; i < NF; i++) if ($(i+1) == "file-B/row") print $i}' "$D/logs/open-bench.txt" | median)

SC="$D/s$BIG/campaign.toml"
if [ "$HAS_SHARD" = 1 ]; then
  SHARD_HOW="send --shard 0/$SHARDS"
  log "$SHARD_HOW of $BIG rows"
  rm -f "$D/s$BIG"/results*
  run shard "$BIN" send --shard "0/$SHARDS" --yes --quiet --json --rate 0 --workers 4 "$SC"
else
  SHARD_HOW="send --rows $((BIG - ROWS + 1))-$BIG (no --shard in this build)"
  log "$SHARD_HOW of $BIG rows"
  rm -f "$D/s$BIG"/results*
  run shard "$BIN" send --rows "$((BIG - ROWS + 1))-$BIG" --yes --quiet --json --rate 0 --workers 4 "$SC"
fi
SHARD=("$WALL" "$CPU" "$RSS_KB" "$USER" "$SYS" "$RC" "$(json shard sent)")
rm -f "$D/s$BIG"/results*

render after; RENDER1=$RENDER; RENDER_CPU1=$RENDER_CPU
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg); S1=$(date +%s)

# ---- report -------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 > 0) printf "%.3f", a / b; else print "n/a" }'; }
field() { echo "$1" | cut -d' ' -f"$2"; }
resume_median() { for r in "${RESUME[@]}"; do field "$r" "$1"; done | median; }
RW=$(resume_median 1); RCPU=$(resume_median 2); RRSS=$(resume_median 3)
SEND_RATE=$(awk -v n="$ROWS" -v w="${SEND[0]}" 'BEGIN{ if (w > 0) printf "%.0f", n / w; else print "n/a" }')
REF=$(awk -v a="$RENDER0" -v b="$RENDER1" 'BEGIN{ if (a + b > 0) printf "%.0f", (a + b) / 2; else print 0 }')
per_million() { awk -v s="$1" -v n="$ROWS" 'BEGIN{printf "%.2f", s * 1000000 / n}'; }
{
  echo "# Scale figures (bench/scale.sh)"
  echo
  echo "Run $START, $((S1 - S0)) s; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uname -sr);"
  echo "$(go version | cut -d' ' -f3-4); mailmerge commit $COMMIT ($DIRTY tracked files modified); postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null) smtp-sink on 127.0.0.1:$SP."
  echo "Load average before/after: $LOAD0 / $LOAD1. Campaign: bench/gen, 2 KB text+HTML, 5 columns, 4 workers, rate unlimited."
  echo
  echo "Reference, same run: \`BenchmarkRender2KB\` $RENDER0 msgs/s ($RENDER_CPU0 cpu-µs/msg) before, $RENDER1 msgs/s ($RENDER_CPU1 cpu-µs/msg) after."
  echo "Ratios below are a figure over the mean of the two, so that a faster or slower box moves both alike."
  echo
  echo "| figure | value | ratio to render reference ($REF msgs/s) | CPU % | peak RSS MB | status |"
  echo "|---|---|---|---|---|---|"
  echo "| send to $ROWS recipients: msgs/s (whole process) | $SEND_RATE ($(json send messages_per_second | cut -d. -f1) self-reported); wall ${SEND[0]} s, user ${SEND[3]} s, sys ${SEND[4]} s | $(ratio "$SEND_RATE" "$REF") | ${SEND[1]} | $(mb "${SEND[2]}") | rc ${SEND[5]}, sent ${SEND[6]:-?} |"
  echo "| results file after that send | $SIZE bytes, $LINES rows ($SENTROWS sent): **$(awk -v s="$SIZE" -v n="$LINES" 'BEGIN{ if (n > 0) printf "%.1f", s / n; else print "n/a" }') bytes/row** | | | | |"
  echo "| send --resume over those $ROWS sent rows (sends nobody), median of $RESUME_REPS | wall **$RW s**, i.e. $(per_million "$RW") s per million rows | $(ratio "$(awk -v n="$ROWS" -v w="$RW" 'BEGIN{ if (w > 0) printf "%.0f", n / w }')" "$REF") (rows/s) | $RCPU | $(mb "$RRSS") | $(for r in "${RESUME[@]}"; do printf 'rc %s sent %s; ' "$(field "$r" 6)" "$(field "$r" 7)"; done) |"
  echo "| journal.Open of 1,000,000 rows alone (BenchmarkOpenMillion, median of 3 x 3) | **$OPEN_MS ms**; $OPEN_B bytes allocated per Open; its file $OPEN_FILE bytes/row | $(ratio "$(awk -v ms="$OPEN_MS" 'BEGIN{ if (ms > 0) printf "%.0f", 1e6 / (ms / 1000) }')" "$REF") (rows/s) | | | |"
  echo "| one shard: $SHARD_HOW, a list of $BIG rows | wall ${SHARD[0]} s, user ${SHARD[3]} s, sys ${SHARD[4]} s | | ${SHARD[1]} | **$(mb "${SHARD[2]}")** | rc ${SHARD[5]}, sent ${SHARD[6]:-?} |"
  echo
  echo "Each --resume run, wall s / CPU % / peak RSS KB / user s / sys s / exit / sent:"
  echo
  for r in "${RESUME[@]}"; do echo "- $r"; done
  echo
  echo "First lines of the results file:"
  echo
  echo '```'
  cat "$D/results-head.txt"
  echo '```'
  echo
  echo "## Commands"
  echo
  echo '```'
  echo "GLIBC_TUNABLES=$TUNE smtp-sink -a -u nobody 127.0.0.1:$SP 1024"
  echo "go run ./bench/gen -dir DIR -n $ROWS -size 2k -port $SP"
  echo "rm -f DIR/results-*; /usr/bin/time -v mailmerge send --yes --quiet --json --rate 0 --workers 4 DIR/campaign.toml"
  echo "/usr/bin/time -v mailmerge send --resume --yes --quiet --json --rate 0 --workers 4 DIR/campaign.toml   # x $RESUME_REPS"
  echo "go test -run '^\$' -bench '^BenchmarkOpenMillion\$' -benchtime 3x -count 3 ./internal/journal"
  echo "/usr/bin/time -v mailmerge $SHARD_HOW --yes --quiet --json --rate 0 --workers 4 BIGDIR/campaign.toml   # $BIG rows"
  echo "go test -run '^\$' -bench '^BenchmarkRender2KB\$' -benchtime 3s -count 3 ./bench/   # before and after"
  echo '```'
} > "$OUT"
log "wrote $OUT (logs: $D/logs)"
cat "$OUT"
