#!/usr/bin/env bash
# Fetches the QEMU that serves the 9p file shares of cloned VMs (templates and clones) and
# unpacks it beside the repository, at guest/out/qemu (a link into the cache).
#
#   scripts/qemu-9p.sh          fetch when missing; print the unpacked root (nothing when it
#                               cannot be had: the daemon then clones with the host's QEMU)
#   scripts/qemu-9p.sh --path   print the root only if it is already unpacked; never fetch
#
# Why a second QEMU: Debian 12's QEMU 7.2 carries the fix for CVE-2023-2861 (9p must never
# open a special file on the host for the guest) in a form that also refuses to *create* one:
# after mknod it sets the mode through an O_PATH open, which the check refuses, so mknod,
# mkfifo and bind() of a unix socket fail in the guest with ENXIO. Upstream QEMU fixed that
# regression (the check skips O_PATH opens, which cannot read or write); QEMU 10 from Debian's
# bookworm-backports has the fix. It is unpacked, not installed: the host keeps its QEMU 7.2
# and the C virtiofsd that booted VMs use (QEMU 8 and later no longer ship it).
#
# Source: qemu-system-x86, qemu-system-common and qemu-system-data from bookworm-backports,
# resolved from a private apt configuration (its own sources list and state under the cache:
# the host's apt sources and preferences are not touched) and unpacked with dpkg -x. The
# version is resolved, never hard-coded. The libraries it links are bookworm's own.
#
# Cache: $PODVISOR_CACHE (default /var/cache/podvisor as root, else ~/.cache/podvisor),
# qemu/<version>/. A present unpack costs one stat; a failed fetch leaves qemu/FAILED (retried
# after an hour) so an `npm start` offline stays quick.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LINK=$ROOT/guest/out/qemu
SUITE=bookworm-backports
PKGS=(qemu-system-x86 qemu-system-common qemu-system-data)
mode=${1:-}
say() { printf 'qemu-9p: %s\n' "$*" >&2; }

if [ -n "${PODVISOR_CACHE:-}" ]; then cache=$PODVISOR_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/podvisor
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/podvisor
fi
base=$cache/qemu

# The link names an unpacked root: done (one stat).
if [ -x "$LINK/usr/bin/qemu-system-x86_64" ]; then readlink -f "$LINK"; exit 0; fi
[ "$mode" = --path ] && exit 0
mkdir -p "$base" "$ROOT/guest/out"
exec 9> "$base/.lock"
flock 9

link_to() { ln -sfn "$1" "$LINK.tmp" && mv -T "$LINK.tmp" "$LINK"; readlink -f "$LINK"; }
# Another checkout may have unpacked one already: the newest complete one serves.
newest=$(ls -d "$base"/*/usr/bin/qemu-system-x86_64 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$newest" ]; then link_to "${newest%/usr/bin/qemu-system-x86_64}"; exit 0; fi
if [ -f "$base/FAILED" ] && [ -n "$(find "$base/FAILED" -mmin -60)" ]; then
  say "an earlier fetch failed less than an hour ago ($base/FAILED): cloned VMs use the host's QEMU (no FIFOs or unix sockets on their 9p shares)"
  exit 0
fi

apt_dir=$base/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc/preferences.d"
cat > "$apt_dir/etc/sources.list" <<EOF
deb http://deb.debian.org/debian $SUITE main
EOF
APT=(-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::PreferencesParts=$apt_dir/etc/preferences.d" -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives" -o "APT::Sandbox::User=root")
fail() {
  { echo "$*"; cat "$apt_dir/log" 2>/dev/null | tail -n 30; } > "$base/FAILED"
  say "$* (log: $base/FAILED): cloned VMs use the host's QEMU (no FIFOs or unix sockets on their 9p shares)"
  exit 0
}
say "fetching QEMU from $SUITE for the 9p shares of cloned VMs (once; cached in $base)"
apt-get "${APT[@]}" -qq update > "$apt_dir/log" 2>&1 || fail "apt-get update of $SUITE failed"
version=$(apt-cache "${APT[@]}" show qemu-system-x86 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1)
[ -n "$version" ] || fail "$SUITE has no qemu-system-x86"
dir=$base/${version//[^A-Za-z0-9.+~-]/_}
work=$(mktemp -d "$base/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get "${APT[@]}" -qq download "${PKGS[@]/%/=$version}" ) >> "$apt_dir/log" 2>&1 \
  || fail "downloading ${PKGS[*]} $version failed"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root" || fail "unpacking $deb failed"; done
"$work/root/usr/bin/qemu-system-x86_64" --version > /dev/null 2>&1 || fail "the unpacked QEMU does not run"
rm -rf "$dir" "$base/FAILED"
mv "$work/root" "$dir"
say "QEMU $version unpacked in $dir"
link_to "$dir"
