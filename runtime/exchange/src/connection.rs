//! `Connect-ExchangeOnline -AppId … -Certificate… -Organization …` for
//! exorun: options in, a ready [`ExchangeClient`] out.
//!
//! Building a connection loads and checks the certificate and wires the
//! process-wide token cache and tenant limiter; it does not sign in. The
//! first call (or [`Connection::token_claims`]) does.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use uuid::Uuid;

use crate::auth::acquire::{TenantLookup, TokenAcquirer};
use crate::auth::assertion::AssertionProfile;
use crate::auth::certificate::{Certificate, CertificateError};
use crate::auth::claims::{TokenClaims, decode_claims};
use crate::auth::cloud::{
    Endpoints, ExchangeEnvironment, cloud_of_exchange, clouds_signing_in_at, login_base, trim_base,
};
use crate::auth::given_token::{Expected, GivenToken};
use crate::auth::managed_identity::{
    DEFAULT_IDENTITY_TIMEOUT, IdentityEndpoint, ManagedIdentityTokens,
};
use crate::auth::token::{AuthError, ClientCredentials};
use crate::auth::token_cache::{TokenCache, TokenCacheKey};
use crate::client::invoke::{ClientInner, DEFAULT_TIMEOUT, ExchangeClient, fixed_headers};
use crate::client::limiter::{LimiterConfig, PaceSharing, TenantLimiter};
use crate::client::paging::MAX_PAGE_SIZE;
use crate::client::retry::RetryPolicy;
use crate::graph::GraphClient;
use crate::secret::SecretString;

/// Where the app certificate comes from.
#[derive(Clone, Debug)]
pub enum CertificateSource {
    /// `-CertificateFilePath` with `-CertificatePassword`.
    Pfx {
        path: PathBuf,
        password: SecretString,
    },
    /// One PEM file with certificate and key (key optionally encrypted).
    Pem {
        path: PathBuf,
        password: Option<SecretString>,
    },
    /// Certificate PEM and key PEM in separate files.
    PemPair {
        cert: PathBuf,
        key: PathBuf,
        password: Option<SecretString>,
    },
    /// `-CertificateThumbprint`: search a folder of PFX/PEM files.
    Store {
        dir: PathBuf,
        thumbprint: String,
        password: Option<SecretString>,
    },
    /// Already loaded.
    Loaded(Arc<Certificate>),
}

impl CertificateSource {
    /// The password the certificate's file is opened with, if any: what a
    /// rotation protects the new certificate's file with, so the same
    /// password file keeps working.
    pub fn password(&self) -> Option<&SecretString> {
        match self {
            CertificateSource::Pfx { password, .. } => Some(password),
            CertificateSource::Pem { password, .. }
            | CertificateSource::PemPair { password, .. }
            | CertificateSource::Store { password, .. } => password.as_ref(),
            CertificateSource::Loaded(_) => None,
        }
    }

    pub fn load(&self) -> Result<Arc<Certificate>, CertificateError> {
        Ok(match self {
            CertificateSource::Pfx { path, password } => {
                Arc::new(Certificate::from_pfx_file(path, password)?)
            }
            CertificateSource::Pem { path, password } => {
                Arc::new(Certificate::from_pem_file(path, password.as_ref())?)
            }
            CertificateSource::PemPair {
                cert,
                key,
                password,
            } => Arc::new(Certificate::from_pem_files(cert, key, password.as_ref())?),
            CertificateSource::Store {
                dir,
                thumbprint,
                password,
            } => Arc::new(Certificate::from_store(dir, thumbprint, password.as_ref())?),
            CertificateSource::Loaded(c) => Arc::clone(c),
        })
    }
}

