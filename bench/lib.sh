# Helpers shared by bench/run.sh and bench/scale.sh (sourced, not run).
# Needs QUIET_PCT and QUIET_WAIT set by the caller.

# As in ../shared/bench: without these, smtp-sink/smtp-source/stunnel shrink and
# regrow their heap on every connection close (a tool artefact). Our client and
# Python run untouched.
TUNE="glibc.malloc.trim_threshold=67108864:glibc.malloc.top_pad=16777216"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
waitport() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
now() { date +%s.%N; }
# timev FILE FIELD: a figure from /usr/bin/time -v output
timev() { awk -F': ' -v f="$2" 'index($0, f) {gsub(/%/, "", $2); print $2}' "$1"; }
# CPU accounting in clock ticks: the box's user+nice+system, and all ticks.
HZ=$(getconf CLK_TCK)
boxbusy() { awk '/^cpu /{print $2+$3+$4, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# quiet: wait until the whole box is under QUIET_PCT % busy over half a second.
quiet() {
  local end=$(( $(date +%s) + QUIET_WAIT )) a b pct
  while :; do
    a=($(boxbusy)); sleep 0.5; b=($(boxbusy))
    pct=$(( 100 * (b[0] - a[0]) / (b[1] - a[1] + 1) ))
    [ "$pct" -lt "$QUIET_PCT" ] && return 0
    [ "$(date +%s)" -ge "$end" ] && { log "box still ${pct}% busy after ${QUIET_WAIT}s; measuring anyway"; return 0; }
  done
}
