//! The CNCF Wasm OCI artifact of one plugin, built from a plugin folder
//! and checked, piece by piece, when it comes back.
//!
//! Layout (the CNCF TAG Runtime's "Wasm OCI Artifact" format):
//!
//! * an OCI image manifest, annotated with `org.opencontainers.image.*`;
//! * its config, `application/vnd.wasm.config.v0+json`: `created`,
//!   `author`, `architecture: "wasm"`, `os: "wasip2"`, `layerDigests`, the
//!   component's WIT world, and exorun's own `exorun.manifest`, the
//!   plugin's `exorun.toml` verbatim;
//! * one `application/wasm` layer, the component.
//!
//! Keeping the permissions in the config leaves one layer, so generic Wasm
//! tools (`wkg`, `oci-wasm`) can still pull the component, while the
//! manifest digest covers component and permissions together.

use std::collections::BTreeMap;
use std::path::Path;

use exorun_policy::Manifest;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::PackageError;
use crate::media;

/// One blob: bytes, their media type and their digest.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// `sha256:<hex>`.
    pub digest: String,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_owned(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    pub fn descriptor(&self) -> OciDescriptor {
        OciDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as i64,
            urls: None,
            annotations: None,
            artifact_type: None,
        }
    }
}

/// `sha256:<lowercase hex>` of some bytes, as OCI writes digests.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The Wasm artifact's config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<String>,
    #[serde(default)]
    pub component: Option<ComponentWorld>,
    /// exorun's addition; absent from Wasm artifacts exorun did not make.
    #[serde(default)]
    pub exorun: Option<ExorunConfig>,
}

/// The component's imports and exports, from its WIT world.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentWorld {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExorunConfig {
    /// The plugin's `exorun.toml`, byte for byte: its SHA-256 is the
    /// manifest digest plans and audit records name.
    pub manifest: String,
}

/// An artifact ready to push or bundle.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The OCI image manifest, serialized once: its digest is the
    /// artifact's identity, so these exact bytes are what gets pushed.
    pub manifest: Blob,
    pub config: Blob,
    pub component: Blob,
}

/// What `exorun publish` and `exorun bundle` record about where a plugin
/// came from.
#[derive(Clone, Debug, Default)]
pub struct PublishInfo {
    /// `org.opencontainers.image.source`: where its source lives.
    pub source: Option<String>,
    /// When it was published; RFC 3339.
    pub created: String,
}

impl Artifact {
    /// The artifact of a built plugin folder (or its `exorun.toml`). The
    /// component must be built and match the digest the manifest pins.
    pub fn from_plugin(path: &Path, info: &PublishInfo) -> Result<Artifact, PackageError> {
        let manifest = Manifest::load(path)?;
        // The exact bytes the digest was taken of: read again and compared,
        // so a file edited since is not published under the old digest.
        let text = std::fs::read_to_string(&manifest.path)
            .map_err(PackageError::io("reading", &manifest.path))?;
        if hex::encode(Sha256::digest(text.as_bytes())) != manifest.sha256 {
            return Err(PackageError::Artifact(format!(
                "{} changed while it was read; publish again",
                manifest.path.display()
            )));
        }
        let Some(pinned) = &manifest.plugin.sha256 else {
            return Err(PackageError::Artifact(format!(
                "{} pins no component digest; run `exorun build` first",
                manifest.path.display()
            )));
        };
        let component =
            std::fs::read(&manifest.plugin.component).map_err(|source| PackageError::Io {
                what: "reading the component (run `exorun build` first)",
                path: manifest.plugin.component.clone(),
                source,
            })?;
        let component = Blob::new(media::WASM_LAYER, component);
        if component.digest != format!("sha256:{pinned}") {
            return Err(PackageError::Artifact(format!(
                "{} is not the component {} pins (sha256 {}); run `exorun build` again",
                manifest.plugin.component.display(),
                manifest.path.display(),
                pinned
            )));
        }
        let plugin = &manifest.plugin;
        let config = WasmConfig {
            created: info.created.clone(),
            author: (!plugin.authors.is_empty()).then(|| plugin.authors.join(", ")),
            architecture: "wasm".to_owned(),
            os: "wasip2".to_owned(),
            layer_digests: vec![component.digest.clone()],
            component: Some(crate::wit::world_of(&component.bytes)?),
            exorun: Some(ExorunConfig { manifest: text }),
        };
        let config = Blob::new(
            media::WASM_CONFIG,
            serde_json::to_vec(&config).map_err(|e| PackageError::Artifact(e.to_string()))?,
        );
        let mut annotations = BTreeMap::new();
        annotations.insert(media::ANNOTATION_TITLE.to_owned(), plugin.name.clone());
        annotations.insert(
            media::ANNOTATION_VERSION.to_owned(),
            plugin.version.to_string(),
        );
        annotations.insert(media::ANNOTATION_CREATED.to_owned(), info.created.clone());
        if !plugin.description.is_empty() {
            annotations.insert(
                media::ANNOTATION_DESCRIPTION.to_owned(),
                plugin.description.clone(),
            );
        }
        if !plugin.authors.is_empty() {
            annotations.insert(
                media::ANNOTATION_AUTHORS.to_owned(),
                plugin.authors.join(", "),
            );
        }
        if let Some(source) = &info.source {
            annotations.insert(media::ANNOTATION_SOURCE.to_owned(), source.clone());
        }
        annotations.insert(
            media::ANNOTATION_PERMISSIONS.to_owned(),
            manifest.grants().permissions_sha256(),
        );
        let oci = OciImageManifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_owned()),
            config: config.descriptor(),
            layers: vec![component.descriptor()],
            subject: None,
            artifact_type: None,
            annotations: Some(annotations),
        };
        let manifest = Blob::new(
            media::OCI_MANIFEST,
            serde_json::to_vec(&oci).map_err(|e| PackageError::Artifact(e.to_string()))?,
        );
        Ok(Artifact {
            manifest,
            config,
            component,
        })
    }
}

