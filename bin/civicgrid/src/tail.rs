//! `civicgrid tail`: follows one region's facts on the bus and prints each as a JSON line, the
//! reference client for county and township centers (docs/county-centers.md) and a debugging
//! tool for operators.
//!
//! - The region is a division code: a city (`411600`), a county (`411602`), a township
//!   (`411602001`) or a village (`411602001001`); its filter is `civicgrid.*.*.<city>.<county>.>`
//!   and so on, the city derived from the code.
//! - One consumer per fact stream the console reads too (intake, dispatch, mediation, patrol;
//!   never the positions feed), or only `--service`'s. Lines of one stream come in its order.
//! - Without `--durable`: an ordered (ephemeral) consumer from now, from the start, or from a
//!   time. With it: a durable pull consumer that acks what was printed and so continues where it
//!   stopped; a replay asked of an existing durable whose deliver policy differs is refused,
//!   since JetStream would keep the old policy and replay nothing.
//! - Each payload is decoded by its `ce-type` from the descriptors civicgrid-proto embeds, and
//!   printed in the protobuf JSON mapping with the `.proto` field names.

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    context::ConsumerInfoErrorKind,
};
use civicgrid_contracts::{console, stream_name};
use civicgrid_kit::region::{self, Level};
use futures::StreamExt;
use prost_reflect::DescriptorPool;

use crate::decode::decode;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

/// Arguments of `civicgrid tail`.
#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// The NATS server (`civicgrid up` listens on 14222). It may carry the credentials:
    /// `nats://county-411602:<password>@127.0.0.1:14222`.
    #[arg(long, env = "CIVICGRID__NATS__URL", default_value = "nats://127.0.0.1:14222")]
    nats: String,
    /// The NATS user (a center's is `county-<code>` or `township-<code>`).
    #[arg(long, env = "NATS_USER")]
    user: Option<String>,
    /// The user's password.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The prefix of reply subjects. Default: `_INBOX_<user>` when a user is given (in --user
    /// or the URL), which is all a center's user may receive replies on; else `_INBOX`.
    #[arg(long)]
    inbox_prefix: Option<String>,
    /// The region: a city (411600), county (411602), township (411602001) or village
    /// (411602001001) division code.
    #[arg(long)]
    region: String,
    /// Start with the first fact stored at or after this time (RFC 3339, e.g.
    /// 2026-11-22T08:00:00Z).
    #[arg(long, conflicts_with = "from_start")]
    since: Option<String>,
    /// Start with the first fact the streams still hold.
    #[arg(long)]
    from_start: bool,
    /// Keep the position in a durable consumer of this name on each stream, acknowledging what
    /// was printed, so a later run continues where this one stopped.
    #[arg(long)]
    durable: Option<String>,
    /// Only this service's facts.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(console::SOURCES))]
    service: Option<String>,
    /// Stop after printing this many facts.
    #[arg(long)]
    count: Option<u64>,
}

/// Where a consumer starts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    /// Only facts published from now on (the default).
    New,
    /// Everything the stream holds (`--from-start`).
    All,
    /// From a time (`--since`).
    Since(async_nats::jetstream::consumer::DeliverPolicy),
}

impl Start {
    fn policy(self) -> DeliverPolicy {
        match self {
            Start::New => DeliverPolicy::New,
            Start::All => DeliverPolicy::All,
            Start::Since(p) => p,
        }
    }
}

/// The filter subject of the facts of the region named by `code`.
fn region_filter(code: &str) -> anyhow::Result<String> {
    let level = region::level(code).map_err(|e| anyhow::anyhow!("--region `{code}` is not a division code: {e}"))?;
    if level == Level::City {
        return Ok(format!("civicgrid.*.*.{code}.>"));
    }
    let path = region::path_of(code).map_err(|e| anyhow::anyhow!("--region `{code}`: {e}"))?;
    Ok(match level {
        Level::County => format!("civicgrid.*.*.{}.{}.>", path.city, path.county),
        Level::Township => format!("civicgrid.*.*.{}.{}.{}.>", path.city, path.county, path.township),
        _ => format!("civicgrid.*.*.{}.{}.{}.{}", path.city, path.county, path.township, path.village),
    })
}

