//! `northstar departments …`: list, export and import department records
//! (JSON, the shape `POST /api/v1/departments` takes) and enter external KPI
//! values from a CSV file (`from,to,value`). Imports are idempotent: a
//! department replaces the one of the same name, a KPI value the one of the
//! same period start; every rejected record or row is reported with where it
//! is and how to fix it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use northstar_core::calendar;
use northstar_core::department::{Department, Statistic};
use northstar_store::Store;

/// Largest departments file read.
const MAX_FILE_BYTES: u64 = 4 << 20;
/// Most rows of a KPI values file.
const MAX_VALUE_ROWS: usize = 1_000;

#[derive(Subcommand)]
pub enum DepartmentsCommand {
    /// Each department: name, leader, ambassadors, goals.
    List,
    /// Every department as a JSON array (what `import` reads back).
    Export,
    /// Create or replace departments from a JSON file: one department object
    /// or an array of them, as `POST /api/v1/departments` takes.
    Import { file: PathBuf },
    /// Enter an external KPI's values from a CSV file with the columns
    /// from,to,value (one period per row, YYYY-MM-DD).
    KpiValues {
        department: String,
        /// The goal's KPI measure (statistic external).
        measure: String,
        file: PathBuf,
    },
}

pub async fn run(
    store: &dyn Store,
    command: DepartmentsCommand,
    now_unix: i64,
) -> Result<ExitCode> {
    let backend = store.backend();
    match command {
        DepartmentsCommand::List => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["name", "leader", "ambassadors", "goals", "updated_by"])?;
            for d in backend.departments().await? {
                w.write_record([
                    d.record.name.as_str(),
                    d.record.leader.as_deref().unwrap_or(""),
                    &d.record.ambassadors.join(" "),
                    &d.record
                        .goals
                        .iter()
                        .map(|g| g.title.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                    d.updated_by.as_str(),
                ])?;
            }
            w.flush()?;
        }
        DepartmentsCommand::Export => {
            let all: Vec<Department> = backend
                .departments()
                .await?
                .into_iter()
                .map(|d| d.record)
                .collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        DepartmentsCommand::Import { file } => {
            let size = std::fs::metadata(&file)
                .with_context(|| format!("{}: cannot read the file", file.display()))?
                .len();
            if size > MAX_FILE_BYTES {
                anyhow::bail!(
                    "{}: {size} bytes; a departments file holds at most {} MiB",
                    file.display(),
                    MAX_FILE_BYTES >> 20
                );
            }
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!("{}: cannot read the file as UTF-8 text", file.display())
            })?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not JSON: {e} (line {}, column {})",
                    file.display(),
                    e.line(),
                    e.column()
                )
            })?;
            let items = match value {
                serde_json::Value::Array(items) => items,
                one => vec![one],
            };
            let (mut stored, mut rejected) = (0, 0);
            for (i, item) in items.into_iter().enumerate() {
                let at = format!("{}: department [{i}]", file.display());
                let d: Department = match serde_json::from_value(item) {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("{at}: {e}");
                        rejected += 1;
                        continue;
                    }
                };
                if let Err(errors) = d.check() {
                    eprintln!(
                        "{at} ({}): {}",
                        d.name,
                        northstar_core::field::describe(&errors)
                    );
                    rejected += 1;
                    continue;
                }
                backend.put_department(&d, "cli", now_unix).await?;
                stored += 1;
            }
            println!(
                "{}: {stored} departments stored, {rejected} rejected",
                file.display()
            );
            if rejected > 0 {
                return Ok(ExitCode::from(3));
            }
        }
        DepartmentsCommand::KpiValues {
            department,
            measure,
            file,
        } => {
            let d = backend
                .departments()
                .await?
                .into_iter()
                .find(|d| d.record.name == department)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no department named {department:?}; see `northstar departments list`"
                    )
                })?;
            if !d
                .record
                .goals
                .iter()
                .any(|g| g.kpi.measure == measure && g.kpi.statistic == Statistic::External)
            {
                anyhow::bail!(
                    "{measure:?} is not an external KPI of a goal of {department}; add the goal first (statistic external)"
                );
            }
            let mut reader = csv::Reader::from_path(&file)
                .with_context(|| format!("{}: cannot read the file", file.display()))?;
            let headers: Vec<String> = reader
                .headers()
                .with_context(|| format!("{}: no header row", file.display()))?
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect();
            let column = |name: &str| {
                headers.iter().position(|h| h == name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: line 1: no column {name:?}; the header must name from, to and value",
                        file.display()
                    )
                })
            };
            let (from_at, to_at, value_at) = (column("from")?, column("to")?, column("value")?);
            let (mut values, mut rejected) = (Vec::new(), 0);
            for (i, record) in reader.records().enumerate() {
                let line = i + 2;
                if i >= MAX_VALUE_ROWS {
                    anyhow::bail!(
                        "{}: more than {MAX_VALUE_ROWS} rows; split the file",
                        file.display()
                    );
                }
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{}: line {line}: {e}", file.display());
                        rejected += 1;
                        continue;
                    }
                };
                let cell = |at: usize| record.get(at).unwrap_or("").trim();
                let from = calendar::parse_day(cell(from_at));
                let to = calendar::parse_day(cell(to_at));
                let value = cell(value_at)
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.abs() <= northstar_core::department::MAX_KPI_MAGNITUDE);
                match (from, to, value) {
                    (Some(f), Some(t), Some(v)) if f <= t => values.push((f, t, v)),
                    _ => {
                        eprintln!(
                            "{}: line {line}: from {:?}, to {:?}, value {:?}: give from and to as YYYY-MM-DD (from on or before to) and a number",
                            file.display(),
                            cell(from_at),
                            cell(to_at),
                            cell(value_at)
                        );
                        rejected += 1;
                    }
                }
            }
            backend
                .put_kpi_values(&department, &measure, &values, "cli", now_unix)
                .await?;
            println!(
                "{}: {} period values stored, {rejected} rejected",
                file.display(),
                values.len()
            );
            if rejected > 0 {
                return Ok(ExitCode::from(3));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
