//! The Entra side of the simulated tenant: its names and its app
//! registrations (certificates, the Exchange.ManageAsApp grant, Entra role
//! assignments). The token endpoint reads it; tests change it at run time.

use std::collections::HashMap;
use std::sync::Arc;

use openssl::pkey::{PKey, Public};
use parking_lot::RwLock;

use crate::certificates::{self, Thumbprints};

/// Entra role template IDs the simulator knows (docs/protocol.md, "Roles that matter to Exchange").
pub mod roles {
    pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
    pub const EXCHANGE_ADMINISTRATOR: &str = "29232cdf-9323-42fd-ade2-1d097af3e4de";
    pub const EXCHANGE_RECIPIENT_ADMINISTRATOR: &str = "31392ffb-586c-42d1-9346-e59415a2cc4e";
    pub const COMPLIANCE_ADMINISTRATOR: &str = "17315797-102d-40b4-93e0-432062caca18";
    pub const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
    pub const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
    pub const SECURITY_ADMINISTRATOR: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
    pub const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";
}

/// The application role every InvokeCommand token must carry.
pub const EXCHANGE_MANAGE_AS_APP: &str = "Exchange.ManageAsApp";
/// The Graph application permission that lets an app manage its own
/// credentials (addKey/removeKey), which certificate rotation needs.
pub const GRAPH_APPLICATION_READWRITE_OWNEDBY: &str = "Application.ReadWrite.OwnedBy";

/// Whether an admin consented to the app's `Exchange.ManageAsApp` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Granted,
    /// Requested but not consented: Entra still issues a token, without the
    /// role (see `entra::token`), and Exchange then refuses it.
    NotGranted,
}

/// A certificate uploaded to an app registration.
#[derive(Clone, Debug)]
pub struct RegisteredCertificate {
    pub thumbprints: Thumbprints,
    pub public_key: PKey<Public>,
    /// Validity window, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl RegisteredCertificate {
    /// Reads a certificate (DER or PEM) as the portal's upload would.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self, DirectoryError> {
        let bad = |e: openssl::error::ErrorStack| DirectoryError::BadCertificate(e.to_string());
        let cert = certificates::parse_der_or_pem(bytes).map_err(bad)?;
        let der = cert.to_der().map_err(bad)?;
        let (not_before, not_after) = certificates::validity(&cert).map_err(bad)?;
        Ok(RegisteredCertificate {
            thumbprints: Thumbprints::of_der(&der).map_err(bad)?,
            public_key: certificates::public_key(&cert).map_err(bad)?,
            not_before,
            not_after,
        })
    }
}

/// One app registration and its service principal.
#[derive(Clone, Debug)]
pub struct AppRegistration {
    pub app_id: String,
    pub display_name: String,
    /// Object ID of the service principal: the token's `oid` and `sub`.
    pub service_principal_id: String,
    pub certificates: Vec<RegisteredCertificate>,
    pub consent: Consent,
    pub disabled: bool,
    /// Entra role template IDs assigned to the service principal (`wids`).
    pub role_template_ids: Vec<String>,
    /// Microsoft Graph application permissions granted to the app: the
    /// `roles` of its Graph tokens.
    pub graph_permissions: Vec<String>,
}

impl AppRegistration {
    /// A fresh registration with new IDs, consented, with the given roles.
    pub fn new(display_name: &str, role_template_ids: &[&str]) -> Self {
        AppRegistration {
            app_id: uuid::Uuid::new_v4().to_string(),
            display_name: display_name.to_owned(),
            service_principal_id: uuid::Uuid::new_v4().to_string(),
            certificates: Vec::new(),
            consent: Consent::Granted,
            disabled: false,
            role_template_ids: role_template_ids.iter().map(|s| (*s).to_owned()).collect(),
            graph_permissions: vec![GRAPH_APPLICATION_READWRITE_OWNEDBY.to_owned()],
        }
    }