/// How a connection signs in: the credential forms of
/// `Connect-ExchangeOnline` that run unattended.
#[derive(Clone, Debug)]
pub enum Credential {
    /// `-CertificateFilePath`, `-CertificateThumbprint`, `-Certificate`.
    Certificate(CertificateSource),
    /// `-ManagedIdentity [-ManagedIdentityAccountId ID]`: tokens from the
    /// platform's identity endpoint ([`IdentityEndpoint::from_env`] unless
    /// set with [`ConnectOptions::identity_endpoint`]).
    ManagedIdentity { account_id: Option<String> },
    /// `-AccessToken`: a token obtained elsewhere, used until it expires.
    AccessToken(SecretString),
}

/// Which form a connection signed in with, for what it shows the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInForm {
    Certificate,
    ManagedIdentity,
    AccessToken,
}

/// Why a connection could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("the {what} '{url}' is not a usable URL: {message}")]
    InvalidUrl {
        what: &'static str,
        url: String,
        message: String,
    },
    #[error("the organization '{0}' is not a tenant domain or GUID")]
    InvalidOrganization(String),
    #[error("the app id must not be empty")]
    MissingAppId,
    #[error(
        "the authority {authority} is not the login host of a Microsoft cloud, so which Exchange endpoint accepts its tokens is not known: give the Exchange URL too (--exchange-url; for `exorun sim`, its exchange_base). A token is never sent to the Exchange endpoint of another cloud"
    )]
    ExchangeUrlRequired { authority: String },
    #[error(
        "the authority {authority} signs in to {signs_in_to}, but the Exchange endpoint {exchange} belongs to {exchange_cloud}: a token is never sent to the Exchange endpoint of another cloud. Name the cloud with --exchange-environment-name {signs_in_to}, or give a matching --exchange-url"
    )]
    CloudMismatch {
        authority: String,
        signs_in_to: String,
        exchange: String,
        exchange_cloud: String,
    },
    #[error("cannot use the CA certificate {}: {message}", path.display())]
    CaCertificate { path: PathBuf, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("the access token cannot be used: {0}")]
    AccessToken(String),
    #[error("{0}")]
    ManagedIdentity(String),
    #[error("the delegated organization '{0}' is not a tenant domain or GUID")]
    InvalidDelegatedOrganization(String),
    #[error(
        "this connection signs in with {0:?}; only a certificate can prove possession of the app's keys to Microsoft Graph"
    )]
    NoCertificate(SignInForm),
}

/// Everything `connect` needs, builder style.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    organization: String,
    delegated_organization: Option<String>,
    app_id: String,
    credential: Credential,
    environment: ExchangeEnvironment,
    authority_url: Option<String>,
    exchange_url: Option<String>,
    graph_url: Option<String>,
    identity_endpoint: Option<IdentityEndpoint>,
    identity_timeout: Duration,
    extra_ca_pem: Option<PathBuf>,
    assertion_profile: AssertionProfile,
    retry: RetryPolicy,
    limiter: LimiterConfig,
    pace_sharing: PaceSharing,
    page_size: u64,
    timeout: Duration,
    system_proxy: bool,
}

impl ConnectOptions {
    /// `organization`: the tenant's `*.onmicrosoft.com` domain or its GUID.
    pub fn new(
        organization: impl Into<String>,
        app_id: impl Into<String>,
        certificate: CertificateSource,
    ) -> Self {
        Self::with_credential(organization, app_id, Credential::Certificate(certificate))
    }

    /// `-ManagedIdentity`: no app id or certificate; the identity's client
    /// id (`account_id`) names a user-assigned identity.
    pub fn managed_identity(organization: impl Into<String>, account_id: Option<String>) -> Self {
        let account_id = account_id
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        Self::with_credential(
            organization,
            account_id.clone().unwrap_or_default(),
            Credential::ManagedIdentity { account_id },
        )
    }

    /// `-AccessToken`: the app id is read from the token.
    pub fn access_token(organization: impl Into<String>, token: SecretString) -> Self {
        Self::with_credential(organization, "", Credential::AccessToken(token))
    }

