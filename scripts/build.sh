#!/usr/bin/env bash
# The TypeScript build into dist/, skipped while no input changed since the last good one (file
# times against a stamp: ~10 ms, so callers may run it every time).
#
#   scripts/build.sh          dist/src only (tsconfig.build.json): the daemon and CLI that
#                             `npm start`, bin/ and the tests' daemons run
#   scripts/build.sh --check  ONE tsc over src, test and bench (tsconfig.json): type-checks all
#                             of it and emits dist/ (dist/src included), so `npm test` compiles
#                             the TypeScript once; jest's ts-jest only transpiles (isolatedModules)
#
# Both are incremental (the .tsbuildinfo files in dist/). A stamp gets the time its build
# started, and only when tsc succeeded: a file edited during the build, or a build with type
# errors, is built again next time.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --check ]; then
  args=(-p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo-check)
  stamp=dist/.check-stamp
  inputs=(src test bench tsconfig.json package.json)
else
  args=(-p tsconfig.build.json)
  stamp=dist/.build-stamp
  inputs=(src tsconfig.json tsconfig.build.json package.json)
fi
if [ -f "$stamp" ] && [ -z "$(find "${inputs[@]}" -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
mkdir -p dist
start=$(mktemp dist/.build-start.XXXXXX)
trap 'rm -f "$start"' EXIT
./node_modules/.bin/tsc "${args[@]}"
touch -r "$start" "$stamp"
# The full build wrote dist/src as well.
if [ "$stamp" = dist/.check-stamp ]; then touch -r "$start" dist/.build-stamp; fi
