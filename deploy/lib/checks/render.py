"""`kustomize-fallback DIR OUT`: render a kustomization without kustomize, the last resort of
deploy/check's render step when there is neither a kubectl nor PyPI's (CIVICGRID_KUBECTL=none).

It understands a small subset of kustomize: resources (files, folders), namespace, labels,
images, configMapGenerator (files/literals, no hash suffix). Patches are not applied; it says so.
"""

from __future__ import annotations

from pathlib import Path

from .common import containers, load_docs, ok


def _kustomize(dir_: Path) -> list[dict]:
    """A small subset of kustomize: resources (files, folders), namespace, labels, images,
    configMapGenerator (files/literals, no hash suffix). Patches are not applied (reported)."""
    import yaml
    k = yaml.safe_load((dir_ / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for r in k.get("resources", []):
        p = (dir_ / r).resolve()
        if p.is_dir():
            docs += _kustomize(p)
        else:
            docs += load_docs(p)
    for g in k.get("configMapGenerator", []):
        data = {}
        for f in g.get("files", []):
            key, _, src = f.partition("=") if "=" in f else (Path(f).name, "", f)
            data[key] = (dir_ / src).read_text()
        for lit in g.get("literals", []):
            key, _, val = lit.partition("=")
            data[key] = val
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": g["name"]}, "data": data})
    if k.get("patches") or k.get("patchesStrategicMerge") or k.get("patchesJson6902"):
        print(f"  note  {dir_}: patches are not applied by the fallback renderer")
    ns = k.get("namespace")
    for d in docs:
        md = d.setdefault("metadata", {})
        if ns and d.get("kind") != "Namespace":
            md["namespace"] = ns
        for lab in k.get("labels", []):
            md.setdefault("labels", {}).update(lab.get("pairs", {}))
            tmpl = d.get("spec", {}).get("template") if isinstance(d.get("spec"), dict) else None
            if lab.get("includeTemplates") and tmpl:
                tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(lab["pairs"])
        for img in k.get("images", []):
            for c in containers(d):
                name, _, tag = c.get("image", "").partition(":")
                if name == img["name"]:
                    c["image"] = img.get("newName", name) + ":" + img.get("newTag", tag or "latest")
    return docs


def cmd_kustomize_fallback(dir_: str, out: str) -> None:
    import yaml
    docs = _kustomize(Path(dir_))
    Path(out).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    ok(f"{dir_}: {len(docs)} object(s) rendered by the fallback renderer")
