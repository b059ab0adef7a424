//! The perl co-process: one long-lived `perl` that evaluates every job's
//! `{= =}` expressions (see `README.md` beside this file).
//!
//! It is started only when a run has an expression perl must compute, in
//! a process group of its own (a Ctrl-C meant for the jobs does not kill
//! it), with our stdout and stderr (an expression that prints, prints
//! where GNU parallel's would) and one end of a socket pair as its stdin:
//! requests go one way, answers the other. Many jobs' requests go in one
//! write and their answers come back in one read. It exits when the socket
//! closes; if we are killed while it is busy, the command supervisor's
//! guardian stops it, as it carries the same marker as the jobs.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use rustix::event::{PollFd, PollFlags};

use super::strings::Trim;

/// The perl side.
const DRIVER: &str = include_str!("driver.pl");

/// One job's request.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub(crate) seq: u64,
    /// 0 when not known (expressions that ask for it are evaluated when
    /// the job starts, with its slot).
    pub(crate) slot: usize,
    pub(crate) total: Option<u64>,
    pub(crate) args: &'a [Vec<u8>],
    /// What to evaluate, in order.
    pub(crate) evals: &'a [Eval],
}

/// One use of an expression on an argument (from 0). Perl keeps each
/// value a job computes, by GNU parallel's rule: a value perl holds true
/// is used again without evaluating; `""`, `"0"` are computed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Eval {
    pub(crate) expr: usize,
    pub(crate) arg: usize,
    /// Its value is answered; else it is only computed (GNU's measuring
    /// of the line), for its side effects and the value it leaves.
    pub(crate) answered: bool,
    /// Its value is known (measured true as the line was filled): it is
    /// not sent.
    pub(crate) known: bool,
    /// `uq()` was called as the line was measured (on a false value, which
    /// is computed again): the value stays unquoted.
    pub(crate) unquoted: bool,
    /// The template the value is for (the caller's; not sent).
    pub(crate) section: usize,
}

/// One job's answer: each evaluation's value and whether it is unquoted,
/// and whether the code called `skip()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) values: Vec<(Vec<u8>, bool)>,
    pub(crate) skip: bool,
}

/// Why perl could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `perl` is not on `PATH` (or cannot run).
    Missing(String),
    /// An expression did not compile, or died: its number and perl's words.
    Expression(usize, String),
    /// The co-process went away or the channel broke.
    Broken(String),
}

/// A running co-process.
#[derive(Debug)]
pub(crate) struct Perl {
    child: Child,
    chan: UnixStream,
    /// Read, not yet taken: answer lines of the requests in `ahead`.
    buf: Vec<u8>,
    /// Where a read lands (zeroed once: most answers are short, and a
    /// round trip per job must not clear 64 KiB each time).
    scratch: Vec<u8>,
    /// Requests sent ahead whose answers are not taken yet: how many
    /// answer lines and values each has (see [`Perl::keys_ahead`]).
    ahead: VecDeque<(usize, usize)>,
}

impl Perl {
    /// Starts perl and compiles `codes` (expression `i` is `codes[i]`).
    pub(crate) fn start(codes: &[Vec<u8>], trim: Trim, slots: usize) -> Result<Perl, Failure> {
        Perl::start_with(codes, trim, slots, None)
    }

    /// [`Perl::start`] for `--shard`'s sharder: perl with `PERL_HASH_SEED`
    /// set, as GNU parallel sets it (to its pid) for its sharders, so that
    /// `B::hash` gives the same value for a key everywhere (see
    /// [`Perl::shards`]).
    pub(crate) fn start_seeded(codes: &[Vec<u8>]) -> Result<Perl, Failure> {
        Perl::start_with(codes, Trim::None, 1, Some(std::process::id()))
    }

