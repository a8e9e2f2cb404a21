//! `exorun install`, `exorun upgrade` and `exorun list`: shared plugins
//! into the operator's store, each only with consent to exactly what it
//! may do, and no upgrade that widens that without an approval.
//!
//! Every install, upgrade, hold and refusal is an audit record naming the
//! digest, the signer and the operator.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use exorun_audit::{PackageEvent, PluginRef};
use exorun_cmdlet::Escaped;
use exorun_package::fetch::{Fetch, fetch};
use exorun_package::install::{
    self, Candidate, InstallError, InstallProposal, Proposal, UpgradeProposal, signer_text,
};
use exorun_package::layout::Bundle;
use exorun_package::store::LockedVersion;
use exorun_package::trust::TrustPolicy;
use exorun_package::{Package, PackageError, RegistryRef};
use exorun_policy::{Ceilings, Change, Direction};
use serde_json::json;

use crate::commands::audit::AuditLogArg;
use crate::installed::{StoreArg, TrustArg};
use crate::sharing::{RegistryArgs, ask, audit, open_source};

/// Exit code of an upgrade held until an operator approves it.
const HELD: u8 = 3;

/// Where plugins come from and go to, whom the operator trusts, and where
/// decisions are recorded: the same for install and upgrade.
#[derive(clap::Args)]
pub struct Places {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    trust: TrustArg,
    #[command(flatten)]
    audit: AuditLogArg,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// A registry reference (<registry>/<namespace>/<name>:<version>), a
    /// bundle file, or an OCI image layout folder.
    source: String,
    /// Consent to the permissions shown without asking (for scripts).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Install a plugin nobody signed (warned and audited). A signature
    /// that fails is refused all the same.
    #[arg(long)]
    allow_unsigned: bool,
    #[command(flatten)]
    places: Places,
}

