"""`crossref ROOT FILE...`: the references between the rendered objects (deploy/check passes
each overlay, with base/secrets):

- every object in namespace civicgrid, which is defined;
- each workload: selector matches its pod labels, non-root pods, a grace period; its volumes'
  ConfigMaps and Secrets exist; each container has cpu/memory requests and a memory limit, no
  privilege escalation, a read-only root filesystem, probes on its own ports, a volume for each
  mount, and every ConfigMap, Secret and key its environment names;
- Services and PodDisruptionBudgets select a workload (and a Service's target ports exist), a
  StatefulSet's serviceName is a headless Service;
- a civicgrid container's settings, and each service's objects: crossref_services.py; the
  console's (`civicgrid console`): crossref_console.py; each service's NetworkPolicy:
  crossref_netpol.py; its PostgreSQL wiring (and the CloudNativePG Cluster's): crossref_db.py;
  its ServiceAccount, autoscaler, disruption budget and ServiceMonitor: crossref_scale.py;
- the NATS container: every $VARIABLE of its config reaches it, the cluster routes name exactly
  its StatefulSet's pods (a single server has no `cluster` block), JetStream's max_file_store
  fits the volume.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import check, containers, load_docs, pod_spec
from .crossref_console import check_console_container, check_console_shape
from .crossref_db import check_clusters, check_db
from .crossref_netpol import check_netpol
from .crossref_scale import check_scale
from .crossref_services import check_civicgrid_container, check_service_shape
from .topology import topology


def cmd_crossref(root: str, files: list[str]) -> None:
    root_p = Path(root)
    _, _, data = topology(root_p)
    services = {s["name"]: s for s in data["services"]}
    console = data.get("console")
    readers = [r["name"] for r in data["bus"].get("readers", [])]
    check(console is not None, "the topology describes the console (`console`)")
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

    workloads = [d for d in docs if pod_spec(d) is not None]
    for w in workloads:
        wname = f"{w['kind']}/{w['metadata']['name']}"
        ps = pod_spec(w)
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
        for c in containers(w):
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
                if console is not None and c.get("args") == console["args"]:
                    check_console_container(root_p, by, w, cname, c, env, console,
                                            console["name"] if console["name"] in readers else None)
                else:
                    check_civicgrid_container(root_p, by, cname, c, env, services)
            if c.get("image", "").split(":")[0].split("/")[-1] == "nats":
                _check_nats_container(by, w, cname, c, env)

    # Every service of the topology is deployed in the same shape: a Deployment running it
    # with three gRPC probes, its ConfigMap and Secret, a Service and a PodDisruptionBudget;
    # its metrics port agrees in the container, the settings, the Service and the scrape
    # annotations; the grace period leaves room for the preStop pause and the drain.
    for svc, info in services.items():
        check_service_shape(root_p, by, svc, info)
        check_scale(by, svc)
        check_netpol(by, svc, services, console)
        check_db(by, svc)
    check_clusters(by)
    if console is not None:
        check_console_shape(root_p, by, console)

    for d in docs:
        if d["kind"] == "Service":
            sel = d["spec"].get("selector", {})
            targets = [w for w in workloads
                       if all(w["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                              for k, v in sel.items())]
            check(len(targets) == 1, f"Service/{d['metadata']['name']}: selector picks one workload")
            for t in targets:
                names = {p.get("name") for c in containers(t) for p in c.get("ports", [])}
                nums = {p["containerPort"] for c in containers(t) for p in c.get("ports", [])}
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


def _check_nats_container(by: dict, w: dict, cname: str, c: dict, env: dict) -> None:
    cm_vol = next((v["configMap"]["name"] for v in pod_spec(w).get("volumes", []) if "configMap" in v), None)
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
    if re.search(r"^cluster\s*\{", text, re.M) is None:
        check(replicas == 1, f"{cname}: no cluster block, and a single server ({replicas})")
        return _check_store(w, cname, env)
    check(sorted(int(r[1]) for r in routes) == list(range(replicas))
          and all(r[0] == w["metadata"]["name"] and r[2] == w["spec"]["serviceName"] for r in routes),
          f"{cname}: cluster routes name exactly the {replicas} pods through {w['spec']['serviceName']}")
    _check_store(w, cname, env)


def _check_store(w: dict, cname: str, env: dict) -> None:
    mfs = env.get("JETSTREAM_MAX_FILE_STORE")
    vct = w["spec"].get("volumeClaimTemplates", [])
    if isinstance(mfs, dict) and vct:
        pvc = vct[0]["spec"]["resources"]["requests"]["storage"]
        check(_size_bytes(mfs["value"]) < _size_bytes(pvc),
              f"{cname}: JetStream max_file_store {mfs['value']} fits its volume {pvc}")


def _size_bytes(q: str) -> float:
    m = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", str(q))
    units = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "KB": 1024, "MB": 1024**2,
             "GB": 1024**3, "TB": 1024**4, "KI": 1024, "MI": 1024**2, "GI": 1024**3,
             "TI": 1024**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
    return float(m.group(1)) * units[m.group(2).upper()]
