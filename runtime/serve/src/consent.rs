//! Installing, upgrading and removing plugins through the service, and the
//! trust policy behind them: what an admin does in the dashboard instead
//! of `exorun install` on the server.
//!
//! Every install and upgrade waits on its consent screen. An admin asks
//! (install a registry reference, upgrade a plugin, review an upgrade
//! `exorun upgrade` held); the service fetches the artifact from a
//! registry serve.toml names, checks its digests and its signature
//! against the trust policy, and shows exactly what the plugin may do and
//! what changes. Only accepting that screen, naming its digest, writes the
//! lock, after checking again that the lock is still what the screen was
//! made against and the store still holds exactly that artifact
//! ([`exorun_package::install::Proposal::commit`]). Each step is audited as
//! `exorun install` audits it, naming the admin.

use std::collections::HashMap;
use std::time::Duration;

use exorun_audit::{PackageEvent, PluginRef};
use exorun_package::install::{
    self, Candidate, InstallError, InstallProposal, Proposal, ProposalKind, Refusal,
    UpgradeProposal,
};
use exorun_package::remote::Registry;
use exorun_package::signing::{PublicKey, SignatureError};
use exorun_package::store::RegistrySettings;
use exorun_package::trust::{TrustPolicy, TrustedKey};
use exorun_package::{PackageError, RegistryRef};
use exorun_policy::{Ceilings, Direction, Manifest};
use parking_lot::Mutex;
use serde::Serialize;

use crate::audit::Action;
use crate::service::{ActionError, Actor, Service};

/// How long a consent screen can be accepted.
pub const CONSENT_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Screens waiting at once; beyond this, new requests are refused until
/// some are decided or expire (a flood of requests cannot fill memory).
const MAX_WAITING: usize = 64;

