//! `exorun cert rotate`: roll the app's certificate over through Microsoft
//! Graph without downtime (docs/credentials.md, "Rotation").
//!
//! Five steps, each recorded in the rotation state and the audit trail
//! before the next starts, so a command interrupted anywhere resumes where
//! it stopped:
//!
//! 1. **create** a new key pair and certificate beside the current one;
//! 2. **add** its public key to the app with `addKey` (proof signed by the
//!    current certificate);
//! 3. **verify** that Entra issues a token for the new certificate;
//! 4. **switch** the profile to it, atomically;
//! 5. **remove** the old key with `removeKey` (proof signed by the new
//!    certificate) once the overlap has passed (`--finish`), or at once
//!    (`--remove-old`).
//!
//! The order keeps one promise: a profile never points at a key that is
//! not registered, and no key is removed while a profile points at it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use exorun_audit::{CredentialEvent, Event, PluginRef, RunInfo};
use exorun_exchange::graph::{GraphClient, GraphError};
use exorun_exchange::{
    Certificate, CertificateError, CertificateSource, ConnectError, Connection, SecretString,
    generate_self_signed_with_password,
};

use super::write_private;
use crate::commands::audit::AuditLogArg;
use crate::profiles::{self, CertificateSwitch};
use crate::rotation::{self, Key, Location, Locked, Rotation, Step};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// Validity of the new certificate, in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// RSA key size of the new certificate, in bits (at least 2048).
    #[arg(long, default_value_t = 2048)]
    bits: u32,
    /// How long the old key stays registered after the switch, so runs
    /// that signed in with it end normally: 7d, 12h, 30m, 0.
    #[arg(long, default_value = "7d", value_parser = rotation::parse_overlap)]
    overlap: Duration,
    /// Remove the old key right after the switch, without waiting for the
    /// overlap (with --finish: remove it now).
    #[arg(long)]
    remove_old: bool,
    /// Finish a rotation: remove the old key once its overlap has passed.
    #[arg(long)]
    finish: bool,
    /// Put the new certificate's files here (default: beside the current
    /// certificate, or in its certificate store).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    audit: AuditLogArg,
}

/// How many times a new key is tried at the token endpoint, and how long
/// apart: Entra can take a little while to accept a key it just added.
const VERIFY_ATTEMPTS: u32 = 4;
const VERIFY_PAUSE: Duration = Duration::from_secs(5);

pub fn main(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(rotate(args))
}

async fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    if !args.tenant.any_connection_setting() {
        bail!(
            "exorun cert rotate needs the connection whose certificate to roll over: --profile NAME, or --organization, --app-id and the certificate"
        );
    }
    let tenant = match tenant::connect(&args.tenant).await {
        Ok(tenant) => tenant,
        Err(error) => return Err(explain_expired(error)),
    };
    let connection = &tenant.connection;
    let (Some(current), Some(source)) = (connection.certificate(), &tenant.certificate_source)
    else {
        bail!(
            "this connection signs in with a {:?}, which has no certificate to rotate",
            connection.sign_in_form()
        );
    };
    let current = Arc::new(current.clone());
    let organization = connection.organization().to_owned();
    let app_id = connection.app_id().to_owned();
    let lock = Locked::take(&rotation::path(&organization, &app_id)?)?;
    let audit = Auditor {
        path: args.audit.path()?,
        organization: organization.clone(),
        app_id: app_id.clone(),
    };
    let profile = args.tenant.profile().map(str::to_owned);

    let mut state = match lock.load()? {
        Some(state) => {
            eprintln!(
                "exorun: resuming the rotation begun {} (done: {})",
                state.started,
                step_name(state.step)
            );
            state
        }
        None if args.finish => bail!(
            "no certificate rotation of app {app_id} in {organization} is in progress; start one with `exorun cert rotate` (the same connection flags)"
        ),
        None => {
            // Before anything is made: the current certificate signs in to
            // Graph and may read the registration, else nothing is left
            // behind to clean up.
            connection
                .graph(Arc::clone(&current))?
                .application(&app_id)
                .await
                .map_err(explain_graph)
                .context(
                    "checking that the current certificate can manage the app's keys (nothing was changed)",
                )?;
            let state = create(&args, &current, source, &organization, &app_id, profile)?;
            lock.save(&state)?;
            audit.step(
                &state,
                "key-created",
                Some(&state.new.thumbprint),
                None,
                format!(
                    "new certificate {} valid until {}",
                    state.new.thumbprint,
                    state.new.not_after.as_deref().unwrap_or("?")
                ),
            )?;
            state
        }
    };

    if state.step < Step::Switched {
        if args.finish {
            bail!(
                "the rotation has not switched to the new certificate yet (done: {}); run `exorun cert rotate` without --finish to continue it",
                step_name(state.step)
            );
        }
        if !current
            .thumbprint_sha1_hex()
            .eq_ignore_ascii_case(&state.old.thumbprint)
        {
            bail!(
                "the rotation in progress replaces certificate {}, but this connection signs in with {}: give the connection the rotation started with",
                state.old.thumbprint,
                current.thumbprint_sha1_hex()
            );
        }
        let new = load_new(&state, source)?;
        let graph = connection.graph(Arc::clone(&current))?;
        if state.step < Step::Added {
            add(&graph, &mut state, &current, &new, &app_id)
                .await
                .map_err(|e| audit.failed(&state, "addKey", e))?;
            lock.save(&state)?;
            audit.step(
                &state,
                "key-added",
                Some(&state.new.thumbprint),
                state.new.key_id.as_deref(),
                "addKey: the new key is registered beside the old one".to_owned(),
            )?;
        }
        if state.step < Step::Verified {
            verify(connection, &new)
                .await
                .map_err(|e| audit.failed(&state, "sign-in with the new key", e))?;
            state.step = Step::Verified;
            lock.save(&state)?;
            audit.step(
                &state,
                "sign-in-verified",
                Some(&state.new.thumbprint),
                state.new.key_id.as_deref(),
                "Entra issued an Exchange token for the new certificate".to_owned(),
            )?;
        }
        switch(&mut state)?;
        lock.save(&state)?;
        audit.step(
            &state,
            "profile-switched",
            Some(&state.new.thumbprint),
            state.new.key_id.as_deref(),
            match &state.profile {
                Some(p) => format!("profile '{p}' now uses the new certificate"),
                None => "no profile: the command line must name the new certificate".to_owned(),
            },
        )?;
        println!("Switched to        {}", state.new.thumbprint);
        match (&state.profile, &state.new.location) {
            (Some(p), _) => println!("Profile            {p}"),
            (None, Some(location)) => println!("Connect with       {}", flags_for(location)),
            (None, None) => {}
        }
        if !args.remove_old {
            println!(
                "Old key            {} stays registered until {}",
                state.old.thumbprint,
                state.remove_after.as_deref().unwrap_or("?")
            );
            eprintln!(
                "exorun: runs that signed in with the old key keep working until then; afterwards run `exorun cert rotate --finish{}` to remove it",
                again_flags(&state)
            );
            return Ok(ExitCode::SUCCESS);
        }
        // The old key goes now, with a proof signed by the new one.
        return finish(&lock, &audit, &mut state, &new, connection).await;
    }

    // Switched: only the old key's removal is left.
    if !args.finish && !args.remove_old {
        println!(
            "The rotation switched to {} on {}; the old key {} stays registered until {}.",
            state.new.thumbprint,
            state.switched.as_deref().unwrap_or("?"),
            state.old.thumbprint,
            state.remove_after.as_deref().unwrap_or("?")
        );
        eprintln!(
            "exorun: run `exorun cert rotate --finish{}` after that to remove it (add --remove-old to remove it now)",
            again_flags(&state)
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !current
        .thumbprint_sha1_hex()
        .eq_ignore_ascii_case(&state.new.thumbprint)
    {
        bail!(
            "this connection still signs in with the old certificate {}, which the rotation is about to remove: connect with the new one ({}) instead{}",
            current.thumbprint_sha1_hex(),
            state.new.thumbprint,
            state
                .new
                .location
                .as_ref()
                .map(|l| format!(", {}", flags_for(l)))
                .unwrap_or_default()
        );
    }
    if !args.remove_old
        && let Some(after) = state.remove_after.as_deref()
        && now_rfc3339().as_str() < after
    {
        println!(
            "The old key {} stays registered until {after}; nothing to do yet.",
            state.old.thumbprint
        );
        eprintln!(
            "exorun: run `exorun cert rotate --finish{}` after {after}, or add --remove-old to remove it now",
            again_flags(&state)
        );
        return Ok(ExitCode::SUCCESS);
    }
    finish(&lock, &audit, &mut state, &current, connection).await
}

/// Step 1: the new certificate, written where the current one lives and
/// protected by the same password, so that only the profile's pointer has
/// to change.
fn create(
    args: &RotateArgs,
    current: &Certificate,
    source: &CertificateSource,
    organization: &str,
    app_id: &str,
    profile: Option<String>,
) -> anyhow::Result<Rotation> {
    let (old_location, format) = match source {
        CertificateSource::Pfx { path, .. } => (Location::File { path: path.clone() }, Format::Pfx),
        CertificateSource::Pem { path, .. } => (Location::File { path: path.clone() }, Format::Pem),
        CertificateSource::PemPair { cert, .. } => {
            (Location::File { path: cert.clone() }, Format::Pem)
        }
        CertificateSource::Store {
            dir, thumbprint, ..
        } => (
            Location::Store {
                dir: dir.clone(),
                thumbprint: thumbprint.clone(),
            },
            Format::Pfx,
        ),
        CertificateSource::Loaded(_) => bail!("a certificate loaded in memory cannot be rotated"),
    };
    // A PFX needs a password; without one the new key goes into a PEM.
    let password = source.password().filter(|p| !p.is_empty()).cloned();
    let format = if password.is_none() {
        Format::Pem
    } else {
        format
    };
    let made = generate_self_signed_with_password(
        current.subject(),
        args.days,
        args.bits,
        password.as_ref(),
    )
    .or_else(|_| {
        generate_self_signed_with_password(
            &format!("CN=exorun-{app_id}"),
            args.days,
            args.bits,
            password.as_ref(),
        )
    })?;
    let thumbprint = made.certificate.thumbprint_sha1_hex();
    let extension = match format {
        Format::Pfx => "pfx",
        Format::Pem => "pem",
    };
    let bytes = match format {
        Format::Pfx => made.pfx.expose(),
        Format::Pem => made.pem.expose(),
    };
    let new_location = match (&args.out, &old_location) {
        (Some(dir), _) => {
            profiles::create_private_dir(dir, "the folder for the new certificate")?;
            Location::File {
                path: dir.join(format!("exorun-app-{}.{extension}", &thumbprint[..8])),
            }
        }
        (None, Location::Store { dir, .. }) => Location::Store {
            dir: dir.clone(),
            thumbprint: thumbprint.clone(),
        },
        (None, Location::File { path }) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("exorun-app");
            // Drop an earlier rotation's suffix, so names do not grow.
            let stem = match stem.rsplit_once('-') {
                Some((base, tail))
                    if tail.len() == 8 && tail.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    base
                }
                _ => stem,
            };
            Location::File {
                path: path.with_file_name(format!("{stem}-{}.{extension}", &thumbprint[..8])),
            }
        }
    };
    let file = match &new_location {
        Location::Store { dir, thumbprint } => dir.join(format!("{thumbprint}.{extension}")),
        Location::File { path } => path.clone(),
    };
    write_private(&file, bytes)?;
    let now = now_rfc3339();
    Ok(Rotation {
        id: uuid::Uuid::new_v4().to_string(),
        organization: organization.to_owned(),
        app_id: app_id.to_owned(),
        profile,
        object_id: None,
        old: Key {
            thumbprint: current.thumbprint_sha1_hex(),
            key_id: None,
            location: Some(old_location),
            not_after: Some(rfc3339(current.not_after())),
        },
        new: Key {
            thumbprint,
            key_id: None,
            location: Some(new_location),
            not_after: Some(rfc3339(made.certificate.not_after())),
        },
        step: Step::Created,
        started: now,
        switched: None,
        remove_after: None,
        overlap_seconds: args.overlap.as_secs(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Pfx,
    Pem,
}

/// The new certificate, read back from where step 1 wrote it.
fn load_new(state: &Rotation, source: &CertificateSource) -> anyhow::Result<Arc<Certificate>> {
    let password = source.password();
    let location = state
        .new
        .location
        .as_ref()
        .context("the rotation state does not say where the new certificate is")?;
    let certificate = match location {
        Location::Store { dir, thumbprint } => Certificate::from_store(dir, thumbprint, password),
        Location::File { path } if tenant::is_pfx(path) => {
            Certificate::from_pfx_file(path, password.unwrap_or(&SecretString::new(String::new())))
        }
        Location::File { path } => Certificate::from_pem_file(path, password),
    }
    .with_context(|| {
        format!(
            "loading the new certificate {} that this rotation created",
            state.new.thumbprint
        )
    })?;
    Ok(Arc::new(certificate))
}

/// Step 2: the new public key on the app, unless a run that stopped after
/// `addKey` already put it there.
async fn add(
    graph: &GraphClient,
    state: &mut Rotation,
    current: &Certificate,
    new: &Certificate,
    app_id: &str,
) -> anyhow::Result<()> {
    let application = graph
        .application(app_id)
        .await
        .map_err(explain_graph)
        .context("reading the app registration's keys from Microsoft Graph")?;
    state.object_id = Some(application.id.clone());
    state.old.key_id = application
        .key_credentials
        .iter()
        .find(|k| k.is_certificate(&state.old.thumbprint))
        .map(|k| k.key_id.clone());
    if let Some(present) = application
        .key_credentials
        .iter()
        .find(|k| k.is_certificate(&state.new.thumbprint))
    {
        state.new.key_id = Some(present.key_id.clone());
    } else {
        let added = graph
            .add_key(app_id, &application.id, new, current)
            .await
            .map_err(explain_graph)
            .context("registering the new key with addKey")?;
        state.new.key_id = Some(added.key_id);
    }
    state.step = Step::Added;
    Ok(())
}

/// Step 3: Entra signs the new certificate in.
async fn verify(connection: &Connection, new: &Arc<Certificate>) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match connection.sign_in_with(Arc::clone(new)).await {
            Ok(claims) if claims.roles.iter().any(|r| r == "Exchange.ManageAsApp") => {
                return Ok(());
            }
            Ok(_) => bail!(
                "Entra signed the new certificate in, but the token has no Exchange.ManageAsApp role"
            ),
            Err(e) if attempt < VERIFY_ATTEMPTS => {
                tracing::info!(error = %e, "the new key is not accepted yet; trying again");
                tokio::time::sleep(VERIFY_PAUSE).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(
                    "Entra does not sign the new certificate in yet (a new key can take a few minutes to be accepted)",
                ));
            }
        }
    }
}

