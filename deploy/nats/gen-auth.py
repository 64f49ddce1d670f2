#!/usr/bin/env python3
"""Generate the NATS users and permissions for civicgrid (design notes, section 10).

Prints a nats-server `authorization { users = [...] }` block: one user per civicgrid
service, per feed publisher, per reader (the console) and per county center. Each user may publish and subscribe only to its own
subjects. The block holds no secrets: every password is a NATS config variable such as
`$INTAKE_PASSWORD`, which nats-server reads from its environment when it starts (in
Kubernetes, from the Secret `civicgrid-nats-users`).

The services, their streams, the dead-letter stream and every durable consumer come from
the code: `civicgrid topology --json` prints them (crates/contracts, bin/civicgrid's
registry). This script keeps no copy of them.

Usage:
    deploy/nats/gen-auth.py --county 411602 [--county 411603 ...] [-o FILE]
    deploy/nats/gen-auth.py --county 411602 --emit-secret > nats-users.secret.yaml
    deploy/nats/gen-auth.py --county 411602 --township 411602001 --admin operator

    --county CODE      add a user `county-CODE` for that county center (6-digit division
                       code; the city is the code's first 4 digits + "00"). Repeatable.
    --township CODE    add a user `township-CODE` for that township center (9-digit
                       code; its county is the first 6 digits). Repeatable.
    --admin NAME       add a user NAME with every permission, for operators' tools (the
                       `nats` CLI, `civicgrid tail` over every region). `civicgrid up` makes
                       one, `operator`. Repeatable.
    --service NAME     emit only these service users (default: every service of the
                       topology).
    --topology FILE    read the topology JSON from FILE (`-`: standard input) instead of
                       running `civicgrid topology --json` (see "Where the topology comes
                       from" below).
    --emit-secret      print a Kubernetes Secret with a fresh random password for every
                       user instead of the config block (review it, then apply it).
    --namespace NS     namespace of that Secret (default: civicgrid).
    --new-password     print one new random password (for a single new user) and exit.
    --county-shared-inbox
                       let county users subscribe to `_INBOX.>` (see below) instead of
                       their own `_INBOX_county-CODE.>` prefix.
    -o, --output FILE  write to FILE instead of standard output.

In Kubernetes the output is deploy/k8s/nats/auth.conf, which the NATS ConfigMap includes:

    deploy/nats/gen-auth.py --county 411602 --county 411603 -o deploy/k8s/nats/auth.conf

Where the topology comes from
-----------------------------
Without --topology, the script runs `civicgrid topology --json`, taking the first of:
  1. $CIVICGRID_BIN (a civicgrid binary);
  2. target/debug/civicgrid in this repository, unless a source it is built from
     (Cargo.toml, Cargo.lock, proto/, crates/contracts/, bin/civicgrid/,
     services/*/src/lib.rs) is newer than it;
  3. `cargo run -q -p civicgrid-cli --locked -- topology --json` in this repository (which
     also brings target/debug/civicgrid up to date);
  4. a stale target/debug/civicgrid when there is no cargo (with a warning).
topology.py, next to this script, does that and checks the topology is what the permissions
below rely on.

What each user may do
---------------------
Service `S` (one user per service of the topology; its stream is CIVICGRID_S):
  publish    civicgrid.S.>                     its own facts (the subjects of its stream)
             civicgrid.deadletter.S.>          its dead letters
             $JS.API.INFO
             $JS.API.STREAM.{CREATE,UPDATE,INFO}.CIVICGRID_S      manage its own stream
             $JS.API.STREAM.{CREATE,INFO}.CIVICGRID_DEADLETTER   every service creates the
                                               shared dead-letter stream if it is missing
                                               (crates/kit bus::ensure_streams), but may
                                               not change it
             for every durable consumer D (with filter subjects F...) it keeps on a
             stream C (crates/kit bus::run_consumer: stream info, consumer info, create,
             pull, ack):
               $JS.API.STREAM.INFO.C
               $JS.API.CONSUMER.CREATE.C.D    (the form clients use with several filters)
               $JS.API.CONSUMER.CREATE.C.D.F  for each F (the single-filter form)
               $JS.API.CONSUMER.INFO.C.D      $JS.API.CONSUMER.MSG.NEXT.C.D
               $JS.ACK.C.D.>  and  $JS.ACK.*.*.C.D.>   (acks are *published* to the reply
                                                        subject; the second form is the
                                                        v2 ack layout with domain + account)
             so it can neither read through another durable (another service's or a
             county's), nor create, change or delete others, nor delete its own.
             for each feed it owns (bus.feeds: a stream of its own others publish to, such
             as patrol's CIVICGRID_PATROL_POSITIONS read through durable D):
               $JS.API.STREAM.{CREATE,UPDATE,INFO}.FEED   manage it (its age limit follows
                                               the service's settings)
               $JS.API.CONSUMER.CREATE.FEED.D (and .D.F), INFO, MSG.NEXT, and the acks
             but not publish to it: the feed's publisher does.
  subscribe  _INBOX_S.>                        replies: JetStream API, publish acks, pulls
                                               (crates/kit's bus::connect sets this prefix)
             F...                              core subscriptions to what it consumes

Feed publisher `<feed>-publisher` (one per feed: `patrol-positions-publisher` for
CIVICGRID_PATROL_POSITIONS), the account of the device gateway or of the devices:
  publish    the feed's subjects (civicgrid.patrol.position.>), nothing else: it can
             neither read positions back, nor publish facts, nor touch a stream or consumer
  subscribe  _INBOX_<user>.>                   JetStream publish acks; the client sets this
                                               inbox prefix, as a county center does

Reader `R` (one per reader of the topology, bus.readers: the command-center console), which
follows streams with ephemeral ordered pull consumers (async-nats OrderedConfig), never
acknowledges and publishes nothing. For each stream S it reads with filter F
(civicgrid.<service>.>):
  publish    $JS.API.STREAM.INFO.S
             $JS.API.CONSUMER.CREATE.S.*.F       named consumers only, the filter in the
                                                 subject (the console names them
                                                 console-<nuid>; the client recreates one
                                                 as <name>_<n> after a gap)
             $JS.API.CONSUMER.{INFO,MSG.NEXT,DELETE}.S.*
  deny       $JS.API.CONSUMER.{CREATE,INFO,MSG.NEXT,DELETE}.S.D (and CREATE.S.D.>) for every
             durable D on S: the services' of the topology and the county centers' of this
             file, so it can neither pull through, change nor delete them
  subscribe  _INBOX_R.>                          replies and pulled messages (crates/kit's
                                                 bus::connect sets this prefix)
Not granted: the unnamed form $JS.API.CONSUMER.CREATE.S, whose name and filter travel in the
request body where nats-server cannot check them (with it, a user can rewrite the filter of
any consumer on S); any stream it does not read (feeds, dead letters, notify's); any publish
outside the JetStream API.

What nats-server cannot enforce for a service: the filter of a consumer created with
several filter subjects (`filter_subjects`, as crates/kit does) is not part of the API
subject, so the durable's name is what is enforced, not its filters. The filters granted
here are the ones the code declares (crates/contracts), the same list the code creates its
consumers from.

Township center `township-CODE` (county = CODE[:6]): as a county center, one level deeper:
  its region is civicgrid.*.*.CITY.COUNTY.CODE.>, its durable `township-CODE`.

Administrator NAME (--admin): no permissions block, so nats-server allows everything. For
people and tools that operate the bus, never for a service or a center.

County center `county-CODE` (city = CODE[:4] + "00"):
  subscribe  civicgrid.*.*.CITY.CODE.>         live region feed (core NATS)
             _INBOX_county-CODE.>              replies; the client must set this inbox
                                               prefix (nats.go CustomInboxPrefix,
                                               async-nats custom_inbox_prefix, ...), so a
                                               county can never read another user's replies
  publish    $JS.API.INFO
             for every civicgrid stream S (PLANNED_STREAM_OWNERS below, then any other
             stream of the topology: CIVICGRID_INTAKE, _DISPATCH, ...):
               $JS.API.STREAM.INFO.S
               $JS.API.CONSUMER.CREATE.S.county-CODE.civicgrid.*.*.CITY.CODE.>
                   one durable pull consumer per stream, named `county-CODE`, whose
                   filter subject must lie inside the county; the filter is part of the
                   API subject (nats-server >= 2.9, single `filter_subject`), so nats-server
                   itself refuses a wider filter. A township filter one level deeper is
                   accepted too.
               $JS.API.CONSUMER.{INFO,MSG.NEXT,DELETE}.S.county-CODE
               $JS.ACK.S.county-CODE.>  and  $JS.ACK.*.*.S.county-CODE.>
  To replay the feed from a point, delete and re-create the consumer with another
  deliver policy (by start time or sequence).

Passwords
---------
The variable for a user is its name in upper case with every other character turned into
`_`, then `_PASSWORD`: INTAKE_PASSWORD, CONSOLE_PASSWORD, COUNTY_411602_PASSWORD,
PATROL_POSITIONS_PUBLISHER_PASSWORD. nats-server parses the
value of such a variable as config text, so use letters and digits only and start with a
letter (`123456` would be read as a number, `a#b` as `a` plus a comment). --emit-secret
makes such passwords. nats-server also accepts a bcrypt hash (`$2a$...`, from
`nats server passwd`) as the value, if you prefer that the NATS pods hold only hashes; the
services then keep the plain password.

Adding a service
----------------
Nothing to edit here. Once the service is in the code (its stream and consumers in
crates/contracts, its entry in bin/civicgrid/src/registry.rs), `civicgrid topology --json`
lists it, and its user, stream, dead-letter and consumer permissions follow. Regenerate
auth.conf with the arguments recorded in its first line.

Only the Python 3 standard library is used.
"""

