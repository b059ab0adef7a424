//! The run's side of the limits: how many jobs may run now (`-j FILE`
//! read again, `-j 0` at the system's bound), whether the next may start
//! (`--limit`, `--memsuspend`, `--noswap`), and what to do to running ones
//! (suspend, resume, kill the youngest).

use std::time::{Duration, Instant};

use forkpool::command::JobId;

use super::command::Verdict;
use super::memory;
use super::slots::{ProcFile, Slots, Wanted};
use super::swap::Swap;
use super::system::{self, Scarce};
use crate::config::Config;

/// How often a limit that cannot wake us is looked at again while it
/// holds jobs back.
pub(crate) const RECHECK: Duration = Duration::from_millis(100);

/// How often `--limit` is run while jobs run, to see whether the
/// youngest must go (GNU parallel runs it on every idle round of its
/// loop, which backs off to about a second).
const LIMIT_WHILE_RUNNING: Duration = Duration::from_secs(1);

/// A running job, as the limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobView {
    pub(crate) id: JobId,
    pub(crate) seq: u64,
    pub(crate) started: Instant,
    pub(crate) suspended: bool,
}

/// What to do to a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// `SIGSTOP` its process group (`--memsuspend`).
    Suspend(JobId),
    /// `SIGCONT` it.
    Resume(JobId),
    /// Kill it and put it back on the queue (`--limit` said 2).
    Requeue(JobId),
}

/// What GNU parallel's file handle check before each job sees (see
/// [`Gate::out_of_file_handles`]): none with `-u` (its jobs hold no
/// files) and none with `--pipe` (not measured there).
fn gnu_fds(config: &Config) -> Option<GnuFds> {
    if config.mode == crate::output::Mode::Ungroup || config.pipe.is_some() {
        return None;
    }
    let (files, lists) = crate::config::gnu_counted_sources(&config.sources);
    Some(GnuFds {
        own: system::gnu_run_fds(files, lists),
        free: Free::Unknown,
    })
}

/// GNU parallel's file handles: those it has open of its own while jobs
/// run, and what is known of those it could open.
#[derive(Debug)]
struct GnuFds {
    own: usize,
    free: Free,
}

/// The handles GNU parallel could open (the soft limit less the inherited
/// ones), found only as far as a check needs: listing our descriptors
/// and reading each one's flags is some sixty system calls, a twentieth
/// of a one-job run, and most runs are far from their limit (a `poll` of
/// the first numbers shows that).
#[derive(Debug, Clone, Copy)]
enum Free {
    Unknown,
    /// At least this many: see [`system::free_at_least`] (the inherited
    /// descriptors are among those it counts as open, and they stay).
    AtLeast(usize),
    Exactly(usize),
}

impl GnuFds {
    /// Whether `needed` handles are there to open.
    fn have(&mut self, needed: usize) -> bool {
        loop {
            self.free = match self.free {
                Free::Exactly(free) => return free >= needed,
                Free::AtLeast(free) if free >= needed => return true,
                Free::AtLeast(_) => match system::free_for_gnu() {
                    Some(free) => Free::Exactly(free),
                    None => return true,
                },
                Free::Unknown => match system::free_at_least() {
                    Some(free) => Free::AtLeast(free),
                    None => return true,
                },
            };
        }
    }
}

/// `-j FILE` as GNU parallel reads it: at its first look for jobs to
/// start and whenever the file changes, it counts again how many jobs the
/// system allows. Before any value other than `0` was read, up to the jobs
/// the input has (as at the start: see [`Gate::at_bound_warning`]); once
/// one was (it keeps a flag, `$Global::dummy_jobs`), up to the value read,
/// or until its file handles run out, `0` being as many as possible. The
/// handles are those left then, each job it holds (running, or ended and
/// held back by `-k`) keeping its own; a value above that count brings its
/// "Only enough file handles" warning, and the count is the new bound.
#[derive(Debug)]
struct Recount {
    /// A value other than `0` was read.
    finite_seen: bool,
    /// The first look is still to come.
    first: bool,
    /// GNU parallel's own handles when it counts first, and while jobs run.
    own_first: usize,
    own_running: usize,
    /// The handles each job it holds keeps: its stdout and stderr files,
    /// each open to write and to read, or with `-u` the two streams
    /// duplicated (seen in `/proc/PID/fd`).
    per_job: usize,
}

