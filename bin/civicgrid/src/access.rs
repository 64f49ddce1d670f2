//! `civicgrid access`: who may call each RPC of each service, from the tables the services'
//! edges enforce. Markdown by default (docs/access.md holds it, checked by a test), `--json`
//! for tools (the end-to-end access test reads it).

use civicgrid_kit::access::{ROLES, Rule, role_name};
use serde::Serialize;

use crate::registry::SERVICES;

/// Arguments of `civicgrid access`.
#[derive(clap::Args, Debug)]
pub struct AccessArgs {
    /// Print JSON (for tools) instead of Markdown tables.
    #[arg(long)]
    json: bool,
}

/// One RPC's row in `--json`.
#[derive(Serialize)]
struct Row {
    /// `civicgrid.v1.IntakeService`.
    service: &'static str,
    /// `SubmitEvent`.
    rpc: &'static str,
    /// The roles that may call it, by claim name (`county_center`).
    roles: Vec<&'static str>,
    /// `open`, `placed`, `filtered`, `hidden` or `own` (docs/access.md).
    scoping: &'static str,
}

/// Prints the tables.
pub fn run(args: AccessArgs) -> anyhow::Result<()> {
    if args.json {
        let rows: Vec<Row> = SERVICES
            .iter()
            .flat_map(|e| {
                e.access.rules.iter().map(move |r| Row {
                    service: e.access.service,
                    rpc: r.method,
                    roles: r.roles.iter().map(|role| role_name(*role)).collect(),
                    scoping: r.scoping.name(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", markdown());
    }
    Ok(())
}

/// One Markdown table per service: an RPC per row, a role per column.
pub fn markdown() -> String {
    let mut out = String::new();
    for entry in SERVICES {
        out.push_str(&format!("### {} (`{}`)\n\n| RPC |", entry.name, entry.access.service));
        for role in ROLES {
            out.push_str(&format!(" {} |", role_name(*role)));
        }
        out.push_str(" scope |\n|---|");
        out.push_str(&"---|".repeat(ROLES.len() + 1));
        out.push('\n');
        for rule in entry.access.rules {
            out.push_str(&row(rule));
        }
        out.push('\n');
    }
    out
}

fn row(rule: &Rule) -> String {
    let mut line = format!("| {} |", rule.method);
    for role in ROLES {
        line.push_str(if rule.roles.contains(role) { " ✓ |" } else { " |" });
    }
    line.push_str(&format!(" {} |\n", rule.scoping.name()));
    line
}

#[cfg(test)]
mod tests {
    /// docs/access.md holds exactly what `civicgrid access` prints, between its markers.
    #[test]
    fn docs_access_md_is_the_printed_tables() {
        let doc = include_str!("../../../docs/access.md");
        let begin = "<!-- civicgrid access: begin -->\n";
        let (Some(from), Some(to)) = (doc.find(begin), doc.find("<!-- civicgrid access: end -->")) else {
            panic!("docs/access.md lacks its markers");
        };
        let printed = super::markdown();
        assert!(
            doc[from + begin.len()..to] == printed,
            "docs/access.md is out of date: replace the part between its markers with `civicgrid access`'s output:\n{printed}"
        );
    }

    /// Every service's table matches its `.proto`: no RPC without a row.
    #[test]
    fn every_table_covers_its_service() {
        for entry in crate::registry::SERVICES {
            assert_eq!(entry.access.service, entry.grpc_service, "{}", entry.name);
            entry.access.check().unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
