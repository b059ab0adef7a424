//! How many jobs run at once: `-j` in all its forms (`N`, `N%`, `+N`,
//! `-N`, `0`, or a file holding one of those, read again when it
//! changes), bounded by the file handles and processes the system will
//! actually give us.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::cpus::cpus;
use super::system::{self, Bound, Scarce};

/// GNU parallel's message for a `-j` it cannot read.
pub(crate) const PARSE_ERROR: &str = "Parsing of --jobs/-j/--max-procs/-P failed.";

/// What `-j` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// This many (0: none, which is an error).
    Exactly(usize),
    /// `-j 0`: as many as the system allows.
    AsManyAsPossible,
}

/// Parses a `-j` value that is not a file: `N`, `N%`, `+N`, `-N`.
/// `None` if it is none of those. Percentages round up, as GNU
/// parallel's do (`75%` of 2 CPUs is 2); fewer than none is none.
pub(crate) fn parse_value(text: &str) -> Option<Wanted> {
    // A file's content may end with a newline (Perl's `$` allows one).
    let text = text.strip_suffix('\n').unwrap_or(text);
    let cpus = cpus() as f64;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let count = |n: f64| Wanted::Exactly(n.max(0.0).ceil().min(forkpool::command::MAX_RUNNING as f64) as usize);
    if let Some(n) = text.strip_prefix('+').filter(|n| digits(n)) {
        return Some(count(cpus + n.parse::<f64>().ok()?));
    }
    if let Some(n) = text.strip_prefix('-').filter(|n| digits(n)) {
        return Some(count(cpus - n.parse::<f64>().ok()?));
    }
    if let Some(pct) = text.strip_suffix('%') {
        let (whole, fraction) = pct.split_once('.').unwrap_or((pct, "0"));
        if !(digits(whole) && digits(fraction)) {
            return None;
        }
        return Some(count(cpus * pct.parse::<f64>().ok()? / 100.0));
    }
    if digits(text) {
        return Some(match text.parse::<u64>().unwrap_or(u64::MAX) {
            0 => Wanted::AsManyAsPossible,
            n => count(n as f64),
        });
    }
    None
}

/// `-j FILE`: a file whose content is the value, read again (at most once
/// a second) when it changes, as GNU parallel does. Running jobs are never
/// stopped: a lower number only holds new ones back.
#[derive(Debug, Clone)]
pub(crate) struct ProcFile {
    path: PathBuf,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// How often the file is looked at.
const PROCFILE_CHECK: Duration = Duration::from_secs(1);

impl ProcFile {
    fn read(path: &Path) -> Result<Wanted, String> {
        let content = std::fs::read_to_string(path).map_err(|_| format!("Cannot open {}.", path.display()))?;
        parse_value(&content).ok_or_else(|| PARSE_ERROR.to_owned())
    }

    /// When the file should be looked at next.
    pub(crate) fn next_check(&self) -> Instant {
        self.checked + PROCFILE_CHECK
    }

    /// Not looked at now, when it was due: looked at a second later
    /// (a change by then is seen then).
    pub(crate) fn not_now(&mut self) {
        let now = Instant::now();
        if now >= self.next_check() {
            self.checked = now;
        }
    }

    /// The new value, if the file changed since it was last read, or GNU
    /// parallel's error if it no longer holds one (it dies of that). A
    /// file that is gone is no change (GNU sees no newer time).
    pub(crate) fn changed(&mut self) -> Option<Result<Wanted, String>> {
        let now = Instant::now();
        if now < self.next_check() {
            return None;
        }
        self.checked = now;
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if modified.is_none() || modified == self.modified {
            return None;
        }
        self.modified = modified;
        Some(ProcFile::read(&self.path))
    }
}

/// `-j` resolved: the number of job slots, and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    /// What `-j` (or its file) asked for.
    pub(crate) wanted: Wanted,
    /// Job slots to use now.
    pub(crate) count: usize,
    /// `-j 0`: slots grow with the input, up to the system's bound.
    pub(crate) unbounded: bool,
    /// `-j FILE`.
    pub(crate) file: Option<ProcFile>,
    /// What the system allows.
    pub(crate) bound: Bound,
}