    fn start_with(codes: &[Vec<u8>], trim: Trim, slots: usize, seed: Option<u32>) -> Result<Perl, Failure> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| Failure::Broken(e.to_string()))?;
        let theirs: OwnedFd = theirs.into();
        let mut command = Command::new("perl");
        if let Some(seed) = seed {
            command.env("PERL_HASH_SEED", seed.to_string());
        }
        let child = command
            .arg("-e")
            .arg(DRIVER)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            // Marked as one of our jobs: the supervisor's guardian stops it
            // if we die without closing its channel.
            .env("FORKPOOL_SUPERVISOR", std::process::id().to_string())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                Failure::Missing(match e.kind() {
                    io::ErrorKind::NotFound => "perl is not installed (not found in PATH)".to_owned(),
                    _ => format!("perl cannot be started: {e}"),
                })
            })?;
        // Nonblocking once: reads and writes are tried first and polled for
        // only when they would block (a round trip per job is 2 system
        // calls each way, not 4).
        ours.set_nonblocking(true).map_err(broken)?;
        let mut perl = Perl {
            child,
            chan: ours,
            buf: Vec::new(),
            scratch: vec![0; 64 * 1024],
            ahead: VecDeque::new(),
        };
        let mut setup = Vec::new();
        for code in codes {
            setup.extend_from_slice(b"E\t");
            escape_into(&mut setup, code);
            setup.push(b'\n');
        }
        setup.extend_from_slice(format!("T\t{}\nM\t{slots}\nG\n", trim.name()).as_bytes());
        let lines = perl.exchange(&setup, 1)?;
        match lines.first().map(Vec::as_slice) {
            Some(b"ok") => Ok(perl),
            Some(line) => Err(failure(line)),
            None => Err(Failure::Broken("perl did not answer".to_owned())),
        }
    }

    /// Evaluates a batch: one write, one answer per request. On a failure,
    /// the answers before the failing request come with it.
    pub(crate) fn evaluate(&mut self, requests: &[Request<'_>]) -> Result<Vec<Answer>, (Vec<Answer>, Failure)> {
        let mut out = Vec::with_capacity(requests.len() * 32);
        for r in requests {
            job_line(&mut out, b"J", r);
        }
        self.answer(&out, requests.len())
    }

    /// Measures records pushed, in order, on the line being filled (on a
    /// `new_line`: an empty one), their values appended to `@arg`: one
    /// write, one answer per record, as [`Perl::evaluate`].
    pub(crate) fn measure(
        &mut self,
        new_line: bool,
        requests: &[Request<'_>],
    ) -> Result<Vec<Answer>, (Vec<Answer>, Failure)> {
        let mut out = Vec::with_capacity(requests.len() * 32 + 2);
        if new_line {
            out.extend_from_slice(b"L\n");
        }
        for r in requests {
            job_line(&mut out, b"P", r);
        }
        self.answer(&out, requests.len())
    }

    /// Takes a record back off the line being measured (`@arg` keeps the
    /// first `keep` values: the records before it) and evaluates `request`
    /// for it, as GNU's `CommandLine::pop` measures it again.
    pub(crate) fn take_back(&mut self, keep: usize, request: &Request<'_>) -> Result<Answer, Failure> {
        let mut out = Vec::with_capacity(32);
        job_line(&mut out, format!("Q\t{keep}").as_bytes(), request);
        match self.answer(&out, 1) {
            Ok(mut answers) => Ok(answers.pop().unwrap_or_default()),
            Err((_, f)) => Err(f),
        }
    }

    /// Forgets a failure of [`Perl::measure`]: the record that died was
    /// measured past its line's end, and will be measured again for the
    /// next line.
    pub(crate) fn clear(&mut self) -> Result<(), Failure> {
        self.exchange(b"C\n", 1).map(drop)
    }

    /// Sends `out` and reads `n` answers of jobs.
    fn answer(&mut self, out: &[u8], n: usize) -> Result<Vec<Answer>, (Vec<Answer>, Failure)> {
        let lines = self.exchange(out, n).map_err(|f| (Vec::new(), f))?;
        let mut answers = Vec::with_capacity(lines.len());
        for line in &lines {
            if line.starts_with(b"!") {
                return Err((answers, failure(line)));
            }
            let mut fields = line.split(|&b| b == b'\t');
            let skip = fields.next() == Some(b"s");
            let values = fields
                .map(|f| {
                    let unquoted = f.first() == Some(&b'u');
                    (unescape(f.get(1..).unwrap_or_default()), unquoted)
                })
                .collect();
            answers.push(Answer { values, skip });
        }
        Ok(answers)
    }

    /// Sends the request `head` with `values` after it (escaped, a tab
    /// before each) and returns the one line of the answer, or the
    /// failure it reports (a line starting with `!`).
    fn one_line_over(&mut self, head: &str, values: &[&[u8]]) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::with_capacity(values.iter().map(|v| v.len() + 2).sum::<usize>() + head.len() + 1);
        out.extend_from_slice(head.as_bytes());
        for v in values {
            out.push(b'\t');
            escape_into(&mut out, v);
        }
        out.push(b'\n');
        let lines = self.exchange(&out, 1)?;
        let line = lines.into_iter().next().unwrap_or_default();
        if line.starts_with(b"!") {
            return Err(failure(&line));
        }
        Ok(line)
    }

    /// Evaluates expression `expr` on each of `values` (as `$_`, no job):
    /// what is left in `$_` for each, in one round trip (the keys of
    /// `--group-by`, `--shard` and `--bin`).
    pub(crate) fn keys(&mut self, expr: usize, values: &[&[u8]]) -> Result<Vec<Vec<u8>>, Failure> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let line = self.one_line_over(&format!("K\t{expr}"), values)?;
        parse_keys(&line, Some(values.len()))
    }

    /// [`Perl::keys`] pipelined: asks the keys of `values` (a request per
    /// `batch` values) without waiting for them, and returns those of the
    /// values asked for by the call before (`None` if there were none).
    /// So perl computes the next keys while the caller uses these. An
    /// empty `values` asks nothing: the call that collects the last keys.
    pub(crate) fn keys_ahead(
        &mut self,
        expr: usize,
        values: &[&[u8]],
        batch: usize,
    ) -> Result<Option<Vec<Vec<u8>>>, Failure> {
        self.ahead(&format!("K\t{expr}"), values, batch, parse_keys, "keys")
    }

    /// The job (from 0, of `bins`) GNU parallel's sharder sends each of
    /// `values` to: `hex(B::hash($_)) % bins`, with `$_` the value after
    /// expression `expr` if there is one; in one round trip. Only for a
    /// co-process from [`Perl::start_seeded`].
    pub(crate) fn shards(&mut self, expr: Option<usize>, bins: usize, values: &[&[u8]]) -> Result<Vec<usize>, Failure> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let expr = expr.map(|e| e.to_string()).unwrap_or_default();
        let line = self.one_line_over(&format!("H\t{expr}\t{}", bins.max(1)), values)?;
        parse_shards(&line, Some(values.len()))
    }

    /// [`Perl::shards`] pipelined as [`Perl::keys_ahead`] is.
    pub(crate) fn shards_ahead(
        &mut self,
        expr: Option<usize>,
        bins: usize,
        values: &[&[u8]],
        batch: usize,
    ) -> Result<Option<Vec<usize>>, Failure> {
        let expr = expr.map(|e| e.to_string()).unwrap_or_default();
        let head = format!("H\t{expr}\t{}", bins.max(1));
        self.ahead(&head, values, batch, parse_shards, "shards")
    }

    /// Sends `head` requests for `values`, `batch` values each, and takes
    /// the answers (`what`, read from each line by `parse`) of the
    /// requests sent by the call before.
    fn ahead<T>(
        &mut self,
        head: &str,
        values: &[&[u8]],
        batch: usize,
        parse: Parse<T>,
        what: &str,
    ) -> Result<Option<Vec<T>>, Failure> {
        if !values.is_empty() {
            let mut out = Vec::with_capacity(values.iter().map(|v| v.len() + 2).sum::<usize>() + head.len() + 1);
            let mut lines = 0;
            for chunk in values.chunks(batch.max(1)) {
                out.extend_from_slice(head.as_bytes());
                for v in chunk {
                    out.push(b'\t');
                    escape_into(&mut out, v);
                }
                out.push(b'\n');
                lines += 1;
            }
            self.send(&out)?;
            self.ahead.push_back((lines, values.len()));
        }
        // The request just sent stays ahead.
        if self.ahead.len() <= usize::from(!values.is_empty()) {
            return Ok(None);
        }
        let Some((n, count)) = self.ahead.pop_front() else {
            return Ok(None);
        };
        let mut answers = Vec::with_capacity(count);
        for line in self.receive(n)? {
            answers.extend(parse(&line, None)?);
        }
        match answers.len() == count {
            true => Ok(Some(answers)),
            false => Err(wrong(what)),
        }
    }

    /// Writes `request` and reads `n` answer lines, both at once (so that
    /// neither side can block the other on a full buffer).
    fn exchange(&mut self, request: &[u8], n: usize) -> Result<Vec<Vec<u8>>, Failure> {
        debug_assert!(self.ahead.is_empty(), "a request was sent ahead");
        self.send(request)?;
        self.receive(n)
    }

    /// Writes `request`, keeping what perl answers meanwhile in `buf`.
    fn send(&mut self, request: &[u8]) -> Result<(), Failure> {
        let mut written = 0;
        while written < request.len() {
            match self.chan.write(&request[written..]) {
                Ok(w) => {
                    written += w;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.gone(broken(e))),
            }
            // Full: perl may be waiting for us to take its answers.
            let ready = self.wait(PollFlags::IN | PollFlags::OUT)?;
            if ready.intersects(PollFlags::IN | PollFlags::ERR | PollFlags::HUP) {
                self.fill()?;
            }
        }
        Ok(())
    }

    /// The next `n` answer lines, read as far as needed.
    fn receive(&mut self, n: usize) -> Result<Vec<Vec<u8>>, Failure> {
        let mut lines = Vec::with_capacity(n);
        let mut start = 0;
        loop {
            while lines.len() < n {
                let Some(nl) = memchr::memchr(b'\n', &self.buf[start..]) else {
                    break;
                };
                lines.push(self.buf[start..start + nl].to_vec());
                start += nl + 1;
            }
            if lines.len() == n {
                break;
            }
            self.buf.drain(..start);
            start = 0;
            if !self.fill()? {
                self.wait(PollFlags::IN)?;
            }
        }
        self.buf.drain(..start);
        Ok(lines)
    }

    /// Waits until the channel is ready for `flags`.
    fn wait(&mut self, flags: PollFlags) -> Result<PollFlags, Failure> {
        loop {
            let mut fds = [PollFd::from_borrowed_fd(self.chan.as_fd(), flags)];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => return Ok(fds[0].revents()),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(broken(e.into())),
            }
        }
    }

    /// Reads what perl has answered into `buf`: whether anything came.
    fn fill(&mut self) -> Result<bool, Failure> {
        let read = self.chan.read(&mut self.scratch);
        if let Ok(n) = read {
            self.buf.extend_from_slice(&self.scratch[..n]);
        }
        match read {
            Ok(0) => Err(self.gone(Failure::Broken("the perl co-process exited".to_owned()))),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(self.gone(broken(e))),
        }
    }

    /// The co-process is gone: reap it and say how it ended.
    fn gone(&mut self, failure: Failure) -> Failure {
        match self.child.wait() {
            Ok(status) if !status.success() => Failure::Broken(format!("the perl co-process ended ({status})")),
            _ => failure,
        }
    }
}

