# Sourced by scripts/test.sh and scripts/screenshots.sh: installs what the
# tests need when it is missing, and exports GREENROOM_AXE_JS.
# shellcheck shell=bash

need_apt=()
# git: scaffolder tests push to and clone real repositories; python3 runs the
# test git host (git http-backend plus GitHub/GitLab REST calls); curl: smoke checks.
command -v git >/dev/null || need_apt+=(git)
command -v python3 >/dev/null || need_apt+=(python3)
command -v curl >/dev/null || need_apt+=(curl)
# The web UI is tested in a real headless browser, with axe-core from npm.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing tools: ${need_apt[*]} (install them or run as root)" >&2
    exit 1
  fi
fi

# axe-core (the accessibility checker the browser tests inject), kept with
# the delivery tools outside the clone.
TOOLS=${GREENROOM_TOOLS:-/var/cache/greenroom/tools}
AXE_VERSION=4.14.1
export GREENROOM_AXE_JS=${GREENROOM_AXE_JS:-$TOOLS/axe-$AXE_VERSION/node_modules/axe-core/axe.min.js}
if [ ! -f "$GREENROOM_AXE_JS" ]; then
  mkdir -p "$TOOLS/axe-$AXE_VERSION"
  npm install --prefix "$TOOLS/axe-$AXE_VERSION" --silent --no-audit --no-fund "axe-core@$AXE_VERSION"
fi

