//! `--progress`, `--eta` and `--bar`, drawn on standard error in GNU
//! parallel's own formats (scripts and `zenity` read them), whether or not
//! it is a terminal, as GNU parallel draws them:
//!
//! ```text
//! Computers / CPU cores / Max jobs to run
//! 1:local / 2 / 2
//!
//! Computer:jobs running/jobs completed/%of started jobs/Average seconds to complete
//! ETA: 3s Left: 6 AVG: 0.50s  local:2/2/100%/1.0s
//! ```
//!
//! `--bar` draws `\r# ETA sec ARG\rPCT\r` (for zenity) then the bar, in
//! reverse video up to the share done. `SIGUSR2` turns `--progress` on or
//! off while running.

use std::io::Write;
use std::time::Instant;

/// The options of this room, as typed (`--bar`, `--progress` and `--eta`
/// are older and live with the control options).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ProgressFlags {
    /// The number of jobs, for --eta and --bar (instead of reading all the input first).
    #[arg(
        long = "total-jobs",
        visible_aliases = ["total", "totaljobs"],
        value_name = "N",
        help_heading = "Control"
    )]
    pub(crate) total_jobs: Option<String>,
}

/// What is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nothing,
    /// `--progress` (and `--eta`, which adds the estimate).
    Status {
        eta: bool,
    },
    /// `--bar`.
    Bar,
}

/// The progress display (or nothing).
#[derive(Debug)]
pub(crate) struct Progress {
    kind: Kind,
    /// What `SIGUSR2` turns back on.
    wanted: Kind,
    /// Jobs in all, when known (`--eta`, `--bar`, `--total-jobs`).
    total: Option<u64>,
    cpus: usize,
    slots: usize,
    columns: usize,
    /// When forkpool started, in whole seconds (GNU parallel's `$^T`).
    start_secs: u64,
    running: usize,
    started: u64,
    completed: u64,
    /// The newest job's arguments (`--bar` shows them).
    newest: String,
    /// The estimate's state, as GNU parallel smooths it.
    first_completed: Option<u64>,
    smoothed: f64,
    last_eta: i64,
    /// The status header last drawn.
    header: &'static str,
    last_drawn: Option<Instant>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The terminal's width (`/dev/tty`'s), else 80.
fn terminal_columns() -> usize {
    std::fs::File::open("/dev/tty")
        .ok()
        .and_then(|tty| rustix::termios::tcgetwinsize(&tty).ok())
        .map(|size| usize::from(size.ws_col))
        .filter(|&c| c > 0)
        .unwrap_or(80)
}

/// A number as Perl prints it (15 significant digits, no trailing zeros).
fn perl_number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    // The decimal exponent, read off the number's own digits (rather
    // than `log10`, which would pull in `libm` for this alone).
    let exponent: i32 = format!("{:e}", x.abs())
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let digits = 15 - (exponent + 1);
    let text = format!("{:.*}", digits.max(0) as usize, x);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `??d??h??m??s`, as GNU parallel writes a duration.
