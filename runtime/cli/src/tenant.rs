//! Which tenant a command talks to, with flags named after
//! Connect-ExchangeOnline. With no connection settings at all: the built-in
//! simulated tenant, started in this process and reached over HTTPS through
//! the same client a real tenant gets, and said plainly, so nobody mistakes
//! simulated results for their own tenant's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use exorun_cmdlet::Backend;
use exorun_exchange::{
    CertificateSource, ConnectOptions, Connection, ExchangeEnvironment, PaceSharing, RetryPolicy,
    SecretString, SignInForm,
};

use crate::profiles;

/// The environment variable that may carry the certificate password.
pub const PASSWORD_ENV: &str = "EXORUN_CERTIFICATE_PASSWORD";

#[derive(clap::Args, Debug, Default)]
pub struct TenantArgs {
    /// A named connection profile from the exorun config file.
    #[arg(long, help_heading = "Connection")]
    profile: Option<String>,
    /// The tenant's primary *.onmicrosoft.com domain (or its GUID).
    #[arg(long, help_heading = "Connection")]
    organization: Option<String>,
    /// The app (client) id of the app registration.
    #[arg(long, help_heading = "Connection")]
    app_id: Option<String>,
    /// The app certificate with its private key: PFX/P12, or PEM.
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    certificate_file_path: Option<PathBuf>,
    /// Read the certificate password from this file (else from
    /// EXORUN_CERTIFICATE_PASSWORD, else a prompt on a terminal).
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    certificate_password_file: Option<PathBuf>,
    /// SHA-1 thumbprint of a certificate in the certificate store folder.
    #[arg(long, help_heading = "Connection")]
    certificate_thumbprint: Option<String>,
    /// Sign in as the platform's managed identity (Azure App Service,
    /// Functions, Automation: IDENTITY_ENDPOINT and IDENTITY_HEADER; a VM:
    /// its metadata service). No app id or certificate.
    #[arg(long, help_heading = "Connection")]
    managed_identity: bool,
    /// The client id of a user-assigned managed identity.
    #[arg(long, value_name = "CLIENT-ID", help_heading = "Connection")]
    managed_identity_account_id: Option<String>,
    /// How long the managed identity endpoint may take to answer, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 20,
        help_heading = "Connection"
    )]
    managed_identity_timeout: u64,
    /// Use the access token in this file (obtained elsewhere; checked for
    /// audience, tenant and expiry, and never renewed). Never on the
    /// command line, where it would land in the process list.
    #[arg(long, value_name = "TOKEN-FILE", help_heading = "Connection")]
    access_token: Option<PathBuf>,
    /// The customer tenant to manage (partner form): tokens are asked of it
    /// and cmdlets sent to it; --organization is the partner's own tenant.
    #[arg(long, help_heading = "Connection")]
    delegated_organization: Option<String>,
    /// Override the Microsoft Graph base URL (for the simulator); used by
    /// `exorun cert rotate`.
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    graph_url: Option<String>,
    /// The certificate store folder searched by --certificate-thumbprint.
    #[arg(long, value_name = "DIR", help_heading = "Connection")]
    certificate_store: Option<PathBuf>,
    /// O365Default, O365USGovGCCHigh, O365USGovDoD or O365China.
    #[arg(long, help_heading = "Connection")]
    exchange_environment_name: Option<String>,
    /// Override the Entra login base URL (for the simulator or a proxy).
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    authority: Option<String>,
    /// Override the Exchange Online base URL (for the simulator or a proxy).
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    exchange_url: Option<String>,
    /// Trust this CA (PEM) in addition to the system's.
    #[arg(long, value_name = "PEM", help_heading = "Connection")]
    ca_file: Option<PathBuf>,
    /// Mailboxes in the built-in simulated tenant (used when no connection is given).
    #[arg(long, default_value_t = 50, help_heading = "Simulated tenant")]
    sim_mailboxes: usize,
    /// Seed of the built-in simulated tenant (same seed, same tenant).
    #[arg(long, default_value_t = 1, help_heading = "Simulated tenant")]
    sim_seed: u64,
    /// The longest one cmdlet call waits out throttling, in seconds, before
    /// the plugin gets `throttled` (the run's own timeout also bounds it).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300,
        help_heading = "Connection"
    )]
    max_throttle_wait: u64,
    /// Share each tenant's budget with every exorun, on any machine, that
    /// names the same NATS JetStream server (the default shares it with
    /// this user's exorun processes on this machine).
    #[arg(
        long,
        value_name = "URL",
        env = "EXORUN_PACE_NATS",
        help_heading = "Connection"
    )]
    pub pace_nats: Option<String>,
}

