#!/usr/bin/env bash
# The edge's instructions per request under callgrind (docs/PERFORMANCE.md,
# "The edge's cost per request"): run once per release binary to compare.
#
#   bash xtask/bench-edge.sh BINARY TAG PORT
#
# One service on SQLite under `valgrind --tool=callgrind --separate-threads=yes`
# with PORTAL_HASH_WORKERS=1 PORTAL_HASH_QUEUE=0 PORTAL_HASH_WAIT=0s
# PORTAL_RATE_LIMIT_PER_MINUTE=0 and JSON logs (a line per request). Counters
# are zeroed, HEALTHZ (10,000) `GET /healthz` are sent on one keep-alive
# connection (curl), and the counters dumped; then one login takes the only
# hashing thread (an unknown username costs a dummy verification, long under
# valgrind with PORTAL_ARGON2_T=40), and LOGINS (5,000) logins are sent the
# same way, nearly all refused `503` at once. Instructions are summed over
# the threads of each dump but the hashing thread's (the one that ran
# argon2). Callgrind counts instructions, not time: other work on the machine
# does not change them.
set -euo pipefail
BIN=$1 TAG=$2 PORT=$3
HEALTHZ=${HEALTHZ:-10000} LOGINS=${LOGINS:-5000}
W=/tmp/bench-edge-$TAG
rm -rf "$W"; mkdir -p "$W/mail"
BASE=http://127.0.0.1:$PORT
export DATABASE_URL=sqlite:$W/portal.db PORTAL_LISTEN=127.0.0.1:$PORT PORTAL_PUBLIC_URL=$BASE \
  PORTAL_MAIL_DIR=$W/mail PORTAL_RATE_LIMIT_PER_MINUTE=0 PORTAL_LOG_FORMAT=json \
  PORTAL_HASH_WORKERS=1 PORTAL_HASH_QUEUE=0 PORTAL_HASH_WAIT=0s PORTAL_ARGON2_T=${ARGON2_T:-40}
"$BIN" migrate >/dev/null 2>&1
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$W/cg.out" \
  "$BIN" serve >"$W/stdout.log" 2>"$W/stderr.log" &
VG=$!
trap 'kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.5; done
curl -s -o /dev/null "$BASE/healthz?w=[1-200]" # warm-up, not counted
callgrind_control -z $VG >/dev/null
curl -s -o /dev/null -w '%{http_code}\n' "$BASE/healthz?n=[1-$HEALTHZ]" | sort | uniq -c >"$W/healthz.codes"
callgrind_control -d healthz $VG >/dev/null
LOGIN='{"username":"nobody.here","password":"Not-The-Password-1"}'
curl -s -o /dev/null -H 'content-type: application/json' -d "$LOGIN" "$BASE/api/v1/sessions" &
sleep 3
curl -s -o /dev/null -H 'content-type: application/json' -d "$LOGIN" "$BASE/api/v1/sessions?w=[1-50]"
callgrind_control -z $VG >/dev/null
curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' -d "$LOGIN" \
  "$BASE/api/v1/sessions?n=[1-$LOGINS]" | sort | uniq -c >"$W/logins.codes"
callgrind_control -d logins $VG >/dev/null
kill -INT $VG; wait $VG 2>/dev/null || true
trap - EXIT
per_request() {
  local part=$1 n=$2 total=0 f ir
  for f in $(grep -l "^desc: Trigger: dump $part\$" "$W"/cg.out.*); do
    grep -q argon2 "$f" && continue
    ir=$(awk '/^summary:/ { print $2; exit }' "$f")
    total=$((total + ir))
  done
  echo "$TAG $part: $((total / n)) instructions per request ($total over $n; answers: $(tr -s ' \n' ' ' <"$W/$part.codes"))"
}
per_request healthz "$HEALTHZ"
per_request logins "$LOGINS"