    pub fn with_credential(
        organization: impl Into<String>,
        app_id: impl Into<String>,
        credential: Credential,
    ) -> Self {
        ConnectOptions {
            organization: organization.into().trim().to_owned(),
            delegated_organization: None,
            app_id: app_id.into().trim().to_owned(),
            credential,
            environment: ExchangeEnvironment::default(),
            authority_url: None,
            exchange_url: None,
            graph_url: None,
            identity_endpoint: None,
            identity_timeout: DEFAULT_IDENTITY_TIMEOUT,
            extra_ca_pem: None,
            assertion_profile: AssertionProfile::default(),
            retry: RetryPolicy::default(),
            limiter: LimiterConfig::default(),
            pace_sharing: PaceSharing::default(),
            page_size: MAX_PAGE_SIZE,
            timeout: DEFAULT_TIMEOUT,
            system_proxy: true,
        }
    }

    pub fn environment(mut self, environment: ExchangeEnvironment) -> Self {
        self.environment = environment;
        self
    }

    /// The Entra login host, e.g. `https://127.0.0.1:8443` for the
    /// simulator, with or without a tenant path (MSAL's form,
    /// `https://host/{tenant}`; the path is dropped). The token URL is
    /// `{host}/{organization}/oauth2/v2.0/token`. An authority that is not
    /// a Microsoft cloud's login host needs [`Self::exchange_url`] too.
    pub fn authority_url(mut self, url: impl Into<String>) -> Self {
        self.authority_url = Some(url.into());
        self
    }

    /// Exchange base, before `/adminapi/beta/…`.
    pub fn exchange_url(mut self, url: impl Into<String>) -> Self {
        self.exchange_url = Some(url.into());
        self
    }

    /// `-DelegatedOrganization`: the customer tenant a partner manages.
    /// Tokens are asked of, and cmdlets sent to, that tenant; the
    /// organization stays the partner's own, for the record.
    pub fn delegated_organization(mut self, organization: impl Into<String>) -> Self {
        self.delegated_organization = Some(organization.into().trim().to_owned());
        self
    }

    /// Microsoft Graph base (for the simulator), used by certificate
    /// rotation only.
    pub fn graph_url(mut self, url: impl Into<String>) -> Self {
        self.graph_url = Some(url.into());
        self
    }

    /// Where a managed identity's tokens come from (default: the
    /// environment, as on Azure).
    pub fn identity_endpoint(mut self, endpoint: IdentityEndpoint) -> Self {
        self.identity_endpoint = Some(endpoint);
        self
    }

    /// How long one request to the identity endpoint may take.
    pub fn identity_timeout(mut self, timeout: Duration) -> Self {
        self.identity_timeout = timeout;
        self
    }

    /// A PEM CA to trust in addition to the system's (simulator, TLS proxy).
    pub fn extra_ca_pem(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_ca_pem = Some(path.into());
        self
    }

    pub fn assertion_profile(mut self, profile: AssertionProfile) -> Self {
        self.assertion_profile = profile;
        self
    }

    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn limiter_config(mut self, limiter: LimiterConfig) -> Self {
        self.limiter = limiter;
        self
    }

    /// Who shares the tenant's pacing: this process's runs (the default),
    /// or every process of the user on this machine.
    pub fn pace_sharing(mut self, sharing: PaceSharing) -> Self {
        self.pace_sharing = sharing;
        self
    }

