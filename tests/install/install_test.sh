#!/usr/bin/env bash
# `cmake --install` into a DESTDIR puts every piece at its place, the units name the installed
# programs, and a program builds and links against the installed client library with pkg-config.
# Usage: install_test.sh BUILD_DIR PREFIX [EXTRA_CLIENT_FLAGS]
set -uo pipefail
build=$1
prefix=$2
client_flags=${3:-}
dest=$(mktemp -d /tmp/cgm-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; return 1; fi; }

DESTDIR=$dest cmake --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL cmake --install"; exit 1; }
root=$dest$prefix
for f in sbin/cgmanager sbin/cgproxy bin/cgm libexec/cgmanager/cgm-release-agent; do
  check "$f is an executable" "[[ -x $root/$f && -f $root/$f ]]"
done
for f in lib/systemd/system/cgmanager.service lib/systemd/system/cgmanager.socket \
         lib/systemd/system/cgmanager-unified.socket lib/systemd/system/cgproxy.service \
         lib/systemd/system/cgmanager-historic-socket.service \
         share/dbus-1/interfaces/org.linuxcontainers.cgmanager.xml \
         include/cgmanager/client.h include/cgmanager/result.h include/cgmanager/names.h \
         share/doc/cgmanager/README.md share/doc/cgmanager/ARCHITECTURE.md; do
  check "$f is installed" "[[ -f $root/$f ]]"
done
pam=$(find "$root" -path '*/security/pam_cgm.so' | head -1)
check "pam_cgm.so is installed in <libdir>/security" "[[ -f '$pam' && '$pam' == $root/lib*/security/pam_cgm.so ]]"
check "and exports only the PAM entry points" \
  "[[ \$(nm -D --defined-only '$pam' | awk '\$2 == \"T\" {print \$3}' | sort | tr '\n' ' ') == 'pam_sm_close_session pam_sm_open_session ' ]]"
lib=$(find "$root" -name 'libcgmanager-client.so.0' | head -1)
pc=$(find "$root" -name 'cgmanager-client.pc' | head -1)
check "the client library is installed" "[[ -n '$lib' ]]"
check "its pkg-config file is installed" "[[ -n '$pc' ]]"
check "cgmanager.service runs the installed daemon" "grep -q '^ExecStart=$prefix/sbin/cgmanager' $root/lib/systemd/system/cgmanager.service"
check "cgproxy.service runs the installed proxy" "grep -q '^ExecStart=$prefix/sbin/cgproxy' $root/lib/systemd/system/cgproxy.service"
check "the interface XML is the source's" "cmp -s $root/share/dbus-1/interfaces/org.linuxcontainers.cgmanager.xml $(dirname "$0")/../../dbus/org.linuxcontainers.cgmanager.xml"
check "nothing from the build tree leaks into the tree" "! grep -rq '$build' $root/lib/systemd $pc"

# Build a client against the installed tree.
cat >"$dest/client.cpp" <<'CPP'
#include <cgmanager/client.h>
#include <cgmanager/names.h>
#include <cstdio>
int main() {
    auto c = cgm::client::Client::connect({"/nonexistent/sock", std::chrono::milliseconds(500)});
    std::printf("%s %d\n", c ? "connected" : c.error().message.c_str(), cgm::kApiVersion);
    return c ? 1 : 0;
}
CPP
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --define-variable=prefix="$root" --cflags --libs cgmanager-client)
check "pkg-config knows the library" "[[ -n '$flags' ]]"
check "a client compiles and links against it" \
  "g++ -std=c++20 $client_flags $dest/client.cpp $flags -Wl,-rpath,$(dirname "$lib") -o $dest/client"
out=$("$dest/client" 2>&1)
check "and runs (reporting that no daemon is there)" "[[ '$out' == *'cannot connect to cgmanager at /nonexistent/sock'*' 10' ]]" ||
  printf '     it printed: %s\n' "$out"
exit $fail
