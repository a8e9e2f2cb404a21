//! The `X-AnchorMailbox` routing hint (docs/protocol.md, "Routing hint").

use axum::http::HeaderMap;

/// Prefixes the service takes; anything else is refused.
const PREFIXES: [&str; 5] = ["APP:", "UPN:", "SMTP:", "MBX:", "AAD-UPN:"];

/// Why a hint was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AnchorError {
    Missing,
    Malformed(String),
}

impl AnchorError {
    /// The Outlook REST text (docs/protocol.md, "Routing hint"); its use by adminapi is unverified.
    pub fn message(&self) -> String {
        match self {
            AnchorError::Missing => {
                "The x-anchor mailbox header is missing; send X-AnchorMailbox, for example 'APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<tenant>'.".to_owned()
            }
            AnchorError::Malformed(value) => {
                format!("The x-anchor mailbox '{value}' does not match the target of the request.")
            }
        }
    }
}

/// Checks the hint: `{Prefix}:{Value}` with a known prefix (any case) and a
/// non-empty value. Absent is an error only when `required`.
pub fn check(headers: &HeaderMap, required: bool) -> Result<(), AnchorError> {
    let Some(raw) = headers.get("x-anchormailbox") else {
        return if required {
            Err(AnchorError::Missing)
        } else {
            Ok(())
        };
    };
    let value = String::from_utf8_lossy(raw.as_bytes()).trim().to_owned();
    let known = PREFIXES.iter().any(|p| {
        value.len() > p.len()
            && value.is_char_boundary(p.len())
            && value[..p.len()].eq_ignore_ascii_case(p)
            && !value[p.len()..].trim().is_empty()
    });
    if known {
        Ok(())
    } else {
        Err(AnchorError::Malformed(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-AnchorMailbox", value.parse().unwrap());
        h
    }

    #[test]
    fn every_documented_prefix_is_accepted() {
        for v in [
            "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com",
            "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com",
            "SMTP:jdoe@contoso.com",
            "MBX:9feb45ad-0cc9-43dc-a609-2110e2216c15@tenant",
            "AAD-UPN:jdoe@contoso.com",
            "upn:lower@contoso.com",
        ] {
            assert_eq!(check(&headers(v), true), Ok(()), "{v}");
        }
    }

    #[test]
    fn unknown_prefixes_empty_values_and_absence_are_refused() {
        assert!(matches!(
            check(&headers("jdoe@contoso.com"), true),
            Err(AnchorError::Malformed(_))
        ));
        assert!(matches!(
            check(&headers("UPN:"), true),
            Err(AnchorError::Malformed(_))
        ));
        assert!(matches!(
            check(&headers("X500:/o=foo"), true),
            Err(AnchorError::Malformed(_))
        ));
        assert_eq!(check(&HeaderMap::new(), true), Err(AnchorError::Missing));
        assert_eq!(check(&HeaderMap::new(), false), Ok(()));
    }
}
