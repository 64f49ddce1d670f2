"""`crd-validate FILE...`: the custom resources of the rendered manifests (CloudNativePG's
Cluster, Database and ScheduledBackup, the Barman Cloud Plugin's ObjectStore, the Prometheus
Operator's ServiceMonitor, PodMonitor and PrometheusRule) against the OpenAPI schemas of their
published CustomResourceDefinitions, vendored in deploy/lib/schemas (extract.py there says
from which release; no package on PyPI or npm ships them).

Strict, as the API server is with field validation on: an object may not carry a field its
schema does not declare (unless the schema keeps unknown fields,
x-kubernetes-preserve-unknown-fields). Not checked: the CRDs' CEL rules
(x-kubernetes-validations, counted in the output) and the operators' admission webhooks;
only a live cluster runs those.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import fail, load_docs, ok

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def vendored() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the vendored file's content."""
    out = {}
    for f in sorted(SCHEMAS.glob("*.json")):
        body = json.loads(f.read_text())
        out[(body["apiVersion"], body["kind"])] = body
    return out


def _strict(node, cel: list[int]):
    """A copy of the schema where every object with declared properties refuses others."""
    if isinstance(node, list):
        return [_strict(v, cel) for v in node]
    if not isinstance(node, dict):
        return node
    if "x-kubernetes-validations" in node:
        cel[0] += len(node["x-kubernetes-validations"])
    out = {}
    for k, v in node.items():
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {name: _strict(s, cel) for name, s in v.items()}
        else:
            out[k] = _strict(v, cel)
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def cmd_crd_validate(files: list[str]) -> None:
    import jsonschema
    schemas = vendored()
    validators, cel = {}, {}
    for key, body in schemas.items():
        n = [0]
        validators[key] = jsonschema.Draft4Validator(_strict(body["schema"], n))
        cel[key] = n[0]
    used = set()
    for f in files:
        for d in load_docs(f):
            key = (str(d.get("apiVersion")), d.get("kind"))
            group = key[0].rsplit("/", 1)[0] if "/" in key[0] else ""
            if "." not in group or group.endswith(".k8s.io"):
                continue  # a built-in kind: kubernetes-validate checks it (validate.py)
            what = f"{Path(f).name}: {key[1]}/{d.get('metadata', {}).get('name')} ({key[0]})"
            v = validators.get(key)
            if v is None:
                fail(f"{what}: no vendored schema in deploy/lib/schemas for this kind")
                continue
            used.add(key)
            errors = sorted(v.iter_errors(d), key=lambda e: list(e.absolute_path))
            for e in errors:
                fail(f"{what}: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
            if not errors:
                ok(f"{what}: valid against {schemas[key]['crd']} (strict)")
    for key in sorted(used):
        ok(f"{key[1]} ({key[0]}): schema of {schemas[key]['source'].split(':')[0]}; "
           f"{cel[key]} CEL rule(s) not evaluated offline")
