//! `exorun:automation/host`: the run log, progress reports, and whether
//! the run is a what-if run.

use crate::bindings::exorun::automation::host::{Host, Level};
use crate::report::{LogLevel, LogSource};
use crate::state::RunState;

impl Host for RunState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.ctx
            .log
            .push_line(level, LogSource::Log, message)
            .map_err(wasmtime::Error::new)
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.ctx.progress = Some((done, total));
        self.ctx.observer.progress(done, total);
        Ok(())
    }

    async fn what_if(&mut self) -> wasmtime::Result<bool> {
        Ok(self.ctx.what_if)
    }
}
