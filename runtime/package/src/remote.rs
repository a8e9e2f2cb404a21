//! An OCI registry, through `oci-client`: push an artifact and its
//! signature, list versions, fetch with the checks of [`crate::fetch`].
//! Manifests are the one thing read without it: its manifest pull buffers
//! the whole response, and a hostile registry must not be able to make
//! exorun hold more than [`media::MAX_MANIFEST_BYTES`].

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use exorun_cmdlet::{Escaped, error_chain};
use futures::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use secrecy::{ExposeSecret, SecretString};

use crate::artifact::{Artifact, Blob};
use crate::error::PackageError;
use crate::fetch::{Fetch, signature_tag};
use crate::media;
use crate::name::{PackageName, RegistryRef};

/// How to reach a registry.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS. Only for a registry on this machine or
    /// a network you control; the default is HTTPS.
    pub plain_http: bool,
    /// A PEM file of CA certificates to trust besides the system's (a
    /// private registry's CA).
    pub ca_file: Option<PathBuf>,
    /// Basic authentication.
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

impl crate::store::RegistrySettings {
    /// How to reach the registry these settings name (the lock's, or
    /// serve.toml's `[[registry]]`), the password read from the first line
    /// of its file now.
    pub fn options(&self) -> Result<RegistryOptions, PackageError> {
        let password = match &self.password_file {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(PackageError::io("reading the registry password from", file))?;
                Some(SecretString::from(
                    text.lines().next().unwrap_or("").to_owned(),
                ))
            }
            None => None,
        };
        Ok(RegistryOptions {
            plain_http: self.plain_http,
            ca_file: self.ca.clone(),
            username: self.user.clone(),
            password,
        })
    }
}

/// One repository of one registry, at one version.
pub struct Registry {
    client: oci_client::Client,
    auth: RegistryAuth,
    reference: RegistryRef,
    /// For manifests, which exorun reads itself (see `Registry::manifest_at`).
    http: reqwest::Client,
    scheme: &'static str,
}

