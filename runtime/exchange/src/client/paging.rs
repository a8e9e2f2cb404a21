//! Reading a result set page by page (docs/protocol.md, "Response envelope"/2.6): the envelope, the
//! `@odata.nextLink` chain and `-ResultSize`.

use std::sync::Arc;

use async_trait::async_trait;
use exorun_cmdlet::{CmdletError, Object, PageStream, ResultSize};
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::errors::split_detail;
use super::invoke::{ClientInner, PreparedCall};

/// The most objects one page may ask for (`Prefer: odata.maxpagesize`).
pub const MAX_PAGE_SIZE: u64 = 1000;

/// The warning the server adds when ResultSize truncated its answer; the
/// module hides it while paging, since the next page follows.
const MORE_RESULTS_WARNING: &str = "There are more results available than are currently displayed";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@adminapi.warnings", default)]
    warnings: Option<Vec<serde_json::Value>>,
    #[serde(rename = "@adminapi.errors", default)]
    errors: Option<Vec<serde_json::Value>>,
}

/// One page, read from the body without re-serialising its objects.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    /// Each element of `value` as its JSON text, exactly as sent.
    pub objects: Vec<Object>,
    pub next_link: Option<String>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

/// Parses a 200 answer's envelope.
pub fn parse_page(body: &[u8], take: usize) -> Result<Page, CmdletError> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|e| {
        CmdletError::failed(
            "InvalidResponse",
            format!("Exchange answered with a body that is not the InvokeCommand envelope: {e}"),
        )
    })?;
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Object(ref o) => o
            .get("message")
            .or_else(|| o.get("Message"))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    };
    Ok(Page {
        objects: envelope
            .value
            .unwrap_or_default()
            .into_iter()
            .take(take)
            .map(|raw| raw.get().to_owned())
            .collect(),
        next_link: envelope.next_link.filter(|l| !l.trim().is_empty()),
        warnings: envelope
            .warnings
            .unwrap_or_default()
            .into_iter()
            .map(text)
            .collect(),
        errors: envelope
            .errors
            .unwrap_or_default()
            .into_iter()
            .map(text)
            .collect(),
    })
}

/// Resolves a nextLink and refuses one that leaves the Exchange endpoint:
/// following it would send the bearer token to another host.
pub fn check_next_link(base: &Url, current: &Url, link: &str) -> Result<Url, CmdletError> {
    let next = current.join(link.trim()).map_err(|e| {
        CmdletError::failed(
            "InvalidNextLink",
            format!("Exchange sent a nextLink that is not a URL: {e}"),
        )
    })?;
    let same_origin = next.scheme() == base.scheme()
        && next.host_str().map(str::to_ascii_lowercase)
            == base.host_str().map(str::to_ascii_lowercase)
        && next.port_or_known_default() == base.port_or_known_default();
    if !same_origin {
        return Err(CmdletError::failed(
            "ForeignNextLink",
            format!(
                "refused to follow a nextLink to {}://{}: it is not the Exchange endpoint {}://{}, and the access token must not be sent there",
                next.scheme(),
                next.host_str().unwrap_or("?"),
                base.scheme(),
                base.host_str().unwrap_or("?"),
            ),
        ));
    }
    if next == *current {
        return Err(CmdletError::failed(
            "InvalidNextLink",
            "Exchange sent a nextLink to the page just read; stopping to avoid a loop",
        ));
    }
    Ok(next)
}

/// A running paged read. Each [`PageStream::next_page`] POSTs the same body
/// to the next URL with the same `client-request-id`.
pub(crate) struct InvokePages {
    pub client: Arc<ClientInner>,
    pub call: Arc<PreparedCall>,
    /// The next URL to POST to, or the error that stopped the chain (held
    /// back so the page that carried a bad link is still delivered).
    pub next: Option<Result<Url, CmdletError>>,
    pub remaining: u64,
}

#[async_trait]
impl PageStream for InvokePages {
    fn client_request_id(&self) -> Option<String> {
        Some(self.call.request_id.to_string())
    }

    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        let url = match self.next.take() {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(url)) => url,
        };
        if self.remaining == 0 {
            return Ok(None);
        }
        let page_size = self.remaining.min(self.client.page_size);
        let body = self.client.send(&self.call, &url, page_size).await?;
        let take = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        let page = parse_page(&body, take)?;

        let unlimited = self.call.result_size == ResultSize::Unlimited;
        for w in &page.warnings {
            if unlimited && w.starts_with(MORE_RESULTS_WARNING) {
                continue;
            }
            tracing::warn!(cmdlet = %self.call.cmdlet, warning = %w, "Exchange warning");
        }
        if let Some(first) = page.errors.first() {
            for e in &page.errors {
                tracing::warn!(cmdlet = %self.call.cmdlet, error = %e, "Exchange reported an error");
            }
            let (class, message) = split_detail(first);
            let err = super::errors::ServerError {
                status: 200,
                code: None,
                class,
                message,
                detail: Some(first.clone()),
            };
            return Err(err.to_cmdlet_error());
        }

        self.remaining -= page.objects.len() as u64;
        self.next = match page.next_link {
            Some(link) if self.remaining > 0 => {
                Some(check_next_link(&self.client.base_url, &url, &link))
            }
            _ => None,
        };
        Ok(Some(page.objects))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_handed_out_as_sent() {
        let body = br##"{"@odata.context":"x","adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":["w1"],"value":[{"A":1, "B":"x"},{"A":2}],"@odata.nextLink":"https://h/next"}"##;
        let page = parse_page(body, 10).unwrap();
        assert_eq!(
            page.objects,
            vec![r#"{"A":1, "B":"x"}"#.to_owned(), r#"{"A":2}"#.to_owned()]
        );
        assert_eq!(page.next_link.as_deref(), Some("https://h/next"));
        assert_eq!(page.warnings, vec!["w1".to_owned()]);
        assert_eq!(parse_page(body, 1).unwrap().objects.len(), 1);
    }

    #[test]
    fn a_missing_value_is_an_empty_page() {
        let page = parse_page(br#"{"@adminapi.warnings":[]}"#, 10).unwrap();
        assert!(page.objects.is_empty());
        assert_eq!(page.next_link, None);
    }

    #[test]
    fn a_next_link_must_stay_on_the_exchange_host() {
        let base =
            Url::parse("https://outlook.office365.com/adminapi/beta/t/InvokeCommand").unwrap();
        let ok = check_next_link(
            &base,
            &base,
            "https://OUTLOOK.office365.com/adminapi/beta/t/InvokeCommand?$skiptoken=1",
        )
        .unwrap();
        assert_eq!(ok.query(), Some("$skiptoken=1"));
        for bad in [
            "https://evil.example/adminapi/beta/t/InvokeCommand?$skiptoken=1",
            "http://outlook.office365.com/adminapi/beta/t/InvokeCommand?$skiptoken=1",
            "https://outlook.office365.com:8443/x",
        ] {
            let e = check_next_link(&base, &base, bad).unwrap_err();
            assert_eq!(e.kind(), "failed");
            assert!(
                matches!(e, CmdletError::Failed { ref code, .. } if code == "ForeignNextLink"),
                "{bad}"
            );
        }
    }
}
