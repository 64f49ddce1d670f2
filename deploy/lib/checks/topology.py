"""`topology ROOT OUT`: get `civicgrid topology --json` once per run, the way
deploy/nats/gen-auth.py gets it ($CIVICGRID_BIN, a fresh target/debug/civicgrid, else cargo
run), and check it is what gen-auth.py relies on: one stream per service inside
civicgrid.<service>.>, consumers on other services' streams with filters inside them, unique
durables, dead letters on <prefix>.<service>.<durable>, required secrets named CIVICGRID__*.

Also how the other checks get the topology: `topology(root)` reads the file given with
--topology (TOPOLOGY_FILE, set by __main__), or gets it itself; `gen_auth(root, ...)` runs
gen-auth.py on that same file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import check, fail, gen_auth_module, ok

# The topology JSON file: --topology FILE, or one this run wrote (see topology_file).
TOPOLOGY_FILE: str | None = None


def topology_file(root: Path) -> str:
    """The file holding `civicgrid topology --json`; got once (as gen-auth.py gets it)."""
    global TOPOLOGY_FILE
    if TOPOLOGY_FILE is None:
        data = gen_auth_module(root).read_topology(None, root)
        fd, TOPOLOGY_FILE = tempfile.mkstemp(prefix="civicgrid-topology-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
    return TOPOLOGY_FILE


def topology(root: Path):
    """gen-auth.py's module, its parsed Topology, and the raw JSON."""
    ga = gen_auth_module(root)
    path = topology_file(root)
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        raise SystemExit(f"no topology in {path} (see the step `topology`)")
    try:
        data = ga.read_topology(path, root)
        return ga, ga.parse_topology(data), data
    except ga.TopologyError as e:
        raise SystemExit(f"  FAIL  {e}") from e


def gen_auth(root: Path, *args: str) -> subprocess.CompletedProcess:
    """gen-auth.py with these arguments and this run's topology."""
    return subprocess.run([sys.executable, str(root / "deploy/nats/gen-auth.py"),
                           "--topology", topology_file(root), *args],
                          capture_output=True, text=True, check=False)


def cmd_topology(root: str, out: str) -> None:
    root_p = Path(root)
    ga = gen_auth_module(root_p)
    try:
        cmd, warning = ga.topology_command(root_p)
        print(f"  run   {' '.join(shlex.quote(c) for c in cmd)}")
        if warning:
            print(f"  note  {warning}")
        data = ga.read_topology(None, root_p)
    except ga.TopologyError as e:
        fail(str(e))
        return
    Path(out).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    ok(f"civicgrid topology --json: {len(data.get('services', []))} service(s), "
       f"{len(data.get('bus', {}).get('streams', []))} stream(s), "
       f"{len(data.get('bus', {}).get('consumers', []))} durable consumer(s)")
    try:
        topo = ga.parse_topology(data)
    except ga.TopologyError as e:
        fail(str(e))
        return
    ok("the topology is what gen-auth.py relies on: one stream per service inside "
       "civicgrid.<service>.>, consumers on other services' streams with filters inside them, "
       f"unique durables, dead letters on {topo.deadletter_prefix}.<service>.<durable> "
       f"({topo.deadletter_stream})")
    bad = [(s.get("name"), k) for s in data.get("services", []) for k in s.get("required_secrets", [])
           if not re.fullmatch(r"CIVICGRID__[A-Z0-9_]+", k)]
    check(not bad, f"required secrets are CIVICGRID__ environment variables ({bad or 'all'})")
