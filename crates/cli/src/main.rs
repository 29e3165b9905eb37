//! `northstar`: run the server, load demo data, import files, maintain the
//! database. Every flag has a `NORTHSTAR_*` environment variable.

mod demo_data;
mod demo_partners;
mod departments_command;
mod pilots_command;

/// glibc's allocator spent most of a bulk import consolidating free chunks;
/// mimalloc more than halves the allocation cost (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use northstar_core::account::{self, Role};
use northstar_store::Store;
use northstar_store::accounts;
use northstar_store::import::{
    self, ImportError, ImportFailure, ImportKind, ImportObserver, ImportReport, RowError,
};
use northstar_store::settings;

#[derive(Parser)]
#[command(
    name = "northstar",
    version,
    about = "Customer-experience metrics with their provenance"
)]
struct Cli {
    /// Log format: text for people, json for machines.
    #[arg(long, global = true, env = "NORTHSTAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
struct DatabaseArg {
    /// Database URL: sqlite://path/to/file.db (created if missing) or
    /// postgres://user:password@host:port/database (created beforehand;
    /// migrations are applied on start).
    #[arg(long, global = true, env = "NORTHSTAR_DATABASE_URL", hide_env_values = true, default_value = northstar_store::DEFAULT_DATABASE_URL)]
    database: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Args, Clone, Copy)]
struct StoreArgs {
    /// Months of day cells the in-memory cube keeps (this month included);
    /// older months keep totals only, and questions about their single days
    /// read the database. 0 keeps every day. See docs/deploy.md.
    #[arg(long, env = "NORTHSTAR_CUBE_DAY_MONTHS", default_value_t = northstar_store::DEFAULT_DAY_CELL_MONTHS)]
    cube_day_months: u32,
    /// Most PostgreSQL connections of this process.
    #[arg(long, env = "NORTHSTAR_DB_POOL", default_value_t = northstar_store::DEFAULT_POOL_SIZE, value_parser = clap::value_parser!(u32).range(2..=1000))]
    db_pool: u32,
    /// SQLite page cache per connection, in MiB (4 connections). Default:
    /// 16 for `serve` and `demo`, which answer from memory and keep the
    /// server's footprint small; 64 for commands that write in bulk
    /// (`import`, `copy`, `rebuild-rollups`), where the cache speeds up
    /// index inserts.
    #[arg(long, env = "NORTHSTAR_SQLITE_CACHE_MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    sqlite_cache_mib: Option<u32>,
}

/// SQLite page cache per connection for a server (see `--sqlite-cache-mib`).
const SERVER_SQLITE_CACHE_MIB: u32 = 16;

impl StoreArgs {
    fn options(self) -> northstar_store::OpenOptions {
        northstar_store::OpenOptions {
            day_cell_months: Some(self.cube_day_months),
            pool_size: self.db_pool,
            sqlite_cache_mib: self
                .sqlite_cache_mib
                .unwrap_or(northstar_store::DEFAULT_SQLITE_CACHE_MIB),
        }
    }

    /// As a server opens the store: a smaller page cache unless given.
    fn for_server(mut self) -> Self {
        self.sqlite_cache_mib = self.sqlite_cache_mib.or(Some(SERVER_SQLITE_CACHE_MIB));
        self
    }
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on. The default is this machine only; another
    /// address is refused until an admin account exists.
    #[arg(long, env = "NORTHSTAR_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Mark session cookies `Secure` even when requests do not say they
    /// came over HTTPS (a TLS proxy that sends no X-Forwarded-Proto).
    #[arg(long, env = "NORTHSTAR_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Address of a reverse proxy in front (repeat for several, or
    /// comma-separate in the variable): for its requests the client is the
    /// address it appends to `X-Forwarded-For` (sign-in throttling per
    /// address, audit). Without it, every client behind a proxy shares the
    /// proxy's address.
    #[arg(
        long = "trusted-proxy",
        env = "NORTHSTAR_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Store this as the setting `retention_months` at start (audited when
    /// it changes). The server applies the stored setting at start and
    /// then daily (see `northstar retention`, `northstar settings`).
    #[arg(long, env = "NORTHSTAR_RETENTION_MONTHS", value_parser = clap::value_parser!(u32).range(1..=1_200))]
    retention_months: Option<u32>,
    /// Requests handled at once; more are refused with 503 and Retry-After.
    #[arg(long, env = "NORTHSTAR_MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_in_flight: u32,
    /// Writes handled at once (each may hold a 16 MiB body); more are
    /// refused with 503 and Retry-After.
    #[arg(long, env = "NORTHSTAR_MAX_WRITES_IN_FLIGHT", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    max_writes_in_flight: u32,
    /// Seconds a request may take before it is stopped with 503.
    #[arg(long, env = "NORTHSTAR_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3_600))]
    request_timeout: u32,
    /// Tasks writing survey answers in shared transactions (group commit).
    /// Default: 1 on SQLite (writes are serialised), 4 on PostgreSQL.
    #[arg(long, env = "NORTHSTAR_COMMIT_WRITERS", value_parser = clap::value_parser!(u32).range(1..=64))]
    commit_writers: Option<u32>,
    /// Most survey answers written in one transaction. Default: 2,000 on
    /// SQLite, 500 on PostgreSQL.
    #[arg(long, env = "NORTHSTAR_COMMIT_MAX_BATCH", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    commit_max_batch: Option<u32>,
    /// Survey answers a minute from one address (burst: as many at once);
    /// more get 429 with Retry-After. 0: no limit.
    #[arg(long, env = "NORTHSTAR_PUBLIC_RATE_PER_IP", default_value_t = 60)]
    public_rate_per_ip: u32,
    /// Survey answers a second to one survey (burst: twice as many at
    /// once); more get 429 with Retry-After. 0: no limit (load tests).
    #[arg(long, env = "NORTHSTAR_PUBLIC_RATE_PER_SURVEY", default_value_t = 200)]
    public_rate_per_survey: u32,
    #[command(flatten)]
    mail: MailArgs,
}

