//! The remote wrapper: a small Perl program that runs one job on the
//! remote host and makes sure it dies when the connection does.
//!
//! Like GNU parallel's, it is sent inside the ssh command line, hex-encoded
//! behind a bootstrap that has no character any login shell (sh, csh, fish,
//! rc) treats specially:
//!
//! ```text
//! exec perl -X -e forkpool_worker,eval+pack+q/H2468/,join+q//,@ARGV 4045...
//! ```
//! so the job's command line reaches the remote shell byte for byte,
//! whatever the login shell is. `forkpool_worker` also marks the process
//! in the remote process table.
//!
//! The wrapper sets the job's environment, goes to its working directory,
//! and forks the job into a process group of its own. Then it waits for
//! whichever comes first:
//! - the job exits: the rest of its process group is killed (as the local
//!   supervisor does for local jobs), and the wrapper exits with the job's
//!   status (`128 + signal` if a signal killed it, as a shell reports it);
//! - the connection is gone: its parent changes (the session's `sshd`
//!   died), or the read end of its standard output or error closes (the
//!   channel was closed while the connection lives on, as when a
//!   ControlMaster client is killed). The job's process group then gets
//!   the termination sequence (`--termseq`), as GNU parallel's wrapper
//!   does.
//!
//! It loads no module (a bare `perl` starts in a few milliseconds), and
//! waits in `select` on its own stdout and stderr: on Linux a pipe's
//! write end polls as readable once the reader is gone, so the wrapper
//! wakes at once; `SIGCHLD` interrupts the wait when the job ends; a
//! timeout that grows to a quarter second catches the parent change.

/// What the wrapper writes on stderr, last, when the job itself exited
/// with 255 (and it was asked to): ssh exits with 255 for its own failures
/// too, and this tells the two apart.
pub(crate) const EXITED_255: &[u8] = b"\0forkpool: the job exited 255\0\n";

/// The Perl program. `@E` (environment pairs), `$C` (command), `$S`
/// (shell or empty), `$W` (working directory or empty), `$N` (niceness),
/// `$T` (termination sequence), `$R` (say when the job exits 255) are set
/// in front of it.
const PROGRAM: &str = r#"
$0 = "forkpool_worker";
while (@E) { my $k = shift @E; $ENV{$k} = shift @E; }
if (length $W) {
    system("mkdir", "-p", "--", $W);
    chdir($W) || do { print STDERR "forkpool: Cannot chdir to $W: $!\n"; exit 255 };
}
if (!length $S) {
    $S = $ENV{SHELL};
    $S = "/bin/sh" if !length($S) || $S =~ m{(^|/)(t?csh|fish|rc|es|nu|elvish|xonsh)$};
}
my $done = 0;
$SIG{CHLD} = sub { $done = 1 };
my $parent = getppid;
my $pid = fork;
if (!defined $pid) { print STDERR "forkpool: cannot fork: $!\n"; exit 255 }
if (!$pid) {
    $SIG{CHLD} = "DEFAULT";
    setpgrp(0, 0);
    setpriority(0, 0, $N) if $N;
    exec { $S } $S, "-c", $C;
    print STDERR "forkpool: cannot run $S: $!\n";
    exit 127;
}
my $fds = "";
vec($fds, 1, 1) = 1 if -p STDOUT || -S STDOUT;
vec($fds, 2, 1) = 1 if -p STDERR || -S STDERR;
my $nap = 0.001;
while (!$done && getppid == $parent) {
    my $n = select(my $r = $fds, undef, undef, $nap);
    last if $n > 0;
    $nap = $nap < 0.25 ? $nap * 2 : 0.25;
}
if (!$done) {
    my @seq = split /,/, $T;
    while (@seq && !$done) {
        kill(shift(@seq), -$pid);
        my $ms = shift(@seq) || 0;
        for (my $t = 0; $t < $ms && !$done; $t += 5) { select(undef, undef, undef, 0.005) }
    }
}
waitpid($pid, 0);
my $status = $?;
kill("KILL", -$pid);
syswrite(STDERR, "\0forkpool: the job exited 255\0\n") if $R && $status == 255 << 8;
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
"#;

/// What the wrapper needs to run one job.
#[derive(Debug, Clone, Default)]
pub(crate) struct Job<'a> {
    /// The command line, for the remote shell.
    pub(crate) command: &'a [u8],
    /// Variables to set (name, value).
    pub(crate) env: Vec<(Vec<u8>, Vec<u8>)>,
    /// The shell to run it with; `None`: the login shell if it is a POSIX
    /// one, else `/bin/sh`.
    pub(crate) shell: Option<&'a [u8]>,
    /// Where to run it (created if missing); `None`: the login directory.
    pub(crate) workdir: Option<&'a [u8]>,
    pub(crate) nice: i32,
    /// `--termseq` in GNU's form: `TERM,200,TERM,100,TERM,50,KILL,25`.
    pub(crate) termseq: String,
    /// Write [`EXITED_255`] on stderr when the job exits 255 (its stderr is
    /// read by forkpool, not shown as it comes).
    pub(crate) report_255: bool,
}

/// The bootstrap that decodes and runs the hex-encoded program: `pack`
/// with the exact number of hex digits (GNU parallel's `q/H10000000/`
/// avoids the `*` that csh would glob, but makes Perl build a 5 MB string
/// for every job: 60 ms).
fn bootstrap(digits: usize) -> String {
    format!("forkpool_worker,eval+pack+q/H{digits}/,join+q//,@ARGV")
}

/// Hex words are at most this long (csh cannot take longer words).
const HEX_WORD: usize = 1000;