fn time_units(mut s: i64) -> String {
    let d = s / 86_400;
    s -= d * 86_400;
    let h = s / 3600;
    s -= h * 3600;
    let m = s / 60;
    s -= m * 60;
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m{s:02}s")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

impl Progress {
    /// A display for the options given. `total` is the number of jobs,
    /// when known; `slots` the jobs run at once.
    pub(crate) fn new(bar: bool, progress: bool, eta: bool, total: Option<u64>, slots: usize) -> Progress {
        let kind = if bar {
            Kind::Bar
        } else if progress || eta {
            Kind::Status { eta }
        } else {
            Kind::Nothing
        };
        let mut p = Progress {
            kind,
            wanted: if kind == Kind::Nothing {
                Kind::Status { eta: false }
            } else {
                kind
            },
            total,
            cpus: crate::config::cpus(),
            slots,
            columns: if kind == Kind::Nothing { 80 } else { terminal_columns() },
            start_secs: now_secs(),
            running: 0,
            started: 0,
            completed: 0,
            newest: String::new(),
            first_completed: None,
            smoothed: 0.0,
            last_eta: 0,
            header: "",
            last_drawn: None,
        };
        p.draw_intro();
        p
    }

    /// `SIGUSR2`: turns the display off, or on again.
    pub(crate) fn toggle(&mut self) {
        if self.kind == Kind::Nothing {
            self.kind = self.wanted;
            self.header = "";
            self.draw_intro();
            self.draw();
        } else {
            self.kind = Kind::Nothing;
        }
    }

    fn draw_intro(&mut self) {
        if let Kind::Status { .. } = self.kind {
            let intro = format!(
                "\nComputers / CPU cores / Max jobs to run\n1:local / {} / {}\n",
                self.cpus, self.slots
            );
            write_err(intro.as_bytes());
        }
    }

    /// A job started, with these arguments.
    pub(crate) fn started(&mut self, args: &[Vec<u8>]) {
        self.started += 1;
        if self.kind == Kind::Bar {
            // GNU's `{}` of the job: -N0's `\0noarg` is nothing there.
            let shown: Vec<&[u8]> = args
                .iter()
                .map(|a| if a == crate::replace::NOARG { &[][..] } else { a })
                .collect();
            self.newest = String::from_utf8_lossy(&shown.join(&b' ')).into_owned();
        }
    }

    /// Reports the counts.
    pub(crate) fn update(&mut self, running: usize, done: u64) {
        self.running = running;
        self.completed = done;
        self.draw();
    }

    /// Draws again if a second has passed since the last time (for the
    /// estimate's countdown). When to call it next, if it draws at all.
    pub(crate) fn tick(&mut self) -> Option<Instant> {
        if self.kind == Kind::Nothing {
            return None;
        }
        let next = self.last_drawn.map(|t| t + std::time::Duration::from_secs(1));
        if next.is_none_or(|t| Instant::now() >= t) {
            self.draw();
        }
        self.last_drawn.map(|t| t + std::time::Duration::from_secs(1))
    }

    /// Runs `f` (which prints output). GNU parallel does not clear the
    /// display for it, and neither does this.
    pub(crate) fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        f()
    }

    /// The last status, on a line of its own.
    pub(crate) fn finish(&mut self) {
        if let Kind::Status { .. } = self.kind {
            let status = self.status();
            write_err(format!("\r{status}\n").as_bytes());
        } else if self.kind == Kind::Bar {
            let bar = self.bar();
            write_err(format!("\r{bar}\n").as_bytes());
        }
    }

    fn draw(&mut self) {
        self.last_drawn = Some(Instant::now());
        match self.kind {
            Kind::Nothing => {}
            Kind::Bar => {
                let bar = self.bar();
                write_err(format!("\r{bar}").as_bytes());
            }
            Kind::Status { .. } => {
                let status = self.status();
                let mut out = String::new();
                if self.header != self.status_header() {
                    self.header = self.status_header();
                    out.push('\n');
                    out.push_str(self.header);
                    out.push('\n');
                }
                out.push('\r');
                out.push_str(&status);
                write_err(out.as_bytes());
            }
        }
    }

    fn status_header(&self) -> &'static str {
        "Computer:jobs running/jobs completed/%of started jobs/Average seconds to complete"
    }

    /// `(total, left, share done, average seconds, estimate)` as GNU
    /// parallel computes them (whole seconds, a smoothed average).
    fn eta(&mut self) -> (u64, f64, f64, i64) {
        let completed = self.completed;
        let total = self.total.unwrap_or(completed).max(completed);
        let left = total - completed;
        if completed == 0 {
            return (left, 0.0, 0.0, 0);
        }
        let share = (completed as f64 / total.max(1) as f64).min(100.0);
        let now = now_secs();
        let first = *self.first_completed.get_or_insert(now);
        let avg = (now - first) as f64 / completed as f64;
        if self.smoothed == 0.0 {
            self.smoothed = avg;
        }
        self.smoothed = (1.0 - share) * self.smoothed + share * avg;
        let mut eta = (left as f64 * self.smoothed) as i64;
        if (eta as f64) * 0.90 < self.last_eta as f64 && self.last_eta < eta {
            eta = self.last_eta;
        } else {
            self.last_eta = eta;
        }
        (left, share, avg, eta)
    }

    /// `--progress`'s (and `--eta`'s) line.
    fn status(&mut self) -> String {
        let mut line = String::new();
        if let Kind::Status { eta: true } = self.kind {
            let (left, _, avg, eta) = self.eta();
            line.push_str(&format!("ETA: {eta}s Left: {left} AVG: {avg:.2}s  "));
        }
        if let Some(pct) = ((self.running as u64 + self.completed) * 100).checked_div(self.started) {
            let elapsed = now_secs().saturating_sub(self.start_secs) as f64;
            let time = if self.completed > 0 {
                elapsed / self.completed as f64
            } else {
                0.0
            };
            line.push_str(&format!("local:{}/{}/{pct}%/{time:.1}s ", self.running, self.completed));
        }
        line
    }

    /// `--bar`'s drawing.
    fn bar(&mut self) -> String {
        let (left, share, _, eta) = self.eta();
        let width = self.columns;
        let text = format!(
            "{}% {}:{}={} {}",
            (share * 100.0) as i64,
            self.completed,
            left,
            time_units(eta),
            self.newest
        );
        // Exactly `width` characters, padded with blanks.
        let fit = |s: String| -> String { s.chars().chain(std::iter::repeat(' ')).take(width).collect() };
        let mut drawn = fit(text);
        let done = ((width as f64) * share) as usize;
        let at = drawn.char_indices().nth(done).map_or(drawn.len(), |(i, _)| i);
        drawn.insert_str(at, "\x1b[0m");
        let zenity = fit(format!("#   {eta} sec {}", self.newest));
        format!("\r{zenity}\r{}\r\x1b[7m{drawn}\x1b[0m", perl_number(share * 100.0))
    }
}

fn write_err(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write_all(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_as_gnu_parallel_prints_them() {
        assert_eq!(perl_number(100.0), "100");
        assert_eq!(perl_number(0.0), "0");
        assert_eq!(perl_number(100.0 / 3.0), "33.3333333333333");
        assert_eq!(perl_number(200.0 / 3.0), "66.6666666666667");
        assert_eq!(perl_number(12.5), "12.5");
        assert_eq!(time_units(5), "5s");
        assert_eq!(time_units(65), "1m05s");
        assert_eq!(time_units(3725), "1h02m05s");
        assert_eq!(time_units(90_061), "1d01h01m01s");
    }

    #[test]
    fn the_bar_shows_share_done_and_the_newest_argument() {
        let mut p = Progress::new(false, false, false, Some(3), 2);
        p.kind = Kind::Bar;
        p.columns = 30;
        p.started(&[b"b".to_vec()]);
        p.completed = 1;
        let bar = p.bar();
        assert!(bar.starts_with("\r#   0 sec b"), "{bar:?}");
        assert!(
            bar.contains("\r33.3333333333333\r\x1b[7m33% 1:2=0s\x1b[0m b "),
            "reverse video for the third done: {bar:?}"
        );
    }
}
