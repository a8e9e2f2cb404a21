//! Installing, upgrading and removing plugins: the decisions, shared by
//! `exorun install`/`upgrade`/`uninstall` and the service's admin API.
//!
//! Nothing here prompts or prints. A fetched artifact is first
//! [`check`]ed (digests, signature, trust policy) into a [`Candidate`];
//! a [`Proposal`] then says what the lock would become and what that
//! changes, which the caller shows as its consent screen; only
//! [`Proposal::commit`] writes the lock, after checking again that the
//! lock is still what the proposal was made against and that the store
//! still holds exactly the artifact shown. A consent given to one artifact
//! can therefore never install another, however long it was pending.

use exorun_policy::{Change, Direction, Grants, Manifest};

use crate::artifact::Package;
use crate::error::PackageError;
use crate::fetch::{Fetch, Fetched, fetch};
use crate::signing::{Signature, SignatureError};
use crate::store::{LockGuard, Locked, LockedVersion, Pending, RegistrySettings, Store};
use crate::trust::{Signer, TrustPolicy};

/// Why an install or upgrade cannot go ahead, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(
        "{name} is installed already at {version} ({digest}); move to another version with an upgrade"
    )]
    AlreadyInstalled {
        name: String,
        version: String,
        digest: String,
    },
    #[error("no installed plugin is named '{0}'")]
    NotInstalled(String),
    #[error(
        "{target} is lower than the installed {installed}; a downgrade can bring back fixed flaws: allow the downgrade explicitly if you mean it"
    )]
    Downgrade {
        target: semver::Version,
        installed: semver::Version,
    },
    #[error("{origin} is the package {offered}, not {installed} that is installed as {name}")]
    OtherPackage {
        origin: String,
        offered: String,
        installed: String,
        name: String,
    },
    #[error("{0} has no upgrade waiting for approval")]
    NothingHeld(String),
    #[error(
        "the upgrade waiting for approval is {held}, not {asked}; approve exactly the digest that was shown"
    )]
    OtherHeld { held: String, asked: String },
    #[error(
        "{name} changed while this waited for consent ({now}); nothing was written: look at it again"
    )]
    Changed { name: String, now: String },
    /// The person deciding said no, or did not answer.
    #[error("{0}")]
    Declined(String),
}

/// An install or upgrade refused, with what is known of the artifact for
/// the audit record.
#[derive(Debug)]
pub struct Refusal {
    /// Boxed: a refusal is rare, and the result it travels in is not.
    pub error: Box<InstallError>,
    /// The artifact's digest, when it got that far.
    pub digest: Option<String>,
    /// The key a refused signature names, or `unsigned`.
    pub signer: Option<String>,
}

impl<E: Into<InstallError>> From<E> for Refusal {
    fn from(error: E) -> Self {
        Refusal {
            error: Box::new(error.into()),
            digest: None,
            signer: None,
        }
    }
}

impl Refusal {
    /// A refusal of the artifact with this digest.
    pub fn of(error: impl Into<InstallError>, digest: &str) -> Refusal {
        Refusal {
            error: Box::new(error.into()),
            digest: Some(digest.to_owned()),
            signer: None,
        }
    }
}

/// A fetched artifact whose digests check out and whose signature the
/// trust policy accepted (or that the operator allowed unsigned).
pub struct Candidate {
    pub package: Package,
    pub signature: Option<Signature>,
    /// `None`: unsigned, allowed by the caller.
    pub signer: Option<Signer>,
    /// Where it came from, as the lock records it.
    pub origin: String,
    /// `<namespace>/<name>` where it is published.
    pub package_name: String,
}

impl Candidate {
    /// The lock's entry for this artifact.
    pub fn version(&self) -> LockedVersion {
        LockedVersion {
            reference: self.origin.clone(),
            version: self.package.version().to_string(),
            digest: self.package.digest.clone(),
            signer: self.signer.clone(),
            permissions: self.package.permissions_sha256(),
        }
    }
}

