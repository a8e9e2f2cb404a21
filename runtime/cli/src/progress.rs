//! What a run shows on stderr while it happens: the plugin's log, denials,
//! and its progress (the WIT `progress` call). On a terminal progress is a
//! bar with rate and ETA (indicatif); otherwise a plain line at most once
//! a second and at the end; with `--quiet`, nothing but errors.

use exorun_cmdlet::Escaped;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use exorun_sandbox::{CallRecord, Decision, LogLevel, LogLine, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl Mode {
    /// A bar on a terminal, lines elsewhere, nothing when quiet.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// How often a plain progress line is printed at most.
const LINE_INTERVAL: Duration = Duration::from_secs(1);

pub struct ConsoleObserver {
    mode: Mode,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl ConsoleObserver {
    pub fn new(mode: Mode) -> Self {
        ConsoleObserver {
            mode,
            started: Instant::now(),
            state: Mutex::new(State {
                bar: None,
                last_line: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints a line above the bar (or plainly when there is none).
    fn print(&self, text: &str) {
        match &self.state().bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = self.state().bar.take() {
            bar.finish_and_clear();
        }
    }

    fn new_bar(total: Option<u64>) -> ProgressBar {
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = match total {
            Some(_) => "  {bar:40.cyan/blue} {human_pos}/{human_len}  {per_sec}  ETA {eta}",
            None => "  {spinner} {human_pos} done  {per_sec}  {elapsed}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// `12.5/s, ETA 40 s` from what is done so far.
pub fn rate_and_eta(done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if done == 0 || secs <= 0.0 {
        return String::new();
    }
    let rate = done as f64 / secs;
    let mut text = format!(" ({rate:.1}/s");
    if let Some(total) = total
        && total > done
    {
        let eta = (total - done) as f64 / rate;
        text.push_str(&format!(
            ", ETA {}",
            exorun_plan::check::human(Duration::from_secs_f64(eta))
        ));
    }
    text.push(')');
    text
}

impl Observer for ConsoleObserver {
    fn log(&self, line: &LogLine) {
        if self.mode == Mode::Quiet && line.level < LogLevel::Error {
            return;
        }
        let level = match line.level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        // Plugin text: escaped, so it cannot drive the terminal or forge
        // exorun's own lines.
        self.print(&format!("  [{level}] {}", Escaped(&line.message)));
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                let mut state = self.state();
                let bar = state.bar.get_or_insert_with(|| Self::new_bar(total));
                if let Some(total) = total
                    && bar.length() != Some(total)
                {
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            Mode::Lines => {
                let mut state = self.state();
                let finished = total == Some(done);
                if finished || state.last_line.is_none_or(|t| t.elapsed() >= LINE_INTERVAL) {
                    state.last_line = Some(Instant::now());
                    let extra = rate_and_eta(done, total, self.started.elapsed());
                    match total {
                        Some(total) => eprintln!("  progress: {done}/{total}{extra}"),
                        None => eprintln!("  progress: {done}{extra}"),
                    }
                }
            }
        }
    }

    fn call(&self, record: &CallRecord) {
        if let Decision::Denied { rule, message } = &record.decision {
            self.print(&format!(
                "  DENIED {}: {} [{}]",
                Escaped(&record.call.cmdlet),
                Escaped(message),
                Escaped(rule)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta_come_from_the_work_done_so_far() {
        assert_eq!(
            rate_and_eta(50, Some(150), Duration::from_secs(10)),
            " (5.0/s, ETA 20 s)"
        );
        assert_eq!(rate_and_eta(50, None, Duration::from_secs(10)), " (5.0/s)");
        assert_eq!(rate_and_eta(0, Some(10), Duration::from_secs(1)), "");
        assert_eq!(
            rate_and_eta(10, Some(10), Duration::from_secs(1)),
            " (10.0/s)"
        );
    }
}