/// What an admin is asked to consent to, as the API and the dashboard show
/// it.
#[derive(Clone, Debug, Serialize)]
pub struct Screen {
    pub id: String,
    /// `install`, `upgrade` or `approve-held`.
    pub kind: &'static str,
    pub plugin: String,
    /// `<namespace>/<name>` where it is published.
    pub package: String,
    pub version: String,
    /// The installed version an upgrade replaces.
    pub from_version: Option<String>,
    pub origin: String,
    /// The OCI manifest digest: what accepting must name.
    pub digest: String,
    /// `<publisher> (<key id>)`, or `unsigned`.
    pub signer: String,
    pub unsigned: bool,
    pub description: String,
    pub authors: Vec<String>,
    /// Everything it may do, as `exorun inspect` prints it.
    pub permission_lines: Vec<String>,
    /// The same as `exorun inspect --json` gives it.
    pub permissions: serde_json::Value,
    /// For an upgrade: every change, each `widens`, `narrows` or `changes`.
    pub changes: Vec<ChangeView>,
    /// A limit it asks for above the default ceilings, which runs need.
    pub above_ceiling: Option<String>,
    pub requested_by: String,
    pub created: String,
    pub expires: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChangeView {
    pub direction: &'static str,
    pub text: String,
}

struct Waiting {
    screen: Screen,
    proposal: Proposal,
    /// The component's SHA-256, for the audit record.
    component: String,
    expires: jiff::Timestamp,
}

/// Consent screens waiting for a decision, in memory: a restart forgets
/// them (the artifacts stay in the store, unused, and asking again shows
/// the same screen).
#[derive(Default)]
pub struct Consents {
    waiting: Mutex<HashMap<String, Waiting>>,
    /// Screens that expired, until housekeeping takes their artifacts out
    /// of the store and records it.
    expired: Mutex<Vec<Waiting>>,
}

impl Consents {
    fn prune(&self, waiting: &mut HashMap<String, Waiting>) {
        let now = jiff::Timestamp::now();
        let gone: Vec<String> = waiting
            .iter()
            .filter(|(_, w)| w.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut expired = self.expired.lock();
        for id in gone {
            expired.extend(waiting.remove(&id));
        }
    }

    /// The screens still waiting, oldest first.
    pub fn list(&self) -> Vec<Screen> {
        let mut waiting = self.waiting.lock();
        self.prune(&mut waiting);
        let mut screens: Vec<Screen> = waiting.values().map(|w| w.screen.clone()).collect();
        screens.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        screens
    }

    pub fn get(&self, id: &str) -> Result<Screen, ActionError> {
        let mut waiting = self.waiting.lock();
        self.prune(&mut waiting);
        waiting
            .get(id)
            .map(|w| w.screen.clone())
            .ok_or_else(|| not_waiting(id))
    }

    fn insert(&self, waiting: Waiting) -> Result<(), ActionError> {
        let mut all = self.waiting.lock();
        self.prune(&mut all);
        if all.len() >= MAX_WAITING {
            return Err(ActionError::Unavailable(format!(
                "{MAX_WAITING} consent screens are waiting already; accept or decline some first"
            )));
        }
        all.insert(waiting.screen.id.clone(), waiting);
        Ok(())
    }

    /// Takes the screen out when `digest` is the one it shows.
    fn take(&self, id: &str, digest: &str) -> Result<Waiting, ActionError> {
        let mut all = self.waiting.lock();
        self.prune(&mut all);
        let Some(waiting) = all.get(id) else {
            return Err(not_waiting(id));
        };
        if waiting.screen.digest != digest {
            return Err(ActionError::Conflict(format!(
                "consent screen {id} shows {}, not {digest}; accept exactly the digest shown",
                waiting.screen.digest
            )));
        }
        Ok(all.remove(id).expect("present under the lock"))
    }

    fn remove(&self, id: &str) -> Result<Waiting, ActionError> {
        let mut all = self.waiting.lock();
        self.prune(&mut all);
        all.remove(id).ok_or_else(|| not_waiting(id))
    }

    /// The screens that expired since the last call.
    fn take_expired(&self) -> Vec<Waiting> {
        {
            let mut waiting = self.waiting.lock();
            self.prune(&mut waiting);
        }
        std::mem::take(&mut *self.expired.lock())
    }
}

fn not_waiting(id: &str) -> ActionError {
    ActionError::NotFound(format!(
        "no consent screen {id} is waiting (decided already, or it expired after {} minutes: ask again)",
        CONSENT_LIFETIME.as_secs() / 60
    ))
}

fn change_views(proposal: &Proposal) -> Vec<ChangeView> {
    proposal
        .changes
        .iter()
        .map(|c| ChangeView {
            direction: match c.direction {
                Direction::Widens => "widens",
                Direction::Narrows => "narrows",
                Direction::Neutral => "changes",
            },
            text: c.text.clone(),
        })
        .collect()
}

/// The screen of `proposal`, and when it expires.
fn screen(
    proposal: &Proposal,
    manifest: &Manifest,
    requested_by: &str,
) -> (Screen, jiff::Timestamp) {
    let now = jiff::Timestamp::now();
    let expires = now
        .checked_add(jiff::SignedDuration::try_from(CONSENT_LIFETIME).unwrap_or_default())
        .unwrap_or(now);
    let (kind, from) = match &proposal.kind {
        ProposalKind::Install => ("install", None),
        ProposalKind::Upgrade { from } => ("upgrade", Some(from.version.clone())),
        ProposalKind::ApproveHeld { from } => ("approve-held", Some(from.version.clone())),
    };
    let above_ceiling = manifest.within(&Ceilings::default()).err().map(|above| {
        format!(
            "it asks for {} {}, above the default ceiling of {}",
            above.asked, above.what, above.ceiling
        )
    });
    let screen = Screen {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        plugin: proposal.name.clone(),
        package: proposal.package.clone(),
        version: proposal.version.version.clone(),
        from_version: from,
        origin: proposal.version.reference.clone(),
        digest: proposal.version.digest.clone(),
        signer: install::signer_text(&proposal.version),
        unsigned: proposal.version.signer.is_none(),
        description: manifest.plugin.description.clone(),
        authors: manifest.plugin.authors.clone(),
        permission_lines: manifest.grants().permission_lines(),
        permissions: manifest.grants().permissions_json(),
        changes: change_views(proposal),
        above_ceiling,
        requested_by: requested_by.to_owned(),
        created: crate::store::time_text(now),
        expires: crate::store::time_text(expires),
    };
    (screen, expires)
}

/// The refusal's rule and the API's answer for an install error.
fn action_error(error: &InstallError) -> ActionError {
    let message = error.to_string();
    match error {
        InstallError::Signature(SignatureError::Unsigned { name }) => ActionError::Refused {
            rule: "unsigned",
            message: format!(
                "{name} is not signed; the service installs only plugins signed by a key in its trust policy (allow-unsigned-plugins = true in serve.toml allows unsigned ones, shown as such on the consent screen)"
            ),
        },
        InstallError::Signature(_) => ActionError::Refused {
            rule: "signature",
            message,
        },
        InstallError::Package(PackageError::Registry { .. } | PackageError::Io { .. }) => {
            ActionError::Unavailable(message)
        }
        InstallError::Package(_) => ActionError::Refused {
            rule: "artifact",
            message,
        },
        InstallError::Downgrade { .. } | InstallError::OtherPackage { .. } => {
            ActionError::Refused {
                rule: "version",
                message,
            }
        }
        InstallError::NotInstalled(_) => ActionError::NotFound(message),
        InstallError::AlreadyInstalled { .. }
        | InstallError::NothingHeld(_)
        | InstallError::OtherHeld { .. }
        | InstallError::Changed { .. } => ActionError::Conflict(message),
        InstallError::Declined(_) => ActionError::Refused {
            rule: "declined",
            message,
        },
    }
}

fn plugin_ref(name: &str, version: &str, component: &str) -> PluginRef {
    PluginRef {
        name: name.to_owned(),
        version: version.to_owned(),
        sha256: component.to_owned(),
    }
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ActionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ActionError::Unavailable(format!("the install task failed: {e}")))
}

impl Service {
    /// Records a refused artifact as `exorun install` does, then returns
    /// what the API answers.
    async fn refuse_package(
        &self,
        actor: &str,
        plugin: PluginRef,
        reference: &str,
        refusal: Refusal,
    ) -> ActionError {
        let error = action_error(&refusal.error);
        let event = PackageEvent {
            action: "refuse".to_owned(),
            reference: reference.to_owned(),
            digest: refusal.digest,
            signer: refusal.signer,
            permissions: None,
            message: Some(error.to_string()),
        };
        self.package_record(actor, plugin, event).await;
        error
    }