/// Fetches `source` and accepts it only when its signature verifies under
/// `trust` for exactly this name and digest; an unsigned artifact only
/// with `allow_unsigned`. A signature that fails is refused either way.
pub async fn check(
    source: &dyn Fetch,
    trust: &TrustPolicy,
    allow_unsigned: bool,
) -> Result<Candidate, Refusal> {
    let Fetched { package, signature } = fetch(source).await?;
    let digest = package.digest.clone();
    let signer = match &signature {
        Some(signature) => Some(
            trust
                .check(signature, source.name(), &digest)
                .map_err(|e| Refusal {
                    error: Box::new(e.into()),
                    digest: Some(digest.clone()),
                    signer: signature
                        .key_id()
                        .ok()
                        .map(|key| format!("key {key} (not accepted)")),
                })?,
        ),
        None if allow_unsigned => None,
        None => {
            return Err(Refusal {
                error: Box::new(
                    SignatureError::Unsigned {
                        name: source.name().to_string(),
                    }
                    .into(),
                ),
                digest: Some(digest),
                signer: Some("unsigned".to_owned()),
            });
        }
    };
    Ok(Candidate {
        package,
        signature,
        signer,
        origin: source.origin(),
        package_name: source.name().to_string(),
    })
}

/// A bundle that was read and refused for what it holds (links, foreign
/// entries, sizes), as opposed to a path or reference that is simply
/// wrong: the first is a refusal to audit, the second a mistake to fix.
pub fn is_hostile_bundle(error: &PackageError) -> bool {
    matches!(
        error,
        PackageError::Bundle(_) | PackageError::TooLarge { .. }
    )
}

/// Refuses moving from `installed` down to `target` unless asked for.
pub fn check_direction(
    installed: &semver::Version,
    target: &semver::Version,
    allow_downgrade: bool,
) -> Result<(), InstallError> {
    if target < installed && !allow_downgrade {
        return Err(InstallError::Downgrade {
            target: target.clone(),
            installed: installed.clone(),
        });
    }
    Ok(())
}

/// `<publisher> (<key id>)`, or `unsigned`.
pub fn signer_text(version: &LockedVersion) -> String {
    version
        .signer
        .as_ref()
        .map_or_else(|| "unsigned".to_owned(), ToString::to_string)
}

/// What a proposal does to the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// Adds a plugin not installed yet.
    Install,
    /// Replaces the installed version `from`.
    Upgrade { from: LockedVersion },
    /// Moves in the upgrade held (by `exorun upgrade`) over `from`.
    ApproveHeld { from: LockedVersion },
}

/// One decision waiting for consent: the exact artifact (already in the
/// store) the lock would name, and every change that makes.
#[derive(Clone, Debug)]
pub struct Proposal {
    pub kind: ProposalKind,
    /// The name `exorun run` takes.
    pub name: String,
    /// `<namespace>/<name>` where it is published.
    pub package: String,
    pub version: LockedVersion,
    /// For an upgrade, every change of permissions and signer; empty for
    /// an install (everything it may do is new).
    pub changes: Vec<Change>,
    /// How its registry was reached, to remember for the next upgrade.
    pub registry: Option<RegistrySettings>,
}

/// Where an install stands.
pub enum InstallProposal {
    /// Exactly this artifact is installed already.
    Already(Locked),
    New(Proposal),
}

/// Where an upgrade stands.
pub enum UpgradeProposal {
    /// The plugin is at this version already.
    AtAlready(Locked),
    New(Proposal),
}

impl Proposal {
    /// Proposes installing `candidate` (written to the store, which is
    /// harmless: nothing runs what the lock does not name). A name
    /// installed at another digest is refused: that is an upgrade.
    pub fn install(
        store: &Store,
        lock: &LockGuard,
        candidate: &Candidate,
        registry: Option<RegistrySettings>,
    ) -> Result<InstallProposal, Refusal> {
        let digest = &candidate.package.digest;
        if let Some(existing) = lock.get(candidate.package.name()) {
            if existing.current.digest == *digest {
                return Ok(InstallProposal::Already(existing.clone()));
            }
            return Err(Refusal::of(
                InstallError::AlreadyInstalled {
                    name: existing.name.clone(),
                    version: existing.current.version.clone(),
                    digest: existing.current.digest.clone(),
                },
                digest,
            ));
        }
        store
            .put(&candidate.package, candidate.signature.as_ref())
            .map_err(|e| Refusal::of(e, digest))?;
        Ok(InstallProposal::New(Proposal {
            kind: ProposalKind::Install,
            name: candidate.package.name().to_owned(),
            package: candidate.package_name.clone(),
            version: candidate.version(),
            changes: Vec::new(),
            registry,
        }))
    }

