#!/usr/bin/env bash
# CI on a busy machine: clones the current HEAD into a fresh temporary directory, starts two CPU
# hogs beside it (as on a shared runner), and runs `CI=true bash .ci/run` there N times in a row.
# Prints each run's duration and exit status, and any process a run left behind in the clone;
# stops the hogs whatever happens; exits non-zero if any run failed or left something running.
#
#   scripts/ci-under-load.sh [N]      N runs, default 3. Logs stay in the printed directory.
set -euo pipefail

runs="${1:-3}"
case "$runs" in '' | *[!0-9]* | 0) echo "usage: $0 [N>0]" >&2; exit 2 ;; esac

repo="$(cd "$(dirname "$0")/.." && pwd)"
head="$(git -C "$repo" rev-parse HEAD)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ci-under-load.XXXXXX")"

hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  hogs=()
}
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT
trap 'stop_hogs; exit 143' TERM

echo "clone of $head in $work/repo"
git clone -q --no-hardlinks "$repo" "$work/repo"
git -C "$work/repo" checkout -q --detach "$head"

# Each hog in its own session and process group, killed as a group.
for _ in 1 2; do
  setsid node -e 'for (;;) {}' &
  hogs+=("$!")
done
echo "CPU hogs: ${hogs[*]}"

# Processes whose working directory is inside the clone: the suite's exporters, Prometheus...
leftovers() {
  local p cwd
  for p in /proc/[0-9]*; do
    cwd="$(readlink "$p/cwd" 2>/dev/null)" || continue
    case "$cwd" in "$work/repo" | "$work/repo/"*) echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-200)" ;; esac
  done
}

failed=0
summary=()
for i in $(seq 1 "$runs"); do
  log="$work/run-$i.log"
  echo "run $i/$runs: CI=true bash .ci/run (log: $log)"
  start=$(date +%s)
  set +e
  (cd "$work/repo" && CI=true bash .ci/run) >"$log" 2>&1
  status=$?
  set -e
  seconds=$(($(date +%s) - start))
  left="$(leftovers)"
  if [ -n "$left" ]; then
    echo "run $i left processes running:"
    echo "$left" | sed 's/^/  /'
    echo "$left" | while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done
    [ "$status" -eq 0 ] && status=99
  fi
  [ "$status" -eq 0 ] || failed=1
  line="run $i: $((seconds / 60)) min $((seconds % 60)) s, exit $status"
  [ "$status" -eq 0 ] || line="$line ($(grep -Eo '[0-9]+ passing|[0-9]+ failing|[0-9]+ pending' "$log" | tr '\n' ' '))"
  summary+=("$line")
  echo "$line"
done

stop_hogs
echo
echo "CI under load ($runs run(s), 2 CPU hogs, $(nproc) cores), commit $head:"
printf '  %s\n' "${summary[@]}"
echo "logs: $work"
exit "$failed"
