//! `exorun build <plugin-dir> [--check | --out-dir DIR]`

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
    #[arg(long, conflicts_with = "out_dir")]
    check: bool,
    /// Build a runnable copy of the plugin into this folder (the component
    /// and its manifest, pinned) and leave the plugin folder untouched: for
    /// a plugin under version control, or one to hand on.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(out_dir) = &args.out_dir {
        let built = exorun_build::build_into(&args.dir, out_dir)
            .with_context(|| format!("building {}", args.dir.display()))?;
        eprintln!(
            "built {} ({})\nsha256 {} (pinned in {}; run it with `exorun run {}`)",
            built.component.display(),
            built.language,
            built.sha256,
            out_dir.join("exorun.toml").display(),
            out_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
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
