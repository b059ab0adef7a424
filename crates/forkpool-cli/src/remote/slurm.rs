//! Jobs as Slurm job steps.
//!
//! Inside an allocation (`salloc`, `sbatch`), `forkpool --slurm CMD ...`
//! starts each job as `srun --exact -N1 -n1 CMD`: a job step of one task
//! on one node, which Slurm places on a free CPU of the allocation's
//! nodes and accounts (`sacct`). The number of jobs at once is then the
//! allocation's tasks (`$SLURM_NTASKS`) unless `-j` says otherwise; Slurm
//! queues the steps that do not fit.
//!
//! The same works without the option, as a command prefix:
//!
//! ```text
//! forkpool -j "$SLURM_NTASKS" srun --exact -N1 -n1 CMD ::: ARGS
//! ```
//!
//! A job that times out or is killed is stopped through its `srun`:
//! `srun` passes `SIGTERM` on to the step, and when `srun` itself is
//! killed, Slurm ends the step.

use std::ffi::OsString;
use std::path::PathBuf;

/// `--slurm`: where `srun` is and what the allocation holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slurm {
    srun: PathBuf,
    /// Tasks of the allocation: the default number of jobs at once.
    pub(crate) tasks: usize,
}

/// The options before the job's own command.
pub(crate) const STEP_OPTIONS: &[&str] = &["--exact", "-N1", "-n1", "--quiet"];

impl Slurm {
    /// Finds `srun` and the allocation; refuses outside one.
    pub(crate) fn detect() -> Result<Slurm, String> {
        let srun = crate::shell::which(std::ffi::OsStr::new("srun"))
            .ok_or_else(|| "--slurm needs Slurm's srun in $PATH.".to_owned())?;
        if std::env::var_os("SLURM_JOB_ID").is_none() {
            return Err("--slurm runs job steps in an allocation: run forkpool under salloc or sbatch.".to_owned());
        }
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
        };
        let tasks = number("SLURM_NTASKS")
            .or_else(|| number("SLURM_NPROCS"))
            .or_else(|| number("SLURM_JOB_CPUS_PER_NODE"))
            .or_else(|| number("SLURM_CPUS_ON_NODE"))
            .unwrap_or(1);
        Ok(Slurm { srun, tasks })
    }

    /// `srun --exact -N1 -n1 --quiet ARGV...`.
    pub(crate) fn wrap(&self, argv: Vec<OsString>) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::with_capacity(argv.len() + 5);
        out.push(self.srun.clone().into_os_string());
        out.extend(STEP_OPTIONS.iter().map(OsString::from));
        out.extend(argv);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_becomes_a_one_task_step() {
        let slurm = Slurm {
            srun: "/usr/bin/srun".into(),
            tasks: 4,
        };
        let argv = slurm.wrap(vec!["sh".into(), "-c".into(), "echo a".into()]);
        assert_eq!(
            argv,
            [
                "/usr/bin/srun",
                "--exact",
                "-N1",
                "-n1",
                "--quiet",
                "sh",
                "-c",
                "echo a"
            ]
            .map(OsString::from)
            .to_vec()
        );
    }
}
