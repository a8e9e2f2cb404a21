//! A plugin publisher for the service's tests: a signing key made by
//! `exorun key new`, and versions of forwarding-audit built from source
//! and published to a test registry by `exorun publish`.

use std::path::{Path, PathBuf};

use crate::{Registry, exorun_in, plugin_copy};

pub const PLUGIN: &str = "plugins/forwarding-audit";
pub const NAME: &str = "forwarding-audit";
pub const KEY_PASSWORD: &str = "correct horse battery staple";
/// The parameter version 0.2.0 adds to Get-Mailbox.
pub const WIDER: &str = "RecipientTypeDetails = { set = [\"UserMailbox\", \"SharedMailbox\"] }";

/// A publisher: a signing key made by `exorun key new`, and plugin
/// versions built from source.
pub struct Publisher {
    dir: tempfile::TempDir,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher::new()
    }
}

impl Publisher {
    pub fn new() -> Publisher {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.password"), format!("{KEY_PASSWORD}\n")).unwrap();
        let out = exorun_in(
            dir.path(),
            &[
                "key",
                "new",
                "--out",
                ".",
                "--name",
                "contoso",
                "--password-file",
                "key.password",
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        Publisher { dir }
    }

    pub fn public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("contoso.pub")).unwrap()
    }

    pub fn key_id(&self) -> String {
        exorun_package::signing::PublicKey::parse(&self.public_key())
            .unwrap()
            .key_id
    }

    /// forwarding-audit as `version`, its manifest passed through `edit`.
    pub fn version(&self, version: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
        plugin_copy(PLUGIN, &self.dir.path().join(version), |text| {
            edit(text.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")))
        })
    }

    /// Publishes `plugin` to `registry` as contoso/forwarding-audit,
    /// signed unless `signed` is false; returns the reference.
    pub fn publish(
        &self,
        registry: &Registry,
        plugin: &Path,
        version: &str,
        signed: bool,
    ) -> String {
        let reference = registry.reference(&format!("contoso/{NAME}:{version}"));
        let mut args = vec![
            "publish".to_owned(),
            plugin.display().to_string(),
            reference.clone(),
        ];
        if signed {
            args.extend([
                "--sign".to_owned(),
                self.dir.path().join("contoso.key").display().to_string(),
                "--key-password-file".to_owned(),
                self.dir.path().join("key.password").display().to_string(),
            ]);
        }
        args.extend(registry.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = exorun_in(self.dir.path(), &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        reference
    }
}

pub fn with_wider(text: String) -> String {
    text.replace(
        "ResultSize = { set = [\"Unlimited\"] }",
        &format!("ResultSize = {{ set = [\"Unlimited\"] }}\n{WIDER}"),
    )
}
