"""What every check module shares: reporting a check (`ok`, `fail`, `check`; the exit status
comes from FAILURES), reading YAML documents, loading deploy/nats/gen-auth.py as a module, and
small helpers over Kubernetes objects (a workload's pod spec and containers, a listen port).

Reporting is the contract with deploy/check: it counts the lines that start with `  ok `
and prints the others when a step fails.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

# Every failed check of this run; __main__ exits 1 if there is any.
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
    """deploy/nats/gen-auth.py of the tree at `root`, imported as a module."""
    spec = importlib.util.spec_from_file_location("gen_auth", root / "deploy/nats/gen-auth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------- Kubernetes objects

def pod_spec(d: dict) -> dict | None:
    """The pod spec of a workload (Deployment, StatefulSet, DaemonSet, Job), else None."""
    if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return d["spec"]["template"]["spec"]
    return None


def containers(d: dict) -> list[dict]:
    """A workload's init containers and containers ([] for anything else)."""
    ps = pod_spec(d) if isinstance(d.get("spec"), dict) else None
    return (ps.get("initContainers", []) + ps.get("containers", [])) if ps else []


def listen_port(value: str | None) -> int | None:
    """The port of a listen address such as 0.0.0.0:9090 or [::]:9090."""
    m = re.fullmatch(r".*:(\d+)", str(value or ""))
    return int(m.group(1)) if m else None
