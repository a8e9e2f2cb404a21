//! `exorun key new`: a publisher's signing key, in minisign's format.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use exorun_package::signing;
use secrecy::ExposeSecret;

use crate::commands::cert::write_new;
use crate::sharing::read_secret;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Make an ed25519 signing key pair (minisign format): <name>.pub to
    /// share, <name>.key encrypted with a password.
    New(NewArgs),
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// Folder to write the key files to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// File name stem of the key files.
    #[arg(long, default_value = "exorun-signing")]
    name: String,
    /// File holding the password that encrypts the secret key (else asked
    /// twice on the terminal).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::New(args) => new(args),
    }
}

fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let public_path = args.out.join(format!("{}.pub", args.name));
    let secret_path = args.out.join(format!("{}.key", args.name));
    for path in [&public_path, &secret_path] {
        if std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "{} exists already; exorun never overwrites a key (choose --name or --out)",
                path.display()
            );
        }
    }
    let password = read_secret(
        args.password_file.as_deref(),
        "Signing key password",
        "--password-file",
        true,
    )?;
    let keys = signing::generate(&password)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_new(&secret_path, keys.secret.expose_secret().as_bytes(), 0o600)?;
    write_new(&public_path, keys.public.as_bytes(), 0o644)?;
    println!("Key id       {}", keys.key_id);
    println!(
        "Public key   {} (give this to operators)",
        public_path.display()
    );
    println!(
        "Secret key   {} (encrypted; keep it private)",
        secret_path.display()
    );
    println!();
    print!("{}", keys.public);
    println!();
    println!(
        "Operators trust it with: exorun trust add {} --publisher \"<your name>\" --namespace <your namespace>",
        public_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