impl Recount {
    fn new(config: &Config, slots: &Slots) -> Recount {
        let (files, lists) = crate::config::gnu_counted_sources(&config.sources);
        Recount {
            finite_seen: slots.wanted != Wanted::AsManyAsPossible,
            first: true,
            own_first: system::gnu_own_fds(files, lists),
            own_running: system::gnu_run_fds(files, lists),
            per_job: if config.mode == crate::output::Mode::Ungroup {
                2
            } else {
                system::GNU_FDS_PER_JOB
            },
        }
    }

    /// GNU parallel's count at its first look, or after the file
    /// `changed`, the value read last being `wanted` (`Slots::wanted`), with
    /// `open` jobs holding file handles, if it is below the value: the jobs
    /// that fit.
    fn count(&mut self, wanted: Wanted, changed: bool, open: usize) -> Option<usize> {
        let own = if std::mem::take(&mut self.first) {
            self.own_first
        } else if changed {
            self.own_running
        } else {
            return None;
        };
        let asked = match wanted {
            Wanted::Exactly(n) => {
                self.finite_seen = true;
                n
            }
            Wanted::AsManyAsPossible => usize::MAX,
        };
        if !self.finite_seen {
            return None;
        }
        let free = system::free_for_gnu()?.saturating_sub(own + open * self.per_job);
        Some(system::gnu_fd_bound(free)).filter(|&fits| fits < asked)
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Gate {
    slots: Slots,
    procfile: Option<ProcFile>,
    /// `-j FILE`: see [`Recount`].
    recount: Option<Recount>,
    swap: Swap,
    /// When `--limit` runs next while jobs run.
    next_limit_run: Option<Instant>,
    /// Said that the system's bound holds `-j 0` back.
    warned: bool,
    /// GNU parallel's file handles check before each job. `None` when it
    /// would not check, or has warned already.
    gnu_fds: Option<GnuFds>,
}

impl Gate {
    pub(crate) fn new(config: &Config) -> Gate {
        let mut slots = config.slots.clone();
        let procfile = slots.file.take();
        let recount = procfile.is_some().then(|| Recount::new(config, &slots));
        Gate {
            slots,
            procfile,
            recount,
            swap: Swap::default(),
            next_limit_run: None,
            warned: false,
            gnu_fds: gnu_fds(config),
        }
    }

    /// GNU parallel's warning when, before starting a job with `open`
    /// jobs holding file handles (running, or ended and held back by
    /// `-k`), too few are left for its check; once per run.
    pub(crate) fn out_of_file_handles(&mut self, open: usize) -> Option<&'static str> {
        let fds = self.gnu_fds.as_mut()?;
        if fds.have(fds.own + open * system::GNU_FDS_PER_JOB + system::GNU_FDS_TO_START) {
            return None;
        }
        self.gnu_fds = None;
        Some(system::NO_MORE_FILE_HANDLES)
    }

    /// Whether `-j` is a file, read again as the run goes on.
    pub(crate) fn reads_file(&self) -> bool {
        self.procfile.is_some()
    }

    /// How many jobs may run now, `open` jobs holding file handles
    /// (running, or ended and held back by `-k`); and with `-j FILE`,
    /// GNU parallel's warning when it read a value the file handles do
    /// not allow (see [`Recount`]). The file is looked at only when a job
    /// is `waiting` to start: a change seen later is still a change.
    /// A file that no longer holds a value is GNU parallel's error, which
    /// it dies of (`Err`).
    pub(crate) fn max_running(&mut self, open: usize, waiting: bool) -> Result<(usize, Option<String>), String> {
        if !waiting {
            if let Some(file) = self.procfile.as_mut() {
                file.not_now();
            }
            return Ok((self.slots.count, None));
        }
        let changed = self.procfile.as_mut().and_then(ProcFile::changed).transpose()?;
        if let Some(wanted) = changed {
            self.slots.apply(wanted);
        }
        let mut warning = None;
        if let Some(recount) = self.recount.as_mut() {
            if let Some(fits) = recount.count(self.slots.wanted, changed.is_some(), open) {
                warning = Some(self.slots.bound.message(Scarce::FileHandles, fits));
                self.slots.count = self.slots.count.min(fits.max(1));
            }
            if recount.finite_seen {
                // Its warnings are the counts' from here on.
                self.warned = true;
            }
        }
        Ok((self.slots.count, warning))
    }

    /// The system had no process for a job: one job fewer at once from now
    /// on (as GNU parallel, from the bound, not from the jobs running).
    /// The new bound, or `None` if it was one job already.
    pub(crate) fn fewer_processes(&mut self) -> Option<usize> {
        if self.slots.count <= 1 {
            return None;
        }
        self.slots.count -= 1;
        self.slots.bound.jobs = self.slots.bound.jobs.min(self.slots.count);
        Some(self.slots.count)
    }

    /// Whether [`at_bound_warning`](Gate::at_bound_warning) may still
    /// have something to say (`-j 0` held back by the system, not said yet).
    pub(crate) fn may_warn(&self) -> bool {
        !self.warned && self.slots.unbounded && self.slots.bound.scarce.is_some()
    }

    /// With `-j 0`, the first time the system's bound keeps a job from
    /// starting: GNU parallel's warning about it.
    pub(crate) fn at_bound_warning(&mut self) -> Option<String> {
        if self.warned || !self.slots.unbounded {
            return None;
        }
        let scarce = self.slots.bound.scarce?;
        self.warned = true;
        let message = self.slots.bound.message(scarce, self.slots.count);
        if self.recount.is_some() {
            // `-j FILE`: GNU parallel counts at the start and again at its
            // first look at the file, the same jobs the same way.
            return Some(format!("{message}\n{message}"));
        }
        Some(message)
    }

    /// Until when the next job is held back, if it is.
    pub(crate) fn hold(&mut self, config: &Config, running: usize) -> Option<Instant> {
        let now = Instant::now();
        let limits = &config.limits;
        // `--limit` is the user's own rule: as in GNU parallel, a limit
        // that says "over" holds even the first job back, and is asked
        // again until it says "below".
        if let Some(limit) = &limits.limit
            && limit.check(&config.shell) != Verdict::Below
        {
            return Some(now + RECHECK);
        }
        if running == 0 {
            // However scarce memory, one job always runs (or nothing
            // would ever end).
            return None;
        }
        if limits.noswap && self.swap.swapping() {
            return Some(now + RECHECK);
        }
        if let Some(size) = limits.memsuspend {
            let needed = size + config.memfree.unwrap_or(0);
            if memory::free().is_some_and(|free| free < needed) {
                return Some(now + RECHECK);
            }
        }
        None
    }

    /// When [`enforce`](Gate::enforce) wants to run again (with jobs
    /// running), and when `-j FILE` is looked at again.
    pub(crate) fn next_wake(&self, config: &Config, running: usize) -> Option<Instant> {
        let watching = running > 0 && (config.limits.memsuspend.is_some() || config.limits.limit.is_some());
        let enforce = watching.then(|| Instant::now() + RECHECK);
        let file = self.procfile.as_ref().map(ProcFile::next_check);
        enforce.into_iter().chain(file).min()
    }

    /// What to do to the running jobs now.
    pub(crate) fn enforce(&mut self, config: &Config, jobs: &[JobView]) -> Vec<Action> {
        let mut actions = Vec::new();
        if jobs.is_empty() {
            return actions;
        }
        if let Some(size) = config.limits.memsuspend
            && let Some(free) = memory::free()
        {
            let mut by_age: Vec<&JobView> = jobs.iter().collect();
            by_age.sort_by_key(|j| j.seq);
            let allowed = memory::allowed_to_run(free, size, by_age.len()).unwrap_or(by_age.len());
            for (i, job) in by_age.iter().enumerate() {
                match (i < allowed, job.suspended) {
                    (true, true) => actions.push(Action::Resume(job.id)),
                    (false, false) => actions.push(Action::Suspend(job.id)),
                    _ => {}
                }
            }
        }
        if let Some(limit) = &config.limits.limit {
            let now = Instant::now();
            if self.next_limit_run.is_none_or(|at| now >= at) {
                self.next_limit_run = Some(now + LIMIT_WHILE_RUNNING);
                if jobs.len() > 1 && limit.check(&config.shell) == Verdict::WayOver {
                    // The youngest by input order, as GNU parallel picks it.
                    if let Some(youngest) = jobs.iter().max_by_key(|j| (j.seq, j.started)) {
                        actions.push(Action::Requeue(youngest.id));
                    }
                }
            }
        }
        actions
    }
}
