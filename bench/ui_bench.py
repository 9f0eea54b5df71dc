#!/usr/bin/env python3
"""Times every page of the web UI against a running server.

For each page: RUNS requests after two warm-ups, one at a time; the server's
own render time (its Server-Timing header) and the page's weight in bytes
(HTML as served, no compression, no images). Prints a Markdown table.

usage: ui_bench.py BASE_URL RUNS
"""
import json
import sys
import time
import urllib.parse
import urllib.request

base, runs = sys.argv[1].rstrip("/"), int(sys.argv[2])


def get(path):
    start = time.perf_counter()
    with urllib.request.urlopen(base + path) as r:
        body = r.read()
        timing = r.headers.get("server-timing", "")
    wall = (time.perf_counter() - start) * 1000
    dur = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
    return body, dur, wall


def api(path):
    return json.loads(get(path)[0])


def first(kind, extra=""):
    found = api(f"/api/catalog/entities/by-query?filter=kind={kind}{extra}&limit=1&orderField=metadata.name,asc")
    e = found["items"][0]
    return f"/catalog/{e['metadata'].get('namespace', 'default')}/{kind}/{urllib.parse.quote(e['metadata']['name'])}"


page1 = get("/catalog")[0].decode()
next_link = page1.split('<a rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
component = first("component")
api_page = first("api", "&filter=kind=api,spec.type=openapi")
pages = [
    ("front page", "/"),
    ("catalog, first page (components)", "/catalog"),
    ("catalog, next page (cursor)", next_link),
    ("catalog, all kinds, text filter", "/catalog?kind=all&q=payments"),
    ("catalog, type + lifecycle, sorted by name desc", "/catalog?kind=component&type=service&lifecycle=production&sort=-name"),
    ("entity: component overview", component),
    ("entity: component YAML", component + "?tab=yaml"),
    ("entity: API definition (OpenAPI)", api_page + "?tab=definition"),
    ("entity: group", first("group")),
    ("entity: system", first("system")),
    ("docs index", "/docs"),
    ("create: templates", "/create"),
    ("create: template form (OwnerPicker)", "/create/templates/default/service-through-cicd"),
    ("tasks", "/create/tasks"),
    ("search", "/search?term=payments"),
    ("register", "/catalog-import"),
    ("catalog health", "/catalog-health"),
    ("settings", "/settings"),
]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


print("| page | path | server render p50 | p95 | request p50 | weight |")
print("|---|---|---:|---:|---:|---:|")
worst_render, worst_size = 0.0, 0
for label, path in pages:
    for _ in range(2):
        get(path)
    server, wall, size = [], [], 0
    for _ in range(runs):
        body, dur, w = get(path)
        server.append(dur)
        wall.append(w)
        size = len(body)
    shown = path if len(path) < 60 else path[:57] + "…"
    p50, p95 = pct(server, 50), pct(server, 95)
    worst_render, worst_size = max(worst_render, p95), max(worst_size, size)
    print(f"| {label} | `{shown}` | {p50:.1f} ms | {p95:.1f} ms | {pct(wall, 50):.1f} ms | {size / 1024:.1f} KB |")
print()
print(f"Slowest p95 render: **{worst_render:.1f} ms** (budget 50 ms); heaviest page: **{worst_size / 1024:.1f} KB** (budget 150 KB).")
