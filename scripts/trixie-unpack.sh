#!/usr/bin/env bash
# Fetches one package from Debian 13 (trixie) and unpacks it into the cache, never installing
# it: the host stays a Debian 12 whose packages the other tests take as their baseline.
#
#   scripts/trixie-unpack.sh NAME PACKAGE PROGRAM ARG...          fetch when missing; print the
#                                       unpacked root (nothing when it cannot be had)
#   scripts/trixie-unpack.sh --path NAME PACKAGE PROGRAM ARG...   print the root only if it is
#                                       already unpacked; never fetch
#
# NAME is the cache directory, PROGRAM the package's program (a path inside the root) that must
# run, with ARG..., for the unpacked root to count (a package that does not run on this host is
# left out rather than kept). Used by scripts/dockerd26.sh and scripts/compose-v2.sh.
#
# Source: PACKAGE from trixie, resolved from a private apt configuration under the cache (the
# host's apt sources are not touched) and unpacked with dpkg -x; its dependencies are not
# fetched (the programs unpacked this way need only the host's libc).
#
# Cache: $PODVISOR_CACHE (default /var/cache/podvisor as root, else ~/.cache/podvisor),
# NAME/<version>/root, and NAME/apt for apt's lists and downloads.
set -euo pipefail
SUITE=trixie
mode=
if [ "${1:-}" = --path ]; then mode=--path; shift; fi
[ $# -ge 3 ] || { echo "usage: $0 [--path] NAME PACKAGE PROGRAM [ARG...]" >&2; exit 2; }
name=$1 pkg=$2 program=$3
shift 3
say() { printf '%s: %s\n' "$name" "$*" >&2; }

if [ -n "${PODVISOR_CACHE:-}" ]; then cache=$PODVISOR_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/podvisor
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/podvisor
fi
base=$cache/$name
found() { ls -d "$base"/*/root/"$program" 2>/dev/null | sort -V | tail -n 1 || true; }

have=$(found)
if [ -n "$have" ]; then echo "${have%/"$program"}"; exit 0; fi
[ "$mode" = --path ] && exit 0
mkdir -p "$base"
exec 9> "$base/.lock"
flock 9
have=$(found)
if [ -n "$have" ]; then echo "${have%/"$program"}"; exit 0; fi

apt_dir=$base/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc/preferences.d"
echo "deb http://deb.debian.org/debian $SUITE main" > "$apt_dir/etc/sources.list"
APT=(-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::PreferencesParts=$apt_dir/etc/preferences.d" -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::Status=/dev/null"
  -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives" -o "APT::Sandbox::User=root")
say "fetching $pkg from $SUITE (once; cached in $base)"
apt-get "${APT[@]}" -qq update > "$apt_dir/log" 2>&1 || { say "apt-get update of $SUITE failed ($apt_dir/log)"; exit 0; }
version=$(apt-cache "${APT[@]}" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1)
[ -n "$version" ] || { say "$SUITE has no $pkg"; exit 0; }
dir=$base/${version//[^A-Za-z0-9.+~-]/_}
work=$(mktemp -d "$base/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get "${APT[@]}" -qq download "$pkg=$version" ) >> "$apt_dir/log" 2>&1 \
  || { say "downloading $pkg $version failed ($apt_dir/log)"; exit 0; }
dpkg -x "$work"/*.deb "$work/root"
"$work/root/$program" "$@" > /dev/null 2>&1 || { say "the unpacked $program does not run"; exit 0; }
rm -rf "$dir"
mkdir -p "$dir"
mv "$work/root" "$dir/root"
echo "$dir/root"
