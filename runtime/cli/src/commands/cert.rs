//! `exorun cert new` and `exorun cert show`: the app certificate, made and
//! inspected without leaving the terminal.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use exorun_exchange::{EXPIRY_WARNING_DAYS, generate_self_signed, summarize_file};

use crate::tenant;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a self-signed RSA certificate for an app registration: a PFX
    /// (password in a separate 0600 file), a PEM, and the .cer to upload.
    New(NewArgs),
    /// Show a certificate's subject, validity and thumbprints.
    Show(ShowArgs),
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// Subject, like CN=exorun-contoso.
    #[arg(long)]
    subject: String,
    /// Folder for the files (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// RSA key size in bits (at least 2048).
    #[arg(long, default_value_t = 2048)]
    bits: u32,
    /// Base name of the files.
    #[arg(long, default_value = "exorun-app")]
    name: String,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A .cer, .pem, .crt, or .pfx/.p12 (whose password comes from
    /// --certificate-password-file or EXORUN_CERTIFICATE_PASSWORD).
    file: PathBuf,
    #[arg(long, value_name = "FILE")]
    certificate_password_file: Option<PathBuf>,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::New(args) => new(args),
        Command::Show(args) => show(args),
    }
}

fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let cert = generate_self_signed(&args.subject, args.days, args.bits)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let pfx = args.out.join(format!("{}.pfx", args.name));
    let password = args.out.join(format!("{}.pfx.password", args.name));
    let pem = args.out.join(format!("{}.pem", args.name));
    let cer = args.out.join(format!("{}.cer", args.name));
    write_private(&pfx, cert.pfx.expose())?;
    write_private(&password, cert.pfx_password.expose().as_bytes())?;
    write_private(&pem, cert.pem.expose())?;
    std::fs::write(&cer, &cert.cer).with_context(|| format!("writing {}", cer.display()))?;
    let c = &cert.certificate;
    println!("Subject            {}", c.subject());
    println!("Thumbprint (SHA-1) {}", c.thumbprint_sha1_hex());
    println!("SHA-256            {}", c.thumbprint_sha256_hex());
    println!("Valid for          {} days", args.days);
    println!(
        "PFX                {} (password in {})",
        pfx.display(),
        password.display()
    );
    println!("PEM                {}", pem.display());
    println!("Upload this        {}", cer.display());
    eprintln!(
        "exorun: upload {} under Certificates & secrets of the app registration, then connect with --certificate-file-path {} --certificate-password-file {}",
        cer.display(),
        pfx.display(),
        password.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates a file readable by its owner only (0600), refusing to overwrite.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let password = tenant::password(args.certificate_password_file.as_deref(), false)?;
    let summary = summarize_file(&args.file, password.as_ref())?;
    println!("Subject            {}", summary.subject);
    println!("Issuer             {}", summary.issuer);
    println!("Not before         {}", summary.not_before);
    println!("Not after          {}", summary.not_after);
    println!("Thumbprint (SHA-1) {}", summary.thumbprint_sha1);
    println!("SHA-256            {}", summary.thumbprint_sha256);
    println!(
        "Private key        {}",
        if summary.has_private_key { "yes" } else { "no" }
    );
    if summary.expired {
        eprintln!("exorun: warning: this certificate has EXPIRED; create a new one and upload it");
        return Ok(ExitCode::from(1));
    }
    if summary.expires_soon {
        eprintln!(
            "exorun: warning: this certificate expires within {EXPIRY_WARNING_DAYS} days; renew it and upload the new one"
        );
    }
    Ok(ExitCode::SUCCESS)
}
