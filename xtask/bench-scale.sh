#!/usr/bin/env bash
# Growth with accounts (`cargo xtask bench scale`, run from the workspace
# root): the same hot paths at 1,000 and at 1,000,000 accounts, on
# PostgreSQL (DATABASE_URL's server, a database of its own) and SQLite (a
# file).
#
# Each database is migrated by `portal-http migrate` and then filled by SQL,
# not through the API: a roster of practitioners and groups (10 % more
# entries than accounts), accounts named first.lastN with emails, activated
# (1 % pending, some of them stale), sessions for a tenth of them, link
# tokens, sent emails, registration flows and three audit events per
# account. Argon2id is too slow to hash a million passwords: one account is
# registered through the API on a scratch database first, and its password
# and security-answer hashes (the product's default parameters) and
# agreement are copied into every row, so every account logs in with the
# same known password.
#
# Then, on each database, with the release `serve` on it (the product's
# defaults but for PORTAL_RATE_LIMIT_PER_MINUTE=0, as in bench-http.sh: all
# the load comes from one address): logins per second (wrk, closed loop, 16
# connections over 64 accounts), and the p99 of a login, GET /api/v1/me and
# registration step 1 (oha at a fixed rate, below capacity), of a reset
# request and of the account step of a registration for fresh providers (a
# paced Python client, every request a different account or provider); the
# purge's statements (those `serve` runs every 30 s, with its default
# settings) timed once before `serve` starts; and at the largest size, the
# query plans of the hot statements, their SQL as the adapters send it.
#
# SIZES (default "1000 1000000") and BACKENDS (default "postgres sqlite")
# choose what runs.
set -euo pipefail

command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; apt-get install -y -q wrk >/dev/null; }
command -v oha >/dev/null || { echo "installing oha (cargo install --locked oha)"; cargo install --locked -q oha; }
ulimit -n 8192 || true

