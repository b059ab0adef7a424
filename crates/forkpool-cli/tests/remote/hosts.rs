//! Hosts: `-S` in its forms, sshlogin files, `--ssh`, jobs per host,
//! `--sshdelay`, `--filter-hosts`, ControlMaster, and hosts that refuse
//! connections or die mid-job.

use std::time::{Duration, Instant};

use crate::{Scratch, command, finish, fixture, joblog, marker, most_at_once, run, spawn, wait_until};

#[test]
fn jobs_run_on_every_host_given() {
    let Some(f) = fixture() else { return };
    // (A login per job: all three hosts are ready at once.)
    let r = run(
        f,
        &[
            "--no-controlmaster",
            "-S",
            "1/h1,1/h2",
            "-S",
            "1/h3",
            "echo {} on $PARALLEL_SSHHOST; sleep 0.3",
            ":::",
            "a",
            "b",
            "c",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hosts: std::collections::BTreeSet<&str> = r.lines().iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(
        hosts,
        ["h1", "h2", "h3"].into(),
        "one job per host, slots of one: {:?}",
        r.stdout
    );
    // As the test user, on the remote side.
    let r = run(f, &["-S", "h1", "id -un; true {}", ":::", "x"]);
    assert_eq!((r.stdout.trim(), r.code), (crate::sshd::USER, 0), "{}", r.stderr);
}

#[test]
fn user_at_host_and_the_local_machine() {
    let Some(f) = fixture() else { return };
    let user = format!("1/{}@h1", crate::sshd::USER);
    // (Without shared connections, so both hosts are ready at once.)
    let r = run(
        f,
        &[
            "--no-controlmaster",
            "-S",
            &user,
            "-S",
            "1/:",
            "id -un; sleep 0.5; true {}",
            ":::",
            "x",
            "y",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.sorted(),
        [crate::sshd::USER, "root"],
        "one job here, one there: {}",
        r.stderr
    );
}

#[test]
fn the_ssh_command_comes_from_the_option_the_login_or_the_environment() {
    let Some(f) = fixture() else { return };
    let ssh = f.ssh();
    // --ssh wins over $PARALLEL_SSH.
    let mut c = command(
        f,
        &["--ssh", &ssh, "-S", "h2", "echo $PARALLEL_SSHHOST; true {}", ":::", "1"],
    );
    c.env("PARALLEL_SSH", "false");
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("h2\n", 0), "{}", r.stderr);
    // The login's own ssh command wins over both; it names the login.
    let login = format!("{ssh} h3");
    let log = Scratch::new();
    let mut c = command(
        f,
        &[
            "-S",
            &login,
            "--joblog",
            &log.s("log"),
            "echo $PARALLEL_SSHLOGIN; true {}",
            ":::",
            "1",
        ],
    );
    c.env("PARALLEL_SSH", "false");
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), login);
    assert_eq!(joblog(&log.path("log"))[0][1], login, "the joblog's Host column");
}

#[test]
fn sshlogin_files_and_their_shorthands() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let slf = dir.file("nodes", "# the nodes\n\n1/h1\n  \n1/h2\n");
    let r = run(
        f,
        &["--slf", &slf, "echo $PARALLEL_SSHHOST; sleep 0.3", ":::", "1", "2"],
    );
    assert_eq!((r.sorted(), r.code), (vec!["h1", "h2"], 0), "{}", r.stderr);
    // `..` is $PARALLEL_HOME/sshloginfile; -S and files add up.
    dir.file("home/sshloginfile", "1/h3\n");
    let mut c = command(
        f,
        &[
            "--slf",
            "..",
            "-S",
            "1/h4",
            "echo $PARALLEL_SSHHOST; sleep 0.3",
            ":::",
            "1",
            "2",
        ],
    );
    c.env("PARALLEL_HOME", dir.path("home"));
    let r = finish(c);
    assert_eq!((r.sorted(), r.code), (vec!["h3", "h4"], 0), "{}", r.stderr);
    // `-S ..` reads the same file.
    let mut c = command(f, &["-S", "..", "echo $PARALLEL_SSHHOST; true {}", ":::", "1"]);
    c.env("PARALLEL_HOME", dir.path("home"));
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("h3\n", 0), "{}", r.stderr);
    // A name not found here is looked for in $PARALLEL_HOME.
    let mut c = command(
        f,
        &["--slf", "sshloginfile", "echo $PARALLEL_SSHHOST; true {}", ":::", "1"],
    );
    c.env("PARALLEL_HOME", dir.path("home")).current_dir(dir.root());
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("h3\n", 0), "{}", r.stderr);
}

