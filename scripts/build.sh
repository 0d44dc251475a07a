#!/usr/bin/env bash
# Configures and builds msgc into BUILD_DIR (default: build).
# Extra arguments go to cmake, e.g. -DMSGC_SANITIZE=address,undefined.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja "$@" >/dev/null
ninja -C "$BUILD_DIR"
