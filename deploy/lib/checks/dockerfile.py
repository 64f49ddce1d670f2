"""`dockerfile ROOT`: the structure of deploy/Dockerfile and its build context (hadolint runs in
deploy/check itself):

- two stages, rust:1.95-bookworm then debian:bookworm-slim; one `cargo build --release --locked
  -p civicgrid-cli --no-default-features` without --features; ca-certificates, a non-root
  USER, ENTRYPOINT ["civicgrid"] in exec form, EXPOSE 50051 and the kit's default metrics
  port, no protoc;
- civicgrid-cli is the workspace member bin/civicgrid and builds the binary `civicgrid`;
  civicgrid-dev is optional behind the default feature `dev` only, and no crate built without
  default features depends on it; Cargo.lock exists;
- Dockerfile.dockerignore excludes target/, no workspace member, nothing an include_str! or
  include_bytes! reads.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from .common import check, listen_port
from .configkeys import ConfigModel


# Where the binary crate civicgrid-cli lives.
CLI_CRATE = "bin/civicgrid"


def cmd_dockerfile(root: str) -> None:
    root_p = Path(root)
    text = (root_p / "deploy/Dockerfile").read_text()
    # Join continuation lines, drop comments.
    logical, cur = [], ""
    for line in text.splitlines():
        if not cur and line.lstrip().startswith("#"):
            continue
        cur += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if cur.strip():
                logical.append(cur.strip())
            cur = ""
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(logical), re.M))
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), line.split()[1])
             for line in logical if line.startswith("FROM ")]
    check(froms == ["rust:1.95-bookworm", "debian:bookworm-slim"],
          f"two stages: builder rust:1.95-bookworm, runtime debian:bookworm-slim (got {froms})")
    runtime = logical[max(i for i, l in enumerate(logical) if l.startswith("FROM ")):]
    builds = [shlex.split(l[l.index("cargo build"):].split("&&")[0]) for l in logical if "cargo build" in l]
    build = builds[0] if len(builds) == 1 else []
    want = ["--release", "--locked", "--no-default-features"]
    features = [t for t in build if t in ("--features", "-F", "--all-features") or t.startswith("--features=")]
    check(all(t in build for t in want) and "civicgrid-cli" in build
          and build[build.index("civicgrid-cli") - 1] in ("-p", "--package") and not features,
          "builder runs cargo build --release --locked -p civicgrid-cli --no-default-features, no --features "
          f"(the image carries no dev machinery; got {' '.join(build) or 'no single cargo build'})")
    check(any("ca-certificates" in l for l in runtime), "runtime installs ca-certificates")
    users = [l.split()[1] for l in runtime if l.startswith("USER ")]
    check(bool(users) and users[-1].split(":")[0] not in ("0", "root"),
          f"runtime runs as a non-root user ({users[-1] if users else 'none'})")
    ep = [l for l in runtime if l.startswith("ENTRYPOINT ")]
    check(bool(ep) and json.loads(ep[-1][len("ENTRYPOINT "):]) == ["civicgrid"],
          'ENTRYPOINT ["civicgrid"] in exec form')
    exposed = {t.split("/")[0] for l in runtime if l.startswith("EXPOSE ") for t in l.split()[1:]}
    metrics = listen_port(ConfigModel(root_p).defaults.get("CIVICGRID__METRICS__LISTEN")) or 9090
    check({"50051", str(metrics)} <= exposed,
          f"runtime exposes gRPC 50051 and metrics {metrics} (the kit's default metrics.listen; got {sorted(exposed)})")
    check("protoc" not in " ".join(l for l in logical if l.startswith("RUN")),
          "no protoc installed (protox compiles the protos)")
    # The binary name the Dockerfile copies must be the one the cli crate builds, and the
    # crates it builds without default features must not pull in crates/dev.
    import fnmatch
    import tomllib
    ws = tomllib.loads((root_p / "Cargo.toml").read_text()).get("workspace", {})
    members = ws.get("members", [])
    manifests: dict[str, tuple[str, dict]] = {}
    for m in members:
        for d in sorted(root_p.glob(m.rstrip("/"))):
            if (d / "Cargo.toml").exists():
                mf = tomllib.loads((d / "Cargo.toml").read_text())
                manifests[mf.get("package", {}).get("name", "")] = (str(d.relative_to(root_p)), mf)
    where, manifest = manifests.get("civicgrid-cli", (None, {}))
    check(where == CLI_CRATE, f"package civicgrid-cli is the workspace member {CLI_CRATE} (got {where})")
    if where is not None:
        pkg = manifest.get("package", {}).get("name")
        bins = [b.get("name") for b in manifest.get("bin", [])] or [pkg]
        check("civicgrid" in bins, f"{where} builds the binary `civicgrid` (got {bins})")
        check(any(fnmatch.fnmatch(where, m.rstrip("/")) for m in members),
              f"{where} is a workspace member (cargo build -p civicgrid-cli needs it)")
        dev = manifest.get("dependencies", {}).get("civicgrid-dev", {})
        feats = manifest.get("features", {})
        enablers = sorted(f for f, items in feats.items() if any(i in ("dep:civicgrid-dev", "civicgrid-dev")
                                                                 or i.startswith("civicgrid-dev/") for i in items))
        check(isinstance(dev, dict) and dev.get("optional") is True and enablers == ["dev"]
              and "dev" in feats.get("default", []),
              f"{where}: civicgrid-dev is optional, enabled by the default feature `dev` only (enabled by {enablers})")
        # Every workspace crate the image builds (normal and build dependencies, without the
        # optional ones of civicgrid-cli).
        seen, todo = set(), ["civicgrid-cli"]
        while todo:
            name = todo.pop()
            if name in seen or name not in manifests:
                continue
            seen.add(name)
            mf = manifests[name][1]
            for section in ("dependencies", "build-dependencies"):
                for dep, spec in mf.get(section, {}).items():
                    if name == "civicgrid-cli" and isinstance(spec, dict) and spec.get("optional"):
                        continue
                    todo.append(dep)
        built = sorted(seen - {"civicgrid-cli"})
        check("civicgrid-dev" not in seen,
              f"built with --no-default-features, civicgrid-cli and its workspace crates ({', '.join(built)}) "
              "do not depend on civicgrid-dev")
    check((root_p / "Cargo.lock").exists(), "Cargo.lock exists (the build uses --locked)")
    # The ignore file must keep target/ out and must not hide what the build needs.
    ign = [l.strip() for l in (root_p / "deploy/Dockerfile.dockerignore").read_text().splitlines()
           if l.strip() and not l.startswith("#")]
    check("target" in ign, "Dockerfile.dockerignore excludes target/")
    tops = {l.strip("/").split("/")[0] for l in ign if not l.startswith("**") and not l.startswith("!")}
    try:
        import tomllib
        members = tomllib.loads((root_p / "Cargo.toml").read_text()).get("workspace", {}).get("members", [])
    except (OSError, ValueError):
        members = []
    hidden = [m for m in members if m.split("/")[0] in tops]
    check(not hidden, f"no workspace member is excluded from the build context ({hidden or 'none'})")
    includes = []
    for src in root_p.glob("**/*.rs"):
        if "target" in src.parts or ".git" in src.parts:
            continue
        for m in re.finditer(r'include_(?:str|bytes)!\(\s*(?:concat!\([^)]*\)|"([^"]+)")', src.read_text(errors="replace")):
            if m.group(1):
                includes.append(os.path.normpath(os.path.join(src.parent.relative_to(root_p), m.group(1))))
    # `!path` lines bring single files back (`civicgrid up` builds in deploy/nats/gen-auth.py).
    back = [l[1:].strip("/") for l in ign if l.startswith("!")]
    bad = [i for i in includes if i.split(os.sep)[0] in tops
           and not any(i == b or i.startswith(b + os.sep) for b in back)]
    check(not bad, f"no include_str!/include_bytes! reads an excluded path ({bad or 'none'})")