/// A plugin artifact as fetched and checked: every digest matched, the
/// shape is the Wasm artifact's, and the manifest inside is valid and pins
/// exactly this component. Its signature is checked separately
/// ([`crate::signing`]).
#[derive(Clone, Debug)]
pub struct Package {
    /// The OCI manifest digest: the artifact's identity.
    pub digest: String,
    pub artifact: Artifact,
    /// The plugin's `exorun.toml`.
    pub manifest_text: String,
    /// It, validated. Its `component` path is not meaningful until the
    /// package is installed.
    pub manifest: Manifest,
    pub annotations: BTreeMap<String, String>,
    pub world: ComponentWorld,
}

impl Package {
    /// The name, version and permissions digest, for messages.
    pub fn version(&self) -> &semver::Version {
        &self.manifest.plugin.version
    }

    pub fn name(&self) -> &str {
        &self.manifest.plugin.name
    }

    pub fn permissions_sha256(&self) -> String {
        self.manifest.grants().permissions_sha256()
    }
}

/// The OCI manifest of a plugin artifact, checked for shape before any
/// blob is downloaded: the descriptors say how large the config and the
/// component are, and both must be under their caps.
pub fn parse_manifest(bytes: &[u8]) -> Result<OciImageManifest, PackageError> {
    let manifest: OciImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        PackageError::Artifact(format!(
            "the OCI manifest is not valid JSON of an image manifest: {e}"
        ))
    })?;
    if manifest.schema_version != 2 {
        return Err(PackageError::Artifact(format!(
            "OCI manifest schemaVersion is {}, not 2",
            manifest.schema_version
        )));
    }
    if let Some(media_type) = &manifest.media_type
        && media_type != media::OCI_MANIFEST
    {
        return Err(PackageError::Artifact(format!(
            "the manifest's media type is {media_type}, not {}",
            media::OCI_MANIFEST
        )));
    }
    if manifest.config.media_type != media::WASM_CONFIG {
        return Err(PackageError::Artifact(format!(
            "the config's media type is {}, not {} (is this a Wasm component artifact?)",
            manifest.config.media_type,
            media::WASM_CONFIG
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(PackageError::Artifact(format!(
            "a plugin artifact has exactly one layer, this one has {}",
            manifest.layers.len()
        )));
    };
    if layer.media_type != media::WASM_LAYER {
        return Err(PackageError::Artifact(format!(
            "the layer's media type is {}, not {}",
            layer.media_type,
            media::WASM_LAYER
        )));
    }
    check_size("the config", &manifest.config, media::MAX_CONFIG_BYTES)?;
    check_size("the component", layer, media::MAX_COMPONENT_BYTES)?;
    Ok(manifest)
}

/// Refuses a descriptor whose declared size is negative or above `limit`,
/// or whose digest is not a SHA-256.
pub(crate) fn check_size(
    what: &str,
    descriptor: &OciDescriptor,
    limit: u64,
) -> Result<u64, PackageError> {
    check_digest_form(&descriptor.digest)?;
    let size = u64::try_from(descriptor.size)
        .map_err(|_| PackageError::Artifact(format!("{what} has a negative size")))?;
    if size > limit {
        return Err(PackageError::TooLarge {
            what: format!("{what} ({size} bytes declared)"),
            limit,
        });
    }
    Ok(size)
}

/// Accepts only `sha256:<64 lowercase hex>`, the one algorithm exorun
/// checks (and the form store paths are made from).
pub(crate) fn check_digest_form(digest: &str) -> Result<&str, PackageError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(PackageError::Artifact(format!(
            "'{}' is not a sha256 digest",
            digest.chars().take(80).collect::<String>()
        ))),
    }
}

