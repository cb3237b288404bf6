#!/usr/bin/env bash
# The audit trail at scale (`cargo xtask bench audit`, run from the
# workspace root): 10,000,000 stored events over 30 days, then the wall time
# and peak RSS of `portal-http audit list --since 1h` (and with
# `--username`), and the query plan of its page query, on PostgreSQL
# (DATABASE_URL's server, a database of its own) and SQLite (a file).
set -euo pipefail
# shellcheck source=xtask/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

cargo build --release -q -p portal-http --bin portal-http
BIN=$PWD/target/release/portal-http
URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
ADMIN=${URL%/*}/postgres
DB=portal_bench_audit
EVENTS=${EVENTS:-10000000}
WORK=$(mktemp -d)
cleanup() { psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT


report() { # label
  read -r s m n _ <<<"$(measure "$BIN" audit list --since 1h)"
  read -r su mu nu _ <<<"$(measure "$BIN" audit list --since 1h --username user42)"
  echo "| $1 | $s s, $m MiB ($n events) | $su s, $mu MiB ($nu events) |"
}

# One event every 260 ms back from now: 10,000,000 cover 30 days, the last
# hour about 13,800; 100,000 usernames.
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
PG=${URL%/*}/$DB
DATABASE_URL=$PG "$BIN" migrate >/dev/null
started=$(date +%s)
psql "$PG" -q <<SQL
INSERT INTO audit_events (at, event, username, client_addr, outcome)
SELECT now() - g * interval '260 milliseconds', 'login_failed', 'user' || (g % 100000),
       '203.0.113.' || (g % 250), 'invalid_credentials'
FROM generate_series(1, $EVENTS) g;
ANALYZE audit_events;
SQL
echo "PostgreSQL: $EVENTS events stored in $(($(date +%s) - started)) s" >&2
SQLITE=$WORK/audit.db
DATABASE_URL=sqlite:$SQLITE "$BIN" migrate >/dev/null
started=$(date +%s)
python3 - "$SQLITE" "$EVENTS" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1_000_000)
db.execute("""
INSERT INTO audit_events (at, event, username, client_addr, outcome)
WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < ?)
SELECT ? - g * 260000, 'login_failed', 'user' || (g % 100000), '203.0.113.' || (g % 250),
       'invalid_credentials' FROM n""", (int(sys.argv[2]), now))
db.commit()
db.execute("ANALYZE")
db.close()
PY
echo "SQLite: $EVENTS events stored in $(($(date +%s) - started)) s" >&2

echo "| audit list at $EVENTS events (release) | --since 1h | --since 1h --username user42 |"
echo "| --- | --- | --- |"
DATABASE_URL=$PG report PostgreSQL
DATABASE_URL=sqlite:$SQLITE report SQLite
echo "| goal | < 1 s | < 1 s |"
echo
echo "PostgreSQL, the first page of --since 1h:"
psql "$PG" -qAt -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id, at, event, username, client_addr, outcome FROM audit_events
  WHERE true AND at >= now() - interval '1 hour' ORDER BY at, id LIMIT 500" | sed 's/^/    /'
echo "PostgreSQL, with --username:"
psql "$PG" -qAt -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id, at, event, username, client_addr, outcome FROM audit_events
  WHERE true AND lower(username) = lower('user42') AND at >= now() - interval '1 hour' ORDER BY at, id LIMIT 500" | sed 's/^/    /'
echo "SQLite:"
python3 - "$SQLITE" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
since = int(time.time() * 1_000_000) - 3_600_000_000
for label, sql, args in [
    ("--since 1h", "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE true AND at >= ? ORDER BY at, id LIMIT 500", (since,)),
    ("--username", "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE true AND lower(username) = lower(?) AND at >= ? ORDER BY at, id LIMIT 500", ("user42", since)),
]:
    for row in db.execute("EXPLAIN QUERY PLAN " + sql, args):
        print(f"    {label}: {row[3]}")
PY
