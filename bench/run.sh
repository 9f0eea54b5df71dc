#!/usr/bin/env bash
# Catalog benchmark: for each size, generate a catalog, start the release
# server on it, time ingestion, read RSS, drive load with wrk, and write the
# table to docs/benchmarks.md.
#
# usage: bench/run.sh [SIZE...]        (default: 1000 10000 100000)
#        DURATION=10s CONNECTIONS=16 bench/run.sh 100000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=("${@:-1000 10000 100000}")
read -r -a SIZES <<<"${SIZES[*]}"
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
OUT=$ROOT/bench/out
PORT=${PORT:-7099}

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
cargo build --release --locked -p greenroom
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/greenroom

now_ms() { date +%s%3N; }
rows=()
for size in "${SIZES[@]}"; do
  dir=$OUT/$size
  rm -rf "$dir" && mkdir -p "$dir/catalog"
  count=$(python3 bench/gen_catalog.py "$size" "$dir/catalog")
  expected=$((count + 2)) # + the all.yaml Location + the configured location
  cat >"$dir/app-config.yaml" <<YAML
backend:
  listen: {host: 127.0.0.1, port: $PORT}
  database: {client: better-sqlite3, connection: $dir/catalog.sqlite}
catalog:
  locations: [{type: file, target: $dir/catalog/all.yaml}]
  processingInterval: {hours: 1}
YAML
  start=$(now_ms)
  RUST_LOG=warn "$BIN" serve --config "$dir/app-config.yaml" >"$dir/server.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  until [ "$(curl -sf "http://127.0.0.1:$PORT/api/catalog/entities/by-query?limit=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalItems"])' 2>/dev/null || echo 0)" -ge "$expected" ]; do
    kill -0 $pid 2>/dev/null || { cat "$dir/server.log"; exit 1; }
    sleep 0.2
  done
  ingest_ms=$(($(now_ms) - start))
  rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  name=$(curl -sf "http://127.0.0.1:$PORT/api/catalog/entities/by-query?filter=kind=component&limit=1&fields=metadata.name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["metadata"]["name"])')
  declare -A paths=(
    [by-name]="/api/catalog/entities/by-name/component/default/$name"
    [by-query page]="/api/catalog/entities/by-query?filter=kind=component&limit=20"
    [filtered list, fields]="/api/catalog/entities?filter=kind=api,spec.type=grpc&fields=metadata.name"
    [facets kind + spec.type]="/api/catalog/entity-facets?facet=kind&facet=spec.type"
    [full text]="/api/catalog/entities/by-query?fullTextFilterTerm=payments&fullTextFilterFields=metadata.name&limit=20"
  )
  for label in "by-name" "by-query page" "filtered list, fields" "facets kind + spec.type" "full text"; do
    report=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$PORT${paths[$label]}")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
    p50=$(awk '$1=="50%" {print $2}' <<<"$report")
    p99=$(awk '$1=="99%" {print $2}' <<<"$report")
    errors=$(grep -c "Non-2xx" <<<"$report" || true)
    rows+=("| $size | $label | $rps | $p50 | $p99 |$( [ "$errors" = 0 ] || echo ' non-2xx!' )")
  done
  rows+=("| $size | **ingestion** | $(awk "BEGIN{printf \"%.1f s\", $ingest_ms/1000}") to ready with $expected entities | RSS $((rss_kb / 1024)) MB | |")
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
done

{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bench/run.sh ${SIZES[*]}\` (wrk: 2 threads, $CONNECTIONS connections, $DURATION per row)"
  echo "on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)."
  echo "Server and load generator share the machine; compare ratios between rows, not absolute numbers."
  echo
  echo "| entities | request | requests/s | p50 | p99 |"
  echo "|---:|---|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  if [ -f bench/notes.md ]; then echo; cat bench/notes.md; fi
  # The scaffolder figures come from bench/scaffolder.sh.
  if [ -f bench/results-scaffolder.md ]; then echo; cat bench/results-scaffolder.md; fi
  # The TechDocs figures come from bench/techdocs.sh.
  if [ -f bench/results-techdocs.md ]; then echo; cat bench/results-techdocs.md; fi
  # The web UI figures come from bench/ui.sh.
  if [ -f bench/results-ui.md ]; then echo; cat bench/results-ui.md; fi
} >docs/benchmarks.md
cat docs/benchmarks.md
