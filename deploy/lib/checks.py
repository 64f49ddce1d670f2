#!/usr/bin/env python3
"""Checks behind deploy/check. Each subcommand prints what it checked and exits non-zero on a
failure. Needs PyYAML (and kubernetes-validate for `k8s-validate`) on PYTHONPATH: deploy/check
installs them into its cache and sets PYTHONPATH.

    checks.py [--topology FILE] COMMAND ARGS...

    topology ROOT OUT                          get `civicgrid topology --json` (as gen-auth.py
                                               does), check it, write it to OUT
    yaml FILE...                               every YAML document parses
    kustomize-fallback DIR OUT                 render a kustomization without kustomize
    k8s-validate VERSIONS FILE...              schema-validate rendered manifests (strict)
    crossref ROOT FILE...                      references between rendered objects
    auth-fresh ROOT                            deploy/k8s/nats/auth.conf == gen-auth.py output
    code-drift ROOT                            auth.conf, base/ and the README against the topology
    emit-secret ROOT VERSION                   gen-auth.py --emit-secret is a valid Secret
    nats-config ROOT NATS_SERVER FILE...       nats-server -t on the rendered NATS config
    nats-perms ROOT NATS_SERVER                a real nats-server enforces the permissions
    dockerfile ROOT                            structure of deploy/Dockerfile and its ignore file

The commands that need the services and the bus read the topology from --topology FILE
(deploy/check gets it once per run with `topology`); without it, they get it themselves.
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


# --------------------------------------------------------------------------------- topology

# The topology JSON file: --topology FILE, or one this run wrote (see topology_file).
TOPOLOGY_FILE: str | None = None


def topology_file(root: Path) -> str:
    """The file holding `civicgrid topology --json`; got once (as gen-auth.py gets it)."""
    global TOPOLOGY_FILE
    if TOPOLOGY_FILE is None:
        data = gen_auth_module(root).read_topology(None, root)
        fd, TOPOLOGY_FILE = tempfile.mkstemp(prefix="civicgrid-topology-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
    return TOPOLOGY_FILE


def topology(root: Path):
    """gen-auth.py's module, its parsed Topology, and the raw JSON."""
    ga = gen_auth_module(root)
    path = topology_file(root)
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        raise SystemExit(f"no topology in {path} (see the step `topology`)")
    try:
        data = ga.read_topology(path, root)
        return ga, ga.parse_topology(data), data
    except ga.TopologyError as e:
        raise SystemExit(f"  FAIL  {e}") from e


def gen_auth(root: Path, *args: str) -> subprocess.CompletedProcess:
    """gen-auth.py with these arguments and this run's topology."""
    return subprocess.run([sys.executable, str(root / "deploy/nats/gen-auth.py"),
                           "--topology", topology_file(root), *args],
                          capture_output=True, text=True, check=False)


def cmd_topology(root: str, out: str) -> None:
    root_p = Path(root)
    ga = gen_auth_module(root_p)
    try:
        cmd, warning = ga.topology_command(root_p)
        print(f"  run   {' '.join(shlex.quote(c) for c in cmd)}")
        if warning:
            print(f"  note  {warning}")
        data = ga.read_topology(None, root_p)
    except ga.TopologyError as e:
        fail(str(e))
        return
    Path(out).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    ok(f"civicgrid topology --json: {len(data.get('services', []))} service(s), "
       f"{len(data.get('bus', {}).get('streams', []))} stream(s), "
       f"{len(data.get('bus', {}).get('consumers', []))} durable consumer(s)")
    try:
        topo = ga.parse_topology(data)
    except ga.TopologyError as e:
        fail(str(e))
        return
    ok("the topology is what gen-auth.py relies on: one stream per service inside "
       "civicgrid.<service>.>, consumers on other services' streams with filters inside them, "
       f"unique durables, dead letters on {topo.deadletter_prefix}.<service>.<durable> "
       f"({topo.deadletter_stream})")
    bad = [(s.get("name"), k) for s in data.get("services", []) for k in s.get("required_secrets", [])
           if not re.fullmatch(r"CIVICGRID__[A-Z0-9_]+", k)]
    check(not bad, f"required secrets are CIVICGRID__ environment variables ({bad or 'all'})")


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


def _rust_source(path: Path) -> str:
    """A Rust file without its comment lines (doc examples would look like declarations)."""
    return "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("//"))