impl Job<'_> {
    /// The remote command words: `exec perl -X -e BOOTSTRAP HEX...`, each
    /// safe to put on any shell's command line as is.
    pub(crate) fn words(&self) -> Vec<String> {
        let mut code = Vec::with_capacity(self.command.len() + PROGRAM.len() + 256);
        code.extend_from_slice(b"@E=(");
        for (i, (k, v)) in self.env.iter().enumerate() {
            if i > 0 {
                code.push(b',');
            }
            perl_string(&mut code, k);
            code.push(b',');
            perl_string(&mut code, v);
        }
        code.extend_from_slice(b");$C=");
        perl_string(&mut code, self.command);
        code.extend_from_slice(b";$S=");
        perl_string(&mut code, self.shell.unwrap_or_default());
        code.extend_from_slice(b";$W=");
        perl_string(&mut code, self.workdir.unwrap_or_default());
        code.extend_from_slice(format!(";$N={};$R={};$T=", self.nice, u8::from(self.report_255)).as_bytes());
        perl_string(&mut code, self.termseq.as_bytes());
        code.push(b';');
        code.extend_from_slice(PROGRAM.as_bytes());
        let hex = to_hex(&code);
        let mut words = vec![
            "exec".to_owned(),
            "perl".to_owned(),
            "-X".to_owned(),
            "-e".to_owned(),
            bootstrap(hex.len()),
        ];
        words.extend(
            hex.as_bytes()
                .chunks(HEX_WORD)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
        );
        words
    }
}

/// Appends `value` as a Perl string literal that holds any bytes.
fn perl_string(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        match b {
            b'"' | b'\\' | b'$' | b'@' => {
                out.push(b'\\');
                out.push(b);
            }
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{{{b:02x}}}").as_bytes()),
        }
    }
    out.push(b'"');
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs the words as a remote login shell would (here: `sh -c`).
    fn run(job: &Job<'_>) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(job.words().join(" "))
            .output()
            .unwrap()
    }

    fn have_perl() -> bool {
        Command::new("perl").arg("-e1").status().is_ok_and(|s| s.success())
    }

    #[test]
    fn the_words_are_safe_for_any_shell() {
        let job = Job {
            command: b"echo 'a b' \"$x\" `y` ; \\ \n \xff",
            env: vec![(b"V".to_vec(), b"$HOME \"q\" @a".to_vec())],
            termseq: "TERM,200,KILL,25".to_owned(),
            ..Job::default()
        };
        for word in job.words().iter().skip(5) {
            assert!(
                word.len() <= HEX_WORD && word.bytes().all(|b| b.is_ascii_hexdigit()),
                "{word}"
            );
        }
        assert!(!bootstrap(1234).contains([
            ' ', '\'', '"', '$', '*', '?', '[', '<', '>', '&', ';', '|', '\\', '`', '('
        ]));
    }

    #[test]
    fn the_job_runs_with_its_environment_status_and_bytes() {
        if !have_perl() {
            eprintln!("skipped: perl is not installed");
            return;
        }
        let job = Job {
            command: b"printf '%s|%s|' \"$V\" \"$W2\"; pwd; exit 3",
            env: vec![
                (b"V".to_vec(), b"$HOME \"q\" @a \\ \xc3\xa9".to_vec()),
                (b"W2".to_vec(), b"two\nlines".to_vec()),
            ],
            shell: Some(b"/bin/sh"),
            workdir: Some(b"/"),
            termseq: "TERM,200,KILL,25".to_owned(),
            ..Job::default()
        };
        let out = run(&job);
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, "$HOME \"q\" @a \\ é|two\nlines|/\n".as_bytes());
    }

    #[test]
    fn an_exit_of_255_is_told_apart_when_asked() {
        if !have_perl() {
            eprintln!("skipped: perl is not installed");
            return;
        }
        for (report, command, said) in [
            (true, "exit 255", true),
            (false, "exit 255", false),
            (true, "exit 254", false),
        ] {
            let job = Job {
                command: command.as_bytes(),
                shell: Some(b"/bin/sh"),
                termseq: "TERM,200,KILL,25".to_owned(),
                report_255: report,
                ..Job::default()
            };
            let out = run(&job);
            assert_eq!(out.stderr.ends_with(EXITED_255), said, "{command} {report}");
        }
    }

    #[test]
    fn a_signal_is_reported_as_a_shell_would() {
        if !have_perl() {
            eprintln!("skipped: perl is not installed");
            return;
        }
        let job = Job {
            command: b"kill -TERM $$",
            shell: Some(b"/bin/sh"),
            termseq: "TERM,200,KILL,25".to_owned(),
            ..Job::default()
        };
        assert_eq!(run(&job).status.code(), Some(128 + 15));
    }

    #[test]
    fn the_job_dies_when_its_output_has_no_reader() {
        if !have_perl() {
            eprintln!("skipped: perl is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("alive");
        let line = format!("trap '' HUP; touch {m}; sleep 30; rm {m}", m = marker.display());
        let job = Job {
            command: line.as_bytes(),
            shell: Some(b"/bin/sh"),
            termseq: "TERM,50,KILL,25".to_owned(),
            ..Job::default()
        };
        // Its stdout and stderr are pipes whose read ends we close, as
        // sshd does when the channel closes.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(job.words().join(" "))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !marker.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(marker.exists(), "the job started");
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + 15), "killed by the termination sequence");
        assert!(marker.exists(), "the job was killed before it could clean up");
    }

    #[test]
    fn perl_strings_escape_what_perl_interpolates() {
        let mut out = Vec::new();
        perl_string(&mut out, b"a\"$@\\\n");
        assert_eq!(out, b"\"a\\\"\\$\\@\\\\\\x{0a}\"");
    }
}
