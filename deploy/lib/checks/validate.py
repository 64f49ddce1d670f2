"""`k8s-validate VERSIONS FILE...`: the rendered manifests against the Kubernetes OpenAPI
schemas of each version (kubernetes-validate, strict: unknown fields fail). Custom resources
with a vendored CRD schema (deploy/lib/schemas) are left to `crd-validate` (crds.py)."""

from __future__ import annotations

from pathlib import Path

from .common import fail, load_docs, ok
from .crds import vendored


def cmd_k8s_validate(versions: str, files: list[str]) -> None:
    import kubernetes_validate.utils as kv
    for f in files:
        custom = vendored()
        docs = [d for d in load_docs(f) if (d.get("apiVersion"), d.get("kind")) not in custom]
        for v in versions.split(","):
            errors = []
            for d in docs:
                what = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
                try:
                    kv.validate(d, v, strict=True)
                except kv.ValidationError as e:
                    path = ".".join(str(p) for p in e.path)
                    errors.append(f"{what}: {path}: {e.message}")
                except (kv.SchemaNotFoundError, kv.VersionNotSupportedError,
                        kv.InvalidSchemaError) as e:
                    errors.append(f"{what}: {e.message}")
            if errors:
                for e in errors:
                    fail(f"{Path(f).name} (Kubernetes {v}): {e}")
            else:
                ok(f"{Path(f).name}: {len(docs)} object(s) valid for Kubernetes {v} (strict)")