    /// Records a decision already taken; a failure is logged (the
    /// decision stands, and the `plugin.*` record before it names it).
    async fn package_record(&self, actor: &str, plugin: PluginRef, event: PackageEvent) {
        if let Err(e) = self.audit.record_package(actor, plugin, event).await {
            tracing::error!(error = %e, "cannot write the audit trail");
        }
    }

    /// The registry a reference names, reached as serve.toml says; the
    /// service reaches no registry its config does not name. Any failure
    /// is recorded as `refused`, with the reference.
    async fn registry(
        &self,
        reference: &RegistryRef,
        refused: Action<'_>,
    ) -> Result<(Registry, RegistrySettings), ActionError> {
        match self.reach(reference) {
            Ok(found) => Ok(found),
            Err(e) => {
                let action = Action {
                    reference: Some(reference.to_string()),
                    ..refused
                };
                Err(self.refuse(action, e).await)
            }
        }
    }

    fn reach(&self, reference: &RegistryRef) -> Result<(Registry, RegistrySettings), ActionError> {
        let Some(config) = self.config.registry(&reference.registry) else {
            return Err(ActionError::Refused {
                rule: "registry",
                message: format!(
                    "serve.toml declares no [[registry]] with host = \"{}\"; the service installs only from registries its config names",
                    reference.registry
                ),
            });
        };
        let settings = config.settings.clone();
        let options = settings.options().map_err(|e| {
            ActionError::Unavailable(format!("registry {}: {e}", reference.registry))
        })?;
        let registry =
            Registry::new(reference, &options).map_err(|e| ActionError::Invalid(e.to_string()))?;
        Ok((registry, settings))
    }

    fn trust(&self) -> Result<TrustPolicy, ActionError> {
        TrustPolicy::load(&self.config.trust_policy)
            .map_err(|e| ActionError::Unavailable(e.to_string()))
    }

    /// Fetches and checks `source`, audited as a refusal when it fails.
    async fn candidate(
        &self,
        actor: &str,
        plugin: PluginRef,
        registry: &Registry,
    ) -> Result<Candidate, ActionError> {
        let trust = self.trust()?;
        let origin = exorun_package::fetch::Fetch::origin(registry);
        match install::check(registry, &trust, self.config.allow_unsigned_plugins).await {
            Ok(candidate) => Ok(candidate),
            Err(refusal) => Err(self.refuse_package(actor, plugin, &origin, refusal).await),
        }
    }

