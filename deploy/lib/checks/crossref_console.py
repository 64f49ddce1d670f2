"""Part of `crossref`: the command-center console (`civicgrid console`, topology `console`)
against the code and the topology.

- check_console_container, for a container running `civicgrid console`: every CIVICGRID__*
  key it gets is a key of crates/kit/src/config.rs or of the console's `[console]` section
  (crates/console/src/lib.rs `ConsoleSection`); the token key comes from a Secret (without it
  the console checks no token); the NATS user is the console's reader user, is in auth.conf,
  and its password is the Secret key nats-server reads; the HTTP listen address is on the
  container port `http`; the geometry path lies in a mounted ConfigMap holding that file;
  each service URL (topology `console.peers`) names that service's Service on 50051; HTTP
  probes on the `http` port;
- check_console_shape: Deployment, ConfigMap, Service (on `http`), ServiceAccount (used by
  the pod, no token), PodDisruptionBudget, HorizontalPodAutoscaler (on the Deployment, which
  then sets no `replicas`) and NetworkPolicy (ingress on the HTTP port; egress only to DNS,
  NATS 4222 and the peers' gRPC 50051) exist and agree; the grace period exceeds the preStop
  pause.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import check, containers, gen_auth_module, listen_port, pod_spec
from .configkeys import SECRET_KEY_RE, ConfigModel, _rust_source, _rust_structs
from .crossref_services import _env_value as _value


def console_keys(root: Path) -> set[str] | None:
    """CIVICGRID__CONSOLE__<FIELD> for each field of crates/console's ConsoleSection."""
    src = root / "crates/console/src/lib.rs"
    if not src.exists():
        return None
    fields = _rust_structs(_rust_source(src)).get("ConsoleSection", [])
    return {f"CIVICGRID__CONSOLE__{f.upper()}" for f, _ in fields} or None


