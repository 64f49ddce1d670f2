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
    drain = int(model.defaults.get("CIVICGRID__RUNTIME__DRAIN_TIMEOUT_SECS", "25"))
    stop = int(re.sub(r"s$", "", service.get("TimeoutStopSec", "0")) or 0)
    check(stop > drain, f"TimeoutStopSec {stop} s exceeds the drain limit ({drain} s)")
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
    strays = sorted(k for k in env if not k.startswith("CIVICGRID__") and not any(k.startswith(p) for p in prefixes))
    check(not strays, f"civicgrid.env: every other variable is for a service the unit runs{': not ' + ', '.join(strays) if strays else ''}")

    ports: dict[int, str] = {}
    for name in names:
        e = effective[name]
        needed = set(ALWAYS_REQUIRED) | {
            k for k in service_required_keys(root_p, name)
            if k not in CONDITIONAL_KEYS or e.get(CONDITIONAL_KEYS[k][0]) == CONDITIONAL_KEYS[k][1]
        }
        missing = sorted(k for k in needed if not e.get(k))
        check(not missing, f"{name} has every key it cannot start without{': missing ' + ', '.join(missing) if missing else ''}")
        for key in ("CIVICGRID__GRPC__LISTEN", "CIVICGRID__METRICS__LISTEN"):
            port = listen_port(e.get(key))
            clash = ports.get(port) if port else None
            check(port is not None and clash is None,
                  f"{name}'s {key} ({e.get(key)}) is a port of its own{'; ' + clash + ' has it' if clash else ''}")
            if port:
                ports[port] = f"{name}'s {key}"
        check(e.get("CIVICGRID__NATS__USER") == name, f"{name} logs in to NATS as its own user")
        for setting, peer in known[name].get("peers", []):
            url = e.get(setting, "")
            want = listen_port(effective.get(peer, {}).get("CIVICGRID__GRPC__LISTEN"))
            got = re.search(r":(\d+)/?$", url)
            check(peer in names and got is not None and int(got.group(1)) == want,
                  f"{name}'s {setting} ({url}) is {peer}'s gRPC port ({want})")