from __future__ import annotations

import argparse
import re
import secrets
import string
import sys
from pathlib import Path

# Getting and checking `civicgrid topology --json` is in topology.py, next to this script
# (found also when deploy/lib/checks loads this file as a module). read_topology,
# parse_topology and topology_command are imported for deploy/lib/checks (ga.read_topology, ...).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from topology import (Topology, TopologyError, load_topology, parse_topology,  # noqa: E402,F401
                      read_topology, stream_name, topology_command)

# Every service that will own a JetStream stream, in the order of the design notes
# (sections 4 and 5). County centers may read all of them, and any other stream of the
# topology; a stream that does not exist yet costs nothing. This is the one list kept here:
# the topology holds only the services the code runs today.
PLANNED_STREAM_OWNERS = ("intake", "dispatch", "mediation", "patrol", "notify")

COUNTY_RE = re.compile(r"^[1-9][0-9]{5}$")
TOWNSHIP_RE = re.compile(r"^[1-9][0-9]{8}$")


# ---------------------------------------------------------------------------- permissions

def password_var(user: str) -> str:
    """The environment variable that holds a user's password."""
    return re.sub(r"[^A-Za-z0-9]", "_", user).upper() + "_PASSWORD"


def county_user(code: str) -> str:
    """The user of a county (6 digits) or township (9 digits) center."""
    return ("township-" if len(code) == 9 else "county-") + code


