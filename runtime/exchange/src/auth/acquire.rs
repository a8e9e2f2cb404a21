//! Where a connection's tokens come from: the one switch between the sign-in
//! forms of `Connect-ExchangeOnline` that exorun speaks. The token cache
//! above it and the client above that are the same for all of them.

use serde::Deserialize;

use super::given_token::{GivenToken, foreign_tenant, is_guid};
use super::managed_identity::ManagedIdentityTokens;
use super::token::{AccessToken, AuthError, ClientCredentials};

/// One way to obtain an access token.
pub(crate) enum TokenAcquirer {
    /// Client credentials with a certificate-signed assertion.
    ClientCredentials(ClientCredentials),
    /// The platform's managed identity endpoint.
    ManagedIdentity(ManagedIdentityTokens),
    /// A token obtained elsewhere; its tenant is confirmed once, at the
    /// first use, when the organization was given as a domain.
    Given {
        token: GivenToken,
        tenant: Option<TenantLookup>,
    },
}

impl TokenAcquirer {
    pub async fn acquire(&self) -> Result<AccessToken, AuthError> {
        match self {
            TokenAcquirer::ClientCredentials(c) => c.acquire().await,
            TokenAcquirer::ManagedIdentity(m) => m.acquire().await,
            TokenAcquirer::Given { token, tenant } => {
                if let Some(lookup) = tenant {
                    lookup.confirm(&token.tenant_id).await?;
                }
                token.access_token()
            }
        }
    }
}

/// Resolves a tenant domain to its id through the authority's OpenID
/// configuration, as any MSAL client does, to compare it with a given
/// token's `tid`.
pub(crate) struct TenantLookup {
    pub http: reqwest::Client,
    /// `{authority}/{domain}/v2.0/.well-known/openid-configuration`.
    pub discovery_url: String,
    pub domain: String,
    confirmed: tokio::sync::OnceCell<()>,
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
}

impl TenantLookup {
    /// A lookup for `domain`, or `None` when the tenant was given as its id
    /// (then the token was compared at connect).
    pub fn for_domain(http: &reqwest::Client, authority: &str, domain: &str) -> Option<Self> {
        (!is_guid(domain)).then(|| TenantLookup {
            http: http.clone(),
            discovery_url: format!("{authority}/{domain}/v2.0/.well-known/openid-configuration"),
            domain: domain.to_owned(),
            confirmed: tokio::sync::OnceCell::new(),
        })
    }

    async fn confirm(&self, token_tid: &str) -> Result<(), AuthError> {
        self.confirmed
            .get_or_try_init(|| async {
                let id = self.tenant_id().await?;
                if id.eq_ignore_ascii_case(token_tid) {
                    Ok(())
                } else {
                    Err(AuthError::AccessToken(foreign_tenant(
                        token_tid,
                        &format!("{} ({id})", self.domain),
                    )))
                }
            })
            .await
            .map(|_| ())
    }

    async fn tenant_id(&self) -> Result<String, AuthError> {
        let transport = |message: String| AuthError::Transport {
            url: self.discovery_url.clone(),
            message,
        };
        let response = self
            .http
            .get(&self.discovery_url)
            .send()
            .await
            .map_err(|e| transport(crate::http_text::describe_reqwest(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(crate::http_text::describe_reqwest(&e)))?;
        if status == 400 || status == 404 {
            return Err(AuthError::AccessToken(format!(
                "the tenant {} is not known to the authority ({}), so the access token's tenant cannot be confirmed: check --organization",
                self.domain, self.discovery_url
            )));
        }
        let bad = |detail: String| AuthError::BadResponse {
            url: self.discovery_url.clone(),
            status,
            detail,
        };
        if !(200..300).contains(&status) {
            return Err(bad(crate::http_text::snippet(&body)));
        }
        let config: OpenIdConfiguration = serde_json::from_slice(&body)
            .map_err(|_| bad("the OpenID configuration is not JSON".to_owned()))?;
        [config.token_endpoint, config.issuer]
            .into_iter()
            .flatten()
            .find_map(|url| first_guid_segment(&url))
            .ok_or_else(|| bad("the OpenID configuration names no tenant id".to_owned()))
    }
}

/// The first path segment of `url` that is a GUID: the tenant id in
/// `https://login.microsoftonline.com/{tid}/oauth2/v2.0/token`.
fn first_guid_segment(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .path_segments()?
        .find(|s| is_guid(s))
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_id_is_read_from_the_discovery_urls() {
        assert_eq!(
            first_guid_segment(
                "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
            )
            .as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(
            first_guid_segment("https://login.microsoftonline.com/common/v2.0"),
            None
        );
    }
}
