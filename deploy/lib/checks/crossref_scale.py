"""Part of `crossref`: how each service runs and is watched. It runs as its own ServiceAccount
without an API token; a service that scales out has a HorizontalPodAutoscaler on its
Deployment, which then sets no `replicas`; one that cannot (a Deployment of one replica with
the Recreate strategy: patrol) has none; every one has a PodDisruptionBudget that lets a node
be drained when it runs one replica; and, where the render has ServiceMonitors, one selects
its Service's labels and scrapes the Service port `metrics`.
"""

from __future__ import annotations

from .common import check, pod_spec


def check_scale(by: dict, svc: str) -> None:
    dep = by.get(("Deployment", svc))
    if dep is None:
        return
    ps = pod_spec(dep)
    sa = ps.get("serviceAccountName")
    check(sa == svc and ("ServiceAccount", sa) in by and ps.get("automountServiceAccountToken") is False
          and by[("ServiceAccount", sa)].get("automountServiceAccountToken") is False,
          f"service {svc}: runs as its ServiceAccount {sa!r}, which exists, without an API token")
    singleton = dep["spec"].get("strategy", {}).get("type") == "Recreate" and dep["spec"].get("replicas") == 1
    hpa = by.get(("HorizontalPodAutoscaler", svc))
    if singleton:
        check(hpa is None, f"service {svc}: one replica (Recreate), and no HorizontalPodAutoscaler")
    else:
        target = (hpa or {}).get("spec", {}).get("scaleTargetRef", {})
        check(target.get("kind") == "Deployment" and target.get("name") == svc
              and hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"],
              f"service {svc}: HorizontalPodAutoscaler/{svc} scales Deployment/{svc}"
              + (f" ({hpa['spec']['minReplicas']}-{hpa['spec']['maxReplicas']})" if hpa else ""))
        check("replicas" not in dep["spec"], f"service {svc}: Deployment/{svc} leaves `replicas` to the autoscaler")
    pdb = by.get(("PodDisruptionBudget", svc))
    if pdb is not None:
        least = 1 if singleton else (hpa or {}).get("spec", {}).get("minReplicas", 1)
        spec = pdb["spec"]
        blocks = ("minAvailable" in spec and int(spec["minAvailable"]) >= least) or spec.get("maxUnavailable") == 0
        check(not blocks, f"service {svc}: PodDisruptionBudget/{svc} lets one of {least} replica(s) be evicted")
    monitors = [d for (k, _), d in by.items() if k == "ServiceMonitor"]
    if monitors:
        svc_obj = by.get(("Service", svc), {})
        labels = svc_obj.get("metadata", {}).get("labels", {})
        mport = {p.get("name") for p in svc_obj.get("spec", {}).get("ports", [])}
        sm = by.get(("ServiceMonitor", svc))
        sel = (sm or {}).get("spec", {}).get("selector", {}).get("matchLabels", {})
        eps = {e.get("port") for e in (sm or {}).get("spec", {}).get("endpoints", [])}
        check(sm is not None and sel and all(labels.get(k) == v for k, v in sel.items())
              and eps == {"metrics"} and "metrics" in mport,
              f"service {svc}: ServiceMonitor/{svc} selects Service/{svc} and scrapes its port `metrics`")
