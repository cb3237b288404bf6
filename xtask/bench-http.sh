#!/usr/bin/env bash
# The HTTP figures of `cargo xtask bench` (run from the workspace root):
# login throughput against the raw Argon2id rate, GET /api/v1/me latency
# alone and under a login flood, peak RSS under 1,000 concurrent logins, and
# registrations per second end to end.
# The service runs from the release build on PostgreSQL (DATABASE_URL), with
# the default Argon2 parameters and hash pool; traffic stays on loopback.
# wrk (closed loop, as many requests as the service answers) measures
# throughput; oha at a fixed request rate measures /me latency, so that the
# figure is the service's answer time and not the queue a saturating client
# builds in front of it.
set -euo pipefail
# shellcheck source=xtask/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; apt-get install -y -q wrk >/dev/null; }
command -v oha >/dev/null || { echo "installing oha (cargo install --locked oha)"; cargo install --locked -q oha; }
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
# The product's defaults, logging included (RUST_LOG unset: info, a JSON
# line per request), but for PORTAL_RATE_LIMIT_PER_MINUTE=0: all the load
# comes from one address, which the limit would answer 429.
# (PORTAL_HASH_QUEUE 64 queued hashes,
# PORTAL_HASH_WAIT 2 s): at 256 connections a login that finds the hash pool
# full waits for a place up to 2 s, holding nothing, and is refused (503)
# after that, before any database work; wrk ignores Retry-After and sends
# the next one at once, so the refusals are part of what is measured. wrk's
# timeout is raised from 2 s to 30 s so that it does not give up on logins
# waiting in the queue.
export DATABASE_URL=${URL%/*}/$DB PORTAL_LISTEN=127.0.0.1:$PORT PORTAL_PUBLIC_URL=$BASE \
  PORTAL_MAIL_DIR=$WORK/mail PORTAL_RATE_LIMIT_PER_MINUTE=0 PORTAL_LOG_FORMAT=json

$BIN migrate >/dev/null
$BIN roster import docs/roster-example.csv >/dev/null
$BIN serve >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done

PASSWORD='Quartz-Harbor-71-Lantern'
REG=$(json -X POST "$BASE/api/v1/registrations" -d '{"provider_type":"practitioner","provider_id":"P1001","tax_id":"123456789","zip":"45202","first_name":"Jane","last_name":"Doe"}' | sed 's/.*"registration_id":"\([0-9a-f]*\)".*/\1/')
json -X POST "$BASE/api/v1/registrations/$REG/agreement" -d '{"accepted":true,"agreement_version":"1"}' >/dev/null
json -X POST "$BASE/api/v1/registrations/$REG/account" -d "{\"username\":\"bench.user\",\"password\":\"$PASSWORD\",\"email\":\"bench@clinic.example.org\",\"security_question_id\":1,\"security_answer\":\"Fluffy\"}" >/dev/null
for _ in $(seq 50); do TOKEN=$(grep -hoE 'activate\?token=[A-Za-z0-9_-]{43}' "$WORK/server.log" 2>/dev/null | head -1 | cut -d= -f2 || true); [ -n "$TOKEN" ] && break; sleep 0.2; done
json -X POST "$BASE/api/v1/activations" -d "{\"token\":\"$TOKEN\"}" >/dev/null
SESSION=$(json -X POST "$BASE/api/v1/sessions" -d "{\"username\":\"bench.user\",\"password\":\"$PASSWORD\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')

# The login windows log in to ACCOUNTS accounts in turn, as a credential
# stuffing flood does: logins of one account beyond the lockout's five places
# in flight are answered 423 at once (SPEC §4), which would measure wrk's
# retries of those, not the hash pool.
ACCOUNTS=64
register_login_accounts "$ACCOUNTS" "$WORK/server.log"
login_script "$ACCOUNTS"

# CPU seconds the service's threads other than the hashing ones have used.
nonhash_cpu() {
  local ticks=0 t comm fields
  for t in /proc/"$SERVER"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    case $comm in hash-*) continue ;; esac
    # After "pid (comm) " utime and stime are the 12th and 13th fields.
    fields=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
    ticks=$((ticks + $(echo "$fields" | awk '{ print $12 + $13 }')))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}
# CPU seconds so far of the service's hashing threads, of its other
# threads, and of every PostgreSQL process (the server is this machine's:
# on an otherwise idle machine that is this bench's database work).
cpu_split() {
  local hash=0 other=0 pg=0 t comm v
  for t in /proc/"$SERVER"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    v=$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{ print $12 + $13 }') || continue
    case $comm in hash-*) hash=$((hash + v)) ;; *) other=$((other + v)) ;; esac
  done
  for t in $(pgrep -x postgres || true); do
    # A backend's own time and its reaped children's.
    v=$(sed 's/^.*) //' "/proc/$t/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || continue
    pg=$((pg + ${v:-0}))
  done
  awk -v h="$hash" -v o="$other" -v p="$pg" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f %.3f %.3f", h / hz, o / hz, p / hz }'
}
# Logins the hash pool refused so far.
refused() { curl -sf "$BASE/metrics" | awk '/^portal_hash_pool_rejected_total/ { print $2 }'; }