    /// Finds a certificate by its SHA-1 (`x5t`) or SHA-256 (`x5t#S256`) digest.
    pub fn certificate_by_digest(&self, digest: &[u8]) -> Option<&RegisteredCertificate> {
        self.certificates
            .iter()
            .find(|c| c.thumbprints.sha1 == digest || c.thumbprints.sha256 == digest)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    #[error("no app with id {0} is registered")]
    UnknownApp(String),
    #[error("the certificate cannot be read: {0}")]
    BadCertificate(String),
}

/// The tenant's Entra directory. Cheap to clone; changes are seen at once by
/// the running server.
#[derive(Clone)]
pub struct Directory {
    inner: Arc<DirectoryInner>,
}

struct DirectoryInner {
    tenant_id: String,
    display_name: String,
    initial_domain: String,
    domains: Vec<String>,
    default_app_id: String,
    apps: RwLock<HashMap<String, AppRegistration>>,
}

impl Directory {
    /// A directory with the tenant's names and one default app.
    pub fn new(
        tenant_id: &str,
        display_name: &str,
        initial_domain: &str,
        domains: Vec<String>,
        default_app: AppRegistration,
    ) -> Self {
        let mut domains = domains;
        if !domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(initial_domain))
        {
            domains.push(initial_domain.to_owned());
        }
        let default_app_id = default_app.app_id.clone();
        let mut apps = HashMap::new();
        apps.insert(default_app.app_id.to_ascii_lowercase(), default_app);
        Directory {
            inner: Arc::new(DirectoryInner {
                tenant_id: tenant_id.to_ascii_lowercase(),
                display_name: display_name.to_owned(),
                initial_domain: initial_domain.to_owned(),
                domains,
                default_app_id,
                apps: RwLock::new(apps),
            }),
        }
    }

    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    pub fn display_name(&self) -> &str {
        &self.inner.display_name
    }

    pub fn initial_domain(&self) -> &str {
        &self.inner.initial_domain
    }

    pub fn domains(&self) -> &[String] {
        &self.inner.domains
    }

    pub fn default_app_id(&self) -> &str {
        &self.inner.default_app_id
    }

    /// True when `segment` (a URL path segment) names this tenant, by GUID
    /// or by any registered domain, case-insensitively. This is how the
    /// login endpoints accept `{tenant}`.
    pub fn is_tenant(&self, segment: &str) -> bool {
        segment.eq_ignore_ascii_case(&self.inner.tenant_id)
            || self
                .inner
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(segment))
    }

    /// True when `segment` names this tenant in a form InvokeCommand takes:
    /// the GUID or an `*.onmicrosoft.com` domain (a vanity domain
    /// reportedly gets a 401, docs/protocol.md, "InvokeCommand").
    pub fn is_exchange_tenant(&self, segment: &str) -> bool {
        segment.eq_ignore_ascii_case(&self.inner.tenant_id)
            || self.inner.domains.iter().any(|d| {
                d.eq_ignore_ascii_case(segment)
                    && d.to_ascii_lowercase().ends_with(".onmicrosoft.com")
            })
    }

    /// A copy of one registration.
    pub fn app(&self, app_id: &str) -> Option<AppRegistration> {
        self.read(|apps| apps.get(&app_id.to_ascii_lowercase()).cloned())
    }

    /// Adds (or replaces) a registration; returns its app id.
    pub fn register_app(&self, app: AppRegistration) -> String {
        let id = app.app_id.clone();
        self.write(|apps| {
            apps.insert(id.to_ascii_lowercase(), app);
        });
        id
    }

    /// Uploads a certificate (DER or PEM) to an app.
    pub fn add_certificate(
        &self,
        app_id: &str,
        cert: &[u8],
    ) -> Result<Thumbprints, DirectoryError> {
        let registered = RegisteredCertificate::from_der_or_pem(cert)?;
        let thumbprints = registered.thumbprints.clone();
        self.update(app_id, |app| app.certificates.push(registered))?;
        Ok(thumbprints)
    }

    /// Removes every certificate from an app.
    pub fn clear_certificates(&self, app_id: &str) -> Result<(), DirectoryError> {
        self.update(app_id, |app| app.certificates.clear())
    }

    pub fn set_roles(
        &self,
        app_id: &str,
        role_template_ids: &[&str],
    ) -> Result<(), DirectoryError> {
        self.update(app_id, |app| {
            app.role_template_ids = role_template_ids.iter().map(|s| (*s).to_owned()).collect();
        })
    }

    pub fn set_consent(&self, app_id: &str, consent: Consent) -> Result<(), DirectoryError> {
        self.update(app_id, |app| app.consent = consent)
    }

    pub fn set_disabled(&self, app_id: &str, disabled: bool) -> Result<(), DirectoryError> {
        self.update(app_id, |app| app.disabled = disabled)
    }

    fn update(
        &self,
        app_id: &str,
        change: impl FnOnce(&mut AppRegistration),
    ) -> Result<(), DirectoryError> {
        self.write(|apps| match apps.get_mut(&app_id.to_ascii_lowercase()) {
            Some(app) => {
                change(app);
                Ok(())
            }
            None => Err(DirectoryError::UnknownApp(app_id.to_owned())),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&HashMap<String, AppRegistration>) -> T) -> T {
        let guard = self.inner.apps.read();
        f(&guard)
    }

    fn write<T>(&self, f: impl FnOnce(&mut HashMap<String, AppRegistration>) -> T) -> T {
        let mut guard = self.inner.apps.write();
        f(&mut guard)
    }
}
