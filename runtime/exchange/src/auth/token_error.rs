//! Entra's error answer (docs/protocol.md, "Token response") turned into something an operator can act
//! on: the `error`, the AADSTS code, the first line of the description, and
//! for the codes people actually hit, what to do about it.

use std::fmt;

use serde::Deserialize;

/// A token request Entra refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenError {
    pub status: u16,
    /// The OAuth `error`, e.g. `invalid_client`.
    pub error: String,
    /// The AADSTS number, from `error_codes[0]` or the description.
    pub code: Option<u32>,
    /// The description's first line (without trace and correlation ids).
    pub description: String,
    pub correlation_id: Option<String>,
    pub hint: Option<String>,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entra refused the token request ({}", self.error)?;
        if let Some(code) = self.code {
            write!(f, ", AADSTS{code}")?;
        }
        write!(f, ", HTTP {})", self.status)?;
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, ". Hint: {hint}")?;
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlation id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for TokenError {}

#[derive(Deserialize)]
struct Body {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<u32>>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// What a hint may mention about the caller.
pub(crate) struct HintContext<'a> {
    pub thumbprint: &'a str,
    pub client_id: &'a str,
    pub tenant: &'a str,
}

/// Parses an error body; `None` when it is not Entra's JSON error shape.
pub(crate) fn parse_token_error(
    status: u16,
    body: &[u8],
    ctx: &HintContext<'_>,
) -> Option<TokenError> {
    let body: Body = serde_json::from_slice(body).ok()?;
    let full = body.error_description.unwrap_or_default();
    let description = full
        .split(['\r', '\n'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let code = body
        .error_codes
        .and_then(|c| c.first().copied())
        .or_else(|| code_from_description(&description));
    let hint = code.and_then(|c| hint_for(c, &description, ctx));
    Some(TokenError {
        status,
        error: body.error,
        code,
        description,
        correlation_id: body.correlation_id,
        hint,
    })
}

/// `AADSTS700027: …` → 700027.
fn code_from_description(description: &str) -> Option<u32> {
    let rest = description.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn hint_for(code: u32, description: &str, ctx: &HintContext<'_>) -> Option<String> {
    let HintContext {
        thumbprint,
        client_id,
        tenant,
    } = ctx;
    Some(match code {
        700027 if description.contains("expired") => format!(
            "the certificate registered on app {client_id} has expired; upload a new certificate (thumbprint {thumbprint}) to the app registration"
        ),
        700027 => format!(
            "upload this certificate (thumbprint {thumbprint}) to the app registration {client_id} (Certificates & secrets), or sign in with the certificate that is registered there"
        ),
        700016 => format!(
            "wrong app id or tenant: app {client_id} is not registered in tenant {tenant}; check -AppId and -Organization"
        ),
        90002 => format!(
            "tenant '{tenant}' not found: use the tenant's *.onmicrosoft.com domain or GUID, and check the cloud (environment)"
        ),
        7000112 => format!(
            "app {client_id} is disabled in tenant {tenant}; enable its enterprise application (service principal)"
        ),
        700024 => "clock skew: this machine's clock is off; synchronise it (NTP) and retry".to_owned(),
        500011 => "the Exchange Online resource is not available in this tenant or cloud; check the environment and the app's API permissions".to_owned(),
        50048 | 50027 => "the client assertion is malformed; this is a bug in exorun, please report it".to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: HintContext<'static> = HintContext {
        thumbprint: "84E05C1D98BCE3A5421D225B140B36E86A3D5534",
        client_id: "app-1",
        tenant: "contoso.onmicrosoft.com",
    };

    #[test]
    fn first_line_code_and_hint_are_kept() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found.]\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[700027],"correlation_id":"c"}"#;
        let e = parse_token_error(401, body, &CTX).unwrap();
        assert_eq!(e.code, Some(700027));
        assert_eq!(
            e.description,
            "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found.]"
        );
        assert_eq!(
            e.to_string(),
            "Entra refused the token request (invalid_client, AADSTS700027, HTTP 401): AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found.]. Hint: upload this certificate (thumbprint 84E05C1D98BCE3A5421D225B140B36E86A3D5534) to the app registration app-1 (Certificates & secrets), or sign in with the certificate that is registered there (correlation id c)"
        );
    }

    #[test]
    fn code_is_read_from_the_description_when_error_codes_is_missing() {
        let body = br#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found.\r\nTrace ID: t"}"#;
        let e = parse_token_error(400, body, &CTX).unwrap();
        assert_eq!(e.code, Some(90002));
        assert!(
            e.hint
                .unwrap()
                .starts_with("tenant 'contoso.onmicrosoft.com' not found")
        );
    }

    #[test]
    fn common_codes_have_hints() {
        for (code, start) in [
            (700016, "wrong app id or tenant"),
            (7000112, "app app-1 is disabled"),
            (700024, "clock skew"),
        ] {
            assert!(
                hint_for(code, "", &CTX).unwrap().starts_with(start),
                "{code}"
            );
        }
        assert_eq!(hint_for(12345, "", &CTX), None);
    }

    #[test]
    fn non_json_is_not_an_entra_error() {
        assert_eq!(parse_token_error(502, b"<html>bad gateway", &CTX), None);
    }
}
