//! `exorun build <plugin-dir> [--check]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use exorun_build::{BuildOptions, DigestStatus};

#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder (holding exorun.toml and the source).
    dir: PathBuf,
    /// Verify that the manifest pins the digest of a fresh build instead of
    /// recording it (for CI).
    #[arg(long)]
    check: bool,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let built = exorun_build::build(
        &args.dir,
        &BuildOptions {
            out: None,
            check: args.check,
        },
    )
    .with_context(|| format!("building {}", args.dir.display()))?;
    let note = match (args.check, built.digest) {
        (true, _) => "matches the manifest",
        (false, DigestStatus::Updated) => "recorded in exorun.toml",
        (false, DigestStatus::Unchanged) => "already pinned in exorun.toml",
    };
    eprintln!(
        "built {} ({})\nsha256 {} ({note})",
        built.component.display(),
        built.language,
        built.sha256
    );
    Ok(ExitCode::SUCCESS)
}
