"""Checks behind deploy/check. Each subcommand prints what it checked and exits non-zero on a
failure. Needs PyYAML (and kubernetes-validate for `k8s-validate`) on PYTHONPATH: deploy/check
installs them into its cache and sets PYTHONPATH.

    python3 deploy/lib/checks [--topology FILE] COMMAND ARGS...

    topology ROOT OUT                          get `civicgrid topology --json` (as gen-auth.py
                                               does), check it, write it to OUT
    yaml FILE...                               every YAML document parses
    kustomize-fallback DIR OUT                 render a kustomization without kustomize
    k8s-validate VERSIONS FILE...              schema-validate rendered manifests (strict)
    crd-validate FILE...                       custom resources against the vendored CRD
                                               schemas of deploy/lib/schemas (strict)
    crossref ROOT FILE...                      references between rendered objects (one
                                               overlay and the Secret templates)
    alerts ROOT FILE...                        the PrometheusRules' metrics against the code
    auth-fresh ROOT                            deploy/k8s/nats/auth.conf == gen-auth.py output
    code-drift ROOT                            auth.conf, base/ and the README against the topology
    emit-secret ROOT VERSION                   gen-auth.py --emit-secret is a valid Secret
    nats-config ROOT NATS_SERVER FILE...       nats-server -t on the rendered NATS config
    nats-perms ROOT NATS_SERVER                a real nats-server enforces the permissions
    dockerfile ROOT                            structure of deploy/Dockerfile and its ignore file
    systemd ROOT                               deploy/systemd's unit and environment against the
                                               code (one process for a small deployment)

The commands that need the services and the bus read the topology from --topology FILE
(deploy/check gets it once per run with `topology`); without it, they get it themselves.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if not __package__:
    # Run as `python3 deploy/lib/checks`: Python put this folder first on sys.path. Import it
    # as the package `checks` from its parent instead, so its modules cannot shadow others.
    _here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

from checks import common, topology  # noqa: E402
from checks.alerts import cmd_alerts  # noqa: E402
from checks.crds import cmd_crd_validate  # noqa: E402
from checks.crossref import cmd_crossref  # noqa: E402
from checks.dockerfile import cmd_dockerfile  # noqa: E402
from checks.natsauth import cmd_auth_fresh, cmd_code_drift, cmd_emit_secret, cmd_nats_config  # noqa: E402
from checks.natsperms import cmd_nats_perms  # noqa: E402
from checks.render import cmd_kustomize_fallback  # noqa: E402
from checks.systemd import cmd_systemd  # noqa: E402
from checks.validate import cmd_k8s_validate  # noqa: E402
from checks.yamlfiles import cmd_yaml  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    given = len(argv) >= 2 and argv[0] == "--topology"
    if given:
        topology.TOPOLOGY_FILE, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    try:
        {
            "topology": lambda: topology.cmd_topology(args[0], args[1]),
            "yaml": lambda: cmd_yaml(args),
            "kustomize-fallback": lambda: cmd_kustomize_fallback(*args),
            "k8s-validate": lambda: cmd_k8s_validate(args[0], args[1:]),
            "crd-validate": lambda: cmd_crd_validate(args),
            "crossref": lambda: cmd_crossref(args[0], args[1:]),
            "alerts": lambda: cmd_alerts(args[0], args[1:]),
            "auth-fresh": lambda: cmd_auth_fresh(args[0]),
            "code-drift": lambda: cmd_code_drift(args[0]),
            "emit-secret": lambda: cmd_emit_secret(args[0], args[1]),
            "nats-config": lambda: cmd_nats_config(args[0], args[1], args[2:]),
            "nats-perms": lambda: cmd_nats_perms(args[0], args[1]),
            "dockerfile": lambda: cmd_dockerfile(args[0]),
            "systemd": lambda: cmd_systemd(args[0]),
        }[cmd]()
    finally:
        if not given and topology.TOPOLOGY_FILE is not None:
            Path(topology.TOPOLOGY_FILE).unlink(missing_ok=True)
    return 1 if common.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
