//! `exorun`: the command line. Argument parsing and presentation only; the
//! work happens in the runtime crates.

#![forbid(unsafe_code)]

mod commands;
mod installed;
mod operator_policy;
mod profiles;
mod progress;
mod rotation;
mod sharing;
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
    /// Host log detail as a tracing filter: error, warn, info, debug, trace,
    /// or per target (also EXORUN_LOG). By default denials show once, as the
    /// run's DENIED lines, rather than also as host log lines (target
    /// `exorun::denial`).
    #[arg(
        long,
        global = true,
        env = "EXORUN_LOG",
        default_value = "warn,exorun::denial=error"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one automation and print (or write) its output; --what-if plans its changes instead.
    Run(commands::run::Args),
    /// Send the changes of a reviewed what-if plan, after checking it again.
    Apply(commands::apply::Args),
    /// Review a what-if plan.
    #[command(subcommand)]
    Plan(commands::plan::Command),
    /// Verify or read the audit trail of runs and calls.
    #[command(subcommand)]
    Audit(commands::audit::Command),
    /// Show what a plugin may do: cmdlets, parameters and their constraints, inputs, limits, digest.
    Inspect(commands::inspect::Args),
    /// Build a plugin from source and pin its component's sha256 in exorun.toml.
    Build(commands::build::Args),
    /// Create a plugin folder (Rust, Python or JavaScript) that builds and runs as is.
    New(commands::new::Args),
    /// Sign in as the app and check what it may do in Exchange Online.
    Connect(commands::connect::Args),
    /// Create or inspect the app certificate.
    #[command(subcommand)]
    Cert(commands::cert::Command),
    /// Show or clear the compile cache of plugin components.
    #[command(subcommand)]
    Cache(commands::cache::Command),
    /// Push a built plugin to an OCI registry as a signed Wasm artifact.
    Publish(commands::publish::PublishArgs),
    /// Write a built plugin as a bundle file (OCI image layout) for air-gapped transfer.
    Bundle(commands::publish::BundleArgs),
    /// Install a shared plugin from a registry or a bundle, after showing what it may do.
    Install(commands::install::InstallArgs),
    /// Move an installed plugin to another version; widened permissions wait for approval.
    Upgrade(commands::install::UpgradeArgs),
    /// Remove an installed plugin from the lock and its files from the store.
    Uninstall(commands::install::UninstallArgs),
    /// Show the installed plugins, their versions and signers.
    List(commands::install::ListArgs),
    /// An Exchange role for the app that allows exactly what the plugins
    /// need: print it (plan) or compare the tenant with it (check).
    #[command(subcommand)]
    Rbac(commands::rbac::Command),
    /// Make a publisher's signing key.
    #[command(subcommand)]
    Key(commands::key::Command),
    /// Manage the publisher keys this operator trusts.
    #[command(subcommand)]
    Trust(commands::trust::Command),
    /// Serve the simulated tenant (Entra token endpoint + Exchange admin REST) over HTTPS on 127.0.0.1.
    Sim(commands::sim::Args),
    /// Run the automation service for a team: schedules, a queue, an HTTP API and a dashboard, with roles and two-person approval of writes.
    Serve(commands::serve::Args),
    /// Take runs that `exorun serve` queued on NATS JetStream and run them on this machine.
    Worker(commands::worker::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: escape sequences in a log file or a
        // pipe are noise, and hide whether a plugin tried to send some.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Run(args) => commands::run::main(args),
        Command::Apply(args) => commands::apply::main(args),
        Command::Plan(command) => commands::plan::main(command),
        Command::Audit(command) => commands::audit::main(command),
        Command::Inspect(args) => commands::inspect::main(args),
        Command::Build(args) => commands::build::main(args),
        Command::New(args) => commands::new::main(args),
        Command::Sim(args) => commands::sim::main(args),
        Command::Connect(args) => commands::connect::main(args),
        Command::Cert(command) => commands::cert::main(command),
        Command::Cache(command) => commands::cache::main(command),
        Command::Publish(args) => commands::publish::publish(args),
        Command::Bundle(args) => commands::publish::bundle(args),
        Command::Install(args) => commands::install::install(args),
        Command::Upgrade(args) => commands::install::upgrade(args),
        Command::List(args) => commands::install::list(args),
        Command::Uninstall(args) => commands::install::uninstall(args),
        Command::Key(command) => commands::key::main(command),
        Command::Rbac(command) => commands::rbac::main(command),
        Command::Trust(command) => commands::trust::main(command),
        Command::Serve(args) => commands::serve::main(args),
        Command::Worker(args) => commands::worker::main(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // The error and its causes on one line.
            eprintln!(
                "exorun: error: {}",
                exorun_cmdlet::error_chain(error.as_ref())
            );
            ExitCode::from(2)
        }
    }
}
