//! Bundles: one plugin artifact (and its signature) as an OCI image layout
//! in a tar archive, for air-gapped transfer. `exorun install` also reads
//! an unpacked layout folder, which `make demo` uses as its registry.
//!
//! ```text
//! oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! index.json                 the plugin's manifest, annotated with
//!                            org.opencontainers.image.ref.name =
//!                            <namespace>/<name>:<version>; its signature
//!                            manifest under sha256-<hex>.sig
//! blobs/sha256/<hex>         every manifest and blob
//! ```
//!
//! A bundle comes from someone else, so it is read as hostile: only those
//! paths, only regular files (no links, devices or `..`), a total size cap
//! checked before each entry is read, and every digest checked.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use oci_client::manifest::{ImageIndexEntry, OciDescriptor, OciImageIndex};

use crate::artifact::{Artifact, Blob, check_digest_form, sha256_digest};
use crate::error::PackageError;
use crate::fetch::{Fetch, signature_tag};
use crate::media;
use crate::name::PackageName;

const LAYOUT_FILE: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// Most entries read from a bundle archive.
const MAX_BUNDLE_ENTRIES: usize = 64;

/// Writes the bundle of `artifact` (and its signature manifest and blobs)
/// to `path`, replacing it atomically.
pub fn write_bundle(
    path: &Path,
    name: &PackageName,
    artifact: &Artifact,
    signature: Option<&(Blob, Vec<Blob>)>,
) -> Result<(), PackageError> {
    let version = artifact_version(artifact)?;
    let mut manifests = vec![index_entry(&artifact.manifest, format!("{name}:{version}"))];
    let mut blobs: Vec<&Blob> = vec![&artifact.manifest, &artifact.config, &artifact.component];
    if let Some((manifest, parts)) = signature {
        manifests.push(index_entry(
            manifest,
            signature_tag(&artifact.manifest.digest),
        ));
        blobs.push(manifest);
        blobs.extend(parts);
    }
    let index = OciImageIndex {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_owned()),
        manifests,
        artifact_type: None,
        annotations: None,
    };
    let index = serde_json::to_vec(&index).map_err(|e| PackageError::Bundle(e.to_string()))?;

    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(parent)
        .map_err(PackageError::io("writing a bundle in", parent))?;
    let mut tar = tar::Builder::new(temp);
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes)
            .map_err(PackageError::io("writing", path))
    };
    add("oci-layout", LAYOUT_FILE.as_bytes())?;
    add("index.json", &index)?;
    let mut seen = std::collections::HashSet::new();
    for blob in blobs {
        if seen.insert(blob.digest.clone()) {
            let hex = check_digest_form(&blob.digest)?;
            add(&format!("blobs/sha256/{hex}"), &blob.bytes)?;
        }
    }
    let temp = tar
        .into_inner()
        .map_err(PackageError::io("writing", path))?;
    temp.as_file()
        .sync_all()
        .map_err(PackageError::io("writing", path))?;
    temp.persist(path)
        .map_err(|e| PackageError::io("writing", path)(e.error))?;
    Ok(())
}

fn artifact_version(artifact: &Artifact) -> Result<String, PackageError> {
    let oci = crate::artifact::parse_manifest(&artifact.manifest.bytes)?;
    oci.annotations
        .and_then(|a| a.get(media::ANNOTATION_VERSION).cloned())
        .ok_or_else(|| PackageError::Artifact("the artifact has no version annotation".to_owned()))
}

fn index_entry(manifest: &Blob, ref_name: String) -> ImageIndexEntry {
    ImageIndexEntry {
        media_type: manifest.media_type.clone(),
        digest: manifest.digest.clone(),
        size: manifest.bytes.len() as i64,
        platform: None,
        annotations: Some(BTreeMap::from([(
            media::ANNOTATION_REF_NAME.to_owned(),
            ref_name,
        )])),
        artifact_type: None,
    }
}

/// Where a bundle's files are read from.
enum Files {
    /// A tar archive, read whole (under [`media::MAX_BUNDLE_BYTES`]).
    Archive(HashMap<String, Vec<u8>>),
    /// An unpacked layout folder: files read on demand.
    Folder(PathBuf),
}

/// A bundle's files and where they came from (for messages).
struct Layout {
    path: PathBuf,
    files: Files,
}

