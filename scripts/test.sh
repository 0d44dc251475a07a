#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test.
#   scripts/test.sh            # build/ with the default flags
#   BUILD_DIR=build-asan scripts/test.sh -DMSGC_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
BUILD_DIR="$BUILD_DIR" scripts/build.sh "$@"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 300 -j2
