//! Who calls Graph: the bearer token checked as Graph checks it (signed by
//! this tenant's key, for Graph, unexpired, from this tenant), and what the
//! caller may do to an application.

use axum::http::HeaderMap;

use super::error::GraphError;
use crate::bearer_token::{bearer_token, verify};
use crate::clock;
use crate::directory::{AppRegistration, GRAPH_APPLICATION_READWRITE_OWNEDBY};
use crate::entra::resource::{GRAPH_APP_ID, GRAPH_RESOURCE};
use crate::state::Shared;

/// A caller whose token passed every check.
pub(crate) struct Caller {
    pub app_id: String,
    /// The Graph application permissions its token carries.
    pub roles: Vec<String>,
    /// Its service principal, for the owner check.
    pub service_principal_id: Option<String>,
}

const READ_ALL: &str = "Application.Read.All";
const READWRITE_ALL: &str = "Application.ReadWrite.All";

/// Checks `Authorization: Bearer …` (texts as Graph words them where known;
/// choice (unverified) for the tenant and signature cases).
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Caller, GraphError> {
    let token =
        bearer_token(headers).ok_or_else(|| GraphError::invalid_token("Access token is empty."))?;
    // Choice (unverified): one text for a malformed token and a bad
    // signature; Graph's exact wording for each is not known.
    let verified = verify(token, &shared.signing_key).map_err(|_| {
        GraphError::invalid_token(
            "Access token validation failure. Invalid signature or malformed token.",
        )
    })?;
    let aud = verified.audience.trim_end_matches('/');
    if !(aud.eq_ignore_ascii_case(GRAPH_RESOURCE) || aud.eq_ignore_ascii_case(GRAPH_APP_ID)) {
        return Err(GraphError::invalid_token(
            "Access token validation failure. Invalid audience.",
        ));
    }
    let now = clock::unix_now_f64();
    if verified.expires <= now {
        return Err(GraphError::invalid_token(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if verified.not_before > now + 300.0 {
        return Err(GraphError::invalid_token(
            "Lifetime validation failed, the token is not yet valid.",
        ));
    }
    if !verified
        .tenant_id
        .eq_ignore_ascii_case(shared.directory.tenant_id())
    {
        return Err(GraphError::invalid_token(
            "Access token validation failure. Invalid issuer or tenant.",
        ));
    }
    let service_principal_id = shared
        .directory
        .app(&verified.app_id)
        .map(|a| a.service_principal_id);
    Ok(Caller {
        app_id: verified.app_id,
        roles: verified.roles,
        service_principal_id,
    })
}

impl Caller {
    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    fn owns(&self, app: &AppRegistration) -> bool {
        self.has(GRAPH_APPLICATION_READWRITE_OWNEDBY)
            && self
                .service_principal_id
                .as_ref()
                .is_some_and(|sp| app.owners.iter().any(|o| o.eq_ignore_ascii_case(sp)))
    }

    fn is(&self, app: &AppRegistration) -> bool {
        self.app_id.eq_ignore_ascii_case(&app.app_id)
    }

    /// Reading an application: `Application.Read.All`,
    /// `Application.ReadWrite.All`, or `…OwnedBy` as an owner.
    pub fn may_read(&self, app: &AppRegistration) -> Result<(), GraphError> {
        if self.has(READ_ALL) || self.has(READWRITE_ALL) || self.owns(app) {
            Ok(())
        } else {
            Err(GraphError::denied())
        }
    }

    /// `addKey`/`removeKey`: an app rolls its own keys with no permission
    /// at all (the proof is its authority); another app's keys need
    /// `Application.ReadWrite.All` or ownership.
    pub fn may_manage_keys(&self, app: &AppRegistration) -> Result<(), GraphError> {
        if self.is(app) || self.has(READWRITE_ALL) || self.owns(app) {
            Ok(())
        } else {
            Err(GraphError::denied())
        }
    }
}
