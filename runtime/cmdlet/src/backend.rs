use async_trait::async_trait;

use crate::{Call, CmdletError};

/// One output object as JSON text, exactly as it will reach the plugin.
///
/// Kept as text so that a page read from the wire can be handed to a plugin
/// without being parsed into a tree and printed again.
pub type Object = String;

/// Where policy-approved cmdlet calls go: the Exchange Online client in
/// production, the simulated tenant in tests and demos.
///
/// Implementations must be safe to share between many concurrent runs.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs one call and returns its output, honouring `-ResultSize` (absent
    /// means at most 1000 objects, as Exchange does).
    async fn invoke(&self, call: &Call) -> Result<Vec<Object>, CmdletError> {
        let pages = self.open_pages(call).await?;
        collect_pages(pages).await
    }

    /// Starts a paged read: each [`PageStream::next_page`] fetches one page.
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError>;
}

/// A result set read one page at a time, so that 100,000 mailboxes never
/// have to sit in a plugin's memory at once.
#[async_trait]
pub trait PageStream: Send {
    /// The next page, or `None` when the result set is exhausted.
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError>;

    /// The `client-request-id` this read carries to Exchange (every page
    /// of one call sends the same), so that an audit record can be joined
    /// with Exchange's own logs. `None` for backends that have none.
    fn client_request_id(&self) -> Option<String> {
        None
    }
}

/// Reads every page of a stream into one list.
pub async fn collect_pages(mut pages: Box<dyn PageStream>) -> Result<Vec<Object>, CmdletError> {
    let mut all = Vec::new();
    while let Some(page) = pages.next_page().await? {
        all.extend(page);
    }
    Ok(all)
}
