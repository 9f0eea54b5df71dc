#!/usr/bin/env bash
# TechDocs benchmark: a generated 200-page site built by `greenroom techdocs
# build` and by Python `mkdocs build` with mkdocs-techdocs-core (installed
# from PyPI in a virtual environment), RUNS times each, in the same run.
# Writes the medians and their ratio into docs/benchmarks.md.
#
# usage: bench/techdocs.sh [PAGES] [RUNS]      (default 200 5)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAGES=${1:-200}
RUNS=${2:-5}
OUT=$ROOT/bench/out/techdocs
VENV=$ROOT/bench/out/mkdocs-venv
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/mkdocs" ]; then
  command -v python3 >/dev/null && python3 -c 'import venv' 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  }
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q mkdocs-techdocs-core
fi
cargo build --release --locked -p greenroom
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/greenroom
rm -rf "$OUT/src" && python3 bench/gen_docs.py "$PAGES" "$OUT/src" >/dev/null

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
  local label=$1; shift
  for _ in $(seq "$RUNS"); do
    rm -rf "$OUT/site-$label"
    local start; start=$(now_ns)
    "$@" >"$OUT/$label.log" 2>&1
    echo $(( ($(now_ns) - start) / 1000000 ))
  done
}
greenroom_ms=$(time_runs greenroom "$BIN" techdocs build --source-dir "$OUT/src" --output-dir "$OUT/site-greenroom" | median)
mkdocs_ms=$( (cd "$OUT/src" && time_runs mkdocs "$VENV/bin/mkdocs" build -q -d "$OUT/site-mkdocs") | median)
mkdocs_version=$("$VENV/bin/mkdocs" --version | awk '{print $3}')
core_version=$("$VENV/bin/pip" show mkdocs-techdocs-core 2>/dev/null | awk '/^Version/ {print $2}')
ratio=$(awk "BEGIN {printf \"%.0f\", $mkdocs_ms / ($greenroom_ms > 0 ? $greenroom_ms : 1)}")
per_page=$(awk "BEGIN {printf \"%.2f\", $greenroom_ms / $PAGES}")
section=$(cat <<MD
<!-- techdocs:start -->
## TechDocs builds

Produced by \`bench/techdocs.sh $PAGES $RUNS\` on $(nproc) cores, $(date -u +%Y-%m-%d): a generated
site of $PAGES pages (\`bench/gen_docs.py\`: headings, a table, an admonition, Rust and
YAML code blocks, a task list and links on every page, nested nav in 10 sections),
built $RUNS times by each tool in the same run; medians of wall-clock time for the whole
command, process start included.

| builder | median | per page |
|---|---:|---:|
| \`greenroom techdocs build\` (release) | $greenroom_ms ms | $per_page ms |
| \`mkdocs build\` $mkdocs_version with mkdocs-techdocs-core $core_version (Python $(python3 -c 'import platform; print(platform.python_version())')) | $mkdocs_ms ms | $(awk "BEGIN {printf \"%.2f\", $mkdocs_ms / $PAGES}") ms |

greenroom is **${ratio}×** faster here, with no Python and no Docker. Both produce
every page, the search index and the assets; mkdocs also writes the Material
theme's JavaScript, fonts and a sitemap, which greenroom's pages do not need.
<!-- techdocs:end -->
MD
)
printf '%s\n' "$section" >bench/results-techdocs.md
python3 bench/put_section.py techdocs "$ROOT/docs/benchmarks.md" bench/results-techdocs.md
echo "$section"
