#!/usr/bin/env bash
# Builds podvisor's own guest kernel once and caches it outside the repository, so a fresh
# clone (or a CI run) finds it again instead of rebuilding it.
#
#   scripts/guest-kernel.sh          build when missing; print the cached vmlinux's path
#                                    (nothing when no kernel can be had: the caller falls back
#                                    to Debian's cloud kernel)
#   scripts/guest-kernel.sh --path   print the path only if it is already built; never build
#
# Source: Debian's linux-source-6.1 (/usr/src/linux-source-6.1.tar.xz, with Debian's patches).
# Patches: guest/kernel/patches/*.patch (our own changes, applied with patch -p1 in name order).
# Config: `make allnoconfig` with guest/kernel/podvisor.config forced on top: everything the
# guest needs is built in, there are no modules, and no other driver's initcall runs at boot.
# Every symbol of the fragment is checked in the final .config; a symbol the kernel dropped or
# a dependency not met stops the build (the fragment would otherwise silently lose it).
#
# Cache: $PODVISOR_CACHE (default /var/cache/podvisor as root, else ~/.cache/podvisor),
# kernel/<key>/vmlinux, where key hashes the source package's version, the fragment, the patches
# and this script. A present kernel costs one stat. A failed build leaves kernel/<key>/FAILED with its
# log and is not retried until the key changes (delete the file to retry), so an `npm start`
# after a failure stays quick. Concurrent runs wait for each other (flock).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FRAGMENT=$ROOT/guest/kernel/podvisor.config
PATCHES=("$ROOT"/guest/kernel/patches/*.patch)
[ -e "${PATCHES[0]}" ] || PATCHES=()
SRC_PKG=linux-source-6.1
TARBALL=/usr/src/$SRC_PKG.tar.xz
mode=${1:-}
say() { printf 'guest-kernel: %s\n' "$*" >&2; }

if [ -n "${PODVISOR_CACHE:-}" ]; then cache=$PODVISOR_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/podvisor
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/podvisor
fi

[ -f "$TARBALL" ] || { say "$TARBALL is missing (apt-get install $SRC_PKG): using Debian's kernel"; exit 0; }
src_ver=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null || echo unknown)
key=$( { echo "$src_ver"; cat "$FRAGMENT" "${PATCHES[@]}" "$0"; } | sha256sum | cut -c1-16)
dir=$cache/kernel/$key
if [ -f "$dir/vmlinux" ]; then echo "$dir/vmlinux"; exit 0; fi
[ "$mode" = --path ] && exit 0
if [ -f "$dir/FAILED" ]; then
  say "an earlier build of this kernel failed ($dir/FAILED): using Debian's kernel"
  exit 0
fi

mkdir -p "$cache/kernel"
exec 9> "$cache/kernel/.lock"
flock 9
if [ -f "$dir/vmlinux" ]; then echo "$dir/vmlinux"; exit 0; fi

# The sources are unpacked and patched once per key (without their documentation, never read by
# the build but for the top-level Documentation/Kconfig) and built out of tree, so a retried
# build does not unpack again; they are removed once a kernel is built.
src=$cache/kernel/src-$key
build=$(mktemp -d "$cache/kernel/build.XXXXXX")
log=$build.log
cleanup() { rm -rf "$build" "$log"; }
trap cleanup EXIT
fail() {
  mkdir -p "$dir"
  { echo "$*"; tail -n 60 "$log" 2>/dev/null; } > "$dir/FAILED"
  say "build failed: $* (log: $dir/FAILED); using Debian's kernel"
  exit 0
}
start=$(date +%s)
say "building the guest kernel from $SRC_PKG $src_ver (once; cached in $dir)"
if [ ! -f "$src/.unpacked" ]; then
  rm -rf "$src"
  mkdir -p "$src"
  tar -xJf "$TARBALL" -C "$src" --strip-components=1 --exclude="$SRC_PKG/Documentation/*/*" > "$log" 2>&1 \
    || fail "unpacking $TARBALL"
  for p in "${PATCHES[@]}"; do
    patch -d "$src" -p1 --forward --batch < "$p" >> "$log" 2>&1 || fail "applying $(basename "$p")"
  done
  touch "$src/.unpacked"
fi
say "sources unpacked after $(( $(date +%s) - start )) s"
jobs=$(nproc)
make -C "$src" O="$build" -s ARCH=x86_64 KCONFIG_ALLCONFIG="$FRAGMENT" allnoconfig >> "$log" 2>&1 \
  || fail "make allnoconfig"
# Every symbol of the fragment must have its value in the result.
missing=()
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  sym=${line%%=*} val=${line#*=}
  if [ "$val" = n ]; then
    grep -qx "# $sym is not set" "$build/.config" || grep -qx "$sym=n" "$build/.config" \
      || ! grep -q "^$sym=" "$build/.config" || missing+=("$line")
  else
    grep -qxF "$line" "$build/.config" || missing+=("$line")
  fi
done < "$FRAGMENT"
[ ${#missing[@]} -eq 0 ] || fail "the config lost: ${missing[*]}"
# Reproducible: the same source package, fragment and patches, built by the same compiler,
# give the same vmlinux on every host (its banner names no build time, user, host or count), so
# a saved VM's stamp, which hashes the kernel (src/vm/qemu/snapshots/save-stamp.ts), matches a
# daemon on another host that built its own. The time stated is the source tarball's, which
# dpkg sets from the package.
export KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$(stat -c %Y "$TARBALL")" '+%Y-%m-%d %H:%M:%S UTC')" KBUILD_BUILD_USER=podvisor KBUILD_BUILD_HOST=podvisor \
  KBUILD_BUILD_VERSION=1
make -C "$src" O="$build" -s ARCH=x86_64 -j"$jobs" vmlinux >> "$log" 2>&1 || fail "make vmlinux"
readelf -n "$build/vmlinux" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)' \
  || fail "vmlinux has no PVH entry note"
mkdir -p "$dir.tmp"
strip -o "$dir.tmp/vmlinux" "$build/vmlinux" 2>/dev/null || cp "$build/vmlinux" "$dir.tmp/vmlinux"
cp "$build/.config" "$dir.tmp/config"
echo "$(( $(date +%s) - start )) s with $jobs jobs, $src_ver" > "$dir.tmp/BUILT"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
rm -rf "$src"
say "built in $(cat "$dir/BUILT")"
echo "$dir/vmlinux"
