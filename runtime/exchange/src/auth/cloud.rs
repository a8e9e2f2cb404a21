//! Per-cloud endpoints (docs/protocol.md, "Clouds and endpoints"): where to sign in, which scope to
//! ask for and where Exchange's admin REST endpoint lives.
//!
//! Kept as data, not code paths, so that a sovereign cloud is one table row
//! and the simulator is an override rather than a special case.

use std::fmt;
use std::str::FromStr;

/// The Microsoft 365 cloud a tenant lives in, named as
/// `Connect-ExchangeOnline -ExchangeEnvironmentName` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExchangeEnvironment {
    /// Commercial and GCC.
    #[default]
    O365Default,
    O365USGovGCCHigh,
    O365USGovDoD,
    /// Operated by 21Vianet.
    O365China,
}

impl ExchangeEnvironment {
    pub const ALL: [ExchangeEnvironment; 4] = [
        ExchangeEnvironment::O365Default,
        ExchangeEnvironment::O365USGovGCCHigh,
        ExchangeEnvironment::O365USGovDoD,
        ExchangeEnvironment::O365China,
    ];

    /// The Entra login host as an authority base URL (no tenant).
    pub fn authority(self) -> &'static str {
        match self {
            ExchangeEnvironment::O365Default => "https://login.microsoftonline.com",
            ExchangeEnvironment::O365USGovGCCHigh | ExchangeEnvironment::O365USGovDoD => {
                "https://login.microsoftonline.us"
            }
            ExchangeEnvironment::O365China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Exchange resource; the token scope is this plus `/.default`.
    pub fn resource(self) -> &'static str {
        self.exchange_base()
    }

    /// The EXO REST base, before `/adminapi/beta/{tenant}/InvokeCommand`.
    pub fn exchange_base(self) -> &'static str {
        match self {
            ExchangeEnvironment::O365Default => "https://outlook.office365.com",
            ExchangeEnvironment::O365USGovGCCHigh => "https://outlook.office365.us",
            ExchangeEnvironment::O365USGovDoD => "https://outlook-dod.office365.us",
            // The doc marks the China scope as unverified; it follows the
            // pattern of the other clouds (resource = REST base).
            ExchangeEnvironment::O365China => "https://outlook.office365.cn",
        }
    }

    /// Microsoft Graph of the cloud: where an app rolls its own keys
    /// (`exorun cert rotate`). Its resource is also its base.
    pub fn graph_base(self) -> &'static str {
        match self {
            ExchangeEnvironment::O365Default => "https://graph.microsoft.com",
            ExchangeEnvironment::O365USGovGCCHigh => "https://graph.microsoft.us",
            ExchangeEnvironment::O365USGovDoD => "https://dod-graph.microsoft.us",
            ExchangeEnvironment::O365China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// `{resource}/.default`, the single scope of a client-credentials grant.
    pub fn scope(self) -> String {
        format!("{}/.default", self.resource())
    }

    pub fn name(self) -> &'static str {
        match self {
            ExchangeEnvironment::O365Default => "O365Default",
            ExchangeEnvironment::O365USGovGCCHigh => "O365USGovGCCHigh",
            ExchangeEnvironment::O365USGovDoD => "O365USGovDoD",
            ExchangeEnvironment::O365China => "O365China",
        }
    }
}

impl fmt::Display for ExchangeEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An environment name that is none of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Exchange environment '{0}' (expected O365Default, O365USGovGCCHigh, O365USGovDoD or O365China)"
)]
pub struct UnknownEnvironment(pub String);

impl FromStr for ExchangeEnvironment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExchangeEnvironment::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownEnvironment(s.to_owned()))
    }
}

/// The resolved endpoints of one connection: an environment's defaults with
/// any overrides applied (simulator, proxies, the China login alias).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Authority base without tenant, no trailing slash.
    pub authority: String,
    /// Exchange base, no trailing slash.
    pub exchange_base: String,
    /// The token scope, `{resource}/.default`.
    pub scope: String,
    /// Microsoft Graph base, no trailing slash (overridden for the
    /// simulator, which serves Graph beside Entra and Exchange).
    pub graph_base: String,
    /// The Graph token scope: always the cloud's Graph resource, also when
    /// the base is overridden (as Exchange's scope is).
    pub graph_scope: String,
}