def _rust_structs(text: str) -> dict[str, list[tuple[str, str]]]:
    """`pub struct Name { pub field: Type, ... }` -> {Name: [(field, Type)]}."""
    return {m.group(1): [(f, t.strip()) for f, t in re.findall(r"^\s*pub (\w+):\s*(.+?),?\s*$", m.group(2), re.M)]
            for m in re.finditer(r"pub struct (\w+)\s*\{(.*?)\n\}", text, re.S)}


def _rust_setting_enums(text: str) -> dict[str, tuple[str, ...]]:
    """`setting_enum! { pub enum Name("key") { A = "a", B = "b" } }` -> {Name: ("a", "b")}."""
    return {m.group(1): tuple(re.findall(r'=\s*"([^"]*)"', m.group(2)))
            for m in re.finditer(r'setting_enum!\s*\{\s*pub enum (\w+)\("[\w.]+"\)\s*\{(.*?)\}', text, re.S)}


def _rust_defaults(text: str, const: str) -> dict:
    """The TOML of `pub const <const>: &str = r#"..."#;`, parsed ({} if absent)."""
    import tomllib
    m = re.search(r"pub const %s: &str = r#\"(.*?)\"#;" % const, text, re.S)
    try:
        return tomllib.loads(m.group(1)) if m else {}
    except tomllib.TOMLDecodeError:
        return {}


class ConfigModel:
    """What crates/kit/src/config.rs and services/<name>/src/config.rs say about the settings:
    every key (as CIVICGRID__SECTION__KEY), the keys typed `Secret`, the allowed values of the
    keys typed with a `setting_enum!`, and the built-in defaults (the kit's, then the
    service's)."""

    def __init__(self, root: Path, service: str | None = None):
        self.common: set[str] | None = None   # None: crates/kit/src/config.rs not readable
        self.own: set[str] | None = None      # None: the service's config.rs not readable
        self.types: dict[str, str] = {}
        self.enums: dict[str, tuple[str, ...]] = {}
        self.defaults: dict[str, str] = {}
        kit = root / "crates/kit/src/config.rs"
        if kit.exists():
            text = _rust_source(kit)
            structs, enums = _rust_structs(text), _rust_setting_enums(text)
            common = dict(structs.get("CommonSettings", []))
            if common:
                self.common = set()
                for section, typ in common.items():
                    self.common |= self._walk(structs, enums, typ, f"CIVICGRID__{section.upper()}")
            self._add_defaults(_rust_defaults(text, "COMMON_DEFAULTS"))
            self.kit_enums = enums
        else:
            self.kit_enums = {}
        src = root / "services" / str(service) / "src/config.rs"
        if service and src.exists():
            text = _rust_source(src)
            structs = _rust_structs(text)
            enums = {**self.kit_enums, **_rust_setting_enums(text)}
            top = dict(structs.get("Settings", []))
            if service in top:
                self.own = self._walk(structs, enums, top[service], f"CIVICGRID__{service.upper()}")
            self._add_defaults(_rust_defaults(text, "DEFAULTS"))

    def _walk(self, structs: dict, enums: dict, typ: str, prefix: str, depth: int = 0) -> set[str]:
        keys: set[str] = set()
        for field, ftyp in structs.get(_ident(typ), []):
            key = f"{prefix}__{field.upper()}"
            if _ident(ftyp) in structs and depth < 4:
                keys |= self._walk(structs, enums, ftyp, key, depth + 1)
                continue
            keys.add(key)
            self.types[key] = ftyp
            inner = re.fullmatch(r"Option<\s*(\w+)\s*>", ftyp)
            name = inner.group(1) if inner else _ident(ftyp)
            if name in enums:
                self.enums[key] = enums[name]
        return keys

    def _add_defaults(self, toml: dict, prefix: str = "CIVICGRID") -> None:
        for k, v in toml.items():
            if isinstance(v, dict):
                self._add_defaults(v, f"{prefix}__{k.upper()}")
            else:
                self.defaults[f"{prefix}__{k.upper()}"] = str(v).lower() if isinstance(v, bool) else str(v)

    def is_secret(self, key: str) -> bool:
        """Typed `Secret` (never printed): its value must come from a Kubernetes Secret."""
        return re.search(r"\bSecret\b", self.types.get(key, "")) is not None


def _ident(typ: str) -> str:
    m = re.match(r"\w+", typ.strip())
    return m.group(0) if m else ""


def config_keys(root: Path) -> set[str] | None:
    """CIVICGRID__SECTION__KEY names derived from crates/kit/src/config.rs, if it exists."""
    return ConfigModel(root).common