    /// Puts a proposal on a consent screen and records that it waits.
    async fn offer(
        &self,
        actor: &str,
        proposal: Proposal,
        manifest: &Manifest,
    ) -> Result<Screen, ActionError> {
        let (screen, expires) = screen(&proposal, manifest, actor);
        self.audit_or_refuse(Action {
            actor,
            action: "plugin.consent",
            plugin: Some(&screen.plugin),
            reference: Some(screen.origin.clone()),
            message: Some(format!(
                "{} {} ({}, signed by {}) waits for consent on screen {}",
                screen.kind, screen.version, screen.digest, screen.signer, screen.id
            )),
            ..Action::default()
        })
        .await?;
        self.consents.insert(Waiting {
            screen: screen.clone(),
            proposal,
            component: manifest.plugin.sha256.clone().unwrap_or_default(),
            expires,
        })?;
        Ok(screen)
    }

    /// Fetches `source` (a registry reference), checks it and shows its
    /// consent screen; nothing is installed until an admin accepts it.
    pub async fn request_install(
        &self,
        actor: &Actor,
        source: &str,
    ) -> Result<Screen, ActionError> {
        let label = self
            .require_admin(
                actor,
                "installing a plugin",
                Action {
                    action: "plugin.install",
                    reference: Some(source.chars().take(300).collect()),
                    ..Action::default()
                },
            )
            .await?;
        let reference = match RegistryRef::parse(source) {
            Ok(reference) => reference,
            Err(e) => {
                return Err(ActionError::Invalid(format!(
                    "{e}; the service installs from a registry (<registry>/<namespace>/<name>:<version>); install a bundle with `exorun install --plugins-dir {}`",
                    self.config.plugins_dir.display()
                )));
            }
        };
        let unknown = plugin_ref(&reference.package.name, &reference.version.to_string(), "");
        let refused = Action {
            actor: &label,
            action: "plugin.install",
            ..Action::default()
        };
        let (registry, settings) = self.registry(&reference, refused).await?;
        let candidate = self.candidate(&label, unknown, &registry).await?;
        let store = self.plugins.store().clone();
        let (candidate, proposed) = blocking(move || {
            let proposed = store
                .lock()
                .map_err(Refusal::from)
                .and_then(|lock| Proposal::install(&store, &lock, &candidate, Some(settings)));
            (candidate, proposed)
        })
        .await?;
        let plugin = plugin_ref(
            candidate.package.name(),
            &candidate.package.version().to_string(),
            candidate
                .package
                .manifest
                .plugin
                .sha256
                .as_deref()
                .unwrap_or(""),
        );
        match proposed {
            Ok(InstallProposal::New(proposal)) => {
                self.offer(&label, proposal, &candidate.package.manifest)
                    .await
            }
            Ok(InstallProposal::Already(existing)) => Err(ActionError::Conflict(format!(
                "{} {} is installed already ({})",
                existing.name, existing.current.version, existing.current.digest
            ))),
            Err(refusal) => Err(self
                .refuse_package(&label, plugin, &candidate.origin, refusal)
                .await),
        }
    }

