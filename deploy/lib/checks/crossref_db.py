"""Part of `crossref`: each service's PostgreSQL wiring. Its CIVICGRID__DATABASE__URL names the
role `<service>` and the database `civicgrid`; with the CloudNativePG cluster in the render,
the host is that cluster's read-write Service (`<cluster>-rw`), the Cluster manages the role
(login, a connection limit, its password from the Secret the pods read as PGPASSWORD, a
kubernetes.io/basic-auth Secret whose username is the role), a Database resource gives the
role its schema `<service>` in that database, and the connections fit: each role's limit
covers the Deployment's most replicas (its HorizontalPodAutoscaler's maxReplicas, else
`replicas`) x CIVICGRID__DATABASE__MAX_CONNECTIONS, and max_connections covers every role's
limit. A single-instance cluster has no synchronous replication and no PodDisruptionBudget
of the operator's; a cluster of three has both.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .common import check, containers
from .crossref_services import _env_of, _env_value


def check_db(by: dict, svc: str) -> None:
    dep = by.get(("Deployment", svc))
    c = next((c for c in containers(dep or {}) if c.get("args") == ["service", svc]), None)
    if c is None:
        return
    env = _env_of(by, c)
    url = _env_value(by, env, "CIVICGRID__DATABASE__URL")
    if url is None:
        return  # from a Secret: crossref_services checks it comes from one
    u = urlsplit(url)
    check(u.scheme in ("postgres", "postgresql") and u.username == svc and u.path == "/civicgrid"
          and u.password is None,
          f"service {svc}: database URL {url} is the role {svc} on the database civicgrid, without a password")
    pw = env.get("PGPASSWORD")
    ref = pw.get("valueFrom", {}).get("secretKeyRef", {}) if isinstance(pw, dict) else {}
    sec = by.get(("Secret", ref.get("name")))
    if check(sec is not None and ref.get("key") == "password",
             f"service {svc}: PGPASSWORD is the key `password` of Secret {ref.get('name')}, which exists"):
        user = (sec.get("stringData") or {}).get("username")
        check(sec.get("type") == "kubernetes.io/basic-auth" and user == svc,
              f"service {svc}: Secret {ref.get('name')} is kubernetes.io/basic-auth for the user {svc}")
    clusters = [d for (k, _), d in by.items() if k == "Cluster"]
    if not clusters:
        check(not (u.hostname or "").endswith("-rw"),
              f"service {svc}: no CloudNativePG cluster here, and the URL names another server ({u.hostname})")
        return
    cl = next((d for d in clusters if u.hostname == d["metadata"]["name"] + "-rw"), None)
    if not check(cl is not None, f"service {svc}: the URL's host {u.hostname} is a Cluster's read-write Service"):
        return
    cname = cl["metadata"]["name"]
    role = next((r for r in cl["spec"].get("managed", {}).get("roles", []) if r["name"] == svc), None)
    if not check(role is not None and role.get("login") is True and role.get("ensure", "present") == "present",
                 f"service {svc}: Cluster/{cname} manages the login role {svc}"):
        return
    check(role.get("passwordSecret", {}).get("name") == ref.get("name"),
          f"service {svc}: the role's passwordSecret is the Secret its pods read ({ref.get('name')})")
    db = next((d for (k, _), d in by.items() if k == "Database" and d["spec"]["cluster"]["name"] == cname
               and d["spec"]["name"] == "civicgrid"), None)
    schemas = {s["name"]: s.get("owner") for s in (db or {}).get("spec", {}).get("schemas", [])
               if s.get("ensure", "present") == "present"}
    check(schemas.get(svc) == svc, f"service {svc}: a Database of Cluster/{cname} gives it the schema {svc}, owned by {svc}")
    hpa = by.get(("HorizontalPodAutoscaler", svc))
    most = hpa["spec"]["maxReplicas"] if hpa else dep["spec"].get("replicas", 1)
    per = int(_env_value(by, env, "CIVICGRID__DATABASE__MAX_CONNECTIONS") or 20)
    limit = role.get("connectionLimit", -1)
    check(limit == -1 or most * per <= limit,
          f"service {svc}: {most} replicas x {per} connections fit the role's connection limit {limit}")


def check_clusters(by: dict) -> None:
    for (k, _), cl in list(by.items()):
        if k != "Cluster":
            continue
        name, spec = cl["metadata"]["name"], cl["spec"]
        limits = [r.get("connectionLimit", -1) for r in spec.get("managed", {}).get("roles", [])]
        maxc = int(spec.get("postgresql", {}).get("parameters", {}).get("max_connections", 100))
        check(-1 not in limits and sum(limits) + 20 <= maxc,
              f"Cluster/{name}: max_connections {maxc} covers the roles' limits {sum(limits)} and 20 for the rest")
        n, sync = spec.get("instances", 1), spec.get("postgresql", {}).get("synchronous")
        if n == 1:
            check(sync is None and spec.get("enablePDB") is False,
                  f"Cluster/{name}: one instance, so no synchronous replication and no PodDisruptionBudget")
        else:
            check(sync is not None and 1 <= sync.get("number", 0) < n,
                  f"Cluster/{name}: {n} instances with synchronous replication to {sync and sync.get('number')} standby")
        check(bool(re.fullmatch(r"[\w./-]+:\d+(\.\d+)?[\w.-]*", spec.get("imageName", ""))),
              f"Cluster/{name}: the PostgreSQL image is pinned to a version ({spec.get('imageName')})")
