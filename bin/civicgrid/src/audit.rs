//! `civicgrid audit`: the audit trail each service keeps in its schema (crates/kit/src/audit).
//! `verify` recomputes every chain and names the first broken link; `export` prints an
//! aggregate's, a fact's or a period's records as JSON lines for an inspector, each fact
//! decoded, with the record before it (`previous`) and the hashes that tie it into the chain:
//! `--fact pii-revealed` lists who saw residents' personal data in clear, when and why.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use civicgrid_kit::{audit, config::DatabaseSettings, db};
use prost_reflect::DescriptorPool;
use serde_json::{Value, json};

/// Arguments of `civicgrid audit`.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chains; exits 1 naming the first broken link of each broken chain.
    Verify {
        /// The database (a user that may read every service's schema; `civicgrid up` prints it).
        #[arg(long, env = "CIVICGRID__DATABASE__URL")]
        database_url: String,
        /// Only this service's chain (default: every schema with a trail).
        #[arg(long)]
        service: Option<String>,
    },
    /// Print records as JSON lines: an aggregate's (a task, event or case id), a fact's or a
    /// period's.
    Export {
        /// The database.
        #[arg(long, env = "CIVICGRID__DATABASE__URL")]
        database_url: String,
        /// The service whose trail to read.
        #[arg(long)]
        service: String,
        /// Only this aggregate's records (its id: the facts' `ce-subject`).
        #[arg(long)]
        aggregate: Option<String>,
        /// Only this fact's records, e.g. `pii-revealed` (every reveal of personal data).
        #[arg(long)]
        fact: Option<String>,
        /// From this time on (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Before this time (RFC 3339).
        #[arg(long)]
        to: Option<String>,
    },
}

/// Runs `civicgrid audit …`.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify { database_url, service } => verify(&database_url, service).await,
        AuditCommand::Export { database_url, service, aggregate, fact, from, to } => {
            let (from, to) = (time_arg("--from", from)?, time_arg("--to", to)?);
            export(&database_url, &service, &audit::Selection { aggregate, fact, from, to }).await
        }
    }
}

fn time_arg(name: &str, value: Option<String>) -> anyhow::Result<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| format!("{name} `{v}` is not an RFC 3339 time"))
        })
        .transpose()
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let settings = DatabaseSettings {
        url: Some(url.to_string().into()),
        schema: None,
        max_connections: 2,
        acquire_timeout_secs: 10,
    };
    db::connect(&settings, "public").await.context("connecting to the database")
}

async fn verify(url: &str, service: Option<String>) -> anyhow::Result<()> {
    let pool = connect(url).await?;
    let schemas = match service {
        Some(s) => vec![s],
        None => audit::schemas(&pool).await?,
    };
    if schemas.is_empty() {
        bail!("no schema of this database holds an audit trail");
    }
    let mut broken = 0;
    for schema in schemas {
        let v = audit::verify(&pool, &schema).await?;
        let range = match (v.first, v.last) {
            (Some(a), Some(b)) => format!(" ({a}–{b})"),
            _ => String::new(),
        };
        match &v.broken {
            None => println!("{schema:<10} {} records{range}: chain intact", v.records),
            Some(link) => {
                broken += 1;
                println!("{schema:<10} {} records{range}: BROKEN at record {}: {}", v.records, link.seq, link.reason);
            }
        }
    }
    if broken > 0 {
        bail!("{broken} broken chain(s)");
    }
    Ok(())
}

async fn export(url: &str, service: &str, selection: &audit::Selection) -> anyhow::Result<()> {
    let pool = connect(url).await?;
    let descriptors =
        DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).context("the embedded protobuf descriptors")?;
    for r in audit::export(&pool, service, selection).await? {
        let headers: Value = serde_json::from_str(&r.headers).unwrap_or(Value::Null);
        let ce_type = headers.get("ce-type").and_then(Value::as_str);
        let mut line = json!({
            "service": service,
            "seq": r.seq,
            "at": r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "message_id": r.message_id,
            "subject": r.subject,
            "aggregate": r.aggregate,
            "previous": r.previous,
            "headers": headers,
            "prev_hash": hex::encode(&r.prev_hash),
            "hash": hex::encode(&r.hash),
        });
        match crate::decode::decode(ce_type, &r.payload, &descriptors) {
            Ok(payload) => line["payload"] = payload,
            Err(e) => line["error"] = Value::String(e),
        }
        println!("{line}");
    }
    Ok(())
}
