#!/usr/bin/env bash
# Runs after every sandboxed test (ctest fixture cleanup): no sandbox cgroup may be left anywhere
# below this process's own cgroups.
set -uo pipefail
left=""
while IFS=: read -r id ctrls path; do
  if [[ -z "$ctrls" ]]; then
    dirs=$(awk '$9 == "cgroup2" {print $5}' /proc/self/mountinfo)
  else
    dirs=""
    for c in ${ctrls//,/ }; do
      dirs+=" $(awk -v c="$c" '$9 == "cgroup" { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) print $5 }' /proc/self/mountinfo)"
    done
  fi
  for d in $dirs; do
    [[ -d "$d$path" ]] || continue
    found=$(find "$d$path" -maxdepth 8 -type d -name 'cgmtest-*' 2>/dev/null)
    [[ -n "$found" ]] && left+="$found"$'\n'
  done
done </proc/self/cgroup
if [[ -n "$left" ]]; then
  echo "sandbox cgroups were left behind:"
  sort -u <<<"$left"
  exit 1
fi
echo "no sandbox cgroups left"
