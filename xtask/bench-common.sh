# Shared by the bench scripts of xtask/ (sourced, not run).

# Runs the command; prints "seconds peak-RSS-MiB lines-of-output" and then
# the command's output on one line (its summary, for one-line outputs).
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
took = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if done.returncode != 0:
    sys.stderr.write(done.stdout + done.stderr)
    sys.exit(done.returncode)
lines = done.stdout.splitlines()
print(f"{took:.2f} {peak:.0f} {len(lines)} {lines[0] if len(lines) == 1 else ''}".rstrip())
PY
}

# A JSON POST (or other curl arguments) that fails on an error status.
json() { curl -sf -H 'content-type: application/json' "$@"; }

# Registers and activates $1 accounts, login.bench0 … login.bench$(($1 - 1)),
# with password $PASSWORD, through the service at $BASE whose log (with the
# file mailer's activation links) is $2; their providers B0 … are imported
# into the roster first with $BIN (and $DATABASE_URL). Files go to $WORK.
register_login_accounts() {
  local accounts=$1 log=$2 n reg links_before token
  {
    echo "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business"
    for n in $(seq 0 $((accounts - 1))); do echo "B$n,55-6000000,practitioner,Login,Bench$n,,45202,individual,medicaid"; done
  } >"$WORK/logins.csv"
  "$BIN" roster import "$WORK/logins.csv" >/dev/null
  links_before=$(grep -hoE 'activate\?token=[A-Za-z0-9_-]{43}' "$log" 2>/dev/null | sort -u | wc -l || true)
  for n in $(seq 0 $((accounts - 1))); do
    reg=$(json -X POST "$BASE/api/v1/registrations" -d "{\"provider_type\":\"practitioner\",\"provider_id\":\"B$n\",\"tax_id\":\"556000000\",\"zip\":\"45202\",\"first_name\":\"Login\",\"last_name\":\"Bench$n\"}" |
      sed 's/.*"registration_id":"\([0-9a-f]*\)".*/\1/')
    json -X POST "$BASE/api/v1/registrations/$reg/agreement" -d '{"accepted":true,"agreement_version":"1"}' >/dev/null
    json -X POST "$BASE/api/v1/registrations/$reg/account" -d "{\"username\":\"login.bench$n\",\"password\":\"$PASSWORD\",\"email\":\"login$n@clinic.example.org\",\"security_question_id\":1,\"security_answer\":\"Fluffy\"}" >/dev/null
  done
  for _ in $(seq 50); do
    [ "$(grep -hoE 'activate\?token=[A-Za-z0-9_-]{43}' "$log" | sort -u | wc -l)" -ge "$((links_before + accounts))" ] && break
    sleep 0.2
  done
  for token in $(grep -hoE 'activate\?token=[A-Za-z0-9_-]{43}' "$log" | sort -u | cut -d= -f2); do
    json -o /dev/null -X POST "$BASE/api/v1/activations" -d "{\"token\":\"$token\"}" || true
  done
  for n in 0 $((accounts - 1)); do
    json -o /dev/null -X POST "$BASE/api/v1/sessions" -d "{\"username\":\"login.bench$n\",\"password\":\"$PASSWORD\"}" ||
      { echo "login.bench$n cannot log in" >&2; return 1; }
  done
}

# The wrk script that logs in to login.bench0 … login.bench$(($1 - 1)) in
# turn (from a random start), written to $WORK/login.lua.
login_script() {
  cat >"$WORK/login.lua" <<LUA
local n = math.random(0, $1 - 1)
request = function()
  n = (n + 1) % $1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"username":"login.bench' .. n .. '","password":"$PASSWORD"}')
end
LUA
}
