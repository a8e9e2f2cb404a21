//! What a run shows on stderr while it happens: the plugin's log, denials,
//! and its progress (the WIT `progress` call). On a terminal progress is a
//! bar with rate and ETA (indicatif); otherwise a plain line at most once
//! a second and at the end; with `--quiet`, nothing but errors.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use exorun_cmdlet::Escaped;
use exorun_sandbox::{CallRecord, Decision, LogLevel, LogLine, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;

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
    state: Mutex<State>,
}

struct State {
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
    rate: RecentRate,
}

/// How far back the shown rate looks: long enough to be steady, short
/// enough to follow the tenant when it slows down or speeds up.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The rate of the last [`RATE_WINDOW`], not the average since the start
/// (which kept falling long after a throttled tenant had settled at a
/// steady pace).
#[derive(Debug, Default)]
pub struct RecentRate {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl RecentRate {
    /// Records that `done` items are done at `now`; returns the items per
    /// second over the window (from the first sample while the run is
    /// younger than the window), once there are two samples to compare.
    pub fn observe(&mut self, now: Instant, done: u64) -> Option<f64> {
        // Progress that went backwards (a plugin restarting its count)
        // starts a new measurement.
        if self.samples.back().is_some_and(|&(_, d)| d > done) {
            self.samples.clear();
        }
        self.samples.push_back((now, done));
        // Keep one sample at or before the window's start, so the window is
        // as wide as it can be.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| now.duration_since(t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let &(since, from) = self.samples.front()?;
        let seconds = now.duration_since(since).as_secs_f64();
        (seconds > 0.0).then(|| (done - from) as f64 / seconds)
    }
}

/// `9,335/s`: a whole number of items per second.
pub fn format_rate(rate: f64) -> String {
    format!("{}/s", indicatif::HumanCount(rate.round() as u64))
}

impl ConsoleObserver {
    pub fn new(mode: Mode) -> Self {
        ConsoleObserver {
            mode,
            state: Mutex::new(State {
                bar: None,
                last_line: None,
                rate: RecentRate::default(),
            }),
        }
    }

    fn state(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
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
            Some(_) => "  {bar:40.cyan/blue} {human_pos}/{human_len}  {rate}  ETA {eta}",
            None => "  {spinner} {human_pos} done  {rate}  {elapsed}",
        };
        let rate = std::sync::Arc::new(Mutex::new(RecentRate::default()));
        if let Ok(style) = ProgressStyle::with_template(template) {
            let style = style.progress_chars("=> ").with_key(
                "rate",
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let mut rate = rate.lock();
                    if let Some(r) = rate.observe(Instant::now(), state.pos()) {
                        let _ = w.write_str(&format_rate(r));
                    }
                },
            );
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// ` (13/s, ETA 40 s)` from the recent rate.
pub fn rate_and_eta(done: u64, total: Option<u64>, rate: Option<f64>) -> String {
    let Some(rate) = rate.filter(|r| *r > 0.0) else {
        return String::new();
    };
    let mut text = format!(" ({}", format_rate(rate));
    if let Some(total) = total
        && total > done
    {
        let eta = (total - done) as f64 / rate;
        text.push_str(&format!(
            ", ETA {}",
            exorun_plan::human(Duration::from_secs_f64(eta))
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
                let now = Instant::now();
                let rate = state.rate.observe(now, done);
                let finished = total == Some(done);
                if finished || state.last_line.is_none_or(|t| t.elapsed() >= LINE_INTERVAL) {
                    state.last_line = Some(now);
                    let extra = rate_and_eta(done, total, rate);
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
    fn rate_and_eta_show_a_whole_number_rate() {
        assert_eq!(rate_and_eta(50, Some(150), Some(5.0)), " (5/s, ETA 20 s)");
        assert_eq!(rate_and_eta(50, None, Some(5.4)), " (5/s)");
        assert_eq!(rate_and_eta(0, Some(10), None), "");
        assert_eq!(rate_and_eta(10, Some(10), Some(9.6)), " (10/s)");
        assert_eq!(
            rate_and_eta(0, Some(100_000), Some(9_334.760_6)),
            " (9,335/s, ETA 10 s)"
        );
    }

    #[test]
    fn the_rate_follows_the_last_seconds_not_the_average_since_the_start() {
        let start = Instant::now();
        let mut rate = RecentRate::default();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(rate.observe(at(0), 0), None);
        // 10 s at 9,000/s, then 10 s at 2,000/s.
        let mut done = 0;
        let mut last = None;
        for tick in 1..=100 {
            done += 900;
            last = rate.observe(at(tick * 100), done);
        }
        assert_eq!(last.map(f64::round), Some(9_000.0));
        for tick in 101..=200 {
            done += 200;
            last = rate.observe(at(tick * 100), done);
        }
        // The average since the start would be 5,500/s.
        assert_eq!(last.map(f64::round), Some(2_000.0));
        // A count that goes back starts over.
        assert_eq!(rate.observe(at(20_100), 10), None);
        assert_eq!(rate.observe(at(20_600), 510).map(f64::round), Some(1_000.0));
    }
}