impl Layout {
    fn error(&self, what: &str) -> PackageError {
        PackageError::Bundle(format!("bundle {}: {what}", self.path.display()))
    }

    /// One file of the layout, at most `limit` bytes.
    fn file(&self, name: &str, limit: u64) -> Result<Vec<u8>, PackageError> {
        let too_large = || PackageError::TooLarge {
            what: format!("{name} in the bundle"),
            limit,
        };
        match &self.files {
            Files::Archive(files) => {
                let bytes = files
                    .get(name)
                    .ok_or_else(|| self.error(&format!("{name} is missing")))?;
                if bytes.len() as u64 > limit {
                    return Err(too_large());
                }
                Ok(bytes.clone())
            }
            Files::Folder(root) => {
                for folder in ["blobs", "blobs/sha256"] {
                    if name.starts_with(folder)
                        && !std::fs::symlink_metadata(root.join(folder)).is_ok_and(|m| m.is_dir())
                    {
                        return Err(
                            self.error(&format!("{folder} is not a folder (links are refused)"))
                        );
                    }
                }
                let path = root.join(name);
                let meta = std::fs::symlink_metadata(&path)
                    .map_err(|_| self.error(&format!("{name} is missing")))?;
                if !meta.is_file() {
                    return Err(
                        self.error(&format!("{name} is not a regular file (links are refused)"))
                    );
                }
                if meta.len() > limit {
                    return Err(too_large());
                }
                let mut bytes = Vec::with_capacity(meta.len() as usize);
                std::fs::File::open(&path)
                    .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
                    .map_err(PackageError::io("reading", &path))?;
                if bytes.len() as u64 > limit {
                    return Err(too_large());
                }
                Ok(bytes)
            }
        }
    }

    fn blob(&self, digest: &str, limit: u64) -> Result<Vec<u8>, PackageError> {
        let hex = check_digest_form(digest)?;
        self.file(&format!("blobs/sha256/{hex}"), limit)
    }
}

/// A bundle opened for reading: its index checked, nothing else trusted.
pub struct Bundle {
    layout: Layout,
    index: OciImageIndex,
    plugin: ImageIndexEntry,
    name: PackageName,
    version: semver::Version,
}

impl Bundle {
    /// Opens a bundle archive, or an OCI image layout folder.
    pub fn open(path: &Path) -> Result<Bundle, PackageError> {
        // The operator named this path: a link to a bundle is followed.
        // Inside a layout folder nothing is.
        let meta = std::fs::metadata(path).map_err(PackageError::io("opening the bundle", path))?;
        let files = if meta.is_dir() {
            Files::Folder(path.to_owned())
        } else if meta.is_file() {
            Files::Archive(read_archive(path)?)
        } else {
            return Err(PackageError::Bundle(format!(
                "{} is neither a bundle file nor a layout folder",
                path.display()
            )));
        };
        let layout = Layout {
            path: path.to_owned(),
            files,
        };
        let marker = layout.file("oci-layout", 1 << 10).map_err(|_| {
            layout.error(
                "is not an OCI image layout (it has no oci-layout file); exorun install takes what `exorun bundle` writes, and `exorun run` runs a plugin folder",
            )
        })?;
        let marker: serde_json::Value =
            serde_json::from_slice(&marker).map_err(|_| layout.error("oci-layout is not JSON"))?;
        if marker["imageLayoutVersion"] != "1.0.0" {
            return Err(layout.error("oci-layout is not imageLayoutVersion 1.0.0"));
        }
        let index = layout.file("index.json", media::MAX_MANIFEST_BYTES)?;
        let index: OciImageIndex = serde_json::from_slice(&index)
            .map_err(|e| layout.error(&format!("index.json is not an OCI image index: {e}")))?;
        let plugins: Vec<&ImageIndexEntry> = index
            .manifests
            .iter()
            .filter(|m| !ref_name(m).ends_with(".sig"))
            .collect();
        let [plugin] = plugins.as_slice() else {
            return Err(layout.error(&format!(
                "a bundle holds exactly one plugin; this one lists {}",
                plugins.len()
            )));
        };
        let plugin = (*plugin).clone();
        let (name, version) = ref_name(&plugin).rsplit_once(':').ok_or_else(|| {
            layout.error("the plugin's ref.name annotation is not <namespace>/<name>:<version>")
        })?;
        let name = PackageName::parse(name)?;
        let version = semver::Version::parse(version).map_err(|_| {
            layout.error("the plugin's version in index.json is not semantic versioning")
        })?;
        Ok(Bundle {
            layout,
            index,
            plugin,
            name,
            version,
        })
    }
}

