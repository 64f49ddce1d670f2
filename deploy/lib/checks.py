#!/usr/bin/env python3
"""Checks behind deploy/check. Each subcommand prints what it checked and exits non-zero on a
failure. Needs PyYAML (and kubernetes-validate for `k8s-validate`) on PYTHONPATH: deploy/check
installs them into its cache and sets PYTHONPATH.

    checks.py yaml FILE...                     every YAML document parses
    checks.py kustomize-fallback DIR OUT       render a kustomization without kustomize
    checks.py k8s-validate VERSIONS FILE...    schema-validate rendered manifests (strict)
    checks.py crossref ROOT FILE...            references between rendered objects
    checks.py auth-fresh ROOT                  deploy/k8s/nats/auth.conf == gen-auth.py output
    checks.py code-drift ROOT                  gen-auth.py and base/ against the Rust code
    checks.py emit-secret ROOT VERSION         gen-auth.py --emit-secret is a valid Secret
    checks.py nats-config ROOT NATS_SERVER FILE...  nats-server -t on the rendered NATS config
    checks.py nats-perms ROOT NATS_SERVER      a real nats-server enforces the permissions
    checks.py dockerfile ROOT                  structure of deploy/Dockerfile and its ignore file
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAILURES: list[str] = []


def ok(msg: str) -> None:
    print(f"  ok    {msg}")


def fail(msg: str) -> None:
    print(f"  FAIL  {msg}")
    FAILURES.append(msg)


def check(cond: bool, msg: str) -> bool:
    (ok if cond else fail)(msg)
    return cond


def load_docs(path: str | Path) -> list[dict]:
    import yaml
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def gen_auth_module(root: Path):
    spec = importlib.util.spec_from_file_location("gen_auth", root / "deploy/nats/gen-auth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------------------- yaml

def cmd_yaml(files: list[str]) -> None:
    import yaml
    for f in files:
        try:
            n = len(load_docs(f))
            ok(f"{f}: {n} document(s) parse")
        except yaml.YAMLError as e:
            fail(f"{f}: {e}")


# ------------------------------------------------------------------------- kustomize fallback

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
            for c in _containers(d):
                name, _, tag = c.get("image", "").partition(":")
                if name == img["name"]:
                    c["image"] = img.get("newName", name) + ":" + img.get("newTag", tag or "latest")
    return docs


def cmd_kustomize_fallback(dir_: str, out: str) -> None:
    import yaml
    docs = _kustomize(Path(dir_))
    Path(out).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    ok(f"{dir_}: {len(docs)} object(s) rendered by the fallback renderer")


# ------------------------------------------------------------------------------ k8s validate

def cmd_k8s_validate(versions: str, files: list[str]) -> None:
    import kubernetes_validate.utils as kv
    for f in files:
        docs = load_docs(f)
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


# ---------------------------------------------------------------------------------- crossref

def _pod_spec(d: dict) -> dict | None:
    if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return d["spec"]["template"]["spec"]
    return None


def _containers(d: dict) -> list[dict]:
    ps = _pod_spec(d) if isinstance(d.get("spec"), dict) else None
    return (ps.get("initContainers", []) + ps.get("containers", [])) if ps else []


def _size_bytes(q: str) -> float:
    m = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", str(q))
    units = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "KB": 1024, "MB": 1024**2,
             "GB": 1024**3, "TB": 1024**4, "KI": 1024, "MI": 1024**2, "GI": 1024**3,
             "TI": 1024**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
    return float(m.group(1)) * units[m.group(2).upper()]


def config_keys(root: Path) -> set[str] | None:
    """CIVICGRID__SECTION__KEY names derived from crates/kit/src/config.rs, if it exists."""
    src = root / "crates/kit/src/config.rs"
    if not src.exists():
        return None
    text = src.read_text()
    structs = {m.group(1): re.findall(r"^\s*pub (\w+):", m.group(2), re.M)
               for m in re.finditer(r"pub struct (\w+)\s*\{(.*?)\n\}", text, re.S)}
    common = re.search(r"pub struct CommonSettings\s*\{(.*?)\n\}", text, re.S)
    if not common:
        return None
    keys = set()
    for section, typ in re.findall(r"^\s*pub (\w+):\s*(\w+)", common.group(1), re.M):
        for field in structs.get(typ, []):
            keys.add(f"CIVICGRID__{section.upper()}__{field.upper()}")
    return keys


def _rust_structs(text: str) -> dict[str, list[tuple[str, str]]]:
    """`pub struct Name { pub field: Type, ... }` -> {Name: [(field, first identifier of Type)]}."""
    return {m.group(1): re.findall(r"^\s*pub (\w+):\s*(\w+)", m.group(2), re.M)
            for m in re.finditer(r"pub struct (\w+)\s*\{(.*?)\n\}", text, re.S)}


def service_config_keys(root: Path, service: str) -> set[str] | None:
    """CIVICGRID__<SERVICE>__... names of the service's own section, nested sections included
    (`[notify.sms] url` -> CIVICGRID__NOTIFY__SMS__URL), from services/<name>/src/config.rs."""
    src = root / "services" / service / "src/config.rs"
    if not src.exists():
        return None
    structs = _rust_structs(src.read_text())
    top = dict(structs.get("Settings", []))
    if service not in top:
        return None
    keys: set[str] = set()

    def walk(typ: str, prefix: str, depth: int = 0) -> None:
        for field, ftyp in structs.get(typ, []):
            if ftyp in structs and depth < 4:
                walk(ftyp, f"{prefix}__{field.upper()}", depth + 1)
            else:
                keys.add(f"{prefix}__{field.upper()}")

    walk(top[service], f"CIVICGRID__{service.upper()}")
    return keys


# Keys a service requires only in some configurations: key -> (the key that decides, its value
# that makes the first one required). Every other `ConfigError::Missing` key is always required.
CONDITIONAL_KEYS = {"CIVICGRID__NOTIFY__SMS__URL": ("CIVICGRID__NOTIFY__SMS__PROVIDER", "http")}

# Values that must come from a Secret wherever they are set (a database URL holds a password).
SECRET_KEY_RE = re.compile(r"^CIVICGRID__(DATABASE__URL|.*(_KEY|_SECRET|_PASSWORD|__AUTHORIZATION))$")


def service_required_keys(root: Path, service: str) -> set[str]:
    """Environment names of the keys the service's code refuses to start without
    (`ConfigError::Missing { key: "notify.contact_key", .. }` -> CIVICGRID__NOTIFY__CONTACT_KEY)."""
    keys = set()
    src = root / "services" / service / "src"
    for f in src.rglob("*.rs") if src.exists() else []:
        for key in re.findall(r'ConfigError::Missing\s*\{\s*key:\s*"([\w.]+)"', f.read_text()):
            keys.add("CIVICGRID__" + "__".join(part.upper() for part in key.split(".")))
    return keys


def service_consumers(root: Path, service: str) -> tuple[list[tuple[str, str, tuple[str, ...]]], list[str]]:
    """The durable consumers a service's code runs, as (source service, durable, filter
    subjects), read from its `ConsumerSpec { .. }` literals, plus what could not be read.

    Two shapes are understood: a literal `stream: bus::stream_name("intake"), durable: CONST,
    filter_subjects: subjects_fn()`, and `stream: bus::stream_name(source)` inside a loop over
    tuples `("intake", CONST, subjects_fn())`. CONST is a `&str` constant of the crate, and
    subjects_fn returns a `vec![...]` of string literals."""
    src = root / "services" / service / "src"
    files = {f: f.read_text() for f in src.rglob("*.rs")} if src.exists() else {}
    everything = "\n".join(files.values())
    consts = dict(re.findall(r'const (\w+): &str = "([^"]+)";', everything))
    fns = {m.group(1): tuple(re.findall(r'"([^"]+)"', m.group(2)))
           for m in re.finditer(r"fn (\w+)\(\) -> Vec<String> \{\s*vec!\[(.*?)\]", everything, re.S)}
    path = r"(?:\w+::)*"

    def durable_of(token: str) -> str | None:
        m = re.fullmatch(r'"([^"]+)"(?:\.\w+\(\))?|' + path + r"(\w+)(?:\.\w+\(\))?", token.strip())
        if not m:
            return None
        return m.group(1) if m.group(1) else consts.get(m.group(2))

    def subjects_of(token: str) -> tuple[str, ...] | None:
        m = re.fullmatch(path + r"(\w+)\(\)", token.strip())
        return fns.get(m.group(1)) if m else None

    found: list[tuple[str, str, tuple[str, ...]]] = []
    unread: list[str] = []
    for f, text in files.items():
        where = f.relative_to(root)
        for m in re.finditer(r"ConsumerSpec\s*\{(.*?)\}", text, re.S):
            fields = dict(re.findall(r"(\w+):\s*([^,]+(?:\([^)]*\))?[^,]*),", m.group(1) + ","))
            stream = re.fullmatch(r"\s*bus::stream_name\((.*)\)\s*", fields.get("stream", ""))
            if stream and re.fullmatch(r'"\w+"', stream.group(1).strip()):
                source = stream.group(1).strip().strip('"')
                durable = durable_of(fields.get("durable", ""))
                subjects = subjects_of(fields.get("filter_subjects", ""))
                if durable and subjects is not None:
                    found.append((source, durable, subjects))
                    continue
            elif stream:
                # A loop over ("source", DURABLE, subjects()) tuples in the same file.
                tuples = re.findall(r'\(\s*"(\w+)",\s*(' + path + r'\w+),\s*(' + path + r'\w+\(\))\s*,?\s*\)', text)
                read = [(s, durable_of(d), subjects_of(fs)) for s, d, fs in tuples]
                if read and all(d and fs is not None for _, d, fs in read):
                    found += [(s, d, fs) for s, d, fs in read]
                    continue
            unread.append(f"{where}: ConsumerSpec {{{' '.join(m.group(1).split())}}}")
    return sorted(set(found)), unread


def cmd_crossref(root: str, files: list[str]) -> None:
    root_p = Path(root)
    docs = [d for f in files for d in load_docs(f)]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}

    def data_keys(kind: str, name: str) -> set[str] | None:
        d = by.get((kind, name))
        if d is None:
            return None
        return set(d.get("data", {}) or {}) | set(d.get("stringData", {}) or {})

    # Namespaces.
    nss = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    check(nss == {"civicgrid"}, f"every object is in namespace civicgrid (found {sorted(map(str, nss))})")
    check(("Namespace", "civicgrid") in by, "the Namespace civicgrid is defined")

    workloads = [d for d in docs if _pod_spec(d) is not None]
    for w in workloads:
        wname = f"{w['kind']}/{w['metadata']['name']}"
        ps = _pod_spec(w)
        tlabels = w["spec"]["template"]["metadata"].get("labels", {})
        sel = w["spec"]["selector"]["matchLabels"]
        check(all(tlabels.get(k) == v for k, v in sel.items()),
              f"{wname}: selector matches its pod template labels")
        check(ps.get("securityContext", {}).get("runAsNonRoot") is True,
              f"{wname}: pods run as non-root")
        check("terminationGracePeriodSeconds" in ps, f"{wname}: sets terminationGracePeriodSeconds")
        vols = {v["name"]: v for v in ps.get("volumes", [])}
        for v in vols.values():
            if "configMap" in v:
                check(("ConfigMap", v["configMap"]["name"]) in by,
                      f"{wname}: volume {v['name']} -> ConfigMap {v['configMap']['name']} exists")
            if "secret" in v:
                check(("Secret", v["secret"]["secretName"]) in by,
                      f"{wname}: volume {v['name']} -> Secret {v['secret']['secretName']} exists")
        for c in _containers(w):
            cname = f"{wname} container {c['name']}"
            res = c.get("resources", {})
            check(bool(res.get("requests", {}).get("cpu")) and bool(res.get("requests", {}).get("memory"))
                  and bool(res.get("limits", {}).get("memory")),
                  f"{cname}: cpu/memory requests and a memory limit are set")
            sc = c.get("securityContext", {})
            check(sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True,
                  f"{cname}: no privilege escalation, read-only root filesystem")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            for pname in ("startupProbe", "readinessProbe", "livenessProbe"):
                pr = c.get(pname)
                if not pr:
                    continue
                port = (pr.get("grpc") or pr.get("httpGet") or pr.get("tcpSocket") or {}).get("port")
                check(port in ports or port in ports.values(),
                      f"{cname}: {pname} port {port} is a container port")
            for m in c.get("volumeMounts", []):
                check(m["name"] in vols or any(t["metadata"]["name"] == m["name"]
                      for t in w["spec"].get("volumeClaimTemplates", [])),
                      f"{cname}: volumeMount {m['name']} has a volume")
            # Environment sources.
            env: dict[str, object] = {}
            for ef in c.get("envFrom", []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in ef:
                        name = ef[key]["name"]
                        keys = data_keys(kind, name)
                        if check(keys is not None, f"{cname}: envFrom {kind} {name} exists"):
                            for k2 in keys:
                                env[k2] = (kind, name)
            for e in c.get("env", []):
                vf = e.get("valueFrom", {})
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if key in vf:
                        ref = vf[key]
                        keys = data_keys(kind, ref["name"])
                        check(keys is not None and ref["key"] in keys,
                              f"{cname}: env {e['name']} -> {kind} {ref['name']} key {ref['key']} exists")
                env[e["name"]] = e
            if c.get("image", "").split(":")[0].split("/")[-1] == "civicgrid":
                _check_civicgrid_container(root_p, by, cname, c, env)
            if c.get("image", "").split(":")[0].split("/")[-1] == "nats":
                _check_nats_container(by, w, cname, c, env)

    # Every service of gen-auth.py is deployed in the same shape: a Deployment running it with
    # all three probes, its ConfigMap and Secret, a Service and a PodDisruptionBudget.
    for svc in gen_auth_module(root_p).SERVICES:
        dep = by.get(("Deployment", svc))
        if not check(dep is not None, f"service {svc}: Deployment/{svc} is rendered"):
            continue
        c = next((c for c in _containers(dep) if c.get("args") == ["service", svc]), None)
        if not check(c is not None, f"service {svc}: Deployment/{svc} runs `civicgrid service {svc}`"):
            continue
        check(all(c.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe")),
              f"service {svc}: startup, readiness and liveness probes are set")
        refs = {(kind, ef[key]["name"]) for ef in c.get("envFrom", [])
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")) if key in ef}
        for ref in (("ConfigMap", f"civicgrid-{svc}"), ("Secret", f"civicgrid-{svc}")):
            check(ref in refs and ref in by, f"service {svc}: reads {ref[0]} {ref[1]}, which exists")
        for kind in ("Service", "PodDisruptionBudget"):
            check((kind, svc) in by, f"service {svc}: {kind}/{svc} exists")

    for d in docs:
        if d["kind"] == "Service":
            sel = d["spec"].get("selector", {})
            targets = [w for w in workloads
                       if all(w["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                              for k, v in sel.items())]
            check(len(targets) == 1, f"Service/{d['metadata']['name']}: selector picks one workload")
            for t in targets:
                names = {p.get("name") for c in _containers(t) for p in c.get("ports", [])}
                nums = {p["containerPort"] for c in _containers(t) for p in c.get("ports", [])}
                for p in d["spec"]["ports"]:
                    tp = p.get("targetPort", p["port"])
                    check(tp in names or tp in nums,
                          f"Service/{d['metadata']['name']}: port {p['port']} -> target {tp} exists")
        if d["kind"] == "PodDisruptionBudget":
            sel = d["spec"]["selector"]["matchLabels"]
            check(any(w["spec"]["selector"]["matchLabels"] == sel for w in workloads),
                  f"PodDisruptionBudget/{d['metadata']['name']}: selector matches a workload")
        if d["kind"] == "StatefulSet":
            svc = d["spec"]["serviceName"]
            s = by.get(("Service", svc))
            check(s is not None and s["spec"].get("clusterIP") == "None",
                  f"StatefulSet/{d['metadata']['name']}: serviceName {svc} is a headless Service")


def _check_civicgrid_container(root: Path, by: dict, cname: str, c: dict, env: dict) -> None:
    args = c.get("args", [])
    if not check(len(args) == 2 and args[0] == "service", f"{cname}: runs `civicgrid service <name>`"):
        return
    service = args[1]
    known = config_keys(root)
    if known is None:
        print("  note  crates/kit/src/config.rs not found: config key names not cross-checked")
    civic = sorted(k for k in env if k.startswith("CIVICGRID__"))
    own = service_config_keys(root, service)
    for k in civic:
        if k.startswith(f"CIVICGRID__{service.upper()}__"):
            # The service's own section, from services/<name>/src/config.rs.
            if own is not None:
                check(k in own, f"{cname}: {k} is a key of services/{service}/src/config.rs")
            continue
        if known is not None:
            check(k in known, f"{cname}: {k} is a key of crates/kit/src/config.rs")
        else:
            check(re.fullmatch(r"CIVICGRID__[A-Z_]+__[A-Z_]+", k) is not None, f"{cname}: {k} is well formed")
    # The kit's required keys, the token key, and every key the service's code refuses to
    # start without (in the configuration these manifests choose).
    required = {"CIVICGRID__NATS__URL", "CIVICGRID__DATABASE__URL", "CIVICGRID__AUTH__HS256_SECRET"}
    for k in sorted(service_required_keys(root, service)):
        decider, value = CONDITIONAL_KEYS.get(k, (None, None))
        if decider is None or _env_value(by, env, decider) == value:
            required.add(k)
    for k in sorted(required):
        check(k in env, f"{cname}: {k} is set")
    for k in civic:
        src = env.get(k)
        if not SECRET_KEY_RE.match(k):
            continue
        secret = (isinstance(src, tuple) and src[0] == "Secret") or (
            isinstance(src, dict) and "secretKeyRef" in src.get("valueFrom", {}))
        check(secret, f"{cname}: {k} comes from a Secret")
    # The NATS user must exist in the generated auth.conf, and its password key must match.
    user = None
    for (kind, name), d in by.items():
        if kind == "ConfigMap" and env.get("CIVICGRID__NATS__USER") == (kind, name):
            user = d["data"]["CIVICGRID__NATS__USER"]
    if check(user is not None, f"{cname}: CIVICGRID__NATS__USER comes from a ConfigMap"):
        auth = next((d["data"]["auth.conf"] for (k, _), d in by.items()
                     if k == "ConfigMap" and "auth.conf" in d.get("data", {})), None)
        if auth is not None:
            check(re.search(r'user: "%s"' % re.escape(user), auth) is not None,
                  f"{cname}: NATS user {user!r} is defined in auth.conf")
        ga = gen_auth_module(root)
        pw = env.get("CIVICGRID__NATS__PASSWORD")
        key = pw.get("valueFrom", {}).get("secretKeyRef", {}).get("key") if isinstance(pw, dict) else None
        check(key == ga.password_var(user),
              f"{cname}: CIVICGRID__NATS__PASSWORD is the Secret key {ga.password_var(user)} that nats-server uses")
    check(any(p.get("containerPort") == 50051 for p in c.get("ports", [])), f"{cname}: exposes gRPC 50051")
    for pname in ("readinessProbe", "livenessProbe"):
        check("grpc" in c.get(pname, {}), f"{cname}: {pname} is a native gRPC probe")


def _env_value(by: dict, env: dict, key: str) -> str | None:
    """The plain value a container gets for `key`: from an envFrom ConfigMap or a `value`."""
    src = env.get(key)
    if isinstance(src, tuple) and src[0] == "ConfigMap":
        return str(by[src]["data"][key])
    if isinstance(src, dict) and "value" in src:
        return str(src["value"])
    return None


def _check_nats_container(by: dict, w: dict, cname: str, c: dict, env: dict) -> None:
    cm_vol = next((v["configMap"]["name"] for v in _pod_spec(w).get("volumes", []) if "configMap" in v), None)
    cm = by.get(("ConfigMap", cm_vol))
    if not check(cm is not None, f"{cname}: nats config ConfigMap is mounted"):
        return
    text = "\n".join(cm["data"].values())
    used = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        used |= set(re.findall(r"(?<![\"\w.])\$([A-Za-z_][A-Za-z0-9_]*)", line))
    for v in sorted(used):
        check(v in env, f"{cname}: ${v} used by the NATS config is provided to the container")
    routes = re.findall(r"nats://([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):6222", text)
    replicas = w["spec"]["replicas"]
    check(sorted(int(r[1]) for r in routes) == list(range(replicas))
          and all(r[0] == w["metadata"]["name"] and r[2] == w["spec"]["serviceName"] for r in routes),
          f"{cname}: cluster routes name exactly the {replicas} pods through {w['spec']['serviceName']}")
    mfs = env.get("JETSTREAM_MAX_FILE_STORE")
    vct = w["spec"].get("volumeClaimTemplates", [])
    if isinstance(mfs, dict) and vct:
        pvc = vct[0]["spec"]["resources"]["requests"]["storage"]
        check(_size_bytes(mfs["value"]) < _size_bytes(pvc),
              f"{cname}: JetStream max_file_store {mfs['value']} fits its volume {pvc}")


# --------------------------------------------------------------------------------- gen-auth

def cmd_auth_fresh(root: str) -> None:
    root_p = Path(root)
    auth = root_p / "deploy/k8s/nats/auth.conf"
    text = auth.read_text()
    m = re.match(r"# Generated by deploy/nats/gen-auth.py([^\n]*?)\. Do not edit:", text)
    if not check(m is not None, "auth.conf has the gen-auth.py header"):
        return
    args = shlex.split(m.group(1))
    out = subprocess.run([sys.executable, str(root_p / "deploy/nats/gen-auth.py"), *args],
                         capture_output=True, text=True, check=False)
    check(out.returncode == 0 and out.stdout == text,
          f"deploy/k8s/nats/auth.conf is exactly `gen-auth.py {' '.join(args)}` (regenerate it if not)")
    # Every user's password variable has a key in the Secret template.
    tmpl = root_p / "deploy/k8s/base/secrets/nats-users.secret.yaml"
    keys = set(load_docs(tmpl)[0]["stringData"])
    for var in re.findall(r"password: \$(\w+)", text):
        check(var in keys, f"{tmpl.name} has a placeholder for {var}")
    bad = subprocess.run([sys.executable, str(root_p / "deploy/nats/gen-auth.py"), "--county", "411600"],
                         capture_output=True, text=True, check=False)
    check(bad.returncode == 2, "gen-auth.py refuses a city code as --county")


def cmd_emit_secret(root: str, version: str) -> None:
    import kubernetes_validate.utils as kv
    out = subprocess.run([sys.executable, str(Path(root) / "deploy/nats/gen-auth.py"),
                          "--county", "411602", "--county", "411603", "--emit-secret"],
                         capture_output=True, text=True, check=True).stdout
    import yaml
    d = yaml.safe_load(out)
    try:
        kv.validate(d, version, strict=True)
        ok("gen-auth.py --emit-secret prints a valid Secret")
    except Exception as e:  # noqa: BLE001
        fail(f"gen-auth.py --emit-secret: {e}")
    keys = set(d["stringData"])
    ga = gen_auth_module(Path(root))
    wanted = {f"{svc.upper()}_PASSWORD" for svc in ga.SERVICES} | {"COUNTY_411602_PASSWORD", "COUNTY_411603_PASSWORD"}
    check(keys == wanted,
          f"--emit-secret has one key per user ({', '.join(sorted(keys))})")
    check(all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]{23,}", v) for v in d["stringData"].values()),
          "--emit-secret passwords are letters and digits, start with a letter, 24+ chars")


def cmd_nats_config(root: str, nats_server: str, files: list[str]) -> None:
    """`nats-server -t` on the rendered ConfigMap of each NATS StatefulSet, with the env the
    pod would get (plain values from the StatefulSet, Secret values from the rendered Secret
    or a dummy password), plus the bare `gen-auth.py --county 411602` output."""
    ga = gen_auth_module(Path(root))
    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-nats-conf-"))
    try:
        bare = tmp / "bare"
        bare.mkdir()
        (bare / "auth.conf").write_text(ga.render(list(ga.SERVICES), ["411602"]))
        env = dict(os.environ, **{ga.password_var(u): "pDummy0" for u in ga.users(list(ga.SERVICES), ["411602"])})
        r = subprocess.run([nats_server, "-t", "-c", str(bare / "auth.conf")], env=env,
                           capture_output=True, text=True, check=False)
        check(r.returncode == 0, "`gen-auth.py --county 411602` output alone passes nats-server -t"
              + ("" if r.returncode == 0 else ": " + (r.stdout + r.stderr).strip()))
        for f in files:
            docs = load_docs(f)
            by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
            for sts in (d for d in docs if d["kind"] == "StatefulSet"):
                c = sts["spec"]["template"]["spec"]["containers"][0]
                vol = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if "configMap" in v)
                cm = by.get(("ConfigMap", vol["configMap"]["name"]))
                if not check(cm is not None, f"{Path(f).name}: StatefulSet/{sts['metadata']['name']} config found"):
                    continue
                d = tmp / Path(f).stem
                d.mkdir()
                for name, text in cm["data"].items():
                    (d / name).write_text(text)
                env = dict(os.environ)
                for e in c.get("env", []):
                    env[e["name"]] = e.get("value", sts["metadata"]["name"] + "-0")
                for ef in c.get("envFrom", []):
                    sec = by.get(("Secret", ef.get("secretRef", {}).get("name")))
                    if sec is not None:
                        env.update(sec.get("stringData", {}))
                auth = (d / "auth.conf").read_text() if (d / "auth.conf").exists() else ""
                for var in re.findall(r"password: \$(\w+)", auth):
                    env.setdefault(var, "pDummy0")
                conf = c["command"][c["command"].index("--config") + 1]
                r = subprocess.run([nats_server, "-t", "-c", str(d / Path(conf).name)], env=env,
                                   capture_output=True, text=True, check=False)
                check(r.returncode == 0, f"{Path(f).name}: rendered {Path(conf).name} (+ its includes) passes nats-server -t"
                      + ("" if r.returncode == 0 else ": " + (r.stdout + r.stderr).strip()))
    finally:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def cmd_code_drift(root: str) -> None:
    """gen-auth.py and the manifests against what the Rust code actually does."""
    root_p = Path(root)
    ga = gen_auth_module(root_p)
    bus = root_p / "crates/kit/src/bus/mod.rs"
    if bus.exists():
        text = bus.read_text()
        m = re.search(r'DEADLETTER_STREAM: &str = "([^"]+)"', text)
        check(m is not None and m.group(1) == ga.DEADLETTER_STREAM,
              f"dead-letter stream in crates/kit ({m.group(1) if m else '?'}) is gen-auth's {ga.DEADLETTER_STREAM}")
        check('format!("civicgrid.deadletter.{service}.' in text,
              "dead-letter subjects are civicgrid.deadletter.<service>.… in crates/kit")
        check('format!("CIVICGRID_{}", service.to_ascii_uppercase())' in text,
              "streams are named CIVICGRID_<SERVICE> in crates/kit")
        check('format!("civicgrid.{service}.>")' in text, "a service's stream covers civicgrid.<service>.>")
    else:
        print("  note  crates/kit/src/bus/mod.rs not found: bus conventions not cross-checked")
    services_dir = root_p / "services"
    crates = sorted(p.name for p in services_dir.iterdir() if (p / "Cargo.toml").exists()) if services_dir.exists() else []
    # A service is deployable once its crate runs one (declares `pub const SERVICE`); a crate
    # still being built (domain only) needs no NATS user or manifests yet.
    present = [s for s in crates if 'pub const SERVICE: &str' in ((services_dir / s / "src/lib.rs").read_text()
                                                              if (services_dir / s / "src/lib.rs").exists() else "")]
    for svc in sorted(set(crates) - set(present)):
        print(f"  note  services/{svc} runs no service yet: no NATS user or manifests expected")
    for svc in present:
        if not check(svc in ga.SERVICES, f"service {svc} has a NATS user in gen-auth.py SERVICES"):
            continue
        consumers, unread = service_consumers(root_p, svc)
        for u in unread:
            fail(f"cannot tell which stream, durable and subjects this consumer of {svc} uses "
                 f"(see service_consumers in deploy/lib/checks.py): {u}")
        # The NATS user may use exactly the durables the code creates, with the same filters.
        code = {(source, durable, frozenset(subjects)) for source, durable, subjects in consumers}
        granted = {(c.source, c.durable, frozenset(c.subjects)) for c in ga.SERVICES[svc]}

        def show(items: set) -> str:
            return "; ".join(f"{stream_of(s)} as {d} on {', '.join(sorted(f))}" for s, d, f in sorted(
                items, key=lambda i: (i[0], i[1]))) or "nothing"

        stream_of = ga.stream_name
        check(code == granted, f"service {svc}: gen-auth grants exactly the consumers its code runs "
              f"({show(code)})" + ("" if code == granted else
                                   f"; code only: {show(code - granted)}; gen-auth only: {show(granted - code)}"))
    errors = ga.table_errors(ga.SERVICES)
    check(not errors, "gen-auth.py SERVICES is well formed" + (f": {errors}" if errors else ""))
    readme = (root_p / "deploy/README.md").read_text()
    unnamed = [c.durable for cs in ga.SERVICES.values() for c in cs if f"`{c.durable}`" not in readme]
    check(not unnamed, "deploy/README.md (section 5) names every service's durable consumer"
          + (f" (missing {unnamed})" if unnamed else ""))
    for svc in ga.SERVICES:
        check((root_p / "deploy/k8s/base" / svc / "kustomization.yaml").exists(),
              f"service {svc} has deploy/k8s/base/{svc}/")
        check(svc in (root_p / "deploy/k8s/base/kustomization.yaml").read_text(),
              f"deploy/k8s/base/kustomization.yaml lists {svc}")


# ------------------------------------------------------------------------- NATS permissions

class Nats:
    """Just enough of the NATS client protocol to test permissions (stdlib only)."""

    def __init__(self, port: int, user: str, password: str, inbox: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.msgs: list[dict] = []
        self.errs: list[str] = []
        self.sid = 0
        self.n = 0
        line = self._line()
        if not line.startswith("INFO "):
            raise RuntimeError(f"unexpected greeting {line!r}")
        conn = {"verbose": False, "pedantic": False, "user": user, "pass": password,
                "headers": True, "no_responders": True, "protocol": 1, "lang": "deploy-check",
                "version": "0"}
        self.sock.sendall(f"CONNECT {json.dumps(conn)}\r\n".encode())
        errs = self.flush()
        if errs:
            raise PermissionError("; ".join(errs))
        self.inbox = inbox
        self.inbox_sid = self._sub(inbox + ".>")

    def close(self) -> None:
        self.sock.close()

    def _line(self) -> str:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed: " + "; ".join(self.errs))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def _bytes(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _op(self) -> str:
        line = self._line()
        if line.startswith("MSG ") or line.startswith("HMSG "):
            parts = line.split()
            hmsg = parts[0] == "HMSG"
            subject, sid = parts[1], parts[2]
            if hmsg:
                reply = parts[3] if len(parts) == 6 else None
                hlen, total = int(parts[-2]), int(parts[-1])
            else:
                reply = parts[3] if len(parts) == 5 else None
                hlen, total = 0, int(parts[-1])
            data = self._bytes(total)
            self.msgs.append({"subject": subject, "sid": sid, "reply": reply,
                              "headers": data[:hlen].decode(errors="replace"), "data": data[hlen:]})
            return "MSG"
        if line == "PING":
            self.sock.sendall(b"PONG\r\n")
            return "PING"
        if line.startswith("-ERR"):
            self.errs.append(line)
            return "ERR"
        return line

    def flush(self) -> list[str]:
        """Round trip; returns the -ERR lines that arrived meanwhile."""
        before = len(self.errs)
        self.sock.sendall(b"PING\r\n")
        while self._op() != "PONG":
            pass
        return self.errs[before:]

    def _sub(self, subject: str) -> str:
        self.sid += 1
        self.sock.sendall(f"SUB {subject} {self.sid}\r\n".encode())
        return str(self.sid)

    def sub(self, subject: str) -> list[str]:
        self._sub(subject)
        return self.flush()

    def pub(self, subject: str, data: bytes = b"", reply: str | None = None) -> list[str]:
        r = f" {reply}" if reply else ""
        self.sock.sendall(f"PUB {subject}{r} {len(data)}\r\n".encode() + data + b"\r\n")
        return self.flush()

    def _wait(self, pred, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.msgs):
                if pred(m):
                    return self.msgs.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                self._op()
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(5)

    def request(self, subject: str, body: object = b"", timeout: float = 2.0):
        """('denied', errs) | ('ok', json-or-bytes) | ('timeout', None)."""
        self.n += 1
        reply = f"{self.inbox}.r{self.n}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        errs = self.pub(subject, data, reply)
        if errs:
            return "denied", errs
        m = self._wait(lambda m: m["subject"] == reply, timeout)
        if m is None:
            return "timeout", None
        try:
            return "ok", json.loads(m["data"] or b"null")
        except ValueError:
            return "ok", m["data"]

    def fetch(self, stream: str, consumer: str, timeout: float = 3.0):
        """One message from a pull consumer: ('denied', errs) | ('msg', m) | ('none', status)."""
        self.n += 1
        reply = f"{self.inbox}.f{self.n}"
        errs = self.pub(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                        json.dumps({"batch": 1, "no_wait": True}).encode(), reply)
        if errs:
            return "denied", errs
        m = self._wait(lambda m: m["sid"] == self.inbox_sid and
                       (m["subject"] == reply or not m["subject"].startswith(self.inbox)), timeout)
        if m is None:
            return "none", "timeout"
        if m["subject"] == reply:  # a status message: 404 no messages, 408 timeout
            return "none", m["headers"].splitlines()[0] if m["headers"] else "empty"
        return "msg", m


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd_nats_perms(root: str, nats_server: str) -> None:
    ga = gen_auth_module(Path(root))
    # The shipped service users and two county centers.
    table = dict(ga.SERVICES)
    services = list(table)
    counties = ["411602", "411603"]
    passwords = {ga.password_var(u): "p" + os.urandom(12).hex() for u in ga.users(services, counties)}
    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-nats-check-"))
    port = _free_port()
    (tmp / "auth.conf").write_text(ga.render(services, counties, table=table))
    (tmp / "server.conf").write_text(
        f"listen: 127.0.0.1:{port}\nserver_name: check\n"
        f"jetstream {{ store_dir: {json.dumps(str(tmp / 'js'))}, max_file_store: 64MB, "
        f"max_memory_store: 16MB }}\ninclude ./auth.conf\n")
    env = dict(os.environ, **passwords)
    t = subprocess.run([nats_server, "-t", "-c", str(tmp / "server.conf")], env=env,
                       capture_output=True, text=True, check=False)
    if not check(t.returncode == 0, "test server config with the generated users is valid"):
        print(t.stdout + t.stderr)
        return
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([nats_server, "-c", str(tmp / "server.conf")], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    conns: list[Nats] = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    fail("nats-server did not start; its log:\n" + (tmp / "server.log").read_text())
                    return
                time.sleep(0.05)

        def connect(user: str, inbox: str | None = None) -> Nats:
            c = Nats(port, user, passwords[ga.password_var(user)], inbox or f"_INBOX.{user}x")
            conns.append(c)
            return c

        _nats_scenarios(connect, ga, port)
    finally:
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def _subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def _sample_subject(pattern: str) -> str:
    """A subject inside a filter, in county 411603 (so county 411602's feed does not see it)."""
    toks = [t for t in pattern.split(".") if t != ">"]
    if len(toks) == 2:
        toks.append("sample-fact")
    return ".".join("x" if t == "*" else t for t in toks) + ".411600.411603.411603001.411603001001"


def _nats_scenarios(connect, ga, port: int) -> None:
    region2 = "civicgrid.*.*.411600.411602.>"
    task2 = "civicgrid.dispatch.task-assigned.411600.411602.411602001.411602001001"
    task3 = "civicgrid.dispatch.task-assigned.411600.411603.411603001.411603001001"

    def stream_cfg(name: str, subject: str) -> dict:
        return {"name": name, "subjects": [subject], "storage": "file", "num_replicas": 1,
                "retention": "limits", "duplicate_window": 600_000_000_000}

    def allowed(res, what: str, expect_error: bool = False) -> None:
        status, body = res
        good = status == "ok" and (isinstance(body, dict) and ("error" in body) == expect_error)
        check(good, f"{what}" + ("" if good else f" (got {status}: {body})"))

    def denied(res, what: str) -> None:
        status = res[0] if isinstance(res, tuple) else ("denied" if res else "allowed")
        check(status == "denied", f"{what}" + ("" if status == "denied" else f" (got {res})"))

    try:
        Nats(port, "intake", "wrong-password", "_INBOX.x")
        fail("a wrong password is refused")
    except (PermissionError, ConnectionError):
        ok("a wrong password is refused")

    intake = connect("intake")
    dispatch = connect("dispatch")
    c2 = connect("county-411602", "_INBOX_county-411602.c")

    # intake, as crates/kit's bus does it: get_or_create_stream (INFO, then CREATE) for its
    # own stream and the shared dead-letter stream; facts and dead letters published with acks.
    def get_or_create(conn, name: str, subject: str, who: str) -> None:
        st, info = conn.request(f"$JS.API.STREAM.INFO.{name}")
        exists = st == "ok" and isinstance(info, dict) and "error" not in info
        missing = st == "ok" and isinstance(info, dict) and info.get("error", {}).get("code") == 404
        check(exists or missing, f"{who} looks up stream {name}" + ("" if exists or missing else f" (got {st}: {info})"))
        if missing:
            allowed(conn.request(f"$JS.API.STREAM.CREATE.{name}", stream_cfg(name, subject)),
                    f"{who} creates stream {name}")

    get_or_create(intake, "CIVICGRID_INTAKE", "civicgrid.intake.>", "intake")
    get_or_create(intake, "CIVICGRID_DEADLETTER", "civicgrid.deadletter.>", "intake")
    st, ack = intake.request("civicgrid.intake.event-reported.411600.411602.411602001.411602001001", b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_INTAKE",
          f"intake publishes to civicgrid.intake.> and JetStream acks it (got {st}: {ack})")
    st, ack = intake.request("civicgrid.deadletter.intake.intake-task-status", b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_DEADLETTER",
          f"intake dead-letters to civicgrid.deadletter.intake.> (got {st}: {ack})")
    denied(intake.pub("civicgrid.deadletter.dispatch.x", b"x"), "intake may not publish dead letters of dispatch")
    denied(intake.pub("civicgrid.dispatch.task-assigned.x", b"x"), "intake may not publish dispatch facts")
    denied(intake.request("$JS.API.STREAM.CREATE.CIVICGRID_DISPATCH",
                          stream_cfg("CIVICGRID_DISPATCH", "civicgrid.dispatch.>")),
           "intake may not create the dispatch stream")
    denied(intake.request("$JS.API.STREAM.UPDATE.CIVICGRID_DEADLETTER",
                          stream_cfg("CIVICGRID_DEADLETTER", "civicgrid.>")),
           "intake may not change the dead-letter stream")
    denied(intake.request("$JS.API.STREAM.DELETE.CIVICGRID_INTAKE"), "intake may not delete streams")
    denied(intake.sub("civicgrid.patrol.>"), "intake may not subscribe to patrol facts")

    # dispatch: its stream, the existing dead-letter stream, two tasks in two counties.
    get_or_create(dispatch, "CIVICGRID_DISPATCH", "civicgrid.dispatch.>", "dispatch")
    get_or_create(dispatch, "CIVICGRID_DEADLETTER", "civicgrid.deadletter.>", "dispatch")
    for s in (task2, task3):
        st, ack = dispatch.request(s, b"task")
        check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_DISPATCH",
              f"dispatch publishes {s.split('.')[4]}'s task (got {st}: {ack})")

    # intake consumes dispatch as run_consumer does: get_stream, get_or_create_consumer with
    # filter_subjects (so the create subject carries no filter), pull, ack.
    cfg = {"durable_name": "intake-task-status", "ack_policy": "explicit", "deliver_policy": "all",
           "filter_subjects": ["civicgrid.dispatch.>"], "max_deliver": -1}
    allowed(intake.request("$JS.API.STREAM.INFO.CIVICGRID_DISPATCH"), "intake reads the dispatch stream info")
    allowed(intake.request("$JS.API.CONSUMER.INFO.CIVICGRID_DISPATCH.intake-task-status"),
            "intake looks up its consumer (not there yet)", expect_error=True)
    allowed(intake.request("$JS.API.CONSUMER.CREATE.CIVICGRID_DISPATCH.intake-task-status",
                           {"stream_name": "CIVICGRID_DISPATCH", "config": cfg, "action": "create"}),
            "intake creates its durable consumer on CIVICGRID_DISPATCH")
    st, m = intake.fetch("CIVICGRID_DISPATCH", "intake-task-status")
    if check(st == "msg" and m["subject"] == task2, f"intake pulls a message (got {st})"):
        check(not intake.pub(m["reply"], b"+ACK"), f"intake acks it ({'.'.join(m['reply'].split('.')[:4])}...)")
        pending = None
        for _ in range(20):
            _, info = intake.request("$JS.API.CONSUMER.INFO.CIVICGRID_DISPATCH.intake-task-status")
            pending = info.get("num_ack_pending") if isinstance(info, dict) else None
            if pending == 0:
                break
            time.sleep(0.05)
        check(pending == 0, f"the ack took effect (ack pending {pending})")
    st, m = intake.fetch("CIVICGRID_DISPATCH", "intake-task-status")
    if check(st == "msg", f"intake pulls the next message (got {st})"):
        check(not intake.pub(m["reply"], b"+TERM"), "intake terminates it after dead-lettering (+TERM)")

    # county 411602: its own region only.
    cc = {"durable_name": "county-411602", "name": "county-411602", "ack_policy": "explicit",
          "deliver_policy": "all", "filter_subject": region2}
    base = "$JS.API.CONSUMER.CREATE.CIVICGRID_DISPATCH"
    check(not c2.sub(region2), f"county 411602 subscribes to {region2}")
    allowed(c2.request("$JS.API.INFO"), "county 411602 reads account info")
    allowed(c2.request("$JS.API.STREAM.INFO.CIVICGRID_DISPATCH"), "county 411602 reads stream info")
    allowed(c2.request(f"{base}.county-411602.{region2}", {"stream_name": "CIVICGRID_DISPATCH", "config": cc}),
            "county 411602 creates its durable consumer filtered to its county")
    st, m = c2.fetch("CIVICGRID_DISPATCH", "county-411602")
    if check(st == "msg" and m["subject"] == task2, f"county 411602 pulls its county's task (got {st})"):
        check(not c2.pub(m["reply"], b"+ACK"), "county 411602 acks it")
    st, m = c2.fetch("CIVICGRID_DISPATCH", "county-411602")
    check(st == "none", f"county 411602 gets nothing of county 411603 (got {st}: "
          f"{m['subject'] if isinstance(m, dict) else m})")
    township = dict(cc, filter_subject="civicgrid.*.*.411600.411602.411602001.>")
    allowed(c2.request(f"{base}.county-411602.civicgrid.*.*.411600.411602.411602001.>",
                       {"stream_name": "CIVICGRID_DISPATCH", "config": township}),
            "county 411602 narrows its consumer to a township")
    wide = dict(cc, filter_subject="civicgrid.>")
    denied(c2.request(f"{base}.county-411602.civicgrid.>", {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
           "county 411602 may not create a consumer on civicgrid.>")
    denied(c2.request(f"{base}.county-411602.civicgrid.*.*.411600.411603.>",
                      {"stream_name": "CIVICGRID_DISPATCH", "config": dict(cc, filter_subject="civicgrid.*.*.411600.411603.>")}),
           "county 411602 may not create a consumer on county 411603")
    allowed(c2.request(f"{base}.county-411602.{region2}", {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
            "nats-server rejects a body filter wider than the permitted subject filter", expect_error=True)
    denied(c2.request(f"{base}.county-411603.civicgrid.*.*.411600.411603.>",
                      {"stream_name": "CIVICGRID_DISPATCH", "config": dict(cc, durable_name="county-411603", name="county-411603")}),
           "county 411602 may not create county 411603's consumer")
    denied(c2.request(f"{base}", {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
           "county 411602 may not use the unfiltered CONSUMER.CREATE form")
    denied(c2.request("$JS.API.CONSUMER.DURABLE.CREATE.CIVICGRID_DISPATCH.county-411602",
                      {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
           "county 411602 may not use the legacy DURABLE.CREATE form")
    denied(c2.fetch("CIVICGRID_DISPATCH", "intake-task-status"), "county 411602 may not pull from intake's consumer")
    denied(c2.request("$JS.API.STREAM.INFO.CIVICGRID_DEADLETTER"), "county 411602 may not read the dead-letter stream")
    denied(c2.sub("civicgrid.>"), "county 411602 may not subscribe to civicgrid.>")
    denied(c2.sub("civicgrid.*.*.411600.411603.>"), "county 411602 may not subscribe to county 411603")
    denied(c2.sub("_INBOX.>"), "county 411602 may not read other users' replies (_INBOX.>)")
    denied(c2.pub("civicgrid.intake.event-reported.x", b"x"), "county 411602 may not publish facts")
    denied(c2.request("$JS.API.STREAM.DELETE.CIVICGRID_DISPATCH"), "county 411602 may not delete streams")
    allowed(c2.request("$JS.API.CONSUMER.DELETE.CIVICGRID_DISPATCH.county-411602"),
            "county 411602 deletes its own consumer (to replay from another point)")

    _service_consumer_scenarios(connect, ga, intake, dispatch, stream_cfg, get_or_create, allowed, denied)


def _service_consumer_scenarios(connect, ga, intake, dispatch, stream_cfg, get_or_create, allowed, denied) -> None:
    """Every consumer of gen-auth's SERVICES table works as crates/kit's run_consumer uses it
    (stream info, consumer info, create with filter_subjects, pull, ack) and receives only its
    filters; then what notify, the newest service, may not do."""
    conns = {"intake": intake, "dispatch": dispatch}
    for svc in ga.SERVICES:
        if svc not in conns:
            conns[svc] = connect(svc)
            get_or_create(conns[svc], ga.stream_name(svc), f"civicgrid.{svc}.>", svc)
    # One message on every filter subject of every consumer, published by the stream's owner.
    samples: dict[str, list[str]] = {}
    for svc, consumers in ga.SERVICES.items():
        for c in consumers:
            for f in c.subjects:
                subject = _sample_subject(f)
                if subject in samples.setdefault(c.source, []) or c.source not in conns:
                    continue
                st, ack = conns[c.source].request(subject, b"sample")
                if check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == ga.stream_name(c.source),
                         f"{c.source} publishes {subject} (got {st}: {ack})"):
                    samples[c.source].append(subject)
    for svc, consumers in ga.SERVICES.items():
        conn = conns[svc]
        for c in consumers:
            s, who = ga.stream_name(c.source), f"{svc} as {c.durable}"
            allowed(conn.request(f"$JS.API.STREAM.INFO.{s}"), f"{who}: reads the {s} stream info")
            st, info = conn.request(f"$JS.API.CONSUMER.INFO.{s}.{c.durable}")
            check(st == "ok", f"{who}: looks up its consumer (got {st})")
            cfg = {"durable_name": c.durable, "ack_policy": "explicit", "deliver_policy": "all",
                   "filter_subjects": list(c.subjects), "max_deliver": -1}
            allowed(conn.request(f"$JS.API.CONSUMER.CREATE.{s}.{c.durable}",
                                 {"stream_name": s, "config": cfg, "action": ""}),
                    f"{who}: creates (or binds to) its durable consumer on {s}")
            got, stray = [], []
            for _ in range(50):
                st, m = conn.fetch(s, c.durable)
                if st != "msg":
                    break
                got.append(m["subject"])
                if not any(_subject_matches(f, m["subject"]) for f in c.subjects):
                    stray.append(m["subject"])
                check(not conn.pub(m["reply"], b"+ACK"), f"{who}: acks {m['subject']}")
            wanted = [x for x in samples.get(c.source, []) if any(_subject_matches(f, x) for f in c.subjects)]
            check(all(x in got for x in wanted), f"{who}: pulls every sample on its filters ({len(got)} message(s))")
            check(not stray, f"{who}: receives nothing outside {', '.join(c.subjects)} ({stray or 'none'})")

    if "notify" not in conns:
        return
    notify = conns["notify"]
    fact = "civicgrid.notify.notify-delivered.411600.411602.411602001.411602001001"
    st, ack = notify.request(fact, b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_NOTIFY",
          f"notify publishes its facts to CIVICGRID_NOTIFY (got {st}: {ack})")
    dl = "civicgrid.deadletter.notify.notify-intake"
    st, ack = notify.request(dl, b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_DEADLETTER",
          f"notify dead-letters to {dl} (got {st}: {ack})")
    intake_cfg = {"durable_name": "notify-other", "ack_policy": "explicit",
                  "filter_subjects": ["civicgrid.intake.>"]}
    denied(notify.request("$JS.API.CONSUMER.CREATE.CIVICGRID_INTAKE.notify-other",
                          {"stream_name": "CIVICGRID_INTAKE", "config": intake_cfg}),
           "notify may not create a consumer of another name on CIVICGRID_INTAKE")
    denied(notify.request("$JS.API.CONSUMER.CREATE.CIVICGRID_INTAKE.notify-intake.civicgrid.intake.>",
                          {"stream_name": "CIVICGRID_INTAKE",
                           "config": dict(intake_cfg, durable_name="notify-intake", filter_subjects=[],
                                          filter_subject="civicgrid.intake.>")}),
           "notify may not create its intake consumer with a single filter wider than its own")
    denied(notify.request("$JS.API.CONSUMER.CREATE.CIVICGRID_INTAKE",
                          {"stream_name": "CIVICGRID_INTAKE", "config": {"ack_policy": "explicit"}}),
           "notify may not create an unnamed consumer")
    denied(notify.fetch("CIVICGRID_INTAKE", "dispatch-intake"), "notify may not pull from dispatch's consumer")
    denied(notify.fetch("CIVICGRID_DISPATCH", "intake-task-status"), "notify may not pull from intake's consumer")
    denied(notify.pub("$JS.ACK.CIVICGRID_INTAKE.dispatch-intake.1.1.1.1.0"),
           "notify may not ack for dispatch's consumer")
    denied(notify.request("$JS.API.CONSUMER.DELETE.CIVICGRID_INTAKE.notify-intake"),
           "notify may not delete consumers, not even its own")
    denied(notify.request("$JS.API.STREAM.INFO.CIVICGRID_PATROL"), "notify may not read streams it does not consume")
    denied(notify.pub("civicgrid.intake.event-reported.x", b"x"), "notify may not publish intake facts")
    denied(notify.pub("civicgrid.dispatch.task-assigned.x", b"x"), "notify may not publish dispatch facts")
    denied(notify.pub("civicgrid.deadletter.intake.x", b"x"), "notify may not publish intake's dead letters")
    denied(notify.request("$JS.API.STREAM.UPDATE.CIVICGRID_INTAKE",
                          stream_cfg("CIVICGRID_INTAKE", "civicgrid.intake.>")),
           "notify may not change the intake stream")
    check(not notify.sub("civicgrid.intake.event-merged.>"), "notify subscribes to civicgrid.intake.event-merged.>")
    denied(notify.sub("civicgrid.intake.event-rated.>"), "notify may not subscribe to intake facts it does not consume")
    denied(intake.fetch("CIVICGRID_DISPATCH", "notify-dispatch"), "intake may not pull from notify's consumer")
    denied(intake.fetch("CIVICGRID_DISPATCH", "county-411602"), "intake may not pull from a county's consumer")


# ------------------------------------------------------------------------------- dockerfile

def cmd_dockerfile(root: str) -> None:
    root_p = Path(root)
    text = (root_p / "deploy/Dockerfile").read_text()
    # Join continuation lines, drop comments.
    logical, cur = [], ""
    for line in text.splitlines():
        if not cur and line.lstrip().startswith("#"):
            continue
        cur += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if cur.strip():
                logical.append(cur.strip())
            cur = ""
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(logical), re.M))
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), line.split()[1])
             for line in logical if line.startswith("FROM ")]
    check(froms == ["rust:1.95-bookworm", "debian:bookworm-slim"],
          f"two stages: builder rust:1.95-bookworm, runtime debian:bookworm-slim (got {froms})")
    runtime = logical[max(i for i, l in enumerate(logical) if l.startswith("FROM ")):]
    check(any(re.search(r"cargo build --release (--locked )?-p civicgrid-cli", l) for l in logical),
          "builder runs cargo build --release -p civicgrid-cli")
    check(any("ca-certificates" in l for l in runtime), "runtime installs ca-certificates")
    users = [l.split()[1] for l in runtime if l.startswith("USER ")]
    check(bool(users) and users[-1].split(":")[0] not in ("0", "root"),
          f"runtime runs as a non-root user ({users[-1] if users else 'none'})")
    ep = [l for l in runtime if l.startswith("ENTRYPOINT ")]
    check(bool(ep) and json.loads(ep[-1][len("ENTRYPOINT "):]) == ["civicgrid"],
          'ENTRYPOINT ["civicgrid"] in exec form')
    check(any("EXPOSE 50051" in l for l in runtime), "runtime exposes 50051")
    check("protoc" not in " ".join(l for l in logical if l.startswith("RUN")),
          "no protoc installed (protox compiles the protos)")
    # The binary name the Dockerfile copies must be the one the cli crate builds.
    cli = root_p / "crates/cli/Cargo.toml"
    if cli.exists():
        import tomllib
        manifest = tomllib.loads(cli.read_text())
        pkg = manifest.get("package", {}).get("name")
        bins = [b.get("name") for b in manifest.get("bin", [])] or [pkg]
        check(pkg == "civicgrid-cli", f"crates/cli is package civicgrid-cli (got {pkg})")
        check("civicgrid" in bins, f"crates/cli builds the binary `civicgrid` (got {bins})")
        ws = tomllib.loads((root_p / "Cargo.toml").read_text()).get("workspace", {})
        import fnmatch
        check(any(fnmatch.fnmatch("crates/cli", m.rstrip("/")) for m in ws.get("members", [])),
              "crates/cli is a workspace member (cargo build -p civicgrid-cli needs it)")
    else:
        print("  note  crates/cli/Cargo.toml does not exist yet: binary name not cross-checked")
    check((root_p / "Cargo.lock").exists(), "Cargo.lock exists (the build uses --locked)")
    # The ignore file must keep target/ out and must not hide what the build needs.
    ign = [l.strip() for l in (root_p / "deploy/Dockerfile.dockerignore").read_text().splitlines()
           if l.strip() and not l.startswith("#")]
    check("target" in ign, "Dockerfile.dockerignore excludes target/")
    tops = {l.strip("/").split("/")[0] for l in ign if not l.startswith("**") and not l.startswith("!")}
    try:
        import tomllib
        members = tomllib.loads((root_p / "Cargo.toml").read_text()).get("workspace", {}).get("members", [])
    except (OSError, ValueError):
        members = []
    hidden = [m for m in members if m.split("/")[0] in tops]
    check(not hidden, f"no workspace member is excluded from the build context ({hidden or 'none'})")
    includes = []
    for src in root_p.glob("**/*.rs"):
        if "target" in src.parts or ".git" in src.parts:
            continue
        for m in re.finditer(r'include_(?:str|bytes)!\(\s*(?:concat!\([^)]*\)|"([^"]+)")', src.read_text(errors="replace")):
            if m.group(1):
                includes.append(os.path.normpath(os.path.join(src.parent.relative_to(root_p), m.group(1))))
    bad = [i for i in includes if i.split(os.sep)[0] in tops]
    check(not bad, f"no include_str!/include_bytes! reads an excluded path ({bad or 'none'})")


# ------------------------------------------------------------------------------------- main

def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "yaml": lambda: cmd_yaml(args),
        "kustomize-fallback": lambda: cmd_kustomize_fallback(*args),
        "k8s-validate": lambda: cmd_k8s_validate(args[0], args[1:]),
        "crossref": lambda: cmd_crossref(args[0], args[1:]),
        "auth-fresh": lambda: cmd_auth_fresh(args[0]),
        "code-drift": lambda: cmd_code_drift(args[0]),
        "emit-secret": lambda: cmd_emit_secret(args[0], args[1]),
        "nats-config": lambda: cmd_nats_config(args[0], args[1], args[2:]),
        "nats-perms": lambda: cmd_nats_perms(args[0], args[1]),
        "dockerfile": lambda: cmd_dockerfile(args[0]),
    }[cmd]()
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
