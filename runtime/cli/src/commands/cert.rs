//! `exorun cert new`, `import` and `show`: the app certificate, made,
//! put in the certificate store and inspected without leaving the terminal.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use exorun_exchange::{
    Certificate, CertificateError, EXPIRY_WARNING_DAYS, SecretString,
    generate_self_signed_with_password, summarize_file,
};

use crate::tenant;

mod rotate;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a self-signed RSA certificate for an app registration: a PFX
    /// (password in a separate 0600 file), a PEM, and the .cer to upload.
    New(NewArgs),
    /// Copy a certificate with its private key (PFX/P12, or one PEM file
    /// with certificate and key) into the certificate store, under its
    /// thumbprint, so --certificate-thumbprint finds it.
    Import(ImportArgs),
    /// Show a certificate's subject, validity and thumbprints.
    Show(ShowArgs),
    /// Roll the app's certificate over through Microsoft Graph without
    /// downtime: new key, addKey, verify, switch the profile, removeKey
    /// after an overlap (`--finish`) or at once (`--remove-old`).
    Rotate(Box<rotate::RotateArgs>),
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The PFX/P12, or a PEM holding the certificate and its private key.
    file: PathBuf,
    /// The store folder (default: the one --certificate-thumbprint
    /// searches, `certificates` in exorun's config folder).
    #[arg(long, value_name = "DIR")]
    certificate_store: Option<PathBuf>,
    /// Read the certificate password from this file (else from
    /// EXORUN_CERTIFICATE_PASSWORD, else a prompt on a terminal).
    #[arg(long, value_name = "FILE")]
    certificate_password_file: Option<PathBuf>,
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
    /// Protect the PFX (and the PEM's key) with the password in this file
    /// (else EXORUN_CERTIFICATE_PASSWORD; with neither, a new random
    /// password is written beside the PFX).
    #[arg(long, value_name = "FILE")]
    certificate_password_file: Option<PathBuf>,
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
        Command::Import(args) => import(args),
        Command::Show(args) => show(args),
        Command::Rotate(args) => rotate::main(*args),
    }
}

fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let given = tenant::password(args.certificate_password_file.as_deref(), false)?;
    let cert =
        generate_self_signed_with_password(&args.subject, args.days, args.bits, given.as_ref())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let pfx = args.out.join(format!("{}.pfx", args.name));
    let pem = args.out.join(format!("{}.pem", args.name));
    let cer = args.out.join(format!("{}.cer", args.name));
    // A password the admin chose stays where they keep it; a random one is
    // written beside the PFX.
    let password = match (&given, &args.certificate_password_file) {
        (None, _) => args.out.join(format!("{}.pfx.password", args.name)),
        (Some(_), Some(file)) => file.clone(),
        (Some(_), None) => PathBuf::from(format!("${}", tenant::PASSWORD_ENV)),
    };
    write_private(&pfx, cert.pfx.expose())?;
    if given.is_none() {
        write_private(&password, cert.pfx_password.expose().as_bytes())?;
    }
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
    let password_flag = if given.is_some() && args.certificate_password_file.is_none() {
        format!("(password from {})", tenant::PASSWORD_ENV)
    } else {
        format!("--certificate-password-file {}", password.display())
    };
    eprintln!(
        "exorun: upload {} under Certificates & secrets of the app registration, then connect with --certificate-file-path {} {password_flag}",
        cer.display(),
        pfx.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates a file readable by its owner only (0600), refusing to overwrite.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_new(path, bytes, 0o600)
}

/// Creates a file that must not exist yet (a link there is not followed)
/// with `mode`, and makes it durable: keys and certificates are written
/// once and never silently replaced.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let store = args
        .certificate_store
        .unwrap_or_else(crate::profiles::default_certificate_store);
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let origin = args.file.display().to_string();
    let is_pfx = tenant::is_pfx(&args.file);
    let password = tenant::password(args.certificate_password_file.as_deref(), is_pfx)?;
    // A `.cer` is the half that is uploaded; the store needs the key.
    if let Ok(summary) = summarize_file(&args.file, password.as_ref())
        && !summary.has_private_key
    {
        anyhow::bail!(
            "{} holds a certificate but no private key found beside it (a .cer is what is uploaded to the app registration); import the PFX, or a PEM holding the certificate and its key",
            args.file.display()
        );
    }
    // Loaded in full before anything is copied: a certificate without its
    // key, with the wrong key, expired, or not RSA is refused here, not at
    // the first sign-in.
    let certificate = if is_pfx {
        Certificate::from_pfx_bytes(
            &bytes,
            password
                .as_ref()
                .unwrap_or(&SecretString::new(String::new())),
            &origin,
        )
    } else {
        Certificate::from_pem(&bytes, None, password.as_ref(), &origin)
    }
    .map_err(|e| password_hint(e, password.is_some()))?;
    let thumbprint = certificate.thumbprint_sha1_hex();
    crate::profiles::create_private_dir(&store, "the certificate store")?;
    let target = store.join(format!(
        "{thumbprint}.{}",
        if is_pfx { "pfx" } else { "pem" }
    ));
    match std::fs::read(&target) {
        Ok(existing) if existing == bytes => {
            println!("Already in the store {}", target.display());
        }
        Ok(_) => anyhow::bail!(
            "{} already holds another file for thumbprint {thumbprint}; remove it first if it is to be replaced",
            target.display()
        ),
        Err(_) => {
            write_private(&target, &bytes)?;
            println!("Imported           {}", target.display());
        }
    }
    println!("Subject            {}", certificate.subject());
    println!("Thumbprint (SHA-1) {thumbprint}");
    let password_note = if is_pfx || password.is_some() {
        " (its password is still needed: --certificate-password-file or EXORUN_CERTIFICATE_PASSWORD)"
    } else {
        ""
    };
    eprintln!("exorun: connect with --certificate-thumbprint {thumbprint}{password_note}");
    Ok(ExitCode::SUCCESS)
}

/// Says how to give a password when a certificate needed one that was not
/// given.
pub fn password_hint(error: CertificateError, password_given: bool) -> anyhow::Error {
    let needs_one = matches!(
        error,
        CertificateError::PasswordNeeded { .. } | CertificateError::WrongPassword { .. }
    );
    if needs_one && !password_given {
        anyhow::Error::new(error).context(format!(
            "the certificate is protected by a password and none was given: pass --certificate-password-file FILE or set {}",
            tenant::PASSWORD_ENV
        ))
    } else {
        error.into()
    }
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let password = tenant::password(args.certificate_password_file.as_deref(), false)?;
    let summary = summarize_file(&args.file, password.as_ref())
        .map_err(|e| password_hint(e, password.is_some()))?;
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
        eprintln!(
            "exorun: warning: this certificate has EXPIRED; create a new one and upload it (Graph cannot rotate an expired certificate)"
        );
        return Ok(ExitCode::from(1));
    }
    if summary.expires_soon {
        eprintln!(
            "exorun: warning: this certificate expires within {EXPIRY_WARNING_DAYS} days; roll it over with `exorun cert rotate`"
        );
    }
    Ok(ExitCode::SUCCESS)
}
