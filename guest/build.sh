#!/usr/bin/env bash
# Builds the guest into guest/out (see guest/README.md):
#
#   guest/out/vmlinux            uncompressed kernel (PVH entry; QEMU boots it directly)
#   guest/out/vmlinuz            the compressed kernel as Debian ships it (fallback)
#   guest/out/initramfs.cpio.gz  /init = our agent, busybox, the kernel modules the guest needs
#   guest/out/VERSION            the kernel version (uname -r in the guest)
#   guest/out/podvisor/          podvisor's own kernel (vmlinux) and its initramfs (no modules),
#                                when scripts/guest-kernel.sh has built and cached one
#
# The kernel is Debian's linux-image-cloud-amd64: its current versioned package is resolved
# from apt's lists on every run (never hard-coded), downloaded once into guest/out/cache and
# unpacked with dpkg -x (nothing is installed on the host). Each step runs only when its inputs
# changed, so a run with everything up to date takes well under a second.
#
# Environment:
#   PODVISOR_GUEST_INIT=<file>  put this static binary at /init instead of the agent built from
#                               guest/agent (for debugging the boot itself)
set -euo pipefail
cd "$(dirname "$0")"
GUEST_DIR=$PWD
OUT=$GUEST_DIR/out
CACHE=$OUT/cache
META_PKG=linux-image-cloud-amd64
# Modules the guest needs, in the order they are wanted (dependencies are added in front of
# each one from modules.dep). Names that are built into the kernel or missing are skipped.
WANTED_MODULES=(virtio_ring virtio virtio_mmio virtio_console virtio_balloon fuse virtiofs overlay
  failover net_failover virtio_net)
# Busybox applets linked into /bin for debugging from a console shell.
APPLETS=(sh ash ls cat echo mount umount mkdir ps dmesg insmod lsmod ip sleep true false kill
  poweroff reboot uname df free top)