cargo build --release -q -p portal-http --bin portal-http
BIN=$PWD/target/release/portal-http
SIZES=${SIZES:-"1000 1000000"}
BACKENDS=${BACKENDS:-"postgres sqlite"}
LARGEST=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
ADMIN=${URL%/*}/postgres
WORK=$(mktemp -d)
PORT=18191
BASE=http://127.0.0.1:$PORT
PASSWORD='Quartz-Harbor-71-Lantern'
SERVER=
cleanup() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  for db in portal_bench_scale_seed $(for n in $SIZES; do echo "portal_bench_scale_$n"; done); do
    psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
export PORTAL_LISTEN=127.0.0.1:$PORT PORTAL_PUBLIC_URL=$BASE PORTAL_MAIL_DIR=$WORK/mail \
  PORTAL_RATE_LIMIT_PER_MINUTE=0 PORTAL_LOG_FORMAT=json

json() { curl -sf -H 'content-type: application/json' "$@"; }
start_server() { # database URL
  DATABASE_URL=$1 "$BIN" serve >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.2; done
  echo "serve did not start:" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }

# The hashes every account shares: one registration through the API.
SEED=${URL%/*}/portal_bench_scale_seed
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS portal_bench_scale_seed WITH (FORCE)" -qc "CREATE DATABASE portal_bench_scale_seed" >/dev/null
DATABASE_URL=$SEED "$BIN" migrate >/dev/null
psql "$SEED" -qc "INSERT INTO roster_entries (tax_id, provider_id, kind, first_name, last_name, payee, zips, lines_of_business)
  VALUES ('555000000', 'SEED', 'practitioner', 'Seed', 'Bench', 'individual', '45202', 'medicaid')"
start_server "$SEED"
REG=$(json -X POST "$BASE/api/v1/registrations" -d '{"provider_type":"practitioner","provider_id":"SEED","tax_id":"555000000","zip":"45202","first_name":"Seed","last_name":"Bench"}' |
  sed 's/.*"registration_id":"\([0-9a-f]*\)".*/\1/')
json -X POST "$BASE/api/v1/registrations/$REG/agreement" -d '{"accepted":true,"agreement_version":"1"}' >/dev/null
json -X POST "$BASE/api/v1/registrations/$REG/account" -d "{\"username\":\"seed.bench\",\"password\":\"$PASSWORD\",\"email\":\"seed@clinic.example.org\",\"security_question_id\":1,\"security_answer\":\"Fluffy\"}" >/dev/null
stop_server
IFS='|' read -r PW_HASH ANSWER_HASH AGREEMENT_VERSION AGREEMENT_HASH <<<"$(psql "$SEED" -qAt -c \
  "SELECT password_hash, security_answer_hash, agreement_version, agreement_hash FROM accounts WHERE username = 'seed.bench'")"
psql "$ADMIN" -qc "DROP DATABASE portal_bench_scale_seed WITH (FORCE)" >/dev/null
[ -n "$PW_HASH" ] || { echo "the seed registration failed" >&2; exit 1; }

# Names: 20 first names by g % 20, 25 last names by (g / 20) % 25.
NAMES="CREATE TEMP TABLE first_names (i integer PRIMARY KEY, name text NOT NULL);
INSERT INTO first_names VALUES (0, 'Jane'), (1, 'John'), (2, 'Maria'), (3, 'David'), (4, 'Aisha'), (5, 'Wei'),
  (6, 'Carlos'), (7, 'Fatima'), (8, 'Robert'), (9, 'Linda'), (10, 'Omar'), (11, 'Grace'), (12, 'Ivan'),
  (13, 'Priya'), (14, 'Samuel'), (15, 'Elena'), (16, 'Kwame'), (17, 'Hannah'), (18, 'Luis'), (19, 'Mei');
CREATE TEMP TABLE last_names (i integer PRIMARY KEY, name text NOT NULL);
INSERT INTO last_names VALUES (0, 'Smith'), (1, 'Johnson'), (2, 'Garcia'), (3, 'Nguyen'), (4, 'Okafor'),
  (5, 'Patel'), (6, 'Kim'), (7, 'Brown'), (8, 'Lopez'), (9, 'Cohen'), (10, 'Rossi'), (11, 'Murphy'),
  (12, 'Schmidt'), (13, 'Ivanova'), (14, 'Haddad'), (15, 'Tanaka'), (16, 'Silva'), (17, 'Walker'),
  (18, 'Mensah'), (19, 'Novak'), (20, 'Reyes'), (21, 'Larsen'), (22, 'Chen'), (23, 'Ali'), (24, 'Davis');"

# PostgreSQL: the rows the service writes, generated by SQL (psql
# variables n, pw, answer, aver, ahash).
load_postgres() { # accounts database-url
  psql "$2" -q -v ON_ERROR_STOP=1 -v n="$1" -v pw="$PW_HASH" -v answer="$ANSWER_HASH" -v aver="$AGREEMENT_VERSION" \
    -v ahash="$AGREEMENT_HASH" <<SQL
$NAMES
-- The roster: practitioners and (g % 10 = 0) groups, 20 providers a Tax ID;
-- entries beyond n have no account. R0..R999: fresh providers.
INSERT INTO roster_entries (tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, lines_of_business)
SELECT lpad((100000000 + g / 20)::text, 9, '0'), CASE WHEN g % 10 = 0 THEN 'G' ELSE 'P' END || g,
       CASE WHEN g % 10 = 0 THEN 'group' ELSE 'practitioner' END,
       CASE WHEN g % 10 = 0 THEN NULL ELSE f.name END, CASE WHEN g % 10 = 0 THEN NULL ELSE l.name END,
       CASE WHEN g % 10 = 0 THEN l.name || ' Medical Group ' || g END,
       CASE WHEN g % 10 = 0 THEN NULL WHEN g % 3 = 0 THEN 'group' ELSE 'individual' END,
       lpad((10000 + g % 89990)::text, 5, '0') || CASE WHEN g % 4 = 0 THEN ';' || lpad((10001 + g % 89990)::text, 5, '0') ELSE '' END,
       CASE g % 3 WHEN 0 THEN 'medicaid' WHEN 1 THEN 'medicaid;marketplace' ELSE 'marketplace' END
FROM generate_series(1, :n * 11 / 10) g JOIN first_names f ON f.i = g % 20 JOIN last_names l ON l.i = (g / 20) % 25;
INSERT INTO roster_entries (tax_id, provider_id, kind, first_name, last_name, payee, zips, lines_of_business)
SELECT '555000000', 'R' || g, 'practitioner', 'Reg', 'Bench' || g, 'individual', '45202', 'medicaid' FROM generate_series(0, 999) g;
-- Accounts 1..n (id = g): 1 % pending (g % 100 = 7, created in the last 10
-- days), the others activated over the last two years.
INSERT INTO accounts (username, email, password_hash, provider_kind, tax_id, provider_id, registrant_key, activated_at,
    agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, security_question,
    security_answer_hash, created_at, last_login_at)
SELECT u.name || g, u.name || g || '@clinic' || (g % 997) || '.example.org', :'pw', r.kind, r.tax_id, r.provider_id,
       CASE r.kind WHEN 'practitioner' THEN 'p:' || r.provider_id ELSE 'g:' || r.tax_id || ':' || r.provider_id END,
       CASE WHEN NOT pending THEN created + interval '7 minutes' END, :'aver', :'ahash', created,
       '198.51.100.' || (g % 250), 1 + g % 6, :'answer', created,
       CASE WHEN NOT pending THEN greatest(created + interval '8 minutes', now() - (g % 90) * interval '1 day') END
FROM (SELECT g, g % 100 = 7 AS pending,
             CASE WHEN g % 100 = 7 THEN now() - (g % 240) * interval '1 hour'
                  ELSE now() - interval '1 day' - (g % 730) * interval '1 day' - (g % 86400) * interval '1 second' END AS created
      FROM generate_series(1, :n) g) s
JOIN roster_entries r ON r.tax_id = lpad((100000000 + g / 20)::text, 9, '0')
     AND r.provider_id = CASE WHEN g % 10 = 0 THEN 'G' ELSE 'P' END || g
CROSS JOIN LATERAL (SELECT lower(f.name) || '.' || lower(l.name) AS name FROM first_names f, last_names l
                    WHERE f.i = g % 20 AND l.i = (g / 20) % 25) u
ORDER BY g;
-- Links: the pending accounts' activation links, live reset links (0.5 %)
-- and spent ones from two days ago (1 %, for the purge).
INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, used_at, counts_toward_cap)
SELECT sha256(('a' || id)::text::bytea), id, 'activation', created_at, created_at + interval '24 hours', NULL::timestamptz, false
FROM accounts WHERE activated_at IS NULL
UNION ALL
SELECT sha256(('r' || id)::text::bytea), id, 'password_reset', now() - (id % 60) * interval '1 minute',
       now() - (id % 60) * interval '1 minute' + interval '1 hour', NULL, true
FROM accounts WHERE id % 200 = 3
UNION ALL
SELECT sha256(('u' || id)::text::bytea), id, 'password_reset', now() - interval '2 days', now() - interval '47 hours',
       now() - interval '2 days' + interval '5 minutes', true
FROM accounts WHERE id % 100 = 11;
-- Sessions for a tenth of the accounts, 1 % of them past their limits.
INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at)
SELECT sha256(('s' || id)::text::bytea), id, c, CASE WHEN id % 100 = 1 THEN c + interval '1 hour'
       ELSE greatest(c, now() - (id % 1500) * interval '1 second') END
