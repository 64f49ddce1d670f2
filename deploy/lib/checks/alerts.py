"""`alerts ROOT FILE...`: the alert rules (PrometheusRule objects of the rendered manifests)
against the code. Every metric an expression uses is one the Rust code registers, with the
suffixes its type gets on the wire (counters `_total`, histograms `_bucket`/`_sum`/`_count`),
or one of the few that other exporters provide (EXTERNAL, each with its source); every label
an expression matches a civicgrid metric on is one the code sets on it (or a label Prometheus
adds); a `durable` it names is a durable consumer of the topology; each rule has a severity,
a summary and a runbook_url whose section exists in docs/operations.md.

The registered metrics are read from the sources, as configkeys.py reads the settings: every
`.register("name", "help", metric)` in crates/, services/ and bin/ with the registry's prefix
`civicgrid_`; the metric's type is the type its variable is declared or built with in the same
file (Counter, Gauge, Histogram, or a family of one).
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import check, load_docs, ok
from .configkeys import _rust_source
from .topology import topology

# Metrics that come from elsewhere than civicgrid's code: name -> who provides it.
EXTERNAL = {
    "up": "Prometheus (a target's last scrape succeeded)",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "kube_statefulset_replicas": "kube-state-metrics",
    "kube_statefulset_status_replicas_ready": "kube-state-metrics",
    "cnpg_collector_up": "CloudNativePG instance manager",
    "cnpg_pg_replication_lag": "CloudNativePG default queries (pg_replication)",
    "cnpg_pg_replication_streaming_replicas": "CloudNativePG default queries (pg_replication)",
    "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp": "Barman Cloud Plugin",
}
# Labels Prometheus (the Operator's scrape configs) adds to every scraped sample.
TARGET_LABELS = {"namespace", "pod", "container", "endpoint", "job", "instance", "service"}

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan"}

SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def registered(root: Path) -> dict[str, tuple[str, set[str], str]]:
    """Wire name -> (type, label names set in its file, file) for every metric the code
    registers."""
    out = {}
    for top in ("crates", "services", "bin"):
        for f in sorted((root / top).rglob("*.rs")):
            if "/target/" in str(f) or "/tests/" in str(f):
                continue
            text = _rust_source(f)
            calls = re.findall(r'\.register\(\s*"(\w+)",\s*"(?:[^"\\]|\\.)*",\s*([\w.]+?)(?:\.clone\(\))?\s*,?\s*\)', text)
            if not calls:
                continue
            labels = _crate_labels(f)
            for name, var in calls:
                ident = var.split(".")[-1]
                m = re.search(r"\b%s\s*[:=]\s*(?:[\w:<>, ]*?)?\b(\w*(Counter|Gauge|Histogram)\w*)" % re.escape(ident), text)
                kind = m.group(2).lower() if m else None
                if kind is None:
                    continue
                for suffix in SUFFIXES[kind]:
                    out[f"civicgrid_{name}{suffix}"] = (kind, labels, str(f.relative_to(root)))
    return out


def _crate_labels(f: Path) -> set[str]:
    """The label names the crate of `f` sets anywhere: `labels([("durable", ..), ..])`."""
    src = next((p for p in f.parents if p.name == "src"), f.parent)
    names = set()
    for g in src.rglob("*.rs"):
        for block in re.findall(r"labels\(\[(.*?)\]\)", _rust_source(g), re.S):
            names |= set(re.findall(r'\(\s*"(\w+)"\s*,', block))
    return names


def _exprs_metrics(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric, {label: value}) for each selector of a PromQL expression."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: m.group(0).replace(" ", "\0"), expr)
    found = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*(?:\(|(?:by|without)\s*\())?", s):
        name, sel, call = m.group(1), m.group(2) or "", m.group(3)
        if call or name.lower() in PROMQL_WORDS or re.fullmatch(r"\d.*", name):
            continue
        before = s[:m.start()].rstrip()
        if re.search(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$", before):
            continue  # a label list
        if re.search(r"\[[^\]]*$", before) or re.search(r"\{[^}]*$", before) or before.endswith("{{"):
            continue  # inside a range or a selector
        labels = {k: v.replace("\0", " ") for k, v in re.findall(r'(\w+)\s*=~?\s*"([^"]*)"', sel)}
        found.append((name, labels))
    return found


def cmd_alerts(root: str, files: list[str]) -> None:
    root_p = Path(root)
    _, _, data = topology(root_p)
    durables = {c["durable"] for c in data["bus"]["consumers"]}
    durables |= {f["durable"] for f in data["bus"].get("feeds", []) if f.get("durable")}
    metrics = registered(root_p)
    check(len(metrics) > 10, f"the code registers {len(metrics)} metric names (with their wire suffixes)")
    ops = (root_p / "docs/operations.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+\s+(.*)$", ops, re.M)}
    rules = [d for f in files for d in load_docs(f) if d.get("kind") == "PrometheusRule"]
    check(bool(rules), f"the renders hold PrometheusRules ({len(rules)})")
    seen = set()
    for pr in rules:
        for g in pr["spec"]["groups"]:
            for r in g["rules"]:
                name = r.get("alert") or r.get("record")
                key = (pr["metadata"]["name"], name)
                if key in seen:
                    continue
                seen.add(key)
                for metric, labels in _exprs_metrics(r["expr"]):
                    if metric in EXTERNAL:
                        ok(f"{name}: {metric} comes from {EXTERNAL[metric]}")
                        continue
                    info = metrics.get(metric)
                    if not check(info is not None, f"{name}: {metric} is a metric the code registers"
                                 + (f" ({info[0]}, {info[2]})" if info else "")):
                        continue
                    for label, value in labels.items():
                        check(label in info[1] or label in TARGET_LABELS,
                              f"{name}: {metric} has the label {label!r} (set in {info[2]})")
                        if label == "durable" and not any(c in value for c in ".*|+?"):
                            check(value in durables, f"{name}: durable {value!r} is a consumer of the topology")
                if r.get("alert"):
                    ann = r.get("annotations", {})
                    check(r.get("labels", {}).get("severity") in ("warning", "critical", "info")
                          and bool(ann.get("summary")),
                          f"{name}: has a severity and a summary")
                    url = ann.get("runbook_url", "")
                    anchor = url.split("#", 1)[1] if "#" in url else None
                    check(url.startswith("docs/operations.md#") and anchor in anchors,
                          f"{name}: runbook_url {url} names a section of docs/operations.md")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return h.replace(" ", "-")
