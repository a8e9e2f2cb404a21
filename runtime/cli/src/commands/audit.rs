//! `exorun audit verify [FILE]` and `exorun audit show`: checking and
//! reading the audit trail that `exorun run` and `exorun apply` write.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, bail};
use exorun_audit::{Filter, VerifyError};

/// `--audit-log FILE`, shared by every command that writes or reads the log.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AuditLogArg {
    /// The audit log (default: the file EXORUN_AUDIT_LOG names, else
    /// exorun/audit.jsonl in the user's data folder).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

impl AuditLogArg {
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.audit_log {
            Some(path) => Ok(path.clone()),
            None => exorun_audit::default_path().map_err(|e| anyhow::anyhow!("{e}")),
        }
    }
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check the hash chain and the head file; name the first bad line.
    Verify(VerifyArgs),
    /// List records as a table (or JSON Lines with --json).
    Show(ShowArgs),
    /// Close the active log as a segment and start a new file that chains
    /// from it (what `exorun serve` does by itself at a size limit).
    Rotate(RotateArgs),
}

#[derive(clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    audit: AuditLogArg,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The logs to verify, each its own chain (default: --audit-log,
    /// EXORUN_AUDIT_LOG, or the user's data folder). Workers' chains are
    /// verified together this way.
    files: Vec<PathBuf>,
    /// Also require this record (seq:hash, as a previous verify printed it
    /// or the head file holds), kept somewhere the log's writers cannot change.
    #[arg(long, value_name = "SEQ:HASH")]
    expect: Option<String>,
    /// Verify a copied log without its head file (only the chain).
    #[arg(long)]
    no_head: bool,
    #[command(flatten)]
    audit: AuditLogArg,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// Only this run (its full id, as `exorun run` prints it).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Only this plugin (by name).
    #[arg(long, value_name = "NAME")]
    plugin: Option<String>,
    /// Only records at or after T: a UTC time (2026-11-28, 2026-11-28T22:18)
    /// or a span back from now (90s, 30m, 12h, 7d).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// The records as JSON Lines, exactly as stored.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    audit: AuditLogArg,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify(args) => verify(args),
        Command::Show(args) => show(args),
        Command::Rotate(args) => rotate(args),
    }
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let path = args.audit.path()?;
    if !path.exists() {
        bail!("there is no audit log at {} yet", path.display());
    }
    match exorun_audit::rotate(&path).map_err(|e| anyhow::anyhow!("{e}"))? {
        Some(segment) => println!(
            "{}: closed as segment {}; new records chain on from it in {}",
            path.display(),
            segment.display(),
            path.display()
        ),
        None => println!("{}: holds no record, nothing to rotate", path.display()),
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let files = match args.files.is_empty() {
        true => vec![args.audit.path()?],
        false => args.files.clone(),
    };
    if files.len() > 1 && args.expect.is_some() {
        anyhow::bail!("--expect names the last record of one log: verify that log alone with it");
    }
    let mut worst = ExitCode::SUCCESS;
    for path in files {
        let code = verify_file(path, &args)?;
        if code != ExitCode::SUCCESS {
            worst = code;
        }
    }
    Ok(worst)
}

fn verify_file(path: PathBuf, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut options = exorun_audit::VerifyOptions::default();
    if args.no_head {
        options.head = exorun_audit::HeadPolicy::Ignore;
    }
    if let Some(expect) = &args.expect {
        let (seq, hash) = expect
            .split_once(':')
            .context("--expect takes SEQ:HASH, for example 1200:9f86d081…")?;
        options.expect_last = Some(exorun_audit::Anchor {
            seq: seq
                .trim()
                .parse()
                .context("--expect: SEQ is not a number")?,
            hash: hash.trim().to_ascii_lowercase(),
        });
    }
    match exorun_audit::verify_with(&path, &options) {
        Ok(summary) => {
            let files = summary.segments;
            println!(
                "{}: ok, {} records{}, chain intact{}; last record {}:{}",
                path.display(),
                summary.records,
                if files > 0 {
                    format!(
                        " in {files} segment{} and the active log",
                        if files == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                },
                match summary.head {
                    Some(_) => ", head file agrees",
                    None => "",
                },
                summary.last.seq,
                summary.last.hash
            );
            if summary.first_seq > 1 {
                println!(
                    "records before {} are not here (their segments were archived or removed); the chain was checked from record {}",
                    summary.first_seq, summary.first_seq
                );
            }
            if summary.torn_count > 0 {
                println!(
                    "{} torn line{} left by interrupted appends (no record lost from the chain): line{} {}",
                    summary.torn_count,
                    if summary.torn_count == 1 { "" } else { "s" },
                    if summary.torn_count == 1 { "" } else { "s" },
                    summary
                        .torn
                        .iter()
                        .map(|t| t.line.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !summary.unfinished.is_empty() {
                let n = summary.unfinished.len();
                println!(
                    "{n} run{} no end record (killed, or still running):",
                    if n == 1 { " has" } else { "s have" }
                );
                for run in &summary.unfinished {
                    let unknown = run.unknown_writes();
                    println!(
                        "  run {} (started at line {}): {} write{} intended, {} with a recorded outcome{}",
                        run.run_id,
                        run.line,
                        run.intents,
                        if run.intents == 1 { "" } else { "s" },
                        run.outcomes,
                        if unknown > 0 {
                            format!(
                                "; {unknown} may or may not have reached the tenant: check them there"
                            )
                        } else {
                            String::new()
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError::Broken {
            segment,
            line,
            reason,
        }) => {
            let file = segment.unwrap_or(path);
            println!("{}: BROKEN at line {line}: {reason}", file.display());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            println!("{}: cannot be verified: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let path = args.audit.path()?;
    let since = match &args.since {
        None => None,
        Some(text) => Some(parse_since(text)?),
    };
    let filter = Filter {
        run_id: args.run.clone(),
        plugin: args.plugin.clone(),
        since,
    };
    if !path.exists() {
        bail!("there is no audit log at {} yet", path.display());
    }
    let records = exorun_audit::query(&path, filter).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        use std::io::Write;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for record in records {
            let record = record.map_err(|e| anyhow::anyhow!("{e}"))?;
            serde_json::to_writer(&mut out, &record)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    } else {
        let records: Vec<_> = records
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        print!("{}", exorun_audit::render_table(&records));
    }
    Ok(ExitCode::SUCCESS)
}

/// A time (`2026-11-28T22:18`) or a span back from now (`12h`).
fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    if let Some(time) = exorun_audit::parse_rfc3339(text) {
        return Ok(time);
    }
    if let Some(span) = exorun_plan::parse_duration(text) {
        return Ok(SystemTime::now()
            .checked_sub(span)
            .unwrap_or(SystemTime::UNIX_EPOCH));
    }
    bail!(
        "--since '{text}' is neither a UTC time (2026-11-28, 2026-11-28T22:18:00Z) nor a span (90s, 30m, 12h, 7d)"
    )
}
