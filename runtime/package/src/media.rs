//! Media types and annotation keys of the artifacts exorun reads and
//! writes, and the size caps applied before any of them is downloaded.

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (the `index.json` of an image layout).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The CNCF Wasm artifact's config.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The CNCF Wasm artifact's one layer: the component.
pub const WASM_LAYER: &str = "application/wasm";
/// The `artifactType` of a signature manifest.
pub const SIGNATURE_ARTIFACT: &str = "application/vnd.exorun.signature.v1";
/// The signed statement: which plugin name and which digest.
pub const SIGNATURE_PAYLOAD: &str = "application/vnd.exorun.signature.payload.v1+json";
/// A minisign signature file over the payload.
pub const MINISIGN_SIGNATURE: &str = "application/vnd.exorun.minisign.signature.v1";
/// The OCI empty descriptor's media type (a config of `{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
pub const ANNOTATION_AUTHORS: &str = "org.opencontainers.image.authors";
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// The name an image layout's `index.json` gives a manifest
/// (`<namespace>/<name>:<version>`).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// SHA-256 of the permissions the plugin's manifest grants, so a registry
/// listing shows when two versions differ in power.
pub const ANNOTATION_PERMISSIONS: &str = "dev.exorun.permissions.sha256";

/// Largest OCI manifest or index read. Ours are well under 4 KiB.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 10;
/// Largest config read: the plugin's manifest (at most 256 KiB) and the
/// component's WIT world.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest component read. The Python examples are about 18 MiB.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;
/// Largest signature payload or signature file read.
pub const MAX_SIGNATURE_BYTES: u64 = 16 << 10;
/// Largest bundle archive read, everything included.
pub const MAX_BUNDLE_BYTES: u64 = MAX_COMPONENT_BYTES + (16 << 20);
