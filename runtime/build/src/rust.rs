//! Rust plugins: `cargo build --release --target wasm32-wasip2`, which links
//! a component directly.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{BuildError, Toolchain};

const TARGET: &str = "wasm32-wasip2";

/// Builds the crate in `dir` and returns the path of its component.
pub fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest);
    // The build machine's paths (home folder, checkout location) would end
    // up in panic messages inside the component, which is shared with
    // others: remap them to fixed prefixes.
    command.env("CARGO_ENCODED_RUSTFLAGS", remap_flags(&cargo, &manifest));
    let shown = format!(
        "cargo build --release --target {TARGET} --manifest-path {}",
        manifest.display()
    );
    let output = command.output().map_err(|source| BuildError::ToolMissing {
        command: shown.clone(),
        hint: "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`",
        source,
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let hint = if stderr.contains("may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            "\nhint: the wasm32-wasip2 target is missing; run `rustup target add wasm32-wasip2`"
                .to_owned()
        } else if stderr.contains("failed to find a workspace root")
            || stderr.contains("from workspace root manifest")
        {
            // Only now: finding the SDK may unpack the bundled copy.
            workspace_hint(&manifest, &Toolchain::discover(dir))
        } else {
            String::new()
        };
        return Err(BuildError::ToolFailed {
            command: shown,
            output: format!("{}{hint}", stderr.trim_end()),
        });
    }
    let package = package_name(&manifest)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    find_component(&stdout, &package).ok_or_else(|| {
        BuildError::Output(format!(
            "cargo built {package} but produced no .wasm; is it a `crate-type = [\"cdylib\"]` library?"
        ))
    })
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
}

/// The `.wasm` artifact of `package` among cargo's JSON messages.
fn find_component(messages: &str, package: &str) -> Option<PathBuf> {
    let wanted = package.replace('-', "_");
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact")
        .filter(|m| {
            m.target
                .as_ref()
                .is_some_and(|t| t.name.replace('-', "_") == wanted)
        })
        .flat_map(|m| m.filenames)
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

fn package_name(manifest: &Path) -> Result<String, BuildError> {
    #[derive(Deserialize)]
    struct CargoToml {
        package: Package,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
    }
    let text = std::fs::read_to_string(manifest).map_err(|source| BuildError::Io {
        path: manifest.to_path_buf(),
        source,
    })?;
    toml::from_str::<CargoToml>(&text)
        .map(|c| c.package.name)
        .map_err(|e| BuildError::Output(format!("{}: {e}", manifest.display())))
}

/// Why a plugin copied out of a Cargo workspace (the exorun repository's
/// `plugins/`) no longer builds, and what to write instead.
fn workspace_hint(manifest: &Path, toolchain: &Toolchain) -> String {
    let sdk = toolchain
        .root()
        .map(|r| r.join("sdk/rust").display().to_string())
        .unwrap_or_else(|| "<the exorun Rust SDK, sdk/rust>".to_owned());
    format!(
        "\nhint: {} takes its dependencies from a Cargo workspace (`.workspace = true`) that is not above its folder, as when a plugin is copied out of the exorun repository; name them in the plugin's own Cargo.toml instead, for example\n  exorun-sdk = {{ path = \"{sdk}\" }}\n  serde_json = \"1\"",
        manifest.display()
    )
}

/// `--remap-path-prefix` for the workspace's parent folder and Cargo's home.
fn remap_flags(cargo: &str, manifest: &Path) -> String {
    let mut flags = Vec::new();
    let workspace = Command::new(cargo)
        .args([
            "locate-project",
            "--workspace",
            "--message-format",
            "plain",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(root) = workspace
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        flags.push(format!("--remap-path-prefix={}=/src", root.display()));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\x1f")
}

#[cfg(test)]
mod tests {
    use super::find_component;

    #[test]
    fn finds_the_packages_wasm_among_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"serde"},"filenames":["/t/libserde.rlib"]}
{"reason":"compiler-artifact","target":{"name":"mailbox_report"},"filenames":["/t/wasm32-wasip2/release/mailbox_report.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            find_component(messages, "mailbox-report").unwrap().to_str(),
            Some("/t/wasm32-wasip2/release/mailbox_report.wasm")
        );
        assert_eq!(find_component(messages, "other"), None);
    }
}
