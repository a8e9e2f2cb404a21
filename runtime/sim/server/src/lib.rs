//! `exorun-sim`: a simulated Microsoft 365 tenant over HTTPS.
//!
//! One loopback HTTPS server speaks the real wire protocols (see
//! `docs/protocol.md`):
//!
//! - **Entra ID**: OpenID configuration, instance discovery, JWKS, and the
//!   v1/v2 token endpoints with certificate client assertions, validated in
//!   the documented order and refused with real AADSTS error shapes;
//! - **Exchange Online**: `POST /adminapi/beta/{tenant}/InvokeCommand` with
//!   bearer validation, the OData envelope, paging by skip token, per-app
//!   throttling and fault injection, running cmdlets on an
//!   [`exorun_sim_tenant::Tenant`];
//! - **Microsoft Graph**, the part certificate rotation needs: an
//!   application's `keyCredentials`, `addKey` and `removeKey` with a proof
//!   of possession (`graph`).
//!
//! With [`SimConfig::managed_identity`] a second, plain-HTTP loopback
//! listener serves the **managed identity** endpoints (`identity`).
//!
//! Real clients (msal, azure-identity, requests, exorun's own client) are
//! pointed at it with the CA written to `state_dir/ca.pem`.
//!
//! # Endpoints (one port, `127.0.0.1` only)
//!
//! | Method | Path | |
//! |---|---|---|
//! | GET | `/{tenant}/v2.0/.well-known/openid-configuration` | v2 discovery (`{tenant}`: GUID or any domain) |
//! | GET | `/{tenant}/.well-known/openid-configuration` | v1 discovery |
//! | GET | `/common/discovery/instance` | instance discovery (`tenant_discovery_endpoint`) |
//! | GET | `/{tenant}/discovery/v2.0/keys`, `/common/discovery/keys` | JWKS of the signing key |
//! | POST | `/{tenant}/oauth2/v2.0/token` | client credentials, `scope=…/.default` |
//! | POST | `/{tenant}/oauth2/token` | v1, `resource=…` |
//! | POST | `/adminapi/beta/{tenant}/InvokeCommand[?$skiptoken=…]` | cmdlets (`{tenant}`: GUID or `*.onmicrosoft.com`) |
//! | GET | `/v1.0/applications/{object-id}`, `/v1.0/applications(appId='{app-id}')` | Microsoft Graph: the application and its `keyCredentials` |
//! | POST | `…/addKey`, `…/removeKey` | Graph: roll the app's keys, with a proof of possession |
//! | GET, POST | `/_sim/faults` | read or replace the [`FaultConfig`] (loopback peers, `Authorization: Bearer {control_key}`) |
//! | GET | `/_sim/stats` | request counters: token, InvokeCommand, answered 429, Graph, managed identity (same access rule) |
//!
//! Anything else is a 404 (405 for a known path) with a JSON body; another
//! `/v1.0/…` segment is Graph's `400 BadRequest`.
//!
//! The Graph paths also take `applications(appId=%27{app-id}%27)`; the
//! bearer token must be one of this tenant's for `https://graph.microsoft.com`.
//!
//! With [`SimConfig::managed_identity`], a second listener, plain HTTP on
//! its own loopback port as on Azure (`SimInfo::imds_base`):
//!
//! | Method | Path | |
//! |---|---|---|
//! | GET | `/msi/token?resource=R&api-version=2019-08-01[&client_id=ID]` | App Service, Functions, Automation; header `X-IDENTITY-HEADER: {SimInfo::identity_header}` |
//! | GET | `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=ID]` | VM instance metadata (IMDS); header `Metadata: true` |
//!
//! # Choices where the real behaviour is not known (docs/protocol.md)
//!
//! Each is also stated where it is implemented.
//!
//! - Token statuses: 401 for every `invalid_client` error (bad secret
//!   7000215, no credential 7000218, unknown key 700027, as public captures
//!   show), 503 for the simulated outage (`temporarily_unavailable`,
//!   AADSTS90024), 400 for the rest.
//! - Tokens for Exchange Online and for Microsoft Graph (`roles`: the app's
//!   Graph application permissions); `iat`/`nbf` backdated five minutes, a
//!   life of 60 to 90 minutes ([`TokenLifetime`]).
//! - `iss` ≠ `client_id` and `sub` ≠ `iss` both give AADSTS50048 (Microsoft
//!   names one code for both checks); an unsupported `alg` (`none`, HS256) and a
//!   missing `exp` are AADSTS50027 (malformed); a wrong
//!   `client_assertion_type` is AADSTS7000219; a bad signature is
//!   AADSTS700027 with an invented "[Reason - The provided signature value
//!   did not match …]" text.
//! - `aud`: by default any token URL of the tenant on this server (v1 or
//!   v2, GUID or domain, `127.0.0.1` or `localhost`);
//!   [`AudiencePolicy::ExactRequestUrl`] demands the URL posted to.
//!   `/common` and the real cloud's host never match.
//! - Only `x5c` (no thumbprint): the leaf's SHA-256 is looked up (SN+I
//!   trust is not simulated).
//! - A client assertion may be used again while it is valid, as every
//!   Microsoft client library does ([`AssertionReuse`]); the strict
//!   [`AssertionReuse::Refused`] answers a reused `jti` with AADSTS50027,
//!   checked after the signature.
//! - Missing admin consent: a token is issued without `roles`; Exchange
//!   answers it with 401.
//! - Exchange 401 diagnostics other than the captured audience text are
//!   invented (marked in `exchange::bearer`); 401 bodies are empty and
//!   carry no `Rate-Limit-*` headers (the app is not known yet); every
//!   later answer does.
//! - `X-AnchorMailbox` is required by default
//!   ([`SimConfig::require_anchor_mailbox`]); errors use the Outlook REST
//!   `ErrorIncorrectRoutingHint` shape.
//! - Paging: `@adminapi.warnings` come with the first page only; a skip
//!   token is bound to the app and URL tenant, lives 10 minutes, survives
//!   reuse (so a client retries a dropped page), and the body of a next-page
//!   request is not re-run; `odata.maxpagesize` above 1000 is capped, 0 or
//!   junk is ignored.
//! - Content types: InvokeCommand wants `application/json` (else 415); the
//!   token endpoint reads only url-encoded forms (any other body reads as
//!   empty, hence AADSTS900144).
//! - Graph: an app rolls its own keys with no Graph permission (as
//!   documented); reading an application needs `Application.Read.All`,
//!   `Application.ReadWrite.All`, or `Application.ReadWrite.OwnedBy` as an
//!   owner, and every registration starts as its own owner. Refusals of a
//!   proof of possession are `400 Request_BadRequest` with a text naming
//!   the failed check; a duplicate key, removing the proof's own key and an
//!   unknown key id have invented texts; `customKeyIdentifier` is the
//!   certificate's SHA-1 in upper-case hex.
//! - Graph bearer refusals (`401 InvalidAuthenticationToken`): "Access
//!   token is empty.", the invalid-audience and expired texts are Graph's;
//!   one invented text covers a malformed token and a bad signature, another
//!   a token of another tenant. `$select` ignores properties it does not
//!   serve. A body that is not a JSON object is `400 BadRequest` with an
//!   invented text; `addKey` with a `passwordCredential` is refused (400,
//!   not simulated); an expired certificate cannot be added (a future one
//!   can); an unknown `keyId` is `404 Request_ResourceNotFound`.
//! - Graph outage (`FaultConfig::graph_outage_after`): `503
//!   serviceNotAvailable` with `Retry-After: 1`.
//! - Managed identity: App Service's error bodies
//!   (`{"statusCode","message"}`) and its refusal of a wrong secret (401)
//!   are invented, and only `api-version=2019-08-01` is served there; IMDS
//!   takes any `api-version` date from 2018-02-01 on. IMDS's texts
//!   ("Required metadata header not specified", "Identity not found",
//!   "Required query variable 'resource' is missing") are the real ones,
//!   and both forms use them. An unknown resource is `400 invalid_resource`
//!   with AADSTS500011's text; a disabled identity `400
//!   unauthorized_client` (AADSTS7000112). Tokens live a day. A managed
//!   identity has no key credentials: a client assertion for it is refused
//!   with AADSTS700027, and Graph has no application object for it (404).
//! - [`RunningSim::mint_access_token`] for an audience the tenant does not
//!   know issues a token without `roles`.