impl Endpoints {
    pub fn for_environment(env: ExchangeEnvironment) -> Self {
        Endpoints {
            authority: env.authority().to_owned(),
            exchange_base: env.exchange_base().to_owned(),
            scope: env.scope(),
            graph_base: env.graph_base().to_owned(),
            graph_scope: format!("{}/.default", env.graph_base()),
        }
    }

    /// Exchange's resource URI: the scope without `/.default`, what an
    /// Exchange token's `aud` holds.
    pub fn exchange_resource(&self) -> &str {
        self.scope.strip_suffix("/.default").unwrap_or(&self.scope)
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`: also the assertion's `aud`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.authority, tenant)
    }

    /// `{base}/adminapi/beta/{tenant}/InvokeCommand`.
    pub fn invoke_command_url(&self, tenant: &str) -> String {
        format!(
            "{}/adminapi/beta/{}/InvokeCommand",
            self.exchange_base, tenant
        )
    }
}

/// Strips trailing slashes so URLs join with exactly one `/`.
pub(crate) fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// The login base of an authority, given either as the bare login host
/// (`https://login.microsoftonline.com`, azure-identity's `authority`) or
/// with a tenant path as MSAL's `authority` names it
/// (`https://login.microsoftonline.com/{tenant}`, `…/{tenant}/v2.0`): only
/// scheme, host and port are kept, since the tenant of every request is
/// the connection's organization. A URL that does not parse is kept as
/// given, for the connection to refuse with the parser's reason.
pub(crate) fn login_base(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(parsed) if parsed.has_host() => parsed.origin().ascii_serialization(),
        _ => trim_base(url),
    }
}

/// The clouds whose Entra login host `authority` is (two share one).
pub(crate) fn clouds_signing_in_at(authority: &str) -> Vec<ExchangeEnvironment> {
    ExchangeEnvironment::ALL
        .into_iter()
        .filter(|e| same_origin(e.authority(), authority))
        .collect()
}

/// The cloud whose Exchange endpoint `exchange_base` is, if any.
pub(crate) fn cloud_of_exchange(exchange_base: &str) -> Option<ExchangeEnvironment> {
    ExchangeEnvironment::ALL
        .into_iter()
        .find(|e| same_origin(e.exchange_base(), exchange_base))
}

fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_has_its_documented_hosts_and_scope() {
        let rows = [
            (
                ExchangeEnvironment::O365Default,
                "https://login.microsoftonline.com",
                "https://outlook.office365.com/.default",
                "https://outlook.office365.com",
            ),
            (
                ExchangeEnvironment::O365USGovGCCHigh,
                "https://login.microsoftonline.us",
                "https://outlook.office365.us/.default",
                "https://outlook.office365.us",
            ),
            (
                ExchangeEnvironment::O365USGovDoD,
                "https://login.microsoftonline.us",
                "https://outlook-dod.office365.us/.default",
                "https://outlook-dod.office365.us",
            ),
            (
                ExchangeEnvironment::O365China,
                "https://login.chinacloudapi.cn",
                "https://outlook.office365.cn/.default",
                "https://outlook.office365.cn",
            ),
        ];
        for (env, login, scope, base) in rows {
            assert_eq!(env.authority(), login);
            assert_eq!(env.scope(), scope);
            assert_eq!(env.exchange_base(), base);
        }
    }

    #[test]
    fn urls_are_built_from_the_tenant() {
        let e = Endpoints::for_environment(ExchangeEnvironment::O365Default);
        assert_eq!(
            e.token_url("contoso.onmicrosoft.com"),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            e.invoke_command_url("contoso.onmicrosoft.com"),
            "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand"
        );
    }

    #[test]
    fn environment_names_parse_case_insensitively() {
        assert_eq!(
            "o365usgovdod".parse::<ExchangeEnvironment>().unwrap(),
            ExchangeEnvironment::O365USGovDoD
        );
        assert!("Mars".parse::<ExchangeEnvironment>().is_err());
    }
}
