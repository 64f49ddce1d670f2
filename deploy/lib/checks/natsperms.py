"""`nats-perms ROOT NATS_SERVER`: a real nats-server (loopback, temporary JetStream directory)
with gen-auth.py's users for the topology and two county centers enforces the permissions:

- a wrong password is refused;
- intake and dispatch create their streams and the dead-letter stream as crates/kit does,
  publish their facts and dead letters, and may not publish, create, change or delete anything
  of another service; intake consumes dispatch's stream through its durable (create, pull, ack,
  +TERM);
- county 411602 reads only its county (subscription, a consumer filtered to the county or a
  township) and may not widen its filter, use another county's consumer, the unfiltered or
  legacy create forms, the dead letters, `_INBOX.>`, or publish;
- every consumer of the topology is created, pulled from and acknowledged as crates/kit's
  run_consumer does it, and receives nothing outside its filters;
- each feed (patrol's positions): the owner creates it and reads it through its durable; the
  feed's publisher may publish its subjects and nothing else; nobody else reads it;
- what notify may not do (other consumers, wider filters, other services' facts and streams);
- each reader (the console): creates a named ordered consumer on each stream it reads, as
  async-nats does, pulls the whole stream through it, deletes and recreates it (`<name>_1`,
  as the client does after a gap); may not use the unnamed create form (which could rewrite
  another consumer's filter), touch a service's or county's durable, read any other stream
  (the feeds, the dead letters, notify's), publish a fact or manage a stream.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .common import check, fail, ok
from .natsclient import Nats, free_port
from .topology import topology


def cmd_nats_perms(root: str, nats_server: str) -> None:
    ga, topo, _ = topology(Path(root))
    # The service users of the topology and two county centers.
    services = list(topo.services)
    counties = ["411602", "411603"]
    passwords = {ga.password_var(u): "p" + os.urandom(12).hex() for u in ga.users(topo, services, counties)}
    tmp = Path(tempfile.mkdtemp(prefix="civicgrid-nats-check-"))
    port = free_port()
    (tmp / "auth.conf").write_text(ga.render(topo, services, counties))
    (tmp / "server.conf").write_text(
        f"listen: 127.0.0.1:{port}\nserver_name: check\n"
        f"jetstream {{ store_dir: {json.dumps(str(tmp / 'js'))}, max_file_store: 64MB, "
        f"max_memory_store: 16MB }}\ninclude ./auth.conf\n")
    env = dict(os.environ, **passwords)
    t = subprocess.run([nats_server, "-t", "-c", str(tmp / "server.conf")], env=env,
                       capture_output=True, text=True, check=False)
    if not check(t.returncode == 0, "test server config with the generated users is valid"):
        print(t.stdout + t.stderr)
        return
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([nats_server, "-c", str(tmp / "server.conf")], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    conns: list[Nats] = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    fail("nats-server did not start; its log:\n" + (tmp / "server.log").read_text())
                    return
                time.sleep(0.05)

        def connect(user: str, inbox: str | None = None) -> Nats:
            c = Nats(port, user, passwords[ga.password_var(user)], inbox or f"_INBOX_{user}.x")
            conns.append(c)
            return c

        _nats_scenarios(connect, topo, port)
    finally:
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def _subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def _sample_subject(pattern: str) -> str:
    """A subject inside a filter, in county 411603 (so county 411602's feed does not see it)."""
    toks = [t for t in pattern.split(".") if t != ">"]
    if len(toks) == 2:
        toks.append("sample-fact")
    return ".".join("x" if t == "*" else t for t in toks) + ".411600.411603.411603001.411603001001"


def _nats_scenarios(connect, topo, port: int) -> None:
    region2 = "civicgrid.*.*.411600.411602.>"
    task2 = "civicgrid.dispatch.task-assigned.411600.411602.411602001.411602001001"
    task3 = "civicgrid.dispatch.task-assigned.411600.411603.411603001.411603001001"

    def stream_cfg(name: str, subject) -> dict:
        """A stream on `subject`, or on each of a list of subjects (patrol's, one per fact)."""
        subjects = [subject] if isinstance(subject, str) else list(subject)
        return {"name": name, "subjects": subjects, "storage": "file", "num_replicas": 1,
                "retention": "limits", "duplicate_window": 600_000_000_000}

    def allowed(res, what: str, expect_error: bool = False) -> None:
        status, body = res
        good = status == "ok" and (isinstance(body, dict) and ("error" in body) == expect_error)
        check(good, f"{what}" + ("" if good else f" (got {status}: {body})"))

    def denied(res, what: str) -> None:
        status = res[0] if isinstance(res, tuple) else ("denied" if res else "allowed")
        check(status == "denied", f"{what}" + ("" if status == "denied" else f" (got {res})"))

    try:
        Nats(port, "intake", "wrong-password", "_INBOX.x")
        fail("a wrong password is refused")
    except (PermissionError, ConnectionError):
        ok("a wrong password is refused")

    intake = connect("intake")
    dispatch = connect("dispatch")
    c2 = connect("county-411602", "_INBOX_county-411602.c")

    # intake, as crates/kit's bus does it: get_or_create_stream (INFO, then CREATE) for its
    # own stream and the shared dead-letter stream; facts and dead letters published with acks.
    def get_or_create(conn, name: str, subject, who: str) -> None:
        st, info = conn.request(f"$JS.API.STREAM.INFO.{name}")
        exists = st == "ok" and isinstance(info, dict) and "error" not in info
        missing = st == "ok" and isinstance(info, dict) and info.get("error", {}).get("code") == 404
        check(exists or missing, f"{who} looks up stream {name}" + ("" if exists or missing else f" (got {st}: {info})"))
        if missing:
            allowed(conn.request(f"$JS.API.STREAM.CREATE.{name}", stream_cfg(name, subject)),
                    f"{who} creates stream {name}")

    get_or_create(intake, "CIVICGRID_INTAKE", "civicgrid.intake.>", "intake")
    get_or_create(intake, "CIVICGRID_DEADLETTER", "civicgrid.deadletter.>", "intake")
    st, ack = intake.request("civicgrid.intake.event-reported.411600.411602.411602001.411602001001", b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_INTAKE",
          f"intake publishes to civicgrid.intake.> and JetStream acks it (got {st}: {ack})")
    st, ack = intake.request("civicgrid.deadletter.intake.intake-task-status", b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_DEADLETTER",
          f"intake dead-letters to civicgrid.deadletter.intake.> (got {st}: {ack})")
    denied(intake.pub("civicgrid.deadletter.dispatch.x", b"x"), "intake may not publish dead letters of dispatch")
    denied(intake.pub("civicgrid.dispatch.task-assigned.x", b"x"), "intake may not publish dispatch facts")
    denied(intake.request("$JS.API.STREAM.CREATE.CIVICGRID_DISPATCH",
                          stream_cfg("CIVICGRID_DISPATCH", "civicgrid.dispatch.>")),
           "intake may not create the dispatch stream")
    denied(intake.request("$JS.API.STREAM.UPDATE.CIVICGRID_DEADLETTER",
                          stream_cfg("CIVICGRID_DEADLETTER", "civicgrid.>")),
           "intake may not change the dead-letter stream")
    denied(intake.request("$JS.API.STREAM.DELETE.CIVICGRID_INTAKE"), "intake may not delete streams")
    denied(intake.sub("civicgrid.patrol.>"), "intake may not subscribe to patrol facts")

    # dispatch: its stream, the existing dead-letter stream, two tasks in two counties.
    get_or_create(dispatch, "CIVICGRID_DISPATCH", "civicgrid.dispatch.>", "dispatch")
    get_or_create(dispatch, "CIVICGRID_DEADLETTER", "civicgrid.deadletter.>", "dispatch")
    for s in (task2, task3):
        st, ack = dispatch.request(s, b"task")
        check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_DISPATCH",
              f"dispatch publishes {s.split('.')[4]}'s task (got {st}: {ack})")

    # intake consumes dispatch as run_consumer does: get_stream, get_or_create_consumer with
    # filter_subjects (so the create subject carries no filter), pull, ack.
    cfg = {"durable_name": "intake-task-status", "ack_policy": "explicit", "deliver_policy": "all",
           "filter_subjects": ["civicgrid.dispatch.>"], "max_deliver": -1}
    allowed(intake.request("$JS.API.STREAM.INFO.CIVICGRID_DISPATCH"), "intake reads the dispatch stream info")
    allowed(intake.request("$JS.API.CONSUMER.INFO.CIVICGRID_DISPATCH.intake-task-status"),
            "intake looks up its consumer (not there yet)", expect_error=True)
    allowed(intake.request("$JS.API.CONSUMER.CREATE.CIVICGRID_DISPATCH.intake-task-status",
                           {"stream_name": "CIVICGRID_DISPATCH", "config": cfg, "action": "create"}),
            "intake creates its durable consumer on CIVICGRID_DISPATCH")
    st, m = intake.fetch("CIVICGRID_DISPATCH", "intake-task-status")
    if check(st == "msg" and m["subject"] == task2, f"intake pulls a message (got {st})"):
        check(not intake.pub(m["reply"], b"+ACK"), f"intake acks it ({'.'.join(m['reply'].split('.')[:4])}...)")
        pending = None
        for _ in range(20):
            _, info = intake.request("$JS.API.CONSUMER.INFO.CIVICGRID_DISPATCH.intake-task-status")
            pending = info.get("num_ack_pending") if isinstance(info, dict) else None
            if pending == 0:
                break
            time.sleep(0.05)
        check(pending == 0, f"the ack took effect (ack pending {pending})")
    st, m = intake.fetch("CIVICGRID_DISPATCH", "intake-task-status")
    if check(st == "msg", f"intake pulls the next message (got {st})"):
        check(not intake.pub(m["reply"], b"+TERM"), "intake terminates it after dead-lettering (+TERM)")

    # county 411602: its own region only.
    cc = {"durable_name": "county-411602", "name": "county-411602", "ack_policy": "explicit",
          "deliver_policy": "all", "filter_subject": region2}
    base = "$JS.API.CONSUMER.CREATE.CIVICGRID_DISPATCH"
    check(not c2.sub(region2), f"county 411602 subscribes to {region2}")
    allowed(c2.request("$JS.API.INFO"), "county 411602 reads account info")
    allowed(c2.request("$JS.API.STREAM.INFO.CIVICGRID_DISPATCH"), "county 411602 reads stream info")
    allowed(c2.request(f"{base}.county-411602.{region2}", {"stream_name": "CIVICGRID_DISPATCH", "config": cc}),
            "county 411602 creates its durable consumer filtered to its county")
    st, m = c2.fetch("CIVICGRID_DISPATCH", "county-411602")
    if check(st == "msg" and m["subject"] == task2, f"county 411602 pulls its county's task (got {st})"):
        check(not c2.pub(m["reply"], b"+ACK"), "county 411602 acks it")
    st, m = c2.fetch("CIVICGRID_DISPATCH", "county-411602")
    check(st == "none", f"county 411602 gets nothing of county 411603 (got {st}: "
          f"{m['subject'] if isinstance(m, dict) else m})")
    township = dict(cc, filter_subject="civicgrid.*.*.411600.411602.411602001.>")
    allowed(c2.request(f"{base}.county-411602.civicgrid.*.*.411600.411602.411602001.>",
                       {"stream_name": "CIVICGRID_DISPATCH", "config": township}),
            "county 411602 narrows its consumer to a township")
    wide = dict(cc, filter_subject="civicgrid.>")
    denied(c2.request(f"{base}.county-411602.civicgrid.>", {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
           "county 411602 may not create a consumer on civicgrid.>")
    denied(c2.request(f"{base}.county-411602.civicgrid.*.*.411600.411603.>",
                      {"stream_name": "CIVICGRID_DISPATCH", "config": dict(cc, filter_subject="civicgrid.*.*.411600.411603.>")}),
           "county 411602 may not create a consumer on county 411603")
    allowed(c2.request(f"{base}.county-411602.{region2}", {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
            "nats-server rejects a body filter wider than the permitted subject filter", expect_error=True)
    denied(c2.request(f"{base}.county-411603.civicgrid.*.*.411600.411603.>",
                      {"stream_name": "CIVICGRID_DISPATCH", "config": dict(cc, durable_name="county-411603", name="county-411603")}),
           "county 411602 may not create county 411603's consumer")
    denied(c2.request(f"{base}", {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
           "county 411602 may not use the unfiltered CONSUMER.CREATE form")
    denied(c2.request("$JS.API.CONSUMER.DURABLE.CREATE.CIVICGRID_DISPATCH.county-411602",
                      {"stream_name": "CIVICGRID_DISPATCH", "config": wide}),
           "county 411602 may not use the legacy DURABLE.CREATE form")
    denied(c2.fetch("CIVICGRID_DISPATCH", "intake-task-status"), "county 411602 may not pull from intake's consumer")
    denied(c2.request("$JS.API.STREAM.INFO.CIVICGRID_DEADLETTER"), "county 411602 may not read the dead-letter stream")
    denied(c2.sub("civicgrid.>"), "county 411602 may not subscribe to civicgrid.>")
    denied(c2.sub("civicgrid.*.*.411600.411603.>"), "county 411602 may not subscribe to county 411603")
    denied(c2.sub("_INBOX.>"), "county 411602 may not read other users' replies (_INBOX.>)")
    denied(c2.pub("civicgrid.intake.event-reported.x", b"x"), "county 411602 may not publish facts")
    denied(c2.request("$JS.API.STREAM.DELETE.CIVICGRID_DISPATCH"), "county 411602 may not delete streams")
    allowed(c2.request("$JS.API.CONSUMER.DELETE.CIVICGRID_DISPATCH.county-411602"),
            "county 411602 deletes its own consumer (to replay from another point)")

    _service_consumer_scenarios(connect, topo, intake, dispatch, stream_cfg, get_or_create, allowed, denied)


def _service_consumer_scenarios(connect, topo, intake, dispatch, stream_cfg, get_or_create, allowed, denied) -> None:
    """Every consumer of the topology works as crates/kit's run_consumer uses it (stream info,
    consumer info, create with filter_subjects, pull, ack) and receives only its filters; then
    what notify, the newest service, may not do."""
    conns = {"intake": intake, "dispatch": dispatch}
    for svc, info in topo.services.items():
        if svc not in conns:
            conns[svc] = connect(svc)
            get_or_create(conns[svc], info.stream, info.subjects, svc)
    # Each service's replies come under its own prefix (crates/kit bus::connect): none reads
    # another's, nor the shared default prefix.
    for svc, conn in conns.items():
        other = next(o for o in topo.services if o != svc)
        denied(conn.sub("_INBOX.>"), f"{svc} may not read other users' replies (_INBOX.>)")
        denied(conn.sub(f"_INBOX_{other}.>"), f"{svc} may not read {other}'s replies (_INBOX_{other}.>)")
    # One message on every filter subject of every consumer, published by the stream's owner.
    samples: dict[str, list[str]] = {}
    for svc, info in topo.services.items():
        for c in info.consumers:
            for f in c.subjects:
                subject = _sample_subject(f)
                if subject in samples.setdefault(c.source, []) or c.source not in conns:
                    continue
                st, ack = conns[c.source].request(subject, b"sample")
                if check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == c.stream,
                         f"{c.source} publishes {subject} (got {st}: {ack})"):
                    samples[c.source].append(subject)
    for svc, info in topo.services.items():
        conn = conns[svc]
        for c in info.consumers:
            s, who = c.stream, f"{svc} as {c.durable}"
            allowed(conn.request(f"$JS.API.STREAM.INFO.{s}"), f"{who}: reads the {s} stream info")
            st, _ = conn.request(f"$JS.API.CONSUMER.INFO.{s}.{c.durable}")
            check(st == "ok", f"{who}: looks up its consumer (got {st})")
            cfg = {"durable_name": c.durable, "ack_policy": "explicit", "deliver_policy": "all",
                   "filter_subjects": list(c.subjects), "max_deliver": -1}
            allowed(conn.request(f"$JS.API.CONSUMER.CREATE.{s}.{c.durable}",
                                 {"stream_name": s, "config": cfg, "action": ""}),
                    f"{who}: creates (or binds to) its durable consumer on {s}")
            got, stray = [], []
            for _ in range(50):
                st, m = conn.fetch(s, c.durable)
                if st != "msg":
                    break
                got.append(m["subject"])
                if not any(_subject_matches(f, m["subject"]) for f in c.subjects):
                    stray.append(m["subject"])
                check(not conn.pub(m["reply"], b"+ACK"), f"{who}: acks {m['subject']}")
            wanted = [x for x in samples.get(c.source, []) if any(_subject_matches(f, x) for f in c.subjects)]
            check(all(x in got for x in wanted), f"{who}: pulls every sample on its filters ({len(got)} message(s))")
            check(not stray, f"{who}: receives nothing outside {', '.join(c.subjects)} ({stray or 'none'})")

    _feed_scenarios(connect, topo, conns, stream_cfg, allowed, denied)
    _reader_scenarios(connect, topo, conns, allowed, denied)
    if "notify" not in conns:
        return
    notify = conns["notify"]
    fact = "civicgrid.notify.notify-delivered.411600.411602.411602001.411602001001"
    st, ack = notify.request(fact, b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_NOTIFY",
          f"notify publishes its facts to CIVICGRID_NOTIFY (got {st}: {ack})")
    dl = "civicgrid.deadletter.notify.notify-intake"
    st, ack = notify.request(dl, b"x")
    check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == "CIVICGRID_DEADLETTER",
          f"notify dead-letters to {dl} (got {st}: {ack})")
    intake_cfg = {"durable_name": "notify-other", "ack_policy": "explicit",
                  "filter_subjects": ["civicgrid.intake.>"]}
    denied(notify.request("$JS.API.CONSUMER.CREATE.CIVICGRID_INTAKE.notify-other",
                          {"stream_name": "CIVICGRID_INTAKE", "config": intake_cfg}),
           "notify may not create a consumer of another name on CIVICGRID_INTAKE")
    denied(notify.request("$JS.API.CONSUMER.CREATE.CIVICGRID_INTAKE.notify-intake.civicgrid.intake.>",
                          {"stream_name": "CIVICGRID_INTAKE",
                           "config": dict(intake_cfg, durable_name="notify-intake", filter_subjects=[],
                                          filter_subject="civicgrid.intake.>")}),
           "notify may not create its intake consumer with a single filter wider than its own")
    denied(notify.request("$JS.API.CONSUMER.CREATE.CIVICGRID_INTAKE",
                          {"stream_name": "CIVICGRID_INTAKE", "config": {"ack_policy": "explicit"}}),
           "notify may not create an unnamed consumer")
    denied(notify.fetch("CIVICGRID_INTAKE", "dispatch-intake"), "notify may not pull from dispatch's consumer")
    denied(notify.fetch("CIVICGRID_DISPATCH", "intake-task-status"), "notify may not pull from intake's consumer")
    denied(notify.pub("$JS.ACK.CIVICGRID_INTAKE.dispatch-intake.1.1.1.1.0"),
           "notify may not ack for dispatch's consumer")
    denied(notify.request("$JS.API.CONSUMER.DELETE.CIVICGRID_INTAKE.notify-intake"),
           "notify may not delete consumers, not even its own")
    for f in ga_feeds(topo):
        denied(notify.request(f"$JS.API.STREAM.INFO.{f.stream}"), f"notify may not read {f.stream}, which it does not consume")
        denied(notify.pub(_sample_subject(f.subjects[0]), b"x"), f"notify may not publish to {f.stream}")
    denied(notify.pub("civicgrid.intake.event-reported.x", b"x"), "notify may not publish intake facts")
    denied(notify.pub("civicgrid.dispatch.task-assigned.x", b"x"), "notify may not publish dispatch facts")
    denied(notify.pub("civicgrid.deadletter.intake.x", b"x"), "notify may not publish intake's dead letters")
    denied(notify.request("$JS.API.STREAM.UPDATE.CIVICGRID_INTAKE",
                          stream_cfg("CIVICGRID_INTAKE", "civicgrid.intake.>")),
           "notify may not change the intake stream")
    check(not notify.sub("civicgrid.intake.event-merged.>"), "notify subscribes to civicgrid.intake.event-merged.>")
    denied(notify.sub("civicgrid.intake.event-rated.>"), "notify may not subscribe to intake facts it does not consume")
    denied(intake.fetch("CIVICGRID_DISPATCH", "notify-dispatch"), "intake may not pull from notify's consumer")
    denied(intake.fetch("CIVICGRID_DISPATCH", "county-411602"), "intake may not pull from a county's consumer")


def ga_feeds(topo) -> list:
    """Every feed of the topology's services."""
    return [f for info in topo.services.values() for f in info.feeds]


def _feed_scenarios(connect, topo, conns, stream_cfg, allowed, denied) -> None:
    """Each feed (patrol's positions): its owner creates the stream and reads it through its
    durable; its publisher publishes with acks to the feed only and can do nothing else."""
    for f in ga_feeds(topo):
        owner, d, s = conns[f.service], f.durable, f.stream
        pub = connect(f.publisher, f"_INBOX_{f.publisher}.p")
        subject = _sample_subject(f.subjects[0])
        cfg = dict(stream_cfg(s, f.subjects[0]), max_age=3_600_000_000_000)
        st, info = owner.request(f"$JS.API.STREAM.INFO.{s}")
        if st == "ok" and isinstance(info, dict) and info.get("error", {}).get("code") == 404:
            allowed(owner.request(f"$JS.API.STREAM.CREATE.{s}", cfg), f"{f.service} creates its feed {s}")
        allowed(owner.request(f"$JS.API.STREAM.UPDATE.{s}", cfg), f"{f.service} updates its feed {s} (age limit)")
        st, ack = pub.request(subject, b"fix")
        check(st == "ok" and isinstance(ack, dict) and ack.get("stream") == s,
              f"{f.publisher} publishes {subject} and JetStream acks it (got {st}: {ack})")
        ccfg = {"durable_name": d, "ack_policy": "explicit", "deliver_policy": "all",
                "filter_subjects": list(f.subjects), "max_deliver": -1}
        allowed(owner.request(f"$JS.API.CONSUMER.CREATE.{s}.{d}", {"stream_name": s, "config": ccfg, "action": ""}),
                f"{f.service} creates its durable {d} on {s}")
        st, m = owner.fetch(s, d)
        if check(st == "msg" and m["subject"] == subject, f"{f.service} pulls the fix through {d} (got {st})"):
            check(not owner.pub(m["reply"], b"+ACK"), f"{f.service} acks it")
        denied(owner.pub(subject, b"x"), f"{f.service} may not publish to its own feed (its publisher does)")
        denied(pub.pub(_sample_subject(topo.services[f.service].subjects[0]), b"x"),
               f"{f.publisher} may not publish {f.service}'s facts")
        denied(pub.request(f"$JS.API.STREAM.INFO.{s}"), f"{f.publisher} may not read the stream")
        denied(pub.request(f"$JS.API.CONSUMER.CREATE.{s}.{d}", {"stream_name": s, "config": ccfg}),
               f"{f.publisher} may not create consumers")
        denied(pub.sub(f.subjects[0]), f"{f.publisher} may not subscribe to positions")
        denied(pub.sub("_INBOX.>"), f"{f.publisher} may not read other users' replies (_INBOX.>)")
        county = connect("county-411602", "_INBOX_county-411602.f")
        denied(county.request(f"$JS.API.STREAM.INFO.{s}"), f"county 411602 may not read {s} (positions are personal data)")


def _reader_scenarios(connect, topo, conns, allowed, denied) -> None:
    """Each reader (the console) follows its streams as crates/console's follow.rs does with
    async-nats ordered consumers, and can do nothing else."""
    counties = ["411602", "411603"]
    for name, reader in topo.readers.items():
        conn = connect(name)
        denied(conn.sub("_INBOX.>"), f"{name} may not read other users' replies (_INBOX.>)")
        denied(conn.sub("_INBOX_dispatch.>"), f"{name} may not read dispatch's replies (_INBOX_dispatch.>)")
        read = {r.stream for r in reader.reads}
        for r in reader.reads:
            s, f, who = r.stream, r.filter_subject, f"{name} on {r.stream}"
            st, info = conn.request(f"$JS.API.STREAM.INFO.{s}")
            allowed((st, info), f"{who}: reads the stream info")
            total = info.get("state", {}).get("messages") if isinstance(info, dict) else None
            cname = f"{name}-{os.urandom(11).hex()}"
            cfg = {"name": cname, "deliver_policy": "all", "ack_policy": "none", "max_deliver": 1,
                   "filter_subject": f, "replay_policy": "instant", "inactive_threshold": 30_000_000_000,
                   "num_replicas": 1, "mem_storage": True}
            allowed(conn.request(f"$JS.API.CONSUMER.CREATE.{s}.{cname}.{f}",
                                 {"stream_name": s, "config": cfg, "action": ""}),
                    f"{who}: creates its ordered consumer {name}-<nuid> filtered to {f}")
            got, stray = [], []
            for _ in range(200):
                st, m = conn.fetch(s, cname)
                if st != "msg":
                    break
                got.append(m["subject"])
                if not _subject_matches(f, m["subject"]):
                    stray.append(m["subject"])
            check(total is not None and total > 0 and len(got) == total,
                  f"{who}: pulls the whole stream, unacknowledged ({len(got)} of {total} message(s))")
            check(not stray, f"{who}: receives nothing outside {f} ({stray or 'none'})")
            allowed(conn.request(f"$JS.API.CONSUMER.INFO.{s}.{cname}"), f"{who}: looks up its consumer")
            # After a gap the client deletes its consumer and creates `<name>_<n>` from the
            # next stream sequence.
            allowed(conn.request(f"$JS.API.CONSUMER.DELETE.{s}.{cname}"), f"{who}: deletes its consumer")
            again = dict(cfg, name=f"{cname}_1", deliver_policy="by_start_sequence", opt_start_seq=1)
            allowed(conn.request(f"$JS.API.CONSUMER.CREATE.{s}.{cname}_1.{f}",
                                 {"stream_name": s, "config": again, "action": ""}),
                    f"{who}: recreates it as {name}-<nuid>_1 from a stream sequence")
            st, m = conn.fetch(s, f"{cname}_1")
            check(st == "msg", f"{who}: pulls through the recreated consumer (got {st})")
            conn.request(f"$JS.API.CONSUMER.DELETE.{s}.{cname}_1")
            # Not the unnamed create form: name and filter in the body, unchecked by the
            # server, would let it rewrite a durable's filter.
            durables = [c.durable for svc in topo.services.values() for c in svc.consumers if c.stream == s]
            victim = durables[0] if durables else "x"
            denied(conn.request(f"$JS.API.CONSUMER.CREATE.{s}",
                                {"stream_name": s, "config": dict(cfg, name=victim, ack_policy="explicit")}),
                   f"{who}: may not use the unnamed CONSUMER.CREATE form")
            denied(conn.request(f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.{cname}", {"stream_name": s, "config": cfg}),
                   f"{who}: may not use the legacy DURABLE.CREATE form")
            denied(conn.request(f"$JS.API.CONSUMER.CREATE.{s}.{cname}.civicgrid.>",
                                {"stream_name": s, "config": dict(cfg, filter_subject="civicgrid.>")}),
                   f"{who}: may not create a consumer filtered wider than {f}")
            for d in durables + [f"county-{c}" for c in counties]:
                denied(conn.request(f"$JS.API.CONSUMER.CREATE.{s}.{d}.{f}",
                                    {"stream_name": s, "config": dict(cfg, name=d)}),
                       f"{who}: may not create or change the durable {d}")
                denied(conn.fetch(s, d), f"{who}: may not pull from the durable {d}")
                denied(conn.request(f"$JS.API.CONSUMER.DELETE.{s}.{d}"), f"{who}: may not delete the durable {d}")
                denied(conn.request(f"$JS.API.CONSUMER.INFO.{s}.{d}"), f"{who}: may not look up the durable {d}")
                denied(conn.pub(f"$JS.ACK.{s}.{d}.1.1.1.1.0", b"+ACK"), f"{who}: may not ack for {d}")
            for op in ("CREATE", "UPDATE", "DELETE", "PURGE"):
                denied(conn.request(f"$JS.API.STREAM.{op}.{s}", {"name": s, "subjects": [f]}),
                       f"{who}: may not {op.lower()} the stream")
            denied(conn.request(f"$JS.API.STREAM.MSG.DELETE.{s}", {"seq": 1}), f"{who}: may not delete a message")
            denied(conn.pub(_sample_subject(f), b"x"), f"{name} may not publish to {f}")
            denied(conn.sub(f), f"{name} may not core-subscribe to {f}")
        # Nothing else: the feeds (positions), the dead letters, the streams it does not read.
        others = [x for x in list(topo.streams.values()) + [ff.stream for ff in ga_feeds(topo)]
                  + [topo.deadletter_stream] if x not in read]
        for o in others:
            cname = f"{name}-{os.urandom(11).hex()}"
            denied(conn.request(f"$JS.API.STREAM.INFO.{o}"), f"{name} may not read the stream info of {o}")
            denied(conn.request(f"$JS.API.CONSUMER.CREATE.{o}.{cname}.civicgrid.>",
                                {"stream_name": o, "config": {"name": cname, "ack_policy": "none"}}),
                   f"{name} may not create a consumer on {o}")
            denied(conn.request(f"$JS.API.CONSUMER.CREATE.{o}", {"stream_name": o, "config": {"ack_policy": "none"}}),
                   f"{name} may not create an unnamed consumer on {o}")
        for ff in ga_feeds(topo):
            denied(conn.fetch(ff.stream, ff.durable), f"{name} may not pull {ff.stream} through {ff.durable}")
            denied(conn.pub(_sample_subject(ff.subjects[0]), b"x"), f"{name} may not publish to {ff.stream}")
        denied(conn.pub(f"{topo.deadletter_prefix}.{name}.x", b"x"), f"{name} may not publish dead letters")
        for svc, info in topo.services.items():
            denied(conn.pub(_sample_subject(info.subjects[0]), b"x"), f"{name} may not publish {svc}'s facts")
        denied(conn.sub("civicgrid.>"), f"{name} may not core-subscribe to civicgrid.>")
        denied(conn.request("$JS.API.STREAM.NAMES"), f"{name} may not list streams")
