#!/usr/bin/env bash
# Runs after every sandboxed test (ctest fixture cleanup): no sandbox cgroup may be left anywhere
# below this process's own cgroups, in any mounted hierarchy.
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
    found=$(find "$d$path" -maxdepth 8 -type d -name 'cgmtest-*' 2>/dev/null)
    [[ -n "$found" ]] && left+="$found"$'\n'
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
