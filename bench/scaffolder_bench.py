"""Times scaffolder tasks and dry runs against a running greenroom.

usage: python3 scaffolder_bench.py BASE_URL TEMPLATE_DIR RUNS
Prints a Markdown table row per measurement.
"""
import base64
import json
import os
import statistics
import sys
import time
import urllib.request

BASE, TEMPLATE_DIR, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3])


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def parse_ms(iso):
    # 2026-11-25T17:05:13.123Z
    t = time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")
    return (time.mktime(t) - time.timezone) * 1000 + int(iso[20:23])


def files():
    out = []
    for root, _, names in os.walk(TEMPLATE_DIR):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, TEMPLATE_DIR)
            if rel == "template.yaml":
                continue
            with open(p, "rb") as f:
                out.append({"path": rel, "base64Content": base64.b64encode(f.read()).decode()})
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def row(label, values):
    print("| %s | %d | %.1f ms | %.1f ms | %.1f ms |" % (
        label, len(values), statistics.median(values), pct(values, 95), max(values)))


client, server = [], []
for i in range(RUNS):
    start = time.perf_counter()
    task = call("POST", "/api/scaffolder/v2/tasks",
                {"templateRef": "template:default/bench-template", "values": {"name": "svc-%d" % i}})
    while True:
        t = call("GET", "/api/scaffolder/v2/tasks/" + task["id"])
        if t["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.002)
    client.append((time.perf_counter() - start) * 1000)
    assert t["status"] == "completed", t
    events = call("GET", "/api/scaffolder/v2/tasks/%s/events" % task["id"])
    done = [e for e in events if e["type"] == "completion"][0]
    server.append(parse_ms(done["createdAt"]) - parse_ms(t["createdAt"]))

entity = call("GET", "/api/catalog/entities/by-name/template/default/bench-template")
body = {"template": entity, "values": {"name": "dry"}, "directoryContents": files()}
dry = []
for _ in range(RUNS):
    start = time.perf_counter()
    result = call("POST", "/api/scaffolder/v2/dry-run", body)
    dry.append((time.perf_counter() - start) * 1000)
    assert len(result["directoryContents"]) == 5, result

row("five-file `fetch:template` task: POST to status `completed` (client, polling every 2 ms)", client)
row("same task: created → completion event (server clock)", server)
row("`POST /v2/dry-run` of the same template (5 files in and out, base64)", dry)
