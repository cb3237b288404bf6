#!/usr/bin/env bash
# The roster import at scale (`cargo xtask bench roster`, run from the
# workspace root): wall time and peak RSS of `portal-http roster import` for
# 100,000 and 1,000,000 generated rows, then `--replace` with the million
# where 1 % of the rows changed, on PostgreSQL (DATABASE_URL's server, a
# database of its own) and on SQLite (a file), release build, defaults.
set -euo pipefail
# shellcheck source=xtask/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

cargo build --release -q -p portal-http --bin portal-http
BIN=$PWD/target/release/portal-http
URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
ADMIN=${URL%/*}/postgres
DB=portal_bench_roster
WORK=$(mktemp -d)
cleanup() { psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

# ROWS rows, 20 providers per Tax ID; every 100th row's last name changed
# when CHANGED is 1.
generate() {
  python3 - "$1" "$2" >"$3" <<'PY'
import sys
rows, changed = int(sys.argv[1]), sys.argv[2] == "1"
out = sys.stdout
out.write("provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n")
for i in range(rows):
    last = f"Changed{i}" if changed and i % 100 == 0 else f"Last{i}"
    out.write(f"P{i},{100000000 + i // 20:09},practitioner,First{i},{last},,45202;45011,individual,medicaid;marketplace\n")
PY
}


generate 100000 0 "$WORK/roster-100k.csv"
generate 1000000 0 "$WORK/roster-1m.csv"
generate 1000000 1 "$WORK/roster-1m-changed.csv"
echo "files: 100k $(du -h "$WORK/roster-100k.csv" | cut -f1), 1M $(du -h "$WORK/roster-1m.csv" | cut -f1)" >&2

run() { # database-url label
  export DATABASE_URL=$1
  "$BIN" migrate >/dev/null
  read -r s100 m100 _ _ <<<"$(measure "$BIN" roster import "$WORK/roster-100k.csv")"
  read -r s1m m1m _ _ <<<"$(measure "$BIN" roster import "$WORK/roster-1m.csv")"
  read -r sre mre _ summary <<<"$(measure "$BIN" roster import --replace "$WORK/roster-1m-changed.csv")"
  echo "| $2 | $s100 s, $m100 MiB | $s1m s, $m1m MiB | $sre s, $mre MiB ($summary) |"
}

echo "| roster import (release, defaults) | 100,000 rows (new database) | 1,000,000 rows (900,000 new) | --replace of the 1,000,000 with 1 % changed |"
echo "| --- | --- | --- | --- |"
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB" >/dev/null
run "${URL%/*}/$DB" "PostgreSQL"
run "sqlite:$WORK/roster.db" "SQLite"
echo "| goal | < 10 s | < 60 s (PostgreSQL), < 120 s (SQLite); peak RSS < 200 MiB | < 60 s |"
