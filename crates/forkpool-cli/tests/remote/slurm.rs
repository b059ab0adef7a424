//! Jobs as Slurm job steps, in a one-node Slurm cluster on loopback
//! (`slurmctld` and `slurmd` of Debian's `slurmctld`/`slurmd`, without
//! munge: `auth/none`), started once for the test binary and stopped by
//! pid. Skipped, saying why, where Slurm is not installed or we are not
//! root.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sshd::free_port;
use crate::{Run, Scratch, finish, wait_until};

struct Cluster {
    /// Removed by slurmd's watchdog when the tests end.
    _dir: tempfile::TempDir,
    conf: PathBuf,
    /// The daemons' watchdogs: they stop them by pid when we exit.
    _watchdogs: Mutex<Vec<(Child, ChildStdin)>>,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| match Cluster::start() {
            Ok(c) => Some(c),
            Err(why) => {
                eprintln!("slurm tests skipped: {why}");
                None
            }
        })
        .as_ref()
}

/// Starts `program ARGS` in the background under a watchdog (see
/// `sshd::watchdog`), which runs `after` once it has stopped it.
fn daemon(program: &str, args: &str, conf: &Path, after: &str) -> Result<(Child, ChildStdin), String> {
    let command = format!("SLURM_CONF={} {program} {args}", conf.display());
    let (child, stdin, _) = crate::sshd::watchdog(&command, after)?;
    Ok((child, stdin))
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        for program in ["slurmctld", "slurmd", "srun", "salloc"] {
            let found = ["/usr/sbin", "/usr/bin"]
                .iter()
                .any(|d| Path::new(d).join(program).exists());
            if !found {
                return Err(format!(
                    "{program} is not installed (apt-get install slurmctld slurmd slurm-client)"
                ));
            }
        }
        let root = Command::new("id").arg("-u").output().map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&root.stdout).trim() != "0" {
            return Err("slurmd needs root".to_owned());
        }
        let dir = tempfile::Builder::new()
            .prefix("forkpool-slurm-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_err(|e| e.to_string())?
            .trim()
            .to_owned();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = d.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=forkpool\n\
                 SlurmctldHost={host}(127.0.0.1)\n\
                 SlurmctldPort={ctld}\n\
                 SlurmdPort={slurmd}\n\
                 AuthType=auth/none\n\
                 CredType=cred/none\n\
                 SlurmUser=root\n\
                 SlurmdUser=root\n\
                 StateSaveLocation={d}/state\n\
                 SlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/slurmctld.pid\n\
                 SlurmdPidFile={d}/slurmd.pid\n\
                 SlurmctldLogFile={d}/slurmctld.log\n\
                 SlurmdLogFile={d}/slurmd.log\n\
                 ProctrackType=proctrack/linuxproc\n\
                 TaskPlugin=task/none\n\
                 SelectType=select/cons_tres\n\
                 SelectTypeParameters=CR_CPU\n\
                 ReturnToService=2\n\
                 MpiDefault=none\n\
                 JobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\n\
                 NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
                 PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
                ctld = free_port(),
                slurmd = free_port(),
                d = d.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let watchdogs = vec![
            daemon("slurmctld", "-D -i", &conf, "")?,
            // The last to go removes the cluster's directory.
            daemon(
                "slurmd",
                &format!("-D -N {host}"),
                &conf,
                &format!("; sleep 1; rm -rf {}", d.display()),
            )?,
        ];
        let cluster = Cluster {
            _dir: dir,
            conf,
            _watchdogs: Mutex::new(watchdogs),
        };
        // Ready when the node is idle.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("sinfo")
                .args(["-h", "-o", "%t"])
                .env("SLURM_CONF", &cluster.conf)
                .output()
                .map_err(|e| e.to_string())?;
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the node did not come up: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `salloc -n TASKS sh -c SCRIPT`, with forkpool as `$FORKPOOL`.
    fn salloc(&self, tasks: usize, script: &str) -> Command {
        let mut c = Command::new("salloc");
        c.args(["-Q", "-n", &tasks.to_string(), "/bin/sh", "-c", script])
            .env("SLURM_CONF", &self.conf)
            .env("FORKPOOL", env!("CARGO_BIN_EXE_forkpool"))
            .env("PARALLEL_SHELL", "/bin/sh")
            .env_remove("PARALLEL")
            .stdin(Stdio::null());
        c
    }

    /// The job steps running now (`JOBID.STEP`).
    fn steps(&self) -> Vec<String> {
        let out = Command::new("squeue")
            .args(["-h", "-s", "-o", "%i"])
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .filter(|s| !s.ends_with(".extern") && !s.ends_with(".batch") && !s.ends_with(".interactive"))
            .collect()
    }
}

#[test]
fn slurm_runs_each_job_as_a_step_of_the_allocation() {
    let Some(c) = cluster() else { return };
    let r: Run = finish(c.salloc(
        2,
        "$FORKPOOL --slurm -k 'echo {} step=$SLURM_STEP_ID tasks=$SLURM_NTASKS' ::: a b c",
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    let mut steps: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    steps.sort_unstable();
    assert_eq!(steps, ["step=0", "step=1", "step=2"], "one job step each: {lines:?}");
    assert!(
        lines.iter().all(|l| l.ends_with("tasks=1")),
        "one task per step: {lines:?}"
    );
}

#[test]
fn the_documented_prefix_does_the_same() {
    let Some(c) = cluster() else { return };
    let r = finish(c.salloc(
        2,
        "$FORKPOOL -j \"$SLURM_NTASKS\" -k -q srun --exact -N1 -n1 sh -c 'echo $0 $SLURM_STEP_ID' {} ::: x y",
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(
        lines.iter().map(|l| &l[..1]).collect::<Vec<_>>(),
        ["x", "y"],
        "{lines:?}"
    );
    let mut steps: Vec<&str> = lines.iter().map(|l| &l[2..]).collect();
    steps.sort_unstable();
    assert_eq!(steps, ["0", "1"], "each a job step: {lines:?}");
}

#[test]
fn jobs_at_once_follow_the_allocation_and_failures_count() {
    let Some(c) = cluster() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    let job = format!("echo start >> {log}; sleep 0.5; echo end >> {log}; exit {{}}");
    let script = format!("$FORKPOOL --slurm '{job}' ::: 0 0 0 3");
    let r = finish(c.salloc(1, &script));
    assert_eq!(r.code, 1, "one job failed: {}", r.stderr);
    assert_eq!(
        crate::most_at_once(&dir.path("log")),
        1,
        "a one-task allocation runs one step at a time"
    );
}

#[test]
fn sigkill_of_forkpool_ends_its_job_steps() {
    let Some(c) = cluster() else { return };
    let mut child = c
        .salloc(2, "$FORKPOOL --slurm 'sleep 100' ::: 1 2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("two job steps", || c.steps().len() == 2);
    // forkpool is salloc's shell's child: find it and SIGKILL it.
    let forkpool = crate::sshd::descendants(child.id())
        .into_iter()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains("--slurm"))
        })
        .expect("forkpool runs");
    crate::sshd::signal(forkpool, "KILL");
    wait_until("the steps to end", || c.steps().is_empty());
    let _ = child.kill();
    let _ = child.wait();
}
