#!/usr/bin/env bash
# The HTTP figures of `cargo xtask bench` (run from the workspace root):
# login throughput against the raw Argon2id rate, GET /api/v1/me latency
# alone and under a login flood, and peak RSS under 1,000 concurrent logins.
# The service runs from the release build on PostgreSQL (DATABASE_URL), with
# the default Argon2 parameters and hash pool; traffic stays on loopback.
set -euo pipefail

command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; apt-get install -y -q wrk >/dev/null; }
ulimit -n 8192 || true

cargo build --release -q -p portal-http --bin portal-http
cargo build --release -q -p portal-domain --example argon2_rate
BIN=target/release/portal-http
CORES=$(nproc)
URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
DB=portal_bench_http
ADMIN=${URL%/*}/postgres
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB"
WORK=$(mktemp -d)
PORT=18181
BASE=http://127.0.0.1:$PORT
# A queue longer than the load's concurrency: wrk ignores Retry-After and
# would retry 503s in a tight loop, measuring wrk rather than the service.
# The queue is still bounded, and memory with it.
export PORTAL_HASH_QUEUE=1024
export DATABASE_URL=${URL%/*}/$DB PORTAL_LISTEN=127.0.0.1:$PORT PORTAL_PUBLIC_URL=$BASE \
  PORTAL_MAIL_DIR=$WORK/mail PORTAL_RATE_LIMIT_PER_MINUTE=0 PORTAL_LOG_FORMAT=json RUST_LOG=warn,portal::mail=info

$BIN roster import docs/roster-example.csv >/dev/null
$BIN serve >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done

json() { curl -sf -H 'content-type: application/json' "$@"; }
PASSWORD='Quartz-Harbor-71-Lantern'
REG=$(json -X POST "$BASE/api/v1/registrations" -d '{"provider_type":"practitioner","provider_id":"P1001","tax_id":"123456789","zip":"45202","first_name":"Jane","last_name":"Doe"}' | sed 's/.*"registration_id":"\([0-9a-f]*\)".*/\1/')
json -X POST "$BASE/api/v1/registrations/$REG/agreement" -d '{"accepted":true,"agreement_version":"1"}' >/dev/null
json -X POST "$BASE/api/v1/registrations/$REG/account" -d "{\"username\":\"bench.user\",\"password\":\"$PASSWORD\",\"email\":\"bench@clinic.example.org\",\"security_question_id\":1,\"security_answer\":\"Fluffy\"}" >/dev/null
for _ in $(seq 50); do TOKEN=$(grep -hoE 'activate\?token=[A-Za-z0-9_-]{43}' "$WORK/server.log" 2>/dev/null | head -1 | cut -d= -f2 || true); [ -n "$TOKEN" ] && break; sleep 0.2; done
json -X POST "$BASE/api/v1/activations" -d "{\"token\":\"$TOKEN\"}" >/dev/null
SESSION=$(json -X POST "$BASE/api/v1/sessions" -d "{\"username\":\"bench.user\",\"password\":\"$PASSWORD\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')

cat >"$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"username":"bench.user","password":"$PASSWORD"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# Successful logins per second: requests minus non-2xx, over the duration.
logins_per_second() {
  local out; out=$(wrk -t2 -c"$1" -d"$2"s -s "$WORK/login.lua" "$BASE/api/v1/sessions")
  local total non2xx
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}'); non2xx=${non2xx:-0}
  awk -v t="$total" -v n="$non2xx" -v d="$2" 'BEGIN { printf "%.1f", (t - n) / d }'
}
p99_me() {
  wrk -t1 -c4 -d"$1"s --latency -H "Authorization: Bearer $SESSION" "$BASE/api/v1/me" | awk '/ 99%/ {print $2}'
}

RAW=$(target/release/examples/argon2_rate "$CORES" 5)
L16=$(logins_per_second 16 10)
L256=$(logins_per_second 256 10)
ME_ALONE=$(p99_me 5)
wrk -t1 -c256 -d12s -s "$WORK/login.lua" "$BASE/api/v1/sessions" >/dev/null &
FLOOD=$!
sleep 2
ME_FLOOD=$(p99_me 8)
wait $FLOOD
wrk -t2 -c1000 -d10s -s "$WORK/login.lua" "$BASE/api/v1/sessions" >/dev/null
RSS_KIB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)

pct() { awk -v a="$1" -v b="$RAW" 'BEGIN { printf "%.0f", 100 * a / b }'; }
echo "| HTTP (PostgreSQL, release, $CORES cores) | figure | goal |"
echo "| --- | --- | --- |"
echo "| raw Argon2id verifications/s ($CORES threads) | $RAW | |"
echo "| logins/s at concurrency 16 | $L16 ($(pct "$L16") % of raw) | ≥ 90 % |"
echo "| logins/s at concurrency 256 | $L256 ($(pct "$L256") % of raw) | ≥ 90 % |"
echo "| GET /api/v1/me p99 alone | $ME_ALONE | |"
echo "| GET /api/v1/me p99 under a 256-connection login flood | $ME_FLOOD | < 5 ms |"
echo "| peak RSS after 1,000 concurrent logins | $((RSS_KIB / 1024)) MiB | < 150 MiB |"
