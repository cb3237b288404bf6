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
