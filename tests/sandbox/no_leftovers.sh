#!/usr/bin/env bash
# Runs after every sandboxed test (ctest fixture cleanup): no sandbox cgroup may be left anywhere
# below this process's own cgroups, in any mounted hierarchy. A sandbox is named cgmtest-<pid of
# its runner>; one whose runner is still running belongs to a run in progress (another test
# suite on the same machine, say) and is not a leftover.
set -uo pipefail

# "fstype mount-point super-options" for every cgroup mount. mountinfo has a variable number of
# optional fields before the " - " separator, so the fields are found from the separator.
mounts=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1), $5, $(i + 3); break } }' /proc/self/mountinfo |
         awk '$1 == "cgroup" || $1 == "cgroup2"')
[[ -n "$mounts" ]] || { echo "no cgroup mounts found"; exit 1; }

left=""
checked=0
while IFS=: read -r _ ctrls path; do
  dirs=""
  while read -r fstype mp opts; do
    if [[ -z "$ctrls" ]]; then
      [[ $fstype == cgroup2 ]] && dirs+=" $mp"
    elif [[ $fstype == cgroup ]]; then
      first=${ctrls%%,*}
      [[ ",$opts," == *",$first,"* ]] && dirs+=" $mp"
    fi
  done <<<"$mounts"
  for d in $dirs; do
    [[ -d "$d$path" ]] || continue
    checked=$((checked + 1))
    while read -r f; do
      [[ -n "$f" ]] || continue
      pid=${f##*/cgmtest-}
      if [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]]; then
        continue  # its runner is alive: in use (a leftover whose pid was reused is found next time)
      fi
      left+="$f"$'\n'
    done < <(find "$d$path" -maxdepth 8 -type d -name 'cgmtest-*' 2>/dev/null)
  done
done </proc/self/cgroup
if ((checked == 0)); then
  echo "found no cgroup directory of this process to check"
  exit 1
fi
if [[ -n "$left" ]]; then
  echo "sandbox cgroups were left behind:"
  sort -u <<<"$left"
  exit 1
fi
echo "no sandbox cgroups left ($checked hierarchies checked)"