FROM (SELECT id, CASE WHEN id % 100 = 1 THEN now() - interval '13 hours' ELSE now() - (id % 36000) * interval '1 second' END AS c
      FROM accounts WHERE id % 10 = 1) s;
-- Sent emails of the last 10 days (a tenth of the accounts; those older
-- than 7 days are due for the purge).
INSERT INTO email_outbox (recipient, username, kind, token, status, attempts, due_at, created_at, finished_at, claims)
SELECT email, username, 'password_changed', NULL, 'sent', 1, t, t, t + interval '3 seconds', 1
FROM (SELECT email, username, now() - (id % 14400) * interval '1 minute' AS t FROM accounts WHERE id % 10 = 2) s;
-- Registration flows: finished in the last 48 hours (1 %) and in progress.
INSERT INTO registration_flows (id, version, state, tax_id, provider_id, kind, finished_at)
SELECT md5('f' || id), 3, 'finished', tax_id, provider_id, provider_kind, now() - (id % 48) * interval '1 hour'
FROM accounts WHERE id % 100 = 5;
INSERT INTO registration_flows (id, version, state, tax_id, provider_id, kind, zips, lines_of_business, expires_at)
SELECT md5('v' || id), 1, 'provider_verified', tax_id, provider_id, provider_kind, '45202', 'medicaid',
       now() + interval '20 minutes'
FROM accounts WHERE id % 1000 = 9;
-- Three audit events an account: created, activated, last login.
INSERT INTO audit_events (at, event, username, client_addr, outcome)
SELECT e.at, e.event, a.username, a.agreement_client_addr, 'success'
FROM accounts a CROSS JOIN LATERAL (VALUES (a.created_at, 'account_created'), (a.activated_at, 'account_activated'),
                                           (a.last_login_at, 'login_succeeded')) e (at, event)
WHERE e.at IS NOT NULL;
VACUUM ANALYZE;
SQL
}

