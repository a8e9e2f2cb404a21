//! `exorun plan show PLAN`: a what-if plan as a reviewer reads it.

use std::path::PathBuf;
use std::process::ExitCode;

use exorun_plan::Plan;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Render a plan for review: one line per change, grouped by object.
    Show(ShowArgs),
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The plan file `exorun run --what-if` wrote.
    plan: PathBuf,
    /// The plugin folder it will be applied with: its manifest marks
    /// sensitive values, and both digests are checked against the plan.
    #[arg(long, value_name = "DIR")]
    plugin: Option<PathBuf>,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Show(args) => {
            let read = Plan::read(&args.plan)?;
            let manifest = match &args.plugin {
                Some(dir) => Some(exorun_policy::Manifest::load(dir)?),
                None => None,
            };
            print!(
                "{}",
                exorun_plan::render_plan(
                    &read.plan,
                    &read.sha256,
                    manifest.as_ref().map(|m| m.capabilities())
                )
            );
            if let Some(manifest) = &manifest
                && !manifest
                    .sha256
                    .eq_ignore_ascii_case(&read.plan.plugin.manifest_sha256)
            {
                eprintln!(
                    "exorun: warning: {} has manifest sha256 {}, not the plan's {}; apply would refuse it",
                    manifest.path.display(),
                    manifest.sha256,
                    read.plan.plugin.manifest_sha256
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