#![forbid(unsafe_code)]

mod admin;
mod bearer_token;
mod certificates;
mod client_certificate;
mod clock;
mod config;
pub mod directory;
mod entra;
mod error;
mod exchange;
mod faults;
mod files;
mod graph;
mod http_util;
mod identity;
mod server;
mod signing_key;
mod state;
mod tls;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{
    AssertionReuse, AudiencePolicy, SimConfig, TenantSource, ThrottleConfig, TokenLifetime,
};
pub use directory::{AppRegistration, Consent, Directory, DirectoryError, ManagedIdentityKind};
pub use error::SimError;
pub use exorun_sim_tenant::Tenant;
pub use faults::{FaultConfig, FaultHandle};
pub use tls::{LoopbackTls, write_loopback_tls};

use crate::entra::EntraState;
use crate::entra::replay::ReplayGuard;
use crate::exchange::ExchangeState;
use crate::exchange::bearer::BearerValidator;
use crate::exchange::paging::PageCache;
use crate::exchange::throttle::Throttle;
use crate::signing_key::SigningKey;
use crate::state::{Counters, Shared};

/// The scope a client asks for (v2).
pub const EXCHANGE_SCOPE: &str = "https://outlook.office365.com/.default";

/// How clients reach a running simulator; printed by `exorun sim` as one
/// JSON line.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SimInfo {
    /// msal `authority`: `https://127.0.0.1:PORT/{tenantId}`.
    pub authority: String,
    /// Login host base, the azure-identity `authority`: `https://127.0.0.1:PORT`.
    pub login_base: String,
    /// Exchange base URL (`{exchange_base}/adminapi/beta/{tenant}/InvokeCommand`).
    pub exchange_base: String,
    /// The full InvokeCommand URL with the tenant GUID.
    pub invoke_command_url: String,
    pub token_scope: String,
    pub port: u16,
    pub tenant_id: String,
    pub tenant_display_name: String,
    pub initial_domain: String,
    /// The default app's client id.
    pub app_id: String,
    /// The CA to trust (`verify=`, `connection_verify=`).
    pub ca_pem: PathBuf,
    pub client_certificate_pfx: PathBuf,
    pub client_certificate_pfx_password: String,
    /// Certificate then PKCS#8 private key.
    pub client_certificate_pem: PathBuf,
    /// DER certificate.
    pub client_certificate_cer: PathBuf,
    /// SHA-1 thumbprint, upper-case hex as the portal shows it.
    pub client_certificate_thumbprint: String,
    /// SHA-256 thumbprint, upper-case hex.
    pub client_certificate_thumbprint_sha256: String,
    /// The key `/_sim/faults` wants as `Authorization: Bearer {key}`: the
    /// tenant's port is open to every local user, its fault switch is not.
    pub control_key: String,
    /// Microsoft Graph base (`{graph_base}/v1.0/applications…`): the same
    /// server.
    pub graph_base: String,
    /// The default app's application object id (a key proof's `iss`).
    pub application_object_id: String,
    /// With [`SimConfig::managed_identity`]: the App Service endpoint,
    /// `http://127.0.0.1:P/msi/token` (what `IDENTITY_ENDPOINT` holds on
    /// Azure). `None` otherwise, as for the three fields below.
    pub identity_endpoint: Option<String>,
    /// The secret `X-IDENTITY-HEADER` must carry (`IDENTITY_HEADER`), new
    /// every start.
    pub identity_header: Option<String>,
    /// Where IMDS answers, `http://127.0.0.1:P` (what
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` names).
    pub imds_base: Option<String>,
    /// The system-assigned identity's client id.
    pub managed_identity_client_id: Option<String>,
}

/// A simulator serving in the background of the current Tokio runtime.
pub struct RunningSim {
    pub info: SimInfo,
    pub tenant: Arc<Tenant>,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    identity_task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// Switches fault injection at run time.
    pub fn faults(&self) -> FaultHandle {
        self.state.faults.clone()
    }

    /// The Entra directory: register apps and certificates, change roles,
    /// consent and the disabled flag at run time.
    pub fn directory(&self) -> Directory {
        self.state.directory.clone()
    }

    /// Requests to the token endpoints so far (v1 and v2, any outcome).
    pub fn token_requests(&self) -> u64 {
        self.state.counters.token_requests()
    }

    /// Requests to InvokeCommand so far (any outcome, pages included).
    pub fn invoke_requests(&self) -> u64 {
        self.state.counters.invoke_requests()
    }

    /// InvokeCommand requests answered with a 429 so far.
    pub fn throttled_requests(&self) -> u64 {
        self.state.counters.throttled()
    }

    /// Microsoft Graph requests so far (any outcome).
    pub fn graph_requests(&self) -> u64 {
        self.state.counters.graph_requests()
    }

    /// Managed identity endpoint requests so far (any outcome).
    pub fn identity_requests(&self) -> u64 {
        self.state.counters.identity_requests()
    }

    /// A token signed by this tenant's key for the registered app (or
    /// managed identity) `app_id`, with `aud` = `audience` and an `exp`
    /// `expires_in_seconds` from now (negative: already expired), otherwise
    /// the claims the token endpoint issues: tests of `--access-token` need
    /// a valid token, an expired one and one for another audience without
    /// driving a sign-in. `roles` follow the audience as at the token
    /// endpoint (Exchange: `Exchange.ManageAsApp`; Graph: the app's Graph
    /// permissions; an audience the tenant does not know: none); `iat` and
    /// `nbf` are five minutes before now, or before `exp` when that is
    /// earlier. Fails for an id no app or identity has.
    pub fn mint_access_token(
        &self,
        audience: &str,
        app_id: &str,
        expires_in_seconds: i64,
    ) -> Result<String, SimError> {
        let app = self
            .state
            .directory
            .app(app_id)
            .ok_or_else(|| SimError::Internal(format!("no app {app_id} is registered")))?;
        let now = clock::unix_now();
        let expires = now.saturating_add(expires_in_seconds);
        entra::access_token::sign_access_token(
            &self.state,
            audience,
            entra::resource::Resource::named(audience),
            &app,
            now.min(expires).saturating_sub(300),
            expires,
        )
        .map_err(SimError::Internal)
    }

    /// Stops accepting, closes every connection and waits for the server.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
        if let Some(task) = self.identity_task {
            let _ = task.await;
        }
    }
}

/// The blocking part of start-up: tenant, certificates and keys.
struct Prepared {
    tenant: Arc<Tenant>,
    tls: tls::ServerTls,
    client: client_certificate::ClientCertificate,
    signing_key: SigningKey,
    directory: Directory,
}

fn prepare(config: &SimConfig) -> Result<Prepared, SimError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|source| SimError::Write {
        path: config.state_dir.clone(),
        source,
    })?;
    let tenant = match &config.tenant {
        TenantSource::Generate { mailboxes, seed } => {
            Tenant::generate(&exorun_sim_tenant::GenerateOptions {
                mailboxes: *mailboxes,
                seed: *seed,
            })
        }
        TenantSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
                path: path.clone(),
                source,
            })?;
            Tenant::from_json(&text).map_err(|e| SimError::TenantFile {
                path: path.clone(),
                message: e.to_string(),
            })?
        }
    };
    let info = tenant.info();
    let tls = tls::create(&config.state_dir)?;
    let client = client_certificate::create(&config.state_dir, config.key_dir.as_deref())?;
    let signing_key = SigningKey::generate(config.key_dir.as_deref())?;

    let mut app = AppRegistration::new(
        "exorun simulator app",
        &[directory::roles::EXCHANGE_ADMINISTRATOR],
    );
    // The same tenant always has the same app, so saved connection
    // profiles stay valid across restarts.
    app.app_id = match &config.app_id {
        Some(id) => uuid::Uuid::parse_str(id.trim())
            .map_err(|_| SimError::AppId(id.clone()))?
            .to_string(),
        None => stable_id(&info.id, "app"),
    };
    app.service_principal_id = stable_id(&info.id, &format!("service-principal/{}", app.app_id));
    app.object_id = stable_id(&info.id, &format!("application/{}", app.app_id));
    app.owners = vec![app.service_principal_id.clone()];
    let client_der = client
        .certificate
        .to_der()
        .map_err(|source| SimError::OpenSsl {
            doing: "encoding the client certificate",
            source,
        })?;
    let bad_cert = |path: &PathBuf, e: DirectoryError| SimError::Certificate {
        path: path.clone(),
        message: e.to_string(),
    };
    app.certificates.push(
        directory::RegisteredCertificate::from_der_or_pem(&client_der)
            .map_err(|e| bad_cert(&client.cer_path, e))?,
    );
    for path in &config.extra_app_certificates {
        let bytes = std::fs::read(path).map_err(|source| SimError::Read {
            path: path.clone(),
            source,
        })?;
        app.certificates.push(
            directory::RegisteredCertificate::from_der_or_pem(&bytes)
                .map_err(|e| bad_cert(path, e))?,
        );
    }
    let mut domains = info.accepted_domains.clone();
    for d in [&info.initial_domain, &info.default_domain] {
        if !domains.iter().any(|x| x.eq_ignore_ascii_case(d)) {
            domains.push(d.clone());
        }
    }
    let directory = Directory::new(
        &info.id,
        &info.display_name,
        &info.initial_domain,
        domains,
        app,
    );
    if config.managed_identity {
        let mut identity = AppRegistration::managed_identity(
            "exorun simulator managed identity",
            directory::ManagedIdentityKind::SystemAssigned,
            &[directory::roles::EXCHANGE_ADMINISTRATOR],
        );
        identity.app_id = stable_id(&info.id, "managed-identity/system");
        identity.service_principal_id = stable_id(&info.id, "managed-identity/system/sp");
        identity.object_id = stable_id(&info.id, "managed-identity/system/object");
        directory.register_app(identity);
    }
    Ok(Prepared {
        tenant: Arc::new(tenant),
        tls,
        client,
        signing_key,
        directory,
    })
}

/// A GUID derived from the tenant id and a purpose (UUID v5).
fn stable_id(tenant_id: &str, purpose: &str) -> String {
    let namespace = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"https://exorun.dev/sim");
    uuid::Uuid::new_v5(&namespace, format!("{tenant_id}/{purpose}").as_bytes()).to_string()
}

/// How long a `$skiptoken` stays usable, and how many are kept.
const SKIP_TOKEN_TTL: Duration = Duration::from_secs(600);
const SKIP_TOKEN_CAPACITY: usize = 4096;
/// Remembered assertion ids (replay protection) and verified bearer tokens.
const REPLAY_CAPACITY: usize = 100_000;
const BEARER_CACHE_CAPACITY: usize = 4096;

/// Starts a simulator on `127.0.0.1:{config.port}` in the current runtime.
pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)))
        .await
        .map_err(|source| SimError::Listen {
            port: config.port,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| SimError::Listen {
            port: config.port,
            source,
        })?
        .port();
    let config = Arc::new(config);
    let prepared = {
        let config = Arc::clone(&config);
        tokio::task::spawn_blocking(move || prepare(&config))
            .await
            .map_err(|e| SimError::Internal(e.to_string()))??
    };

    let state = Arc::new(Shared {
        port,
        directory: prepared.directory.clone(),
        tenant: Arc::clone(&prepared.tenant),
        signing_key: prepared.signing_key,
        faults: FaultHandle::new(config.faults.clone(), config.seed),
        counters: Counters::default(),
        control_key: admin::new_control_key(),
    });
    let entra = Arc::new(EntraState {
        shared: Arc::clone(&state),
        token_lifetime: config.token_lifetime,
        assertion_reuse: config.assertion_reuse,
        audience_policy: config.audience_policy,
        replay: ReplayGuard::new(REPLAY_CAPACITY),
    });
    let exchange = Arc::new(ExchangeState {
        shared: Arc::clone(&state),
        require_anchor_mailbox: config.require_anchor_mailbox,
        bearer: BearerValidator::new(BEARER_CACHE_CAPACITY),
        throttle: Throttle::new(config.throttle),
        pages: PageCache::new(SKIP_TOKEN_TTL, SKIP_TOKEN_CAPACITY),
    });

    let app = router(Arc::clone(&state), entra, exchange);
    let shutdown = CancellationToken::new();
    let identity = if config.managed_identity {
        Some(identity::start(Arc::clone(&state), shutdown.clone()).await?)
    } else {
        None
    };
    let task = tokio::spawn(server::serve(
        listener,
        Some(Arc::new(prepared.tls.acceptor)),
        app,
        shutdown.clone(),
    ));

    let base = format!("https://127.0.0.1:{port}");
    let tid = prepared.directory.tenant_id().to_owned();
    let info = SimInfo {
        authority: format!("{base}/{tid}"),
        login_base: base.clone(),
        exchange_base: base.clone(),
        invoke_command_url: format!("{base}/adminapi/beta/{tid}/InvokeCommand"),
        token_scope: EXCHANGE_SCOPE.to_owned(),
        port,
        tenant_id: tid,
        tenant_display_name: prepared.directory.display_name().to_owned(),
        initial_domain: prepared.directory.initial_domain().to_owned(),
        app_id: prepared.directory.default_app_id().to_owned(),
        ca_pem: prepared.tls.ca_pem_path,
        client_certificate_pfx: prepared.client.pfx_path,
        client_certificate_pfx_password: prepared.client.pfx_password,
        client_certificate_pem: prepared.client.pem_path,
        client_certificate_cer: prepared.client.cer_path,
        client_certificate_thumbprint: prepared.client.thumbprints.sha1_hex(),
        client_certificate_thumbprint_sha256: prepared.client.thumbprints.sha256_hex(),
        control_key: state.control_key.clone(),
        graph_base: base.clone(),
        application_object_id: prepared
            .directory
            .app(prepared.directory.default_app_id())
            .map(|a| a.object_id)
            .unwrap_or_default(),
        identity_endpoint: identity
            .as_ref()
            .map(|i| format!("http://127.0.0.1:{}/msi/token", i.port)),
        identity_header: identity.as_ref().map(|i| i.secret.clone()),
        imds_base: identity
            .as_ref()
            .map(|i| format!("http://127.0.0.1:{}", i.port)),
        managed_identity_client_id: prepared.directory.system_identity().map(|a| a.app_id),
    };
    tracing::info!(port, tenant = %info.tenant_id, "simulator listening");
    Ok(RunningSim {
        info,
        tenant: prepared.tenant,
        state,
        shutdown,
        task,
        identity_task: identity.map(|i| i.task),
    })
}

fn router(shared: Arc<Shared>, entra: Arc<EntraState>, exchange: Arc<ExchangeState>) -> Router {
    let admin = Router::new()
        .route(
            "/_sim/faults",
            get(admin::get_faults).post(admin::set_faults),
        )
        .route("/_sim/stats", get(admin::get_stats))
        .with_state(Arc::clone(&shared));
    Router::new()
        .merge(entra::routes(entra))
        .merge(exchange::routes(exchange))
        .merge(graph::routes(Arc::clone(&shared)))
        .merge(admin)
        .fallback(http_util::not_found)
        .method_not_allowed_fallback(http_util::method_not_allowed)
        .layer(axum::middleware::from_fn(http_util::read_body_first))
}
