#!/usr/bin/env bash
# The sandbox tool itself (tools/sandbox): exit statuses, the view from inside, and that whatever a
# command leaves behind (processes, nested cgroups) is cleaned up. Usage: sandbox_test.sh CGM_SANDBOX
set -uo pipefail
sandbox=$1
fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then echo "ok   $1"; else echo "FAIL $1: expected [$2], got [$3]"; fail=1; fi
}

if [[ $(id -u) != 0 ]]; then echo "skipped: needs root"; exit 77; fi

"$sandbox" -- true; check "exit 0" 0 $?
"$sandbox" -- sh -c 'exit 7'; check "exit status is the command's" 7 $?
"$sandbox" -- sh -c 'kill -TERM $$'; check "killed by a signal" 143 $?
"$sandbox" -- /nonexistent/command 2>/dev/null; check "command not found" 127 $?

# Inside, every hierarchy is rooted at the sandbox and /proc belongs to the new pid namespace.
out=$("$sandbox" -- sh -c 'grep -vc ":/$" /proc/self/cgroup; echo $$; echo $CGM_SANDBOX')
check "every cgroup reads /" 0 "$(sed -n 1p <<<"$out")"
check "the command is pid 2 (its init is 1)" 2 "$(sed -n 2p <<<"$out")"
[[ "$(sed -n 3p <<<"$out")" == cgmtest-* ]]; check "CGM_SANDBOX names the sandbox" 0 $?

# Processes and nested cgroups left behind are removed with the sandbox.
"$sandbox" -- sh -c '
  for h in /sys/fs/cgroup/*/; do
    mkdir -p "$h/left/behind" || exit 1
  done
  sleep 1000 & echo $! > /sys/fs/cgroup/memory/left/behind/tasks
  setsid sleep 1000 </dev/null >/dev/null 2>&1 &
  exit 0'
check "leftovers are cleaned up" 0 $?

# A tree deeper than PATH_MAX (200 levels of 30-byte names) with a task at the bottom.
"$sandbox" -- bash -c '
  cd /sys/fs/cgroup/freezer || exit 1
  for i in $(seq 200); do mkdir aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa && cd aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa || exit 1; done
  sleep 1000 & echo $! > tasks
  exit 0'
check "a tree deeper than PATH_MAX is cleaned up" 0 $?

# Other software's cgroups beside the sandbox may come, go and change while it runs (a busy host):
# that does not fail the run. A change to the cgroup the sandbox was made in still does. The
# sandbox is made in a memory cgroup of this test's own, "outer" (a child of this process's
# cgroup), which holds the other cgroups.
mem=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
if [[ -n "$mem" && -d /sys/fs/cgroup/memory$mem ]]; then
  outer=/sys/fs/cgroup/memory${mem%/}/sandbox-test-$$
  mkdir "$outer" "$outer/there-before"
  in_outer() {  # run the sandbox (sleeping a second) from outer, in the background
    (echo "$BASHPID" >"$outer/cgroup.procs" && exec "$sandbox" -- sleep 1) &
    for _ in $(seq 100); do compgen -G "$outer/cgmtest-*" >/dev/null && break; sleep 0.02; done
  }
  in_outer
  mkdir "$outer/came" && chmod 700 "$outer/there-before" && rmdir "$outer/came"
  wait $!; check "other cgroups coming, going and changing beside the sandbox do not fail it" 0 $?
  in_outer
  chmod 700 "$outer"
  wait $!; check "a change to the cgroup the sandbox was made in fails the run" 125 $?
  chmod 755 "$outer"
  rmdir "$outer/there-before" "$outer"
fi

# Not root: refused before anything is created.
msg=$(setpriv --reuid=1000 --regid=1000 --clear-groups "$sandbox" -- true 2>&1)
check "non-root is refused with status 125" 125 $?
[[ "$msg" == *"must run as root"* ]]; check "refusal says why" 0 $?

exit $fail