#[test]
fn host_groups_select_logins() {
    let Some(f) = fixture() else { return };
    let r = run(
        f,
        &[
            "-S",
            "@web/1/h1,@db/1/h2",
            "-S",
            "@db",
            "echo $PARALLEL_SSHHOST; true {}",
            ":::",
            "1",
            "2",
        ],
    );
    assert_eq!((r.lines(), r.code), (vec!["h2", "h2"], 0), "{}", r.stderr);
}

#[test]
fn hostgroups_on_arguments_choose_the_hosts() {
    // `man parallel`'s --hostgroups: ARG@GRP runs on a host of GRP, @A+B
    // on a host of either, an argument without groups anywhere; the groups
    // are taken off the argument, and the job sees them.
    let Some(f) = fixture() else { return };
    let r = run(
        f,
        &[
            "--hostgroups",
            "-S",
            "@g1/1/h1,@g2/1/h2",
            "-S",
            "@g3/1/h3",
            "echo {} $PARALLEL_SSHHOST $PARALLEL_ARGHOSTGROUPS",
            ":::",
            "a@g1",
            "b@g2",
            "c@g3+g1",
            "d@g2",
            "e@g1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // (A job waiting for its group's host lets later ones go first.)
    let lines = r.sorted();
    assert_eq!(lines.len(), 5, "{}", r.stderr);
    assert_eq!(lines[0], "a h1 g1");
    assert_eq!(lines[1], "b h2 g2");
    assert!(
        lines[2] == "c h3 g3+g1" || lines[2] == "c h1 g3+g1",
        "c on a host of g3 or g1: {}",
        lines[2]
    );
    assert_eq!(lines[3], "d h2 g2");
    assert_eq!(lines[4], "e h1 g1");
    // A host is in the group of its own name; a group no sshlogin has is
    // added as a host of that name, with GNU's warning.
    let r = run(
        f,
        &[
            "--hgrp",
            "-S",
            "1/h1",
            "echo {} $PARALLEL_SSHHOST",
            ":::",
            "x@h1",
            "y@h2",
            "z",
        ],
    );
    let lines = r.sorted();
    assert_eq!((r.code, lines[..2].to_vec()), (0, vec!["x h1", "y h2"]), "{}", r.stderr);
    assert!(lines[2] == "z h1" || lines[2] == "z h2", "{}", r.stdout);
    assert!(r.stderr.contains("Warning: Adding hostgroups: h2"), "{}", r.stderr);
    // Without the option, @ is part of the argument.
    let r = run(f, &["-S", "1/h1", "echo {}", ":::", "x@g"]);
    assert_eq!((r.stdout.as_str(), r.code), ("x@g\n", 0), "{}", r.stderr);
}

#[test]
fn keep_order_holds_later_jobs_for_one_waiting_for_its_host_group() {
    // b can only run on h1, busy with a until c has run on h2: so c starts
    // (and ends) before b starts. Under -k, b still prints in its place,
    // and its joblog line too; grouped or line-buffered.
    let Some(f) = fixture() else { return };
    for mode in ["--group", "--line-buffer"] {
        let d = Scratch::new();
        let log = d.s("log");
        let c_ran = d.s("c-ran");
        let job = format!(
            "case {{}} in a) for i in $(seq 600); do [ -e {c_ran} ] && break; sleep 0.1; done;; \
             c) touch {c_ran};; esac; echo {{}} $PARALLEL_SSHHOST"
        );
        let r = run(
            f,
            &[
                "-k",
                mode,
                "--hostgroups",
                "--joblog",
                &log,
                "-S",
                "@g1/1/h1,@g2/1/h2",
                &job,
                ":::",
                "a@g1",
                "b@g1",
                "c@g2",
                "d@g2",
            ],
        );
        assert_eq!(
            (r.stdout.as_str(), r.code),
            ("a h1\nb h1\nc h2\nd h2\n", 0),
            "{mode}: {}",
            r.stderr
        );
        let rows = joblog(std::path::Path::new(&log));
        let seqs: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
        assert_eq!(seqs, ["1", "2", "3", "4"], "{mode}");
        // b did start after c: the order is -k's, not the starts'.
        assert!(std::path::Path::new(&c_ran).exists(), "{mode}: c ran while a waited");
        let start = |seq: usize| -> f64 { rows[seq - 1][2].parse().unwrap() };
        assert!(start(2) > start(3), "{mode}: b started after c: {rows:?}");
    }
}

#[test]
fn pipe_blocks_are_the_remote_jobs_stdin() {
    // As GNU parallel: with -S, --pipe's blocks (and --pipepart's parts)
    // go to the hosts, on the remote command's stdin through ssh.
    let Some(f) = fixture() else { return };
    let here = String::from_utf8(std::process::Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let input: String = (1..=1000).map(|i| format!("{i}\n")).collect();
    let check = |r: crate::Run, jobs: usize| {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines = r.lines();
        assert_eq!(lines.len(), jobs, "{}", r.stdout);
        let mut total = 0;
        for line in lines {
            let (user, count) = line.split_once(' ').unwrap();
            assert_ne!(user, here.trim(), "the job ran on a host, not here");
            total += count.parse::<usize>().unwrap();
        }
        assert_eq!(total, 1000, "every line went to a job once");
    };
    let mut c = command(f, &["-S", "1/h1,1/h2", "--pipe", "-N100", "echo $(id -un) $(wc -l)"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    c.stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.clone();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, data.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    check(
        crate::Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        },
        10,
    );
    let dir = Scratch::new();
    let file = dir.file("numbers", &input);
    let r = run(
        f,
        &[
            "-S",
            "1/h1",
            "--pipepart",
            "-a",
            &file,
            "--block",
            "2k",
            "echo $(id -un) $(wc -l)",
        ],
    );
    check(r, 2);
}

#[test]
fn a_changed_sshlogin_file_is_read_again() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let slf = dir.file("nodes", "1/h1\n");
    let job = format!(
        "touch {}.$PARALLEL_SSHHOST; echo $PARALLEL_SSHHOST; sleep 0.6; true {{}}",
        dir.s("started")
    );
    let args = ["--slf", &slf, "-k", &job, ":::", "1", "2", "3", "4", "5", "6", "7", "8"];
    let child = spawn(f, &args);
    // Once the first job runs, the file changes (its time too).
    wait_until("a job on h1", || dir.path("started.h1").exists());
    std::fs::write(&slf, "1/h2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let hosts: Vec<&str> = stdout.lines().collect();
    assert_eq!(hosts.len(), 8, "{stdout}");
    assert_eq!(hosts[0], "h1");
    assert_eq!(hosts[7], "h2", "later jobs go to the new host: {hosts:?}");
}

#[test]
fn jobs_per_host_follow_j_and_the_cpu_count() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    let job = format!("echo start >> {log}; sleep 0.4; echo end >> {log}; true {{}}");
    // N/host gives the CPUs; -j 50% of 4 is 2.
    let r = run(
        f,
        &["-S", "4/h1", "-j", "50%", &job, ":::", "1", "2", "3", "4", "5", "6"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let most = most_at_once(&dir.path("log"));
    assert!((1..=2).contains(&most), "at most 2 at once, saw {most}");
    // Without N/, the host's own CPU count (counted over ssh).
    std::fs::remove_file(dir.path("log")).unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = run(f, &["-S", "h1", &job, ":::", "1", "2", "3", "4", "5", "6"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let most = most_at_once(&dir.path("log"));
    assert!((1..=cpus).contains(&most), "at most {cpus} at once, saw {most}");
    // -j +N: CPUs + N.
    std::fs::remove_file(dir.path("log")).unwrap();
    let r = run(
        f,
        &["-S", "1/h1", "-j", "+1", &job, ":::", "1", "2", "3", "4", "5", "6"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!((1..=2).contains(&most_at_once(&dir.path("log"))));
}

#[test]
fn sshdelay_spaces_the_logins() {
    let Some(f) = fixture() else { return };
    let started = Instant::now();
    let r = run(f, &["-S", "3/h1", "--sshdelay", "0.4", "true", ":::", "1", "2", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_host_that_refuses_connections_gets_no_jobs() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let log = dir.s("log");
    // `dead` is first: it gets the first job, which fails with 255 and
    // runs again on h1.
    let r = run(
        f,
        &[
            "-S",
            "1/dead,1/h1",
            "--joblog",
            &log,
            "echo $PARALLEL_SSHHOST; true {}",
            ":::",
            "a",
            "b",
            "c",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["h1", "h1", "h1"]);
    assert!(r.stderr.contains("dead is down"), "{}", r.stderr);
    let log = joblog(&dir.path("log"));
    assert_eq!(log.len(), 3, "each job once: {log:?}");
    assert!(log.iter().all(|row| row[1] == "h1" && row[6] == "0"));
    // --filter-hosts leaves it out before any job.
    let r = run(
        f,
        &[
            "-S",
            "dead,h1",
            "--filter-hosts",
            "echo $PARALLEL_SSHHOST; true {}",
            ":::",
            "a",
        ],
    );
    assert_eq!((r.stdout.as_str(), r.code), ("h1\n", 0), "{}", r.stderr);
    assert!(r.stderr.contains("Warning: Removed dead."), "{}", r.stderr);
    // With no host left, nothing can run: an error.
    let r = run(f, &["-S", "dead", "--filter-hosts", "echo", ":::", "a"]);
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("no hosts left"), "{}", r.stderr);
}

#[test]
fn a_job_exiting_255_on_a_live_host_is_the_jobs_failure() {
    let Some(f) = fixture() else { return };
    let r = run(f, &["-S", "1/h1", "exit {}", ":::", "255"]);
    assert_eq!(r.code, 1, "one job failed: {}", r.stderr);
    assert!(!r.stderr.contains("is down"), "{}", r.stderr);
}

/// Two jobs, one on each host (one slot each); `h5` dies while its job
/// runs; that job then runs on `h1` (with `--retries` too, and then the
/// host's failure is not one of the job's attempts).
fn host_dies_mid_job(shared: bool, retries: bool) {
    let Some(f) = fixture() else { return };
    let (server, config) = f.second_server("h5");
    let dir = Scratch::new();
    let started = dir.s("started");
    let job = format!("touch {started}.$PARALLEL_SSHHOST; sleep 3; echo {{}} done on $PARALLEL_SSHHOST");
    let ssh = format!("ssh -F {}", config.display());
    let log = dir.s("log");
    let mut args = vec![
        "--ssh",
        &ssh,
        "-S",
        "1/h5,1/h1",
        "-k",
        "--joblog",
        &log,
        &job,
        ":::",
        "a",
        "b",
    ];
    if !shared {
        args.insert(0, "--no-controlmaster");
    }
    if retries {
        args.splice(0..0, ["--retries", "2"]);
    }
    let child = spawn(f, &args);
    wait_until("a job to start on h5", || dir.path("started.h5").exists());
    server.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(dir.path("log")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}{log}");
    assert_eq!(stdout, "a done on h1\nb done on h1\n", "{stderr}");
    assert!(stderr.contains("h5 is down"), "{stderr}{log}");
    let rows = joblog(&dir.path("log"));
    assert_eq!(rows.len(), 2, "each job logged once: {log}");
    assert!(
        rows.iter().all(|row| row[1] == "h1" && row[6] == "0"),
        "both ran to success on h1: {log}"
    );
}

#[test]
fn a_host_that_dies_mid_job_hands_its_job_to_another() {
    host_dies_mid_job(true, false);
}

#[test]
fn with_retries_a_job_whose_host_died_reruns_elsewhere() {
    host_dies_mid_job(true, true);
}

#[test]
fn a_host_that_dies_mid_job_hands_its_job_to_another_with_a_login_per_job() {
    host_dies_mid_job(false, true);
}

#[test]
fn connections_are_shared_beyond_max_sessions() {
    let Some(f) = fixture() else { return };
    let tmp = Scratch::new();
    // 12 jobs at once on one host: more than sshd's MaxSessions (10)
    // allows on one connection; each slot has a master of its own.
    let m = marker("cm");
    let job = format!("sleep 1; echo {m}; true {{}}");
    let args: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    let mut argv = vec!["-S", "12/h1", &job, ":::"];
    argv.extend(args.iter().map(String::as_str));
    let mut c = command(f, &argv);
    c.env("TMPDIR", tmp.root());
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines().len(), 12);
    let left: Vec<_> = std::fs::read_dir(tmp.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "control sockets and their dir are removed: {left:?}");
}

#[test]
fn control_sockets_go_under_tmpdir() {
    // GNU parallel puts its ControlMaster sockets under --tmpdir (else
    // $TMPDIR): so do we, and the directory goes at the end.
    let Some(f) = fixture() else { return };
    let env_tmp = Scratch::new();
    let opt_tmp = Scratch::new();
    let job = format!(
        "echo $(ls {} | grep -c forkpool-ssh-) $(ls {} | grep -c forkpool-ssh-); true {{}}",
        opt_tmp.root().display(),
        env_tmp.root().display()
    );
    let tmpdir = opt_tmp.root().display().to_string();
    let mut c = command(f, &["--tmpdir", &tmpdir, "-S", "1/h1", &job, ":::", "1"]);
    c.env("TMPDIR", env_tmp.root());
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("1 0\n", 0), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(opt_tmp.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "the socket directory is removed: {left:?}");
}

#[test]
fn connection_sharing_can_be_forced_or_turned_off() {
    let Some(f) = fixture() else { return };
    let tmp = Scratch::new();
    for flag in ["-M", "--no-controlmaster"] {
        let mut c = command(
            f,
            &[flag, "-S", "2/h1,2/h2", "-k", "echo {}", ":::", "1", "2", "3", "4", "5"],
        );
        c.env("TMPDIR", tmp.root());
        let r = finish(c);
        assert_eq!(
            (r.lines(), r.code),
            (vec!["1", "2", "3", "4", "5"], 0),
            "{flag}: {}",
            r.stderr
        );
    }
    // An ssh command that is not OpenSSH's gets no masters unless -M says
    // so; a wrapper script that calls ssh works both ways.
    let wrapper = tmp.file("myssh", &format!("#!/bin/sh\nexec {} \"$@\"\n", f.ssh()));
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&wrapper)
        .status()
        .unwrap();
    for flag in ["-M", "-k"] {
        let mut c = command(f, &[flag, "--ssh", &wrapper, "-S", "1/h1", "echo {}", ":::", "a"]);
        c.env("TMPDIR", tmp.root());
        let r = finish(c);
        assert_eq!((r.stdout.as_str(), r.code), ("a\n", 0), "{flag}: {}", r.stderr);
    }
    let left: Vec<_> = std::fs::read_dir(tmp.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the wrapper is left: {left:?}");
}

#[test]
fn sshlogins_can_come_from_standard_input() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let logins = dir.file("logins", "1/h2\n");
    let mut c = command(f, &["--slf", "-", "echo $PARALLEL_SSHHOST; true {}", ":::", "x"]);
    c.stdin(std::fs::File::open(&logins).unwrap());
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("h2\n", 0), "{}", r.stderr);
}

/// GNU parallel with the same arguments over the same hosts, with no
/// standard input; `None` if it is not installed.
fn gnu(f: &crate::Fixture, args: &[&str]) -> Option<crate::Run> {
    let found = std::process::Command::new("parallel").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("GNU parallel is not installed: not compared");
        return None;
    }
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("parallel");
    cmd.args(["--ssh", &f.ssh()])
        .args(args)
        .env("HOME", home.path())
        .env("PARALLEL_SHELL", "/bin/sh")
        .env("SHELL", "/bin/sh")
        .env_remove("PARALLEL")
        .stdin(std::process::Stdio::null());
    Some(finish(cmd))
}

#[test]
fn a_results_table_on_stdout_with_ungroup_lets_no_remote_output_through() {
    // `--results -.csv -u`: GNU parallel sends the jobs' stdout and
    // stderr to /dev/null, remote jobs' too; only the table is printed.
    let Some(f) = fixture() else { return };
    // The table without its times (Starttime, JobRuntime).
    let timeless = |table: &str, run: &crate::Run| -> Vec<String> {
        let separator = if table == "-.tsv" { '\t' } else { ',' };
        let mut rows: Vec<String> = run
            .lines()
            .iter()
            .map(|row| {
                let mut fields: Vec<&str> = row.split(separator).collect();
                for time in fields.iter_mut().skip(2).take(2) {
                    *time = "";
                }
                fields.join(",")
            })
            .collect();
        rows.sort_unstable();
        rows
    };
    for table in ["-.csv", "-.tsv", "-.json"] {
        for extra in [&[][..], &["-v"], &["--tag"], &["--workdir", "..."]] {
            let mut args = vec!["-u", "--results", table, "-S", "2/h1"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["echo out-{}; echo err-{} >&2", ":::", "a", "b", "c"]);
            let r = run(f, &args);
            assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{args:?}");
            let stray = |line: &&str| line.starts_with("out-") || line.starts_with("err-");
            assert_eq!(r.lines().into_iter().filter(stray).count(), 0, "{args:?}: {}", r.stdout);
            assert_eq!(
                r.stdout.matches("h1").count(),
                3,
                "{args:?}: a row a remote job: {}",
                r.stdout
            );
            if table != "-.json"
                && let Some(g) = gnu(f, &args)
            {
                assert_eq!(
                    (timeless(table, &r), r.stderr.as_str(), r.code),
                    (timeless(table, &g), g.stderr.as_str(), g.code),
                    "{args:?}"
                );
            }
        }
    }
}
