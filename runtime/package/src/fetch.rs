//! Reading a plugin artifact from anywhere (a registry, a bundle), with the
//! same checks whatever the source: the manifest's shape and declared
//! sizes before any blob is downloaded, then every blob's size and digest.

use async_trait::async_trait;
use oci_client::manifest::{OciDescriptor, OciImageManifest};

use crate::artifact::{self, Blob, Package, check_blob, check_size};
use crate::error::PackageError;
use crate::media;
use crate::name::PackageName;
use crate::signing::Signature;

/// Where artifacts come from.
#[async_trait]
pub trait Fetch: Send + Sync {
    /// The plugin's OCI manifest bytes, at most `media::MAX_MANIFEST_BYTES`.
    async fn manifest(&self) -> Result<Vec<u8>, PackageError>;

    /// The manifest stored under `tag` in the same repository (a
    /// signature's `sha256-<hex>.sig`), or `None` when there is none.
    async fn tagged(&self, tag: &str) -> Result<Option<Vec<u8>>, PackageError>;

    /// One blob. The source may stop reading after `descriptor.size`
    /// bytes; the caller checks size and digest.
    async fn blob(&self, what: &str, descriptor: &OciDescriptor) -> Result<Vec<u8>, PackageError>;

    /// The name the source gives the plugin (`<namespace>/<name>`).
    fn name(&self) -> &PackageName;

    /// The version the source says it is (the tag, or the bundle's index);
    /// the plugin's manifest must agree.
    fn version(&self) -> &semver::Version;

    /// Where it came from, as the lock records it.
    fn origin(&self) -> String;
}

/// A plugin artifact and its signature, fetched and checked (except the
/// signature, which the trust policy checks).
pub struct Fetched {
    pub package: Package,
    pub signature: Option<Signature>,
}

/// Fetches and checks a plugin artifact and looks for its signature.
pub async fn fetch(source: &dyn Fetch) -> Result<Fetched, PackageError> {
    let bytes = source.manifest().await?;
    if bytes.len() as u64 > media::MAX_MANIFEST_BYTES {
        return Err(PackageError::TooLarge {
            what: "the OCI manifest".to_owned(),
            limit: media::MAX_MANIFEST_BYTES,
        });
    }
    let manifest = Blob::new(media::OCI_MANIFEST, bytes);
    let oci = artifact::parse_manifest(&manifest.bytes)?;
    let config = source.blob("the config", &oci.config).await?;
    let config = check_blob("the config", &oci.config, config)?;
    let layer = &oci.layers[0];
    let component = source.blob("the component", layer).await?;
    let component = check_blob("the component", layer, component)?;
    let package = artifact::verify(manifest, &oci, config, component)?;
    if package.name() != source.name().name {
        return Err(PackageError::Artifact(format!(
            "the repository is named {}, the plugin inside is '{}'",
            source.name(),
            package.name()
        )));
    }
    if package.version() != source.version() {
        return Err(PackageError::Artifact(format!(
            "it is offered as version {}, the plugin inside is {}",
            source.version(),
            package.version()
        )));
    }
    let signature = fetch_signature(source, &package.digest).await?;
    Ok(Fetched { package, signature })
}

/// The tag a signature is stored under: cosign's convention for registries
/// without the OCI 1.1 referrers API (distribution 2.8 among them).
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

async fn fetch_signature(
    source: &dyn Fetch,
    digest: &str,
) -> Result<Option<Signature>, PackageError> {
    let Some(bytes) = source.tagged(&signature_tag(digest)).await? else {
        return Ok(None);
    };
    if bytes.len() as u64 > media::MAX_MANIFEST_BYTES {
        return Err(PackageError::TooLarge {
            what: "the signature manifest".to_owned(),
            limit: media::MAX_MANIFEST_BYTES,
        });
    }
    let malformed =
        |what: String| PackageError::Artifact(format!("the signature manifest: {what}"));
    let oci: OciImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    if oci.artifact_type.as_deref() != Some(media::SIGNATURE_ARTIFACT) {
        return Err(malformed(format!(
            "artifactType is {:?}, not {}",
            oci.artifact_type,
            media::SIGNATURE_ARTIFACT
        )));
    }
    let find = |media_type: &str| {
        oci.layers
            .iter()
            .find(|l| l.media_type == media_type)
            .ok_or_else(|| malformed(format!("no {media_type} layer")))
    };
    let payload = find(media::SIGNATURE_PAYLOAD)?;
    let minisig = find(media::MINISIGN_SIGNATURE)?;
    check_size("the signed statement", payload, media::MAX_SIGNATURE_BYTES)?;
    check_size("the signature", minisig, media::MAX_SIGNATURE_BYTES)?;
    let payload_bytes = source.blob("the signed statement", payload).await?;
    let payload_bytes = check_blob("the signed statement", payload, payload_bytes)?.bytes;
    let minisig_bytes = source.blob("the signature", minisig).await?;
    let minisig_bytes = check_blob("the signature", minisig, minisig_bytes)?.bytes;
    let minisig = String::from_utf8(minisig_bytes)
        .map_err(|_| malformed("the minisign signature is not text".to_owned()))?;
    Ok(Some(Signature {
        payload: payload_bytes,
        minisig,
    }))
}

/// The signature manifest and its blobs, to push or bundle beside the
/// artifact: an OCI 1.1 artifact manifest whose `subject` is the plugin's
/// manifest, stored under [`signature_tag`].
pub fn signature_artifact(
    signature: &Signature,
    subject: &Blob,
) -> Result<(Blob, Vec<Blob>), PackageError> {
    let config = Blob::new(media::OCI_EMPTY, b"{}".to_vec());
    let payload = Blob::new(media::SIGNATURE_PAYLOAD, signature.payload.clone());
    let minisig = Blob::new(
        media::MINISIGN_SIGNATURE,
        signature.minisig.as_bytes().to_vec(),
    );
    let oci = OciImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_owned()),
        config: config.descriptor(),
        layers: vec![payload.descriptor(), minisig.descriptor()],
        subject: Some(subject.descriptor()),
        artifact_type: Some(media::SIGNATURE_ARTIFACT.to_owned()),
        annotations: None,
    };
    let manifest = Blob::new(
        media::OCI_MANIFEST,
        serde_json::to_vec(&oci).map_err(|e| PackageError::Artifact(e.to_string()))?,
    );
    Ok((manifest, vec![config, payload, minisig]))
}
