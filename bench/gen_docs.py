"""Generates a docs site of N pages for the TechDocs benchmark.

usage: python3 gen_docs.py N OUT_DIR
Every page has headings, prose, a table, an admonition, code blocks in two
languages, a task list and links to its neighbours, in 10 sections.
"""
import os
import sys

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(os.path.join(out, "docs"), exist_ok=True)
nav = ["  - Home: index.md"]
sections = {}
for i in range(1, n):
    sections.setdefault(i % 10, []).append(i)
for s, pages in sorted(sections.items()):
    os.makedirs(os.path.join(out, "docs", "section-%d" % s), exist_ok=True)
    nav.append("  - Section %d:" % s)
    for i in pages:
        nav.append("      - section-%d/page-%d.md" % (s, i))


def page(i, s):
    prev_link = "page-%d.md" % (i - 10) if i > 10 else "../index.md"
    return """# Page {i}

Page {i} of section {s} explains one part of the service. It links to the
[previous page]({prev}) and back to the [home page](../index.md).

## Overview

| Setting | Default | Meaning |
|---|---|---|
| `replicas` | 2 | how many pods run |
| `timeout` | 30s | how long a request may take |
| `region` | eu-west-1 | where it runs |

!!! note "Remember"
    Settings of page {i} apply to **every** environment unless overridden.

## Example

```rust
fn handle(request: Request) -> Response {{
    let id = request.param("id").unwrap_or_default();
    Response::ok(format!("page {i}: {{id}}"))
}}
```

```yaml
service:
  name: page-{i}
  replicas: 2
```

## Checklist

- [x] documented
- [ ] reviewed by the team

Further reading in the operations guide; this paragraph exists so that
every page has enough prose to index and render, like a real page would.
""".format(i=i, s=s, prev=prev_link)


with open(os.path.join(out, "docs", "index.md"), "w") as f:
    f.write("# Benchmark docs\n\nA generated site of %d pages.\n" % n)
for s, pages in sections.items():
    for i in pages:
        with open(os.path.join(out, "docs", "section-%d" % s, "page-%d.md" % i), "w") as f:
            f.write(page(i, s))
with open(os.path.join(out, "mkdocs.yml"), "w") as f:
    f.write("site_name: Benchmark docs\nnav:\n" + "\n".join(nav) + "\nplugins:\n  - techdocs-core\n")
print(n)