def service_config_keys(root: Path, service: str) -> set[str] | None:
    """CIVICGRID__<SERVICE>__... names of the service's own section, nested sections included
    (`[notify.sms] url` -> CIVICGRID__NOTIFY__SMS__URL), from services/<name>/src/config.rs."""
    return ConfigModel(root, service).own


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


def cmd_crossref(root: str, files: list[str]) -> None:
    root_p = Path(root)
    _, _, data = topology(root_p)
    services = {s["name"]: s for s in data["services"]}
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
                _check_civicgrid_container(root_p, by, cname, c, env, services)
            if c.get("image", "").split(":")[0].split("/")[-1] == "nats":
                _check_nats_container(by, w, cname, c, env)

    # Every service of the topology is deployed in the same shape: a Deployment running it
    # with three gRPC probes, its ConfigMap and Secret, a Service and a PodDisruptionBudget;
    # its metrics port agrees in the container, the settings, the Service and the scrape
    # annotations; the grace period leaves room for the preStop pause and the drain.
    for svc, info in services.items():
        _check_service_shape(root_p, by, svc, info)

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


def _check_civicgrid_container(root: Path, by: dict, cname: str, c: dict, env: dict,
                               services: dict[str, dict]) -> None:
    args = c.get("args", [])
    if not check(len(args) == 2 and args[0] == "service", f"{cname}: runs `civicgrid service <name>`"):
        return
    service = args[1]
    if not check(service in services, f"{cname}: {service} is a service of the topology"):
        return
    model = ConfigModel(root, service)
    known, own = model.common, model.own
    if known is None:
        print("  note  crates/kit/src/config.rs not found: config key names not cross-checked")
    civic = sorted(k for k in env if k.startswith("CIVICGRID__"))
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
    # A setting declared with setting_enum! takes only its values.
    for k in civic:
        value = _env_value(by, env, k)
        if k in model.enums and value is not None:
            check(value in model.enums[k],
                  f"{cname}: {k}={value} is one of {', '.join(model.enums[k])}")
    # The kit's required keys, the token key, the secrets the topology says the service cannot
    # start without, and every key its code refuses to start without (in the configuration
    # these manifests choose).
    required = {"CIVICGRID__NATS__URL", "CIVICGRID__DATABASE__URL", "CIVICGRID__AUTH__HS256_SECRET"}
    required |= set(services[service].get("required_secrets", []))
    for k in sorted(service_required_keys(root, service)):
        decider, value = CONDITIONAL_KEYS.get(k, (None, None))
        if decider is None or _env_value(by, env, decider) == value:
            required.add(k)
    for k in sorted(required):
        check(k in env, f"{cname}: {k} is set")
    # Typed `Secret` in the code, named like a secret, or a required secret of the topology:
    # from a Secret.
    secret_keys = {k for k in civic if model.is_secret(k) or SECRET_KEY_RE.match(k)}
    secret_keys |= set(services[service].get("required_secrets", [])) & set(civic)
    for k in sorted(secret_keys):
        src = env.get(k)
        secret = (isinstance(src, tuple) and src[0] == "Secret") or (
            isinstance(src, dict) and "secretKeyRef" in src.get("valueFrom", {}))
        check(secret, f"{cname}: {k} comes from a Secret")
    # The NATS user is the service's, exists in the generated auth.conf, and its password key
    # is the one nats-server reads.
    user = None
    for (kind, name), d in by.items():
        if kind == "ConfigMap" and env.get("CIVICGRID__NATS__USER") == (kind, name):
            user = d["data"]["CIVICGRID__NATS__USER"]
    if check(user is not None, f"{cname}: CIVICGRID__NATS__USER comes from a ConfigMap"):
        check(user == service, f"{cname}: NATS user {user!r} is the service's own")
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
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    check(ports.get("grpc") == 50051, f"{cname}: exposes gRPC 50051 as port `grpc`")
    for key, pname in (("CIVICGRID__GRPC__LISTEN", "grpc"), ("CIVICGRID__METRICS__LISTEN", "metrics")):
        value = _env_value(by, env, key)
        where = "set" if value is not None else "default"
        value = value if value is not None else model.defaults.get(key)
        port = _listen_port(value)
        check(port is not None and port == ports.get(pname),
              f"{cname}: {key}={value} ({where}) listens on its `{pname}` port {ports.get(pname)}")
    for pname in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(pname, {})
        check(probe.get("grpc", {}).get("port") in (50051, "grpc") if "grpc" in probe else False,
              f"{cname}: {pname} is a native gRPC probe on the gRPC port")