    /// Fetches a new version of the installed `name` from the registry it
    /// came from (`to`, or the highest there) and shows what changes.
    pub async fn request_upgrade(
        &self,
        actor: &Actor,
        name: &str,
        to: Option<semver::Version>,
        allow_downgrade: bool,
    ) -> Result<Screen, ActionError> {
        let label = self
            .require_admin(
                actor,
                "upgrading a plugin",
                Action {
                    action: "plugin.upgrade",
                    reference: Some(format!("plugin/{name}")),
                    ..Action::default()
                },
            )
            .await?;
        let store = self.plugins.store().clone();
        let entries = blocking(move || store.read())
            .await?
            .map_err(|e| ActionError::Unavailable(e.to_string()))?;
        let Some(entry) = entries.into_iter().find(|p| p.name == name) else {
            return Err(ActionError::NotFound(format!(
                "no installed plugin is named '{name}'"
            )));
        };
        let current = plugin_ref(&entry.name, &entry.current.version, "");
        let base = RegistryRef::parse(&entry.current.reference).map_err(|_| {
            ActionError::Invalid(format!(
                "{} was installed from {}, not a registry: upgrade it with `exorun upgrade {} --from <bundle> --plugins-dir {}`",
                entry.name,
                entry.current.reference,
                entry.name,
                self.config.plugins_dir.display()
            ))
        })?;
        let refused = Action {
            actor: &label,
            action: "plugin.upgrade",
            plugin: Some(name),
            ..Action::default()
        };
        let (registry, settings) = self.registry(&base, refused).await?;
        let unavailable = |e: PackageError| ActionError::Unavailable(e.to_string());
        // The installed version's tag must still point where it did.
        if let Some(now) = registry.digest().await.map_err(unavailable)?
            && now != entry.current.digest
        {
            let event = PackageEvent {
                action: "moved-tag".to_owned(),
                reference: base.to_string(),
                digest: Some(now),
                signer: None,
                permissions: None,
                message: Some(format!("installed {}", entry.current.digest)),
            };
            self.package_record(&label, current.clone(), event).await;
        }
        let target = match to {
            Some(version) => version,
            None => match registry.versions().await.map_err(unavailable)?.last() {
                Some(highest) => highest.clone(),
                None => {
                    return Err(ActionError::NotFound(format!(
                        "{} has no versions",
                        base.repository()
                    )));
                }
            },
        };
        let installed = semver::Version::parse(&entry.current.version)
            .map_err(|e| ActionError::Unavailable(format!("the lock's version: {e}")))?;
        if target == installed {
            return Err(ActionError::Conflict(format!(
                "{} is at {installed} already",
                entry.name
            )));
        }
        let source = registry.at(target.clone());
        if let Err(e) = install::check_direction(&installed, &target, allow_downgrade) {
            let refusal = Refusal::from(e);
            return Err(self
                .refuse_package(
                    &label,
                    current,
                    &exorun_package::fetch::Fetch::origin(&source),
                    refusal,
                )
                .await);
        }
        let candidate = self.candidate(&label, current.clone(), &source).await?;
        let store = self.plugins.store().clone();
        let owned = name.to_owned();
        let (candidate, proposed) = blocking(move || {
            let proposed = store.lock().map_err(Refusal::from).and_then(|lock| {
                Proposal::upgrade(
                    &store,
                    &lock,
                    &owned,
                    &candidate,
                    allow_downgrade,
                    Some(settings),
                )
            });
            (candidate, proposed)
        })
        .await?;
        match proposed {
            Ok(UpgradeProposal::New(proposal)) => {
                self.offer(&label, proposal, &candidate.package.manifest)
                    .await
            }
            Ok(UpgradeProposal::AtAlready(entry)) => Err(ActionError::Conflict(format!(
                "{} is at {} already",
                entry.name, entry.current.version
            ))),
            Err(refusal) => Err(self
                .refuse_package(&label, current, &candidate.origin, refusal)
                .await),
        }
    }

    /// Shows the consent screen of the upgrade `exorun upgrade` held for
    /// `name` because it widens permissions.
    pub async fn request_held(&self, actor: &Actor, name: &str) -> Result<Screen, ActionError> {
        let label = self
            .require_admin(
                actor,
                "approving a held upgrade",
                Action {
                    action: "plugin.approve-held",
                    reference: Some(format!("plugin/{name}")),
                    ..Action::default()
                },
            )
            .await?;
        let store = self.plugins.store().clone();
        let owned = name.to_owned();
        let proposed = blocking(move || -> Result<_, InstallError> {
            let lock = store.lock()?;
            let proposal = Proposal::held(&store, &lock, &owned)?;
            let manifest = proposal.manifest(&store)?;
            Ok((proposal, manifest))
        })
        .await?;
        let (proposal, manifest) = proposed.map_err(|e| action_error(&e))?;
        self.offer(&label, proposal, &manifest).await
    }

