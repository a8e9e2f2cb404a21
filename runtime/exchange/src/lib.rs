//! `exorun-exchange`: the host side of Exchange Online app-only access.
//!
//! The host, never a plugin, holds the app certificate and the OAuth token.
//! This crate loads the certificate ([`Certificate`]), signs client
//! assertions with it ([`auth::assertion`]), exchanges them for access tokens
//! kept in a process-wide single-flight cache ([`TokenCache`]), and calls
//! Exchange's admin REST endpoint `InvokeCommand` as an
//! [`exorun_cmdlet::Backend`] ([`ExchangeClient`]) with the module's headers,
//! paging, retries and error mapping, paced by a per-tenant
//! [`TenantLimiter`].
//!
//! Wire details are described in `docs/protocol.md` in this repository.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
mod connection;
pub mod graph;
mod http_text;
mod secret;
mod shared;
mod time_util;

pub use auth::assertion::{AssertionProfile, ClientAssertion, make_assertion};
pub use auth::certificate::{Certificate, CertificateError, EXPIRY_WARNING_DAYS, parse_thumbprint};
pub use auth::claims::{TokenClaims, decode_claims};
pub use auth::cloud::{Endpoints, ExchangeEnvironment, UnknownEnvironment};
pub use auth::given_token::GivenToken;
pub use auth::managed_identity::IdentityEndpoint;
pub use auth::self_signed::{
    SelfSignedCertificate, generate_self_signed, generate_self_signed_with_password,
};
pub use auth::summary::{CertificateSummary, summarize_file};
pub use auth::token::{AccessToken, AuthError};
pub use auth::token_cache::{TokenCache, TokenCacheKey};
pub use auth::token_error::TokenError;
pub use client::invoke::ExchangeClient;
pub use client::limiter::{LimiterConfig, PaceSharing, TenantLimiter};
pub use client::retry::RetryPolicy;
pub use connection::{
    CertificateSource, ConnectError, ConnectOptions, Connection, Credential, SignInForm,
};
pub use secret::{SecretBytes, SecretString};