/// Resolves `-j` (`None`: one job per CPU). `per_job` is what one job
/// costs in file handles and processes; `jobs_at_most` is how many jobs
/// the input can make at most, when that is known before the run (the
/// command line holds all of it).
///
/// The system's bound is read only when it could matter: when more than
/// one job could run at once, or when the file handles left might not
/// be enough for GNU parallel to run even one; so `forkpool cmd ::: 1`
/// and `-j1` mostly skip the dozen reads of `/proc` the bound takes.
pub(crate) fn resolve(jobs: Option<&str>, per_job: system::Cost, jobs_at_most: Option<usize>) -> Result<Slots, String> {
    let (wanted, file) = match jobs {
        None => (Wanted::Exactly(cpus()), None),
        Some(text) => match parse_value(text) {
            Some(wanted) => (wanted, None),
            None if Path::new(text).is_file() => {
                let path = PathBuf::from(text);
                let wanted = ProcFile::read(&path)?;
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                let file = ProcFile {
                    path,
                    modified,
                    checked: Instant::now(),
                };
                (wanted, Some(file))
            }
            None => return Err(PARSE_ERROR.to_owned()),
        },
    };
    let at_once = match wanted {
        Wanted::Exactly(n) => n,
        Wanted::AsManyAsPossible => usize::MAX,
    }
    .min(jobs_at_most.unwrap_or(usize::MAX));
    let bound = match at_once {
        0 => system::Bound::UNLIMITED,
        // GNU parallel refuses even one job when its spare file handles
        // do not fit: look only when they might not.
        1 if !system::gnu_may_refuse_one(per_job) => system::Bound::UNLIMITED,
        _ => system::bound(per_job),
    };
    if bound.jobs == 0 {
        return Err(bound.message(Scarce::Processes, 0));
    }
    let (count, unbounded) = match wanted {
        Wanted::Exactly(0) => return Err("Cannot run any jobs.".to_owned()),
        Wanted::Exactly(n) => {
            if n > bound.jobs
                && let Some(scarce) = bound.scarce
            {
                // As GNU parallel: say so at once, and run what fits.
                warning!("{}", bound.message(scarce, bound.jobs));
            }
            (n.min(bound.jobs), false)
        }
        Wanted::AsManyAsPossible => (bound.jobs, true),
    };
    Ok(Slots {
        wanted,
        count,
        unbounded,
        file,
        bound,
    })
}

impl Slots {
    /// A new `-j` value from the file, bounded by the system.
    pub(crate) fn apply(&mut self, wanted: Wanted) {
        self.wanted = wanted;
        match wanted {
            // Zero from a file: keep what runs, start nothing new.
            Wanted::Exactly(n) => {
                self.count = n.min(self.bound.jobs);
                self.unbounded = false;
            }
            Wanted::AsManyAsPossible => {
                self.count = self.bound.jobs;
                self.unbounded = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Option<usize> {
        match parse_value(text)? {
            Wanted::Exactly(n) => Some(n),
            Wanted::AsManyAsPossible => Some(usize::MAX),
        }
    }

    #[test]
    fn every_form_of_j() {
        let cpus = cpus();
        assert_eq!(n("3"), Some(3));
        assert_eq!(n("3\n"), Some(3), "a file's newline");
        assert_eq!(n("+2"), Some(cpus + 2));
        assert_eq!(n("-1"), Some(cpus - 1));
        assert_eq!(n("-1000"), Some(0), "none: refused by the caller");
        assert_eq!(n("0%"), Some(0));
        assert_eq!(n("1%"), Some(1), "rounds up");
        assert_eq!(n("200%"), Some(cpus * 2));
        assert_eq!(n("150%"), Some((cpus * 3).div_ceil(2)));
        assert_eq!(n("12.5%"), Some((cpus as f64 / 8.0).ceil() as usize));
        assert_eq!(n("0"), Some(usize::MAX));
        for bad in ["abc", "-x", "1.5", "", "+", "%", "-1.5", "1e3", " 3"] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_jobs_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("procs");
        std::fs::write(&path, "3\n").unwrap();
        let per_job = system::Cost {
            fds: 3,
            processes: 1,
            gnu_own_fds: 3,
        };
        let mut slots = resolve(Some(path.to_str().unwrap()), per_job, None).unwrap();
        assert_eq!(slots.count, 3.min(slots.bound.jobs));
        let file = slots.file.as_mut().unwrap();
        assert_eq!(file.changed(), None, "not looked at again within a second");
        // Pretend a second has passed and the file was rewritten.
        file.checked -= PROCFILE_CHECK;
        file.modified = None;
        std::fs::write(&path, "1").unwrap();
        let wanted = file.changed();
        assert_eq!(wanted, Some(Ok(Wanted::Exactly(1))));
        slots.apply(Wanted::Exactly(1));
        assert_eq!(slots.count, 1);
        let file = slots.file.as_mut().unwrap();
        file.checked -= PROCFILE_CHECK;
        file.modified = None;
        std::fs::write(&path, "nonsense").unwrap();
        assert_eq!(
            file.changed(),
            Some(Err(PARSE_ERROR.to_owned())),
            "a value we cannot read is GNU parallel's error"
        );
        file.checked -= PROCFILE_CHECK;
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.changed(), None, "a file that is gone is no change");
    }

    #[test]
    fn bad_values_are_errors() {
        let per_job = system::Cost {
            fds: 3,
            processes: 1,
            gnu_own_fds: 3,
        };
        assert_eq!(resolve(Some("abc"), per_job, None).unwrap_err(), PARSE_ERROR);
        assert_eq!(
            resolve(Some("-1000"), per_job, None).unwrap_err(),
            "Cannot run any jobs."
        );
        assert_eq!(
            resolve(Some("/"), per_job, None).unwrap_err(),
            PARSE_ERROR,
            "a directory"
        );
    }
}