/// `--since`, `--from-start` or neither.
fn start_of(args: &TailArgs) -> anyhow::Result<Start> {
    match (&args.since, args.from_start) {
        (Some(_), true) => bail!("give either --since or --from-start, not both"),
        (None, true) => Ok(Start::All),
        (None, false) => Ok(Start::New),
        (Some(text), false) => {
            let time = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
                anyhow::anyhow!("--since `{text}` is not an RFC 3339 time such as 2026-11-22T08:00:00Z: {e}")
            })?;
            let nanos = time.timestamp_nanos_opt().context("--since is out of range")?;
            let start_time = async_nats::datetime::from_nanos(i128::from(nanos))
                .map_err(|e| anyhow::anyhow!("--since `{text}`: {e}"))?;
            Ok(Start::Since(DeliverPolicy::ByStartTime { start_time }))
        }
    }
}

/// A durable name JetStream accepts: no `.`, `*`, `>`, whitespace or path separators.
fn check_durable(name: &str) -> anyhow::Result<()> {
    let bad = |c: char| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control();
    if name.is_empty() || name.chars().any(bad) {
        bail!("--durable `{name}` is not a consumer name: use letters, digits, `-` and `_`");
    }
    Ok(())
}

/// How many facts are left to print (`--count`), shared by the streams' tasks.
struct Budget {
    left: Option<AtomicU64>,
    done: watch::Sender<bool>,
}

impl Budget {
    /// Takes one fact's place; false once `--count` facts were taken or the run is stopping.
    fn take(&self) -> bool {
        if self.stopped() {
            return false;
        }
        let Some(left) = &self.left else { return true };
        let taken = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match taken {
            Ok(1) => {
                self.stop();
                true
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    fn stop(&self) {
        self.done.send_replace(true);
    }

    fn stopped(&self) -> bool {
        *self.done.borrow()
    }

    /// Returns once the run stops.
    async fn wait(&self) {
        let _ = self.done.subscribe().wait_for(|done| *done).await;
    }
}

/// Follows the region's facts until `--count` or Ctrl-C.
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let filter = region_filter(args.region.trim())?;
    let start = start_of(&args)?;
    if let Some(name) = &args.durable {
        check_durable(name)?;
    }
    if args.count == Some(0) {
        return Ok(());
    }
    let pool = Arc::new(
        DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).context("the embedded protobuf descriptors")?,
    );
    let login = match (&args.user, &args.password) {
        (Some(user), password) => Some((user.clone(), password.clone().unwrap_or_default())),
        (None, _) => civicgrid_kit::bus::url_login(&args.nats),
    };
    let user = login.as_ref().map(|(user, _)| user.clone());
    let mut options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
    if let Some((user, password)) = login {
        options = options.user_and_password(user, password);
    }
    if let Some(prefix) = args.inbox_prefix.clone().or_else(|| user.as_deref().map(civicgrid_kit::bus::inbox_prefix)) {
        options = options.custom_inbox_prefix(prefix);
    }
    let client = options
        .connect(civicgrid_kit::bus::servers(&args.nats)?.as_slice())
        .await
        .with_context(|| format!("connecting to NATS at {}", redact(&args.nats)))?;
    let js = jetstream::new(client.clone());

    let services: Vec<&'static str> = match &args.service {
        Some(s) => console::SOURCES.iter().copied().filter(|x| x == s).collect(),
        None => console::SOURCES.to_vec(),
    };
    let mut streams = Vec::new();
    for service in services {
        let name = stream_name(service);
        match js.get_stream(&name).await {
            Ok(stream) => streams.push((name, stream)),
            Err(e) if args.service.is_some() => bail!("stream {name} cannot be read: {e}"),
            Err(e) => eprintln!("civicgrid tail: skipping {name} ({e}); is {service} running?"),
        }
    }
    if streams.is_empty() {
        bail!("none of the fact streams can be read at {}", redact(&args.nats));
    }