# SQLite: the same rows, times as integer microseconds (the adapter's Ts).
load_sqlite() { # accounts file
  python3 - "$1" "$2" "$PW_HASH" "$ANSWER_HASH" "$AGREEMENT_VERSION" "$AGREEMENT_HASH" "$NAMES" <<'PY'
import sqlite3, sys, time
n, path, pw, answer, aver, ahash, names = int(sys.argv[1]), *sys.argv[2:]
db = sqlite3.connect(path)
S, M, H, D = 1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000
p = dict(n=n, now=int(time.time() * S), pw=pw, answer=answer, aver=aver, ahash=ahash, S=S, M=M, H=H, D=D)
db.executescript(names.replace("CREATE TEMP TABLE", "CREATE TEMP TABLE IF NOT EXISTS"))
db.execute("CREATE TEMP TABLE n AS WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < :m) SELECT g FROM c",
           dict(m=n * 11 // 10))
for sql in [
    """INSERT INTO roster_entries (tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, lines_of_business)
    SELECT printf('%09d', 100000000 + g / 20), CASE WHEN g % 10 = 0 THEN 'G' ELSE 'P' END || g,
           CASE WHEN g % 10 = 0 THEN 'group' ELSE 'practitioner' END,
           CASE WHEN g % 10 = 0 THEN NULL ELSE f.name END, CASE WHEN g % 10 = 0 THEN NULL ELSE l.name END,
           CASE WHEN g % 10 = 0 THEN l.name || ' Medical Group ' || g END,
           CASE WHEN g % 10 = 0 THEN NULL WHEN g % 3 = 0 THEN 'group' ELSE 'individual' END,
           printf('%05d', 10000 + g % 89990) || CASE WHEN g % 4 = 0 THEN ';' || printf('%05d', 10001 + g % 89990) ELSE '' END,
           CASE g % 3 WHEN 0 THEN 'medicaid' WHEN 1 THEN 'medicaid;marketplace' ELSE 'marketplace' END
    FROM n JOIN first_names f ON f.i = g % 20 JOIN last_names l ON l.i = (g / 20) % 25""",
    """INSERT INTO roster_entries (tax_id, provider_id, kind, first_name, last_name, payee, zips, lines_of_business)
    SELECT '555000000', 'R' || (g - 1), 'practitioner', 'Reg', 'Bench' || (g - 1), 'individual', '45202', 'medicaid'
    FROM n WHERE g <= 1000""",
    """INSERT INTO accounts (id, username, email, password_hash, provider_kind, tax_id, provider_id, registrant_key, activated_at,
        agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, security_question,
        security_answer_hash, created_at, last_login_at)
    SELECT g, u || g, u || g || '@clinic' || (g % 997) || '.example.org', :pw, kind, tax, pid,
           CASE kind WHEN 'practitioner' THEN 'p:' || pid ELSE 'g:' || tax || ':' || pid END,
           CASE WHEN NOT pending THEN created + 7 * :M END, :aver, :ahash, created, '198.51.100.' || (g % 250),
           1 + g % 6, :answer, created,
           CASE WHEN NOT pending THEN max(created + 8 * :M, :now - (g % 90) * :D) END
    FROM (SELECT g, g % 100 = 7 AS pending, lower(f.name) || '.' || lower(l.name) AS u,
                 CASE WHEN g % 10 = 0 THEN 'group' ELSE 'practitioner' END AS kind,
                 printf('%09d', 100000000 + g / 20) AS tax, CASE WHEN g % 10 = 0 THEN 'G' ELSE 'P' END || g AS pid,
                 CASE WHEN g % 100 = 7 THEN :now - (g % 240) * :H
                      ELSE :now - :D - (g % 730) * :D - (g % 86400) * :S END AS created
          FROM n JOIN first_names f ON f.i = g % 20 JOIN last_names l ON l.i = (g / 20) % 25 WHERE g <= :n)""",
    """INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, used_at, counts_toward_cap)
    SELECT randomblob(32), id, 'activation', created_at, created_at + 24 * :H, NULL, 0 FROM accounts WHERE activated_at IS NULL
    UNION ALL
    SELECT randomblob(32), id, 'password_reset', :now - (id % 60) * :M, :now - (id % 60) * :M + :H, NULL, 1
    FROM accounts WHERE id % 200 = 3
    UNION ALL
    SELECT randomblob(32), id, 'password_reset', :now - 2 * :D, :now - 47 * :H, :now - 2 * :D + 5 * :M, 1
    FROM accounts WHERE id % 100 = 11""",
    """INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at)
    SELECT randomblob(32), id, c, CASE WHEN id % 100 = 1 THEN c + :H ELSE max(c, :now - (id % 1500) * :S) END
    FROM (SELECT id, CASE WHEN id % 100 = 1 THEN :now - 13 * :H ELSE :now - (id % 36000) * :S END AS c
          FROM accounts WHERE id % 10 = 1)""",
    """INSERT INTO email_outbox (recipient, username, kind, token, status, attempts, due_at, created_at, finished_at, claims)
    SELECT email, username, 'password_changed', NULL, 'sent', 1, t, t, t + 3 * :S, 1
    FROM (SELECT email, username, :now - (id % 14400) * :M AS t FROM accounts WHERE id % 10 = 2)""",
    """INSERT INTO registration_flows (id, version, state, tax_id, provider_id, kind, zips, lines_of_business, expires_at, finished_at)
    SELECT lower(hex(randomblob(16))), 3, 'finished', tax_id, provider_id, provider_kind, NULL, NULL, NULL, :now - (id % 48) * :H
    FROM accounts WHERE id % 100 = 5
    UNION ALL
    SELECT lower(hex(randomblob(16))), 1, 'provider_verified', tax_id, provider_id, provider_kind, '45202', 'medicaid',
           :now + 20 * :M, NULL
    FROM accounts WHERE id % 1000 = 9""",
    """INSERT INTO audit_events (at, event, username, client_addr, outcome)
    SELECT created_at, 'account_created', username, agreement_client_addr, 'success' FROM accounts
    UNION ALL
    SELECT activated_at, 'account_activated', username, agreement_client_addr, 'success' FROM accounts WHERE activated_at IS NOT NULL
    UNION ALL
    SELECT last_login_at, 'login_succeeded', username, agreement_client_addr, 'success' FROM accounts WHERE last_login_at IS NOT NULL""",
]:
    db.execute(sql, {k: v for k, v in p.items() if ":" + k in sql})
db.commit()
db.execute("ANALYZE")
# The load's write-ahead log goes into the file now, not during the windows.
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
PY
}

# The purge's statements as `serve` runs them (SPEC §3; the adapters'
# purge_stale_pending and purge_expired, the defaults' cut-offs: pending 7
# days past the link's expiry, flows 24 h, tokens issued over an hour ago,
# sessions idle 30 min or 12 h old, sent emails 7 days), then the audit
# event of every purged account; one run, committed. Prints seconds.
purge_postgres() { # database-url
  local started; started=$(date +%s.%N)
  psql "$1" -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
BEGIN;
SELECT a.id FROM accounts a WHERE a.activated_at IS NULL AND
  (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < now() - interval '7 days'
  ORDER BY a.id FOR UPDATE;
WITH purged AS (DELETE FROM accounts a WHERE a.activated_at IS NULL AND
  (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < now() - interval '7 days'
  RETURNING a.username)
INSERT INTO audit_events (at, event, username, client_addr, outcome)
SELECT now(), 'pending_account_purged', username, NULL, 'success' FROM purged;
COMMIT;
BEGIN;
DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < now() - interval '24 hours';
DELETE FROM link_tokens t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= now())
  AND t.issued_at <= now() - interval '1 hour'
  AND NOT (t.purpose = 'activation' AND EXISTS
      (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL));
DELETE FROM sessions WHERE last_seen_at <= now() - interval '30 minutes' OR created_at <= now() - interval '12 hours';
DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < now() - interval '7 days';
COMMIT;
SQL
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}
purge_sqlite() { # file
  python3 - "$1" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
now = int(time.time() * 1_000_000)
H, D = 3_600_000_000, 86_400_000_000
started = time.monotonic()
db.execute("BEGIN IMMEDIATE")
purged = db.execute("""DELETE FROM accounts AS a WHERE a.activated_at IS NULL AND
  (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < ?1
  RETURNING username""", (now - 7 * D,)).fetchall()
db.executemany("INSERT INTO audit_events (at, event, username, client_addr, outcome) VALUES (?, 'pending_account_purged', ?, NULL, 'success')",
               [(now, u) for (u,) in purged])
db.execute("COMMIT")
db.execute("BEGIN IMMEDIATE")
db.execute("DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < ?1", (now - 24 * H,))
db.execute("""DELETE FROM link_tokens AS t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= ?1)
  AND t.issued_at <= ?2 AND NOT (t.purpose = 'activation' AND EXISTS
      (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL))""", (now, now - H))
db.execute("DELETE FROM sessions WHERE last_seen_at <= ?1", (now - H // 2,))
db.execute("DELETE FROM sessions WHERE created_at <= ?1", (now - 12 * H,))
db.execute("DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < ?1", (now - 7 * D,))
db.execute("COMMIT")
print(f"{time.monotonic() - started:.2f}")
PY
}

# "p99-ms answered/requests" of an oha run at a fixed rate.
oha_p99() { # rate seconds oha-arguments...
  local rate=$1 seconds=$2; shift 2
  oha --no-tui --output-format json -z "$seconds"s -q "$rate" --latency-correction -c 8 "$@" |
    python3 -c 'import json, sys
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
print("%.1f %d/%d" % (r["latencyPercentiles"]["p99"] * 1000, ok, sum(codes.values())))'
}

# Paced requests (open loop: each has its start time, RATE a second, and its
# latency counts from then), each a different account or provider; prints
# "p99-ms answered/requests". `reset`: POST /api/v1/password-resets for the
# usernames of $WORK/resets; `account`: the account step for providers
# R1..R$3 after their details and agreement (not timed).
paced() { # kind rate count
  python3 - "$BASE" "$PASSWORD" "$1" "$2" "$3" "$WORK/resets" <<'PY'
import http.client, json, sys, threading, time, urllib.parse
base, password, kind, rate, count, resets = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
host = urllib.parse.urlparse(base)
local = threading.local()
def post(path, body):
    # A connection the service closed meanwhile (idle) is opened again.
    for attempt in range(2):
        if attempt or not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        try:
            local.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            answer = local.conn.getresponse()
            return answer.status, answer.read()
        except (ConnectionError, http.client.HTTPException):
            local.conn.close()
    return 0, b""
if kind == "reset":
    names = open(resets).read().split()[:count]
    todo = [("/api/v1/password-resets", {"username": u}) for u in names]
else:
    todo = []
    for n in range(1, count + 1):
        status, data = post("/api/v1/registrations", {"provider_type": "practitioner", "provider_id": f"R{n}",
            "tax_id": "555000000", "zip": "45202", "first_name": "Reg", "last_name": f"Bench{n}"})
        reg = json.loads(data)["registration_id"]
        post(f"/api/v1/registrations/{reg}/agreement", {"accepted": True, "agreement_version": "1"})
        todo.append((f"/api/v1/registrations/{reg}/account", {"username": f"reg.scale{n}", "password": password,
            "email": f"reg{n}@clinic.example.org", "security_question_id": 1, "security_answer": "Fluffy"}))
latencies, ok, lock = [], [0], threading.Lock()
started = time.monotonic() + 0.2
def worker(k):
    for i in range(k, len(todo), 8):
        due = started + i / rate
        time.sleep(max(0.0, due - time.monotonic()))
        status, _ = post(*todo[i])
        took = time.monotonic() - due
        with lock:
            latencies.append(took)
            ok[0] += 200 <= status < 300
threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
latencies.sort()
print("%.1f %d/%d" % (1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], ok[0], len(todo)))
PY
}

# The figures of one database with `serve` on it, as one table row.
measure() { # label database-url list-query-command...
  local label=$1 url=$2; shift 2
  "$@" "SELECT username FROM accounts WHERE activated_at IS NOT NULL AND id % 97 = 3 ORDER BY id LIMIT 64" >"$WORK/logins"
  "$@" "SELECT username FROM accounts WHERE activated_at IS NOT NULL AND id % 3 = 2 AND id % 97 <> 3 ORDER BY id % 101, id LIMIT 300" >"$WORK/resets"
  local one; one=$("$@" "SELECT username FROM accounts WHERE activated_at IS NOT NULL AND id % 97 = 5 ORDER BY id LIMIT 1")
  start_server "$url"
  local session; session=$(curl -s -H "content-type: application/json" -X POST "$BASE/api/v1/sessions" -d "{\"username\":\"$one\",\"password\":\"$PASSWORD\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  [ -n "$session" ] || { echo "$one cannot log in" >&2; exit 1; }
  {
    echo "local names = {"; sed 's/.*/"&",/' "$WORK/logins"; echo "}"
    cat <<LUA
local n = math.random(1, #names)
request = function()
  n = n % #names + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"username":"' .. names[n] .. '","password":"$PASSWORD"}')
end
LUA
  } >"$WORK/login.lua"
  # Warm up: a few seconds of logins and of /me.
  wrk -t1 -c4 -d3s -s "$WORK/login.lua" "$BASE/api/v1/sessions" >/dev/null
  wrk -t1 -c4 -d2s -H "Authorization: Bearer $session" "$BASE/api/v1/me" >/dev/null
  local out total non2xx logins
  out=$(wrk -t2 -c16 -d10s --timeout 30s -s "$WORK/login.lua" "$BASE/api/v1/sessions")
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  logins=$(awk -v t="$total" -v n="${non2xx:-0}" 'BEGIN { printf "%.1f", (t - n) / 10 }')
  sleep 2
  local login me step1 reset account
  login=$(oha_p99 10 15 -m POST -H 'content-type: application/json' -d "{\"username\":\"$one\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/sessions")
  me=$(oha_p99 200 15 -H "Authorization: Bearer $session" "$BASE/api/v1/me")
  step1=$(oha_p99 20 15 -m POST -H 'content-type: application/json' \
    -d '{"provider_type":"practitioner","provider_id":"R0","tax_id":"555000000","zip":"45202","first_name":"Reg","last_name":"Bench0"}' \
    "$BASE/api/v1/registrations")
  reset=$(paced reset 20 300)
  account=$(paced account 4 120)
  stop_server
  grep -h '"level":"\(ERROR\|WARN\)"' "$WORK/server.log" | head -3 >&2 || true
  echo "$label|$logins|$login|$me|$step1|$account|$reset|$PURGE" >>"$WORK/rows"
}

pg_list() { psql "$PG" -qAt -c "$1"; }
sqlite_list() { sqlite3 "$SQLITE" "$1"; }

: >"$WORK/rows"
for n in $SIZES; do
  for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then
      db=portal_bench_scale_$n
      psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -qc "CREATE DATABASE $db" >/dev/null
      PG=${URL%/*}/$db
      DATABASE_URL=$PG "$BIN" migrate >/dev/null
      started=$(date +%s)
      load_postgres "$n" "$PG"
      echo "PostgreSQL, $n accounts: loaded in $(($(date +%s) - started)) s ($(psql "$PG" -qAt -c "SELECT pg_size_pretty(pg_database_size(current_database()))"))" >&2
      PURGE=$(purge_postgres "$PG")
      # The load's writes reach the disk before the windows, not during.
      psql "$PG" -qc CHECKPOINT
      measure "PostgreSQL $n" "$PG" pg_list
    else
      SQLITE=$WORK/scale-$n.db
      DATABASE_URL=sqlite:$SQLITE "$BIN" migrate >/dev/null
      started=$(date +%s)
      load_sqlite "$n" "$SQLITE"
      echo "SQLite, $n accounts: loaded in $(($(date +%s) - started)) s ($(du -h "$SQLITE" | cut -f1))" >&2
      PURGE=$(purge_sqlite "$SQLITE")
      measure "SQLite $n" "sqlite:$SQLITE" sqlite_list
    fi
  done
done

# The plans of the hot statements at the largest size: the SQL of the
# adapters (crates/portal-adapters-sql/src/, written once for both), parameters as literals;
# those that write run under EXPLAIN ANALYZE in a transaction rolled back.
ACCOUNT_COLUMNS="id, username, email, password_hash, provider_kind, tax_id, provider_id, activated_at, disabled,
  failed_logins, locked_until, agreement_version, agreement_hash, agreement_accepted_at,
  agreement_client_addr, security_question, security_answer_hash, created_at, last_login_at"
PROVIDER_COLUMNS="r.kind, r.first_name, r.last_name, r.group_name, r.payee, r.zips, r.lines_of_business, r.inactive_since"
explain_postgres() {
  local id=$((LARGEST / 2 + 1)) # an account with a session (id % 10 = 1)
  psql "$PG" -qAt -v ON_ERROR_STOP=1 -v i="$id" -v pw="$PW_HASH" <<SQL | sed 's/^/    /'
SELECT username AS u FROM accounts WHERE id = :i \gset
\set e 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)'
BEGIN;
\echo '-- login: account_for_login (the read that takes the first place)'
:e WITH a AS (SELECT $ACCOUNT_COLUMNS FROM accounts WHERE lower(username) = lower(:'u')),
  placed AS (UPDATE accounts SET failed_logins = 0, locked_until = NULL
    WHERE true AND id = (SELECT id FROM a) AND failed_logins = 0 AND locked_until IS NULL RETURNING id)
  SELECT a.*, $PROVIDER_COLUMNS, EXISTS (SELECT 1 FROM placed) AS placed_with_read
  FROM a LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id;
\echo '-- login: record_login_success'
:e WITH account AS (
    UPDATE accounts SET failed_logins = 0, locked_until = NULL, last_login_at = now(),
    password_hash = coalesce(NULL, password_hash) WHERE id = :i AND password_hash = :'pw' AND locked_until IS NULL RETURNING id),
  session AS (
    INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at)
    SELECT sha256('bench'::bytea), id, now(), now() FROM account RETURNING account_id)
  INSERT INTO audit_events (at, event, username, client_addr, outcome)
  SELECT now(), 'login_succeeded', :'u', '127.0.0.1', 'success' FROM session;
\echo '-- /me: find_session'
:e SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, $PROVIDER_COLUMNS
  FROM sessions s CROSS JOIN LATERAL (SELECT $ACCOUNT_COLUMNS FROM accounts WHERE id = s.account_id) a
  LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id
  WHERE s.token_hash = sha256(('s' || :i)::text::bytea);
\echo '-- /me: touch_session'
:e UPDATE sessions SET last_seen_at = greatest(last_seen_at, now()) WHERE token_hash = sha256(('s' || :i)::text::bytea);
\echo '-- reset request: account_by_username'
:e SELECT $ACCOUNT_COLUMNS FROM accounts WHERE lower(username) = lower(:'u');
\echo '-- reset request: issue_token (lock, cap count, supersede, insert)'
:e SELECT $ACCOUNT_COLUMNS FROM accounts WHERE id = :i FOR UPDATE;
:e SELECT count(*) FROM link_tokens WHERE account_id = :i AND counts_toward_cap AND issued_at > now() - interval '1 hour';
:e UPDATE link_tokens SET superseded_at = now()
  WHERE account_id = :i AND purpose = 'password_reset' AND superseded_at IS NULL AND used_at IS NULL;
:e INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap)
  VALUES (sha256('bench'::bytea), :i, 'password_reset', now(), now() + interval '1 hour', true);
\echo '-- registration step 1: the roster entry, account_by_registrant'
:e SELECT tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, lines_of_business, inactive_since
  FROM roster_entries WHERE tax_id = '555000000' AND provider_id = 'R1';
:e SELECT $ACCOUNT_COLUMNS FROM accounts WHERE registrant_key = 'p:R1';
\echo '-- registration account step: create_account (replace pending, username check)'
:e DELETE FROM accounts WHERE registrant_key = 'p:R1' AND activated_at IS NULL AND NOT disabled RETURNING username;
:e SELECT 1 FROM accounts WHERE lower(username) = lower(:'u');
\echo '-- purge: purge_stale_pending'
:e SELECT a.id FROM accounts a WHERE a.activated_at IS NULL AND
  (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < now() - interval '7 days'
  ORDER BY a.id FOR UPDATE;
\echo '-- purge: purge_expired'
:e DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < now() - interval '24 hours';
:e DELETE FROM link_tokens t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= now())
  AND t.issued_at <= now() - interval '1 hour'
  AND NOT (t.purpose = 'activation' AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL));
:e DELETE FROM sessions WHERE last_seen_at <= now() - interval '30 minutes' OR created_at <= now() - interval '12 hours';
:e DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < now() - interval '7 days';
\echo '-- audit list --since 1h, and --username'
:e SELECT id, at, event, username, client_addr, outcome FROM audit_events
  WHERE true AND at >= now() - interval '1 hour' ORDER BY at, id LIMIT 500;
:e SELECT id, at, event, username, client_addr, outcome FROM audit_events
  WHERE true AND lower(username) = lower(:'u') AND at >= now() - interval '1 hour' ORDER BY at, id LIMIT 500;
ROLLBACK;
SQL
}
explain_sqlite() {
  python3 - "$SQLITE" "$((LARGEST / 2 + 1))" "$ACCOUNT_COLUMNS" "$PROVIDER_COLUMNS" <<'PY' | sed 's/^/    /'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
i, cols, prov = int(sys.argv[2]), sys.argv[3], sys.argv[4]
(u,) = db.execute("SELECT username FROM accounts WHERE id = ?", (i,)).fetchone()
now = int(time.time() * 1_000_000)
H, D = 3_600_000_000, 86_400_000_000
h = bytes(32)
for label, sql, args in [
    ("login: account_for_login", f"SELECT a.*, {prov} FROM (SELECT {cols} FROM accounts WHERE lower(username) = ?1) a "
     "LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id", (u.lower(),)),
    ("login: reserve_login_attempt", "UPDATE accounts SET failed_logins = ?2, locked_until = ?3 "
     "WHERE id = ?1 AND failed_logins = ?4 AND locked_until IS ?5", (i, 0, None, 0, None)),
    ("login: record_login_success", "UPDATE accounts SET last_login_at = ?2, password_hash = coalesce(?3, password_hash) WHERE id = ?1", (i, now, None)),
    ("login: the session", "INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4)", (h, i, now, now)),
    ("/me: find_session", f"SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, {prov} FROM sessions s "
     f"JOIN (SELECT {cols} FROM accounts) a ON a.id = s.account_id "
     "LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id WHERE s.token_hash = ?1", (h,)),
    ("/me: touch_session", "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE token_hash = ?1", (h, now)),
    ("reset request: account_by_username", f"SELECT {cols} FROM accounts WHERE lower(username) = ?1", (u.lower(),)),
    ("reset request: count recent tokens", "SELECT count(*) FROM link_tokens WHERE account_id = ?1 AND counts_toward_cap AND issued_at > ?2", (i, now - H)),
    ("reset request: supersede tokens", "UPDATE link_tokens SET superseded_at = ?3 "
     "WHERE account_id = ?1 AND purpose = ?2 AND superseded_at IS NULL AND used_at IS NULL", (i, "password_reset", now)),
    ("registration step 1: the roster entry", "SELECT * FROM roster_entries WHERE tax_id = ?1 AND provider_id = ?2", ("555000000", "R1")),
    ("registration: account_by_registrant", f"SELECT {cols} FROM accounts WHERE registrant_key = ?1", ("p:R1",)),
    ("registration: replace pending", "DELETE FROM accounts WHERE registrant_key = ?1 AND activated_at IS NULL AND NOT disabled RETURNING username", ("p:R1",)),
    ("registration: username check", "SELECT 1 FROM accounts WHERE lower(username) = ?1", (u.lower(),)),
    ("purge: purge_stale_pending", "DELETE FROM accounts AS a WHERE a.activated_at IS NULL AND "
     "(SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < ?1 RETURNING username", (now - 7 * D,)),
    ("purge: flows", "DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < ?1", (now - 24 * H,)),
    ("purge: tokens", "DELETE FROM link_tokens AS t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= ?1) "
     "AND t.issued_at <= ?2 AND NOT (t.purpose = 'activation' AND EXISTS "
     "(SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL))", (now, now - H)),
    ("purge: idle sessions", "DELETE FROM sessions WHERE last_seen_at <= ?1", (now - H // 2,)),
    ("purge: aged sessions", "DELETE FROM sessions WHERE created_at <= ?1", (now - 12 * H,)),
    ("purge: sent emails", "DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < ?1", (now - 7 * D,)),
    ("audit list --since 1h", "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE 1 AND at >= ? ORDER BY at, id LIMIT 500", (now - H,)),
    ("audit list --username", "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE 1 AND lower(username) = lower(?) "
     "AND at >= ? ORDER BY at, id LIMIT 500", (u, now - H)),
]:
    for row in db.execute("EXPLAIN QUERY PLAN " + sql, args):
        print(f"{label}: {row[3]}")
PY
}

echo "| database, accounts (release) | logins/s (16 conn.) | login p99 at 10/s | /me p99 at 200/s | registration step 1 p99 at 20/s | account step p99 at 4/s | reset request p99 at 20/s | purge |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
while IFS='|' read -r label logins login me step1 account reset purge; do
  ms() { local p a; read -r p a <<<"$1"; echo "$p ms ($a)"; }
  echo "| $label | $logins | $(ms "$login") | $(ms "$me") | $(ms "$step1") | $(ms "$account") | $(ms "$reset") | $purge s |"
done <"$WORK/rows"
echo
for backend in $BACKENDS; do
  if [ "$backend" = postgres ]; then
    PG=${URL%/*}/portal_bench_scale_$LARGEST
    echo "PostgreSQL, $LARGEST accounts:"
    explain_postgres
  else
    SQLITE=$WORK/scale-$LARGEST.db
    echo "SQLite, $LARGEST accounts:"
    explain_sqlite
  fi
done
