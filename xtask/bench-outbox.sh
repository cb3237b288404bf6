#!/usr/bin/env bash
# The outbox at scale (`cargo xtask bench outbox`, run from the workspace
# root): with 1,000,000 sent emails in the table, 100 new emails a second
# for 30 s, and whether the delivery worker of `portal-http serve` keeps
# up: the most emails ever waiting and how long the last one waited, on
# PostgreSQL (DATABASE_URL's server, a database of its own) and SQLite (a
# file). The worker delivers to files (PORTAL_MAIL_DIR): what is measured
# is the outbox's claim-and-mark work on a big table, not a relay.
set -euo pipefail

cargo build --release -q -p portal-http --bin portal-http
BIN=$PWD/target/release/portal-http
URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
ADMIN=${URL%/*}/postgres
DB=portal_bench_outbox
SENT=${SENT:-1000000}
PORT=18184
WORK=$(mktemp -d)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1,000 providers, one active account each (bench0 … bench999): the worker
# drops an email whose account is gone.
{
  echo "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business"
  for n in $(seq 0 999); do echo "O$n,55-7000000,practitioner,Out,Box$n,,45202,individual,medicaid"; done
} >"$WORK/roster.csv"

ACCOUNT_COLUMNS="username, email, password_hash, provider_kind, tax_id, provider_id, registrant_key, activated_at, \
agreement_version, agreement_hash, agreement_accepted_at, security_question, security_answer_hash, created_at"

# Waits for the service, enqueues 10 emails every 100 ms for 30 s while
# sampling how many wait, then waits for the queue to drain; prints
# "most-waiting drain-seconds delivered".
drive() { # enqueue-command count-command
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  python3 - "$1" "$2" <<'PY'
import subprocess, sys, time
enqueue, count = sys.argv[1], sys.argv[2]
def waiting():
    return int(subprocess.run(count, shell=True, capture_output=True, text=True, check=True).stdout.strip() or 0)
most, started = 0, time.monotonic()
for tick in range(300):
    subprocess.run(enqueue.replace("TICK", str(tick)), shell=True, check=True, capture_output=True)
    if tick % 10 == 0:
        most = max(most, waiting())
    time.sleep(max(0.0, started + (tick + 1) * 0.1 - time.monotonic()))
ended = time.monotonic()
while True:
    left = waiting()
    most = max(most, left)
    if left == 0:
        break
    time.sleep(0.05)
print(f"{most} {time.monotonic() - ended:.2f}")
PY
}

report() { # label result mail-dir
  read -r most drain <<<"$2"
  echo "| $1 | $most | $drain s | $(find "$3" -name '*.eml' | wc -l) |"
}

echo "| outbox with $SENT sent rows, 100 new emails/s for 30 s | most emails waiting | last one sent after the enqueueing ended | emails delivered |"
echo "| --- | --- | --- | --- |"

# PostgreSQL
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
PG=${URL%/*}/$DB
DATABASE_URL=$PG "$BIN" migrate >/dev/null
DATABASE_URL=$PG "$BIN" roster import "$WORK/roster.csv" >/dev/null
psql "$PG" -q <<SQL
INSERT INTO accounts ($ACCOUNT_COLUMNS)
SELECT 'bench' || n, 'bench' || n || '@clinic.example.org', 'x', 'practitioner', '557000000', 'O' || n, 'p:O' || n, now(),
       '1', 'x', now(), 1, 'x', now()
FROM generate_series(0, 999) n;
INSERT INTO email_outbox (recipient, username, kind, status, attempts, due_at, created_at, finished_at)
SELECT 'bench' || (g % 1000) || '@clinic.example.org', 'bench' || (g % 1000), 'password_changed', 'sent', 1,
       now() - g * interval '1 second', now() - g * interval '1 second', now() - g * interval '1 second'
FROM generate_series(1, $SENT) g;
ANALYZE;
SQL
mkdir -p "$WORK/pg-mail"
DATABASE_URL=$PG PORTAL_LISTEN=127.0.0.1:$PORT PORTAL_MAIL_DIR=$WORK/pg-mail "$BIN" serve >"$WORK/pg.log" 2>&1 &
SERVER=$!
RESULT=$(drive \
  "psql '$PG' -qc \"INSERT INTO email_outbox (recipient, username, kind, due_at, created_at) SELECT 'bench' || n || '@clinic.example.org', 'bench' || n, 'password_changed', now(), now() FROM generate_series(TICK * 10 % 1000, TICK * 10 % 1000 + 9) n\"" \
  "psql '$PG' -qAtc \"SELECT count(*) FROM email_outbox WHERE status = 'queued'\"")
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
report PostgreSQL "$RESULT" "$WORK/pg-mail"

# SQLite
SQLITE=$WORK/outbox.db
DATABASE_URL=sqlite:$SQLITE "$BIN" migrate >/dev/null
DATABASE_URL=sqlite:$SQLITE "$BIN" roster import "$WORK/roster.csv" >/dev/null
python3 - "$SQLITE" "$SENT" "$ACCOUNT_COLUMNS" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1_000_000)
db.execute(f"""INSERT INTO accounts ({sys.argv[3]})
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
  SELECT 'bench' || i, 'bench' || i || '@clinic.example.org', 'x', 'practitioner', '557000000', 'O' || i, 'p:O' || i, ?,
         '1', 'x', ?, 1, 'x', ? FROM n""", (now, now, now))
db.execute("""INSERT INTO email_outbox (recipient, username, kind, status, attempts, due_at, created_at, finished_at)
  WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < ?)
  SELECT 'bench' || (g % 1000) || '@clinic.example.org', 'bench' || (g % 1000), 'password_changed', 'sent', 1,
         ? - g * 1000000, ? - g * 1000000, ? - g * 1000000 FROM n""", (int(sys.argv[2]), now, now, now))
db.commit()
db.execute("ANALYZE")
db.close()
PY
cat >"$WORK/enqueue.py" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
tick, now = int(sys.argv[2]), int(time.time() * 1_000_000)
first = tick * 10 % 1000
db.executemany("INSERT INTO email_outbox (recipient, username, kind, due_at, created_at) VALUES (?, ?, 'password_changed', ?, ?)",
               [(f"bench{n}@clinic.example.org", f"bench{n}", now, now) for n in range(first, first + 10)])
db.commit()
PY
mkdir -p "$WORK/sqlite-mail"
DATABASE_URL=sqlite:$SQLITE PORTAL_LISTEN=127.0.0.1:$PORT PORTAL_MAIL_DIR=$WORK/sqlite-mail "$BIN" serve >"$WORK/sqlite.log" 2>&1 &
SERVER=$!
RESULT=$(drive \
  "python3 '$WORK/enqueue.py' '$SQLITE' TICK" \
  "python3 -c \"import sqlite3; print(sqlite3.connect('$SQLITE', timeout=30).execute(\\\"SELECT count(*) FROM email_outbox WHERE status = 'queued'\\\").fetchone()[0])\"")
report SQLite "$RESULT" "$WORK/sqlite-mail"
echo "| goal | keeps up: a few hundred at most, drained within seconds | | 3,000 each |"
