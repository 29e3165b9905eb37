//! `northstar pilots …`: list pilots and give a pilot its groups from a CSV
//! file (`customer_id,group`, group pilot or control) — a named control
//! group kept outside Northstar. The file replaces the pilot's groups as a
//! whole (idempotent); every rejected row is reported with its line and how
//! to fix it, and nothing is written while any row is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use northstar_store::Store;
use northstar_store::value_records::{Assignment, MAX_ASSIGNMENTS, PilotGroup};

#[derive(Subcommand)]
pub enum PilotsCommand {
    /// Each pilot: id, name, locked, groups.
    List,
    /// Replace a pilot's groups by the rows of a CSV file with the columns
    /// customer_id,group (pilot or control); refused once the pilot started.
    Assign { id: i64, file: PathBuf },
}

pub async fn run(store: &dyn Store, command: PilotsCommand, now_unix: i64) -> Result<ExitCode> {
    let backend = store.backend();
    match command {
        PilotsCommand::List => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["id", "name", "locked", "pilot", "control", "assignment"])?;
            for p in backend.pilots().await? {
                let groups = backend.assignments(p.id).await?;
                let pilot = groups
                    .iter()
                    .filter(|a| a.group == PilotGroup::Pilot)
                    .count();
                w.write_record([
                    p.id.to_string(),
                    p.name.clone(),
                    if p.locked_unix.is_some() { "yes" } else { "no" }.into(),
                    pilot.to_string(),
                    (groups.len() - pilot).to_string(),
                    p.assignment_method.clone().unwrap_or_default(),
                ])?;
            }
            w.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        PilotsCommand::Assign { id, file } => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_path(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let header: Vec<String> = reader
                .headers()
                .with_context(|| format!("{}: reading the header", file.display()))?
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect();
            let (Some(ci), Some(gi)) = (
                header.iter().position(|h| h == "customer_id"),
                header.iter().position(|h| h == "group"),
            ) else {
                eprintln!(
                    "{}:1: the header needs the columns customer_id and group (found {})",
                    file.display(),
                    header.join(",")
                );
                return Ok(ExitCode::from(3));
            };
            let mut rows = Vec::new();
            let mut seen = std::collections::HashMap::new();
            let mut rejected = 0usize;
            for (i, record) in reader.records().enumerate() {
                let line = i + 2;
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{}:{line}: {e}", file.display());
                        rejected += 1;
                        continue;
                    }
                };
                if rows.len() >= MAX_ASSIGNMENTS {
                    eprintln!(
                        "{}:{line}: more than {MAX_ASSIGNMENTS} rows; a pilot's groups hold at most {MAX_ASSIGNMENTS} customers",
                        file.display()
                    );
                    return Ok(ExitCode::from(3));
                }
                let customer = record.get(ci).unwrap_or_default().to_string();
                let group = match record.get(gi).unwrap_or_default() {
                    "pilot" => PilotGroup::Pilot,
                    "control" => PilotGroup::Control,
                    other => {
                        eprintln!(
                            "{}:{line}: group: {other:?} is not a group; write pilot or control",
                            file.display()
                        );
                        rejected += 1;
                        continue;
                    }
                };
                if let Err(e) = northstar_core::field::within(
                    "customer_id",
                    &customer,
                    northstar_core::field::ID_LIMIT,
                ) {
                    eprintln!("{}:{line}: {e}", file.display());
                    rejected += 1;
                    continue;
                }
                if customer.is_empty() {
                    eprintln!("{}:{line}: customer_id: is empty", file.display());
                    rejected += 1;
                    continue;
                }
                if let Some(first) = seen.insert(customer.clone(), line) {
                    eprintln!(
                        "{}:{line}: customer_id: {customer:?} is also on line {first}; give each customer one group",
                        file.display()
                    );
                    rejected += 1;
                    continue;
                }
                rows.push(Assignment {
                    customer_id: customer,
                    group,
                    stratum: String::new(),
                });
            }
            if rejected > 0 {
                eprintln!(
                    "{}: {rejected} rows rejected; nothing written (fix them and run again)",
                    file.display()
                );
                return Ok(ExitCode::from(3));
            }
            // As the API: after the pilot's first day its groups, once
            // given, are never replaced (the same groups again change nothing).
            let Some(pilot) = backend.pilot(id).await? else {
                eprintln!("there is no pilot {id} (northstar pilots list shows them)");
                return Ok(ExitCode::from(2));
            };
            let start = serde_json::from_str::<serde_json::Value>(&pilot.document)
                .ok()
                .and_then(|d| {
                    d["plan"]["start"]
                        .as_str()
                        .and_then(northstar_core::calendar::parse_day)
                });
            let existing = backend.assignments(id).await?;
            let zone = northstar_store::settings::time_zone(backend).await?.1;
            if !existing.is_empty() && northstar_store::value_records::same_groups(&existing, &rows)
            {
                println!("pilot {id}: the groups are already these; nothing changed");
                return Ok(ExitCode::SUCCESS);
            }
            if !existing.is_empty()
                && start.is_some_and(|s| northstar_core::calendar::today_in(&zone) >= s)
            {
                eprintln!(
                    "pilot {id} has begun and its groups were already given: they cannot be given again (a new list after answers exist could choose the result); register a new pilot instead"
                );
                return Ok(ExitCode::from(3));
            }
            let written = backend
                .put_assignments(id, &rows, "as given (imported list)", None, "cli", now_unix)
                .await?;
            let pilot = rows.iter().filter(|r| r.group == PilotGroup::Pilot).count();
            println!(
                "pilot {id}: {written} customers assigned ({pilot} pilot, {} control) from {}",
                rows.len() - pilot,
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