say() { printf 'guest/build.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
mkdir -p "$CACHE"

# --- 1. resolve the versioned kernel package behind the meta package ----------------------
# apt-cache takes ~1 s here, so the answer is kept in $CACHE/resolved until apt's lists change.
resolve_pkg() {
  local p v
  p=$(apt-cache depends "$META_PKG" 2>/dev/null | awk '/^ *Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$p" ] || return 0
  v=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
  [ -n "$v" ] && [ "$v" != "(none)" ] && echo "$p $v"
  return 0
}
lists=/var/lib/apt/lists
if [ -s "$CACHE/resolved" ] && [ "$CACHE/resolved" -nt "$lists" ]; then
  resolved=$(cat "$CACHE/resolved")
else
  resolved=$(resolve_pkg)
  if [ -z "$resolved" ] && [ "$(id -u)" = 0 ]; then
    say "apt does not know $META_PKG yet: apt-get update"
    apt-get update -qq || true
    resolved=$(resolve_pkg)
  fi
  [ -z "$resolved" ] || echo "$resolved" > "$CACHE/resolved"
fi
if [ -z "$resolved" ]; then
  # Offline and apt knows nothing: keep using the kernel unpacked by an earlier run, if any.
  ver_dir=$(ls -d "$CACHE"/root-* 2>/dev/null | tail -n1 || true)
  [ -n "$ver_dir" ] || die "cannot resolve $META_PKG with apt-cache (run apt-get update as root)"
  say "warning: cannot resolve $META_PKG; using the cached $(basename "$ver_dir")"
else
  read -r pkg ver <<< "$resolved"
  deb=$CACHE/${pkg}_${ver//:/%3a}_amd64.deb
  ver_dir=$CACHE/root-${pkg}_${ver}
  # --- 2. download the package once ---------------------------------------------------------
  if [ ! -f "$ver_dir/.unpacked" ]; then
    if [ ! -f "$deb" ]; then
      say "downloading $pkg $ver"
      rm -f "$CACHE"/*.deb
      (cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver") \
        || die "apt-get download $pkg=$ver failed"
      [ -f "$deb" ] || die "apt-get download did not produce $(basename "$deb")"
    fi
    # --- 3. unpack it (no install) ----------------------------------------------------------
    say "unpacking $(basename "$deb")"
    rm -rf "$CACHE"/root-* "$ver_dir.tmp"
    dpkg -x "$deb" "$ver_dir.tmp"
    touch "$ver_dir.tmp/.unpacked"
    mv "$ver_dir.tmp" "$ver_dir"
    rm -f "$deb"
  fi
fi
kver=$(ls "$ver_dir/lib/modules" | head -n1)
[ -n "$kver" ] || die "no lib/modules/<version> in $ver_dir"
moddir=$ver_dir/lib/modules/$kver
vmlinuz=$ver_dir/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$kver in $ver_dir"

# is_stale OUT IN...: true when OUT is missing or older than any IN
is_stale() {
  local out=$1; shift
  [ -e "$out" ] || return 0
  local f
  for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done
  return 1
}

# --- 4. kernel images ------------------------------------------------------------------------
if is_stale "$OUT/vmlinuz" "$vmlinuz"; then
  cp "$vmlinuz" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
fi
# The cloud kernel is LZ4-compressed (legacy frame, magic 02 21 4c 18) and has CONFIG_PVH, so
# the decompressed ELF boots directly under QEMU and skips the in-guest decompression (~0.3 s
# under TCG). lz4 exits non-zero on the bytes that follow the payload; the ELF check decides.
if is_stale "$OUT/vmlinux" "$vmlinuz"; then
  rm -f "$OUT/vmlinux"
  off=$(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | head -n1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "$vmlinuz" | lz4 -dc > "$OUT/vmlinux.tmp" 2>/dev/null || true
    # A usable vmlinux is an x86-64 ELF executable with the Xen/PVH entry note (type 18).
    if [ "$(head -c 4 "$OUT/vmlinux.tmp" | od -An -c | tr -d ' ')" = '177ELF' ] \
       && readelf -n "$OUT/vmlinux.tmp" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
      mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
    else
      say "warning: no PVH vmlinux in $(basename "$vmlinuz"); the VMs boot the compressed kernel"
    fi
  else
    say "warning: $(basename "$vmlinuz") is not LZ4-compressed; the VMs boot the compressed kernel"
  fi
  rm -f "$OUT/vmlinux.tmp"
fi

# --- 5. the agent ----------------------------------------------------------------------------
if [ -n "${PODVISOR_GUEST_INIT:-}" ]; then
  init_bin=$PODVISOR_GUEST_INIT
  [ -f "$init_bin" ] || die "PODVISOR_GUEST_INIT=$init_bin does not exist"
else
  [ -f "$GUEST_DIR/agent/Makefile" ] || die "guest/agent/Makefile is missing"
  make -s -C "$GUEST_DIR/agent" OUT="$OUT" >&2 || die "building the agent failed"
  init_bin=$OUT/podvisor-agent
fi
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox is missing (apt-get install busybox-static)"
if readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter'; then
  die "$busybox is dynamically linked (apt-get install busybox-static)"
fi

# The modules keep their signatures: the guest runs with lockdown=confidentiality (see
# src/vm/qemu/cmdline.ts), which loads signed modules only. An unsigned one would leave the
# guest without its devices, so the build stops instead.
require_module_signature() {
  [ "$(tail -c 28 "$1" | head -c 27)" = '~Module signature appended~' ] \
    || die "$(basename "$1") carries no signature, and the guest kernel (lockdown) loads signed modules only"
}

# --- 6. the initramfs (modules, busybox, agent) ---------------------------------------------
# make_initramfs OUT KVER [MODULE_RELPATH...]: /init = the agent, busybox, and these modules of
# $moddir listed in load order in /etc/podvisor/modules (none for a kernel without modules).
make_initramfs() {
  local out=$1 kv=$2 rel dst a stage
  shift 2
  stage=$out.d
  rm -rf "$stage"
  mkdir -p "$stage"/{bin,dev,proc,sys,tmp,run/podvisor/share,etc/podvisor,lib/modules/"$kv"}
  install -m 0755 "$init_bin" "$stage/init"
  install -m 0755 "$busybox" "$stage/bin/busybox"
  for a in "${APPLETS[@]}"; do ln -s busybox "$stage/bin/$a"; done
  : > "$stage/etc/podvisor/modules"
  for rel in "$@"; do
    dst=$stage/lib/modules/$kv/$rel
    mkdir -p "$(dirname "$dst")"
    cp "$moddir/$rel" "$dst"
    require_module_signature "$dst"
    echo "/lib/modules/$kv/$rel" >> "$stage/etc/podvisor/modules"
  done
  # /dev/console comes from the kernel's built-in initramfs; ours is unpacked over it.
  # Reproducible: fixed times, no host device or inode numbers, names in a fixed order, gzip
  # without a name or time; the same agent and busybox give the same bytes on every host (a
  # saved VM's stamp hashes this file: src/vm/qemu/snapshots/save-stamp.ts).
  find "$stage" -exec touch -h -d @0 {} +
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) \
    | gzip -9 -n > "$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$stage"
}

# The unpacked kernel directory is replaced as a whole on a new version, so VERSION and the
# time of its modules.dep stand for the modules.
initrd=$OUT/initramfs.cpio.gz
if [ ! -f "$moddir/modules.dep" ]; then
  # The package ships no modules.dep (depmod runs at install time); make one in the cache.
  "$busybox" depmod -b "$ver_dir" "$kver" || die "depmod failed"
fi
if is_stale "$initrd" "$init_bin" "$busybox" "$GUEST_DIR/build.sh" "$moddir/modules.dep" \
   || [ "$(cat "$OUT/VERSION" 2>/dev/null)" != "$kver" ]; then
  # Modules: the wanted ones plus their dependencies, in load order.
  declare -A dep_of=() seen=()
  while IFS= read -r line; do
    dep_of[${line%%:*}]=${line#*:}
  done < "$moddir/modules.dep"
  declare -A path_of=()
  for rel in "${!dep_of[@]}"; do
    base=${rel##*/}
    path_of[${base%.ko*}]=$rel
  done
  order=()
  add_module() { # add_module RELPATH: its dependencies first, then itself
    local rel=$1 d
    [ -z "${seen[$rel]:-}" ] || return 0
    seen[$rel]=1
    for d in ${dep_of[$rel]}; do add_module "$d"; done
    order+=("$rel")
  }
  for m in "${WANTED_MODULES[@]}"; do
    rel=${path_of[$m]:-}
    if [ -z "$rel" ]; then
      if grep -q "/$m\.ko" "$moddir/modules.builtin" 2>/dev/null; then continue; fi
      say "warning: module $m is neither built in nor in the package"
      continue
    fi
    add_module "$rel"
  done
  say "assembling initramfs for $kver (${#order[@]} modules)"
  make_initramfs "$initrd" "$kver" "${order[@]}"
  echo "$kver" > "$OUT/VERSION"
fi

# --- 7. podvisor's own kernel, when scripts/guest-kernel.sh has built it ---------------------
# guest/out/podvisor/vmlinux (a copy of the cached build, with its config) and its initramfs, which holds no
# modules (everything is built in). Without a cached build the directory is removed, so the
# VMs boot Debian's kernel above.
own=$OUT/podvisor
own_kernel=$(bash "$GUEST_DIR/../scripts/guest-kernel.sh" --path 2>/dev/null || true)
if [ -n "$own_kernel" ] && [ -f "$own_kernel" ]; then
  mkdir -p "$own"
  if is_stale "$own/vmlinux" "$own_kernel" || ! cmp -s "$own_kernel" "$own/vmlinux"; then
    cp "$own_kernel" "$own/vmlinux.tmp" && mv "$own/vmlinux.tmp" "$own/vmlinux"
  fi
  # Its .config: the daemon reads from it whether VMs can be cloned from templates (9p built in).
  own_config=$(dirname "$own_kernel")/config
  if [ -f "$own_config" ] && ! cmp -s "$own_config" "$own/config"; then
    cp "$own_config" "$own/config.tmp" && mv "$own/config.tmp" "$own/config"
  fi
  if is_stale "$own/initramfs.cpio.gz" "$init_bin" "$busybox" "$GUEST_DIR/build.sh"; then
    say "assembling initramfs for podvisor's kernel (no modules)"
    make_initramfs "$own/initramfs.cpio.gz" podvisor
  fi
else
  rm -rf "$own"
fi
exit 0