    /// Proposes moving the installed `name` to `candidate`, with what that
    /// changes. The candidate must be the same package; a lower version is
    /// refused unless `allow_downgrade`.
    pub fn upgrade(
        store: &Store,
        lock: &LockGuard,
        name: &str,
        candidate: &Candidate,
        allow_downgrade: bool,
        registry: Option<RegistrySettings>,
    ) -> Result<UpgradeProposal, Refusal> {
        let entry = lock
            .get(name)
            .ok_or_else(|| InstallError::NotInstalled(name.to_owned()))?;
        let digest = &candidate.package.digest;
        if candidate.package_name != entry.package {
            return Err(Refusal::of(
                InstallError::OtherPackage {
                    origin: candidate.origin.clone(),
                    offered: candidate.package_name.clone(),
                    installed: entry.package.clone(),
                    name: entry.name.clone(),
                },
                digest,
            ));
        }
        let installed = installed_version(entry)?;
        let target = candidate.package.version().clone();
        if target == installed {
            return Ok(UpgradeProposal::AtAlready(entry.clone()));
        }
        check_direction(&installed, &target, allow_downgrade)
            .map_err(|e| Refusal::of(e, digest))?;
        let current = store.load(&entry.current)?;
        let version = candidate.version();
        let changes = changes(
            current.grants(),
            &entry.current,
            candidate.package.manifest.grants(),
            &version,
        );
        store
            .put(&candidate.package, candidate.signature.as_ref())
            .map_err(|e| Refusal::of(e, digest))?;
        Ok(UpgradeProposal::New(Proposal {
            kind: ProposalKind::Upgrade {
                from: entry.current.clone(),
            },
            name: entry.name.clone(),
            package: entry.package.clone(),
            version,
            changes,
            registry,
        }))
    }

    /// Proposes moving in the upgrade held for `name`, its changes worked
    /// out again from the store.
    pub fn held(store: &Store, lock: &LockGuard, name: &str) -> Result<Proposal, InstallError> {
        let entry = lock
            .get(name)
            .ok_or_else(|| InstallError::NotInstalled(name.to_owned()))?;
        let Some(pending) = &entry.pending else {
            return Err(InstallError::NothingHeld(name.to_owned()));
        };
        let current = store.load(&entry.current)?;
        let next = store.load(&pending.version)?;
        Ok(Proposal {
            kind: ProposalKind::ApproveHeld {
                from: entry.current.clone(),
            },
            name: entry.name.clone(),
            package: entry.package.clone(),
            version: pending.version.clone(),
            changes: changes(
                current.grants(),
                &entry.current,
                next.grants(),
                &pending.version,
            ),
            registry: None,
        })
    }

    /// The changes that give the plugin more power: what consent is for.
    pub fn widens(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter(|c| c.direction == Direction::Widens)
            .map(|c| c.text.clone())
            .collect()
    }

    /// The installed plugin's manifest as it would run, read back from the
    /// store and checked against the proposed lock entry.
    pub fn manifest(&self, store: &Store) -> Result<Manifest, PackageError> {
        store.load(&self.version)
    }

    /// Writes the lock, after checking that it is still what this proposal
    /// was made against and that the store still holds exactly the
    /// proposed artifact with the proposed permissions. `now` is RFC 3339.
    pub fn commit(
        &self,
        store: &Store,
        lock: &mut LockGuard,
        now: &str,
    ) -> Result<(), InstallError> {
        self.still_applies(lock)?;
        store.load(&self.version)?;
        match &self.kind {
            ProposalKind::Install => lock.plugins.push(Locked {
                name: self.name.clone(),
                package: self.package.clone(),
                current: self.version.clone(),
                installed: now.to_owned(),
                pending: None,
                registry: self.registry.clone(),
            }),
            ProposalKind::Upgrade { .. } | ProposalKind::ApproveHeld { .. } => {
                let entry = lock
                    .get_mut(&self.name)
                    .ok_or_else(|| InstallError::NotInstalled(self.name.clone()))?;
                entry.current = self.version.clone();
                entry.pending = None;
                entry.installed = now.to_owned();
                if self.registry.is_some() {
                    entry.registry = self.registry.clone();
                }
            }
        }
        lock.save()?;
        Ok(())
    }