def _listen_port(value: str | None) -> int | None:
    """The port of a listen address such as 0.0.0.0:9090 or [::]:9090."""
    m = re.fullmatch(r".*:(\d+)", str(value or ""))
    return int(m.group(1)) if m else None


def _env_of(by: dict, c: dict) -> dict[str, object]:
    """A container's environment as cmd_crossref records it: name -> (kind, name) of the
    envFrom source, or the `env` entry."""
    env: dict[str, object] = {}
    for ef in c.get("envFrom", []):
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            d = by.get((kind, ef.get(key, {}).get("name")))
            if d is not None:
                for k in list(d.get("data", {}) or {}) + list(d.get("stringData", {}) or {}):
                    env[k] = (kind, d["metadata"]["name"])
    for e in c.get("env", []):
        env[e["name"]] = e
    return env


def _check_service_shape(root: Path, by: dict, svc: str, info: dict) -> None:
    """One service of the topology: its Deployment, ConfigMap, Secret, Service and PDB, its
    metrics port everywhere it appears, and its grace period."""
    dep = by.get(("Deployment", svc))
    if not check(dep is not None, f"service {svc}: Deployment/{svc} is rendered"):
        return
    c = next((c for c in _containers(dep) if c.get("args") == ["service", svc]), None)
    if not check(c is not None, f"service {svc}: Deployment/{svc} runs `civicgrid service {svc}`"):
        return
    check(all("grpc" in (c.get(p) or {}) for p in ("startupProbe", "readinessProbe", "livenessProbe")),
          f"service {svc}: startup, readiness and liveness probes are set, all gRPC")
    refs = {(kind, ef[key]["name"]) for ef in c.get("envFrom", [])
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")) if key in ef}
    for ref in (("ConfigMap", f"civicgrid-{svc}"), ("Secret", f"civicgrid-{svc}")):
        check(ref in refs and ref in by, f"service {svc}: reads {ref[0]} {ref[1]}, which exists")
    for kind in ("Service", "PodDisruptionBudget"):
        check((kind, svc) in by, f"service {svc}: {kind}/{svc} exists")

    env = _env_of(by, c)
    model = ConfigModel(root, svc)
    # Metrics: the container port `metrics`, the listen setting (checked with the container),
    # the Service and the scrape annotations name one port.
    mport = next((p.get("containerPort") for p in c.get("ports", []) if p.get("name") == "metrics"), None)
    if not check(mport is not None, f"service {svc}: its container exposes a port named `metrics`"):
        return
    check(mport != 50051, f"service {svc}: metrics port {mport} is not the gRPC port")
    ann = dep["spec"]["template"].get("metadata", {}).get("annotations", {}) or {}
    want = {"prometheus.io/scrape": "true", "prometheus.io/port": str(mport), "prometheus.io/path": "/metrics"}
    got = {k: ann.get(k) for k in want}
    check(got == want, f"service {svc}: pod template annotations {want}" + ("" if got == want else f" (got {got})"))
    service = by.get(("Service", svc))
    if service is not None:
        sp = next((p for p in service["spec"].get("ports", []) if p.get("name") == "metrics"), None)
        check(sp is not None and sp.get("port") == mport and sp.get("targetPort", sp.get("port")) in ("metrics", mport),
              f"service {svc}: Service/{svc} port `metrics` is {mport} and targets the container's metrics port"
              + ("" if sp is not None else " (no such port)"))
    # Shutdown: the preStop pause, then SIGTERM and the drain, must end within the grace
    # period, or the kubelet kills the pod mid-drain.
    ps = _pod_spec(dep)
    grace = ps.get("terminationGracePeriodSeconds", 30)
    pre = (c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command") or [])
    pause = int(pre[1]) if len(pre) == 2 and pre[0] == "sleep" and str(pre[1]).isdigit() else 0
    key = "CIVICGRID__RUNTIME__DRAIN_TIMEOUT_SECS"
    drain = _env_value(by, env, key)
    where = "set" if drain is not None else "default"
    drain = drain if drain is not None else model.defaults.get(key)
    if check(str(drain).isdigit(), f"service {svc}: {key}={drain} ({where}) is a number of seconds"):
        check(grace > pause + int(drain),
              f"service {svc}: terminationGracePeriodSeconds {grace} > preStop pause {pause} s + "
              f"drain timeout {drain} s")


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
    _, _, data = topology(root_p)
    auth = root_p / "deploy/k8s/nats/auth.conf"
    text = auth.read_text()
    m = re.match(r"# Generated by deploy/nats/gen-auth.py([^\n]*?)\. Do not edit:", text)
    if not check(m is not None, "auth.conf has the gen-auth.py header"):
        return
    args = shlex.split(m.group(1))
    out = gen_auth(root_p, *args)
    check(out.returncode == 0 and out.stdout == text,
          f"deploy/k8s/nats/auth.conf is exactly `gen-auth.py {' '.join(args)}` for the topology "
          "(regenerate it if not)" + (f": {out.stderr.strip()}" if out.returncode else ""))
    # Every user's password variable has a key in the Secret template.
    tmpl = root_p / "deploy/k8s/base/secrets/nats-users.secret.yaml"
    keys = set(load_docs(tmpl)[0]["stringData"])
    for var in re.findall(r"password: \$(\w+)", text):
        check(var in keys, f"{tmpl.name} has a placeholder for {var}")
    bad = gen_auth(root_p, "--county", "411600")
    check(bad.returncode == 2, "gen-auth.py refuses a city code as --county")
    bad = gen_auth(root_p, "--service", "nosuch")
    check(bad.returncode == 2, "gen-auth.py refuses a service that is not in the topology")
    piped = subprocess.run([sys.executable, str(root_p / "deploy/nats/gen-auth.py"), "--topology", "-", *args],
                           input=json.dumps(data), capture_output=True, text=True, check=False)
    check(piped.returncode == 0 and piped.stdout == out.stdout, "gen-auth.py --topology - reads the topology from stdin")
    broken = dict(data, bus=dict(data["bus"], consumers=[dict(c, filter_subjects=["civicgrid.>"])
                                                         for c in data["bus"]["consumers"]]))
    refused = subprocess.run([sys.executable, str(root_p / "deploy/nats/gen-auth.py"), "--topology", "-"],
                             input=json.dumps(broken), capture_output=True, text=True, check=False)
    check(refused.returncode == 1 and "must lie in" in refused.stderr,
          "gen-auth.py refuses a topology whose consumer filters leave their stream")


def cmd_emit_secret(root: str, version: str) -> None:
    import kubernetes_validate.utils as kv
    ga, topo, _ = topology(Path(root))
    res = gen_auth(Path(root), "--county", "411602", "--county", "411603", "--emit-secret")
    if not check(res.returncode == 0, "gen-auth.py --emit-secret runs" + (f": {res.stderr}" if res.returncode else "")):
        return
    out = res.stdout
    import yaml
    d = yaml.safe_load(out)
    try:
        kv.validate(d, version, strict=True)
        ok("gen-auth.py --emit-secret prints a valid Secret")
    except Exception as e:  # noqa: BLE001
        fail(f"gen-auth.py --emit-secret: {e}")
    keys = set(d["stringData"])
    wanted = {ga.password_var(svc) for svc in topo.services} | {"COUNTY_411602_PASSWORD", "COUNTY_411603_PASSWORD"}
    check(keys == wanted,
          f"--emit-secret has one key per user ({', '.join(sorted(keys))})")
    check(all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]{23,}", v) for v in d["stringData"].values()),
          "--emit-secret passwords are letters and digits, start with a letter, 24+ chars")


def cmd_nats_config(root: str, nats_server: str, files: list[str]) -> None:
    """`nats-server -t` on the rendered ConfigMap of each NATS StatefulSet, with the env the
    pod would get (plain values from the StatefulSet, Secret values from the rendered Secret
    or a dummy password), plus the bare `gen-auth.py --county 411602` output."""
    ga, topo, _ = topology(Path(root))
    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-nats-conf-"))
    try:
        bare = tmp / "bare"
        bare.mkdir()
        (bare / "auth.conf").write_text(ga.render(topo, list(topo.services), ["411602"]))
        env = dict(os.environ, **{ga.password_var(u): "pDummy0" for u in ga.users(list(topo.services), ["411602"])})
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


def _auth_users(text: str) -> dict[str, dict[str, list[str]]]:
    """The users of gen-auth.py's output: user -> {"publish": [...], "subscribe": [...]}."""
    users: dict[str, dict[str, list[str]]] = {}
    user, kind = None, None
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if m := re.match(r'\s*user:\s*"([^"]+)"', line):
            user, kind = m.group(1), None
            users[user] = {"publish": [], "subscribe": []}
        elif m := re.match(r"\s*(publish|subscribe):\s*\{", line):
            kind = m.group(1)
        elif (m := re.fullmatch(r'\s*"((?:[^"\\]|\\.)*)"\s*', line)) and user and kind:
            users[user][kind].append(m.group(1))
    return users


def _consumer_grants(publish: list[str]) -> tuple[dict[tuple[str, str], set[str]], dict[tuple[str, str], set[str]]]:
    """From a publish allow list: (stream, durable) -> the operations granted on it (CREATE,
    INFO, MSG.NEXT, DELETE, ACK), and (stream, durable) -> the filters of the single-filter
    CREATE form."""
    ops: dict[tuple[str, str], set[str]] = {}
    filters: dict[tuple[str, str], set[str]] = {}
    for subj in publish:
        if subj.startswith("$JS.API.CONSUMER."):
            rest = subj[len("$JS.API.CONSUMER."):]
            op = "MSG.NEXT" if rest.startswith("MSG.NEXT.") else rest.split(".", 1)[0]
            parts = rest[len(op) + 1:].split(".", 2)
            if len(parts) < 2:
                ops.setdefault(("?", "?"), set()).add(f"{op} (unnamed)")
                continue
            ops.setdefault((parts[0], parts[1]), set()).add(op)
            if op == "CREATE" and len(parts) == 3:
                filters.setdefault((parts[0], parts[1]), set()).add(parts[2])
        elif subj.startswith("$JS.ACK."):
            t = subj.split(".")
            stream, durable = (t[4], t[5]) if t[2] == "*" else (t[2], t[3])
            ops.setdefault((stream, durable), set()).add("ACK")
    return ops, filters


def cmd_code_drift(root: str) -> None:
    """auth.conf, base/ and the README against the topology the code declares."""
    root_p = Path(root)
    ga, topo, _ = topology(root_p)
    services_dir = root_p / "services"
    crates = sorted(p.name for p in services_dir.iterdir() if (p / "Cargo.toml").exists()) if services_dir.exists() else []
    # A crate still being built (not yet in bin/civicgrid's registry) needs no NATS user or
    # manifests yet.
    for svc in sorted(set(crates) - set(topo.services)):
        print(f"  note  services/{svc} is not in `civicgrid topology` yet: no NATS user or manifests expected")
    auth_path = root_p / "deploy/k8s/nats/auth.conf"
    users = _auth_users(auth_path.read_text())
    for user in users:
        check(user in topo.services or re.fullmatch(r"county-[1-9][0-9]{5}", user) is not None,
              f"auth.conf user {user!r} is a service of the topology or a county center")
    for svc, info in topo.services.items():
        perms = users.get(svc)
        if not check(perms is not None, f"service {svc} has a NATS user in auth.conf"):
            continue
        pub, sub = perms["publish"], perms["subscribe"]
        own = [*info.subjects, topo.deadletter_subjects(svc)]
        facts = [x for x in pub if not x.startswith("$")]
        check(sorted(facts) == sorted(own),
              f"service {svc}: publishes only its stream's subjects and its dead letters ({', '.join(own)})"
              + ("" if sorted(facts) == sorted(own) else f"; auth.conf has {facts}"))
        # The NATS user may use exactly the durables of the topology, with their filters.
        ops, filters = _consumer_grants(pub)
        want = {(c.stream, c.durable): c for c in info.consumers}
        check(set(ops) == set(want),
              f"service {svc}: may use exactly the durable consumers "
              f"{', '.join(f'{s}/{d}' for s, d in want) or 'none'}"
              + ("" if set(ops) == set(want) else f" (auth.conf grants {sorted(ops)})"))
        for key, c in want.items():
            got = ops.get(key, set())
            check(got == {"CREATE", "INFO", "MSG.NEXT", "ACK"},
                  f"service {svc}: creates, looks up, pulls from and acks through {c.stream}/{c.durable}, "
                  f"nothing else ({', '.join(sorted(got)) or 'nothing'})")
            check(filters.get(key, set()) == set(c.subjects),
                  f"service {svc}: {c.durable}'s filters are {', '.join(c.subjects)}"
                  + ("" if filters.get(key, set()) == set(c.subjects) else f" (auth.conf: {sorted(filters.get(key, []))})"))
        wanted_sub = {"_INBOX.>"} | {f for c in info.consumers for f in c.subjects}
        check(set(sub) == wanted_sub,
              f"service {svc}: subscribes only to _INBOX.> and its consumers' filters"
              + ("" if set(sub) == wanted_sub else f" (auth.conf: {sub})"))
        manage = {x for x in pub if re.match(r"\$JS\.API\.STREAM\.(?!INFO\.)", x)}
        want_manage = {f"$JS.API.STREAM.CREATE.{info.stream}", f"$JS.API.STREAM.UPDATE.{info.stream}",
                       f"$JS.API.STREAM.CREATE.{topo.deadletter_stream}"}
        check(manage == want_manage,
              f"service {svc}: creates and updates only {info.stream}, creates {topo.deadletter_stream}"
              + ("" if manage == want_manage else f" (auth.conf: {sorted(manage)})"))
    # The README's table of service users (section 5): one row per service, naming each of its
    # durables with its stream and filters.
    readme = (root_p / "deploy/README.md").read_text()
    for svc, info in topo.services.items():
        row = next((l for l in readme.splitlines() if l.strip().startswith(f"| `{svc}` |")), None)
        missing = list(dict.fromkeys(f"`{x}`" for c in info.consumers for x in (c.stream, c.durable, *c.subjects)
                                     if f"`{x}`" not in (row or "")))
        check(row is not None and not missing,
              f"deploy/README.md (section 5) has a row for {svc} naming its consumers' streams, durables "
              "and filters" + (" (no row)" if row is None else f" (missing {', '.join(missing)})" if missing else ""))
    base = (root_p / "deploy/k8s/base/kustomization.yaml").read_text()
    for svc in topo.services:
        check((root_p / "deploy/k8s/base" / svc / "kustomization.yaml").exists(),
              f"service {svc} has deploy/k8s/base/{svc}/")
        check(re.search(rf"^\s*-\s*{re.escape(svc)}\s*$", base, re.M) is not None,
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
    ga, topo, _ = topology(Path(root))
    # The service users of the topology and two county centers.
    services = list(topo.services)
    counties = ["411602", "411603"]
    passwords = {ga.password_var(u): "p" + os.urandom(12).hex() for u in ga.users(services, counties)}
    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-nats-check-"))
    port = _free_port()
    (tmp / "auth.conf").write_text(ga.render(topo, services, counties))
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

        _nats_scenarios(connect, topo, port)
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


def _nats_scenarios(connect, topo, port: int) -> None:
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

    _service_consumer_scenarios(connect, topo, intake, dispatch, stream_cfg, get_or_create, allowed, denied)


def _service_consumer_scenarios(connect, topo, intake, dispatch, stream_cfg, get_or_create, allowed, denied) -> None:
    """Every consumer of the topology works as crates/kit's run_consumer uses it (stream info,
    consumer info, create with filter_subjects, pull, ack) and receives only its filters; then
    what notify, the newest service, may not do."""
    conns = {"intake": intake, "dispatch": dispatch}
    for svc, info in topo.services.items():
        if svc not in conns:
            conns[svc] = connect(svc)
            get_or_create(conns[svc], info.stream, info.subjects[0], svc)
    # One message on every filter subject of every consumer, published by the stream's owner.
    samples: dict[str, list[str]] = {}
    for svc, info in topo.services.items():
        for c in info.consumers:
            for f in c.subjects:
                subject = _sample_subject(f)
                if subject in samples.setdefault(c.source, []) or c.source not in conns:
                    continue
                st, ack = conns[c.source].request(subject, b"sample")
                if check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == c.stream,
                         f"{c.source} publishes {subject} (got {st}: {ack})"):
                    samples[c.source].append(subject)
    for svc, info in topo.services.items():
        conn = conns[svc]
        for c in info.consumers:
            s, who = c.stream, f"{svc} as {c.durable}"
            allowed(conn.request(f"$JS.API.STREAM.INFO.{s}"), f"{who}: reads the {s} stream info")
            st, _ = conn.request(f"$JS.API.CONSUMER.INFO.{s}.{c.durable}")
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

# Where the binary crate civicgrid-cli lives.
CLI_CRATE = "bin/civicgrid"


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
    builds = [shlex.split(l[l.index("cargo build"):].split("&&")[0]) for l in logical if "cargo build" in l]
    build = builds[0] if len(builds) == 1 else []
    want = ["--release", "--locked", "--no-default-features"]
    features = [t for t in build if t in ("--features", "-F", "--all-features") or t.startswith("--features=")]
    check(all(t in build for t in want) and "civicgrid-cli" in build
          and build[build.index("civicgrid-cli") - 1] in ("-p", "--package") and not features,
          "builder runs cargo build --release --locked -p civicgrid-cli --no-default-features, no --features "
          f"(the image carries no dev machinery; got {' '.join(build) or 'no single cargo build'})")
    check(any("ca-certificates" in l for l in runtime), "runtime installs ca-certificates")
    users = [l.split()[1] for l in runtime if l.startswith("USER ")]
    check(bool(users) and users[-1].split(":")[0] not in ("0", "root"),
          f"runtime runs as a non-root user ({users[-1] if users else 'none'})")
    ep = [l for l in runtime if l.startswith("ENTRYPOINT ")]
    check(bool(ep) and json.loads(ep[-1][len("ENTRYPOINT "):]) == ["civicgrid"],
          'ENTRYPOINT ["civicgrid"] in exec form')
    exposed = {t.split("/")[0] for l in runtime if l.startswith("EXPOSE ") for t in l.split()[1:]}
    metrics = _listen_port(ConfigModel(root_p).defaults.get("CIVICGRID__METRICS__LISTEN")) or 9090
    check({"50051", str(metrics)} <= exposed,
          f"runtime exposes gRPC 50051 and metrics {metrics} (the kit's default metrics.listen; got {sorted(exposed)})")
    check("protoc" not in " ".join(l for l in logical if l.startswith("RUN")),
          "no protoc installed (protox compiles the protos)")
    # The binary name the Dockerfile copies must be the one the cli crate builds, and the
    # crates it builds without default features must not pull in crates/dev.
    import fnmatch
    import tomllib
    ws = tomllib.loads((root_p / "Cargo.toml").read_text()).get("workspace", {})
    members = ws.get("members", [])
    manifests: dict[str, tuple[str, dict]] = {}
    for m in members:
        for d in sorted(root_p.glob(m.rstrip("/"))):
            if (d / "Cargo.toml").exists():
                mf = tomllib.loads((d / "Cargo.toml").read_text())
                manifests[mf.get("package", {}).get("name", "")] = (str(d.relative_to(root_p)), mf)
    where, manifest = manifests.get("civicgrid-cli", (None, {}))
    check(where == CLI_CRATE, f"package civicgrid-cli is the workspace member {CLI_CRATE} (got {where})")
    if where is not None:
        pkg = manifest.get("package", {}).get("name")
        bins = [b.get("name") for b in manifest.get("bin", [])] or [pkg]
        check("civicgrid" in bins, f"{where} builds the binary `civicgrid` (got {bins})")
        check(any(fnmatch.fnmatch(where, m.rstrip("/")) for m in members),
              f"{where} is a workspace member (cargo build -p civicgrid-cli needs it)")
        dev = manifest.get("dependencies", {}).get("civicgrid-dev", {})
        feats = manifest.get("features", {})
        enablers = sorted(f for f, items in feats.items() if any(i in ("dep:civicgrid-dev", "civicgrid-dev")
                                                                 or i.startswith("civicgrid-dev/") for i in items))
        check(isinstance(dev, dict) and dev.get("optional") is True and enablers == ["dev"]
              and "dev" in feats.get("default", []),
              f"{where}: civicgrid-dev is optional, enabled by the default feature `dev` only (enabled by {enablers})")
        # Every workspace crate the image builds (normal and build dependencies, without the
        # optional ones of civicgrid-cli).
        seen, todo = set(), ["civicgrid-cli"]
        while todo:
            name = todo.pop()
            if name in seen or name not in manifests:
                continue
            seen.add(name)
            mf = manifests[name][1]
            for section in ("dependencies", "build-dependencies"):
                for dep, spec in mf.get(section, {}).items():
                    if name == "civicgrid-cli" and isinstance(spec, dict) and spec.get("optional"):
                        continue
                    todo.append(dep)
        built = sorted(seen - {"civicgrid-cli"})
        check("civicgrid-dev" not in seen,
              f"built with --no-default-features, civicgrid-cli and its workspace crates ({', '.join(built)}) "
              "do not depend on civicgrid-dev")
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
    global TOPOLOGY_FILE
    argv = sys.argv[1:]
    given = len(argv) >= 2 and argv[0] == "--topology"
    if given:
        TOPOLOGY_FILE, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    try:
        {
            "topology": lambda: cmd_topology(args[0], args[1]),
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
    finally:
        if not given and TOPOLOGY_FILE is not None:
            Path(TOPOLOGY_FILE).unlink(missing_ok=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