impl TenantArgs {
    /// A connection profile, by name (`exorun serve`'s `profile = ...`).
    pub fn for_profile(name: &str) -> TenantArgs {
        TenantArgs {
            profile: Some(name.to_owned()),
            managed_identity_timeout: 20,
            sim_mailboxes: 50,
            sim_seed: 1,
            max_throttle_wait: 300,
            ..TenantArgs::default()
        }
    }

    /// A simulated tenant started in this process (`simulated = true`).
    pub fn simulated(mailboxes: usize, seed: u64) -> TenantArgs {
        TenantArgs {
            managed_identity_timeout: 20,
            sim_mailboxes: mailboxes,
            sim_seed: seed,
            max_throttle_wait: 300,
            ..TenantArgs::default()
        }
    }

    /// True when the flags (or a profile) name a tenant, rather than
    /// leaving the built-in simulated one.
    pub fn any_connection_setting(&self) -> bool {
        self.profile.is_some()
            || self.organization.is_some()
            || self.app_id.is_some()
            || self.certificate_file_path.is_some()
            || self.certificate_thumbprint.is_some()
            || self.managed_identity
            || self.access_token.is_some()
    }

    /// The profile these settings name, if any.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }
}

/// A live connection, and what to tell the operator about it.
pub struct Tenant {
    pub connection: Connection,
    pub backend: Arc<dyn Backend>,
    /// The tenant's name for summaries.
    pub name: String,
    /// What to tell the operator before the run.
    pub notice: String,
    /// The app that acts: the connection's app id, or for a managed
    /// identity the client id its token names.
    pub app_id: String,
    /// Where the certificate came from (with its password), when the
    /// connection signs in with one: what `exorun cert rotate` replaces.
    pub certificate_source: Option<CertificateSource>,
    /// Keeps the in-process simulated tenant alive as long as the connection.
    pub _simulator: Option<exorun_sim::RunningSim>,
    /// The simulator's files (its CA and the app's key and PFX), deleted
    /// when the run ends. Declared last so the simulator stops first.
    pub _state_dir: Option<tempfile::TempDir>,
}

impl Tenant {
    /// What a run needs of this connection.
    pub fn target(&self) -> exorun_runner::Target {
        exorun_runner::Target {
            name: self.name.clone(),
            app_id: self.app_id.clone(),
            backend: self.backend.clone(),
        }
    }
}

pub async fn connect(args: &TenantArgs) -> anyhow::Result<Tenant> {
    // Checked here rather than by the argument parser, whose error would
    // repeat the value, password and all.
    if let Some(url) = &args.pace_nats {
        exorun_nats::check_url(url).map_err(|e| anyhow::anyhow!("--pace-nats: {e}"))?;
    }
    if !args.any_connection_setting() {
        return connect_simulated(args).await;
    }
    let mut profile = match &args.profile {
        Some(name) => profiles::load(name)?,
        None => profiles::ProfileFields::default(),
    };
    // A sign-in form on the command line replaces the profile's.
    if args.certificate_file_path.is_some()
        || args.certificate_thumbprint.is_some()
        || args.managed_identity
        || args.access_token.is_some()
    {
        profile.certificate_file_path = None;
        profile.certificate_thumbprint = None;
        profile.managed_identity = None;
        profile.managed_identity_account_id = None;
        profile.access_token_file = None;
    }
    let organization = pick(&args.organization, &profile.organization)
        .context("missing --organization (the tenant's *.onmicrosoft.com domain), on the command line or in the profile")?;
    let managed_identity = args.managed_identity || profile.managed_identity.unwrap_or(false);
    let access_token = pick(&args.access_token, &profile.access_token_file);
    let certificate_given = args.certificate_file_path.is_some()
        || args.certificate_thumbprint.is_some()
        || profile.certificate_file_path.is_some()
        || profile.certificate_thumbprint.is_some();
    let forms = [managed_identity, access_token.is_some(), certificate_given]
        .iter()
        .filter(|f| **f)
        .count();
    if forms > 1 {
        bail!(
            "give one way to sign in: a certificate (--certificate-file-path or --certificate-thumbprint), --managed-identity, or --access-token FILE"
        );
    }
    let account_id = pick(
        &args.managed_identity_account_id,
        &profile.managed_identity_account_id,
    );
    if account_id.is_some() && !managed_identity {
        bail!(
            "--managed-identity-account-id names a user-assigned identity: it goes with --managed-identity"
        );
    }
    let mut certificate_source = None;
    let mut options = if managed_identity {
        ConnectOptions::managed_identity(organization.clone(), account_id)
            .identity_timeout(Duration::from_secs(args.managed_identity_timeout.max(1)))
    } else if let Some(file) = &access_token {
        ConnectOptions::access_token(organization.clone(), read_access_token(file)?)
    } else {
        let (app_id, source) = certificate_source_of(args, &profile)?;
        certificate_source = Some(source.clone());
        ConnectOptions::new(organization.clone(), app_id, source)
    };
    if let Some(delegated) = pick(
        &args.delegated_organization,
        &profile.delegated_organization,
    ) {
        options = options.delegated_organization(delegated);
    }
    if let Some(name) = pick(
        &args.exchange_environment_name,
        &profile.exchange_environment_name,
    ) {
        let environment: ExchangeEnvironment = name
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("--exchange-environment-name")?;
        options = options.environment(environment);
    }
    if let Some(url) = pick(&args.authority, &profile.authority) {
        options = options.authority_url(url);
    }
    if let Some(url) = pick(&args.exchange_url, &profile.exchange_url) {
        options = options.exchange_url(url);
    }
    if let Some(url) = pick(&args.graph_url, &profile.graph_url) {
        options = options.graph_url(url);
    }
    if let Some(ca) = pick(&args.ca_file, &profile.ca_file) {
        options = options.extra_ca_pem(ca);
    }
    let connection = client_settings(options, args).connect()?;
    let app_id = match connection.sign_in_form() {
        // A system-assigned identity's client id is only in its token.
        SignInForm::ManagedIdentity if connection.app_id().is_empty() => connection
            .token_claims()
            .await
            .context("signing in as the managed identity")?
            .appid
            .unwrap_or_else(|| "managed-identity".to_owned()),
        _ => connection.app_id().to_owned(),
    };
    let backend: Arc<dyn Backend> = Arc::new(connection.client());
    let name = connection.target_tenant().to_owned();
    let notice = match connection.delegated_organization() {
        Some(customer) => format!("connecting to {customer} on behalf of {organization}"),
        None => format!("connecting to {organization}"),
    };
    Ok(Tenant {
        connection,
        backend,
        app_id,
        name,
        notice,
        certificate_source,
        _simulator: None,
        _state_dir: None,
    })
}

