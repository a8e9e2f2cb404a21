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
/// The Graph application permission every registration gets by default.
/// With the app an owner of its own registration (as `AppRegistration::new`
/// makes it) it lets the app read its `keyCredentials` before a rotation;
/// `addKey`/`removeKey` on itself need no permission at all.
pub const GRAPH_APPLICATION_READWRITE_OWNEDBY: &str = "Application.ReadWrite.OwnedBy";

/// Whether an admin consented to the app's `Exchange.ManageAsApp` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Granted,
    /// Requested but not consented: Entra still issues a token, without the
    /// role (see `entra::token`), and Exchange then refuses it.
    NotGranted,
}

/// A certificate uploaded to an app registration: one of its key
/// credentials.
#[derive(Clone, Debug)]
pub struct RegisteredCertificate {
    /// The key credential's id, as Graph lists it.
    pub key_id: String,
    /// Graph's `displayName` of the key: the certificate's subject, or what
    /// `addKey` named it.
    pub display_name: String,
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
        let display_name = cert
            .subject_name()
            .entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(RegisteredCertificate {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            thumbprints: Thumbprints::of_der(&der).map_err(bad)?,
            public_key: certificates::public_key(&cert).map_err(bad)?,
            not_before,
            not_after,
        })
    }
}

/// Which kind of managed identity a service principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagedIdentityKind {
    SystemAssigned,
    UserAssigned,
}

/// One app registration and its service principal (or a managed identity,
/// which is a service principal without a registration's keys).
#[derive(Clone, Debug)]
pub struct AppRegistration {
    pub app_id: String,
    /// The application object's id: what Graph's `/applications/{id}` and a
    /// key proof's `iss` name. Not the app id.
    pub object_id: String,
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
    /// Service principal ids owning the registration. `new` makes the app
    /// an owner of its own registration, the one-time set-up that lets
    /// `Application.ReadWrite.OwnedBy` read it.
    pub owners: Vec<String>,
    /// Set for a managed identity: it gets tokens from the identity
    /// endpoints, never from a client assertion.
    pub managed_identity: Option<ManagedIdentityKind>,
}

impl AppRegistration {
    /// A fresh registration with new IDs, consented, with the given roles.
    pub fn new(display_name: &str, role_template_ids: &[&str]) -> Self {
        let service_principal_id = uuid::Uuid::new_v4().to_string();
        AppRegistration {
            app_id: uuid::Uuid::new_v4().to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            display_name: display_name.to_owned(),
            owners: vec![service_principal_id.clone()],
            service_principal_id,
            managed_identity: None,
            certificates: Vec::new(),
            consent: Consent::Granted,
            disabled: false,
            role_template_ids: role_template_ids.iter().map(|s| (*s).to_owned()).collect(),
            graph_permissions: vec![GRAPH_APPLICATION_READWRITE_OWNEDBY.to_owned()],
        }
    }

    /// A managed identity with the given Entra roles, consented to
    /// `Exchange.ManageAsApp`; it has no keys and no Graph permissions.
    pub fn managed_identity(
        display_name: &str,
        kind: ManagedIdentityKind,
        role_template_ids: &[&str],
    ) -> Self {
        let mut identity = AppRegistration::new(display_name, role_template_ids);
        identity.graph_permissions.clear();
        identity.owners.clear();
        identity.managed_identity = Some(kind);
        identity
    }

    /// The key credential with this id.
    pub fn key(&self, key_id: &str) -> Option<&RegisteredCertificate> {
        self.certificates
            .iter()
            .find(|c| c.key_id.eq_ignore_ascii_case(key_id))
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
    #[error("a key credential with the same thumbprint already exists on the application")]
    DuplicateKey,
    #[error("no key credential {0} exists on the application")]
    UnknownKey(String),
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

    /// A copy of the registration whose application object id is `object_id`.
    pub fn app_by_object_id(&self, object_id: &str) -> Option<AppRegistration> {
        self.read(|apps| {
            apps.values()
                .find(|a| a.object_id.eq_ignore_ascii_case(object_id))
                .cloned()
        })
    }

    /// Adds a key credential (Graph `addKey`); a certificate already on the
    /// app is refused.
    pub fn add_key(
        &self,
        app_id: &str,
        key: RegisteredCertificate,
    ) -> Result<RegisteredCertificate, DirectoryError> {
        self.write(|apps| {
            let app = apps
                .get_mut(&app_id.to_ascii_lowercase())
                .ok_or_else(|| DirectoryError::UnknownApp(app_id.to_owned()))?;
            if app
                .certificates
                .iter()
                .any(|c| c.thumbprints.sha1 == key.thumbprints.sha1)
            {
                return Err(DirectoryError::DuplicateKey);
            }
            app.certificates.push(key.clone());
            Ok(key)
        })
    }

    /// Removes a key credential by id (Graph `removeKey`).
    pub fn remove_key(&self, app_id: &str, key_id: &str) -> Result<(), DirectoryError> {
        self.write(|apps| {
            let app = apps
                .get_mut(&app_id.to_ascii_lowercase())
                .ok_or_else(|| DirectoryError::UnknownApp(app_id.to_owned()))?;
            let before = app.certificates.len();
            app.certificates
                .retain(|c| !c.key_id.eq_ignore_ascii_case(key_id));
            if app.certificates.len() == before {
                return Err(DirectoryError::UnknownKey(key_id.to_owned()));
            }
            Ok(())
        })
    }

    /// Registers a user-assigned managed identity with these Entra roles;
    /// the identity endpoints issue its tokens when asked for its client id.
    pub fn add_user_assigned_identity(
        &self,
        display_name: &str,
        role_template_ids: &[&str],
    ) -> AppRegistration {
        let identity = AppRegistration::managed_identity(
            display_name,
            ManagedIdentityKind::UserAssigned,
            role_template_ids,
        );
        self.register_app(identity.clone());
        identity
    }

    /// The system-assigned managed identity, if the tenant has one.
    pub fn system_identity(&self) -> Option<AppRegistration> {
        self.read(|apps| {
            apps.values()
                .find(|a| a.managed_identity == Some(ManagedIdentityKind::SystemAssigned))
                .cloned()
        })
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
