#!/usr/bin/env bash
# Fetches Debian 13's Docker Compose v2 (docker-compose 2.26, a Docker CLI plugin) and unpacks
# it into the cache, never installing it: the host keeps Debian 12's docker-compose 1.29. The
# compose v2 tests (test/compat/compose-v2*.test.ts) run it as the stock docker CLI's plugin,
# `docker compose`, through a DOCKER_CONFIG of their own whose cli-plugins/ links to it.
#
#   scripts/compose-v2.sh          fetch when missing; print the plugin's path (nothing when it
#                                  cannot be had)
#   scripts/compose-v2.sh --path   print the path only if it is already unpacked; never fetch
#
# How it is fetched and where it is cached (compose-v2/<version>/root): scripts/trixie-unpack.sh.
set -euo pipefail
PLUGIN=usr/libexec/docker/cli-plugins/docker-compose
mode=()
if [ "${1:-}" = --path ]; then mode=(--path); fi
root=$(bash "$(dirname "$0")/trixie-unpack.sh" ${mode[@]+"${mode[@]}"} compose-v2 docker-compose "$PLUGIN" version)
if [ -n "$root" ]; then echo "$root/$PLUGIN"; fi
