//! `--filter EXPR`: run a job only if the Perl expression EXPR, with its
//! replacement strings put in (unquoted), is true. As in GNU parallel, a
//! job filtered out ends as a failure with exit value -2, and an
//! expression that does not compile or dies counts as false.
//!
//! The expressions go to one long-lived `perl` co-process (started when
//! the first job is filtered), not to a `perl` per job: a length-prefixed
//! expression in, `1` or `0` out. What an expression prints goes to
//! standard error, so it cannot be taken for an answer.

use std::io::{self, BufRead, BufReader, Write};

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct FilterFlags {
    /// Run a job only if the Perl expression EXPR (replacement strings allowed) is true; several must all be.
    #[arg(
        long = "filter",
        value_name = "EXPR",
        allow_hyphen_values = true,
        help_heading = "Control"
    )]
    pub(crate) filter: Vec<String>,
}
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The co-process's program: evaluate each expression under `use strict`
/// (GNU parallel's own code is strict, and so is the scope it evaluates
/// filters in), answer on what was standard output.
const EVALUATOR: &str = r#"
use strict;
open(my $answer, ">&", \*STDOUT) or die;
open(STDOUT, ">&", \*STDERR) or die;
binmode STDIN; binmode $answer;
select($answer); $| = 1; select(STDOUT);
while (defined(my $len = <STDIN>)) {
    chomp $len;
    my $expr = '';
    while (length($expr) < $len) {
        read(STDIN, $expr, $len - length($expr), length($expr)) or exit 0;
    }
    my $true = eval $expr;
    print $answer ($true ? "1\n" : "0\n");
}
"#;

/// A running `perl` that evaluates filters.
#[derive(Debug)]
pub(crate) struct Evaluator {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// Whether `perl` can be run (checked before any job, if `--filter` is
/// given).
pub(crate) fn check_perl() -> Result<(), String> {
    match crate::shell::which("perl".as_ref()) {
        Some(_) => Ok(()),
        None => Err("--filter needs perl, which is not installed.".to_owned()),
    }
}

impl Evaluator {
    /// Starts the co-process.
    pub(crate) fn start() -> io::Result<Evaluator> {
        let mut child = Command::new("perl")
            .arg("-e")
            .arg(EVALUATOR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let input = child.stdin.take().ok_or_else(|| io::Error::other("no pipe to perl"))?;
        let output = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no pipe from perl"))?;
        Ok(Evaluator {
            child,
            input,
            output: BufReader::new(output),
        })
    }

    /// Whether every expression is true (Perl's truth).
    pub(crate) fn all_true(&mut self, expressions: &[Vec<u8>]) -> io::Result<bool> {
        for expression in expressions {
            let mut frame = format!("{}\n", expression.len()).into_bytes();
            frame.extend_from_slice(expression);
            self.input.write_all(&frame)?;
            self.input.flush()?;
            let mut answer = String::new();
            if self.output.read_line(&mut answer)? == 0 {
                return Err(io::Error::other("perl stopped answering --filter"));
            }
            if answer.trim_end() != "1" {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(exprs: &[&str]) -> bool {
        let mut e = Evaluator::start().unwrap();
        let exprs: Vec<Vec<u8>> = exprs.iter().map(|x| x.as_bytes().to_vec()).collect();
        e.all_true(&exprs).unwrap()
    }

    #[test]
    fn perl_decides() {
        // CI installs perl (.ci/run), as GNU parallel needs it too.
        check_perl().unwrap();
        assert!(eval(&["1 < 2+1"]));
        assert!(!eval(&["3 < 2+1"]));
        assert!(eval(&["1", "\"abc\" =~ /b/"]));
        assert!(!eval(&["1", "0"]), "every filter must hold");
        assert!(!eval(&["die 'x'"]), "dying is false");
        assert!(!eval(&["("]), "not compiling is false");
        assert!(!eval(&["a =~ /a/"]), "a bareword is not allowed, as in GNU parallel");
        assert!(eval(&["print 'noise'; 1"]), "printing does not get in the way");
    }

    #[test]
    fn one_perl_answers_many_questions() {
        let mut e = Evaluator::start().unwrap();
        for i in 0..500 {
            let expr = format!("{i} % 2 == 0").into_bytes();
            assert_eq!(e.all_true(&[expr]).unwrap(), i % 2 == 0);
        }
    }
}
