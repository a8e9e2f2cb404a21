//! What a shared plugin is called: `<namespace>/<name>` (the part a trust
//! policy matches) and, in a registry, `<registry>/<namespace>/<name>:<version>`.

use std::fmt;

use crate::error::PackageError;

/// A plugin's name where it is shared: one or more namespace segments and
/// the plugin's own name, which must be the `[plugin] name` of its manifest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageName {
    /// `contoso` or `contoso/exchange`: what a trust policy matches.
    pub namespace: String,
    /// `remove-external-forwarding`.
    pub name: String,
}

impl PackageName {
    /// Parses `<namespace>/<name>`: lowercase path segments as OCI
    /// repositories allow them, at least two.
    pub fn parse(text: &str) -> Result<PackageName, PackageError> {
        let error = |reason: &str| PackageError::Reference {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (namespace, name) = text.rsplit_once('/').ok_or_else(|| {
            error("expected <namespace>/<name>, like contoso/remove-external-forwarding")
        })?;
        for segment in text.split('/') {
            if !valid_segment(segment) {
                return Err(error(
                    "each part must be lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
                ));
            }
        }
        Ok(PackageName {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One OCI repository path segment (the distribution spec's grammar,
/// without the rarely used `__` separators).
fn valid_segment(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A plugin in a registry: `<registry>/<namespace>/<name>:<version>`. The
/// registry must be named (exorun never guesses Docker Hub), and the tag
/// must be a semantic version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRef {
    /// `registry.contoso.com` or `127.0.0.1:5000`.
    pub registry: String,
    pub package: PackageName,
    pub version: semver::Version,
}

impl RegistryRef {
    pub fn parse(text: &str) -> Result<RegistryRef, PackageError> {
        let error = |reason: String| PackageError::Reference {
            text: text.to_owned(),
            reason,
        };
        let (registry, rest) = text.split_once('/').ok_or_else(|| {
            error("expected <registry>/<namespace>/<name>:<version>, like registry.contoso.com/it/remove-external-forwarding:1.0.0".to_owned())
        })?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(error(format!(
                "'{registry}' is not a registry host; name the registry first (host or host:port)"
            )));
        }
        if !registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(error(format!("'{registry}' is not a host or host:port")));
        }
        let (path, tag) = rest.rsplit_once(':').ok_or_else(|| {
            error("name the version as the tag, like :1.0.0 (exorun installs versions, not moving tags like latest)".to_owned())
        })?;
        let version = semver::Version::parse(tag).map_err(|e| {
            error(format!(
                "tag '{tag}' is not a semantic version (like 1.0.0): {e}"
            ))
        })?;
        let package = PackageName::parse(path).map_err(|e| match e {
            PackageError::Reference { reason, .. } => error(reason),
            other => other,
        })?;
        Ok(RegistryRef {
            registry: registry.to_owned(),
            package,
            version,
        })
    }

    /// The same plugin at another version.
    pub fn with_version(&self, version: semver::Version) -> RegistryRef {
        RegistryRef {
            version,
            ..self.clone()
        }
    }

    /// `<registry>/<namespace>/<name>`, without the version.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.package)
    }

    pub(crate) fn oci(&self) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.registry.clone(),
            self.package.to_string(),
            self.version.to_string(),
        )
    }

    pub(crate) fn oci_tag(&self, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.registry.clone(),
            self.package.to_string(),
            tag.to_owned(),
        )
    }

    pub(crate) fn oci_digest(&self, digest: &str) -> oci_client::Reference {
        oci_client::Reference::with_digest(
            self.registry.clone(),
            self.package.to_string(),
            digest.to_owned(),
        )
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.package, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_namespace_name_and_version() {
        let r = RegistryRef::parse("127.0.0.1:5000/contoso/it/forwarding:1.2.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.package.namespace, "contoso/it");
        assert_eq!(r.package.name, "forwarding");
        assert_eq!(r.version, semver::Version::new(1, 2, 0));
        assert_eq!(r.to_string(), "127.0.0.1:5000/contoso/it/forwarding:1.2.0");
    }

    #[test]
    fn refuses_references_without_registry_namespace_or_semver_tag() {
        for (text, says) in [
            ("contoso/forwarding:1.0.0", "is not a registry host"),
            ("registry.example/forwarding:1.0.0", "<namespace>/<name>"),
            ("registry.example/contoso/forwarding", "name the version"),
            (
                "registry.example/contoso/forwarding:latest",
                "not a semantic version",
            ),
            ("registry.example/Contoso/forwarding:1.0.0", "lowercase"),
            ("registry.example/contoso/../x:1.0.0", "lowercase"),
            ("registry.example/contoso//x:1.0.0", "lowercase"),
        ] {
            let error = RegistryRef::parse(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