    /// Holds an upgrade that widens permissions in the lock, the installed
    /// version running on until it is approved.
    pub fn hold(&self, lock: &mut LockGuard, now: &str) -> Result<(), InstallError> {
        self.still_applies(lock)?;
        let entry = lock
            .get_mut(&self.name)
            .ok_or_else(|| InstallError::NotInstalled(self.name.clone()))?;
        entry.pending = Some(Pending {
            version: self.version.clone(),
            held: now.to_owned(),
            widens: self.widens(),
        });
        lock.save()?;
        Ok(())
    }

    /// Takes a declined proposal's artifact out of the store again, unless
    /// the lock names it.
    pub fn discard(&self, store: &Store, lock: &LockGuard) -> Result<bool, InstallError> {
        Ok(store.remove_unused(lock, &self.version.digest)?)
    }

    /// Whether the lock is still as it was when this was proposed.
    fn still_applies(&self, lock: &LockGuard) -> Result<(), InstallError> {
        let entry = lock.get(&self.name);
        let changed = |now: String| InstallError::Changed {
            name: self.name.clone(),
            now,
        };
        match (&self.kind, entry) {
            (ProposalKind::Install, None) => Ok(()),
            (ProposalKind::Install, Some(e)) => Err(changed(format!(
                "{} was installed meanwhile",
                e.current.version
            ))),
            (ProposalKind::Upgrade { .. } | ProposalKind::ApproveHeld { .. }, None) => {
                Err(changed("it was uninstalled meanwhile".to_owned()))
            }
            (ProposalKind::Upgrade { from } | ProposalKind::ApproveHeld { from }, Some(e))
                if e.current != *from =>
            {
                Err(changed(format!(
                    "it is at {} ({}) now",
                    e.current.version, e.current.digest
                )))
            }
            (ProposalKind::ApproveHeld { .. }, Some(e)) => match &e.pending {
                Some(p) if p.version == self.version => Ok(()),
                Some(p) => Err(InstallError::OtherHeld {
                    held: p.version.digest.clone(),
                    asked: self.version.digest.clone(),
                }),
                None => Err(InstallError::NothingHeld(self.name.clone())),
            },
            (ProposalKind::Upgrade { .. }, Some(_)) => Ok(()),
        }
    }
}

fn installed_version(entry: &Locked) -> Result<semver::Version, InstallError> {
    semver::Version::parse(&entry.current.version).map_err(|e| {
        PackageError::Store(format!(
            "the lock's version of {} is not semantic versioning: {e}",
            entry.name
        ))
        .into()
    })
}

/// Every change from one version to the next: the permissions, capability
/// by capability, and a new signing key, which widens (someone else now
/// vouches for the code).
pub fn changes(
    old: &Grants,
    old_version: &LockedVersion,
    new: &Grants,
    new_version: &LockedVersion,
) -> Vec<Change> {
    let mut changes = Grants::compare(old, new);
    let key_id = |v: &LockedVersion| v.signer.as_ref().map(|s| s.key_id.clone());
    if key_id(old_version) != key_id(new_version) {
        changes.push(Change::widens(format!(
            "signer: {} → {}",
            signer_text(old_version),
            signer_text(new_version)
        )));
    }
    changes
}

/// Takes `name` out of the lock and its artifacts (the installed version
/// and a held upgrade) out of the store, unless another plugin uses them.
/// Returns the entry removed and how many artifact folders went.
pub fn uninstall(
    store: &Store,
    lock: &mut LockGuard,
    name: &str,
) -> Result<(Locked, usize), InstallError> {
    let Some(index) = lock.plugins.iter().position(|p| p.name == name) else {
        return Err(InstallError::NotInstalled(name.to_owned()));
    };
    let entry = lock.plugins.remove(index);
    lock.save()?;
    let mut removed = 0;
    let held = entry.pending.as_ref().map(|h| h.version.digest.as_str());
    for digest in std::iter::once(entry.current.digest.as_str()).chain(held) {
        if store.remove_unused(lock, digest)? {
            removed += 1;
        }
    }
    Ok((entry, removed))
}
