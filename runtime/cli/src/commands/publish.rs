//! `exorun publish` and `exorun bundle`: a built plugin as a signed CNCF
//! Wasm OCI artifact, pushed to a registry or written as a bundle file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use exorun_package::artifact::{Artifact, Blob, PublishInfo};
use exorun_package::fetch::signature_artifact;
use exorun_package::layout::write_bundle;
use exorun_package::signing::SigningKey;
use exorun_package::{PackageName, RegistryRef};
use exorun_policy::Manifest;

use crate::sharing::{RegistryArgs, read_secret, read_secret_file};

/// `--sign KEY`: the publisher's secret key.
#[derive(clap::Args)]
pub struct SignArgs {
    /// Sign with this minisign secret key (`exorun key new` makes one).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    /// File holding the secret key's password (else asked on the terminal).
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// Where the plugin's source lives (org.opencontainers.image.source).
    #[arg(long, value_name = "URL")]
    source: Option<String>,
}

#[derive(clap::Args)]
pub struct PublishArgs {
    /// The built plugin folder, or its exorun.toml.
    plugin: PathBuf,
    /// <registry>/<namespace>/<name>:<version>; name and version are the
    /// plugin manifest's.
    reference: String,
    #[command(flatten)]
    signing: SignArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
pub struct BundleArgs {
    /// The built plugin folder, or its exorun.toml.
    plugin: PathBuf,
    /// The namespace it is published under (what operators' trust
    /// policies match), like `contoso`.
    #[arg(long)]
    namespace: String,
    /// The bundle file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    signing: SignArgs,
}

/// The artifact, its signature (when asked for) and its name.
struct Prepared {
    artifact: Artifact,
    signature: Option<(Blob, Vec<Blob>)>,
    signer: Option<String>,
}

fn prepare(plugin: &Path, name: &PackageName, signing: &SignArgs) -> anyhow::Result<Prepared> {
    let info = PublishInfo {
        source: signing.source.clone(),
        created: created(),
    };
    let artifact = Artifact::from_plugin(plugin, &info)
        .with_context(|| format!("packaging {}", plugin.display()))?;
    let (signature, signer) = match &signing.sign {
        Some(key_path) => {
            let text = read_secret_file_whole(key_path)?;
            let password = match &signing.key_password_file {
                Some(file) => read_secret_file(file, "the signing key password")?,
                None => read_secret(None, "Signing key password", "--key-password-file", false)?,
            };
            let key = SigningKey::open(&text, &password)
                .with_context(|| format!("opening the signing key {}", key_path.display()))?;
            let signature = key.sign(name, &artifact.manifest.digest)?;
            (
                Some(signature_artifact(&signature, &artifact.manifest)?),
                Some(key.key_id.clone()),
            )
        }
        None => {
            eprintln!(
                "exorun: warning: publishing {name} UNSIGNED: operators can install it only with --allow-unsigned (use --sign KEY)"
            );
            (None, None)
        }
    };
    Ok(Prepared {
        artifact,
        signature,
        signer,
    })
}

/// A secret key file's whole text (minisign's key box has two lines).
fn read_secret_file_whole(path: &Path) -> anyhow::Result<secrecy::SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    Ok(secrecy::SecretString::from(text))
}

/// When the artifact was made: SOURCE_DATE_EPOCH for reproducible
/// artifacts, else now.
fn created() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok());
    epoch
        .unwrap_or_else(jiff::Timestamp::now)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let reference = RegistryRef::parse(&args.reference)?;
    let manifest = Manifest::load(&args.plugin)?;
    if manifest.plugin.name != reference.package.name {
        bail!(
            "the reference names the plugin '{}', its manifest '{}'; publish it as {}/{}:{}",
            reference.package.name,
            manifest.plugin.name,
            reference
                .repository()
                .rsplit_once('/')
                .map_or("", |(r, _)| r),
            manifest.plugin.name,
            manifest.plugin.version
        );
    }
    if manifest.plugin.version != reference.version {
        bail!(
            "the reference's version is {}, the manifest's {}; the tag must be the plugin's version",
            reference.version,
            manifest.plugin.version
        );
    }
    let prepared = prepare(&args.plugin, &reference.package, &args.signing)?;
    let registry = args.registry.registry(&reference)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        if let Some(existing) = registry.digest().await?
            && existing != prepared.artifact.manifest.digest
        {
            bail!(
                "{reference} is already published (digest {existing}); a published version never changes: raise the version in exorun.toml, build, and publish again"
            );
        }
        registry
            .push(&prepared.artifact, prepared.signature.as_ref())
            .await?;
        Ok(())
    })?;
    println!("Published  {reference}");
    println!("Digest     {}", prepared.artifact.manifest.digest);
    match &prepared.signer {
        Some(key) => println!("Signed by  key {key}"),
        None => println!("Signed by  nobody (unsigned)"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bundle(args: BundleArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.plugin)?;
    let name = PackageName::parse(&format!("{}/{}", args.namespace, manifest.plugin.name))?;
    let prepared = prepare(&args.plugin, &name, &args.signing)?;
    write_bundle(
        &args.out,
        &name,
        &prepared.artifact,
        prepared.signature.as_ref(),
    )?;
    println!(
        "Bundled    {name}:{} → {}",
        manifest.plugin.version,
        args.out.display()
    );
    println!("Digest     {}", prepared.artifact.manifest.digest);
    match &prepared.signer {
        Some(key) => println!("Signed by  key {key}"),
        None => println!("Signed by  nobody (unsigned)"),
    }
    Ok(ExitCode::SUCCESS)
}
