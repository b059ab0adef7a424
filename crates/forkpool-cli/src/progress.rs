//! `--bar`, `--progress` and `--eta`: shown on a terminal, silent
//! otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display (or nothing).
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A display for the options given; nothing unless stderr is a
    /// terminal. `total` is the number of jobs, when known.
    pub(crate) fn new(bar: bool, progress: bool, eta: bool, total: Option<u64>) -> Progress {
        if !(bar || progress || eta) || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let template = if bar || eta {
            "{percent:>3}% [{bar:40}] {pos}/{len} jobs, {msg}, ETA {eta}"
        } else {
            "{pos} jobs done, {msg}, {elapsed}"
        };
        let pb = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(pb) }
    }

    /// Reports the counts.
    pub(crate) fn update(&self, running: usize, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(format!("{running} running"));
        }
    }

    /// Runs `f` with the display hidden, so that printed output does not
    /// tangle with it.
    pub(crate) fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the display.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
