"""`civicgrid topology --json`, as deploy/nats/gen-auth.py needs it: how to get it
(topology_command, read_topology: see "Where the topology comes from" in gen-auth.py), and
what the NATS permissions rely on, checked and parsed into a Topology (parse_topology).
deploy/lib/checks uses it through gen-auth.py (ga.read_topology, ...).

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

# The repository this file belongs to (deploy/nats/topology.py).
ROOT = Path(__file__).resolve().parent.parent.parent

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
DURABLE_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class TopologyError(Exception):
    """The topology could not be obtained, or it is not what gen-auth.py can use."""


class Consumer(NamedTuple):
    """One durable consumer a service keeps on another service's stream."""

    source: str                 # the service whose stream it reads
    stream: str                 # that stream, CIVICGRID_<SOURCE>
    durable: str                # the durable consumer's name
    subjects: tuple[str, ...]   # its filter subjects, all inside the source stream


class Feed(NamedTuple):
    """A stream of a service's own that others publish to at a high rate (patrol's positions):
    the service creates it and reads it through one durable; a publisher user may only
    publish to its subjects."""

    service: str                # the service that owns and reads it
    stream: str                 # CIVICGRID_<SERVICE>_<NAME>
    subjects: tuple[str, ...]   # what publishers may publish, inside civicgrid.<service>.>
    durable: str                # the owner's durable consumer

    @property
    def publisher(self) -> str:
        """The NATS user that publishes to the feed: `patrol-positions-publisher` for
        CIVICGRID_PATROL_POSITIONS."""
        stem = self.stream.removeprefix("CIVICGRID_").lower().replace("_", "-")
        return stem + "-publisher"


class Read(NamedTuple):
    """One stream a reader follows with an ephemeral ordered consumer."""

    source: str                 # the service whose stream it is
    stream: str                 # CIVICGRID_<SOURCE>
    filter_subject: str         # the consumer's single filter, civicgrid.<source>.>


class Reader(NamedTuple):
    """A reader of the bus (the console): it follows streams with ephemeral ordered pull
    consumers, never acknowledges, keeps no durable and publishes nothing."""

    name: str                   # its name and NATS user
    reads: tuple[Read, ...]


class Service(NamedTuple):
    """One service of the topology, as far as NATS is concerned."""

    name: str
    stream: str                  # the stream it owns
    subjects: tuple[str, ...]    # that stream's subjects: what it may publish
    consumers: tuple[Consumer, ...]
    feeds: tuple[Feed, ...] = ()  # its feeds (bus.feeds)


class Topology(NamedTuple):
    """What gen-auth.py needs of `civicgrid topology --json`."""

    services: dict[str, Service]     # in the topology's order
    streams: dict[str, str]          # owning service -> stream name, every stream
    deadletter_stream: str           # CIVICGRID_DEADLETTER
    deadletter_prefix: str           # civicgrid.deadletter (+ .<service>.<durable>)
    readers: dict[str, Reader] = {}  # bus.readers: the console

    def deadletter_subjects(self, service: str) -> str:
        return f"{self.deadletter_prefix}.{service}.>"



def stream_name(service: str) -> str:
    """The stream a service owns by convention (crates/contracts stream_name)."""
    return "CIVICGRID_" + service.upper()


def _newest_mtime(root: Path) -> float:
    """The newest modification time of what `civicgrid topology` is built from."""
    paths = [root / "Cargo.toml", root / "Cargo.lock"]
    for d in ("proto", "crates/contracts", "bin/civicgrid"):
        if (root / d).is_dir():
            paths += [p for p in (root / d).rglob("*") if p.is_file()]
    paths += list(root.glob("services/*/src/lib.rs"))
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)


def topology_command(root: Path = ROOT) -> tuple[list[str], str | None]:
    """How to run `civicgrid topology --json`, and a warning to print (or None)."""
    args = ["topology", "--json"]
    explicit = os.environ.get("CIVICGRID_BIN")
    if explicit:
        return [explicit, *args], None
    binary = root / "target/debug/civicgrid"
    fresh = binary.is_file() and binary.stat().st_mtime >= _newest_mtime(root)
    if fresh:
        return [str(binary), *args], None
    cargo = shutil.which("cargo")
    if cargo and (root / "Cargo.toml").is_file():
        return [cargo, "run", "-q", "--manifest-path", str(root / "Cargo.toml"),
                "-p", "civicgrid-cli", "--locked", "--", *args], None
    if binary.is_file():
        return [str(binary), *args], (f"{binary} is older than its sources and there is no "
                                      "cargo to rebuild it: its topology may be out of date")
    raise TopologyError("cannot run `civicgrid topology --json`: set CIVICGRID_BIN to a civicgrid "
                        f"binary, build {binary} (cargo build -p civicgrid-cli), or pass --topology FILE")


