#!/usr/bin/env bash
# systemd-analyze verify accepts the units, configured to run the programs of this build.
# Usage: units_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1
build=$2
dir=$(mktemp -d /tmp/cgm-units-XXXXXX)
trap 'rm -rf "$dir"' EXIT
sed -e "s|@CMAKE_INSTALL_FULL_SBINDIR@|$build/src|g" -e "s|@CGM_DOCDIR@|$src|g" \
  "$src/systemd/cgmanager.service.in" >"$dir/cgmanager.service"
sed -e "s|@CMAKE_INSTALL_FULL_SBINDIR@|$build/src|g" -e "s|@CGM_DOCDIR@|$src|g" \
  "$src/systemd/cgproxy.service.in" >"$dir/cgproxy.service"
sed -e "s|@CMAKE_INSTALL_FULL_SBINDIR@|$build/src|g" -e "s|@CGM_DOCDIR@|$src|g" \
  "$src/systemd/cgmanager-historic-socket.service.in" >"$dir/cgmanager-historic-socket.service"
cp "$src/systemd/cgmanager.socket" "$src/systemd/cgmanager-unified.socket" "$dir/"
if grep -q '@' "$dir"/*; then echo "unsubstituted @VARIABLE@ left:"; grep -n '@' "$dir"/*; exit 1; fi
out=$(cd "$dir" && systemd-analyze verify --man=no cgmanager.service cgmanager.socket cgmanager-unified.socket cgproxy.service \
  cgmanager-historic-socket.service 2>&1)
status=$?
echo "$out"
# verify prints warnings about the units; any line naming our files is a failure.
if [[ $status -ne 0 ]] || grep -q "cgmanager\|cgproxy" <<<"$out"; then
  echo "FAIL systemd-analyze verify"
  exit 1
fi
echo "ok   systemd-analyze verify accepts the units"
