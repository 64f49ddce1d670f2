"""deploy/systemd: the unit that runs every service in one process and its environment file,
against the code (docs/operations.md, "One process for a small deployment").

The unit: `ExecStart` runs `civicgrid service` with services of the topology, each once;
`EnvironmentFile`, a `User` other than root, `Restart=on-failure` (a service that stops on its
own fails the process) and a `TimeoutStopSec` above the drain limit. The environment: every
`CIVICGRID__KEY` a setting of the kit or of a service; every `CIVICGRID_<SERVICE>__KEY` a
setting of that service, which the unit runs; each service has what it cannot start without
(the servers' URLs, its keys); no two services listen on one port; a setting holding another
service's URL points at that service's gRPC port; each service its own NATS user.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

from .common import check, listen_port
from .configkeys import CONDITIONAL_KEYS, ConfigModel, service_required_keys
from .topology import topology

ALWAYS_REQUIRED = ("CIVICGRID__NATS__URL", "CIVICGRID__DATABASE__URL")


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (comments and blanks skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip()
    return env


def _seconds(value: str) -> float | None:
    """A systemd time span (`40`, `40s`, `1min 30s`, `infinity`) in seconds; None if unreadable."""
    value = value.strip()
    if value == "infinity":
        return float("inf")
    units = {"": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
             "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, "ms": 0.001, "msec": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    if not parts or re.sub(r"[\d.\sa-z]", "", value) or any(u not in units for _, u in parts):
        return None
    return sum(float(n) * units[u] for n, u in parts)


def _user_of(url: str) -> str:
    m = re.match(r"\w+://([^:@/]+)", url or "")
    return m.group(1) if m else ""


def cmd_systemd(root: str) -> None:
    root_p = Path(root)
    folder = root_p / "deploy/systemd"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd's keys are case-sensitive
    unit.read(folder / "civicgrid.service")
    service = unit["Service"] if unit.has_section("Service") else {}
    _, _, data = topology(root_p)
    known = {s["name"]: s for s in data["services"]}

    argv = shlex.split(service.get("ExecStart", ""))
    names = argv[2:] if len(argv) > 2 and argv[1] == "service" else []
    check(bool(argv) and argv[0].endswith("/civicgrid") and bool(names),
          f"civicgrid.service runs `civicgrid service <names>…` ({' '.join(argv)})")
    check(all(n in known for n in names) and len(set(names)) == len(names),
          f"it names services of the topology, each once: {', '.join(names)}")
    check(service.get("Restart") in ("on-failure", "always"), "Restart=on-failure: a failed process starts again")
    check(service.get("User", "root") != "root", f"it runs as its own user ({service.get('User')})")
    model = ConfigModel(root_p)
    check(service.get("EnvironmentFile", "").endswith("/civicgrid.env"), "its settings come from civicgrid.env")

    env = _env_file(folder / "civicgrid.env")
    shared = {k: v for k, v in env.items() if k.startswith("CIVICGRID__")}
    models = {n: ConfigModel(root_p, n) for n in names}
    every_own = set().union(*[(m.own or set()) for m in models.values()]) if models else set()
    common = model.common or set()
    unknown = sorted(k for k in shared if k not in common and k not in every_own)
    check(not unknown, f"civicgrid.env: its {len(shared)} shared variables are settings{': not ' + ', '.join(unknown) if unknown else ''}")
    effective: dict[str, dict[str, str]] = {}
    prefixes = {f"CIVICGRID_{n.upper().replace('-', '_')}__": n for n in names}
    for name in names:
        prefix = f"CIVICGRID_{name.upper().replace('-', '_')}__"
        own = {"CIVICGRID__" + k[len(prefix):]: v for k, v in env.items() if k.startswith(prefix)}
        unknown = sorted(prefix + k[len("CIVICGRID__"):] for k in own if k not in common and k not in (models[name].own or set()))
        check(not unknown, f"civicgrid.env: its {len(own)} variables for {name} are settings of {name}{': not ' + ', '.join(unknown) if unknown else ''}")
        effective[name] = {**models[name].defaults, **shared, **own}
    # Other variables (CIVICGRID_CONFIG, RUST_LOG, OTEL_…) are not settings; a per-service one
    # for a service the unit does not run would be silently ignored.
    strays = sorted(k for k in env if re.match(r"CIVICGRID_[A-Z0-9_]+?__", k) and not k.startswith("CIVICGRID__")
                    and not any(k.startswith(p) for p in prefixes))
    check(not strays, f"civicgrid.env: every per-service variable is for a service the unit runs{': not ' + ', '.join(strays) if strays else ''}")
    drains = {n: _seconds(effective[n].get("CIVICGRID__RUNTIME__DRAIN_TIMEOUT_SECS", "25")) or 0 for n in names}
    drain = max(drains.values(), default=0)
    stop = _seconds(service.get("TimeoutStopSec", "0"))
    check(stop is not None and stop > drain,
          f"TimeoutStopSec ({service.get('TimeoutStopSec')}) exceeds the longest drain limit of the services ({drain:g} s)")

    ports: dict[int, str] = {}
    for name in names:
        e = effective[name]
        needed = set(ALWAYS_REQUIRED) | {
            k for k in service_required_keys(root_p, name)
            if k not in CONDITIONAL_KEYS or e.get(CONDITIONAL_KEYS[k][0]) == CONDITIONAL_KEYS[k][1]
        }
        missing = sorted(k for k in needed if not e.get(k))
        check(not missing, f"{name} has every key it cannot start without{': missing ' + ', '.join(missing) if missing else ''}")
        # Every listener: gRPC, metrics, and any of the service's own (intake's Open311 facade).
        listeners = ["CIVICGRID__GRPC__LISTEN", "CIVICGRID__METRICS__LISTEN"] + sorted(
            k for k, v in e.items() if k.endswith("__LISTEN") and v and k not in ("CIVICGRID__GRPC__LISTEN", "CIVICGRID__METRICS__LISTEN"))
        for key in listeners:
            port = listen_port(e.get(key))
            clash = ports.get(port) if port else None
            check(port is not None and clash is None,
                  f"{name}'s {key} ({e.get(key)}) is a port of its own{'; ' + clash + ' has it' if clash else ''}")
            if port:
                ports[port] = f"{name}'s {key}"
        check(e.get("CIVICGRID__NATS__USER") == name, f"{name} logs in to NATS as its own user")
        check(_user_of(e.get("CIVICGRID__DATABASE__URL", "")) == name,
              f"{name} logs in to PostgreSQL as its own role ({_user_of(e.get('CIVICGRID__DATABASE__URL', ''))})")
        for setting, peer in known[name].get("peers", []):
            url = e.get(setting, "")
            want = listen_port(effective.get(peer, {}).get("CIVICGRID__GRPC__LISTEN"))
            got = re.search(r":(\d+)/?$", url)
            check(peer in names and got is not None and int(got.group(1)) == want,
                  f"{name}'s {setting} ({url}) is {peer}'s gRPC port ({want})")
