#!/usr/bin/env bash
# Fetches Debian 13's dockerd (docker.io 26.1, Engine API 1.45) and unpacks it into the cache,
# never installing it: the oracle for the API versions podvisor serves above 1.41
# (test/compat/api-versions.test.ts starts it in a network namespace of its own, beside the
# podvisor under test). The host keeps its dockerd 20.10, the baseline of the other tests.
#
#   scripts/dockerd26.sh          fetch when missing; print the unpacked root (nothing when it
#                                 cannot be had)
#   scripts/dockerd26.sh --path   print the root only if it is already unpacked; never fetch
#
# Source: docker.io from trixie, resolved from a private apt configuration under the cache
# (the host's apt sources are not touched) and unpacked with dpkg -x. It runs with the host's
# containerd and runc (bookworm's), which it accepts.
#
# Cache: $PODVISOR_CACHE (default /var/cache/podvisor as root, else ~/.cache/podvisor),
# dockerd26/<version>/root.
set -euo pipefail
SUITE=trixie
PKG=docker.io
mode=${1:-}
say() { printf 'dockerd26: %s\n' "$*" >&2; }

if [ -n "${PODVISOR_CACHE:-}" ]; then cache=$PODVISOR_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/podvisor
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/podvisor
fi
base=$cache/dockerd26
found() { ls -d "$base"/*/root/usr/sbin/dockerd 2>/dev/null | sort -V | tail -n 1 || true; }

have=$(found)
if [ -n "$have" ]; then echo "${have%/usr/sbin/dockerd}"; exit 0; fi
[ "$mode" = --path ] && exit 0
mkdir -p "$base"
exec 9> "$base/.lock"
flock 9
have=$(found)
if [ -n "$have" ]; then echo "${have%/usr/sbin/dockerd}"; exit 0; fi

apt_dir=$base/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc/preferences.d"
echo "deb http://deb.debian.org/debian $SUITE main" > "$apt_dir/etc/sources.list"
APT=(-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::PreferencesParts=$apt_dir/etc/preferences.d" -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives" -o "APT::Sandbox::User=root")
say "fetching $PKG from $SUITE (once; cached in $base)"
apt-get "${APT[@]}" -qq update > "$apt_dir/log" 2>&1 || { say "apt-get update of $SUITE failed ($apt_dir/log)"; exit 0; }
version=$(apt-cache "${APT[@]}" show "$PKG" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1)
[ -n "$version" ] || { say "$SUITE has no $PKG"; exit 0; }
dir=$base/${version//[^A-Za-z0-9.+~-]/_}
work=$(mktemp -d "$base/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get "${APT[@]}" -qq download "$PKG=$version" ) >> "$apt_dir/log" 2>&1 \
  || { say "downloading $PKG $version failed ($apt_dir/log)"; exit 0; }
dpkg -x "$work"/*.deb "$work/root"
"$work/root/usr/sbin/dockerd" --version > /dev/null 2>&1 || { say "the unpacked dockerd does not run"; exit 0; }
rm -rf "$dir"
mkdir -p "$dir"
mv "$work/root" "$dir/root"
echo "$dir/root"