def region_filter(code: str) -> str:
    """The subjects of a county's or township's region: civicgrid.*.*.CITY.COUNTY[.TOWNSHIP].>"""
    tokens = [city_of(code), code[:6]] + ([code] if len(code) == 9 else [])
    return "civicgrid.*.*." + ".".join(tokens) + ".>"


def city_of(county: str) -> str:
    return county[:4] + "00"


def county_streams(topo: Topology) -> list[str]:
    """The streams a county center may read: the planned owners' first, then any other."""
    names = [topo.streams.get(o, stream_name(o)) for o in PLANNED_STREAM_OWNERS]
    return list(dict.fromkeys(names + list(topo.streams.values())))


def service_permissions(topo: Topology, name: str) -> tuple[list[str], list[str]]:
    svc = topo.services[name]
    own, dls = svc.stream, topo.deadletter_stream
    publish = [
        *svc.subjects,
        topo.deadletter_subjects(name),
        "$JS.API.INFO",
        f"$JS.API.STREAM.CREATE.{own}",
        f"$JS.API.STREAM.UPDATE.{own}",
        f"$JS.API.STREAM.INFO.{own}",
        f"$JS.API.STREAM.CREATE.{dls}",
        f"$JS.API.STREAM.INFO.{dls}",
    ]
    subscribe = [f"_INBOX_{name}.>"]
    for c in svc.consumers:
        s, d = c.stream, c.durable
        publish += [
            f"$JS.API.STREAM.INFO.{s}",
            f"$JS.API.CONSUMER.CREATE.{s}.{d}",
            *(f"$JS.API.CONSUMER.CREATE.{s}.{d}.{f}" for f in c.subjects),
            f"$JS.API.CONSUMER.INFO.{s}.{d}",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.{d}",
            f"$JS.ACK.{s}.{d}.>",
            f"$JS.ACK.*.*.{s}.{d}.>",
        ]
        subscribe += c.subjects
    for f in svc.feeds:
        s, d = f.stream, f.durable
        publish += [
            f"$JS.API.STREAM.CREATE.{s}",
            f"$JS.API.STREAM.UPDATE.{s}",
            f"$JS.API.STREAM.INFO.{s}",
            f"$JS.API.CONSUMER.CREATE.{s}.{d}",
            *(f"$JS.API.CONSUMER.CREATE.{s}.{d}.{x}" for x in f.subjects),
            f"$JS.API.CONSUMER.INFO.{s}.{d}",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.{d}",
            f"$JS.ACK.{s}.{d}.>",
            f"$JS.ACK.*.*.{s}.{d}.>",
        ]
    # Two durables on one stream need its info once; nats-server takes the lists as sets.
    return list(dict.fromkeys(publish)), list(dict.fromkeys(subscribe))


