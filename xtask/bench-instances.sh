#!/usr/bin/env bash
# `cargo xtask bench instances` (run from the workspace root): one `serve`
# against two on one PostgreSQL database, on this machine's cores.
#
# - one instance with the defaults (a hashing thread per core), then one
#   instance per core, each pinned to its core (`taskset`) with one hashing
#   thread (PORTAL_HASH_WORKERS=1): logins/s of all of them together against
#   the one, each window between two windows of the raw Argon2id rate;
# - across the instances, the lockout count and the hourly email cap stay
#   exact: a burst of wrong passwords for one account, and of reset requests
#   for another, split over every instance at once;
# - PostgreSQL's own cost per login, from pg_stat_statements (statement
#   execution time) and from its processes' CPU time, in each phase: where
#   the database becomes the limit.
#
# pg_stat_statements must be preloaded, which takes a server restart: the
# bench never touches the shared server at DATABASE_URL but starts a
# throwaway cluster of its own (initdb, as the postgres user when run as
# root), with Debian's defaults otherwise, and deletes it afterwards.
set -euo pipefail
# shellcheck source=xtask/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; apt-get install -y -q wrk >/dev/null; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is missing" >&2; exit 1; }
ulimit -n 8192 || true
cargo build --release -q -p portal-http --bin portal-http
cargo build --release -q -p portal-domain --example argon2_rate
BIN=$PWD/target/release/portal-http
CORES=$(nproc)
PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -1)
[ -x "$PG_BIN/initdb" ] || { echo "no initdb under /usr/lib/postgresql (Debian's postgresql package)" >&2; exit 1; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

WORK=$(mktemp -d)
PGDATA=$(mktemp -d /tmp/bench-instances-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
PGPORT=55433
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK" "$PGDATA"
}
trap cleanup EXIT
as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
  -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements" start >/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/postgres
psql "$DATABASE_URL" -qc "CREATE EXTENSION pg_stat_statements"
POSTMASTER=$(head -1 "$PGDATA/postmaster.pid")

# The product's defaults but for PORTAL_RATE_LIMIT_PER_MINUTE=0 (all the
# load comes from one address) and the file mailer (no SMTP server here).
export PORTAL_RATE_LIMIT_PER_MINUTE=0 PORTAL_MAIL_DIR=$WORK/mail PORTAL_LOG_FORMAT=json
PASSWORD='Quartz-Harbor-71-Lantern'
"$BIN" migrate >/dev/null

# Starts `serve` on port $1 with its log in $2; the rest of the arguments
# prefix the command (taskset) and come before the environment (env VAR=…).
start_instance() {
  local port=$1 log=$2; shift 2
  PORTAL_LISTEN=127.0.0.1:$port PORTAL_PUBLIC_URL=http://127.0.0.1:$port "$@" "$BIN" serve >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "the instance on port $port did not start" >&2; return 1
}
stop_instances() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

# CPU seconds used so far by this cluster's PostgreSQL processes.
postgres_cpu() {
  local ticks=0 pid
  for pid in "$POSTMASTER" $(pgrep -P "$POSTMASTER"); do
    ticks=$((ticks + $(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0)))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}
# Milliseconds of statement execution pg_stat_statements recorded, and calls.
statement_time() {
  psql "$DATABASE_URL" -Atc "SELECT round(sum(total_exec_time)::numeric, 1), sum(calls) FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'" | tr '|' ' '
}
raw_rate() { target/release/examples/argon2_rate "$CORES" 4; }

# Successful logins of one wrk run against $1 with $2 connections for $3 s.
logins() {
  local out total non2xx
  out=$(wrk -t1 -c"$2" -d"$3"s --timeout 30s -s "$WORK/login.lua" "$1/api/v1/sessions")
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo $((total - ${non2xx:-0}))
}

ROUNDS=3
WINDOW=10
CONNECTIONS=16
# One phase: ROUNDS login windows of WINDOW s over the given base URLs (the
# connections split evenly), each between raw windows. Prints "logins/s
# share-of-raw-% postgres-CPU-µs-per-login statement-ms-per-login".
phase() {
  local bases=("$@") each=$((CONNECTIONS / $#)) before after count pg0 pg1 st0 st1 calls0 calls1 total=0 shares=""
  psql "$DATABASE_URL" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null
  read -r st0 calls0 <<<"$(statement_time)"
  pg0=$(postgres_cpu)
  before=$(raw_rate)
  for _ in $(seq "$ROUNDS"); do
    : >"$WORK/counts"
    local clients=()
    for base in "${bases[@]}"; do
      logins "$base" "$each" "$WINDOW" >>"$WORK/counts" &
      clients+=($!)
    done
    wait "${clients[@]}"
    count=$(awk '{ s += $1 } END { print s }' "$WORK/counts")
    total=$((total + count))
    sleep 0.5
    after=$(raw_rate)
    shares="$shares $(awk -v c="$count" -v w="$WINDOW" -v a="$before" -v b="$after" 'BEGIN { printf "%.1f", 100 * c / w / ((a + b) / 2) }')"
    before=$after
  done
  pg1=$(postgres_cpu)
  read -r st1 calls1 <<<"$(statement_time)"
  # The raw windows and the pauses ran no logins: PostgreSQL's CPU over the
  # logins is its CPU over the phase (idle otherwise but for the autovacuum).
  awk -v n="$total" -v d="$((ROUNDS * WINDOW))" -v p0="$pg0" -v p1="$pg1" -v s0="${st0:-0}" -v s1="${st1:-0}" -v shares="$shares" 'BEGIN {
    split(shares, v, " "); m = length(v); for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    printf "%.1f %.1f %.0f %.3f %.1f-%.1f\n", n / d, v[int((m + 1) / 2)], 1e6 * (p1 - p0) / n, (s1 - s0) / n, v[1], v[m] }'
}

# One instance, the defaults: register the accounts, measure.
start_instance 18191 "$WORK/one.log"
BASE=http://127.0.0.1:18191
ACCOUNTS=64
register_login_accounts "$ACCOUNTS" "$WORK/one.log"
login_script "$ACCOUNTS"
read -r ONE_RATE ONE_SHARE ONE_PG_US ONE_ST_MS ONE_RANGE <<<"$(phase "$BASE")"
stop_instances

# One instance per core, pinned, one hashing thread each.
BASES=()
for core in $(seq 0 $((CORES - 1))); do
  port=$((18192 + core))
  start_instance "$port" "$WORK/core$core.log" taskset -c "$core" env PORTAL_HASH_WORKERS=1
  BASES+=("http://127.0.0.1:$port")
done
read -r N_RATE N_SHARE N_PG_US N_ST_MS N_RANGE <<<"$(phase "${BASES[@]}")"
# The statements that took PostgreSQL's time in that phase.
TOP=$(psql "$DATABASE_URL" -Atc "SELECT calls || ' calls, ' || round(mean_exec_time::numeric, 3) || ' ms each: ' || left(regexp_replace(query, '\s+', ' ', 'g'), 100) FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 4")

# Exact across instances: 4 × limit wrong passwords for one account and
# 4 × cap reset requests for another, spread over every instance at once.
LIMIT=5
CAP=5
victim=login.bench0
resetter=login.bench1
: >"$WORK/answers"
CLIENTS=()
for i in $(seq 0 $((4 * LIMIT - 1))); do
  base=${BASES[$((i % CORES))]}
  curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' -X POST "$base/api/v1/sessions" \
    -d "{\"username\":\"$victim\",\"password\":\"Wrong-Harbor-71-Lantern\"}" >>"$WORK/answers" &
  CLIENTS+=($!)
done
for i in $(seq 0 $((4 * CAP - 1))); do
  base=${BASES[$((i % CORES))]}
  curl -s -o /dev/null -H 'content-type: application/json' -X POST "$base/api/v1/password-resets" \
    -d "{\"username\":\"$resetter\"}" &
  CLIENTS+=($!)
done
# Only the clients: a bare `wait` would wait for the instances too.
wait "${CLIENTS[@]}"
sleep 2 # the reset requests' work runs after their 202
LOCK=$(psql "$DATABASE_URL" -Atc "SELECT failed_logins || ' ' || (locked_until IS NOT NULL) FROM accounts WHERE username = '$victim'")
LOCK_EVENTS=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM audit_events WHERE event = 'account_locked' AND username = '$victim'")
RESET_EMAILS=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM email_outbox WHERE kind = 'password_reset' AND username = '$resetter'")
ANSWERS=$(sort "$WORK/answers" | uniq -c | awk '{ printf "%s%s × %s", sep, $2, $1; sep = ", " }')
stop_instances
EXACT="yes"
[ "$LOCK" = "$LIMIT true" ] && [ "$LOCK_EVENTS" = 1 ] && [ "$RESET_EMAILS" = "$CAP" ] || EXACT="NO"

RATIO=$(awk -v a="$N_RATE" -v b="$ONE_RATE" 'BEGIN { printf "%.1f", 100 * a / b }')
# The raw rate of a shared host drifts between the phases: their shares of
# the raw windows around them compare the instances, not the host.
SHARE_RATIO=$(awk -v a="$N_SHARE" -v b="$ONE_SHARE" 'BEGIN { printf "%.1f", 100 * a / b }')
PG_LIMIT=$(awk -v us="$N_PG_US" 'BEGIN { if (us > 0) printf "%.0f", 1e6 / us; else print "-" }')
echo "| Instances on one PostgreSQL (release, $CORES cores, throwaway cluster with pg_stat_statements) | figure | goal |"
echo "| --- | --- | --- |"
echo "| one instance, defaults: logins/s at $CONNECTIONS connections; median window's share of raw (windows) | $ONE_RATE; $ONE_SHARE % ($ONE_RANGE %) | |"
echo "| $CORES instances, one per core (taskset, PORTAL_HASH_WORKERS=1), $((CONNECTIONS / CORES)) connections each: logins/s together; share of raw (windows) | $N_RATE; $N_SHARE % ($N_RANGE %) | |"
echo "| together against one: share of raw; logins/s | $SHARE_RATIO %; $RATIO % | within 10 % |"
echo "| PostgreSQL per login: its processes' CPU; statement execution (pg_stat_statements) — one instance / $CORES instances | $ONE_PG_US / $N_PG_US µs; $ONE_ST_MS / $N_ST_MS ms | |"
echo "| logins/s one PostgreSQL core could serve at that CPU per login | ~$PG_LIMIT | |"
echo "| $((4 * LIMIT)) wrong passwords for one account over $CORES instances at once (limit $LIMIT): answers; stored count and lock; account_locked events | $ANSWERS; $LOCK; $LOCK_EVENTS | $LIMIT true; 1 |"
echo "| $((4 * CAP)) reset requests for one account over $CORES instances at once (cap $CAP an hour): reset emails queued | $RESET_EMAILS | $CAP |"
echo "| counts exact across instances | $EXACT | yes |"
echo
echo "The statements that took PostgreSQL's time with $CORES instances (pg_stat_statements, by total time):"
echo "$TOP" | sed 's/^/- /'
[ "$EXACT" = yes ]
