#!/usr/bin/env bash
# Web UI benchmark: the release server on the generated catalog (default
# 100,000 entities, plus the golden-path template), every page timed with
# bench/ui_bench.py. Writes the table into docs/benchmarks.md.
#
# usage: bench/ui.sh [SIZE] [RUNS]      (default 100000 30)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${1:-100000}
RUNS=${2:-30}
PORT=${PORT:-7098}
dir=$ROOT/bench/out/ui-$SIZE
cargo build --release --locked -p greenroom
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/greenroom
if [ ! -f "$dir/catalog/all.yaml" ]; then
  rm -rf "$dir" && mkdir -p "$dir/catalog"
  python3 bench/gen_catalog.py "$SIZE" "$dir/catalog" >"$dir/count"
fi
# + all.yaml's Location, the two configured locations and the template
expected=$(($(cat "$dir/count") + 4))
cat >"$dir/app-config.yaml" <<YAML
backend:
  listen: {host: 127.0.0.1, port: $PORT}
  database: {client: better-sqlite3, connection: $dir/catalog.sqlite}
catalog:
  locations:
    - {type: file, target: $dir/catalog/all.yaml}
    - {type: file, target: $ROOT/examples/catalog/templates/service-through-cicd/template.yaml}
  processingInterval: {hours: 1}
techdocs:
  publisher: {type: local, local: {publishDirectory: $dir/techdocs}}
YAML
RUST_LOG=warn "$BIN" serve --config "$dir/app-config.yaml" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
count() { curl -sf "http://127.0.0.1:$PORT/api/catalog/entities/by-query?limit=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalItems"])' 2>/dev/null || echo 0; }
until [ "$(count)" -ge "$expected" ]; do
  kill -0 $pid 2>/dev/null || { cat "$dir/server.log"; exit 1; }
  sleep 1
done
# Processing settles (relations stitched) before timing.
sleep 5
table=$(python3 bench/ui_bench.py "http://127.0.0.1:$PORT" "$RUNS")
kb() { awk -v b="$(wc -c <"$1")" 'BEGIN {printf "%.0f", b / 1024}'; }
css_kb=$(kb crates/server/ui/static/ui.css)
js_kb=$(kb crates/server/ui/static/ui.js)
section=$(cat <<MD
<!-- ui:start -->
## Web UI pages

Produced by \`bench/ui.sh $SIZE $RUNS\` on $(nproc) cores, $(date -u +%Y-%m-%d): the release server on the
generated catalog of $(cat "$dir/count") entities (plus the golden-path template), SQLite. Each page is
requested $RUNS times one after another after two warm-ups. *Server render* is the server's own time for
the page (its \`Server-Timing\` header: store queries and template rendering); *request* is the whole
HTTP exchange seen by the client on the same machine; *weight* is the HTML as served, without images
(the stylesheet, $css_kb KB, and script, $js_kb KB, are cached for a year and shared by all pages).

$table
<!-- ui:end -->
MD
)
printf '%s\n' "$section" >bench/results-ui.md
python3 bench/put_section.py ui "$ROOT/docs/benchmarks.md" bench/results-ui.md
echo "$section"