def publisher_permissions(feed) -> tuple[list[str], list[str]]:
    """A feed's publisher: its subjects only, and its own inbox for the publish acks."""
    return list(feed.subjects), [f"_INBOX_{feed.publisher}.>"]


def durables_on(topo: Topology, stream: str, counties: list[str]) -> list[str]:
    """Every durable consumer that may exist on `stream`: the services' (topology) and the
    county centers' of this auth.conf."""
    names = [c.durable for svc in topo.services.values() for c in svc.consumers if c.stream == stream]
    names += [f.durable for svc in topo.services.values() for f in svc.feeds if f.stream == stream]
    return list(dict.fromkeys(names + [county_user(c) for c in counties]))


def reader_permissions(topo: Topology, name: str, counties: list[str]) -> tuple[list[str], list[str], list[str]]:
    """A reader (the console): ephemeral ordered pull consumers on its streams, as async-nats
    makes them, and nothing else. Returns (publish allow, publish deny, subscribe allow)."""
    publish, deny = [], []
    for r in topo.readers[name].reads:
        s = r.stream
        publish += [
            f"$JS.API.STREAM.INFO.{s}",
            # Named consumers only (`<reader>-<nuid>`, and `<name>_<n>` when the client
            # recreates one after a gap), their filter in the subject. Not the unnamed form
            # `$JS.API.CONSUMER.CREATE.<stream>`: its name and filter are in the request body,
            # where nats-server cannot check them, so it could rewrite any consumer's filter.
            f"$JS.API.CONSUMER.CREATE.{s}.*.{r.filter_subject}",
            f"$JS.API.CONSUMER.INFO.{s}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.*",
            f"$JS.API.CONSUMER.DELETE.{s}.*",
        ]
        # Its consumers have server-made names, so the allows above take any name; the
        # durables of the services and county centers are kept out by name.
        for d in durables_on(topo, s, counties):
            deny += [
                f"$JS.API.CONSUMER.CREATE.{s}.{d}",
                f"$JS.API.CONSUMER.CREATE.{s}.{d}.>",
                f"$JS.API.CONSUMER.INFO.{s}.{d}",
                f"$JS.API.CONSUMER.MSG.NEXT.{s}.{d}",
                f"$JS.API.CONSUMER.DELETE.{s}.{d}",
            ]
    return publish, deny, [f"_INBOX_{name}.>"]


def county_permissions(topo: Topology, code: str, shared_inbox: bool) -> tuple[list[str], list[str]]:
    """A county's (6-digit code) or a township's (9 digits) center."""
    user = county_user(code)
    region = region_filter(code)
    publish = ["$JS.API.INFO"]
    for s in county_streams(topo):
        publish += [
            f"$JS.API.STREAM.INFO.{s}",
            f"$JS.API.CONSUMER.CREATE.{s}.{user}.{region}",
            f"$JS.API.CONSUMER.INFO.{s}.{user}",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.{user}",
            f"$JS.API.CONSUMER.DELETE.{s}.{user}",
            f"$JS.ACK.{s}.{user}.>",
            f"$JS.ACK.*.*.{s}.{user}.>",
        ]
    inbox = "_INBOX.>" if shared_inbox else f"_INBOX_{user}.>"
    subscribe = [region, inbox]
    return publish, subscribe


