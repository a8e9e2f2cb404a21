//! `exorun trust add/list/remove`: which publishers' keys this operator
//! trusts, and for which namespaces.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use exorun_cmdlet::Escaped;
use exorun_package::signing::PublicKey;
use exorun_package::trust::TrustPolicy;

use crate::installed::TrustArg;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Trust a publisher's public key for one or more namespaces.
    Add(AddArgs),
    /// Show the trusted keys.
    List(ListArgs),
    /// Stop trusting a key (by key id) or every key of a publisher.
    Remove(RemoveArgs),
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The publisher's minisign.pub file, or its base64 line.
    key: String,
    /// Who the key belongs to, as exorun names the signer.
    #[arg(long)]
    publisher: String,
    /// Namespaces the key may sign for (`contoso`, `contoso-*`,
    /// `contoso/*`); repeat for several. Default: every one-segment
    /// namespace (`*`), with a warning.
    #[arg(long = "namespace", value_name = "PATTERN")]
    namespaces: Vec<String>,
    #[command(flatten)]
    trust: TrustArg,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    trust: TrustArg,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// A key id (16 hex digits) or a publisher name.
    key: String,
    #[command(flatten)]
    trust: TrustArg,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Add(args) => add(args),
        Command::List(args) => list(args),
        Command::Remove(args) => remove(args),
    }
}

fn add(args: AddArgs) -> anyhow::Result<ExitCode> {
    let path = PathBuf::from(&args.key);
    let text = if std::fs::symlink_metadata(&path).is_ok() {
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading the public key {}", path.display()))?
    } else {
        args.key.clone()
    };
    let key = PublicKey::parse(&text)?;
    let mut namespaces = args.namespaces.clone();
    if namespaces.is_empty() {
        eprintln!(
            "exorun: warning: no --namespace given: key {} is trusted for every one-segment namespace (*)",
            key.key_id
        );
        namespaces.push("*".to_owned());
    }
    let path = args.trust.path();
    let now = jiff::Timestamp::now().to_string();
    TrustPolicy::edit(&path, |policy| {
        policy.add(&key, &args.publisher, &namespaces, &now)
    })?;
    println!(
        "Trusted key {} of {} for namespaces [{}] ({})",
        key.key_id,
        Escaped(&args.publisher),
        namespaces.join(", "),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let policy = TrustPolicy::load(&args.trust.path())?;
    if policy.keys().is_empty() {
        println!(
            "No trusted keys in {}: only --allow-unsigned installs are possible.",
            policy.path().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<18} {:<30} NAMESPACES", "KEY ID", "PUBLISHER");
    for key in policy.keys() {
        println!(
            "{:<18} {:<30} {}",
            key.key_id,
            Escaped(&key.publisher).to_string(),
            key.namespaces.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let removed = TrustPolicy::edit(&args.trust.path(), |policy| Ok(policy.remove(&args.key)))?;
    if removed.is_empty() {
        bail!(
            "no trusted key has id or publisher '{}' (`exorun trust list` shows them)",
            Escaped(&args.key)
        );
    }
    for key in removed {
        println!(
            "Removed key {} of {}; plugins it signed stay installed but are not upgraded with it",
            key.key_id,
            Escaped(&key.publisher)
        );
    }
    Ok(ExitCode::SUCCESS)
}