    /// Installs or upgrades exactly what consent screen `id` shows, when
    /// `digest` is the digest it shows.
    pub async fn accept(
        &self,
        actor: &Actor,
        id: &str,
        digest: &str,
    ) -> Result<Screen, ActionError> {
        let label = self
            .require_admin(
                actor,
                "consenting to a plugin",
                Action {
                    action: "plugin.accept",
                    reference: Some(format!("consent/{id}")),
                    ..Action::default()
                },
            )
            .await?;
        // A digest other than the one shown is refused, and recorded: it
        // is someone consenting to an artifact they were not shown.
        let waiting = match self.consents.take(id, digest) {
            Ok(waiting) => waiting,
            Err(e) => {
                return Err(self
                    .refuse(
                        Action {
                            actor: &label,
                            action: "plugin.accept",
                            reference: Some(format!("consent/{id}")),
                            ..Action::default()
                        },
                        e,
                    )
                    .await);
            }
        };
        let Waiting {
            screen,
            proposal,
            component,
            ..
        } = waiting;
        let widens = proposal.widens();
        self.audit_or_refuse(Action {
            actor: &label,
            action: "plugin.accept",
            plugin: Some(&screen.plugin),
            reference: Some(format!("consent/{id}")),
            message: Some(format!(
                "{} {} ({})",
                screen.kind, screen.version, screen.digest
            )),
            ..Action::default()
        })
        .await?;
        let store = self.plugins.store().clone();
        let committing = proposal.clone();
        let committed = blocking(move || -> Result<(), InstallError> {
            let mut lock = store.lock()?;
            committing.commit(&store, &mut lock, &jiff::Timestamp::now().to_string())
        })
        .await?;
        let plugin = plugin_ref(&screen.plugin, &screen.version, &component);
        if let Err(e) = committed {
            return Err(self
                .refuse_package(&label, plugin, &screen.origin, Refusal::of(e, digest))
                .await);
        }
        let mut message = format!(
            "consented on screen {id} (asked by {})",
            screen.requested_by
        );
        if !widens.is_empty() {
            message.push_str(&format!("; approved: {}", widens.join("; ")));
        }
        let event = PackageEvent {
            action: if screen.kind == "install" {
                "install"
            } else {
                "upgrade"
            }
            .to_owned(),
            reference: proposal.version.reference.clone(),
            digest: Some(proposal.version.digest.clone()),
            signer: Some(install::signer_text(&proposal.version)),
            permissions: Some(proposal.version.permissions.clone()),
            message: Some(message),
        };
        self.package_record(&label, plugin, event).await;
        Ok(screen)
    }

    /// Declines consent screen `id`; its artifact leaves the store again.
    pub async fn decline(&self, actor: &Actor, id: &str) -> Result<Screen, ActionError> {
        let label = self
            .require_admin(
                actor,
                "declining a plugin",
                Action {
                    action: "plugin.decline",
                    reference: Some(format!("consent/{id}")),
                    ..Action::default()
                },
            )
            .await?;
        let Waiting {
            screen,
            proposal,
            component,
            ..
        } = self.consents.remove(id)?;
        let store = self.plugins.store().clone();
        let discard = proposal.clone();
        if let Ok(Err(e)) = blocking(move || -> Result<bool, InstallError> {
            let lock = store.lock()?;
            discard.discard(&store, &lock)
        })
        .await
        {
            tracing::warn!(error = %e, "cannot remove a declined artifact from the store");
        }
        let plugin = plugin_ref(&screen.plugin, &screen.version, &component);
        let refusal = Refusal {
            error: Box::new(InstallError::Declined(format!(
                "{label} declined consent screen {id}"
            ))),
            digest: Some(screen.digest.clone()),
            signer: Some(screen.signer.clone()),
        };
        self.refuse_package(&label, plugin, &screen.origin, refusal)
            .await;
        Ok(screen)
    }

    /// Uninstalls `name`: out of the lock, its artifacts out of the store.
    pub async fn uninstall(&self, actor: &Actor, name: &str) -> Result<(), ActionError> {
        let label = self
            .require_admin(
                actor,
                "uninstalling a plugin",
                Action {
                    action: "plugin.uninstall",
                    reference: Some(format!("plugin/{name}")),
                    ..Action::default()
                },
            )
            .await?;
        self.audit_or_refuse(Action {
            actor: &label,
            action: "plugin.uninstall",
            plugin: Some(name),
            reference: Some(format!("plugin/{name}")),
            ..Action::default()
        })
        .await?;
        let store = self.plugins.store().clone();
        let owned = name.to_owned();
        let (entry, removed) = blocking(move || -> Result<_, InstallError> {
            let mut lock = store.lock()?;
            let component = lock
                .get(&owned)
                .and_then(|e| store.load(&e.current).ok())
                .and_then(|m| m.plugin.sha256)
                .unwrap_or_default();
            let (entry, removed) = install::uninstall(&store, &mut lock, &owned)?;
            Ok(((entry, component), removed))
        })
        .await?
        .map_err(|e| action_error(&e))?;
        let (entry, component) = entry;
        let event = PackageEvent {
            action: "uninstall".to_owned(),
            reference: entry.current.reference.clone(),
            digest: Some(entry.current.digest.clone()),
            signer: Some(install::signer_text(&entry.current)),
            permissions: Some(entry.current.permissions.clone()),
            message: Some(format!(
                "{removed} artifact folder(s) removed from the store"
            )),
        };
        let plugin = plugin_ref(&entry.name, &entry.current.version, &component);
        self.package_record(&label, plugin, event).await;
        Ok(())
    }