# Successful logins per second: requests minus non-2xx, over the duration.
logins_per_second() {
  local out; out=$(wrk -t2 -c"$1" -d"$2"s --timeout 30s -s "$WORK/login.lua" "$BASE/api/v1/sessions")
  local total non2xx
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}'); non2xx=${non2xx:-0}
  awk -v t="$total" -v n="$non2xx" -v d="$2" 'BEGIN { printf "%.1f", (t - n) / d }'
}
# /me latency at a fixed rate: "p50 p99" in milliseconds.
me_latency() {
  oha --no-tui --output-format json -z "$1"s -q 200 --latency-correction -c 8 \
    -H "Authorization: Bearer $SESSION" "$BASE/api/v1/me" |
    python3 -c 'import json, sys; p = json.load(sys.stdin)["latencyPercentiles"]; print("%.2f %.2f" % (p["p50"] * 1000, p["p99"] * 1000))'
}
me_max_rate() {
  wrk -t1 -c4 -d"$1"s -H "Authorization: Bearer $SESSION" "$BASE/api/v1/me" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}

# Registrations end to end (details, agreement, account: three requests, two
# Argon2id hashes and a zxcvbn check each) for $1 providers of a generated
# roster, 16 at a time; prints registrations per second.
REGISTRANTS=400
{
  echo "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business"
  for n in $(seq "$REGISTRANTS"); do echo "R$n,55-5000000,practitioner,Reg,Bench$n,,45202,individual,medicaid"; done
} >"$WORK/registrants.csv"
$BIN roster import "$WORK/registrants.csv" >/dev/null
# 16 clients, each registering providers one after another over keep-alive
# connections (Python threads: a client that costs little CPU, unlike the
# bash and curl processes an earlier version of this script started for
# every request, which took a large share of the 2 cores from the service).
# Prints registrations per second.
registrations_per_second() {
  python3 - "$BASE" "$PASSWORD" "$REGISTRANTS" <<'PY'
import http.client, json, os, sys, threading, time, urllib.parse
base, password, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = urllib.parse.urlparse(base)
todo = list(range(1, count + 1))
lock = threading.Lock()
done = []
def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, data
def client():
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    while True:
        with lock:
            if not todo:
                return
            n = todo.pop()
        status, data = post(conn, "/api/v1/registrations", {"provider_type": "practitioner", "provider_id": f"R{n}",
            "tax_id": "555000000", "zip": "45202", "first_name": "Reg", "last_name": f"Bench{n}"})
        if status != 201:
            continue
        reg = json.loads(data)["registration_id"]
        status, _ = post(conn, f"/api/v1/registrations/{reg}/agreement", {"accepted": True, "agreement_version": "1"})
        if status >= 300:
            continue
        status, _ = post(conn, f"/api/v1/registrations/{reg}/account", {"username": f"reg.bench{n}", "password": password,
            "email": f"reg{n}@clinic.example.org", "security_question_id": 1, "security_answer": "Fluffy"})
        if status == 201:
            with lock:
                done.append(n)
started = time.monotonic()
threads = [threading.Thread(target=client) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
took = time.monotonic() - started
if len(done) != count:
    sys.stderr.write(f"warning: {len(done)} of {count} registrations succeeded\n")
spent = os.times()
# Registrations per second, how many, and the client's own CPU seconds.
print(f"{len(done) / took:.1f} {len(done)} {spent.user + spent.system:.3f}")
PY
}

# The raw rate of a shared host drifts by a fifth within a minute (other
# guests compete for the memory bandwidth Argon2 lives on), so each login
# window is compared with raw windows taken right before and right after it:
# raw, logins at 16, raw, logins at 256, raw, ... Each login window's ratio
# is its rate over the mean of its two neighbours; the median window over
# the rounds is the figure, with the range.
ROUNDS=5
WINDOW=5
raw_rate() { target/release/examples/argon2_rate "$CORES" 4; }
: >"$WORK/windows"
: >"$WORK/refusals"
before=$(raw_rate)
for _ in $(seq "$ROUNDS"); do
  for connections in 16 256; do
    cpu_before=$(nonhash_cpu); refused_before=$(refused)
    logins=$(logins_per_second "$connections" "$WINDOW")
    cpu_after=$(nonhash_cpu); refused_after=$(refused)
    sleep 0.5 # the service drops the logins wrk gave up on; let it settle
    after=$(raw_rate)
    echo "$connections $before $logins $after" >>"$WORK/windows"
    # "connections refusals/s non-hashing-CPU-seconds logins" per window.
    awk -v c="$connections" -v r0="$refused_before" -v r1="$refused_after" -v a="$cpu_before" -v b="$cpu_after" \
      -v w="$WINDOW" -v l="$logins" 'BEGIN { printf "%s %.1f %.3f %.0f\n", c, (r1 - r0) / w, b - a, l * w }' >>"$WORK/refusals"
    before=$after
  done
done
# "median min max" of the login/raw percentages at $1 connections.
ratio() {
  awk -v c="$1" '$1 == c { print 100 * $3 / (($2 + $4) / 2) }' "$WORK/windows" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.1f %.1f %.1f", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
# The median of column $2 of the windows at $1 connections.
median() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$WORK/windows" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
RAW=$(awk '{ print $2 }' "$WORK/windows" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
RAW_MIN=$(awk '{ print $2 }' "$WORK/windows" | sort -n | head -1)
RAW_MAX=$(awk '{ print $2 }' "$WORK/windows" | sort -n | tail -1)
# Non-hashing CPU per login (µs) with no refusals (16 connections): the
# median window.
CPU_PER_LOGIN=$(awk '$1 == 16 && $4 > 0 { print 1e6 * $3 / $4 }' "$WORK/refusals" | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] }')
REFUSED_256=$(awk '$1 == 256 { print $2 }' "$WORK/refusals" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
L16=$(median 16 3)
L256=$(median 256 3)
read -r L16_PCT L16_MIN L16_MAX <<<"$(ratio 16)"
read -r L256_PCT L256_MIN L256_MAX <<<"$(ratio 256)"
# Refusals need more clients than the wait absorbs: 1,000 connections (just
# under PORTAL_MAX_CONNECTIONS) for 10 s. The service's CPU per refusal is
# its non-hashing threads' CPU less what the logins judged meanwhile cost
# (CPU_PER_LOGIN each), over the refusals; the plain quotient is printed as
# the upper bound.
sleep 2
cpu_before=$(nonhash_cpu); refused_before=$(refused)
L1000=$(logins_per_second 1000 10)
cpu_after=$(nonhash_cpu); refused_after=$(refused)
read -r REFUSED_1000 CPU_PER_REFUSAL CPU_PER_REFUSAL_MAX <<<"$(awk -v r0="$refused_before" -v r1="$refused_after" -v a="$cpu_before" -v b="$cpu_after" -v l="$L1000" -v pl="$CPU_PER_LOGIN" \
  'BEGIN { n = r1 - r0; cpu = 1e6 * (b - a); if (n > 0) printf "%.1f %.1f %.1f", n / 10, (cpu - l * 10 * pl) / n, cpu / n; else print "0 - -" }')"
sleep 3
ME_MAX=$(me_max_rate 5)
read -r ME_P50 ME_P99 <<<"$(me_latency 8)"
# Three 10-second windows of /me latency in one flood; the median window.
wrk -t1 -c256 -d36s --timeout 30s -s "$WORK/login.lua" "$BASE/api/v1/sessions" >/dev/null &
FLOOD=$!
sleep 2
: >"$WORK/flood"
for _ in 1 2 3; do me_latency 10 >>"$WORK/flood"; done
wait $FLOOD
read -r FLOOD_P50 FLOOD_P99 <<<"$(sort -k2 -n "$WORK/flood" | sed -n 2p)"
FLOOD_P99S=$(sort -k2 -n "$WORK/flood" | awk '{ printf "%s%s", sep, $2; sep = ", " }')
# Logins admitted during the flood run to the end after wrk has gone (their
# place in the lockout count is judged or given back): let the pool drain.
sleep 2
REG_RAW_BEFORE=$(raw_rate)
read -r HASH0 OTHER0 PG0 <<<"$(cpu_split)"
read -r REGS REGISTERED CLIENT_CPU <<<"$(registrations_per_second)"
read -r HASH1 OTHER1 PG1 <<<"$(cpu_split)"
REG_RAW_AFTER=$(raw_rate)
REG_SHARE=$(awk -v r="$REGS" -v a="$REG_RAW_BEFORE" -v b="$REG_RAW_AFTER" 'BEGIN { printf "%.0f", 100 * r / ((a + b) / 4) }')
# Where a registration's CPU goes, in ms: the hashing threads (two Argon2id
# hashes and the policy check), the service's other threads, PostgreSQL and
# the client; against two raw hashes (the raw rate's CPU per hash, both
# cores busy). The share of raw ÷ 2 the cores allow is two raw hashes over
# all of it: what the figure can reach with every core busy.
REG_CPU=$(awk -v n="$REGISTERED" -v h0="$HASH0" -v h1="$HASH1" -v o0="$OTHER0" -v o1="$OTHER1" -v p0="$PG0" -v p1="$PG1" -v c="$CLIENT_CPU" \
  -v a="$REG_RAW_BEFORE" -v b="$REG_RAW_AFTER" -v cores="$CORES" 'BEGIN {
    if (n == 0) { print "-"; exit }
    raw2 = 2 * 1000 * cores / ((a + b) / 2); hash = 1000 * (h1 - h0) / n; other = 1000 * (o1 - o0) / n
    pg = 1000 * (p1 - p0) / n; client = 1000 * c / n
    printf "hashing threads %.1f (two raw hashes: %.1f), service other threads %.1f, PostgreSQL %.1f, client %.1f; the cores allow %.0f %% of raw ÷ 2", \
      hash, raw2, other, pg, client, 100 * raw2 / (hash + other + pg + client) }')
wrk -t2 -c1000 -d10s --timeout 30s -s "$WORK/login.lua" "$BASE/api/v1/sessions" >/dev/null
RSS_KIB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)

# The cost of one refusal, isolated: a second instance on the same database
# with one hashing thread, no queue and no wait (PORTAL_HASH_WORKERS=1,
# PORTAL_HASH_QUEUE=0, PORTAL_HASH_WAIT=0s: non-default, so that nearly
# every login of a 32-connection flood is refused at once); its non-hashing
# threads' CPU over the refusals. With the defaults a refusal also holds a
# timer and a place in the wait queue for up to 2 s, which costs no CPU
# while it waits.
PORT2=18182
PORTAL_LISTEN=127.0.0.1:$PORT2 PORTAL_PUBLIC_URL=http://127.0.0.1:$PORT2 PORTAL_HASH_WORKERS=1 PORTAL_HASH_QUEUE=0 PORTAL_HASH_WAIT=0s \
  $BIN serve >"$WORK/refusing.log" 2>&1 &
REFUSING=$!
trap 'kill "$REFUSING" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT2/healthz" >/dev/null && break; sleep 0.2; done
SERVER_MAIN=$SERVER
SERVER=$REFUSING
BASE_MAIN=$BASE
BASE=http://127.0.0.1:$PORT2
cpu_before=$(nonhash_cpu); refused_before=$(refused)
wrk -t1 -c32 -d10s -s "$WORK/login.lua" "$BASE/api/v1/sessions" >/dev/null
cpu_after=$(nonhash_cpu); refused_after=$(refused)
read -r ISOLATED_REFUSALS ISOLATED_CPU <<<"$(awk -v r0="$refused_before" -v r1="$refused_after" -v a="$cpu_before" -v b="$cpu_after" \
  'BEGIN { n = r1 - r0; printf "%.0f %.1f", n / 10, (n > 0 ? 1e6 * (b - a) / n : 0) }')"
SERVER=$SERVER_MAIN
BASE=$BASE_MAIN
kill "$REFUSING"; wait "$REFUSING" 2>/dev/null || true

echo "| HTTP (PostgreSQL, release, $CORES cores) | figure | goal |"
echo "| --- | --- | --- |"
echo "| raw Argon2id verifications/s ($CORES threads; median of $((2 * ROUNDS)) windows of 4 s) | $RAW (windows $RAW_MIN–$RAW_MAX) | |"
echo "| logins/s at concurrency 16 ($ROUNDS windows of ${WINDOW} s, each against the raw windows around it) | $L16 (median $L16_PCT % of raw; windows $L16_MIN–$L16_MAX %) | ≥ 90 % |"
echo "| logins/s at concurrency 256, default settings, wrk ignoring Retry-After (the same) | $L256 (median $L256_PCT % of raw; windows $L256_MIN–$L256_MAX %) | ≥ 85 % |"
echo "| refusals/s at concurrency 256 (median window) | $REFUSED_256/s | |"
echo "| at concurrency 1,000 for 10 s: logins/s; refusals/s; service CPU per refusal (non-hashing threads, less $CPU_PER_LOGIN µs per login judged; upper bound: all of it) | $L1000; $REFUSED_1000/s; $CPU_PER_REFUSAL µs (≤ $CPU_PER_REFUSAL_MAX µs) | < 50 µs |"
echo "| a refusal alone: refusals/s of a 32-connection flood and the service's non-hashing CPU per refusal (PORTAL_HASH_WORKERS=1, PORTAL_HASH_QUEUE=0, PORTAL_HASH_WAIT=0s, to isolate them) | $ISOLATED_REFUSALS/s; $ISOLATED_CPU µs | < 50 µs |"
echo "| GET /api/v1/me, most per second (4 connections) | $ME_MAX | |"
echo "| GET /api/v1/me at 200/s alone: p50 / p99 | $ME_P50 / $ME_P99 ms | |"
echo "| GET /api/v1/me at 200/s under a 256-connection login flood, median of 3 windows: p50 / p99 | $FLOOD_P50 / $FLOOD_P99 ms (p99s $FLOOD_P99S) | p99 < 5 ms |"
echo "| registrations/s end to end (16 clients; 3 requests, 2 Argon2id hashes and zxcvbn each) against half the raw rate measured right before and after ($REG_RAW_BEFORE, $REG_RAW_AFTER) | $REGS ($REG_SHARE % of raw ÷ 2) | ≥ 85 % |"
echo "| a registration's CPU, ms | $REG_CPU | |"
echo "| peak RSS after 1,000 concurrent logins | $((RSS_KIB / 1024)) MiB | < 150 MiB |"