def read_topology(source: str | None = None, root: Path = ROOT) -> dict:
    """The topology JSON: from a file, `-` (standard input), or by running civicgrid."""
    if source == "-":
        text, what = sys.stdin.read(), "standard input"
    elif source:
        try:
            text, what = Path(source).read_text(encoding="utf-8"), source
        except OSError as e:
            raise TopologyError(f"cannot read the topology: {e}") from e
    else:
        cmd, warning = topology_command(root)
        if warning:
            print(f"gen-auth.py: warning: {warning}", file=sys.stderr)
        what = " ".join(cmd)
        try:
            out = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True, check=False)
        except OSError as e:
            raise TopologyError(f"cannot run {what}: {e}") from e
        if out.returncode != 0:
            raise TopologyError(f"{what} failed (exit {out.returncode})")
        text = out.stdout
    try:
        data = json.loads(text)
    except ValueError as e:
        raise TopologyError(f"the topology from {what} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise TopologyError(f"the topology from {what} is not a JSON object")
    return data


def _subject_within(inner: str, outer: str) -> bool:
    """Every subject `inner` matches is matched by `outer` (NATS wildcards)."""
    a, b = inner.split("."), outer.split(".")
    for i, tok in enumerate(b):
        if tok == ">":
            return len(a) > i
        if i >= len(a) or a[i] == ">" or (tok != "*" and (a[i] == "*" or a[i] != tok)):
            return False
    return len(a) == len(b)


def parse_topology(data: dict) -> Topology:
    """Reads `civicgrid topology --json` and checks what the permissions rely on: each
    service owns one stream inside civicgrid.<service>., every consumer reads another
    service's stream with filters inside it, durables are plain names unique per stream and
    outside the county-<code> names, dead-letter subjects are <prefix>.<service>.<durable>."""
    errors: list[str] = []
    try:
        bus = data["bus"]
        raw_streams = {s["service"]: s for s in bus["streams"]}
        raw_consumers = list(bus["consumers"])
        raw_feeds = list(bus.get("feeds") or [])
        raw_readers = list(bus.get("readers") or [])
        dl = bus["deadletter"]
        raw_services = list(data["services"])
        dl_name, dl_pattern = dl["name"], dl["subject_pattern"]
    except (KeyError, TypeError) as e:
        raise TopologyError(f"the topology lacks {e} (is the civicgrid binary too old?)") from e

    suffix = ".<service>.<durable>"
    prefix = dl_pattern[:-len(suffix)] if dl_pattern.endswith(suffix) else ""
    if not prefix or any(t in ("*", ">") or not t for t in prefix.split(".")):
        errors.append(f"dead-letter subject pattern {dl_pattern!r} is not <prefix>{suffix}")
    if not any(_subject_within(f"{prefix}.x.y", s) for s in dl.get("subjects", [])):
        errors.append(f"dead-letter stream {dl_name} does not cover {dl_pattern}")
    if not DURABLE_RE.match(str(dl_name)):
        errors.append(f"dead-letter stream name {dl_name!r} is not a plain name")

    streams: dict[str, str] = {}
    for owner, s in raw_streams.items():
        name, subjects = s.get("name"), s.get("subjects") or []
        if not NAME_RE.match(str(owner)) or not DURABLE_RE.match(str(name)):
            errors.append(f"stream {name!r} of {owner!r}: not plain names")
        if not subjects or any(not _subject_within(x, f"civicgrid.{owner}.>") for x in subjects):
            errors.append(f"stream {name} of {owner}: subjects {subjects} must lie in civicgrid.{owner}.>")
        streams[owner] = name

    seen: set[tuple[str, str]] = set()
    consumers: dict[str, list[Consumer]] = {}
    for c in raw_consumers:
        svc, source, durable = c.get("service"), c.get("source"), c.get("durable")
        stream, filters = c.get("stream"), tuple(c.get("filter_subjects") or ())
        consumers.setdefault(svc, []).append(Consumer(source, stream, durable, filters))
        if source == svc or source not in streams or streams[source] != stream:
            errors.append(f"{svc}: consumer {durable} reads {stream!r} of {source!r}, "
                          "which is not another service's stream")
            continue
        if not DURABLE_RE.match(str(durable)) or (stream, durable) in seen:
            errors.append(f"{svc}: durable {durable!r} is not a plain name unique on {stream}")
        if str(durable).startswith("county-"):
            errors.append(f"{svc}: durable {durable!r} takes a county center's name")
        seen.add((stream, durable))
        outer = raw_streams[source].get("subjects") or []
        if not filters or any(not any(_subject_within(f, o) for o in outer) for f in filters):
            errors.append(f"{svc}: filters {list(filters)} of {durable} must lie in {outer}")
        if c.get("deadletter_subject") != f"{prefix}.{svc}.{durable}":
            errors.append(f"{svc}: dead-letter subject of {durable} is {c.get('deadletter_subject')!r}, "
                          f"not {prefix}.{svc}.{durable}")

    feeds: dict[str, list[Feed]] = {}
    for f in raw_feeds:
        owner, name, durable = f.get("service"), f.get("name"), f.get("durable")
        subjects = tuple(f.get("subjects") or ())
        feed = Feed(owner, name, subjects, durable)
        feeds.setdefault(owner, []).append(feed)
        if not DURABLE_RE.match(str(name)) or name in streams.values() or not DURABLE_RE.match(str(durable)):
            errors.append(f"feed {name!r} of {owner!r}: not plain names distinct from the fact streams")
        own_facts = raw_streams.get(owner, {}).get("subjects") or []
        if not subjects or any(not _subject_within(x, f"civicgrid.{owner}.>") for x in subjects):
            errors.append(f"feed {name} of {owner}: subjects {list(subjects)} must lie in civicgrid.{owner}.>")
        elif any(_subject_within(x, o) or _subject_within(o, x) for x in subjects for o in own_facts):
            errors.append(f"feed {name} of {owner}: subjects {list(subjects)} overlap its facts {own_facts}")
        if f.get("deadletter_subject") != f"{prefix}.{owner}.{durable}":
            errors.append(f"feed {name}: dead-letter subject is {f.get('deadletter_subject')!r}, "
                          f"not {prefix}.{owner}.{durable}")

    services: dict[str, Service] = {}
    for s in raw_services:
        name = s.get("name")
        if not NAME_RE.match(str(name)) or name in services:
            errors.append(f"service name {name!r} is not a unique plain name")
            continue
        if name not in streams or s.get("stream") != streams[name]:
            errors.append(f"service {name}: its stream {s.get('stream')!r} is not in bus.streams")
            continue
        own = tuple(consumers.get(name, ()))
        if list(s.get("consumers") or []) != [c.durable for c in own]:
            errors.append(f"service {name}: consumers {s.get('consumers')} are not bus.consumers' "
                          f"{[c.durable for c in own]}")
        services[name] = Service(name, streams[name], tuple(raw_streams[name]["subjects"]), own,
                                 tuple(feeds.get(name, ())))
    for svc in consumers:
        if svc not in services:
            errors.append(f"consumers of {svc!r}, which is not a service of the topology")

    # Readers (the console): a plain name of no service, feed publisher or county; ordered
    # consumers only, nothing published; each read is a service's fact stream, whole.
    readers: dict[str, Reader] = {}
    publishers = {f.publisher for fs in feeds.values() for f in fs}
    for r in raw_readers:
        name = r.get("name")
        if (not NAME_RE.match(str(name)) or name in services or name in readers or name in publishers
                or str(name).startswith("county-")):
            errors.append(f"reader {name!r} is not a plain name distinct from the services, "
                          "feed publishers and county centers")
            continue
        if r.get("consumers") != "ordered" or r.get("publishes"):
            errors.append(f"reader {name}: consumers {r.get('consumers')!r} and publishes "
                          f"{r.get('publishes')!r}; gen-auth.py knows readers with ordered "
                          "consumers that publish nothing")
        reads = []
        for x in r.get("reads") or []:
            source, stream, flt = x.get("source"), x.get("stream"), x.get("filter_subject")
            if source not in streams or streams[source] != stream:
                errors.append(f"reader {name}: {stream!r} is not the fact stream of {source!r}")
                continue
            if flt != f"civicgrid.{source}.>":
                errors.append(f"reader {name}: filter {flt!r} on {stream} is not civicgrid.{source}.>")
            reads.append(Read(source, stream, flt))
        if not reads or len({x.stream for x in reads}) != len(reads):
            errors.append(f"reader {name}: reads {[x.stream for x in reads]} are not distinct streams")
        readers[name] = Reader(name, tuple(reads))
    if errors:
        raise TopologyError("the topology cannot be used:\n  " + "\n  ".join(errors))
    return Topology(services, streams, dl_name, prefix, readers)


def load_topology(source: str | None = None, root: Path = ROOT) -> Topology:
    """read_topology + parse_topology."""
    return parse_topology(read_topology(source, root))
