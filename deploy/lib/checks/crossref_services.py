"""Part of `crossref`: each civicgrid service against the code and the topology.

- check_civicgrid_container, for a container running `civicgrid service <name>` (a service of
  the topology): every CIVICGRID__* key it gets is a key of crates/kit/src/config.rs or of the
  service's config.rs; setting_enum! keys have one of their values; every key the kit, the
  topology (required_secrets) or the service's code (`ConfigError::Missing`) requires is set;
  secrets come from Secrets (a database URL without a password may come from a ConfigMap,
  with PGPASSWORD from a Secret); the NATS user is the service's, is in auth.conf, and its password
  is the Secret key nats-server reads; gRPC and metrics listen on the container ports `grpc`
  (50051) and `metrics`; each setting holding a peer's URL (topology `peers`) names that
  peer's Service on 50051; three native gRPC probes;
- check_service_shape, for each service of the topology: Deployment, ConfigMap, Secret (when
  the topology says it needs secrets), Service and PodDisruptionBudget exist; the metrics port agrees in the container, the Service
  and the Prometheus annotations; the grace period exceeds the preStop pause plus the drain
  timeout.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import check, containers, gen_auth_module, listen_port, pod_spec
from .configkeys import CONDITIONAL_KEYS, SECRET_KEY_RE, ConfigModel, service_required_keys


def check_civicgrid_container(root: Path, by: dict, cname: str, c: dict, env: dict,
                              services: dict[str, dict]) -> None:
    """A container running `civicgrid service <name>`: its settings against the code, the
    NATS user and password key, the gRPC and metrics ports, the gRPC probes."""
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
    # A database URL without a password may come from a ConfigMap: the password is then
    # PGPASSWORD from a Secret (which sqlx reads; crossref_db.py checks which Secret).
    url = _env_value(by, env, "CIVICGRID__DATABASE__URL")
    if url is not None and re.match(r"^[a-z]+://[^/@:]+@", url):
        secret_keys.discard("CIVICGRID__DATABASE__URL")
        pw = env.get("PGPASSWORD")
        check(isinstance(pw, dict) and "secretKeyRef" in pw.get("valueFrom", {}),
              f"{cname}: CIVICGRID__DATABASE__URL holds no password, and PGPASSWORD comes from a Secret")
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
        port = listen_port(value)
        check(port is not None and port == ports.get(pname),
              f"{cname}: {key}={value} ({where}) listens on its `{pname}` port {ports.get(pname)}")
    # A setting that holds another service's gRPC URL points at that service's Service, on
    # its gRPC port.
    for key, peer in services[service].get("peers", []):
        value = _env_value(by, env, key)
        check(value is not None, f"{cname}: {key} (the {peer} service's URL) is set")
        if value is not None:
            m = re.fullmatch(r"https?://([a-z0-9.-]+):(\d+)/?", value)
            host = m.group(1).split(".")[0] if m else None
            check(m is not None and host == peer and int(m.group(2)) == 50051
                  and ("Service", peer) in by,
                  f"{cname}: {key}={value} is the {peer} Service on its gRPC port 50051")
    for pname in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(pname, {})
        check(probe.get("grpc", {}).get("port") in (50051, "grpc") if "grpc" in probe else False,
              f"{cname}: {pname} is a native gRPC probe on the gRPC port")


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


def check_service_shape(root: Path, by: dict, svc: str, info: dict) -> None:
    """One service of the topology: its Deployment, ConfigMap, Secret, Service and PDB, its
    metrics port everywhere it appears, and its grace period."""
    dep = by.get(("Deployment", svc))
    if not check(dep is not None, f"service {svc}: Deployment/{svc} is rendered"):
        return
    c = next((c for c in containers(dep) if c.get("args") == ["service", svc]), None)
    if not check(c is not None, f"service {svc}: Deployment/{svc} runs `civicgrid service {svc}`"):
        return
    check(all("grpc" in (c.get(p) or {}) for p in ("startupProbe", "readinessProbe", "livenessProbe")),
          f"service {svc}: startup, readiness and liveness probes are set, all gRPC")
    refs = {(kind, ef[key]["name"]) for ef in c.get("envFrom", [])
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")) if key in ef}
    # Its Secret civicgrid-<svc> holds the keys it cannot start without (topology
    # required_secrets); a service with none needs none (its database password is in
    # civicgrid-db-<svc>, crossref_db.py).
    wanted = [("ConfigMap", f"civicgrid-{svc}")] + ([("Secret", f"civicgrid-{svc}")] if info.get("required_secrets") else [])
    for ref in wanted:
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
    ps = pod_spec(dep)
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
