#!/usr/bin/env bash
# Bootstrap: install whatever podvisor needs that is missing, then build it. Idempotent, and
# quick when nothing is missing: a run that finds nothing changed since the last complete run
# of its mode (the stamp .bootstrap/done-*) ends after one `find` (~15 ms, so `npm start`
# restarts fast); otherwise each step checks its own inputs.
#
#   scripts/bootstrap.sh           what the daemon needs (npm start)
#   scripts/bootstrap.sh --test    plus what the tests need (npm test)
#   scripts/bootstrap.sh --bench   plus what the benchmarks need (dockerd as the baseline)
#
# Steps: Debian packages (apt-get), npm packages (npm ci), the guest (podvisor's own kernel:
# scripts/guest-kernel.sh; Debian's linux-image-cloud-amd64 as the fallback, our agent built
# from source, the initramfs: guest/build.sh), the QEMU that serves cloned VMs' 9p shares
# (scripts/qemu-9p.sh), the host's 9p lock holder (host/lock-holder), hijack wait
# (host/hijack-wait), connect as a container process (host/connect-as) and clones' RAM shim (host/ram-shim), with --test the Debian 13 programs the tests unpack (scripts/dockerd26.sh,
# scripts/compose-v2.sh), and the TypeScript build
# (dist/: scripts/build.sh).
#
# PODVISOR_GUEST_KERNEL=debian: skip podvisor's own kernel (VMs boot Debian's cloud kernel).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
say() { printf 'bootstrap: %s\n' "$*" >&2; }
own_kernel=${PODVISOR_GUEST_KERNEL:-own}

# --- nothing changed since the last complete run ---------------------------------------
# Up to date when the stamp holds this mode, kernel choice and list of outputs, every output
# exists, and no input changed since: the sources and scripts (test/ and bench/ too, which
# --test compiles) and package-lock.json since that run started (its `.start` stamp: a file
# saved while the steps ran, after the one that read it, is built by the next run), dpkg's
# database and apt's lists (a new Debian kernel: guest/build.sh) and the source directories
# (an entry added or removed) since it ended (the run itself changes those).
done_stamp=.bootstrap/done${mode:+-${mode#--}}
outputs=(dist/src/daemon/main.js guest/out/initramfs.cpio.gz guest/out/vmlinux host/out/podvisor-lock-holder host/out/podvisor-ram-shim.so
  host/out/podvisor-fs-events host/out/podvisor-hijack-wait host/out/podvisor-connect-as host/out/podvisor-jail node_modules/.package-lock.json)
if [ "$own_kernel" != debian ]; then outputs+=(guest/out/podvisor/vmlinux); fi
fingerprint="$mode $own_kernel ${outputs[*]}"
up_to_date() {
  [ -f "$done_stamp" ] && [ -f "$done_stamp.start" ] && [ "$(cat "$done_stamp")" = "$fingerprint" ] || return 1
  local f
  for f in "${outputs[@]}"; do [ -e "$f" ] || return 1; done
  if [ -e package-lock.json ] && [ package-lock.json -nt "$done_stamp.start" ]; then return 1; fi
  for f in /var/lib/dpkg/status /var/lib/apt/lists; do
    if [ -e "$f" ] && [ "$f" -nt "$done_stamp" ]; then return 1; fi
  done
  [ -z "$(find scripts guest host src test bench bin package.json tsconfig.json tsconfig.build.json \
    \( -path guest/out -o -path host/out \) -prune -o \( -type d -newer "$done_stamp" -print -quit \) \
    -o \( ! -type d -newer "$done_stamp.start" -print -quit \) 2>/dev/null)" ]
}
if up_to_date; then exit 0; fi
# This run's start, kept as `$done_stamp.start` once it completes.
mkdir -p .bootstrap
touch "$done_stamp.run"

# --- Debian packages -------------------------------------------------------------------
# Runtime: QEMU (with virtiofsd in qemu-system-common), busybox for the guest, lz4 to unpack
# the kernel, cpio for the initramfs, a C toolchain for the agent, attr (setfattr: layer xattrs
# and overlay opaque markers, src/storage/fsops.ts), iproute2 and iptables (the networks:
# bridges, taps, tc, and the firewall rules of src/net/firewall.ts; a fresh Debian 12 has no
# iptables, and without it the daemon serves no networks), bzip2 and xz-utils (the
# decompressors of `docker build` contexts and ADD, src/builder/copy.ts), zstd (compresses
# the daemon's own checkpoint files into checkpoint images, src/storage/checkpoint-image/
# compress.ts; the tests also make the compressed archives that import and load are tested
# with). Every program the
# daemon spawns comes from this list or from a package every Debian has (priority required):
# test/unit/lint/bootstrap-packages.test.ts reads the sources and checks it.
# Tests also use python3-docker (docker-py)
# and docker-compose (Debian's 1.29, the compose project test; Compose v2 is Debian 13's,
# unpacked below), and the host's own clients of
# the real-software test (postgresql-client's psql, redis-tools' redis-cli). libseccomp-dev: the
# static libseccomp.a the agent links (guest/agent/seccomp.c compiles containers' filters).
pkgs=(qemu-system-x86 qemu-system-common busybox-static lz4 cpio gcc libc6-dev make iproute2 iptables kmod attr bzip2 xz-utils zstd libseccomp-dev)
# podvisor's own guest kernel is built from Debian's kernel sources (scripts/guest-kernel.sh),
# which needs linux-source-6.1, patch (our guest/kernel/patches), flex, bison, bc and libelf-dev
# (objtool). Not 6.12 (in
# bookworm-security): its overlayfs has O_TMPFILE, but its 9p (on netfs, mounted directio to
# stay coherent with the host) made PostgreSQL in a volume 122 -> 82 TPS (docs/performance.md).
if [ "$own_kernel" != debian ]; then pkgs+=(linux-source-6.1 patch flex bison bc libelf-dev); fi
case "$mode" in
  --test) pkgs+=(docker-registry apache2-utils python3-docker docker.io docker-compose debootstrap socat curl postgresql-client redis-tools containernetworking-plugins) ;;
  --bench) pkgs+=(docker-registry apache2-utils docker.io debootstrap docker-compose socat linux-perf) ;;
