//! `exorun`: the command line. Argument parsing and presentation only; the
//! work happens in the runtime crates.

mod commands;
mod tenant;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "exorun",
    version,
    about = "Run Exchange Online automations as sandboxed WebAssembly components, each allowed only the cmdlets its manifest declares."
)]
struct Cli {
    /// Host log detail: error, warn, info, debug or trace (also EXORUN_LOG).
    #[arg(long, global = true, env = "EXORUN_LOG", default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one automation and print (or write) its output.
    Run(commands::run::Args),
    /// Show what a plugin may do: cmdlets, parameters and their constraints, inputs, limits, digest.
    Inspect(commands::inspect::Args),
    /// Build a plugin from source and pin its component's sha256 in exorun.toml.
    Build(commands::build::Args),
    /// Serve the simulated tenant (Entra token endpoint + Exchange admin REST) over HTTPS on 127.0.0.1.
    Sim(commands::sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Run(args) => commands::run::main(args),
        Command::Inspect(args) => commands::inspect::main(args),
        Command::Build(args) => commands::build::main(args),
        Command::Sim(args) => commands::sim::main(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("exorun: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