/// The command line's value, else the profile's.
fn pick<T: Clone>(flag: &Option<T>, from_profile: &Option<T>) -> Option<T> {
    flag.clone().or_else(|| from_profile.clone())
}

/// Reads a `--access-token` file, which must be readable by its owner only.
fn read_access_token(file: &Path) -> anyhow::Result<SecretString> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file)
        .with_context(|| format!("reading the access token file {}", file.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the access token file {} is readable by others (mode {mode:o}): a token is a password for the tenant; run chmod 600 {}",
            file.display(),
            file.display()
        );
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the access token file {}", file.display()))?;
    Ok(SecretString::new(text.trim().to_owned()))
}

/// The certificate forms: a file or a thumbprint in the store, with the
/// app id they go with.
fn certificate_source_of(
    args: &TenantArgs,
    profile: &profiles::ProfileFields,
) -> anyhow::Result<(String, CertificateSource)> {
    let app_id = pick(&args.app_id, &profile.app_id)
        .context("missing --app-id (the app registration's client id), on the command line or in the profile")?;
    let password_file = pick(
        &args.certificate_password_file,
        &profile.certificate_password_file,
    );
    let certificate = match (
        pick(&args.certificate_file_path, &profile.certificate_file_path),
        pick(
            &args.certificate_thumbprint,
            &profile.certificate_thumbprint,
        ),
    ) {
        (Some(_), Some(_)) => {
            bail!("give either --certificate-file-path or --certificate-thumbprint, not both")
        }
        (None, None) => bail!(
            "missing the app certificate: give --certificate-file-path FILE (PFX or PEM) or --certificate-thumbprint HEX"
        ),
        (Some(path), None) if is_pfx(&path) => CertificateSource::Pfx {
            password: password(password_file.as_deref(), true)?
                .unwrap_or_else(|| SecretString::new(String::new())),
            path,
        },
        (Some(path), None) => CertificateSource::Pem {
            password: password(password_file.as_deref(), false)?,
            path,
        },
        (None, Some(thumbprint)) => {
            let dir = pick(&args.certificate_store, &profile.certificate_store)
                .unwrap_or_else(profiles::default_certificate_store);
            if !dir.is_dir() {
                bail!(
                    "the certificate store {} does not exist: put the app certificate there with `exorun cert import FILE` (PFX, or PEM with its key), or name another folder with --certificate-store DIR",
                    dir.display()
                );
            }
            CertificateSource::Store {
                dir,
                thumbprint,
                password: password(password_file.as_deref(), false)?,
            }
        }
    };
    Ok((app_id, certificate))
}