    /// `Connect-ExchangeOnline -PageSize`, 1..=1000.
    pub fn page_size(mut self, page_size: u64) -> Self {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// Default per-request timeout (longer for the cmdlets the module
    /// knows to be slow).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether `HTTPS_PROXY` and friends are honoured (default yes).
    pub fn system_proxy(mut self, enabled: bool) -> Self {
        self.system_proxy = enabled;
        self
    }

    /// The endpoints after overrides.
    pub fn endpoints(&self) -> Endpoints {
        let mut e = Endpoints::for_environment(self.environment);
        if let Some(a) = &self.authority_url {
            e.authority = login_base(a);
        }
        if let Some(x) = &self.exchange_url {
            e.exchange_base = trim_base(x);
        }
        if let Some(g) = &self.graph_url {
            e.graph_base = trim_base(g);
        }
        e
    }

    /// The tenant tokens are asked of and cmdlets sent to.
    fn target_tenant(&self) -> &str {
        self.delegated_organization
            .as_deref()
            .unwrap_or(&self.organization)
    }

    /// Loads the certificate and builds the client. No network traffic.
    pub fn connect(self) -> Result<Connection, ConnectError> {
        if self.app_id.is_empty() && matches!(self.credential, Credential::Certificate(_)) {
            return Err(ConnectError::MissingAppId);
        }
        if !is_tenant_name(&self.organization) {
            return Err(ConnectError::InvalidOrganization(self.organization.clone()));
        }
        if let Some(delegated) = &self.delegated_organization
            && !is_tenant_name(delegated)
        {
            return Err(ConnectError::InvalidDelegatedOrganization(
                delegated.clone(),
            ));
        }
        let tenant = &self.target_tenant().to_owned();
        let endpoints = self.endpoints();
        self.check_same_cloud(&endpoints)?;
        let token_url = endpoints.token_url(tenant);
        let invoke_url = endpoints.invoke_command_url(tenant);
        let parse = |what: &'static str, url: &str| {
            let parsed = Url::parse(url).map_err(|e| ConnectError::InvalidUrl {
                what,
                url: url.to_owned(),
                message: e.to_string(),
            })?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(ConnectError::InvalidUrl {
                    what,
                    url: url.to_owned(),
                    message: "only https (or http for local tests) is supported".to_owned(),
                });
            }
            Ok(parsed)
        };
        parse("authority URL", &token_url)?;
        let invoke = parse("Exchange URL", &invoke_url)?;
        let mut base = invoke.clone();
        base.set_path("/");
        base.set_query(None);

