//! Files to and from the hosts: `--transferfile`, `--transfer`,
//! `--return`, `--cleanup`, `--trc`, `--basefile`, `--workdir`.

use crate::{Scratch, command, finish, fixture, joblog, marker, run};

#[test]
fn transfer_return_and_cleanup() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let wd = marker("wd");
    dir.file("in/a b.txt", "hello\n");
    let log = dir.s("log");
    let mut c = command(
        f,
        &[
            "-S",
            "1/h1",
            "--wd",
            &wd,
            "--joblog",
            &log,
            "--transferfile",
            "{}",
            "--return",
            "{}.out",
            "--cleanup",
            "ls in; cat {} {} > {}.out",
            ":::",
            "in/a b.txt",
        ],
    );
    c.current_dir(dir.root());
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "a b.txt\n", "the file was there, in the work dir");
    assert_eq!(
        std::fs::read_to_string(dir.path("in/a b.txt.out")).unwrap(),
        "hello\nhello\n"
    );
    let row = &joblog(&dir.path("log"))[0];
    assert_eq!(
        (row[4].as_str(), row[5].as_str()),
        ("6", &*(8 + 12).to_string()),
        "Send, Receive: {row:?}"
    );
    // Cleaned up: the files and the dirs they left empty.
    assert!(!f.home.join(&wd).exists(), "{}", f.home.join(&wd).display());
}

#[test]
fn trc_is_transfer_return_cleanup() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let name = marker("trc");
    dir.file(&name, "x\n");
    let mut c = command(
        f,
        &["-S", "1/h1", "--trc", "{}.out", "wc -l < {} > {}.out", ":::", &name],
    );
    c.current_dir(dir.root());
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path(&format!("{name}.out")))
            .unwrap()
            .trim(),
        "1"
    );
    assert!(!f.home.join(&name).exists() && !f.home.join(format!("{name}.out")).exists());
}

#[test]
fn transfer_keeps_absolute_paths_and_dot_slash_relative_ones() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let m = marker("rel");
    let abs = dir.file(&format!("{m}/deep/file"), "abs\n");
    // /tmp/x/./y: relative to the work dir from `./` on.
    let dotted = format!("{}/./{m}/deep/file", dir.root().display());
    let r = run(f, &["-S", "1/h1", "--transfer", "--cleanup", "cat {}", ":::", &abs]);
    assert_eq!((r.stdout.as_str(), r.code), ("abs\n", 0), "{}", r.stderr);
    let r = run(
        f,
        &[
            "-S",
            "1/h1",
            "--transfer",
            &format!("cat {m}/deep/file; true {{}}"),
            ":::",
            &dotted,
        ],
    );
    assert_eq!((r.stdout.as_str(), r.code), ("abs\n", 0), "{}", r.stderr);
    assert!(f.home.join(&m).join("deep/file").exists(), "under the login dir");
    std::fs::remove_dir_all(f.home.join(&m)).unwrap();
}

#[test]
fn an_unreadable_file_is_not_transferred() {
    let Some(f) = fixture() else { return };
    let r = run(f, &["-S", "1/h1", "--transfer", "echo ran", ":::", "/nonexistent/file"]);
    assert_eq!(r.code, 0, "the job still runs");
    assert!(
        r.stderr
            .contains("/nonexistent/file is not readable and will not be transferred."),
        "{}",
        r.stderr
    );
}

#[test]
fn basefiles_go_once_per_host_and_cleanup_removes_them() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let name = marker("base");
    dir.file(&name, "common data\n");
    let mut c = command(
        f,
        &[
            "-S",
            "1/h1,1/h2",
            "--bf",
            &name,
            "--cleanup",
            "-k",
            &format!("cat {name}; echo {{}}"),
            ":::",
            "a",
            "b",
        ],
    );
    c.current_dir(dir.root());
    let r = finish(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["common data", "a", "common data", "b"]);
    assert!(!f.home.join(&name).exists(), "removed at the end");
    // Without --cleanup it stays.
    let mut c = command(
        f,
        &[
            "-S",
            "1/h1",
            "--bf",
            &name,
            &format!("cat {name}; echo {{}}"),
            ":::",
            "a",
        ],
    );
    c.current_dir(dir.root());
    let r = finish(c);
    assert_eq!(r.stdout, "common data\na\n", "{}", r.stderr);
    assert!(f.home.join(&name).exists());
    std::fs::remove_file(f.home.join(&name)).unwrap();
}

#[test]
fn workdirs_dot_dots_and_named() {
    let Some(f) = fixture() else { return };
    // A named dir, made if missing, with replacement strings.
    let m = marker("wd");
    let r = run(f, &["-S", "1/h1", "--wd", &format!("{m}/{{}}"), "pwd", ":::", "sub"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), f.home.join(&m).join("sub").display().to_string());
    std::fs::remove_dir_all(f.home.join(&m)).unwrap();
    // `...`: a fresh dir under ~/.parallel/tmp, removed after the job.
    let r = run(f, &["-S", "1/h1", "--wd", "...", "pwd", ":::", "x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fresh = r.stdout.trim().to_owned();
    assert!(
        fresh.starts_with(&f.home.join(".parallel/tmp/").display().to_string()),
        "{fresh}"
    );
    assert!(fresh.ends_with("-1"), "HOST-PID-SEQ: {fresh}");
    assert!(!std::path::Path::new(&fresh).exists(), "removed");
    // `.`: the current dir, relative to the home dir when under it.
    let here = f.home.join(&m);
    std::fs::create_dir_all(&here).unwrap();
    let mut c = command(f, &["-S", "1/h1", "--wd", ".", "pwd", ":::", "x"]);
    c.current_dir(&here).env("HOME", &f.home);
    let r = finish(c);
    assert_eq!(r.stdout.trim(), here.display().to_string(), "{}", r.stderr);
    std::fs::remove_dir_all(&here).unwrap();
    // Locally, too: the job runs in the dir.
    let dir = Scratch::new();
    let r = run(f, &["--wd", dir.root().to_str().unwrap(), "pwd", ":::", "x"]);
    assert_eq!(r.stdout.trim(), dir.root().display().to_string(), "{}", r.stderr);
}

#[test]
fn rsync_options_come_from_the_option_or_the_environment() {
    let Some(f) = fixture() else { return };
    let dir = Scratch::new();
    let name = marker("opts");
    dir.file(&name, "x\n");
    // A bad option makes rsync fail: it was passed.
    let mut c = command(
        f,
        &[
            "-S",
            "1/h1",
            "--rsync-opts",
            "--no-such-rsync-option",
            "--transfer",
            "cat {}",
            ":::",
            &name,
        ],
    );
    c.current_dir(dir.root());
    let r = finish(c);
    assert!(r.stderr.contains("no-such-rsync-option"), "{}", r.stderr);
    let mut c = command(f, &["-S", "1/h1", "--transfer", "--cleanup", "cat {}", ":::", &name]);
    c.current_dir(dir.root()).env("PARALLEL_RSYNC_OPTS", "-rlDzR");
    let r = finish(c);
    assert_eq!((r.stdout.as_str(), r.code), ("x\n", 0), "{}", r.stderr);
}
