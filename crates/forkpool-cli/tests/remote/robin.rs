//! `--round-robin` (and `--pipepart --round-robin`) over hosts: one job per
//! job slot of the hosts together, as GNU parallel starts them (each
//! host's `N/` or CPU count, `-j` applied per host, `:` counting this
//! machine's), and never more jobs than there are slots to run them: a
//! job whose input is never closed would hang the run. Every run here has
//! a deadline, so that such a hang fails the test instead of the suite.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Fixture, Run, Scratch, command, fixture};

/// How long a run may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `cmd` with `input` on its stdin; fails the test (killing it) if it
/// has not ended by [`DEADLINE`].
fn run_within(mut cmd: Command, input: &str) -> Run {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the command starts");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_owned();
    // (A job that is never fed may stop reading: a write error is no failure.)
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(data.as_bytes());
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: {what} did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    feeder.join().unwrap();
    Run {
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        code: status.code().unwrap_or(-1),
    }
}

/// `seq 1 N` as text.
fn seq(n: usize) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

/// The jobs' `wc -l` counts, one per job that printed one, sorted.
fn counts(r: &Run) -> Vec<usize> {
    let mut counts: Vec<usize> = r
        .lines()
        .iter()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a count: {l:?}\n{}", r.stderr))
        })
        .collect();
    counts.sort_unstable();
    counts
}

/// GNU parallel with the same arguments over the same hosts, if installed.
fn gnu(f: &Fixture, args: &[&str], input: &str) -> Option<Run> {
    let found = Command::new("parallel").arg("--version").stdout(Stdio::null()).status();
    if !found.is_ok_and(|s| s.success()) {
        eprintln!("GNU parallel is not installed: not compared");
        return None;
    }
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("parallel");
    cmd.args(["--ssh", &f.ssh()])
        .args(args)
        .env("HOME", home.path())
        .env("PARALLEL_SHELL", "/bin/sh")
        .env("SHELL", "/bin/sh")
        .env_remove("PARALLEL");
    Some(run_within(cmd, input))
}

/// `forkpool ARGS` with `input` on its stdin; and, where GNU parallel is
/// installed, the same job count as it.
fn both(f: &Fixture, args: &[&str], input: &str) -> Run {
    let r = run_within(command(f, args), input);
    if let Some(g) = gnu(f, args, input) {
        assert_eq!(g.code, 0, "GNU parallel {args:?}: {}", g.stderr);
        assert_eq!(
            counts(&r).len(),
            counts(&g).len(),
            "{args:?}: as many jobs as GNU parallel (ours {:?}, GNU's {:?})",
            r.stdout,
            g.stdout
        );
    }
    r
}

/// Runs `--round-robin --pipe --block 10 HOSTS 'wc -l'` over `seq lines`
/// (and GNU parallel with it): `jobs` jobs, every line once, exit 0.
fn round_robin_runs(f: &Fixture, hosts: &[&str], lines: usize, jobs: usize) {
    let mut args = vec!["--round-robin", "--pipe", "--block", "10"];
    args.extend_from_slice(hosts);
    args.push("wc -l");
    let r = both(f, &args, &seq(lines));
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    let counts = counts(&r);
    assert_eq!(counts.len(), jobs, "{args:?}: one job per slot: {:?}", r.stdout);
    assert_eq!(
        counts.iter().sum::<usize>(),
        lines,
        "{args:?}: every line once: {:?}",
        r.stdout
    );
}

#[test]
fn round_robin_starts_one_job_per_slot_of_the_hosts() {
    let Some(f) = fixture() else { return };
    // (-S, the jobs: every slot of every host.) With one slot, main's
    // forkpool started two jobs (this machine's CPUs) and hung.
    for (logins, jobs) in [("1/h1", 1), ("3/h1", 3), ("2/h1,1/h2", 3), ("4/h1,4/h2", 8)] {
        round_robin_runs(f, &["-S", logins], 60, jobs);
    }
}

#[test]
fn round_robin_slots_follow_cpus_j_per_host_and_the_local_machine() {
    let Some(f) = fixture() else { return };
    // The CPUs we may run on, as `-j` counts them.
    let cpus = rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count() as usize);
    // A host without `N/` has its CPUs counted (the hosts are this machine);
    // `-j` applies to each host; `:` counts this machine's slots.
    let cases: [(&[&str], usize); 4] = [
        (&["-S", "h1"], cpus),
        (&["-j", "1", "-S", "h1,h2"], 2),
        (&["-j", "+1", "-S", "1/h1,2/h2"], 5),
        (&["-S", "1/:,2/h1"], 3),
    ];
    for (hosts, jobs) in cases {
        round_robin_runs(f, hosts, 200, jobs);
    }
}

#[test]
fn round_robin_ends_when_a_host_drops_out() {
    let Some(f) = fixture() else { return };
    let input = seq(60);
    // `dead` refuses connections: its slot was counted up front, then goes;
    // `--filter-hosts` leaves it out before the jobs start. Either way the
    // jobs left on h1 get every line and end.
    for filter in [false, true] {
        let mut args = vec!["--round-robin", "--pipe", "--block", "10", "-S", "1/h1,1/dead"];
        if filter {
            args.push("--filter-hosts");
        }
        args.push("wc -l");
        let r = run_within(command(f, &args), &input);
        let counts = counts(&r);
        assert_eq!(
            counts.iter().sum::<usize>(),
            60,
            "{args:?}: every line once: {:?}",
            r.stdout
        );
        assert!(!counts.is_empty() && counts.len() <= 2, "{args:?}: {:?}", r.stdout);
        if filter {
            assert_eq!(counts.len(), 1, "{args:?}: one slot left: {:?}", r.stdout);
        }
    }
}

#[test]
fn pipepart_round_robin_cuts_one_part_per_slot_of_the_hosts() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let file = dir.file("numbers", &seq(600));
    for (logins, jobs) in [("1/h1", 1), ("2/h1,1/h2", 3)] {
        let args = ["--pipepart", "--round-robin", "-a", &file, "-S", logins, "wc -l"];
        let r = both(f, &args, "");
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let counts = counts(&r);
        assert_eq!(counts.len(), jobs, "{args:?}: one part per slot: {:?}", r.stdout);
        assert_eq!(
            counts.iter().sum::<usize>(),
            600,
            "{args:?}: every line once: {:?}",
            r.stdout
        );
    }
}