        let http = self.http_client()?;
        let (certificate, app_id, key, acquirer) = match &self.credential {
            Credential::Certificate(source) => {
                let certificate = source.load()?;
                let acquirer = TokenAcquirer::ClientCredentials(ClientCredentials {
                    http: http.clone(),
                    token_url: token_url.clone(),
                    tenant: tenant.clone(),
                    client_id: self.app_id.clone(),
                    scope: endpoints.scope.clone(),
                    certificate: Arc::clone(&certificate),
                    profile: self.assertion_profile,
                });
                (
                    Some(certificate),
                    self.app_id.clone(),
                    self.app_id.clone(),
                    acquirer,
                )
            }
            Credential::ManagedIdentity { account_id } => {
                let endpoint = self
                    .identity_endpoint
                    .clone()
                    .unwrap_or_else(IdentityEndpoint::from_env);
                endpoint.check().map_err(ConnectError::ManagedIdentity)?;
                // The identity endpoint is on this machine: no proxy.
                let identity_http = reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("exorun/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| ConnectError::Http(e.to_string()))?;
                let acquirer = TokenAcquirer::ManagedIdentity(ManagedIdentityTokens {
                    http: identity_http,
                    endpoint,
                    resource: endpoints.exchange_resource().to_owned(),
                    client_id: account_id.clone(),
                    timeout: self.identity_timeout,
                });
                let key = format!(
                    "managed-identity:{}",
                    account_id.as_deref().unwrap_or("system-assigned")
                );
                (None, self.app_id.clone(), key, acquirer)
            }
            Credential::AccessToken(text) => {
                let expected = Expected {
                    resource: endpoints.exchange_resource(),
                    tenant,
                };
                let given =
                    GivenToken::check(text.expose(), &expected, std::time::SystemTime::now())
                        .map_err(ConnectError::AccessToken)?;
                let app_id = given.app_id.clone();
                // One cache per token: two tokens of one app never mix.
                let key = format!(
                    "access-token:{}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                        text.expose().as_bytes()
                    ))
                );
                let acquirer = TokenAcquirer::Given {
                    token: given,
                    tenant: TenantLookup::for_domain(&http, &endpoints.authority, tenant),
                };
                (None, app_id, key, acquirer)
            }
        };
        let key = TokenCacheKey {
            authority: endpoints.authority.clone(),
            tenant: tenant.clone(),
            client_id: key,
            scope: endpoints.scope.clone(),
        };
        let form = self.sign_in_form();
        let tokens = TokenCache::shared(key, || acquirer);
        let limiter = TenantLimiter::shared(
            &endpoints.exchange_base,
            tenant,
            &app_id,
            self.limiter,
            &self.pace_sharing,
        );
        let connection_id = Uuid::new_v4();
        let fixed = fixed_headers(tenant, connection_id)
            .map_err(|_| ConnectError::InvalidOrganization(tenant.clone()))?;
        let client = ExchangeClient {
            inner: Arc::new(ClientInner {
                http,
                tokens,
                limiter,
                invoke_url: invoke,
                base_url: base,
                tenant: tenant.clone(),
                connection_id,
                retry: self.retry,
                page_size: self.page_size,
                timeout: self.timeout,
                fixed_headers: fixed,
                deadlines: Default::default(),
            }),
        };
        Ok(Connection {
            client,
            certificate,
            endpoints,
            organization: self.organization,
            delegated_organization: self.delegated_organization,
            app_id,
            form,
            assertion_profile: self.assertion_profile,
        })
    }

    fn sign_in_form(&self) -> SignInForm {
        match self.credential {
            Credential::Certificate(_) => SignInForm::Certificate,
            Credential::ManagedIdentity { .. } => SignInForm::ManagedIdentity,
            Credential::AccessToken(_) => SignInForm::AccessToken,
        }
    }

    /// A token goes only to an Exchange endpoint of the cloud whose login
    /// host issued it. An overridden authority outside the known clouds
    /// (the simulator, a test proxy) must come with its Exchange URL.
    fn check_same_cloud(&self, endpoints: &Endpoints) -> Result<(), ConnectError> {
        let clouds = clouds_signing_in_at(&endpoints.authority);
        if clouds.is_empty() {
            return match self.exchange_url {
                Some(_) => Ok(()),
                None => Err(ConnectError::ExchangeUrlRequired {
                    authority: endpoints.authority.clone(),
                }),
            };
        }
        let exchange_cloud = match &self.exchange_url {
            // A private Exchange URL (a proxy) with a Microsoft login host
            // is the operator's explicit choice.
            Some(_) => match cloud_of_exchange(&endpoints.exchange_base) {
                Some(cloud) => cloud,
                None => return Ok(()),
            },
            None => self.environment,
        };
        if clouds.contains(&exchange_cloud) {
            return Ok(());
        }
        Err(ConnectError::CloudMismatch {
            authority: endpoints.authority.clone(),
            signs_in_to: clouds
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(" or "),
            exchange: endpoints.exchange_base.clone(),
            exchange_cloud: exchange_cloud.name().to_owned(),
        })
    }

    fn http_client(&self) -> Result<reqwest::Client, ConnectError> {
        let mut b = reqwest::Client::builder()
            .use_native_tls()
            .user_agent(concat!("exorun/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(90))
            // A redirect would re-send the body to a host chosen by the
            // answer, and reqwest turns a POST into a GET on 302: refuse.
            .redirect(reqwest::redirect::Policy::none());
        if !self.system_proxy {
            b = b.no_proxy();
        }
        if let Some(path) = &self.extra_ca_pem {
            let bad = |message: String| ConnectError::CaCertificate {
                path: path.clone(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no CERTIFICATE block".to_owned()));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        b.build().map_err(|e| ConnectError::Http(e.to_string()))
    }
}

/// A tenant domain or GUID: what may stand in a URL path and a header.
fn is_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// A configured connection to one tenant.
pub struct Connection {
    client: ExchangeClient,
    certificate: Option<Arc<Certificate>>,
    endpoints: Endpoints,
    organization: String,
    delegated_organization: Option<String>,
    app_id: String,
    form: SignInForm,
    assertion_profile: AssertionProfile,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("organization", &self.organization)
            .field("app_id", &self.app_id)
            .field("endpoints", &self.endpoints)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The backend to hand to runs; clones share everything.
    pub fn client(&self) -> ExchangeClient {
        self.client.clone()
    }

    /// The app certificate, when the connection signs in with one.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_deref()
    }

    pub fn sign_in_form(&self) -> SignInForm {
        self.form
    }

    /// The customer tenant of a partner connection.
    pub fn delegated_organization(&self) -> Option<&str> {
        self.delegated_organization.as_deref()
    }

    /// The tenant cmdlets are sent to: the delegated organization if any.
    pub fn target_tenant(&self) -> &str {
        self.delegated_organization
            .as_deref()
            .unwrap_or(&self.organization)
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn organization(&self) -> &str {
        &self.organization
    }

    /// The app id; for a system-assigned managed identity it is known only
    /// from its first token (see [`Self::token_claims`]).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Client credentials of this connection's app in `tenant` for `scope`,
    /// signed with `certificate`, on the connection's HTTP client.
    fn credentials(
        &self,
        tenant: &str,
        scope: &str,
        certificate: Arc<Certificate>,
    ) -> ClientCredentials {
        ClientCredentials {
            http: self.client.inner.http.clone(),
            token_url: self.endpoints.token_url(tenant),
            tenant: tenant.to_owned(),
            client_id: self.app_id.clone(),
            scope: scope.to_owned(),
            certificate,
            profile: self.assertion_profile,
        }
    }

    /// Signs in to Exchange with `certificate` instead of the connection's
    /// own, bypassing every cache: proves that a new key works before a
    /// profile is switched to it.
    pub async fn sign_in_with(
        &self,
        certificate: Arc<Certificate>,
    ) -> Result<TokenClaims, AuthError> {
        let credentials =
            self.credentials(self.target_tenant(), &self.endpoints.scope, certificate);
        let token = credentials.acquire().await?;
        Ok(decode_claims(&token).unwrap_or_default())
    }

    /// A Microsoft Graph client for this connection's app in its home
    /// tenant, signed in with `certificate` (the connection's own, or the
    /// one a rotation just registered), for key rotation. Not cached: a
    /// rotation asks Graph a handful of times.
    pub fn graph(&self, certificate: Arc<Certificate>) -> Result<GraphClient, ConnectError> {
        if self.certificate.is_none() {
            return Err(ConnectError::NoCertificate(self.form));
        }
        let tenant = &self.organization;
        let credentials = self.credentials(tenant, &self.endpoints.graph_scope, certificate);
        let key = TokenCacheKey {
            authority: self.endpoints.authority.clone(),
            tenant: tenant.clone(),
            client_id: self.app_id.clone(),
            scope: self.endpoints.graph_scope.clone(),
        };
        Ok(GraphClient {
            http: self.client.inner.http.clone(),
            base: self.endpoints.graph_base.clone(),
            tokens: Arc::new(TokenCache::new(
                key,
                TokenAcquirer::ClientCredentials(credentials),
            )),
        })
    }

    /// Signs in (or uses the cached token) and returns what the token says
    /// about the app: appid, tid, roles, wids, exp. Never the token itself.
    pub async fn token_claims(&self) -> Result<TokenClaims, AuthError> {
        let token = self.client.token_cache().token().await?;
        Ok(decode_claims(&token).unwrap_or_default())
    }
}
