#!/usr/bin/env python3
"""Generates a realistic synthetic Backstage catalog of about N entities.

Groups with members, systems in domains, components with owners, dependsOn and
providesApis/consumesApis, APIs and resources, split over files of 1,000
entities and one Location (all.yaml) that lists them. Deterministic (seeded).

usage: gen_catalog.py N OUT_DIR
"""
import json
import os
import random
import sys

WORDS = ["amber", "bold", "brave", "calm", "cobalt", "crimson", "fancy", "golden", "jolly", "lunar",
         "noble", "nova", "proud", "silver", "swift", "urban", "vivid", "zesty"]
AREAS = ["analytics", "audit", "billing", "cart", "catalog", "checkout", "coupons", "fraud", "identity",
         "loyalty", "notify", "orders", "payments", "profile", "recommend", "refunds", "reports", "reviews",
         "risk", "search", "session", "shipping"]
LANGS = ["java", "go", "python", "rust", "typescript", "kotlin", "scala", "ruby"]


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    os.makedirs(out, exist_ok=True)
    counts = {
        "domain": max(2, n // 200), "group": max(3, n // 50), "user": max(5, n * 15 // 100),
        "system": max(3, n * 3 // 100), "api": max(5, n * 20 // 100), "resource": max(3, n * 14 // 100),
    }
    counts["component"] = max(5, n - sum(counts.values()))
    name = lambda kind, i: f"{rnd.choice(WORDS)}-{rnd.choice(AREAS)}-{kind}{i:06d}"
    names = {k: [name(k[:3], i) for i in range(c)] for k, c in counts.items()}
    entities = []
    meta = lambda n_, extra=None: {"name": n_, **(extra or {})}
    for i, d in enumerate(names["domain"]):
        entities.append({"kind": "Domain", "metadata": meta(d, {"description": f"Domain {d}"}),
                         "spec": {"owner": f"group:{names['group'][i % counts['group']]}"}})
    members = {g: [] for g in names["group"]}
    for u in names["user"]:
        members[rnd.choice(names["group"])].append(u)
    for g in names["group"]:
        entities.append({"kind": "Group", "metadata": meta(g, {"title": g.replace("-", " ").title()}),
                         "spec": {"type": "team", "children": [], "members": members[g],
                                  "profile": {"email": f"{g}@example.com"}}})
    for u in names["user"]:
        entities.append({"kind": "User", "metadata": meta(u),
                         "spec": {"memberOf": [], "profile": {"displayName": u.title(), "email": f"{u}@example.com"}}})
    for s in names["system"]:
        entities.append({"kind": "System", "metadata": meta(s, {"description": f"System {s}"}),
                         "spec": {"owner": rnd.choice(names["group"]), "domain": rnd.choice(names["domain"])}})
    for a in names["api"]:
        entities.append({"kind": "API", "metadata": meta(a, {"tags": ["rest"]}),
                         "spec": {"type": rnd.choice(["openapi", "openapi", "asyncapi", "grpc"]),
                                  "lifecycle": rnd.choice(["production", "experimental"]),
                                  "owner": rnd.choice(names["group"]), "system": rnd.choice(names["system"]),
                                  "definition": "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n"}})
    for r in names["resource"]:
        entities.append({"kind": "Resource", "metadata": meta(r),
                         "spec": {"type": rnd.choice(["database", "queue", "cache", "s3-bucket"]),
                                  "owner": rnd.choice(names["group"]), "system": rnd.choice(names["system"])}})
    for c in names["component"]:
        spec = {"type": rnd.choice(["service", "service", "website", "library"]),
                "lifecycle": rnd.choice(["production", "experimental", "deprecated"]),
                "owner": f"group:default/{rnd.choice(names['group'])}", "system": rnd.choice(names["system"]),
                "providesApis": rnd.sample(names["api"], k=rnd.randint(0, 2)),
                "consumesApis": rnd.sample(names["api"], k=rnd.randint(0, 3)),
                "dependsOn": [f"component:default/{x}" for x in rnd.sample(names["component"], k=rnd.randint(0, 2))]
                + [f"resource:default/{x}" for x in rnd.sample(names["resource"], k=rnd.randint(0, 1))]}
        entities.append({"kind": "Component",
                         "metadata": meta(c, {"title": c.replace("-", " ").title(),
                                              "description": f"Service that handles {rnd.choice(AREAS)} for {rnd.choice(AREAS)}",
                                              "tags": [rnd.choice(LANGS), f"tier-{rnd.randint(1, 3)}"],
                                              "annotations": {"github.com/project-slug": f"example/{c}"}}),
                         "spec": spec})
    files = []
    for start in range(0, len(entities), 1000):
        fname = f"entities-{start // 1000:04d}.yaml"
        with open(os.path.join(out, fname), "w") as f:
            for e in entities[start:start + 1000]:
                f.write("---\n" + json.dumps({"apiVersion": "backstage.io/v1alpha1", **e}) + "\n")
        files.append("./" + fname)
    with open(os.path.join(out, "all.yaml"), "w") as f:
        f.write(json.dumps({"apiVersion": "backstage.io/v1alpha1", "kind": "Location",
                            "metadata": {"name": "generated"}, "spec": {"targets": files}}) + "\n")
    print(len(entities))


if __name__ == "__main__":
    main()