async fn connect_simulated(args: &TenantArgs) -> anyhow::Result<Tenant> {
    // A fresh 0700 folder, removed when the run ends: it holds a private key.
    let state = tempfile::Builder::new()
        .prefix("exorun-sim-")
        .tempdir()
        .context("creating the simulator's private folder")?;
    let state_dir = state.path().to_path_buf();
    let sim = exorun_sim::start(exorun_sim::SimConfig {
        tenant: exorun_sim::TenantSource::Generate {
            mailboxes: args.sim_mailboxes,
            seed: args.sim_seed,
        },
        state_dir,
        // The simulator's RSA keys are kept beside the compile cache:
        // generating them would dominate the start of every run.
        key_dir: exorun_sandbox::CacheConfig::default_dir().map(|d| d.join("sim-keys")),
        ..exorun_sim::SimConfig::default()
    })
    .await
    .context("starting the built-in simulated tenant")?;
    let info = &sim.info;
    let password = SecretString::new(info.client_certificate_pfx_password.clone());
    let connection = ConnectOptions::new(
        info.initial_domain.clone(),
        info.app_id.clone(),
        CertificateSource::Pfx {
            path: PathBuf::from(&info.client_certificate_pfx),
            password,
        },
    )
    .authority_url(info.login_base.clone())
    .exchange_url(info.exchange_base.clone())
    .extra_ca_pem(PathBuf::from(&info.ca_pem))
    .system_proxy(false);
    let connection = client_settings(connection, args)
        .connect()
        .context("connecting to the built-in simulated tenant")?;
    let backend: Arc<dyn Backend> = Arc::new(connection.client());
    Ok(Tenant {
        backend,
        app_id: connection.app_id().to_owned(),
        certificate_source: None,
        name: format!("{} (simulated)", info.initial_domain),
        notice: format!(
            "no connection settings given: running against the built-in SIMULATED tenant {} ({} mailboxes, seed {}) on {}; these results are not from a real tenant",
            info.initial_domain, args.sim_mailboxes, args.sim_seed, info.login_base
        ),
        connection,
        _simulator: Some(sim),
        _state_dir: Some(state),
    })
}

/// What every connection of the CLI shares: the retry rules with the
/// operator's throttling allowance, and pacing shared with the user's other
/// exorun processes, so that concurrent runs spend one budget together.
fn client_settings(options: ConnectOptions, args: &TenantArgs) -> ConnectOptions {
    let options = options.retry_policy(RetryPolicy {
        max_throttle_wait: Duration::from_secs(args.max_throttle_wait),
        ..RetryPolicy::default()
    });
    if let Some(url) = &args.pace_nats {
        match nats_pacing(url) {
            Ok(maker) => return options.pace_sharing(PaceSharing::Store(maker)),
            Err(e) => tracing::warn!(
                url = %url,
                error = %e,
                "cannot start the NATS link for shared pacing; pacing with this machine's processes only"
            ),
        }
    }
    match profiles::pace_dir() {
        Some(dir) => options.pace_sharing(PaceSharing::Folder(dir)),
        None => options,
    }
}

/// One NATS link per URL for the whole process: every connection to every
/// tenant shares it (a store per tenant and app, one key each).
fn nats_pacing(
    url: &str,
) -> std::io::Result<Arc<dyn exorun_exchange::client::limiter::PaceStoreMaker>> {
    static MAKERS: std::sync::LazyLock<
        parking_lot::Mutex<std::collections::HashMap<String, Arc<exorun_nats::NatsPaceMaker>>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut makers = MAKERS.lock();
    if let Some(maker) = makers.get(url) {
        return Ok(maker.clone());
    }
    let maker = Arc::new(exorun_nats::NatsPaceMaker::start(url)?);
    makers.insert(url.to_owned(), maker.clone());
    Ok(maker)
}

pub fn is_pfx(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"))
}

/// The certificate password: from a file, the environment, or a prompt on a
/// terminal; never from the command line, where it would land in the shell
/// history and the process list.
pub fn password(file: Option<&Path>, required: bool) -> anyhow::Result<Option<SecretString>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the certificate password from {}", file.display()))?;
        return Ok(Some(SecretString::new(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        )));
    }
    if let Ok(value) = std::env::var(PASSWORD_ENV) {
        return Ok(Some(SecretString::new(value)));
    }
    if required {
        if std::io::stdin().is_terminal() {
            let value = rpassword::prompt_password("Certificate password: ")
                .context("reading the certificate password from the terminal")?;
            return Ok(Some(SecretString::new(value)));
        }
        bail!(
            "the PFX needs its password: give --certificate-password-file FILE or set {PASSWORD_ENV} (it is never taken on the command line)"
        );
    }
    Ok(None)
}

/// A fresh folder only this user can read: the simulator writes a private
/// key there.
pub fn private_state_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "exorun-sim-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