# --------------------------------------------------------------------------------- output

def _quote(subject: str) -> str:
    return '"' + subject.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _user_block(user: str, comment: str, publish: list[str], subscribe: list[str],
                publish_deny: list[str] | None = None) -> str:
    ind = " " * 4
    lines = [f"{ind}# {comment}", f"{ind}{{", f"{ind}  user: {_quote(user)}",
             f"{ind}  password: ${password_var(user)}", f"{ind}  permissions: {{"]
    for kind, subjects, deny in (("publish", publish, publish_deny), ("subscribe", subscribe, None)):
        lines.append(f"{ind}    {kind}: {{")
        lines.append(f"{ind}      allow: [")
        lines += [f"{ind}        {_quote(s)}" for s in subjects]
        lines.append(f"{ind}      ]")
        if deny:
            lines.append(f"{ind}      deny: [")
            lines += [f"{ind}        {_quote(s)}" for s in deny]
            lines.append(f"{ind}      ]")
        lines.append(f"{ind}    }}")
    lines += [f"{ind}  }}", f"{ind}}}"]
    return "\n".join(lines)


def feeds_of(topo: Topology, services: list[str]) -> list:
    """The feeds of these services, whose publishers are users too."""
    return [f for s in services for f in topo.services[s].feeds]


def users(topo: Topology, services: list[str], counties: list[str], admins: list[str] = ()) -> list[str]:
    """Every user emitted: the services, their feeds' publishers, the readers (the console),
    the county and township centers, the administrators."""
    return (list(services) + [f.publisher for f in feeds_of(topo, services)] + list(topo.readers)
            + [county_user(c) for c in counties] + list(admins))


def center_args(counties: list[str]) -> list[str]:
    """The arguments that name these centers: --county CODE or --township CODE."""
    return [("--township " if len(c) == 9 else "--county ") + c for c in counties]


def render(topo: Topology, services: list[str], counties: list[str], shared_inbox: bool = False,
           admins: list[str] = ()) -> str:
    """The authorization block for these services (of `topo`), centers (county and township
    codes) and administrators."""
    args = " ".join([f"--service {s}" for s in services] if list(services) != list(topo.services) else [])
    args = " ".join(filter(None, [args] + center_args(counties) + [f"--admin {a}" for a in admins]
                           + (["--county-shared-inbox"] if shared_inbox else [])))
    out = [
        "# Generated by deploy/nats/gen-auth.py" + (f" {args}" if args else "") + ". Do not edit:",
        "# change the code (civicgrid topology) or these arguments and generate again.",
        "# Passwords are read from the environment: " +
        ", ".join("$" + password_var(u) for u in users(topo, services, counties, admins)) + ".",
        "authorization {",
        "  users = [",
    ]
    blocks = []
    for name in services:
        svc = topo.services[name]
        pub, sub = service_permissions(topo, name)
        what = f"service {name}: publishes to {svc.stream}"
        if svc.consumers:
            what += ", consumes " + ", ".join(f"{c.stream} as {c.durable}" for c in svc.consumers)
        blocks.append(_user_block(name, what, pub, sub))
    for feed in feeds_of(topo, services):
        pub, sub = publisher_permissions(feed)
        blocks.append(_user_block(feed.publisher, f"publisher of {feed.stream} (read by {feed.service} "
                                  f"as {feed.durable})", pub, sub))
    for name, reader in topo.readers.items():
        pub, deny, sub = reader_permissions(topo, name, counties)
        blocks.append(_user_block(name, f"reader {name}: follows " + ", ".join(r.stream for r in reader.reads)
                                  + " with ephemeral ordered consumers; publishes nothing", pub, sub, deny))
    for code in counties:
        pub, sub = county_permissions(topo, code, shared_inbox)
        what = (f"township center {code} (county {code[:6]})" if len(code) == 9
                else f"county center {code} (city {city_of(code)})")
        blocks.append(_user_block(county_user(code), what, pub, sub))
    for name in admins:
        ind = " " * 4
        blocks.append(f"{ind}# administrator {name}: every permission (operators' tools; never a service)\n"
                      f"{ind}{{ user: {_quote(name)}, password: ${password_var(name)} }}")
    out.append("\n".join(blocks))
    out += ["  ]", "}", ""]
    return "\n".join(out)