/// Where the weekly digest is sent from (see README, Weekly digest).
#[derive(clap::Args, Clone)]
struct MailArgs {
    /// SMTP server for the weekly digest and survey invitations:
    /// smtp://user:password@host:587?tls=required (STARTTLS), smtps://…:465
    /// (TLS), or smtp://127.0.0.1:25 for a relay on this machine. Without it
    /// no digest or invitation is sent.
    #[arg(long, env = "NORTHSTAR_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The digest's sender, e.g. "Northstar <cx@example.com>".
    #[arg(long, env = "NORTHSTAR_MAIL_FROM")]
    mail_from: Option<String>,
    /// The address people open Northstar at, for the unsubscribe links,
    /// e.g. https://northstar.example.com.
    #[arg(long, env = "NORTHSTAR_PUBLIC_URL")]
    public_url: Option<String>,
}

impl MailArgs {
    /// The mailer, or `None` when no SMTP server is given.
    fn mailer(&self) -> Result<Option<northstar_server::digest::Mailer>> {
        let Some(smtp_url) = &self.smtp_url else {
            return Ok(None);
        };
        let from = self.mail_from.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--smtp-url is set but --mail-from (NORTHSTAR_MAIL_FROM) is not; give the digest's sender, e.g. \"Northstar <cx@example.com>\""
            )
        })?;
        let public_url = self.public_url.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--smtp-url is set but --public-url (NORTHSTAR_PUBLIC_URL) is not; give the address people open Northstar at (for unsubscribe links), e.g. https://northstar.example.com"
            )
        })?;
        Ok(Some(northstar_server::digest::Mailer::new(
            smtp_url, from, public_url,
        )?))
    }
}

