#!/usr/bin/env bash
# Fetches Debian 13's dockerd (docker.io 26.1, Engine API 1.45) and unpacks it into the cache,
# never installing it: the oracle for the API versions podvisor serves above 1.41
# (test/compat/api-versions-oracle.test.ts starts it in a network namespace of its own, beside
# the podvisor under test). The host keeps its dockerd 20.10, the baseline of the other tests.
#
#   scripts/dockerd26.sh          fetch when missing; print the unpacked root (nothing when it
#                                 cannot be had)
#   scripts/dockerd26.sh --path   print the root only if it is already unpacked; never fetch
#
# It runs with the host's containerd and runc (bookworm's), which it accepts. How it is fetched
# and where it is cached (dockerd26/<version>/root): scripts/trixie-unpack.sh.
set -euo pipefail
mode=()
if [ "${1:-}" = --path ]; then mode=(--path); fi
exec bash "$(dirname "$0")/trixie-unpack.sh" ${mode[@]+"${mode[@]}"} dockerd26 docker.io usr/sbin/dockerd --version