def new_password(length: int = 32) -> str:
    """Letters and digits, starting with a letter: safe as a nats-server config variable."""
    alnum = string.ascii_letters + string.digits
    return secrets.choice(string.ascii_letters) + "".join(
        secrets.choice(alnum) for _ in range(length - 1))


def render_secret(topo: Topology, services: list[str], counties: list[str], namespace: str,
                  admins: list[str] = ()) -> str:
    lines = [
        "# Generated by deploy/nats/gen-auth.py --emit-secret: fresh random NATS passwords.",
        "# Keep it out of git. nats-server reads these as $<KEY> variables; each service",
        "# reads its own key as CIVICGRID__NATS__PASSWORD.",
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: civicgrid-nats-users",
        f"  namespace: {namespace}",
        "  labels:",
        "    app.kubernetes.io/part-of: civicgrid",
        "type: Opaque",
        "stringData:",
    ]
    lines += [f"  {password_var(u)}: {new_password()}" for u in users(topo, services, counties, admins)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print the nats-server authorization block for civicgrid.",
        epilog="See the module docstring (head of this file) for the permissions granted.")
    parser.add_argument("--county", action="append", default=[], metavar="CODE",
                        help="6-digit county division code, e.g. 411602 (repeatable)")
    parser.add_argument("--township", action="append", default=[], metavar="CODE",
                        help="9-digit township code, e.g. 411602001 (repeatable)")
    parser.add_argument("--admin", action="append", default=[], metavar="NAME",
                        help="a user with every permission, for operators' tools (repeatable)")
    parser.add_argument("--service", action="append", default=[], metavar="NAME",
                        help="service user to emit (default: every service of the topology)")
    parser.add_argument("--topology", metavar="FILE",
                        help="`civicgrid topology --json` output (- for stdin); default: run it")
    parser.add_argument("--emit-secret", action="store_true",
                        help="print a Kubernetes Secret with random passwords instead")
    parser.add_argument("--namespace", default="civicgrid", help="namespace of --emit-secret")
    parser.add_argument("--new-password", action="store_true",
                        help="print one new random password and exit")
    parser.add_argument("--county-shared-inbox", action="store_true",
                        help="county users subscribe to _INBOX.> instead of a private prefix")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.new_password:
        print(new_password())
        return 0

    counties = []
    for c in args.county:
        if not COUNTY_RE.match(c) or c.endswith("00"):
            parser.error(f"--county {c!r}: expected a 6-digit county code such as 411602 "
                         "(a code ending in 00 is a city or province)")
        if c in counties:
            parser.error(f"--county {c} is given twice")
        counties.append(c)
    for t in args.township:
        if not TOWNSHIP_RE.match(t) or t.endswith("000"):
            parser.error(f"--township {t!r}: expected a 9-digit township code such as 411602001")
        if t in counties:
            parser.error(f"--township {t} is given twice")
        counties.append(t)
    admins = []
    for a in args.admin:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", a):
            parser.error(f"--admin {a!r}: use lower-case letters, digits and '-', starting with a letter")
        if a in admins:
            parser.error(f"--admin {a} is given twice")
        admins.append(a)
    try:
        topo = load_topology(args.topology)
    except TopologyError as e:
        print(f"gen-auth.py: {e}", file=sys.stderr)
        return 1
    services = args.service or list(topo.services)
    for s in services:
        if s not in topo.services:
            parser.error(f"unknown service {s!r}; the topology has: {', '.join(topo.services)}")
    if len(set(services)) != len(services):
        parser.error("a service is given twice")
    taken = set(users(topo, services, counties))
    for a in admins:
        if a in taken:
            parser.error(f"--admin {a}: that name is already a user of the topology")

    if args.emit_secret:
        text = render_secret(topo, services, counties, args.namespace, admins)
    else:
        text = render(topo, services, counties, args.county_shared_inbox, admins)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