esac
# debootstrap: the Debian fixture images (debian:bookworm, debian-nginx), built from Debian's
# mirror once per recipe (test/fixtures/debian-rootfs.sh). socat: the fixture registry is
# relayed into the baseline dockerd's network namespace (bench/netns-dockerd.ts), and the
# network tests speak TCP and UDP with it from their namespaces; curl: tests fetch published
# pages.
# containernetworking-plugins: the CNI plugins (bridge, host-local, portmap, loopback, in
# /usr/lib/cni) that the CNI tests run for pod sandboxes (src/net/cni).
# linux-perf: bench/start-cpu.ts samples the whole host's CPU by process with perf record.
# docker.io: the benchmark baseline, and for the tests a private dockerd that archives
# (docker save/load) must cross with both ways; never started as a system service.
# The dpkg queries (~0.2 s) are skipped while a stamp says this very list was found installed
# and dpkg's database has not changed since.
mkdir -p .bootstrap
pkg_stamp=.bootstrap/packages${mode:+-${mode#--}}
missing=()
if [ -f "$pkg_stamp" ] && [ "$pkg_stamp" -nt /var/lib/dpkg/status ] && [ "$(cat "$pkg_stamp")" = "${pkgs[*]}" ]; then
  pkgs=()
fi
for p in ${pkgs[@]+"${pkgs[@]}"}; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Services in these packages (dockerd, the registry) must not start on their own:
  # the tests and benchmarks start private instances. A policy-rc.d that says so is in place
  # while apt-get runs; whatever was there before (the admin's own, or nothing) comes back
  # when the script exits, also when apt-get fails or the script is interrupted.
  policy=/usr/sbin/policy-rc.d
  policy_saved=
  if [ -e "$policy" ] || [ -L "$policy" ]; then
    policy_saved=$(mktemp /usr/sbin/.policy-rc.d.podvisor.XXXXXX)
    mv -f "$policy" "$policy_saved"
  fi
  restore_policy() {
    rm -f "$policy"
    if [ -n "$policy_saved" ]; then mv -f "$policy_saved" "$policy"; fi
  }
  trap restore_policy EXIT
  trap 'exit 130' INT TERM HUP
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT INT TERM HUP
fi
if [ ${#pkgs[@]} -gt 0 ]; then echo "${pkgs[*]}" > "$pkg_stamp"; fi

# --- npm packages ------------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- the guest ---------------------------------------------------------------------------
# podvisor's own kernel: built once per source version and config, cached outside the
# repository (a fresh clone finds it again); a present build costs one stat, and a failed one
# leaves Debian's cloud kernel in use (the daemon logs which kernel its VMs boot).
# guest/build.sh then assembles both guests.
# A fresh build takes ~8 min of both cores on an idle 2-core machine, 45 min under load
# (docs/performance.md): the tests and benchmarks wait for it (they run the default guest),
# while `npm start` starts it in the background, at nice 19, and starts the daemon at once on
# Debian's kernel; the daemon switches to the own kernel for the VMs it boots once it is there.
if [ "$own_kernel" != debian ]; then
  if [ -n "$mode" ] || [ -n "$(bash scripts/guest-kernel.sh --path)" ]; then
    bash scripts/guest-kernel.sh >/dev/null
  else
    # A build under way elsewhere is waited for (the script's lock), and one that failed
    # before is not retried: either way the log says so.
    say "podvisor's guest kernel is not built: building it in the background (log: .bootstrap/guest-kernel.log); VMs boot Debian's kernel until it is ready"
    nohup setsid nice -n 19 bash -c 'bash scripts/guest-kernel.sh >/dev/null && bash guest/build.sh' \
      > .bootstrap/guest-kernel.log 2>&1 < /dev/null &
  fi
fi
bash guest/build.sh
# The QEMU for cloned VMs' 9p shares (guest/out/qemu: QEMU 10 from bookworm-backports, unpacked,
# not installed; scripts/qemu-9p.sh says why). Without it cloned VMs use the host's QEMU.
bash scripts/qemu-9p.sh >/dev/null
# The tests' oracle for API 1.42-1.45: Debian 13's dockerd 26.1, and the tests' Compose v2:
# Debian 13's docker-compose 2.26 (a docker CLI plugin); both unpacked, never installed
# (scripts/dockerd26.sh, scripts/compose-v2.sh; test/compat/api-versions-oracle.test.ts and
# test/compat/compose-v2*.test.ts fail without them).
if [ "$mode" = --test ]; then
  bash scripts/dockerd26.sh >/dev/null
  bash scripts/compose-v2.sh >/dev/null
fi
# The host's holder of the 9p locks a cloned VM's guest takes (host/lock-holder: one per VM,
# src/vm/qemu/processes/lock-holder.ts). make rebuilds it only when its source changed.
make -s -C host/lock-holder OUT=../out
# The host's watcher of the files VMs' guests watch in their shares (host/fs-events: one per
# such VM, src/pod/network/share-events.ts).
make -s -C host/fs-events OUT=../out
# The wait, after a hijacked stream's 101, until the client has read it (host/hijack-wait:
# src/api/v1.41/peer-read.ts; Node cannot ask the kernel a socket's unread bytes).
make -s -C host/hijack-wait OUT=../out
# The connect to a host socket as a container process's credentials, and the relay of that
# connection (host/connect-as: src/pod/network/connect-as.ts; Node cannot change credentials
# per connection).
make -s -C host/connect-as OUT=../out
# The jail every VM's QEMU starts in (host/jail: its own mount and IPC namespaces, a root of
# only the VM's files, its cgroup; src/vm/qemu/confinement/jail.ts).
make -s -C host/jail OUT=../out
# The library preloaded into a clone's QEMU so that the pages its guest frees go back to the
# host while its template's RAM file stays read-only (host/ram-shim: src/vm/qemu/memory/ram-shim.ts).
make -s -C host/ram-shim OUT=../out

# --- TypeScript --------------------------------------------------------------------------
# Built only when a source or config file changed (scripts/build.sh). With --test, one tsc
# over src, test and bench both type-checks everything and emits dist/: `npm test` compiles
# the TypeScript once.
if [ "$mode" = --test ]; then bash scripts/build.sh --check; else bash scripts/build.sh; fi

# --- done ----------------------------------------------------------------------------------
# Stamped only when every output is there (not while the guest kernel builds in the background).
for f in "${outputs[@]}"; do [ -e "$f" ] || exit 0; done
mv "$done_stamp.run" "$done_stamp.start"
echo "$fingerprint" > "$done_stamp"