    /// Takes the artifacts of expired consent screens out of the store
    /// again (unless the lock names them) and records that nobody decided.
    pub async fn expire_consents(&self) {
        for waiting in self.consents.take_expired() {
            let store = self.plugins.store().clone();
            let proposal = waiting.proposal.clone();
            let discarded = blocking(move || -> Result<bool, InstallError> {
                let lock = store.lock()?;
                proposal.discard(&store, &lock)
            })
            .await;
            if let Ok(Err(e)) = discarded {
                tracing::warn!(error = %e, "cannot remove an expired artifact from the store");
            }
            let screen = &waiting.screen;
            self.audit_quiet(Action {
                actor: "service",
                action: "plugin.consent-expired",
                plugin: Some(&screen.plugin),
                reference: Some(format!("consent/{}", screen.id)),
                message: Some(format!(
                    "nobody decided on {} {} ({}) within {} minutes",
                    screen.kind,
                    screen.version,
                    screen.digest,
                    CONSENT_LIFETIME.as_secs() / 60
                )),
                ..Action::default()
            })
            .await;
        }
    }

    /// The consent screens waiting.
    pub fn consents(&self) -> Vec<Screen> {
        self.consents.list()
    }

    pub fn consent(&self, id: &str) -> Result<Screen, ActionError> {
        self.consents.get(id)
    }

    // ----- Trust -------------------------------------------------------

    /// The publisher keys the service trusts.
    pub async fn trusted_keys(&self) -> Result<Vec<TrustedKey>, ActionError> {
        let path = self.config.trust_policy.clone();
        blocking(move || TrustPolicy::load(&path))
            .await?
            .map(|p| p.keys().to_vec())
            .map_err(|e| ActionError::Unavailable(e.to_string()))
    }

    /// Trusts `key` (a minisign public key) as `publisher` for
    /// `namespaces`, which must be named: the service never trusts a key
    /// for every namespace by default.
    pub async fn trust_add(
        &self,
        actor: &Actor,
        key: &str,
        publisher: &str,
        namespaces: Vec<String>,
    ) -> Result<TrustedKey, ActionError> {
        let label = self
            .require_admin(
                actor,
                "changing the trust policy",
                Action {
                    action: "trust.add",
                    ..Action::default()
                },
            )
            .await?;
        let action = Action {
            actor: &label,
            action: "trust.add",
            reference: None,
            message: Some(format!(
                "{} for [{}]",
                publisher.chars().take(200).collect::<String>(),
                namespaces.join(", ")
            )),
            ..Action::default()
        };
        let checked = (|| {
            if namespaces.is_empty() {
                return Err(ActionError::Invalid(
                    "name the namespaces the key may sign for (\"contoso\", \"contoso-*\", \"contoso/*\"); the service does not trust a key for every namespace by default".to_owned(),
                ));
            }
            let key = PublicKey::parse(key).map_err(|e| ActionError::Invalid(e.to_string()))?;
            // Validated on a copy first, so a refusal is audited as one
            // and the record of an accepted change precedes the change.
            let mut copy = self.trust()?;
            copy.add(&key, publisher, &namespaces, "")
                .map_err(|e| ActionError::Invalid(e.to_string()))?;
            Ok(key)
        })();
        let key = match checked {
            Ok(key) => key,
            Err(e) => return Err(self.refuse(action, e).await),
        };
        self.audit_or_refuse(Action {
            reference: Some(format!("key/{}", key.key_id)),
            ..action
        })
        .await?;
        let path = self.config.trust_policy.clone();
        let publisher = publisher.to_owned();
        let now = jiff::Timestamp::now().to_string();
        blocking(move || {
            TrustPolicy::edit(&path, |policy| {
                policy.add(&key, &publisher, &namespaces, &now)?;
                Ok(policy
                    .keys()
                    .iter()
                    .find(|k| k.key_id == key.key_id)
                    .cloned()
                    .expect("just added"))
            })
        })
        .await?
        .map_err(|e| ActionError::Invalid(e.to_string()))
    }