impl Drop for Perl {
    fn drop(&mut self) {
        // Closing the channel ends it; wait so no zombie is left.
        let _ = self.chan.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

/// Reads the answers in a line (`Some(n)`: there must be n).
type Parse<T> = fn(&[u8], Option<usize>) -> Result<Vec<T>, Failure>;

fn broken(e: io::Error) -> Failure {
    Failure::Broken(format!("the perl co-process failed: {e}"))
}

/// The keys of a `K` answer line (`expected` of them, if known).
fn parse_keys(line: &[u8], expected: Option<usize>) -> Result<Vec<Vec<u8>>, Failure> {
    if line.starts_with(b"!") {
        return Err(failure(line));
    }
    let keys: Vec<Vec<u8>> = line.split(|&b| b == b'\t').skip(1).map(unescape).collect();
    match expected {
        Some(n) if keys.len() != n => Err(wrong("keys")),
        _ => Ok(keys),
    }
}

/// The jobs of an `H` answer line (`expected` of them, if known).
fn parse_shards(line: &[u8], expected: Option<usize>) -> Result<Vec<usize>, Failure> {
    if line.starts_with(b"!") {
        return Err(failure(line));
    }
    let bins: Option<Vec<usize>> = line
        .split(|&b| b == b'\t')
        .skip(1)
        .map(|b| std::str::from_utf8(b).ok()?.parse().ok())
        .collect();
    match (bins, expected) {
        (Some(bins), Some(n)) if bins.len() == n => Ok(bins),
        (Some(bins), None) => Ok(bins),
        _ => Err(wrong("shards")),
    }
}

fn wrong(what: &str) -> Failure {
    Failure::Broken(format!("the perl co-process answered the wrong number of {what}"))
}

/// Appends request `r` as a line that starts with `head` (`J`, `P`, `Q
/// keep`): `head seq slot total nargs args... evals`, the evaluations
/// known already left out.
fn job_line(out: &mut Vec<u8>, head: &[u8], r: &Request<'_>) {
    out.extend_from_slice(head);
    out.push(b'\t');
    out.extend_from_slice(r.seq.to_string().as_bytes());
    out.push(b'\t');
    out.extend_from_slice(r.slot.to_string().as_bytes());
    out.push(b'\t');
    if let Some(t) = r.total {
        out.extend_from_slice(t.to_string().as_bytes());
    }
    out.push(b'\t');
    out.extend_from_slice(r.args.len().to_string().as_bytes());
    for a in r.args {
        out.push(b'\t');
        escape_into(out, a);
    }
    out.push(b'\t');
    for (k, e) in r.evals.iter().filter(|e| !e.known).enumerate() {
        if k > 0 {
            out.push(b',');
        }
        if e.unquoted {
            out.push(b'^');
        }
        if !e.answered {
            out.push(b'~');
        }
        // (Writing to a Vec cannot fail.)
        let _ = write!(out, "{}.{}", e.expr, e.arg);
    }
    out.push(b'\n');
}

fn failure(line: &[u8]) -> Failure {
    // `!\t<expr>\t<message>`, escaped as a whole.
    let text = unescape(line.get(2..).unwrap_or_default());
    let mut parts = text.splitn(2, |&b| b == b'\t');
    let expr = parts
        .next()
        .and_then(|e| std::str::from_utf8(e).ok()?.parse::<i64>().ok());
    let message = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let message = message.trim().lines().map(str::trim).collect::<Vec<_>>().join(" ");
    match expr {
        Some(e) if e >= 0 => Failure::Expression(e as usize, message),
        _ => Failure::Broken(message),
    }
}

fn escape_into(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b => out.push(b),
        }
    }
}

