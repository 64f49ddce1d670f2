#!/usr/bin/env python3
"""Vendor the OpenAPI schemas of the custom resources civicgrid's manifests use, from the
CustomResourceDefinitions their projects publish, into this folder (one JSON file per kind).
deploy/check validates the rendered objects against them offline (lib/checks/crds.py).

    deploy/lib/schemas/extract.py SOURCE CRD.yaml [CRD.yaml ...]

SOURCE is recorded in each file (project, release, file). The CRDs are read from files that
you download from the release (no network here); for example, for CloudNativePG 1.30.0:
releases/cnpg-1.30.0.yaml of github.com/cloudnative-pg/cloudnative-pg at tag v1.30.0.

Only the kinds listed in KINDS are written. `description` texts are dropped (they are most of
the size and validate nothing); everything else is kept as published, `x-kubernetes-*`
extensions included. Needs PyYAML.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

KINDS = {
    ("postgresql.cnpg.io", "Cluster"), ("postgresql.cnpg.io", "Database"),
    ("postgresql.cnpg.io", "ScheduledBackup"), ("barmancloud.cnpg.io", "ObjectStore"),
    ("monitoring.coreos.com", "ServiceMonitor"), ("monitoring.coreos.com", "PodMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
}


def strip(node):
    """The schema without its description texts (a property named `description` stays)."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    source, files = sys.argv[1], sys.argv[2:]
    here = Path(__file__).resolve().parent
    for f in files:
        for d in yaml.safe_load_all(Path(f).read_text()):
            if not d or d.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = d["spec"]["group"], d["spec"]["names"]["kind"]
            if (group, kind) not in KINDS:
                continue
            for v in d["spec"]["versions"]:
                if not v.get("served"):
                    continue
                out = here / f"{group}_{v['name']}_{kind}.json"
                body = {"apiVersion": f"{group}/{v['name']}", "kind": kind, "source": source,
                        "crd": d["metadata"]["name"],
                        "schema": strip(v["schema"]["openAPIV3Schema"])}
                out.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
                print(f"{out.name}: {group}/{v['name']} {kind} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
