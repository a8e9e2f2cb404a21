//! What a simulator is started with.

use std::path::PathBuf;
use std::time::Duration;

use crate::faults::FaultConfig;

/// Where the simulated tenant's data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantSource {
    /// A deterministic tenant with this many mailboxes, from this seed.
    Generate { mailboxes: usize, seed: u64 },
    /// A tenant saved with `Tenant::to_json`.
    File(PathBuf),
}

/// Which `aud` values a client assertion may carry.
///
/// Whether Entra accepts the sibling v1/v2 token path or the other tenant
/// form (GUID vs domain) in `aud` is unverified (docs/protocol.md, "Token request checks", step 8),
/// so both behaviours are offered. `/common` is refused by both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudiencePolicy {
    /// Any of this simulator's token URLs (v1 or v2, GUID or any registered
    /// domain, `127.0.0.1` or `localhost`). The default: it is what real
    /// clients need and what Entra is believed to do.
    #[default]
    AnyTokenEndpointOfTenant,
    /// Exactly the URL the assertion was posted to.
    ExactRequestUrl,
}

/// What the token endpoint does with a client assertion whose `jti` it has
/// already accepted.
///
/// Whether Entra refuses a reused assertion is not documented. Every
/// Microsoft client library reuses its signed assertion for minutes (msal
/// for Python about nine, msal-node until it expires), so a refusal would
/// break their token refresh; the default is what they depend on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AssertionReuse {
    /// Accept the same assertion again while it is within its lifetime.
    #[default]
    AllowedWhileValid,
    /// Strict: refuse the second use with AADSTS50027, which catches a
    /// client that does not sign a new assertion per request.
    Refused,
}

/// How long issued access tokens live, and how their times are shaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenLifetime {
    /// As Entra issues them: `iat` and `nbf` backdated five minutes, and a
    /// life (`exp - iat`) drawn between 60 and 90 minutes; `expires_in`
    /// counts from the moment of issue.
    #[default]
    AsEntra,
    /// `expires_in` exactly this (at least one second), for tests that
    /// watch a token expire; `iat` and `nbf` are still backdated.
    Fixed(Duration),
}

/// Per-app throttling of InvokeCommand: a token bucket and a concurrency cap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleConfig {
    /// Requests the bucket refills per second.
    pub budget_per_second: f64,
    /// Bucket size: the most requests that can be made at once after a pause.
    pub burst: f64,
    /// Requests of one app that may be in flight at once.
    pub max_concurrency: usize,
}

impl ThrottleConfig {
    /// So large that no test or benchmark reaches it: throttling "off".
    pub const UNLIMITED: ThrottleConfig = ThrottleConfig {
        budget_per_second: 1_000_000_000.0,
        burst: 1_000_000_000.0,
        max_concurrency: 1_000_000,
    };
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig::UNLIMITED
    }
}

/// Everything `start` needs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub tenant: TenantSource,
    /// Where `ca.pem` and the client certificate files are written.
    pub state_dir: PathBuf,
    /// A private folder where the app key and the token-signing key are
    /// kept between starts (RSA key generation dominates start-up); `None`
    /// makes fresh keys every start.
    pub key_dir: Option<PathBuf>,
    /// Extra `.cer` files (DER or PEM) registered on the default app.
    pub extra_app_certificates: Vec<PathBuf>,
    /// Lifetime of issued access tokens.
    pub token_lifetime: TokenLifetime,
    /// Whether a client assertion may be used more than once.
    pub assertion_reuse: AssertionReuse,
    /// The default app's client id; `None` derives it from the tenant id,
    /// so the same tenant always has the same app and saved connection
    /// profiles stay valid across restarts.
    pub app_id: Option<String>,
    pub throttle: ThrottleConfig,
    pub faults: FaultConfig,
    /// Seeds the fault streams (and nothing else: certificates are random).
    pub seed: u64,
    pub audience_policy: AudiencePolicy,
    /// Refuse InvokeCommand without `X-AnchorMailbox` (docs/protocol.md, "Routing hint":
    /// whether the service requires it is unverified). On by default
    /// because the exorun client always sends it.
    pub require_anchor_mailbox: bool,
    /// Serve the managed identity endpoints (App Service and IMDS forms,
    /// plain HTTP on a loopback port of their own) with a system-assigned
    /// identity holding Exchange Administrator.
    pub managed_identity: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            port: 0,
            tenant: TenantSource::Generate {
                mailboxes: 50,
                seed: 1,
            },
            state_dir: std::env::temp_dir().join("exorun-sim"),
            key_dir: None,
            extra_app_certificates: Vec::new(),
            token_lifetime: TokenLifetime::default(),
            assertion_reuse: AssertionReuse::default(),
            app_id: None,
            throttle: ThrottleConfig::default(),
            faults: FaultConfig::default(),
            seed: 1,
            audience_policy: AudiencePolicy::default(),
            require_anchor_mailbox: true,
            managed_identity: false,
        }
    }
}