impl ServeArgs {
    fn options(&self) -> northstar_server::ServerOptions {
        northstar_server::ServerOptions {
            limits: northstar_server::ServerLimits {
                max_in_flight: self.max_in_flight as usize,
                max_writes_in_flight: self.max_writes_in_flight as usize,
                request_timeout: std::time::Duration::from_secs(u64::from(self.request_timeout)),
                ..Default::default()
            },
            secure_cookies: self.secure_cookies,
            trusted_proxies: self.trusted_proxies.clone(),
            mailer: None,
            commit: northstar_server::group_commit::CommitOptions {
                writers: self.commit_writers.map(|n| n as usize),
                max_batch: self.commit_max_batch.map(|n| n as usize),
                ..Default::default()
            },
            public_limits: northstar_server::public_limits::PublicLimits::with_rates(
                self.public_rate_per_ip,
                self.public_rate_per_survey,
            ),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the web app.
    Serve {
        #[command(flatten)]
        db: DatabaseArg,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Create (or reuse) a demo database for an electronics distributor and serve it.
    Demo {
        /// Demo database URL.
        #[arg(
            long,
            env = "NORTHSTAR_DEMO_DATABASE_URL",
            hide_env_values = true,
            default_value = "sqlite://northstar-demo.db"
        )]
        database: String,
        /// Responses to generate when the demo database is new.
        #[arg(long, env = "NORTHSTAR_DEMO_RESPONSES", default_value_t = 60_000)]
        responses: u64,
        /// Seed of the generator (same seed, same data).
        #[arg(long, env = "NORTHSTAR_DEMO_SEED", default_value_t = 42)]
        seed: u64,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Write the demo data as CSV files (customers, operations, responses) without importing.
    DemoData {
        /// Directory to write into.
        #[arg(long, env = "NORTHSTAR_DEMO_OUT")]
        out: PathBuf,
        #[arg(long, env = "NORTHSTAR_DEMO_RESPONSES", default_value_t = 60_000)]
        responses: u64,
        #[arg(long, env = "NORTHSTAR_DEMO_SEED", default_value_t = 42)]
        seed: u64,
    },
    /// Import a CSV file. Exit status: 0 all rows accepted, 3 some rejected, 2 usage error.
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        kind: KindArg,
        /// The CSV file (header row first).
        file: PathBuf,
        #[command(flatten)]
        db: DatabaseArg,
        /// Rows per write transaction; each committed one is acknowledged
        /// on stdout as `committed through line N`.
        #[arg(long, env = "NORTHSTAR_IMPORT_BATCH_ROWS", default_value_t = northstar_store::import::BATCH_ROWS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
        batch_rows: usize,
    },
    /// Apply database migrations.
    Migrate {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Rebuild the rollup table from the raw responses.
    RebuildRollups {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Check that the rollup table equals a rebuild from the raw responses
    /// (exit status 0) or not (1; `rebuild-rollups` repairs it).
    VerifyRollups {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Write a consistent copy of a SQLite database to a new file while it
    /// is in use (`VACUUM INTO`); restore by serving the copy.
    Backup {
        #[command(flatten)]
        db: DatabaseArg,
        /// The new file (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
    /// Manage accounts: add, list, change roles, disable.
    User {
        #[command(subcommand)]
        command: UserCommand,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Manage API tokens (`Authorization: Bearer …`): create, list, revoke.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Erase a customer: their responses (rollups decremented exactly),
    /// customer record and operational records; audited without the id.
    Erase {
        #[command(flatten)]
        db: DatabaseArg,
        /// The customer_id to erase.
        #[arg(long)]
        customer: String,
    },
    /// Anonymise responses older than N calendar months (customer_id,
    /// comment, order_id and attributes cleared; scores, dimensions and so
    /// every figure kept), and customer ids of operational records as old.
    Retention {
        #[command(flatten)]
        db: DatabaseArg,
        /// Months to keep personal data (1–1200); the stored setting
        /// `retention_months` when not given.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_200))]
        months: Option<u32>,
    },
    /// Departments as partners: list, export and import department records
    /// with their goals (JSON), and enter external KPI values (CSV).
    Departments {
        #[command(subcommand)]
        command: departments_command::DepartmentsCommand,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Pilots: list them, and give one its groups from a CSV file
    /// (customer_id,group) — a named control group.
    Pilots {
        #[command(subcommand)]
        command: pilots_command::PilotsCommand,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Show or change settings (redaction before storage, retention); every
    /// change is audited.
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Show the audit log, newest first, as CSV (at, actor, action, target,
    /// detail).
    Audit {
        #[command(flatten)]
        db: DatabaseArg,
        /// Only this actor (an e-mail, `cli` or `system`).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action, or a family of them ending in `.` (`user.`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries about this customer (erasures name a customer by a
        /// keyed hash of its id, never the id: this computes it).
        #[arg(long)]
        customer: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// The weekly digest by e-mail (`serve` sends it every Monday when
    /// --smtp-url is set): send a department's now.
    Digest {
        #[command(subcommand)]
        command: DigestCommand,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Copy everything from one database to another (SQLite to PostgreSQL or
    /// back), then compare what both answer: exit status 0 when identical,
    /// 1 when not. Safe to run again after an interruption.
    Copy {
        /// Source database URL (keep passwords out of `ps`: use the
        /// environment variable).
        #[arg(long, env = "NORTHSTAR_COPY_FROM", hide_env_values = true)]
        from: String,
        /// Target database URL (PostgreSQL: created beforehand).
        #[arg(long, env = "NORTHSTAR_COPY_TO", hide_env_values = true)]
        to: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password comes from a prompt, or from the
    /// first line of standard input with --password-stdin; never from an
    /// argument (other users could read it in `ps`).
    Add {
        #[arg(long)]
        email: String,
        /// admin, cx_lead, department_lead, ambassador, finance or viewer.
        #[arg(long)]
        role: String,
        /// The department of a department_lead or ambassador.
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts (never their passwords).
    List,
    /// Change an account's role (and department); signs it out.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        department: Option<String>,
    },
    /// Set a new password (from a prompt, or --password-stdin): signs the
    /// account out and lifts a sign-in lockout.
    SetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account (signs it out; its records stay), or enable it again.
    Disable {
        #[arg(long)]
        email: String,
        /// Enable the account again instead.
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Subcommand)]
enum DigestCommand {
    /// Send a department's digest now, whatever the schedule says, and
    /// record this week as sent. Exit status 1 when the department is
    /// unknown or a message was not delivered.
    Send {
        /// The department (as its record names it).
        #[arg(long)]
        department: String,
        #[command(flatten)]
        mail: MailArgs,
    },
}

#[derive(Subcommand)]
enum SettingsCommand {
    /// Every setting: value, what it accepts, who changed it and when.
    List,
    /// One setting's value (its default when never set).
    Get { key: String },
    /// Change a setting: `redact_personal_data on|off`,
    /// `retention_months N|off`.
    Set { key: String, value: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret, once (only a hash is kept).
    Create {
        /// A name that says who or what uses it, e.g. etl-nightly.
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        department: Option<String>,
    },
    /// List tokens (never their secrets): role, department, last use.
    List,
    /// Revoke a token by name: it stops working at once.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Responses,
    Customers,
    Operations,
}

impl From<KindArg> for ImportKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Responses => ImportKind::Responses,
            KindArg::Customers => ImportKind::Customers,
            KindArg::Operations => ImportKind::Operations,
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NORTHSTAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for people at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(url: &str, args: StoreArgs) -> Result<Arc<dyn Store>> {
    northstar_store::open_with(url, args.options())
        .await
        .with_context(|| format!("opening database {}", northstar_store::redact(url)))
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve { db, serve } => {
            let store = open(&db.database, db.store.for_server()).await?;
            serve_store(store, &serve, &db.database).await?;
        }
        Command::Demo {
            database,
            responses,
            seed,
            serve,
            store: store_args,
        } => {
            let store = open(&database, store_args.for_server()).await?;
            let counts = store.counts().await?;
            let mut pilot_groups = None;
            if counts.responses > 0 {
                println!(
                    "Reusing the demo database {} ({} responses). Delete the file to generate it again.",
                    northstar_store::redact(&database),
                    counts.responses
                );
            } else {
                println!(
                    "Generating {responses} demo responses for an electronics distributor (seed {seed})…"
                );
                let dir = tempfile::tempdir()?;
                let files = demo_data::write(dir.path(), responses, seed)?;
                for (kind, path) in [
                    (ImportKind::Customers, &files.customers),
                    (ImportKind::Operations, &files.operations),
                    (ImportKind::Responses, &files.responses),
                ] {
                    let (report, elapsed) =
                        import_file(&*store, kind, path, import::BATCH_ROWS, false)
                            .await
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("  {}", summary_line(path, &report, elapsed));
                }
                let mut groups = Vec::new();
                for row in csv::Reader::from_path(&files.pilot_groups)?.records() {
                    let row = row?;
                    groups.push((row[0].to_string(), row[1].to_string()));
                }
                pilot_groups = Some(groups);
            }
            if demo_partners::set_up(&*store, now_unix()).await? {
                println!(
                    "  departments, goals, a North Star and wins for the electronics distributor"
                );
            }
            if let Some(groups) = pilot_groups {
                // A small demo may lack the answers a pilot needs: say so
                // and serve the rest.
                match northstar_server::demo_value::set_up(
                    store.clone(),
                    groups,
                    demo_data::PILOT_SEED,
                    now_unix(),
                )
                .await
                {
                    Ok(true) => println!(
                        "  a pilot with a control group and a business case reviewed by finance (one assumption challenged)"
                    ),
                    Ok(false) => {}
                    Err(e) => println!(
                        "  no demo pilot: {} (generate more responses with --responses)",
                        e.public_message()
                    ),
                }
            }
            match northstar_server::demo_surveys::set_up(store.clone()).await {
                Ok(true) => println!(
                    "  surveys in English and German: post_support sent to customers by e-mail (response rates by segment), post_delivery open by link"
                ),
                Ok(false) => {}
                Err(e) => println!("  no demo surveys: {}", e.public_message()),
            }
            demo_accounts(&*store).await?;
            serve_store(store, &serve, &database).await?;
        }
        Command::DemoData {
            out,
            responses,
            seed,
        } => {
            let files = demo_data::write(&out, responses, seed)?;
            for f in [&files.customers, &files.operations, &files.responses] {
                println!("wrote {}", f.display());
            }
        }
        Command::Import {
            kind,
            file,
            db,
            batch_rows,
        } => {
            if !file.is_file() {
                eprintln!(
                    "{}: no such file (give the path of a CSV file with a header row)",
                    file.display()
                );
                return Ok(ExitCode::from(2));
            }
            let store = open(&db.database, db.store).await?;
            return match import_file(&*store, kind.into(), &file, batch_rows, true).await {
                Ok((report, elapsed)) => {
                    println!("{}", summary_line(&file, &report, elapsed));
                    Ok(ExitCode::from(if report.rejected_rows == 0 {
                        0
                    } else {
                        3
                    }))
                }
                Err(ImportFailure {
                    error: ImportError::Header(errors),
                    ..
                }) => {
                    for e in errors {
                        eprintln!("{}:1: {e}", file.display());
                    }
                    eprintln!(
                        "{}: nothing imported; fix the header and run the import again",
                        file.display()
                    );
                    Ok(ExitCode::from(3))
                }
                Err(ImportFailure { report, error }) => Err(anyhow::anyhow!(
                    "{}: {error}; before it stopped: {} (a re-run skips what was already imported)",
                    file.display(),
                    summary_counts(&report)
                )),
            };
        }
        Command::Migrate { db } => {
            open(&db.database, db.store).await?;
            println!(
                "{}: migrations applied",
                northstar_store::redact(&db.database)
            );
        }
        Command::VerifyRollups { db } => {
            let store = open(&db.database, db.store).await?;
            let check = store.verify_rollups().await?;
            println!(
                "{} rollup cells and {} driver-moment cells; tables equal a rebuild from raw responses: {} (driver moments: {}); in-memory cube equals the table: {}",
                check.stored_cells,
                check.moment_cells,
                if check.stored_equals_raw { "yes" } else { "NO" },
                if check.moments_equal_raw { "yes" } else { "NO" },
                if check.cube_equals_stored {
                    "yes"
                } else {
                    "NO"
                },
            );
            if !(check.stored_equals_raw && check.cube_equals_stored) {
                println!("run `northstar rebuild-rollups` to repair the rollup table");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Backup { db, to } => {
            let store = open(&db.database, db.store).await?;
            let started = Instant::now();
            // Everything leaves in one file: an export like any other,
            // audited first (no entry, no backup; the file holds it too).
            audit(
                &*store,
                "export",
                "backup",
                format!("the whole database to {}", to.display()),
            )
            .await?;
            store.backend().backup_to(&to).await?;
            let bytes = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
            println!(
                "backed up {} to {} ({:.1} MB) in {:.2} s",
                northstar_store::redact(&db.database),
                to.display(),
                bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Erase { db, customer } => {
            let customer = customer.trim();
            northstar_core::field::required(
                "customer",
                customer,
                "C-1042",
                northstar_core::field::ID_LIMIT,
            )
            .map_err(|e| anyhow::anyhow!("--{e}"))?;
            let store = open(&db.database, db.store).await?;
            let (erased, reference) =
                northstar_store::erase_customer_audited(&*store, customer, "cli").await?;
            println!(
                "erased {customer}: {} responses, {} customer records, {} operational records (audited as {reference})",
                erased.responses, erased.customers, erased.operations,
            );
        }
        Command::Retention { db, months } => {
            let store = open(&db.database, db.store).await?;
            let months = match months {
                Some(m) => m,
                None => stored_retention(&*store).await?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "no retention is set: pass --months N, or store one with `northstar settings set retention_months N`"
                    )
                })?,
            };
            let cutoff = retention_cutoff(months)?;
            let done =
                northstar_store::apply_retention_audited(&*store, cutoff, months, "cli").await?;
            println!(
                "anonymised {} responses and {} operational records older than {months} months (before {})",
                done.responses,
                done.operations,
                unix_label(Some(cutoff))
            );
        }
        Command::Audit {
            db,
            actor,
            action,
            customer,
            limit,
        } => {
            let store = open(&db.database, db.store).await?;
            let target = match customer {
                Some(c) => Some(northstar_store::customer_reference(&*store, c.trim()).await?),
                None => None,
            };
            let entries = store
                .backend()
                .audit_entries(&accounts::AuditQuery {
                    actor,
                    action,
                    target,
                    limit,
                    ..Default::default()
                })
                .await?;
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["at", "actor", "action", "target", "detail"])?;
            for e in entries {
                let at = jiff::Timestamp::from_second(e.at_unix)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| e.at_unix.to_string());
                w.write_record([at.as_str(), &e.actor, &e.action, &e.target, &e.detail])?;
            }
            w.flush()?;
        }
        Command::Departments { command, db } => {
            let store = open(&db.database, db.store).await?;
            return departments_command::run(&*store, command, now_unix()).await;
        }
        Command::Pilots { command, db } => {
            let store = open(&db.database, db.store).await?;
            return pilots_command::run(&*store, command, now_unix()).await;
        }
        Command::Settings { command, db } => {
            let store = open(&db.database, db.store).await?;
            return settings_command(&*store, command).await;
        }
        Command::Token { command, db } => {
            let store = open(&db.database, db.store).await?;
            return token_command(&*store, command).await;
        }
        Command::User { command, db } => {
            let store = open(&db.database, db.store).await?;
            return user_command(&*store, command).await;
        }
        Command::Copy { from, to } => {
            return copy_database(&from, &to).await;
        }
        Command::Digest { command, db } => {
            return digest_command(command, &db).await;
        }
        Command::RebuildRollups { db } => {
            let store = open(&db.database, db.store).await?;
            let started = Instant::now();
            let cells = store.rebuild_rollups().await?;
            println!(
                "rebuilt {cells} rollup cells from raw responses in {:.2} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A role name and department, checked together.
fn role_arg(role: &str, department: Option<&str>) -> Result<(Role, Option<String>)> {
    let role = Role::parse(role).ok_or_else(|| {
        anyhow::anyhow!(
            "--role {role:?} is not a role; use one of {}",
            Role::names()
        )
    })?;
    let department =
        account::scoped_role(role, department).map_err(|e| anyhow::anyhow!("--{e}"))?;
    Ok((role, department))
}

/// Reads a new password from standard input's first line or a prompt.
fn read_new_password(from_stdin: bool) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .context("reading the password (no terminal? use --password-stdin)")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    account::check_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(password)
}

/// Records what the command line did in the audit log.
async fn audit(store: &dyn Store, action: &str, target: &str, detail: String) -> Result<()> {
    store
        .backend()
        .append_audit(&accounts::AuditEntry {
            at_unix: now_unix(),
            actor: "cli".into(),
            action: action.into(),
            target: target.into(),
            detail,
        })
        .await?;
    Ok(())
}

async fn user_command(store: &dyn Store, command: UserCommand) -> Result<ExitCode> {
    let backend = store.backend();
    match command {
        UserCommand::Add {
            email,
            role,
            department,
            password_stdin,
        } => {
            let email = account::normalize_email(&email).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let (role, department) = role_arg(&role, department.as_deref())?;
            let password = read_new_password(password_stdin)?;
            // argon2 is slow on purpose: off the async runtime.
            let password_hash =
                tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await??;
            let user = backend
                .insert_user(
                    &accounts::NewUser {
                        email,
                        role,
                        department,
                        password_hash,
                    },
                    now_unix(),
                )
                .await?;
            audit(
                store,
                "user.add",
                &user.email,
                format!(
                    "role {}{}",
                    user.role,
                    user.department
                        .as_deref()
                        .map(|d| format!(" of {d}"))
                        .unwrap_or_default()
                ),
            )
            .await?;
            println!(
                "added {} as {}{}",
                user.email,
                user.role,
                user.department
                    .as_deref()
                    .map(|d| format!(" of {d}"))
                    .unwrap_or_default()
            );
        }
        UserCommand::List => {
            let users = backend.users().await?;
            if users.is_empty() {
                println!(
                    "no accounts yet; create the first admin with: northstar user add --email you@example.com --role admin"
                );
            }
            for u in users {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.email,
                    u.role,
                    u.department.as_deref().unwrap_or("-"),
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        UserCommand::SetRole {
            email,
            role,
            department,
        } => {
            let email = account::normalize_email(&email).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let (role, department) = role_arg(&role, department.as_deref())?;
            let change = accounts::UserChange {
                role: Some((role, department)),
                ..Default::default()
            };
            let Some(user) = backend.update_user(&email, &change, now_unix()).await? else {
                anyhow::bail!("no account for {email}; `northstar user list` shows them");
            };
            audit(
                store,
                "user.set_role",
                &user.email,
                format!(
                    "role {}{}",
                    user.role,
                    user.department
                        .as_deref()
                        .map(|d| format!(" of {d}"))
                        .unwrap_or_default()
                ),
            )
            .await?;
            println!("{} is now {} (signed out)", user.email, user.role);
        }
        UserCommand::SetPassword {
            email,
            password_stdin,
        } => {
            let email = account::normalize_email(&email).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let password = read_new_password(password_stdin)?;
            let password_hash =
                tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await??;
            let change = accounts::UserChange {
                password_hash: Some(password_hash),
                ..Default::default()
            };
            let Some(user) = backend.update_user(&email, &change, now_unix()).await? else {
                anyhow::bail!("no account for {email}; `northstar user list` shows them");
            };
            backend
                .clear_sign_in_failures(&accounts::sign_in_account_key(&user.email))
                .await?;
            audit(store, "user.set_password", &user.email, String::new()).await?;
            println!("{} has a new password (signed out)", user.email);
        }
        UserCommand::Disable { email, undo } => {
            let email = account::normalize_email(&email).map_err(|e| anyhow::anyhow!("--{e}"))?;
            let change = accounts::UserChange {
                disabled: Some(!undo),
                ..Default::default()
            };
            let Some(user) = backend.update_user(&email, &change, now_unix()).await? else {
                anyhow::bail!("no account for {email}; `northstar user list` shows them");
            };
            let action = if user.disabled {
                "user.disable"
            } else {
                "user.enable"
            };
            audit(store, action, &user.email, String::new()).await?;
            println!(
                "{} is {}",
                user.email,
                if user.disabled {
                    "disabled and signed out"
                } else {
                    "enabled"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One demo account per role, each with a fresh random password at every
/// start (printed here, never stored in clear): a demo database copied
/// elsewhere does not carry a known password.
async fn demo_accounts(store: &dyn Store) -> Result<()> {
    let backend = store.backend();
    let existing = backend.users().await?;
    println!("Demo accounts (new passwords at every start of the demo):");
    for role in account::Role::ALL {
        let email = format!("{}@demo.northstar.test", role.as_str().replace('_', "-"));
        let department = role.is_department_scoped().then(|| "logistics".to_string());
        let password = accounts::new_token()[..20].to_string();
        let to_hash = password.clone();
        let password_hash =
            tokio::task::spawn_blocking(move || accounts::hash_password(&to_hash)).await??;
        if existing.iter().any(|u| u.email == email) {
            let change = accounts::UserChange {
                password_hash: Some(password_hash),
                role: Some((role, department.clone())),
                disabled: Some(false),
            };
            backend.update_user(&email, &change, now_unix()).await?;
        } else {
            let new = accounts::NewUser {
                email: email.clone(),
                role,
                department: department.clone(),
                password_hash,
            };
            backend.insert_user(&new, now_unix()).await?;
            audit(
                store,
                "user.add",
                &email,
                format!("demo account, role {role}"),
            )
            .await?;
        }
        println!(
            "  {:<16} {email:<40} {password}{}",
            role.as_str(),
            department
                .map(|d| format!("  (department {d})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The stored setting `retention_months`, `None` when off or never set.
async fn stored_retention(store: &dyn Store) -> Result<Option<u32>> {
    match store.backend().setting(settings::RETENTION_MONTHS).await? {
        None => Ok(None),
        Some(v) if v == "off" => Ok(None),
        Some(v) => settings::retention_months(&v)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("the stored setting retention_months: {e}")),
    }
}

async fn settings_command(store: &dyn Store, command: SettingsCommand) -> Result<ExitCode> {
    let backend = store.backend();
    match command {
        SettingsCommand::List => {
            let stored = backend.settings().await?;
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["key", "value", "accepts", "updated_by", "updated_at"])?;
            for (key, accepts, default) in settings::KNOWN_SETTINGS {
                let s = stored.iter().find(|s| s.key == key);
                w.write_record([
                    key,
                    s.map_or(default, |s| s.value.as_str()),
                    accepts,
                    s.map_or("-", |s| s.updated_by.as_str()),
                    &unix_label(s.map(|s| s.updated_unix)),
                ])?;
            }
            w.flush()?;
        }
        SettingsCommand::Get { key } => {
            let Some(default) = settings::default_value(&key) else {
                let e = settings::check_setting(&key, "").err().unwrap_or_default();
                anyhow::bail!("{e}");
            };
            let value = backend.setting(&key).await?;
            println!("{}", value.as_deref().unwrap_or(default));
        }
        SettingsCommand::Set { key, value } => {
            let value = settings::check_setting(&key, &value).map_err(|e| anyhow::anyhow!(e))?;
            if key == settings::TIME_ZONE {
                let changed = store.change_time_zone(&value, "cli").await?;
                println!(
                    "{key} = {value} (audited); {} responses moved to another day, rollups rebuilt ({} cells)",
                    changed.rebucketed, changed.cells
                );
                return Ok(ExitCode::SUCCESS);
            }
            backend
                .put_setting(&key, &value, "cli", jiff::Timestamp::now().as_second())
                .await?;
            println!("{key} = {value} (audited)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Applies the stored retention at start and then once a day, for as long
/// as the server runs; a change of the setting is followed at the next run.
async fn retention_schedule(store: Arc<dyn Store>) {
    let mut every_day = tokio::time::interval(std::time::Duration::from_secs(24 * 60 * 60));
    loop {
        every_day.tick().await;
        let months = match stored_retention(&*store).await {
            Ok(Some(months)) => months,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "retention not applied; trying again tomorrow");
                continue;
            }
        };
        let done = match retention_cutoff(months) {
            Ok(cutoff) => {
                northstar_store::apply_retention_audited(&*store, cutoff, months, "system")
                    .await
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e),
        };
        match done {
            Ok(d) => tracing::info!(
                responses = d.responses,
                operations = d.operations,
                months,
                "retention applied"
            ),
            Err(e) => tracing::error!(error = %e, "retention failed; trying again tomorrow"),
        }
    }
}

/// The instant `months` calendar months ago (UTC).
fn retention_cutoff(months: u32) -> Result<i64> {
    let now = jiff::Timestamp::now()
        .in_tz("UTC")
        .context("the UTC time zone")?;
    let cutoff = now
        .checked_sub(jiff::Span::new().months(i64::from(months)))
        .context("--months reaches before the calendar's start")?;
    Ok(cutoff.timestamp().as_second())
}

fn unix_label(unix: Option<i64>) -> String {
    unix.and_then(|u| jiff::Timestamp::from_second(u).ok())
        .map_or_else(|| "-".to_string(), |t| t.to_string())
}

async fn token_command(store: &dyn Store, command: TokenCommand) -> Result<ExitCode> {
    let backend = store.backend();
    match command {
        TokenCommand::Create {
            name,
            role,
            department,
        } => {
            let name = name.trim().to_string();
            northstar_core::field::required(
                "name",
                &name,
                "etl-nightly",
                northstar_core::field::NAME_LIMIT,
            )
            .map_err(|e| anyhow::anyhow!("--{e}"))?;
            let (role, department) = role_arg(&role, department.as_deref())?;
            let secret = accounts::new_api_token();
            let token = backend
                .insert_api_token(
                    &name,
                    &accounts::token_hash(&secret),
                    role,
                    department.as_deref(),
                    now_unix(),
                )
                .await?;
            audit(
                store,
                "token.create",
                &token.name,
                format!(
                    "role {}{}",
                    token.role,
                    token
                        .department
                        .as_deref()
                        .map(|d| format!(" of {d}"))
                        .unwrap_or_default()
                ),
            )
            .await?;
            eprintln!(
                "created the API token {:?} ({}); its secret is shown this once, keep it safe:",
                token.name, token.role
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            for t in backend.api_tokens().await? {
                println!(
                    "{}\t{}\t{}\tlast used {}\t{}",
                    t.name,
                    t.role,
                    t.department.as_deref().unwrap_or("-"),
                    unix_label(t.last_used_unix),
                    t.revoked_unix.map_or("active".to_string(), |r| format!(
                        "revoked {}",
                        unix_label(Some(r))
                    ))
                );
            }
        }
        TokenCommand::Revoke { name } => {
            let Some(token) = backend.revoke_api_token(&name, now_unix()).await? else {
                anyhow::bail!(
                    "no active API token named {name:?}; `northstar token list` shows them"
                );
            };
            audit(store, "token.revoke", &token.name, String::new()).await?;
            println!("revoked the API token {:?}", token.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `northstar copy`: every table with a progress bar, then the comparison.
async fn copy_database(from: &str, to: &str) -> Result<ExitCode> {
    use northstar_store::redact;
    if from == to {
        anyhow::bail!("--from and --to name the same database ({})", redact(from));
    }
    if !northstar_store::is_postgres_url(from) {
        let path = from
            .strip_prefix("sqlite://")
            .or_else(|| from.strip_prefix("sqlite:"))
            .unwrap_or(from);
        if !Path::new(path).exists() {
            anyhow::bail!("--from {from}: no such SQLite file (a copy never creates its source)");
        }
    }
    // Copies read and write pages, never the cube's days: keep it small.
    let args = StoreArgs {
        cube_day_months: 1,
        db_pool: northstar_store::DEFAULT_POOL_SIZE,
        sqlite_cache_mib: None,
    };
    let source = open(from, args).await?;
    let target = open(to, args).await?;
    // Audited in the source before the copy, so the target's log has it too.
    audit(
        &*source,
        "export",
        "copy",
        format!("the whole database to {}", redact(to)),
    )
    .await?;
    let before = target.counts().await?;
    if before.responses + before.customers + before.operations > 0 {
        println!(
            "{} already holds {} responses, {} customers and {} operational records: the copy adds and replaces rows by key, it never deletes",
            redact(to),
            before.responses,
            before.customers,
            before.operations
        );
    }
    let started = Instant::now();
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} rows ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut current = "";
    let mut observer = |table: &'static str, copied: u64, total: u64| {
        if table != current {
            current = table;
            bar.set_message(table);
            bar.set_length(total);
        }
        bar.set_position(copied);
    };
    let copied = northstar_store::copy::copy_all(&*source, &*target, &mut observer).await?;
    bar.finish_and_clear();
    for t in &copied {
        println!(
            "{}: {} rows copied ({} new, {} replaced, {} unchanged)",
            t.table,
            t.written.accepted(),
            t.written.inserted,
            t.written.replaced,
            t.written.unchanged
        );
    }
    println!(
        "copied {} to {} in {:.1} s",
        redact(from),
        redact(to),
        started.elapsed().as_secs_f64()
    );
    let comparison = northstar_store::copy::compare(&*source, &*target).await?;
    if comparison.identical() {
        println!(
            "source and target give identical answers ({} questions: row counts, and NPS, CSAT, CES and FCR overall, by month and by every dimension)",
            comparison.questions
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("source and target DIFFER:");
        for d in &comparison.differences {
            println!("  {d}");
        }
        println!(
            "(a target that held data before the copy keeps it; copy into an empty database to get an exact copy)"
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Shows a progress bar on a terminal and prints each rejected row as
/// `FILE:LINE: field: problem (fix)` as soon as it is known.
struct TerminalObserver<'a> {
    bar: indicatif::ProgressBar,
    path: &'a Path,
    /// Print `committed through line N` after each transaction (`import`).
    acknowledge: bool,
}

impl ImportObserver for TerminalObserver<'_> {
    fn progress(&mut self, bytes_read: u64) {
        self.bar.set_position(bytes_read);
    }
    fn rejected(&mut self, row: &RowError) {
        self.bar
            .suspend(|| eprintln!("{}:{row}", self.path.display()));
    }
    fn committed(&mut self, through_line: u64, rows_accepted: u64) {
        if !self.acknowledge {
            return;
        }
        // After the commit: a line here means those rows are durable.
        self.bar.suspend(|| {
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "committed through line {through_line} ({rows_accepted} rows accepted so far)"
            );
            let _ = out.flush();
        });
    }
    fn warning(&mut self, warning: &northstar_core::FieldError) {
        self.bar
            .suspend(|| eprintln!("{}:1: warning: {warning}", self.path.display()));
    }
}

async fn import_file(
    store: &dyn Store,
    kind: ImportKind,
    path: &Path,
    batch_rows: usize,
    acknowledge: bool,
) -> Result<(ImportReport, f64), ImportFailure> {
    let file = std::fs::File::open(path).map_err(|e| ImportFailure {
        report: ImportReport::default(),
        error: ImportError::Read(e.into()),
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("importing {}", path.display()));
    let started = Instant::now();
    let mut observer = TerminalObserver {
        bar,
        path,
        acknowledge,
    };
    let report = import::import_csv_with(
        store,
        kind,
        std::io::BufReader::with_capacity(1 << 20, file),
        &mut observer,
        import::ImportOptions { batch_rows },
    )
    .await;
    observer.bar.finish_and_clear();
    report.map(|r| (r, started.elapsed().as_secs_f64()))
}

fn summary_counts(r: &ImportReport) -> String {
    let written = format!(
        "{} new, {} replaced, {} unchanged",
        r.written.inserted, r.written.replaced, r.written.unchanged
    );
    // An operations row holds one record per measure: say both.
    let accepted = if r.written.accepted() == r.rows_accepted {
        format!("{} accepted ({written})", r.rows_accepted)
    } else {
        format!(
            "{} accepted, giving {} records ({written})",
            r.rows_accepted,
            r.written.accepted()
        )
    };
    format!(
        "{} rows read, {accepted}, {} rejected",
        r.rows_read, r.rejected_rows,
    )
}

fn summary_line(path: &Path, r: &ImportReport, seconds: f64) -> String {
    format!(
        "{}: {} in {:.2} s ({:.0} rows/s)",
        path.display(),
        summary_counts(r),
        seconds,
        r.rows_read as f64 / seconds.max(1e-9),
    )
}

/// How often a server checks whether its attribute cells are stale.
const ATTRIBUTE_CELLS_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

async fn serve_store(store: Arc<dyn Store>, serve: &ServeArgs, database: &str) -> Result<()> {
    let bind = serve.bind;
    // A mistake in the mail settings stops the start, not a Monday's send.
    let mailer = serve.mail.mailer()?;
    // Beyond this machine only once someone can administer it.
    if !bind.ip().is_loopback() && store.backend().active_admins().await? == 0 {
        anyhow::bail!(
            "refusing to listen on {bind}, beyond this machine, while no admin account exists; create one first: northstar user add --email you@example.com --role admin"
        );
    }
    // Load the rollup cube before taking requests, so the first one is fast.
    let started = Instant::now();
    store.query_rollups(&Default::default()).await?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "rollups loaded");
    // Breakdowns by attributes outside the cube are answered from memory
    // once built, and rebuilt after the data moves (a pass over every
    // response, in the background; meanwhile the database answers).
    let refreshing = store.clone();
    tokio::spawn(async move {
        loop {
            match refreshing.refresh_attribute_cells().await {
                Ok(Some(built)) => tracing::info!(
                    seconds = built.seconds,
                    responses = built.responses,
                    cells = built.cells,
                    dropped = built.dropped,
                    "attribute cells built"
                ),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "attribute cells not built; breakdowns by attribute scan the database")
                }
            }
            tokio::time::sleep(ATTRIBUTE_CELLS_REFRESH).await;
        }
    });
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("binding {bind} (is another server running? choose another with --bind)")
    })?;
    let addr = listener.local_addr()?;
    // Best effort: a closed stdout (e.g. a supervisor that stopped reading)
    // must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "Northstar is serving {} at http://{addr}/",
        northstar_store::redact(database)
    );
    let _ = if store.backend().users().await?.is_empty() {
        writeln!(
            out,
            "No accounts yet: create the first admin with `northstar user add --email you@example.com --role admin`, then sign in at http://{addr}/sign-in"
        )
    } else {
        writeln!(out, "Sign in at http://{addr}/sign-in")
    };
    let _ = out.flush();
    if let Some(months) = serve.retention_months {
        let value = months.to_string();
        if store
            .backend()
            .setting(settings::RETENTION_MONTHS)
            .await?
            .as_deref()
            != Some(value.as_str())
        {
            store
                .backend()
                .put_setting(
                    settings::RETENTION_MONTHS,
                    &value,
                    "cli",
                    jiff::Timestamp::now().as_second(),
                )
                .await?;
        }
    }
    tokio::spawn(retention_schedule(store.clone()));
    match mailer {
        Some(mailer) => {
            tokio::spawn(northstar_server::digest::run_schedule(
                store.clone(),
                mailer,
            ));
        }
        None => tracing::info!(
            "weekly digests and survey invitations are off: set --smtp-url, --mail-from and --public-url (NORTHSTAR_SMTP_URL, NORTHSTAR_MAIL_FROM, NORTHSTAR_PUBLIC_URL) to send them"
        ),
    }
    let mut options = serve.options();
    // Survey invitations use the same SMTP settings as the digest.
    options.mailer = serve.mail.mailer()?.map(Arc::new);
    northstar_server::serve_with(listener, store, options, shutdown_signal()).await?;
    Ok(())
}

/// `northstar digest send`.
async fn digest_command(command: DigestCommand, db: &DatabaseArg) -> Result<ExitCode> {
    let DigestCommand::Send { department, mail } = command;
    let mailer = mail.mailer()?.ok_or_else(|| {
        anyhow::anyhow!(
            "no SMTP server: give --smtp-url (NORTHSTAR_SMTP_URL), e.g. smtp://user:password@mail.example.com:587?tls=required, with --mail-from and --public-url"
        )
    })?;
    let store = open(&db.database, db.store).await?;
    let report = northstar_server::digest::send_now(
        &store,
        &mailer,
        department.trim(),
        jiff::Timestamp::now(),
    )
    .await?;
    for entry in &report.invalid {
        eprintln!(
            "skipped {entry:?}: not an e-mail address (correct the leader or ambassadors of {})",
            report.department
        );
    }
    for (to, why) in &report.failed {
        eprintln!("not delivered to {to}: {why}");
    }
    println!(
        "sent the digest of {} (week {}) to {} recipients{}",
        report.department,
        northstar_core::calendar::week_label(report.week_start),
        report.delivered.len(),
        if report.delivered.is_empty() && report.failed.is_empty() {
            " (no leader or ambassador with an e-mail address is subscribed)"
        } else {
            ""
        }
    );
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
