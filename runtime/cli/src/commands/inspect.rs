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
use crate::operator_policy::{self, PolicyArgs};
use crate::sharing::RegistryArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder, its exorun.toml, an installed plugin's name, or
    /// a shared plugin not installed yet: a registry reference or a bundle.
    plugin: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Show what runs may actually do: the manifest narrowed by the
    /// operator policy (the policy folder's default.toml, the tenant's
    /// file with --organization, and any --policy), naming each rule that
    /// narrowed it.
    #[arg(long)]
    effective: bool,
    /// With --effective: the tenant whose policy file applies
    /// (contoso.onmicrosoft.com).
    #[arg(long, value_name = "DOMAIN", requires = "effective")]
    organization: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
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
        if args.effective {
            bail!(
                "--effective shows plugin folders and installed plugins; install the shared plugin first"
            );
        }
        if args.json {
            bail!(
                "--json shows plugin folders and installed plugins; a shared plugin is shown as its consent screen"
            );
        }
        return install::preview(&args.plugin.to_string_lossy(), &args.registry, &args.trust);
    }
    if !args.effective && !args.policy.files.is_empty() {
        bail!("--policy shows its effect with --effective; add --effective");
    }
    let mut manifest = resolve(&args.plugin, &args.store)?;
    if args.effective {
        let policy = operator_policy::load(&args.policy, args.organization.as_deref())?;
        manifest = manifest.narrowed(&policy);
    }
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
        if args.effective {
            out["policy"] = policy_json(&manifest);
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
    for line in manifest.grants().permission_lines() {
        println!("{line}");
    }
    if args.effective {
        println!();
        for line in policy_lines(&manifest) {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy section of `inspect --effective`: the files that applied
/// and every narrowing, each with its rule's file and line.
fn policy_lines(manifest: &Manifest) -> Vec<String> {
    let Some(applied) = manifest.policy() else {
        return vec![format!(
            "Policy     none (no default.toml or tenant file in {}, no --policy): the manifest alone decides",
            operator_policy::policy_dir().display()
        )];
    };
    let mut lines = Vec::new();
    for (i, (label, path, sha256)) in applied.files.iter().enumerate() {
        let head = if i == 0 { "Policy" } else { "" };
        let shown = path.display().to_string();
        let place = if shown == **label {
            String::new()
        } else {
            format!("{shown}, ")
        };
        lines.push(format!(
            "{head:<10} {label} ({place}sha256 {}…)",
            &sha256[..12.min(sha256.len())]
        ));
    }
    if applied.narrowings.is_empty() {
        lines.push("           (narrows nothing this plugin is granted)".to_owned());
    }
    for n in &applied.narrowings {
        lines.push(format!("  {}  [{}]", n.text, n.origin));
    }
    lines
}

fn policy_json(manifest: &Manifest) -> serde_json::Value {
    let Some(applied) = manifest.policy() else {
        return json!({"files": [], "narrowings": []});
    };
    json!({
        "files": applied.files.iter().map(|(label, path, sha256)| json!({
            "label": label.as_ref(),
            "path": path,
            "sha256": sha256,
        })).collect::<Vec<_>>(),
        "narrowings": applied.narrowings.iter().map(|n| json!({
            "capability": n.capability,
            "text": n.text,
            "origin": n.origin.to_string(),
        })).collect::<Vec<_>>(),
    })
}