fn ref_name(entry: &ImageIndexEntry) -> &str {
    entry
        .annotations
        .as_ref()
        .and_then(|a| a.get(media::ANNOTATION_REF_NAME))
        .map_or("", String::as_str)
}

#[async_trait]
impl Fetch for Bundle {
    async fn manifest(&self) -> Result<Vec<u8>, PackageError> {
        let bytes = self
            .layout
            .blob(&self.plugin.digest, media::MAX_MANIFEST_BYTES)?;
        if sha256_digest(&bytes) != self.plugin.digest {
            return Err(PackageError::Digest {
                what: "the plugin's OCI manifest".to_owned(),
                expected: self.plugin.digest.clone(),
                actual: sha256_digest(&bytes),
            });
        }
        Ok(bytes)
    }

    async fn tagged(&self, tag: &str) -> Result<Option<Vec<u8>>, PackageError> {
        let Some(entry) = self.index.manifests.iter().find(|m| ref_name(m) == tag) else {
            return Ok(None);
        };
        let bytes = self.layout.blob(&entry.digest, media::MAX_MANIFEST_BYTES)?;
        if sha256_digest(&bytes) != entry.digest {
            return Err(PackageError::Digest {
                what: format!("manifest {tag}"),
                expected: entry.digest.clone(),
                actual: sha256_digest(&bytes),
            });
        }
        Ok(Some(bytes))
    }

    async fn blob(&self, _what: &str, descriptor: &OciDescriptor) -> Result<Vec<u8>, PackageError> {
        let limit = u64::try_from(descriptor.size).unwrap_or(0);
        self.layout.blob(&descriptor.digest, limit)
    }

    fn name(&self) -> &PackageName {
        &self.name
    }

    fn version(&self) -> &semver::Version {
        &self.version
    }

    fn origin(&self) -> String {
        self.layout.path.display().to_string()
    }
}

/// Reads a bundle archive into memory, refusing anything but the layout's
/// own regular files.
fn read_archive(path: &Path) -> Result<HashMap<String, Vec<u8>>, PackageError> {
    let refuse = |what: String| PackageError::Bundle(format!("bundle {}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(PackageError::io("opening the bundle", path))?;
    let mut archive = tar::Archive::new(file);
    let mut files = HashMap::new();
    let mut budget = media::MAX_BUNDLE_BYTES;
    // A plugin and its signature are seven files; headers cost memory too.
    let mut entries_left = MAX_BUNDLE_ENTRIES;
    let entries = archive
        .entries()
        .map_err(|e| refuse(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| refuse(format!("not a tar archive: {e}")))?;
        entries_left = entries_left.checked_sub(1).ok_or_else(|| {
            refuse(format!(
                "more than {MAX_BUNDLE_ENTRIES} entries; a bundle holds one plugin and its signature"
            ))
        })?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw.strip_prefix("./").unwrap_or(&raw).to_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir()
            && matches!(
                name.as_str(),
                "" | "blobs" | "blobs/" | "blobs/sha256" | "blobs/sha256/"
            )
        {
            continue;
        }
        if !kind.is_file() {
            return Err(refuse(format!(
                "entry '{}' is a {:?}; a bundle holds only regular files",
                raw.escape_debug(),
                kind
            )));
        }
        let allowed = matches!(name.as_str(), "oci-layout" | "index.json")
            || name
                .strip_prefix("blobs/sha256/")
                .is_some_and(|hex| check_digest_form(&format!("sha256:{hex}")).is_ok());
        if !allowed {
            return Err(refuse(format!(
                "entry '{}' is not part of an OCI image layout (oci-layout, index.json, blobs/sha256/<digest>)",
                raw.escape_debug()
            )));
        }
        let size = entry.header().size().map_err(|e| refuse(e.to_string()))?;
        if size > budget {
            return Err(PackageError::TooLarge {
                what: format!("bundle {}", path.display()),
                limit: media::MAX_BUNDLE_BYTES,
            });
        }
        budget -= size;
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(format!("reading '{name}': {e}")))?;
        if files.insert(name.clone(), bytes).is_some() {
            return Err(refuse(format!("entry '{name}' appears twice")));
        }
    }
    Ok(files)
}
