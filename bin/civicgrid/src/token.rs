//! `civicgrid token`: signs a bearer token.

use anyhow::Context;
use civicgrid_kit::auth::{Claims, expiry_in, issue_token, parse_role};

/// Arguments of `civicgrid token`.
#[derive(clap::Args)]
pub struct TokenArgs {
    /// The HS256 secret the services check tokens with (`auth.hs256_secret`).
    #[arg(long, env = "CIVICGRID__AUTH__HS256_SECRET")]
    secret: String,
    /// Role: department, grid_worker, mediator, patrol_member, center, county_center, citizen_app, admin.
    #[arg(long)]
    role: String,
    /// Subject (account id).
    #[arg(long, default_value = "cli")]
    subject: String,
    /// Department id, for department tokens.
    #[arg(long, default_value = "")]
    department: String,
    /// Region code the token's authority covers; empty means everywhere.
    #[arg(long, default_value = "")]
    scope: String,
    /// `iss` claim, when the services check `auth.issuer`.
    #[arg(long)]
    issuer: Option<String>,
    /// `aud` claim, when the services check `auth.audience`.
    #[arg(long)]
    audience: Option<String>,
    /// Hours until it expires (1 to 87,600, ten years).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=87_600))]
    hours: u64,
}

/// Prints the token.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    if parse_role(&args.role).is_none() {
        anyhow::bail!("unknown role `{}`", args.role);
    }
    // A department's token without its department would be accepted and then see nothing.
    if args.role == "department" && args.department.trim().is_empty() {
        anyhow::bail!("a department token needs --department <department id>");
    }
    let claims = Claims {
        sub: args.subject,
        role: args.role,
        department_id: args.department,
        region_scope: args.scope,
        exp: expiry_in(std::time::Duration::from_secs(args.hours * 3600)),
        iss: args.issuer,
        aud: args.audience,
    };
    println!("{}", issue_token(&args.secret, &claims).context("signing")?);
    Ok(())
}