def check_console_container(root: Path, by: dict, w: dict, cname: str, c: dict, env: dict,
                            info: dict, reader: str | None) -> None:
    """A container running `civicgrid console`."""
    known, own = ConfigModel(root).common, console_keys(root)
    for k in sorted(k for k in env if k.startswith("CIVICGRID__")):
        if k.startswith("CIVICGRID__CONSOLE__"):
            if own is not None:
                check(k in own, f"{cname}: {k} is a key of crates/console's ConsoleSection")
        elif known is not None:
            check(k in known, f"{cname}: {k} is a key of crates/kit/src/config.rs")
    for k in ("CIVICGRID__NATS__URL", "CIVICGRID__NATS__USER", "CIVICGRID__NATS__PASSWORD",
              "CIVICGRID__AUTH__HS256_SECRET", info["listen"], info["geometry_path"]):
        check(k in env, f"{cname}: {k} is set")
    for k in sorted(k for k in env if SECRET_KEY_RE.match(k)):
        src = env[k]
        secret = (isinstance(src, tuple) and src[0] == "Secret") or (
            isinstance(src, dict) and "secretKeyRef" in src.get("valueFrom", {}))
        check(secret, f"{cname}: {k} comes from a Secret")
    # NATS: the reader user of the topology, in auth.conf, its password key.
    user = _value(by, env, "CIVICGRID__NATS__USER")
    check(reader is not None and user == reader,
          f"{cname}: NATS user {user!r} is the reader {reader!r} of the topology (bus.readers)")
    auth = next((d["data"]["auth.conf"] for (k, _), d in by.items()
                 if k == "ConfigMap" and "auth.conf" in d.get("data", {})), None)
    if auth is not None and user:
        check(f'user: "{user}"' in auth, f"{cname}: NATS user {user!r} is defined in auth.conf")
    if user:
        want = gen_auth_module(root).password_var(user)
        pw = env.get("CIVICGRID__NATS__PASSWORD")
        key = pw.get("valueFrom", {}).get("secretKeyRef", {}).get("key") if isinstance(pw, dict) else None
        check(key == want, f"{cname}: CIVICGRID__NATS__PASSWORD is the Secret key {want} that nats-server uses")
    # HTTP on the container port `http`, probes there.
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    listen = _value(by, env, info["listen"])
    check(ports.get("http") is not None and listen_port(listen) == ports.get("http"),
          f"{cname}: {info['listen']}={listen} listens on its `http` port {ports.get('http')}")
    check(listen is not None and not listen.startswith("127."),
          f"{cname}: {info['listen']}={listen} is reachable from outside the pod")
    for pname in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = (c.get(pname) or {}).get("httpGet") or {}
        check(get.get("port") in ("http", ports.get("http")) and str(get.get("path", "")).startswith("/"),
              f"{cname}: {pname} is an HTTP GET on the `http` port ({get.get('path')})")
    check(((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path") == "/healthz",
          f"{cname}: readiness asks /healthz (NATS connected)")
    # The geometry file: in a mounted ConfigMap that holds it.
    path = _value(by, env, info["geometry_path"]) or ""
    vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
    mount = next((m for m in c.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    vol = vols.get(mount["name"]) if mount else None
    cm = by.get(("ConfigMap", vol["configMap"]["name"])) if vol and "configMap" in vol else None
    fname = path[len(mount["mountPath"].rstrip("/")) + 1:] if mount else ""
    check(cm is not None and fname in (cm.get("data") or {}),
          f"{cname}: {info['geometry_path']}={path} is the key {fname!r} of a mounted ConfigMap")
    # Each service URL names that service's Service on its gRPC port.
    for key, peer in info.get("peers", []):
        value = _value(by, env, key)
        m = re.fullmatch(r"https?://([a-z0-9.-]+):(\d+)/?", value or "")
        check(m is not None and m.group(1).split(".")[0] == peer and int(m.group(2)) == 50051
              and ("Service", peer) in by,
              f"{cname}: {key}={value} is the {peer} Service on its gRPC port 50051")


def check_console_shape(root: Path, by: dict, info: dict) -> None:
    """The console's objects exist and agree."""
    name = info["name"]
    dep = by.get(("Deployment", name))
    if not check(dep is not None, f"console: Deployment/{name} is rendered"):
        return
    c = next((c for c in containers(dep) if c.get("args") == info["args"]), None)
    if not check(c is not None, f"console: Deployment/{name} runs `civicgrid {' '.join(info['args'])}`"):
        return
    ps = pod_spec(dep)
    labels = dep["spec"]["template"]["metadata"].get("labels", {})
    refs = {ef["configMapRef"]["name"] for ef in c.get("envFrom", []) if "configMapRef" in ef}
    check(f"civicgrid-{name}" in refs and ("ConfigMap", f"civicgrid-{name}") in by,
          f"console: reads ConfigMap civicgrid-{name}, which exists")
    http = next((p["containerPort"] for p in c.get("ports", []) if p.get("name") == "http"), None)
    svc = by.get(("Service", name))
    sp = next((p for p in (svc or {}).get("spec", {}).get("ports", []) if p.get("name") == "http"), None)
    check(sp is not None and sp.get("targetPort") in ("http", http),
          f"console: Service/{name} has port `http` targeting the container's HTTP port {http}")
    sa = ps.get("serviceAccountName")
    sa_obj = by.get(("ServiceAccount", sa))
    check(sa_obj is not None and ps.get("automountServiceAccountToken") is False,
          f"console: runs as its ServiceAccount {sa!r}, which exists, without an API token")
    check(("PodDisruptionBudget", name) in by, f"console: PodDisruptionBudget/{name} exists")
    hpa = by.get(("HorizontalPodAutoscaler", name))
    target = (hpa or {}).get("spec", {}).get("scaleTargetRef", {})
    check(target.get("kind") == "Deployment" and target.get("name") == name,
          f"console: HorizontalPodAutoscaler/{name} scales Deployment/{name}")
    check("replicas" not in dep["spec"], f"console: Deployment/{name} leaves `replicas` to the autoscaler")
    # NetworkPolicy: selects the pods, ingress on HTTP, egress to DNS, NATS and the peers only.
    np = by.get(("NetworkPolicy", name))
    if check(np is not None, f"console: NetworkPolicy/{name} exists"):
        spec = np["spec"]
        sel = spec.get("podSelector", {}).get("matchLabels", {})
        check(sel and all(labels.get(k) == v for k, v in sel.items()), f"console: NetworkPolicy/{name} selects its pods")
        check(set(spec.get("policyTypes", [])) == {"Ingress", "Egress"},
              f"console: NetworkPolicy/{name} governs ingress and egress")
        in_ports = {p.get("port") for r in spec.get("ingress", []) for p in r.get("ports", [])}
        check(in_ports and in_ports <= {http, "http"}, f"console: ingress only on the HTTP port ({sorted(map(str, in_ports))})")
        egress: dict[str, set] = {}
        for r in spec.get("egress", []):
            ports = {p.get("port") for p in r.get("ports", [])}
            for t in r.get("to", []):
                who = (t.get("podSelector") or {}).get("matchLabels", {})
                key = who.get("app.kubernetes.io/name") or who.get("k8s-app") or "?"
                egress.setdefault(key, set()).update(ports)
        wanted = {"kube-dns": {53}, "nats": {4222}}
        for _, peer in info.get("peers", []):
            w = next((d for (k, _), d in by.items() if k == "Deployment" and any(
                x.get("args") == ["service", peer] for x in containers(d))), None)
            plabel = (w or {}).get("spec", {}).get("selector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            wanted[plabel or f"<{peer}?>"] = {50051}
        check(egress == wanted, f"console: egress only to DNS 53, NATS 4222 and the gRPC 50051 of "
              f"{', '.join(p for _, p in info.get('peers', []))}" + ("" if egress == wanted else f" (got {egress})"))
    grace = ps.get("terminationGracePeriodSeconds", 30)
    pre = (c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command") or [])
    pause = int(pre[1]) if len(pre) == 2 and pre[0] == "sleep" and str(pre[1]).isdigit() else 0
    check(grace > pause + 5, f"console: terminationGracePeriodSeconds {grace} > preStop pause {pause} s + 5 s")
