//! JavaScript plugins: the SDK's `build.mjs` bundles the plugin's entry
//! module with the SDK (esbuild) and componentizes the bundle
//! (componentize-js) with http, fetch-event and stdio turned off, so the
//! component imports only exorun:automation, wasi:io, wasi:clocks,
//! wasi:random and stderr: no filesystem, socket or http interface at all.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::toolchain::Toolchain;
use crate::{BuildError, run_tool, wit};

/// Builds the entry module named by `dir/package.json` into `out`.
pub fn build(
    dir: &Path,
    toolchain: &Toolchain,
    scratch: &Path,
    out: &Path,
) -> Result<(), BuildError> {
    let sdk = toolchain.js_sdk().ok_or_else(|| BuildError::SdkMissing {
        language: "JavaScript",
        what: "the exorun JavaScript SDK (sdk/js/build.mjs)".into(),
        hint: "set EXORUN_JS_SDK to the SDK folder, or build from inside an exorun checkout"
            .to_owned(),
    })?;
    if !sdk
        .join("node_modules/@bytecodealliance/componentize-js")
        .is_dir()
    {
        return Err(BuildError::SdkMissing {
            language: "JavaScript",
            what: format!(
                "componentize-js under {}",
                sdk.join("node_modules").display()
            ),
            hint: format!(
                "install its pinned packages with `npm ci --prefix {}` (in an exorun checkout, `make toolchains` does this)",
                sdk.display()
            ),
        });
    }
    let entry = entry_module(dir)?;
    let wit_dir = scratch.join("wit");
    std::fs::create_dir_all(&wit_dir).map_err(|source| BuildError::Io {
        path: wit_dir.clone(),
        source,
    })?;
    wit::write_to(&wit_dir)?;
    let node = toolchain.node();
    let script = sdk.join("build.mjs");
    let mut command = Command::new(&node);
    command
        .arg(&script)
        .arg("--wit")
        .arg(&wit_dir)
        .arg("--world")
        .arg(wit::WORLD)
        .arg("--entry")
        .arg(&entry)
        .arg("--out")
        .arg(out);
    let shown = format!(
        "{} {} --entry {} --out {}",
        node.display(),
        script.display(),
        entry.display(),
        out.display()
    );
    run_tool(
        command,
        shown,
        "Node.js 20 or later is needed: install it from your distribution (`apt install nodejs npm`) or set EXORUN_NODE",
    )?;
    Ok(())
}

/// The plugin's entry module: `main` in its package.json, else `index.js`.
pub fn entry_module(dir: &Path) -> Result<PathBuf, BuildError> {
    #[derive(Deserialize)]
    struct Package {
        main: Option<String>,
    }
    let path = dir.join("package.json");
    let text = std::fs::read_to_string(&path).map_err(|source| BuildError::Io {
        path: path.clone(),
        source,
    })?;
    let package: Package = serde_json::from_str(&text).map_err(|e| {
        BuildError::Output(format!("{}: not valid package.json: {e}", path.display()))
    })?;
    let main = package.main.unwrap_or_else(|| "index.js".to_owned());
    let entry = dir.join(&main);
    if !entry.is_file() {
        return Err(BuildError::Output(format!(
            "{}: the entry module `{main}` does not exist; create it or set \"main\"",
            path.display()
        )));
    }
    Ok(entry)
}