    let budget = Arc::new(Budget { left: args.count.map(AtomicU64::new), done: watch::Sender::new(false) });
    let mut tasks = tokio::task::JoinSet::new();
    match &args.durable {
        Some(durable) => {
            // Check every stream's durable before creating any, so a refusal leaves nothing behind.
            let mut plans = Vec::new();
            for (name, stream) in &streams {
                plans.push(
                    plan_durable(name, stream, durable, &filter, args.since.is_some() || args.from_start, start)
                        .await?,
                );
            }
            for ((name, stream), plan) in streams.into_iter().zip(plans) {
                let consumer: PullConsumer = match plan {
                    Plan::Resume => stream.get_consumer(durable).await,
                    Plan::Create(config) => stream.create_consumer(*config).await.map_err(Into::into),
                }
                .map_err(|e| anyhow::anyhow!("durable consumer `{durable}` on {name}: {e}"))?;
                tasks.spawn(follow_durable(name, consumer, pool.clone(), budget.clone()));
            }
        }
        None => {
            for (name, stream) in streams {
                let config = pull::OrderedConfig {
                    filter_subject: filter.clone(),
                    deliver_policy: start.policy(),
                    ..Default::default()
                };
                let messages = stream
                    .create_consumer(config)
                    .await
                    .with_context(|| match &user {
                        Some(user) => format!(
                            "creating a consumer on {name} (a center's NATS user may create only its own durable \
                             consumer: --durable {user})"
                        ),
                        None => format!("creating a consumer on {name}"),
                    })?
                    .messages()
                    .await
                    .with_context(|| format!("following {name}"))?;
                tasks.spawn(follow_ordered(name, messages, pool.clone(), budget.clone()));
            }
        }
    }

