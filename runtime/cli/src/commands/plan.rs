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
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Show(args) => {
            let read = Plan::read(&args.plan)?;
            // The manifest, when it can still be read, marks sensitive values.
            let manifest =
                exorun_policy::Manifest::load(std::path::Path::new(&read.plan.plugin.manifest))
                    .ok();
            print!(
                "{}",
                exorun_plan::render_plan(
                    &read.plan,
                    &read.sha256,
                    manifest.as_ref().map(|m| &m.capabilities)
                )
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
