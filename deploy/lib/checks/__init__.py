"""The checks behind deploy/check, one module per thing checked. Run the folder:

    python3 deploy/lib/checks [--topology FILE] COMMAND ARGS...

__main__.py has the usage and maps each COMMAND to its module:

    topology            topology.py         `civicgrid topology --json`, got once per run
    yaml                yamlfiles.py        every YAML document parses
    kustomize-fallback  render.py           render a kustomization without kustomize
    k8s-validate        validate.py         Kubernetes OpenAPI schemas, strict
    crossref            crossref.py         references between the rendered objects,
                        crossref_services.py  and each civicgrid service against the code
    auth-fresh, code-drift, emit-secret, nats-config
                        natsauth.py         auth.conf and gen-auth.py, offline
    nats-perms          natsperms.py        a real nats-server enforces the permissions
                                            (natsclient.py: its small NATS client)
    dockerfile          dockerfile.py       deploy/Dockerfile and its build context

Shared: common.py (ok/fail/check, whose lines deploy/check counts and prints; YAML loading;
gen-auth.py as a module) and configkeys.py (the settings the Rust code declares, for
crossref_services.py and dockerfile.py).
"""
