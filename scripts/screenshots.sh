#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png: the browser tests keep a screenshot of
# each main page when GREENROOM_SCREENSHOTS names a folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-deps.sh
GREENROOM_SCREENSHOTS=$PWD/docs/screenshots cargo test --locked -p greenroom --test ui
ls -l docs/screenshots
