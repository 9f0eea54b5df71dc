#!/usr/bin/env bash
# The whole test suite, on a fresh machine: sets up what the tests need, then
# runs every test of the workspace. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need (git, python3, curl, Chromium, axe-core…), installed
# when missing.
source scripts/test-deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The delivery path (image, registry, chart, Argo CD apps, Kong routing,
# workflow) is checked with the real tools; it installs them on first use.
bash scripts/delivery-check.sh
delivery=$?
set -e
# One closing line over every test binary (the last cargo line is often a
# doc-test run with nothing in it), then the delivery checks.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
if [ "$delivery" = 0 ]; then echo "delivery checks: passed"; else echo "delivery checks: FAILED"; fi
if [ "$status" != 0 ]; then exit "$status"; fi
exit "$delivery"