#[derive(clap::Args)]
pub struct UpgradeArgs {
    /// The installed plugin.
    name: String,
    /// The version to move to (default: the highest in its repository).
    #[arg(long, value_name = "VERSION")]
    to: Option<semver::Version>,
    /// Take the new version from a bundle file or layout folder instead of
    /// the registry it was installed from.
    #[arg(long, value_name = "BUNDLE")]
    from: Option<PathBuf>,
    /// Approve the held upgrade with exactly this digest.
    #[arg(long, value_name = "DIGEST")]
    approve: Option<String>,
    /// Allow moving to a lower version than the installed one.
    #[arg(long)]
    allow_downgrade: bool,
    /// Accept an unsigned new version (warned and audited).
    #[arg(long)]
    allow_unsigned: bool,
    #[command(flatten)]
    places: Places,
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A plugin refused, as the CLI reports it.
struct Refusal {
    error: anyhow::Error,
    digest: Option<String>,
    /// The key the refused signature names, when there was one.
    signer: Option<String>,
}

impl<E: Into<anyhow::Error>> From<E> for Refusal {
    fn from(error: E) -> Self {
        Refusal {
            error: error.into(),
            digest: None,
            signer: None,
        }
    }
}

impl Refusal {
    /// The library's refusal, with the flag that lifts it where one does.
    fn from_install(refusal: install::Refusal) -> Refusal {
        let error = match *refusal.error {
            InstallError::Downgrade { target, installed } => anyhow::anyhow!(
                "{target} is lower than the installed {installed}; a downgrade can bring back fixed flaws: pass --allow-downgrade if you mean it"
            ),
            InstallError::AlreadyInstalled {
                name,
                version,
                digest,
            } => anyhow::anyhow!(
                "{name} is installed already at {version} ({digest}); move to another version with `exorun upgrade {name}`"
            ),
            other => other.into(),
        };
        Refusal {
            error,
            digest: refusal.digest,
            signer: refusal.signer,
        }
    }
}

/// Checks the artifact and warns when it is unsigned and allowed.
async fn check(
    source: &dyn Fetch,
    trust: &TrustPolicy,
    allow_unsigned: bool,
) -> Result<Candidate, Refusal> {
    let candidate = install::check(source, trust, allow_unsigned)
        .await
        .map_err(Refusal::from_install)?;
    if candidate.signer.is_none() {
        eprintln!(
            "exorun: warning: {} is UNSIGNED: nobody vouches for what it does; installing because of --allow-unsigned",
            source.name()
        );
    }
    Ok(candidate)
}

/// A bundle refused for what it holds, as opposed to a wrong path.
fn is_hostile_bundle(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<PackageError>()
        .is_some_and(install::is_hostile_bundle)
}

fn plugin_ref(package: &Package) -> PluginRef {
    PluginRef {
        name: package.name().to_owned(),
        version: package.version().to_string(),
        sha256: package.manifest.plugin.sha256.clone().unwrap_or_default(),
    }
}

/// The audit record of a decision on one version, as the lock names it.
fn decision(action: &str, version: &LockedVersion, message: Option<String>) -> PackageEvent {
    PackageEvent {
        action: action.to_owned(),
        reference: version.reference.clone(),
        digest: Some(version.digest.clone()),
        signer: Some(signer_text(version)),
        permissions: Some(version.permissions.clone()),
        message,
    }
}

/// Audits a refusal and says it; nothing was written.
fn refused(
    audit_path: &std::path::Path,
    plugin: PluginRef,
    reference: &str,
    refusal: Refusal,
    what: &str,
) -> anyhow::Result<ExitCode> {
    let message = format!("{:#}", refusal.error);
    audit(
        audit_path,
        plugin,
        PackageEvent {
            action: "refuse".to_owned(),
            reference: reference.to_owned(),
            digest: refusal.digest,
            signer: refusal.signer,
            permissions: None,
            message: Some(message.clone()),
        },
    )?;
    eprintln!(
        "exorun: {what} refused: {}; nothing was installed",
        Escaped(&message)
    );
    Ok(ExitCode::from(1))
}

/// The consent screen: where it comes from, who signed it, and everything
/// it may do, as `exorun inspect` shows it.
fn show(candidate: &Candidate) {
    let signer = match &candidate.signer {
        Some(signer) => signer.to_string(),
        None => "NOBODY (unsigned, allowed by --allow-unsigned)".to_owned(),
    };
    show_package(&candidate.package, &candidate.origin, &signer);
}

fn show_package(package: &Package, origin: &str, signer: &str) {
    let plugin = &package.manifest.plugin;
    println!("Plugin     {} {}", plugin.name, plugin.version);
    if !plugin.description.is_empty() {
        println!("           {}", Escaped(&plugin.description));
    }
    if !plugin.authors.is_empty() {
        println!("Authors    {}", Escaped(&plugin.authors.join(", ")));
    }
    println!("From       {}", Escaped(origin));
    println!("Digest     {}", package.digest);
    println!("Signed by  {}", Escaped(signer));
    for line in package.manifest.grants().permission_lines() {
        println!("{line}");
    }
    if let Err(above) = package.manifest.within(&Ceilings::default()) {
        println!();
        println!(
            "Note       it asks for {} {}, above the default ceiling of {}: `exorun run` needs {} to run it",
            above.asked, above.what, above.ceiling, above.flag
        );
    }
    println!();
}

/// `exorun inspect <reference|bundle>`: a shared plugin's consent screen
/// without installing it. The artifact must check out (shape, sizes,
/// digests); its signature is shown with the trust policy's verdict
/// instead of being refused, since nothing is installed.
pub fn preview(
    source: &str,
    registry: &RegistryArgs,
    trust: &TrustArg,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let trust = TrustPolicy::load(&trust.path())?;
        let source = open_source(source, registry)?;
        let fetched = fetch(source.as_ref()).await?;
        let signer = match &fetched.signature {
            None => "NOBODY (unsigned: installing it needs --allow-unsigned)".to_owned(),
            Some(signature) => {
                match trust.check(signature, source.name(), &fetched.package.digest) {
                    Ok(signer) => signer.to_string(),
                    Err(refused) => format!("NOT ACCEPTED: {refused}"),
                }
            }
        };
        show_package(&fetched.package, &source.origin(), &signer);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(install_async(args))
}

async fn install_async(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let audit_path = args.places.audit.path()?;
    let trust = TrustPolicy::load(&args.places.trust.path())?;
    let store = args.places.store.store()?;
    let source = match open_source(&args.source, &args.places.registry) {
        Ok(source) => source,
        Err(error) if is_hostile_bundle(&error) => {
            let unknown = PluginRef {
                name: String::new(),
                version: String::new(),
                sha256: String::new(),
            };
            return refused(&audit_path, unknown, &args.source, error.into(), "install");
        }
        Err(error) => return Err(error),
    };
    let unknown = PluginRef {
        name: source.name().name.clone(),
        version: source.version().to_string(),
        sha256: String::new(),
    };
    let candidate = match check(source.as_ref(), &trust, args.allow_unsigned).await {
        Ok(candidate) => candidate,
        Err(refusal) => {
            return refused(&audit_path, unknown, &source.origin(), refusal, "install");
        }
    };
    let plugin = plugin_ref(&candidate.package);
    let mut lock = store.lock()?;
    let from_registry = std::fs::symlink_metadata(&args.source).is_err();
    let registry = from_registry.then(|| args.places.registry.settings());
    let proposal = match Proposal::install(&store, &lock, &candidate, registry) {
        Ok(InstallProposal::New(proposal)) => proposal,
        Ok(InstallProposal::Already(existing)) => {
            println!(
                "{} {} is installed already ({}).",
                existing.name, existing.current.version, existing.current.digest
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(refusal) => {
            let refusal = Refusal::from_install(refusal);
            return refused(&audit_path, plugin, &candidate.origin, refusal, "install");
        }
    };
    show(&candidate);
    let consent = if args.yes {
        "consented with --yes"
    } else {
        "consented at the prompt"
    };
    if !args.yes
        && !ask(&format!(
            "Install {} {} with exactly these permissions?",
            candidate.package.name(),
            candidate.package.version()
        ))
    {
        proposal.discard(&store, &lock)?;
        let refusal = Refusal {
            error: anyhow::anyhow!("the operator did not consent"),
            digest: Some(candidate.package.digest.clone()),
            signer: None,
        };
        return refused(&audit_path, plugin, &candidate.origin, refusal, "install");
    }
    proposal.commit(&store, &mut lock, &jiff::Timestamp::now().to_string())?;
    let version = &proposal.version;
    audit(
        &audit_path,
        plugin,
        decision("install", version, Some(consent.to_owned())),
    )?;
    println!(
        "Installed {} {} ({}). Run it with: exorun run {}",
        proposal.name, version.version, version.digest, proposal.name
    );
    Ok(ExitCode::SUCCESS)
}

pub fn upgrade(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(upgrade_async(args))
}

async fn upgrade_async(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    let audit_path = args.places.audit.path()?;
    let store = args.places.store.store()?;
    let mut lock = store.lock()?;
    let Some(entry) = lock.get(&args.name).cloned() else {
        bail!(
            "no installed plugin is named '{}' (`exorun list` shows them)",
            Escaped(&args.name)
        );
    };
    let current = store.load(&entry.current)?;
    let current_ref = PluginRef {
        name: entry.name.clone(),
        version: entry.current.version.clone(),
        sha256: current.plugin.sha256.clone().unwrap_or_default(),
    };
    if let Some(digest) = &args.approve {
        return approve(&args, &audit_path, &store, &mut lock, digest);
    }
    let trust = TrustPolicy::load(&args.places.trust.path())?;
    let installed = semver::Version::parse(&entry.current.version)
        .context("the lock's version is not semantic versioning")?;
    // How the registry was reached this time, remembered for the next.
    let mut reached = None;
    let source: Box<dyn Fetch> = match &args.from {
        Some(path) => match Bundle::open(path) {
            Ok(bundle) => Box::new(bundle),
            Err(error) => {
                let error = anyhow::Error::from(error);
                if is_hostile_bundle(&error) {
                    let origin = path.display().to_string();
                    return refused(&audit_path, current_ref, &origin, error.into(), "upgrade");
                }
                return Err(error);
            }
        },
        None => {
            let base = RegistryRef::parse(&entry.current.reference).with_context(|| {
                format!(
                    "{} was installed from {}, not a registry: give the new version with --from BUNDLE",
                    entry.name, entry.current.reference
                )
            })?;
            let reach = args.places.registry.or_remembered(entry.registry.as_ref());
            reached = Some(reach.settings());
            let registry = reach.registry(&base)?;
            // The installed version's tag must still point where it did.
            match registry.digest().await? {
                Some(now) if now != entry.current.digest => {
                    eprintln!(
                        "exorun: warning: {base} now points at {now}, not the installed {}; the tag moved, the lock holds",
                        entry.current.digest
                    );
                    audit(
                        &audit_path,
                        current_ref.clone(),
                        PackageEvent {
                            action: "moved-tag".to_owned(),
                            reference: base.to_string(),
                            digest: Some(now),
                            signer: None,
                            permissions: None,
                            message: Some(format!("installed {}", entry.current.digest)),
                        },
                    )?;
                }
                _ => {}
            }
            let target = match &args.to {
                Some(version) => version.clone(),
                None => match registry.versions().await?.last() {
                    Some(highest) => highest.clone(),
                    None => bail!("{} has no versions", base.repository()),
                },
            };
            Box::new(registry.at(target))
        }
    };
    let target = source.version().clone();
    if let Some(to) = &args.to
        && *to != target
    {
        bail!(
            "--to {to} asks for another version than {} offers ({target})",
            source.origin()
        );
    }
    if source.name().to_string() != entry.package {
        bail!(
            "{} is the package {}, not {} that is installed as {}",
            source.origin(),
            source.name(),
            entry.package,
            entry.name
        );
    }
    if target == installed {
        println!("{} is at {} already.", entry.name, installed);
        return Ok(ExitCode::SUCCESS);
    }
    let candidate = match install::check_direction(&installed, &target, args.allow_downgrade) {
        Err(error) => Err(Refusal::from_install(error.into())),
        Ok(()) => check(source.as_ref(), &trust, args.allow_unsigned).await,
    };
    let candidate = match candidate {
        Ok(candidate) => candidate,
        Err(refusal) => {
            return refused(
                &audit_path,
                current_ref,
                &source.origin(),
                refusal,
                "upgrade",
            );
        }
    };
    let plugin = plugin_ref(&candidate.package);
    let proposal = match Proposal::upgrade(
        &store,
        &lock,
        &entry.name,
        &candidate,
        args.allow_downgrade,
        reached,
    ) {
        Ok(UpgradeProposal::New(proposal)) => proposal,
        Ok(UpgradeProposal::AtAlready(_)) => {
            println!("{} is at {} already.", entry.name, installed);
            return Ok(ExitCode::SUCCESS);
        }
        Err(refusal) => {
            let refusal = Refusal::from_install(refusal);
            return refused(&audit_path, plugin, &candidate.origin, refusal, "upgrade");
        }
    };
    let version = &proposal.version;
    println!(
        "Upgrade {} {} → {} ({})",
        entry.name, installed, target, version.digest
    );
    print_changes(&proposal.changes);
    let widens = proposal.widens();
    let approved_here = !widens.is_empty()
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
        && ask("Approve these widened permissions?");
    let now = jiff::Timestamp::now().to_string();
    if !widens.is_empty() && !approved_here {
        proposal.hold(&mut lock, &now)?;
        audit(
            &audit_path,
            plugin,
            decision(
                "hold",
                version,
                Some(format!("widens: {}", widens.join("; "))),
            ),
        )?;
        println!();
        println!(
            "HELD: {target} asks for more than {installed}; {installed} keeps running until an operator approves with:"
        );
        println!(
            "  exorun upgrade {} --approve {}",
            entry.name, version.digest
        );
        return Ok(ExitCode::from(HELD));
    }
    proposal.commit(&store, &mut lock, &now)?;
    audit(
        &audit_path,
        plugin,
        decision(
            "upgrade",
            version,
            (!widens.is_empty()).then(|| format!("approved: {}", widens.join("; "))),
        ),
    )?;
    println!("Upgraded {} to {target}.", entry.name);
    Ok(ExitCode::SUCCESS)
}

fn print_changes(changes: &[Change]) {
    if changes.is_empty() {
        println!("  permissions unchanged");
    }
    for change in changes {
        let mark = match change.direction {
            Direction::Widens => "+ WIDENS ",
            Direction::Narrows => "- narrows",
            Direction::Neutral => "  changes",
        };
        println!("  {mark}  {}", change.text);
    }
}

/// Moves a held upgrade in, after checking the store still holds exactly
/// the artifact that was reviewed.
fn approve(
    args: &UpgradeArgs,
    audit_path: &std::path::Path,
    store: &exorun_package::store::Store,
    lock: &mut exorun_package::store::LockGuard,
    digest: &str,
) -> anyhow::Result<ExitCode> {
    let proposal = Proposal::held(store, lock, &args.name)?;
    if proposal.version.digest != digest {
        bail!(
            "the upgrade waiting for approval is {}, not {digest}; approve exactly the digest `exorun upgrade` showed",
            proposal.version.digest
        );
    }
    let manifest = proposal.manifest(store)?;
    proposal.commit(store, lock, &jiff::Timestamp::now().to_string())?;
    let version = &proposal.version;
    audit(
        audit_path,
        PluginRef {
            name: proposal.name.clone(),
            version: version.version.clone(),
            sha256: manifest.plugin.sha256.clone().unwrap_or_default(),
        },
        decision(
            "upgrade",
            version,
            Some(format!("approved: {}", proposal.widens().join("; "))),
        ),
    )?;
    println!(
        "Approved: {} is now {} ({}).",
        proposal.name, version.version, version.digest
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct UninstallArgs {
    /// The installed plugin.
    name: String,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    audit: AuditLogArg,
}

/// Takes a plugin out of the lock and its artifacts (the installed version
/// and a held upgrade) out of the store.
pub fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let audit_path = args.audit.path()?;
    let store = args.store.store()?;
    let mut lock = store.lock()?;
    let Some(entry) = lock.get(&args.name) else {
        bail!(
            "no installed plugin is named '{}' (`exorun list` shows them)",
            Escaped(&args.name)
        );
    };
    let sha256 = store
        .load(&entry.current)
        .ok()
        .and_then(|m| m.plugin.sha256)
        .unwrap_or_default();
    let (entry, removed) = install::uninstall(&store, &mut lock, &args.name)?;
    audit(
        &audit_path,
        PluginRef {
            name: entry.name.clone(),
            version: entry.current.version.clone(),
            sha256,
        },
        decision("uninstall", &entry.current, None),
    )?;
    println!(
        "Uninstalled {} {} ({}); {removed} artifact folder(s) removed from the store.",
        entry.name, entry.current.version, entry.current.digest
    );
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.store()?;
    let plugins = store.read()?;
    if args.json {
        let out: Vec<_> = plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "package": p.package,
                    "version": p.current.version,
                    "reference": p.current.reference,
                    "digest": p.current.digest,
                    "signer": p.current.signer.as_ref().map(|s| json!({"keyId": s.key_id, "publisher": s.publisher})),
                    "permissions": p.current.permissions,
                    "installed": p.installed,
                    "held": p.pending.as_ref().map(|h| json!({
                        "version": h.version.version,
                        "digest": h.version.digest,
                        "widens": h.widens,
                    })),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if plugins.is_empty() {
        println!("No plugins installed in {}.", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<10} {:<36} {:<20} FROM",
        "NAME", "VERSION", "SIGNED BY", "DIGEST"
    );
    for p in &plugins {
        let signer = p
            .current
            .signer
            .as_ref()
            .map_or_else(|| "UNSIGNED".to_owned(), ToString::to_string);
        println!(
            "{:<28} {:<10} {:<36} {:<20} {}",
            p.name,
            p.current.version,
            Escaped(&signer).to_string(),
            p.current.digest.chars().take(19).collect::<String>(),
            Escaped(&p.current.reference)
        );
        if let Some(held) = &p.pending {
            println!(
                "  held: {} ({}) widens permissions; approve with `exorun upgrade {} --approve {}`",
                held.version.version, held.version.digest, p.name, held.version.digest
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
