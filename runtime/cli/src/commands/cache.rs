//! `exorun cache show|clear`: the compile cache of plugin components.

use std::process::ExitCode;

use anyhow::Context;
use exorun_sandbox::{CacheConfig, CompileCache};

#[derive(clap::Subcommand)]
pub enum Command {
    /// List compiled components, most recently used first.
    Show,
    /// Delete every compiled component; the next run of each plugin compiles again.
    Clear,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    let config =
        CacheConfig::user_default().context("no cache folder: set EXORUN_CACHE_DIR or HOME")?;
    let cache = CompileCache::open(&config)?;
    match command {
        Command::Show => {
            let entries = cache
                .entries()
                .with_context(|| format!("reading {}", cache.dir().display()))?;
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            println!(
                "{}: {} compiled component(s), {} of {} MiB",
                cache.dir().display(),
                entries.len(),
                mib(total),
                config.max_bytes >> 20
            );
            for entry in entries {
                let age = entry.last_used.elapsed().map(|d| d.as_secs()).unwrap_or(0);
                println!(
                    "  component sha256 {}  {:>8} MiB  used {} ago",
                    entry.component_sha256,
                    mib(entry.bytes),
                    ago(age)
                );
            }
        }
        Command::Clear => {
            let (count, freed) = cache
                .clear()
                .with_context(|| format!("clearing {}", cache.dir().display()))?;
            println!(
                "removed {count} compiled component(s), {} MiB, from {}",
                mib(freed),
                cache.dir().display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

fn ago(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
