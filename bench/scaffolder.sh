#!/usr/bin/env bash
# Scaffolder benchmark: the release server with the bench template in its
# catalog; times RUNS five-file fetch:template tasks and RUNS dry runs, and
# writes the table into docs/benchmarks.md (between scaffolder markers).
#
# usage: bench/scaffolder.sh [RUNS]      (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${1:-50}
PORT=${PORT:-7098}
OUT=$ROOT/bench/out/scaffolder
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release --locked -p greenroom
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/greenroom
cat >"$OUT/app-config.yaml" <<YAML
backend:
  listen: {host: 127.0.0.1, port: $PORT}
  database: {client: better-sqlite3, connection: $OUT/db.sqlite}
  workingDirectory: $OUT/work
catalog:
  locations: [{type: file, target: $ROOT/bench/templates/five-files/template.yaml}]
  rules: [{allow: [Template]}]
YAML
RUST_LOG=warn "$BIN" serve --config "$OUT/app-config.yaml" >"$OUT/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/api/catalog/entities/by-name/template/default/bench-template" >/dev/null; do
  kill -0 $pid 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.1
done
rows=$(python3 bench/scaffolder_bench.py "http://127.0.0.1:$PORT" bench/templates/five-files "$RUNS")
section=$(cat <<MD
<!-- scaffolder:start -->
## Scaffolder

Produced by \`bench/scaffolder.sh $RUNS\` on $(nproc) cores, $(date -u +%Y-%m-%d): the release
server with SQLite, $RUNS runs each, one after another. The template is
\`bench/templates/five-files\`: \`fetch:template\` of five files (one with a
20-item loop), then \`debug:log\`.

| measurement | runs | median | p95 | max |
|---|---:|---:|---:|---:|
$rows

The client figure includes creating the task (a validated insert), a worker
claiming it (woken at once), writing every log event to the store, and the
polling client noticing; the server figure is the stored timestamps of the
task and its completion event (millisecond resolution).
<!-- scaffolder:end -->
MD
)
printf '%s\n' "$section" >bench/results-scaffolder.md
python3 bench/put_section.py scaffolder "$ROOT/docs/benchmarks.md" bench/results-scaffolder.md
echo "$section"
