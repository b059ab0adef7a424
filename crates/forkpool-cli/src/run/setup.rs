//! A run set up before its first job: the joblog opened (and read, for
//! `--resume`), the jobs' queue chosen (read as needed, by the input
//! thread, or all up front), the supervisor started, and the printer
//! told how to print.

use std::collections::{HashMap, VecDeque};

use forkpool::command::Supervisor;

use super::queue::Queue;
use super::remote::RemoteRun;
use super::timeouts::Remedian;
use super::{Runner, WATCHED_SIGNALS};
use crate::config::{Config, Resume};
use crate::feed::Feed;
use crate::halt::Tally;
use crate::joblog::{Joblog, Open, Prior};
use crate::jobs::{Prepared, io_reason};
use crate::limits::gate::Gate;
use crate::output::Printer;
use crate::progress::Progress;

impl<'c> Runner<'c> {
    /// Sets a run up: the joblog, the job queue, the supervisor.
    pub(crate) fn new(config: &'c Config, prepared: Prepared) -> Result<Runner<'c>, String> {
        let Prepared {
            command,
            tag,
            results,
            table,
            input_may_block,
            jobs,
            pipe,
            ahead,
            filters,
            workdir,
            templates,
            at_launch,
            remote: remote_templates,
            shape,
        } = prepared;
        let remote = RemoteRun::new(config, remote_templates)?;
        let (joblog, prior) = match (&config.joblog, config.dry_run) {
            (Some((path, append)), false) => {
                let how = match (config.resume, *append) {
                    (Resume::Skip | Resume::RetryFailed, plus) => Open::Resume { plus },
                    (Resume::No, true) => Open::Append,
                    (Resume::No, false) => Open::Create,
                };
                let (log, prior) = Joblog::open(path, how).map_err(|_| {
                    // GNU parallel's words: it appends to a `+FILE`, and to
                    // a log `--resume` found lines in.
                    let appends = match how {
                        Open::Append => true,
                        Open::Resume { .. } => std::fs::metadata(path).is_ok_and(|m| m.len() > 0),
                        Open::Create => false,
                    };
                    let verb = if appends { "append" } else { "write" };
                    format!("Cannot {verb} to --joblog {}.", path.display())
                })?;
                (Some(log), prior)
            }
            _ => (None, Prior::default()),
        };
        let mut jobs = jobs;
        let needs_all =
            config.shuffle || ((config.bar || config.eta) && config.total_jobs.is_none()) || config.halt.needs_total();
        let collected = if needs_all {
            // (`--shuf`'s shuffle is the job source's: see `jobs`.)
            let all = jobs
                .collect_all()
                .map_err(|e| format!("cannot read input: {}", io_reason(&e)))?;
            Some(all)
        } else {
            None
        };
        let supervisor = if config.dry_run {
            None
        } else {
            let mut supervisor = Supervisor::new().map_err(|e| format!("cannot start jobs: {e}"))?;
            for var in crate::invocation::NOT_FOR_JOBS {
                supervisor.unset_env(var);
            }
            supervisor
                .watch_signals(WATCHED_SIGNALS)
                .map_err(|e| format!("cannot watch signals: {e}"))?;
            Some(supervisor)
        };
        let (queue, total) = match (collected, &supervisor) {
            (Some(all), _) => {
                let total = all.len() as u64;
                (Queue::Collected(all.into()), Some(total))
            }
            (None, Some(supervisor)) if input_may_block => {
                let feed = Feed::start(jobs, ahead, supervisor.waker())
                    .map_err(|e| format!("cannot start reading input: {e}"))?;
                (Queue::Feed(feed), None)
            }
            // Values and regular files: reading never waits for long.
            (None, _) => (Queue::Direct(jobs), None),
        };
        let progress = Progress::new(
            config.bar,
            config.progress,
            config.eta,
            config.total_jobs.or(total),
            config.jobs,
        );
        let mut printer = Printer::new(config.mode, config.keep_order);
        printer.set_tmpdir(&config.files.tmpdir);
        if let Some(colors) = &config.colors {
            printer.set_colors(colors.clone());
        }
        if let Some(compression) = &config.files.compression
            && config.files.names.is_none()
        {
            printer.set_compression(compression.clone());
        }
        if let Some(table) = table {
            if config.resume == Resume::Skip && joblog.is_none() {
                // A table is not read back; GNU parallel says the same
                // (for `--resume`: `--resume-failed` needs no results).
                // (Its message ends in a newline of its own: an empty line.)
                warning!("--resume --results .csv/.tsv/.json is not supported yet");
                say!("");
            }
            printer.set_table(table);
        }
        let has_joblog = joblog.is_some();
        if let Some(joblog) = joblog {
            printer.set_joblog(joblog);
        }
        Ok(Runner {
            config,
            command,
            shape,
            tag,
            results,
            queue,
            total,
            supervisor,
            printer,
            has_joblog,
            prior,
            progress,
            retry: VecDeque::new(),
            running: HashMap::new(),
            free_slots: (1..=config.jobs).collect(),
            tally: Tally::default(),
            stop: None,
            halt_status: None,
            interrupts: 0,
            broken_pipe: false,
            output_warned: false,
            last_start: None,
            delay: config.delay.map(|d| d.base),
            median: Remedian::default(),
            input_done: false,
            our_pid: std::process::id().to_string().into(),
            pipe,
            gate: Gate::new(config),
            filters,
            evaluator: None,
            workdir,
            templates,
            at_launch,
            remote,
            last_status: 0,
            died: None,
            spare_tmp: HashMap::new(),
        })
    }
}