    let mut failure = None;
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    budget.stop();
                    failure.get_or_insert(e);
                }
                Some(Err(e)) => {
                    budget.stop();
                    failure.get_or_insert(anyhow::anyhow!("a stream's task failed: {e}"));
                }
            },
            _ = tokio::signal::ctrl_c(), if !budget.stopped() => budget.stop(),
        }
    }
    // The acks and naks sent so far reach the server before we leave.
    client.flush().await.context("flushing acknowledgements")?;
    failure.map_or(Ok(()), Err)
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.find('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, host) = rest.split_once('@').unwrap_or(("", rest));
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// What to do about the durable consumer on one stream.
enum Plan {
    /// It exists and fits: continue where it stopped.
    Resume,
    /// It does not exist yet.
    Create(Box<pull::Config>),
}

async fn plan_durable(
    stream_name: &str,
    stream: &jetstream::stream::Stream,
    durable: &str,
    filter: &str,
    replay_asked: bool,
    start: Start,
) -> anyhow::Result<Plan> {
    let remedy =
        format!("pick a new --durable name, or delete this one first (`nats consumer rm {stream_name} {durable}`)");
    match stream.consumer_info(durable).await {
        Ok(info) => {
            let config = &info.config;
            if config.deliver_subject.is_some() {
                bail!("`{durable}` on {stream_name} is a push consumer, not a pull consumer: {remedy}");
            }
            let filters: Vec<&str> = if config.filter_subjects.is_empty() {
                vec![config.filter_subject.as_str()]
            } else {
                config.filter_subjects.iter().map(String::as_str).collect()
            };
            if filters != [filter] {
                bail!(
                    "the durable consumer `{durable}` on {stream_name} already exists for `{}`, not for `{filter}`: {remedy}",
                    filters.join(" ")
                );
            }
            if replay_asked && config.deliver_policy != start.policy() {
                bail!(
                    "the durable consumer `{durable}` on {stream_name} already exists with deliver policy {}; \
                     an existing durable keeps its policy and position, so --since/--from-start would replay \
                     nothing: {remedy}",
                    describe(config.deliver_policy)
                );
            }
            Ok(Plan::Resume)
        }
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Ok(Plan::Create(Box::new(pull::Config {
            durable_name: Some(durable.to_string()),
            description: Some("civicgrid tail".into()),
            filter_subject: filter.to_string(),
            deliver_policy: start.policy(),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        }))),
        Err(e) => bail!("looking up the durable consumer `{durable}` on {stream_name}: {e}"),
    }
}

/// A deliver policy as the user would ask for it.
fn describe(policy: DeliverPolicy) -> String {
    match policy {
        DeliverPolicy::All => "`all` (--from-start)".into(),
        DeliverPolicy::New => "`new` (neither --since nor --from-start)".into(),
        DeliverPolicy::ByStartTime { start_time } => format!("`by_start_time` {start_time:?}"),
        DeliverPolicy::ByStartSequence { start_sequence } => format!("`by_start_sequence` {start_sequence}"),
        other => format!("{other:?}"),
    }
}

/// Pulls from a durable consumer in small batches, printing and acking each fact; once the run
/// stops, the rest of a batch in hand is nak'ed so the next run gets it at once.
async fn follow_durable(
    stream: String,
    consumer: PullConsumer,
    pool: Arc<DescriptorPool>,
    budget: Arc<Budget>,
) -> anyhow::Result<()> {
    while !budget.stopped() {
        let mut batch = consumer
            .batch()
            .max_messages(64)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .with_context(|| format!("pulling from {stream}"))?;
        while let Some(message) = batch.next().await {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("civicgrid tail: {stream}: {e}");
                    continue;
                }
            };
            if budget.take() {
                if let Err(e) = print(&stream, &message, &pool) {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    budget.stop();
                    return Err(e);
                }
                message.double_ack().await.map_err(|e| anyhow::anyhow!("acknowledging on {stream}: {e}"))?;
            } else {
                message.ack_with(AckKind::Nak(None)).await.map_err(|e| anyhow::anyhow!("nak on {stream}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// Prints what an ordered consumer delivers until the run stops.
async fn follow_ordered(
    stream: String,
    mut messages: pull::Ordered,
    pool: Arc<DescriptorPool>,
    budget: Arc<Budget>,
) -> anyhow::Result<()> {
    loop {
        let next = tokio::select! {
            m = messages.next() => m,
            () = budget.wait() => return Ok(()),
        };
        match next {
            Some(Ok(message)) => {
                if !budget.take() {
                    return Ok(());
                }
                print(&stream, &message, &pool)?;
            }
            // The ordered consumer recreates itself after gaps and server restarts.
            Some(Err(e)) => eprintln!("civicgrid tail: {stream}: {e}"),
            None => return Ok(()),
        }
    }
}

/// Prints one fact as a JSON line.
fn print(stream: &str, message: &jetstream::Message, pool: &DescriptorPool) -> anyhow::Result<()> {
    let line = serde_json::to_string(&fact_json(stream, message, pool))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).context("writing to standard output")
}

/// `{"stream", "seq", "subject", "headers", "payload"}`, with `"error"` instead of the payload
/// when it cannot be decoded.
fn fact_json(stream: &str, message: &jetstream::Message, pool: &DescriptorPool) -> Value {
    let seq = message.info().map(|i| i.stream_sequence).ok();
    let mut headers = Map::new();
    if let Some(map) = &message.headers {
        for (name, values) in map.iter() {
            if let Some(v) = values.first() {
                headers.insert(name.to_string(), Value::String(v.to_string()));
            }
        }
    }
    let ce_type = headers.get("ce-type").and_then(Value::as_str).map(str::to_owned);
    let mut line = json!({
        "stream": stream,
        "seq": seq,
        "subject": message.subject.as_str(),
        "headers": headers,
    });
    match decode(ce_type.as_deref(), &message.payload, pool) {
        Ok(payload) => line["payload"] = payload,
        Err(e) => line["error"] = Value::String(e),
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn filters_follow_the_level_of_the_code() {
        assert_eq!(region_filter("411600").unwrap(), "civicgrid.*.*.411600.>");
        assert_eq!(region_filter("411602").unwrap(), "civicgrid.*.*.411600.411602.>");
        assert_eq!(region_filter("411602001").unwrap(), "civicgrid.*.*.411600.411602.411602001.>");
        assert_eq!(region_filter("411602001001").unwrap(), "civicgrid.*.*.411600.411602.411602001.411602001001");
        for bad in ["", "41160", "4116020", "41a602", "411602000", "001602"] {
            let e = region_filter(bad).unwrap_err().to_string();
            assert!(e.contains("is not a division code"), "{bad}: {e}");
        }
    }

    fn args(since: Option<&str>, from_start: bool) -> TailArgs {
        TailArgs {
            nats: String::new(),
            user: None,
            password: None,
            inbox_prefix: None,
            region: "411602".into(),
            since: since.map(Into::into),
            from_start,
            durable: None,
            service: None,
            count: None,
        }
    }

    #[test]
    fn the_login_comes_from_the_url_and_its_password_is_never_shown() {
        let url = "nats://county-411602:secret@127.0.0.1:14222";
        assert_eq!(civicgrid_kit::bus::url_login(url), Some(("county-411602".into(), "secret".into())));
        assert_eq!(civicgrid_kit::bus::url_login("nats://127.0.0.1:14222"), None);
        assert_eq!(redact(url), "nats://county-411602:***@127.0.0.1:14222");
        assert_eq!(redact("nats://127.0.0.1:14222"), "nats://127.0.0.1:14222");
    }

    #[test]
    fn since_and_from_start_are_checked() {
        assert_eq!(start_of(&args(None, false)).unwrap(), Start::New);
        assert_eq!(start_of(&args(None, true)).unwrap(), Start::All);
        assert!(matches!(start_of(&args(Some("2026-11-22T08:00:00+08:00"), false)).unwrap(), Start::Since(_)));
        let both = start_of(&args(Some("2026-11-22T08:00:00Z"), true)).unwrap_err().to_string();
        assert!(both.contains("not both"), "{both}");
        let bad = start_of(&args(Some("yesterday"), false)).unwrap_err().to_string();
        assert!(bad.contains("is not an RFC 3339 time"), "{bad}");
    }

    #[test]
    fn durable_names_are_checked() {
        assert!(check_durable("county-411602").is_ok());
        for bad in ["", "a.b", "a b", "a>", "a*"] {
            assert!(check_durable(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payloads_decode_by_ce_type_with_proto_field_names() {
        let pool = DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).unwrap();
        let task = civicgrid_proto::v1::TaskEvent {
            task_id: "t-1".into(),
            fact: "task-assigned".into(),
            status: civicgrid_proto::v1::TaskStatus::Assigned as i32,
            occurred_at: Some(prost_types::Timestamp { seconds: 1_795_000_000, nanos: 0 }),
            ..Default::default()
        };
        let json = decode(Some("civicgrid.v1.TaskEvent"), &task.encode_to_vec(), &pool).unwrap();
        assert_eq!(json["task_id"], "t-1");
        assert_eq!(json["status"], "TASK_STATUS_ASSIGNED");
        assert!(json["occurred_at"].as_str().unwrap().ends_with('Z'), "{json}");
        assert_eq!(decode(None, b"", &pool).unwrap_err(), "no ce-type header");
        assert!(decode(Some("civicgrid.v1.Nope"), b"", &pool).unwrap_err().contains("unknown ce-type"));
        assert!(decode(Some("civicgrid.v1.TaskEvent"), b"\xff\xff", &pool).unwrap_err().contains("not a valid"));
    }
}
