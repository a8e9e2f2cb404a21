//! `exorun inspect <plugin>`: what a plugin may do, like JEA's
//! Get-PSSessionCapability, read from its manifest alone.

use std::path::PathBuf;
use std::process::ExitCode;

use exorun_cmdlet::Escaped;
use exorun_policy::{Constraint, Manifest};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder, or its exorun.toml.
    plugin: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
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
    let manifest = Manifest::load(&args.plugin)?;
    let state = digest_state(&manifest);
    let plugin = &manifest.plugin;
    if args.json {
        let cmdlets: Vec<_> = manifest
            .capabilities
            .cmdlets()
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "readOnly": c.read_only,
                    "parameters": c.parameters.iter().map(|p| json!({
                        "name": p.name,
                        "constraint": constraint_json(&p.constraint),
                        "sensitive": p.sensitive,
                        "clear": p.clear,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let inputs: Vec<_> = manifest
            .inputs
            .iter()
            .map(|i| {
                json!({
                    "name": i.name, "type": i.ty.name(), "required": i.required,
                    "default": i.default.as_ref().map(|d| d.to_string()),
                    "description": i.description,
                })
            })
            .collect();
        let out = json!({
            "name": plugin.name,
            "version": plugin.version.to_string(),
            "description": plugin.description,
            "authors": plugin.authors,
            "component": plugin.component,
            "sha256": plugin.sha256,
            "digest": state,
            "readOnly": manifest.capabilities.is_read_only(),
            "cmdlets": cmdlets,
            "inputs": inputs,
            "limits": {
                "memoryMiB": manifest.limits.memory_mib,
                "timeoutSeconds": manifest.limits.timeout.as_secs(),
                "maxCalls": manifest.limits.max_calls,
            },
            "outputs": manifest.outputs.map(|o| json!({"maxMiB": o.max_mib, "maxFiles": o.max_files})),
            "manifestSha256": manifest.sha256,
        });
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
    println!(
        "Access     {}",
        if manifest.capabilities.is_read_only() {
            "read-only (Get-/Test-/Search- cmdlets only)"
        } else {
            "READ AND WRITE"
        }
    );
    println!();
    println!("Cmdlets (anything not listed is denied)");
    if manifest.capabilities.cmdlets().is_empty() {
        println!("  (none: this plugin cannot call any cmdlet)");
    }
    for c in manifest.capabilities.cmdlets() {
        println!(
            "  {:<40} {}",
            c.name,
            if c.read_only { "read" } else { "WRITE" }
        );
        if c.parameters.is_empty() {
            println!("    (no parameters)");
        }
        for p in &c.parameters {
            let sensitive = if p.sensitive { "  [sensitive]" } else { "" };
            let clear = if p.clear {
                "  [may clear: $null, @(), @{}]"
            } else {
                ""
            };
            println!(
                "    -{:<37} {}{sensitive}{clear}",
                p.name,
                Escaped(&p.constraint.to_string())
            );
        }
    }
    println!();
    println!("Inputs");
    if manifest.inputs.is_empty() {
        println!("  (none)");
    }
    for i in &manifest.inputs {
        let default = match (&i.default, i.required) {
            (_, true) => "required".to_owned(),
            (Some(d), _) => format!("default {d}"),
            (None, false) => "optional".to_owned(),
        };
        println!(
            "  {:<20} {:<8} {:<28} {}",
            i.name,
            i.ty.name(),
            Escaped(&default),
            Escaped(&i.description)
        );
    }
    println!();
    println!(
        "Limits     memory {} MiB · timeout {} s · at most {} cmdlet calls",
        manifest.limits.memory_mib,
        manifest.limits.timeout.as_secs(),
        manifest.limits.max_calls
    );
    match &manifest.outputs {
        Some(outputs) => println!(
            "Outputs    a fresh folder per run (/outputs): at most {} MiB written, {} files and folders; no links",
            outputs.max_mib, outputs.max_files
        ),
        None => println!("Outputs    none: no filesystem at all"),
    }
    Ok(ExitCode::SUCCESS)
}

fn constraint_json(c: &Constraint) -> serde_json::Value {
    match c {
        Constraint::Any => json!({"any": true}),
        Constraint::Set(entries) => {
            json!({"set": entries.iter().map(|e| e.display().to_owned()).collect::<Vec<_>>()})
        }
        Constraint::Pattern(p) => json!({"pattern": p.source}),
    }
}
