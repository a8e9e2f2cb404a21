//! `exorun inspect <plugin>`: what a plugin may do, like JEA's
//! Get-PSSessionCapability, read from its manifest alone: the plugin's
//! name and digest, then each registered capability's own description.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use exorun_cmdlet::Escaped;
use exorun_package::RegistryRef;
use exorun_policy::capability::REGISTRY;
use exorun_policy::{Manifest, Section};
use serde_json::json;

use crate::commands::install;
use crate::installed::{StoreArg, TrustArg, resolve};
use crate::sharing::RegistryArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder, its exorun.toml, an installed plugin's name, or
    /// a shared plugin not installed yet: a registry reference or a bundle.
    plugin: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    trust: TrustArg,
}

/// A registry reference, a bundle file or a layout folder: a shared plugin
/// to preview rather than a plugin folder.
fn is_shared(arg: &Path) -> bool {
    let text = arg.to_string_lossy();
    match std::fs::metadata(arg) {
        Ok(meta) if meta.is_file() => !text.ends_with(".toml"),
        Ok(meta) => meta.is_dir() && arg.join("oci-layout").is_file(),
        Err(_) => RegistryRef::parse(&text).is_ok(),
    }
}

/// What a manifest grants, capability by capability, as `exorun inspect`
/// prints it (and the consent screen of `exorun install`).
pub fn permission_lines(manifest: &Manifest) -> Vec<String> {
    let mut lines = Vec::new();
    for section in REGISTRY.iter().map(|c| c.describe(manifest.grants())) {
        lines.push(String::new());
        lines.extend(section.text);
    }
    lines
}

/// Whether the component on disk is the one the manifest pins.
fn digest_state(manifest: &Manifest) -> &'static str {
    let Some(pinned) = &manifest.plugin.sha256 else {
        return "not pinned (run `exorun build`)";
    };
    match exorun_build::sha256_file(&manifest.plugin.component) {
        Ok(actual) if actual == *pinned => "verified",
        Ok(_) => "MISMATCH: the component differs from the pinned digest",
        Err(_) => "component not built (run `exorun build`)",
    }
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    if is_shared(&args.plugin) {
        if args.json {
            bail!(
                "--json shows plugin folders and installed plugins; a shared plugin is shown as its consent screen"
            );
        }
        return install::preview(&args.plugin.to_string_lossy(), &args.registry, &args.trust);
    }
    let manifest = resolve(&args.plugin, &args.store)?;
    let state = digest_state(&manifest);
    let plugin = &manifest.plugin;
    if args.json {
        // Everything below the plugin's name comes from the registered
        // capabilities, so none can be left out.
        let sections: Vec<Section> = REGISTRY
            .iter()
            .map(|c| c.describe(manifest.grants()))
            .collect();
        let mut out = json!({
            "name": plugin.name,
            "version": plugin.version.to_string(),
            "description": plugin.description,
            "authors": plugin.authors,
            "component": plugin.component,
            "sha256": plugin.sha256,
            "digest": state,
            "manifestSha256": manifest.sha256,
        });
        for (key, value) in sections.into_iter().flat_map(|s| s.json) {
            out[key] = value;
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }

    println!("Plugin     {} {}", plugin.name, plugin.version);
    if !plugin.description.is_empty() {
        println!("           {}", Escaped(&plugin.description));
    }
    if !plugin.authors.is_empty() {
        println!("Authors    {}", Escaped(&plugin.authors.join(", ")));
    }
    println!("Component  {}", plugin.component.display());
    println!(
        "sha256     {} ({state})",
        plugin.sha256.as_deref().unwrap_or("-")
    );
    for line in permission_lines(&manifest) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