fn unescape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\\' && i + 1 < value.len() {
            out.push(match value[i + 1] {
                b'n' => b'\n',
                b't' => b'\t',
                other => other,
            });
            i += 2;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_perl() -> bool {
        Command::new("perl").arg("-e1").status().is_ok_and(|s| s.success())
    }

    /// Evaluates one request per `jobs` entry (its arguments), each as job
    /// `seq` in slot `slot`, of the uses `evals`: (expression, argument,
    /// answered).
    fn evaluate(
        perl: &mut Perl,
        seq: u64,
        slot: usize,
        jobs: &[&[Vec<u8>]],
        evals: &[(usize, usize, bool)],
    ) -> Result<Vec<Answer>, (Vec<Answer>, Failure)> {
        let evals: Vec<Eval> = evals
            .iter()
            .map(|&(expr, arg, answered)| Eval {
                expr,
                arg,
                answered,
                known: false,
                unquoted: false,
                section: 0,
            })
            .collect();
        let requests: Vec<Request<'_>> = jobs
            .iter()
            .map(|args| Request {
                seq,
                slot,
                total: None,
                args,
                evals: &evals,
            })
            .collect();
        perl.evaluate(&requests)
    }

    #[test]
    fn expressions_are_evaluated_with_gnu_parallels_helpers() {
        if !have_perl() {
            return;
        }
        let codes: Vec<Vec<u8>> = [
            "s/a/b/",
            "$_ = Q($_); uq()",
            "$_ = $arg[2] . seq()",
            "skip() if /x/",
            "$_ = ++$n",
        ]
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .collect();
        let mut perl = Perl::start(&codes, Trim::None, 4).unwrap();
        let args = vec![b"a b".to_vec(), b"c\td\n".to_vec()];
        let evals = [(0, 0, true), (1, 0, true), (2, 0, true), (3, 1, true), (4, 0, true)];
        let answers = evaluate(&mut perl, 7, 1, &[&args, &args], &evals).unwrap();
        assert_eq!(
            answers[0].values,
            [
                (b"b b".to_vec(), false),
                (b"'a b'".to_vec(), true),
                (b"c\td\n7".to_vec(), false),
                (b"c\td\n".to_vec(), false),
                (b"1".to_vec(), false)
            ]
        );
        assert_eq!(answers[1].values[4], (b"2".to_vec(), false), "state lives on");
        assert!(!answers[0].skip);
    }

    #[test]
    fn a_true_value_is_kept_for_the_job_and_a_false_one_computed_again() {
        if !have_perl() {
            return;
        }
        // Counts its evaluations; false ("", "0") on the first two.
        let codes = [b"$_ = ++$n > 2 ? \"v$n\" : $n == 1 ? \"\" : \"0\"; uq() if $n == 1".to_vec()];
        let mut perl = Perl::start(&codes, Trim::None, 1).unwrap();
        let evals = [(0, 0, false), (0, 0, true), (0, 0, true), (0, 0, true), (0, 1, true)];
        let args = vec![b"a".to_vec(), b"b".to_vec()];
        let answers = evaluate(&mut perl, 1, 1, &[&args, &args], &evals).unwrap();
        // Measured: "" (and unquoted for good); "0"; "v3", kept; a new
        // argument, a new value.
        assert_eq!(
            answers[0].values,
            [
                (b"0".to_vec(), true),
                (b"v3".to_vec(), true),
                (b"v3".to_vec(), true),
                (b"v4".to_vec(), false)
            ]
        );
        // Each job starts afresh.
        assert_eq!(answers[1].values[0], (b"v5".to_vec(), false));
    }

    #[test]
    fn keys_come_back_in_one_answer() {
        if !have_perl() {
            return;
        }
        let mut perl = Perl::start(&[b"$_ = uc; die \"no\\n\" if /X/".to_vec()], Trim::None, 1).unwrap();
        let keys = perl.keys(0, &[b"a\tb", b"c\n", b""]).unwrap();
        assert_eq!(keys, [b"A\tB".to_vec(), b"C\n".to_vec(), Vec::new()]);
        assert_eq!(perl.keys(0, &[]).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(
            perl.keys(0, &[b"a", b"x"]).unwrap_err(),
            Failure::Expression(0, "no".to_owned())
        );
    }

    #[test]
    fn keys_asked_ahead_come_back_a_call_later() {
        if !have_perl() {
            return;
        }
        let mut perl = Perl::start(&[b"$_ = uc . $.; die \"no\\n\" if /X/".to_vec()], Trim::None, 1).unwrap();
        // Nothing asked before: nothing back; batches of 2 values.
        assert_eq!(perl.keys_ahead(0, &[b"a", b"b\tc", b"d\n"], 2).unwrap(), None);
        assert_eq!(
            perl.keys_ahead(0, &[b"e"], 2).unwrap(),
            Some(vec![b"A1".to_vec(), b"B\tC2".to_vec(), b"D\n3".to_vec()])
        );
        assert_eq!(perl.keys_ahead(0, &[], 2).unwrap(), Some(vec![b"E4".to_vec()]));
        assert_eq!(perl.keys_ahead(0, &[], 2).unwrap(), None);
        // A value that dies fails the call that takes its keys.
        assert_eq!(perl.keys_ahead(0, &[b"x"], 2).unwrap(), None);
        assert_eq!(
            perl.keys_ahead(0, &[b"y"], 2).unwrap_err(),
            Failure::Expression(0, "no".to_owned())
        );
        let mut seeded = Perl::start_seeded(&[b"$_ = substr($_, 0, 1)".to_vec()]).unwrap();
        let values: [&[u8]; 3] = [b"3\n", b"abc", b"a\tb"];
        let at_once = seeded.shards(Some(0), 7, &values).unwrap();
        assert_eq!(seeded.shards_ahead(Some(0), 7, &values, 2).unwrap(), None);
        assert_eq!(seeded.shards_ahead(Some(0), 7, &[], 2).unwrap(), Some(at_once));
    }

    #[test]
    fn shards_are_gnus_sharders_b_hash_modulo_the_bins() {
        if !have_perl() {
            return;
        }
        let mut perl = Perl::start_seeded(&[b"$_ = substr($_, 0, 1)".to_vec()]).unwrap();
        let values: [&[u8]; 4] = [b"3\n", b"10\n", b"abc", b"a\tb"];
        let expected: Vec<usize> = values
            .iter()
            .map(|v| {
                let key = String::from_utf8_lossy(v).replace('\n', "\\n").replace('\t', "\\t");
                let out = Command::new("perl")
                    .env("PERL_HASH_SEED", "1")
                    .args(["-MB", "-e", &format!("print hex(B::hash(\"{key}\")) % 7")])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).parse().unwrap()
            })
            .collect();
        assert_eq!(perl.shards(None, 7, &values).unwrap(), expected);
        // With the expression, the key is its `$_`: the first byte.
        let firsts = perl.shards(Some(0), 7, &values).unwrap();
        let alone = perl.shards(None, 7, &[b"3", b"1", b"a", b"a"]).unwrap();
        assert_eq!(firsts, alone);
        assert_eq!(perl.shards(None, 7, &[]).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn errors_name_the_expression() {
        if !have_perl() {
            return;
        }
        let bad = Perl::start(&[b"s/a/".to_vec()], Trim::None, 1).unwrap_err();
        assert!(
            matches!(&bad, Failure::Expression(0, m) if m.contains("Substitution")),
            "{bad:?}"
        );
        let mut perl = Perl::start(&[b"die \"no\\n\" if /b/".to_vec()], Trim::None, 1).unwrap();
        let a = vec![b"a".to_vec()];
        let b = vec![b"b".to_vec()];
        let (before, err) = evaluate(&mut perl, 1, 0, &[&a, &b, &a], &[(0, 0, true)]).unwrap_err();
        assert_eq!((before.len(), err), (1, Failure::Expression(0, "no".to_owned())));
    }
}