/// Step 4: the profile points at the new certificate.
fn switch(state: &mut Rotation) -> anyhow::Result<()> {
    if let (Some(profile), Some(location)) = (&state.profile, &state.new.location) {
        let to = match location {
            Location::Store { thumbprint, .. } => CertificateSwitch::Thumbprint(thumbprint),
            Location::File { path } => CertificateSwitch::File(path),
        };
        profiles::switch_certificate(profile, to)?;
    }
    let now = SystemTime::now();
    state.switched = Some(rfc3339(now));
    state.remove_after = Some(rfc3339(now + Duration::from_secs(state.overlap_seconds)));
    state.step = Step::Switched;
    Ok(())
}

/// Step 5: the old key goes, proved with the new one; the state is done.
async fn finish(
    lock: &Locked,
    audit: &Auditor,
    state: &mut Rotation,
    new: &Certificate,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let graph = connection.graph(Arc::new(new.clone()))?;
    let removed = remove_old(&graph, state, new)
        .await
        .map_err(|e| audit.failed(state, "removeKey", e))?;
    audit.step(
        state,
        "key-removed",
        Some(&state.old.thumbprint),
        state.old.key_id.as_deref(),
        if removed {
            "removeKey: the old key is no longer registered".to_owned()
        } else {
            "the old key was already gone from the app registration".to_owned()
        },
    )?;
    lock.remove()?;
    println!("Removed old key    {}", state.old.thumbprint);
    println!("Rotation complete  {}", state.new.thumbprint);
    if let Some(Location::File { path }) = &state.old.location {
        eprintln!(
            "exorun: the old certificate's file {} can no longer sign in; delete it",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `removeKey` for the old key; `false` when it was already gone (a run
/// that stopped after removing it, or an admin in the portal).
async fn remove_old(
    graph: &GraphClient,
    state: &mut Rotation,
    new: &Certificate,
) -> anyhow::Result<bool> {
    let application = graph
        .application(&state.app_id)
        .await
        .map_err(explain_graph)
        .context("reading the app registration's keys from Microsoft Graph")?;
    let Some(old) = application
        .key_credentials
        .iter()
        .find(|k| k.is_certificate(&state.old.thumbprint))
    else {
        return Ok(false);
    };
    if !application
        .key_credentials
        .iter()
        .any(|k| k.is_certificate(&state.new.thumbprint))
    {
        bail!(
            "the new certificate {} is not registered on the app any more, so the old key {} is the only one that signs in: it is kept; check the app registration's certificates",
            state.new.thumbprint,
            state.old.thumbprint
        );
    }
    state.old.key_id = Some(old.key_id.clone());
    graph
        .remove_key(&state.app_id, &application.id, &old.key_id, new)
        .await
        .map_err(explain_graph)
        .context("removing the old key with removeKey")?;
    Ok(true)
}

/// Graph errors with what the admin can do about the common ones.
fn explain_graph(error: GraphError) -> anyhow::Error {
    let hint = match &error {
        GraphError::Service { status: 403, .. } => Some(
            "reading the app registration needs the Graph application permission Application.ReadWrite.OwnedBy with the app made an owner of its own registration (or Application.Read.All), granted by an admin",
        ),
        GraphError::Service {
            status: 400,
            message,
            ..
        } if message.to_ascii_lowercase().contains("proof") => Some(
            "Graph refused the proof of possession: the certificate signing it must be registered on the app and still valid",
        ),
        e if e.is_transient() => Some("Microsoft Graph is unavailable; try again later"),
        _ => None,
    };
    let error = anyhow::Error::new(error);
    match hint {
        Some(hint) => error.context(hint),
        None => error,
    }
}

/// A certificate that has already expired cannot sign Graph's proof:
/// what to do by hand instead.
fn explain_expired(error: anyhow::Error) -> anyhow::Error {
    let expired = error
        .chain()
        .find_map(|e| match e.downcast_ref::<ConnectError>() {
            Some(ConnectError::Certificate(CertificateError::Expired {
                thumbprint,
                not_after,
                ..
            })) => Some((thumbprint.clone(), not_after.clone())),
            _ => None,
        });
    match expired {
        Some((thumbprint, not_after)) => anyhow::anyhow!(
            "the current certificate {thumbprint} expired on {not_after}, so Microsoft Graph will not accept its proof of possession and exorun cannot rotate it. By hand: (1) `exorun cert new --subject CN=... --out DIR`; (2) upload DIR/exorun-app.cer in the Entra admin center under App registrations › the app › Certificates & secrets (or with Update-MgApplication -KeyCredentials), by an admin; (3) `exorun cert import DIR/exorun-app.pfx` and point the profile's certificate-thumbprint at the new thumbprint; (4) delete the expired certificate {thumbprint} there. Rotate with `exorun cert rotate` before the next expiry"
        ),
        None => error,
    }
}

/// Appends the rotation's steps to the audit trail; every step of one
/// rotation shares its id as `runId`.
struct Auditor {
    path: PathBuf,
    organization: String,
    app_id: String,
}

impl Auditor {
    fn step(
        &self,
        state: &Rotation,
        action: &str,
        certificate: Option<&str>,
        key_id: Option<&str>,
        message: String,
    ) -> anyhow::Result<()> {
        let mut run = RunInfo::new(
            PluginRef {
                name: "exorun cert rotate".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                sha256: String::new(),
            },
            self.organization.clone(),
            self.app_id.clone(),
        );
        run.run_id = state.id.clone();
        let event = Event::Credential(CredentialEvent {
            action: action.to_owned(),
            certificate: certificate.map(str::to_owned),
            key_id: key_id.map(str::to_owned),
            message: Some(message),
        });
        crate::sharing::append_audit(&self.path, &run, &event)
    }

    /// Audits a failed step and says how to go on; the state stays at the
    /// last step done, so the same command resumes.
    fn failed(&self, state: &Rotation, doing: &str, error: anyhow::Error) -> anyhow::Error {
        let message = format!("{doing} failed: {error:#}");
        if let Err(audit_error) = self.step(
            state,
            "rotate-failed",
            Some(&state.new.thumbprint),
            None,
            message,
        ) {
            tracing::warn!(error = %audit_error, "the failed step could not be audited");
        }
        let next = if state.step >= Step::Switched {
            format!(
                "the profile already uses the new certificate and the old key is still registered: run `exorun cert rotate --finish --remove-old{}` once the cause is fixed",
                again_flags(state)
            )
        } else {
            format!(
                "the rotation stopped after '{}' and nothing uses the new certificate yet: run `exorun cert rotate{}` again to resume it",
                step_name(state.step),
                again_flags(state)
            )
        };
        error.context(next)
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Created => "new certificate created",
        Step::Added => "new key registered",
        Step::Verified => "new key verified",
        Step::Switched => "profile switched",
    }
}

/// ` --profile P` for the next command's text.
fn again_flags(state: &Rotation) -> String {
    state
        .profile
        .as_ref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default()
}

/// The flags that name a certificate at `location`.
fn flags_for(location: &Location) -> String {
    match location {
        Location::Store { dir, thumbprint } => format!(
            "--certificate-thumbprint {thumbprint} --certificate-store {}",
            dir.display()
        ),
        Location::File { path } => format!("--certificate-file-path {}", path.display()),
    }
}

fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}