/// Checks fetched bytes against their descriptor: exact size and digest.
pub(crate) fn check_blob(
    what: &str,
    descriptor: &OciDescriptor,
    bytes: Vec<u8>,
) -> Result<Blob, PackageError> {
    let blob = Blob::new(&descriptor.media_type, bytes);
    if blob.digest != descriptor.digest {
        return Err(PackageError::Digest {
            what: what.to_owned(),
            expected: descriptor.digest.clone(),
            actual: blob.digest,
        });
    }
    if blob.bytes.len() as i64 != descriptor.size {
        return Err(PackageError::Artifact(format!(
            "{what} is {} bytes, its descriptor says {}",
            blob.bytes.len(),
            descriptor.size
        )));
    }
    Ok(blob)
}

/// Assembles and checks a package from its fetched pieces.
pub fn verify(
    manifest: Blob,
    oci: &OciImageManifest,
    config: Blob,
    component: Blob,
) -> Result<Package, PackageError> {
    let parsed: WasmConfig = serde_json::from_slice(&config.bytes)
        .map_err(|e| PackageError::Artifact(format!("the config is not a Wasm config: {e}")))?;
    if parsed.layer_digests != [component.digest.clone()] {
        return Err(PackageError::Artifact(format!(
            "the config lists layers {:?}, the manifest {}",
            parsed.layer_digests, component.digest
        )));
    }
    let Some(exorun) = parsed.exorun else {
        return Err(PackageError::Artifact(
            "the config carries no exorun.toml: this Wasm artifact was not published by exorun"
                .to_owned(),
        ));
    };
    let digest = manifest.digest.clone();
    let virtual_path = Path::new("exorun.toml");
    let plugin = Manifest::parse(virtual_path, &exorun.manifest)?;
    let pinned = plugin.plugin.sha256.as_deref().unwrap_or("");
    if component.digest != format!("sha256:{pinned}") {
        return Err(PackageError::Artifact(format!(
            "the manifest pins component sha256 {}, the layer is {}",
            if pinned.is_empty() { "(none)" } else { pinned },
            component.digest
        )));
    }
    let annotations = oci.annotations.clone().unwrap_or_default();
    let claims = [
        (media::ANNOTATION_TITLE, plugin.plugin.name.clone()),
        (media::ANNOTATION_VERSION, plugin.plugin.version.to_string()),
        (
            media::ANNOTATION_PERMISSIONS,
            plugin.grants().permissions_sha256(),
        ),
    ];
    for (key, actual) in claims {
        if let Some(claimed) = annotations.get(key)
            && *claimed != actual
        {
            return Err(PackageError::Artifact(format!(
                "annotation {key} says '{claimed}', the plugin's manifest '{actual}'"
            )));
        }
    }
    Ok(Package {
        digest,
        artifact: Artifact {
            manifest,
            config,
            component,
        },
        manifest_text: exorun.manifest,
        manifest: plugin,
        annotations,
        world: parsed.component.unwrap_or_default(),
    })
}
