//! Python plugins: componentize-py embeds CPython and the plugin's `app.py`
//! (plus the `exorun` SDK package) into one component.

use std::path::Path;
use std::process::Command;

use crate::toolchain::Toolchain;
use crate::{BuildError, run_tool, wit};

/// The module componentize-py loads; it must define the exported world.
pub const ENTRY_MODULE: &str = "app";

/// Builds `dir/app.py` into `out`.
pub fn build(
    dir: &Path,
    toolchain: &Toolchain,
    scratch: &Path,
    out: &Path,
) -> Result<(), BuildError> {
    let sdk = toolchain.python_sdk().ok_or_else(|| BuildError::SdkMissing {
        language: "Python",
        what: "the exorun Python SDK (sdk/python)".into(),
        hint: "set EXORUN_PYTHON_SDK to the folder holding the `exorun` package, or build from inside an exorun checkout"
            .to_owned(),
    })?;
    let wit_dir = scratch.join("wit");
    std::fs::create_dir_all(&wit_dir).map_err(|source| BuildError::Io {
        path: wit_dir.clone(),
        source,
    })?;
    wit::write_to(&wit_dir)?;
    let program = toolchain.componentize_py();
    let mut command = Command::new(&program);
    command
        .current_dir(dir)
        // Keep the plugin's folder free of __pycache__ litter.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("-d")
        .arg(&wit_dir)
        .arg("-w")
        .arg(wit::WORLD)
        .arg("componentize")
        .arg(ENTRY_MODULE)
        .arg("-p")
        .arg(".")
        .arg("-p")
        .arg(&sdk)
        .arg("-o")
        .arg(out);
    let shown = format!(
        "{} componentize {ENTRY_MODULE} -p {} -p {} -o {}",
        program.display(),
        dir.display(),
        sdk.display(),
        out.display()
    );
    run_tool(command, shown, INSTALL_HINT_PY)?;
    Ok(())
}

const INSTALL_HINT_PY: &str = concat!(
    "componentize-py 0.25.1 is needed: ",
    "run `make toolchains` in the exorun checkout, ",
    "or `pip install componentize-py==0.25.1` and set EXORUN_COMPONENTIZE_PY"
);