    /// Stops trusting the key with this id, or every key of this
    /// publisher. Plugins it signed stay installed.
    pub async fn trust_remove(
        &self,
        actor: &Actor,
        key_or_publisher: &str,
    ) -> Result<Vec<TrustedKey>, ActionError> {
        let label = self
            .require_admin(
                actor,
                "changing the trust policy",
                Action {
                    action: "trust.remove",
                    reference: Some(format!(
                        "key/{}",
                        key_or_publisher.chars().take(200).collect::<String>()
                    )),
                    ..Action::default()
                },
            )
            .await?;
        let known = self.trusted_keys().await?.iter().any(|k| {
            k.key_id.eq_ignore_ascii_case(key_or_publisher) || k.publisher == key_or_publisher
        });
        let action = Action {
            actor: &label,
            action: "trust.remove",
            reference: Some(format!(
                "key/{}",
                key_or_publisher.chars().take(200).collect::<String>()
            )),
            ..Action::default()
        };
        if !known {
            let error = ActionError::NotFound(format!(
                "no trusted key has id or publisher '{}'",
                key_or_publisher.chars().take(200).collect::<String>()
            ));
            return Err(self.refuse(action, error).await);
        }
        self.audit_or_refuse(action).await?;
        let path = self.config.trust_policy.clone();
        let owned = key_or_publisher.to_owned();
        blocking(move || TrustPolicy::edit(&path, |policy| Ok(policy.remove(&owned))))
            .await?
            .map_err(|e| ActionError::Unavailable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exorun_package::store::LockedVersion;

    fn waiting(id: &str, expires: jiff::Timestamp) -> Waiting {
        let version = LockedVersion {
            reference: "127.0.0.1:5000/contoso/p:1.0.0".to_owned(),
            version: "1.0.0".to_owned(),
            digest: format!("sha256:{}", "a".repeat(64)),
            signer: None,
            permissions: "0".repeat(64),
        };
        let proposal = Proposal {
            kind: ProposalKind::Install,
            name: "p".to_owned(),
            package: "contoso/p".to_owned(),
            version,
            changes: Vec::new(),
            registry: None,
        };
        let manifest = Manifest::parse(
            std::path::Path::new("exorun.toml"),
            "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\ncomponent = \"p.wasm\"\n",
        )
        .unwrap();
        let (mut screen, _) = screen(&proposal, &manifest, "user:ada");
        screen.id = id.to_owned();
        Waiting {
            screen,
            proposal,
            component: String::new(),
            expires,
        }
    }

    #[test]
    fn an_expired_screen_cannot_be_accepted_and_is_handed_to_housekeeping() {
        let consents = Consents::default();
        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        consents.insert(waiting("old", past)).unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            consents.take("old", &digest),
            Err(ActionError::NotFound(_))
        ));
        assert!(consents.list().is_empty());
        let expired = consents.take_expired();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].screen.id, "old");
        assert!(consents.take_expired().is_empty());
    }

    #[test]
    fn screens_are_accepted_once_by_their_digest_and_their_number_is_bounded() {
        let consents = Consents::default();
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(600);
        for i in 0..MAX_WAITING {
            consents.insert(waiting(&format!("s{i}"), later)).unwrap();
        }
        assert!(matches!(
            consents.insert(waiting("one-more", later)),
            Err(ActionError::Unavailable(_))
        ));
        let other = format!("sha256:{}", "b".repeat(64));
        assert!(matches!(
            consents.take("s0", &other),
            Err(ActionError::Conflict(_))
        ));
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(consents.take("s0", &digest).unwrap().screen.id, "s0");
        assert!(matches!(
            consents.take("s0", &digest),
            Err(ActionError::NotFound(_))
        ));
        consents.insert(waiting("one-more", later)).unwrap();
    }
}
