"""Part of `crossref`: each service's NetworkPolicy against the topology. It selects the
service's pods and governs ingress and egress; ingress only on the container's own ports: gRPC
50051 from exactly the callers the topology declares (the console for the services in its
`peers`, each service whose `peers` name this one) plus the labelled clients
(civicgrid.io/client pods, civicgrid.io/edge namespaces), and the metrics port from the
monitoring namespace only; egress only to DNS 53, NATS 4222, PostgreSQL 5432 (the
CloudNativePG pods, or an ipBlock for an external server) and the gRPC 50051 of exactly the
peers it calls, plus, for notify alone, 443 and 80 on public addresses (no private range).
"""

from __future__ import annotations

import ipaddress

from .common import check, containers

PRIVATE = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "127.0.0.0/8", "fc00::/7", "fe80::/10")]
INTERNET_EGRESS = {"notify"}  # webhooks and the SMS gateway (deploy/README.md, "Outbound calls")


def _peer_label(by: dict, name: str) -> str | None:
    d = by.get(("Deployment", name))
    return (d or {}).get("spec", {}).get("selector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")


def _who(peer: dict) -> str:
    """A NetworkPolicy peer as a short name: the pods' app name, a namespace, a label, a CIDR."""
    if "ipBlock" in peer:
        return "cidr:" + peer["ipBlock"]["cidr"]
    pods = (peer.get("podSelector") or {}).get("matchLabels", {})
    nss = (peer.get("namespaceSelector") or {}).get("matchLabels", {})
    if "namespaceSelector" in peer and not nss and pods.get("k8s-app") == "kube-dns":
        return "dns"
    if nss.get("kubernetes.io/metadata.name"):
        return "ns:" + nss["kubernetes.io/metadata.name"]
    if nss:
        return "ns-label:" + ",".join(f"{k}={v}" for k, v in nss.items())
    if pods.get("app.kubernetes.io/name"):
        return pods["app.kubernetes.io/name"]
    if pods.get("cnpg.io/cluster"):
        return "cnpg:" + pods["cnpg.io/cluster"]
    return "pods:" + ",".join(f"{k}={v}" for k, v in pods.items())


def check_netpol(by: dict, svc: str, services: dict, console: dict | None) -> None:
    dep = by.get(("Deployment", svc))
    np = by.get(("NetworkPolicy", svc))
    if not check(np is not None and dep is not None, f"service {svc}: NetworkPolicy/{svc} exists"):
        return
    spec = np["spec"]
    labels = dep["spec"]["template"]["metadata"].get("labels", {})
    sel = spec.get("podSelector", {}).get("matchLabels", {})
    check(bool(sel) and all(labels.get(k) == v for k, v in sel.items()),
          f"service {svc}: NetworkPolicy/{svc} selects its pods")
    check(set(spec.get("policyTypes", [])) == {"Ingress", "Egress"},
          f"service {svc}: NetworkPolicy/{svc} governs ingress and egress")
    ports = {p.get("name"): p["containerPort"] for c in containers(dep) for p in c.get("ports", [])}
    ingress: dict[int, set[str]] = {}
    for r in spec.get("ingress", []):
        srcs = {_who(p) for p in r.get("from", [])} or {"anywhere"}
        for p in r.get("ports", []):
            ingress.setdefault(ports.get(p.get("port"), p.get("port")), set()).update(srcs)
    check(set(ingress) <= set(ports.values()),
          f"service {svc}: ingress only on its container ports {sorted(ports.values())} (got {sorted(ingress)})")
    callers = {_peer_label(by, s) for s, info in services.items() if any(p == svc for _, p in info.get("peers", []))}
    if console is not None and any(p == svc for _, p in console.get("peers", [])):
        callers.add(_peer_label(by, console["name"]))
    want = callers | {"pods:civicgrid.io/client=true", "ns-label:civicgrid.io/edge=true"}
    check(ingress.get(ports.get("grpc")) == want,
          f"service {svc}: gRPC {ports.get('grpc')} admits exactly {sorted(map(str, want))}"
          + ("" if ingress.get(ports.get("grpc")) == want else f" (got {sorted(ingress.get(ports.get('grpc'), []))})"))
    check(ingress.get(ports.get("metrics")) == {"ns:monitoring"},
          f"service {svc}: metrics {ports.get('metrics')} only from the namespace monitoring")
    for name, port in ports.items():
        if name not in ("grpc", "metrics") and port in ingress:
            check("anywhere" not in ingress[port] and "ns-label:civicgrid.io/edge=true" in ingress[port],
                  f"service {svc}: port {name} ({port}) only from the edge namespaces ({sorted(ingress[port])})")
    egress: dict[str, set] = {}
    public_ok = True
    for r in spec.get("egress", []):
        eports = {p.get("port") for p in r.get("ports", [])}
        for t in r.get("to", []) or [{"ipBlock": {"cidr": "0.0.0.0/0"}}]:
            who = _who(t)
            if who.startswith("cidr:") and ipaddress.ip_network(who[5:]).prefixlen == 0:
                excepted = [ipaddress.ip_network(n) for n in t.get("ipBlock", {}).get("except", [])]
                public_ok &= all(any(p.subnet_of(e) for e in excepted if e.version == p.version)
                                 for p in PRIVATE if p.version == ipaddress.ip_network(who[5:]).version)
                who = "internet"
            elif who.startswith("cidr:"):
                who = "postgres" if eports == {5432} else who
            elif who.startswith("cnpg:"):
                who = "postgres"
            egress.setdefault(who, set()).update(eports)
    want_e = {"dns": {53}, "nats": {4222}, "postgres": {5432}}
    for _, peer in services[svc].get("peers", []):
        want_e[_peer_label(by, peer) or f"<{peer}?>"] = {50051}
    if svc in INTERNET_EGRESS:
        want_e["internet"] = {443, 80}
    check(egress == want_e, f"service {svc}: egress only to {want_e}" + ("" if egress == want_e else f" (got {egress})"))
    if "internet" in egress:
        check(public_ok, f"service {svc}: its internet egress excepts every private, shared, loopback and link-local range")