impl Registry {
    pub fn new(
        reference: &RegistryRef,
        options: &RegistryOptions,
    ) -> Result<Registry, PackageError> {
        let mut config = ClientConfig {
            protocol: if options.plain_http {
                ClientProtocol::HttpsExcept(vec![reference.registry.clone()])
            } else {
                ClientProtocol::Https
            },
            // An image index is never a plugin: refuse it instead of
            // choosing a platform.
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..ClientConfig::default()
        };
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60));
        if let Some(path) = &options.ca_file {
            let data =
                std::fs::read(path).map_err(PackageError::io("reading the CA file", path))?;
            let certificate =
                reqwest::Certificate::from_pem(&data).map_err(|e| PackageError::Registry {
                    registry: reference.registry.clone(),
                    message: format!("{} is not a PEM certificate: {e}", path.display()),
                })?;
            http = http.add_root_certificate(certificate);
            config.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let http = http.build().map_err(|e| PackageError::Registry {
            registry: reference.registry.clone(),
            message: format!("setting up HTTPS: {e}"),
        })?;
        let auth = match (&options.username, &options.password) {
            (Some(user), Some(password)) => {
                RegistryAuth::Basic(user.clone(), password.expose_secret().to_owned())
            }
            (None, None) => RegistryAuth::Anonymous,
            _ => {
                return Err(PackageError::Registry {
                    registry: reference.registry.clone(),
                    message: "give both a user name and a password file, or neither".to_owned(),
                });
            }
        };
        Ok(Registry {
            client: oci_client::Client::new(config),
            auth,
            reference: reference.clone(),
            http,
            scheme: if options.plain_http { "http" } else { "https" },
        })
    }

    pub fn reference(&self) -> &RegistryRef {
        &self.reference
    }

    /// The same repository at another version.
    pub fn at(&self, version: semver::Version) -> Registry {
        Registry {
            client: self.client.clone(),
            auth: self.auth.clone(),
            reference: self.reference.with_version(version),
            http: self.http.clone(),
            scheme: self.scheme,
        }
    }

    fn error(&self, error: OciDistributionError) -> PackageError {
        registry_error(&self.reference.registry, error)
    }

    /// A download cut short: by the digest check `oci-client` runs as the
    /// bytes arrive, or by the connection.
    fn stream_error(&self, what: &str, error: std::io::Error) -> PackageError {
        if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) =
            error.get_ref().and_then(|e| e.downcast_ref())
        {
            return PackageError::Digest {
                what: format!("{what} the registry sent"),
                expected: expected.clone(),
                actual: actual.clone(),
            };
        }
        PackageError::Registry {
            registry: self.reference.registry.clone(),
            message: format!("downloading {what}: {}", clean(&error.to_string())),
        }
    }

    /// Pushes the artifact under its version tag, then the signature
    /// manifest (if any) under `sha256-<hex>.sig`. Returns the digest.
    pub async fn push(
        &self,
        artifact: &Artifact,
        signature: Option<&(Blob, Vec<Blob>)>,
    ) -> Result<String, PackageError> {
        let image = self.reference.oci();
        self.client
            .auth(&image, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| self.error(e))?;
        for blob in [&artifact.config, &artifact.component] {
            self.push_blob(blob).await?;
        }
        self.push_manifest(&image, &artifact.manifest).await?;
        if let Some((manifest, parts)) = signature {
            for blob in parts {
                self.push_blob(blob).await?;
            }
            let tag = self
                .reference
                .oci_tag(&signature_tag(&artifact.manifest.digest));
            self.push_manifest(&tag, manifest).await?;
        }
        Ok(artifact.manifest.digest.clone())
    }

    async fn push_blob(&self, blob: &Blob) -> Result<(), PackageError> {
        let image = self.reference.oci();
        let exists = self
            .client
            .blob_exists(&image, &blob.digest)
            .await
            .map_err(|e| self.error(e))?;
        if !exists {
            self.client
                .push_blob(&image, blob.bytes.clone(), &blob.digest)
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    async fn push_manifest(
        &self,
        image: &oci_client::Reference,
        manifest: &Blob,
    ) -> Result<(), PackageError> {
        let content_type = http::HeaderValue::from_static(media::OCI_MANIFEST);
        self.client
            .push_manifest_raw(image, manifest.bytes.clone(), content_type)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Every version tag of the repository, lowest first. Tags that are not
    /// semantic versions (signatures among them) are left out.
    pub async fn versions(&self) -> Result<Vec<semver::Version>, PackageError> {
        let image = self.reference.oci();
        let mut versions = Vec::new();
        let mut last: Option<String> = None;
        // Pages of 1000, at most 100 of them: a hostile registry cannot keep
        // exorun listing forever.
        for _ in 0..100 {
            let page = self
                .client
                .list_tags(&image, &self.auth, Some(1000), last.as_deref())
                .await
                .map_err(|e| self.error(e))?;
            let done = page.tags.len() < 1000;
            last = page.tags.last().cloned();
            versions.extend(
                page.tags
                    .iter()
                    .filter_map(|t| semver::Version::parse(t).ok()),
            );
            if done || last.is_none() {
                break;
            }
        }
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    /// The digest the version's tag points at now, `None` if there is no
    /// such tag.
    pub async fn digest(&self) -> Result<Option<String>, PackageError> {
        match self
            .client
            .fetch_manifest_digest(&self.reference.oci(), &self.auth)
            .await
        {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// The manifest stored under `tag_or_digest`, `None` when there is
    /// none. Read here rather than with oci-client, whose manifest pull
    /// reads the whole response before its size can be checked: the body
    /// is streamed and cut at [`media::MAX_MANIFEST_BYTES`], and a digest
    /// the registry states for it must be the digest of what it sent.
    async fn manifest_at(&self, tag_or_digest: &str) -> Result<Option<Vec<u8>>, PackageError> {
        let url = format!(
            "{}://{}/v2/{}/manifests/{tag_or_digest}",
            self.scheme, self.reference.registry, self.reference.package
        );
        let image = self.reference.oci_tag(tag_or_digest);
        // oci-client's authentication: the token dance of token-based
        // registries, or nothing for basic and anonymous access.
        let token = self
            .client
            .auth(&image, &self.auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| self.error(e))?;
        let request = self.http.get(&url).header("Accept", media::OCI_MANIFEST);
        let request = match (&token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, _) => request,
        };
        let failed = |e: reqwest::Error| PackageError::Registry {
            registry: self.reference.registry.clone(),
            message: clean(&error_chain(&e)),
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(PackageError::Registry {
                registry: self.reference.registry.clone(),
                message: CREDENTIALS_REFUSED.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(PackageError::Registry {
                registry: self.reference.registry.clone(),
                message: format!("answered {status} for {tag_or_digest}"),
            });
        }
        let limit = media::MAX_MANIFEST_BYTES;
        let too_large = || PackageError::TooLarge {
            what: "the OCI manifest".to_owned(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let stated = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = crate::artifact::sha256_digest(&bytes);
        let expected = if tag_or_digest.starts_with("sha256:") {
            Some(tag_or_digest.to_owned())
        } else {
            stated
        };
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(PackageError::Digest {
                what: format!("the manifest the registry sent for {tag_or_digest}"),
                expected: clean(&expected),
                actual,
            });
        }
        Ok(Some(bytes))
    }
}

#[async_trait]
impl Fetch for Registry {
    async fn manifest(&self) -> Result<Vec<u8>, PackageError> {
        self.manifest_at(&self.reference.version.to_string())
            .await?
            .ok_or_else(|| PackageError::Registry {
                registry: self.reference.registry.clone(),
                message: format!(
                    "{} is not there (no such repository or version)",
                    self.reference
                ),
            })
    }

    async fn tagged(&self, tag: &str) -> Result<Option<Vec<u8>>, PackageError> {
        self.manifest_at(tag).await
    }

    /// Streams the blob and stops as soon as it passes its declared size,
    /// so a registry that sends more than it promised cannot fill memory.
    async fn blob(&self, what: &str, descriptor: &OciDescriptor) -> Result<Vec<u8>, PackageError> {
        let limit = u64::try_from(descriptor.size).unwrap_or(0);
        let image = self.reference.oci_digest(&descriptor.digest);
        let mut stream = self
            .client
            .pull_blob_stream(&image, descriptor)
            .await
            .map_err(|e| self.error(e))?;
        if stream.content_length.is_some_and(|n| n > limit) {
            return Err(PackageError::TooLarge {
                what: format!("{what} as the registry sends it"),
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(limit.min(64 << 20) as usize);
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk.map_err(|e| self.stream_error(what, e))?;
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(PackageError::TooLarge {
                    what: format!("{what} as the registry sends it"),
                    limit,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    fn name(&self) -> &PackageName {
        &self.reference.package
    }

    fn version(&self) -> &semver::Version {
        &self.reference.version
    }

    fn origin(&self) -> String {
        self.reference.to_string()
    }
}

/// What a 401 or 403, or oci-client's authentication failure, is reported as.
const CREDENTIALS_REFUSED: &str =
    "the registry refused the credentials (check --registry-user and --registry-password-file)";

fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

/// A registry's error, as a message: what the registry said (capped, its
/// control characters escaped), and what to check.
fn registry_error(registry: &str, error: OciDistributionError) -> PackageError {
    let message = match &error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => CREDENTIALS_REFUSED.to_owned(),
        OciDistributionError::DigestError(e) => {
            format!(
                "the registry sent content that does not match its digest ({})",
                clean(&e.to_string())
            )
        }
        OciDistributionError::RequestError(e) if e.is_connect() => format!(
            "cannot connect ({}); is the registry running, and does it speak {}?",
            clean(&error_chain(e)),
            "the protocol you asked for (HTTPS unless --plain-http)"
        ),
        OciDistributionError::RequestError(e) => clean(&error_chain(e)),
        other => clean(&other.to_string()),
    };
    PackageError::Registry {
        registry: registry.to_owned(),
        message,
    }
}

/// At most 300 characters of text a registry chose, escaped as all
/// untrusted text is: it ends up on the operator's terminal.
fn clean(text: &str) -> String {
    let head: String = text.chars().take(300).collect();
    let mut out = Escaped(&head).to_string();
    if head.len() < text.len() {
        out.push('…');
    }
    out
}
