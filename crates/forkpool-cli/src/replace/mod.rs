//! Replacement strings: GNU parallel's `{}` family, `--plus`, `{= perl =}`,
//! `--rpl`, and the perl co-process that evaluates what forkpool cannot.
//!
//! - `rpl.rs`: the table of tags (built-in, `--plus`, renamed by `-I`,
//!   `--er`..., added by `--rpl`) and how text becomes markers;
//! - `parens.rs`: where the `{= =}` (or `--parens`) of perl expressions are;
//! - `parse.rs`: command words → a [`Template`] of text, breaks, markers;
//! - `strings.rs`: the built-in strings computed natively, `--trim`,
//!   shell quoting;
//! - `render.rs`: a job's command line from its template and values;
//! - `plan.rs`: what perl evaluates for a job, in GNU parallel's order;
//! - `perl.rs` + `driver.pl`: the co-process for perl expressions;
//! - `flags.rs`: the options, as typed.
//!
//! Read `README.md` beside this file for why it is built this way.

mod flags;
mod measure;
mod parens;
mod parse;
pub(crate) mod perl;
mod plan;
mod render;
mod rpl;
mod strings;

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

pub(crate) use flags::ReplaceFlags;
pub(crate) use measure::{Measured, MeasuredLine};
pub(crate) use parse::{Kind, Marker, Template};
pub(crate) use plan::Evaluated;
pub(crate) use render::{Multi, Shape, Values};
pub(crate) use rpl::TableOptions;
pub(crate) use strings::{Trim, push_quoted};

use measure::Seeds;
use parse::{Expr, Exprs};
use perl::{Failure, Perl, Request};
use plan::{Plan, Walk};
use rpl::Table;

/// The replacement-string settings of a run (from [`ReplaceFlags`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) table: TableOptions,
    /// `--trim`, if given; otherwise `lr` with `--colsep`, else `n`.
    pub(crate) trim: Option<Trim>,
    /// `--color`, `--ctag`, `--ctagstring`: colour each job's output.
    pub(crate) color: bool,
    /// `--csv`.
    pub(crate) csv: bool,
    /// `--csv`: the field separator (`--colsep`, taken literally, or `,`).
    pub(crate) csv_separator: Option<String>,
}

/// What every template of a run shares: its expressions and settings.
#[derive(Debug, Default)]
pub(crate) struct Context {
    pub(crate) exprs: Vec<Expr>,
    pub(crate) trim: Trim,
    /// `-j`, for `{0%}`.
    pub(crate) slots: usize,
    /// Each template's uses of its markers (the command's first; a
    /// template's `section` is its place here): what a job evaluates.
    walks: Vec<Walk>,
    /// The distinct markers of perl expressions, in order of appearance:
    /// what GNU parallel measures a line with.
    keys: Vec<Marker>,
    /// Some expression needs perl.
    uses_perl: bool,
    /// Some built-in string needs perl for values with newlines.
    newline_sensitive: bool,
}

impl Context {
    /// A context with no expressions.
    pub(crate) const fn empty() -> Context {
        Context {
            exprs: Vec::new(),
            trim: Trim::None,
            slots: 1,
            walks: Vec::new(),
            keys: Vec::new(),
            uses_perl: false,
            newline_sensitive: false,
        }
    }

    fn new(exprs: Vec<Expr>, trim: Trim, slots: usize, walks: Vec<Walk>) -> Context {
        let markers: Vec<Marker> = walks.iter().flat_map(Walk::markers).collect();
        let used = |i: usize| markers.iter().any(|m| m.expr == i);
        let uses_perl = exprs.iter().enumerate().any(|(i, e)| e.native.is_none() && used(i));
        let newline_sensitive = exprs
            .iter()
            .enumerate()
            .any(|(i, e)| e.native.is_some_and(|n| !n.exact_for(b"\n")) && used(i));
        let mut keys: Vec<Marker> = Vec::new();
        for m in markers {
            if exprs[m.expr].native.is_none() && !keys.contains(&m) {
                keys.push(m);
            }
        }
        Context {
            exprs,
            trim,
            slots,
            walks,
            keys,
            uses_perl,
            newline_sensitive,
        }
    }
}

/// An expression that failed: reported as one line, and the run stops
/// starting jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EvalError(pub(crate) String);

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

impl EvalError {
    /// The evaluation error inside an I/O error from the job source.
    pub(crate) fn of(e: &io::Error) -> Option<&EvalError> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<EvalError>())
    }
}

/// The jobs' side of the co-process: evaluates batches of jobs. Clones
/// share the one co-process.
#[derive(Debug, Clone)]
pub(crate) struct Evaluator {
    ctx: Arc<Context>,
    perl: Arc<Mutex<Option<Perl>>>,
    /// Expressions ask for the slot: evaluate when the job starts.
    pub(crate) at_launch: bool,
    /// Expressions ask for the number of jobs: read all input first.
    pub(crate) needs_total: bool,
}

impl Evaluator {
    /// Whether any job may need perl.
    fn active(&self) -> bool {
        self.ctx.uses_perl || self.ctx.newline_sensitive
    }

    /// Evaluates what `jobs` need (`slot` 0 when not known yet). On a
    /// failure, the jobs before the failing one are done and the error
    /// says which failed.
    pub(crate) fn evaluate(&self, jobs: &mut [&mut crate::jobs::Job], slot: usize) -> Result<(), (usize, EvalError)> {
        if !self.active() {
            return Ok(());
        }
        let plans: Vec<Plan> = jobs
            .iter()
            .map(|j| {
                let seeds = j.measured.as_ref().map(|m| Seeds::new(&m.records, &j.records));
                self.ctx.plan(j.records.iter().map(Vec::len), &j.args, seeds.as_ref())
            })
            .collect();
        // Jobs whose every value was measured already need no round trip.
        let asks = |plan: &Plan| plan.iter().any(|e| !e.known);
        for (job, plan) in jobs.iter_mut().zip(&plans) {
            if !asks(plan) && (!plan.is_empty() || job.measured.is_some()) {
                let evaluated = job_evaluated(job, plan, Vec::new(), false);
                job.evaluated = Some(evaluated);
            }
        }
        let wanted: Vec<usize> = (0..jobs.len()).filter(|&k| asks(&plans[k])).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let requests: Vec<Request<'_>> = wanted
            .iter()
            .map(|&k| Request {
                seq: jobs[k].seq,
                slot,
                total: jobs[k].total,
                args: &jobs[k].args,
                evals: &plans[k],
            })
            .collect();
        let (answers, failed) = match self.with_perl(|perl| perl.evaluate(&requests)) {
            Err(f) => return Err((wanted[0], self.error(f, Some(&jobs[wanted[0]].args)))),
            Ok(Ok(answers)) => (answers, None),
            Ok(Err((answers, f))) => (answers, Some(f)),
        };
        drop(requests);
        let answered = answers.len();
        for (&k, answer) in wanted.iter().zip(answers) {
            let evaluated = job_evaluated(jobs[k], &plans[k], answer.values, answer.skip);
            jobs[k].evaluated = Some(evaluated);
        }
        match failed {
            None => Ok(()),
            Some(f) => {
                let k = wanted.get(answered).copied().unwrap_or(0);
                let seq = jobs[k].seq;
                Err((k, self.error_in_job(f, seq)))
            }
        }
    }

    /// Runs `f` with the co-process, started at its first use (only
    /// built-in strings on values with newlines need perl: it starts at
    /// the first such value).
    fn with_perl<T>(&self, f: impl FnOnce(&mut Perl) -> T) -> Result<T, Failure> {
        let mut guard = self.perl.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            let codes: Vec<Vec<u8>> = self.ctx.exprs.iter().map(|e| e.code.clone()).collect();
            *guard = Some(Perl::start(&codes, self.ctx.trim, self.ctx.slots)?);
        }
        match guard.as_mut() {
            Some(perl) => Ok(f(perl)),
            None => Err(Failure::Broken("the perl co-process is gone".to_owned())),
        }
    }

    fn error(&self, f: Failure, _args: Option<&[Vec<u8>]>) -> EvalError {
        match f {
            Failure::Missing(why) => EvalError(format!("{}: {why}", self.first_perl_expression())),
            Failure::Expression(e, why) => EvalError(format!("Cannot use {}: {why}", self.show(e))),
            Failure::Broken(why) => EvalError(why),
        }
    }

    fn error_in_job(&self, f: Failure, seq: u64) -> EvalError {
        match f {
            Failure::Expression(e, why) => EvalError(format!("{} died in job {seq}: {why}", self.show(e))),
            other => self.error(other, None),
        }
    }

    /// The expression `e` in a message: as the user typed it (see
    /// [`Expr::typed`]), else in `{= =}`.
    fn show(&self, e: usize) -> String {
        match self.ctx.exprs.get(e) {
            Some(Expr { typed: Some(typed), .. }) => String::from_utf8_lossy(typed).into_owned(),
            Some(expr) => format!("{{= {} =}}", String::from_utf8_lossy(expr.code.trim_ascii())),
            None => "a perl expression".to_owned(),
        }
    }

    fn first_perl_expression(&self) -> String {
        let e = self.ctx.exprs.iter().position(|e| e.native.is_none()).unwrap_or(0);
        self.show(e)
    }
}

/// What perl computed for `job` (`values` answering `plan`), with what
/// its records were measured with.
fn job_evaluated(job: &crate::jobs::Job, plan: &Plan, values: Vec<(Vec<u8>, bool)>, skip: bool) -> Evaluated {
    let seeds = job.measured.as_ref().map(|m| Seeds::new(&m.records, &job.records));
    let skip = skip || job.measured.as_ref().is_some_and(|m| m.skip);
    Evaluated::new(plan, values, skip, seeds.as_ref())
}

/// Every template of a run, parsed, with the co-process if one is needed.
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) command: Template,
    pub(crate) tag: Option<Template>,
    pub(crate) results: Option<Template>,
    /// Other texts with replacement strings (`--filter`, `--workdir`,
    /// `--template`, the remote `--transferfile`, `--return`...), in the
    /// order given.
    pub(crate) extra: Vec<Template>,
    pub(crate) evaluator: Evaluator,
}

/// The texts to parse.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sources<'a> {
    /// The command's words (empty: each input is a command).
    pub(crate) command: &'a [Vec<u8>],
    pub(crate) quote: bool,
    pub(crate) tag: Option<&'a [u8]>,
    pub(crate) results: Option<&'a [u8]>,
    /// `--header` names and their positions.
    pub(crate) names: &'a [(Vec<u8>, i64)],
    pub(crate) trim: Trim,
    pub(crate) slots: usize,
    /// How the command puts in a job's values (`-X`: words repeated).
    pub(crate) multi: Multi,
    /// Other texts to parse as `--tagstring` is (unquoted, nothing added),
    /// each after the option it came from, for messages.
    pub(crate) extra: &'a [(&'static str, Vec<u8>)],
}

impl Program {
    /// Parses every template; starts perl (and compiles the expressions)
    /// when one needs it, so that a missing perl or a bad expression is
    /// reported before any job runs.
    pub(crate) fn prepare(table: &TableOptions, sources: Sources<'_>) -> Result<Program, String> {
        let table = Table::new(table)?;
        let mut exprs = Exprs::default();
        let rename = |text: &[u8]| rename_columns(text, sources.names, table.left());
        let command = if sources.command.is_empty() {
            Template::parse(
                &[b"{}".to_vec()],
                Kind::Command { quote_words: false },
                &table,
                &mut exprs,
            )
        } else {
            let words: Vec<Vec<u8>> = sources.command.iter().map(|w| rename(w)).collect();
            Template::parse(
                &words,
                Kind::Command {
                    quote_words: sources.quote,
                },
                &table,
                &mut exprs,
            )
        }
        .map_err(|e| e.0)?;
        let text = |t: Option<&[u8]>, option: &str, exprs: &mut Exprs| -> Result<Option<Template>, String> {
            t.map(|t| Template::parse_in(&[rename(t)], Kind::Text, option, &table, exprs).map_err(|e| e.0))
                .transpose()
        };
        let mut tag = text(sources.tag, "--tagstring", &mut exprs)?;
        let mut results = text(sources.results, "--results", &mut exprs)?;
        if results.as_ref().is_some_and(|r| !r.has_replacements()) {
            results = None;
        }
        let mut extra = sources
            .extra
            .iter()
            .map(|(option, t)| {
                text(Some(t), option, &mut exprs).and_then(|t| t.ok_or_else(|| "no template".to_owned()))
            })
            .collect::<Result<Vec<Template>, String>>()?;
        // The command's uses of its expressions, then the others' (rendered
        // one value at a time), each template's at its `section`.
        let mut walks = vec![Walk::of(&command, sources.multi == Multi::Context)];
        for t in tag.iter_mut().chain(results.iter_mut()).chain(extra.iter_mut()) {
            t.section = walks.len();
            walks.push(Walk::of(t, false));
        }
        let markers: Vec<Marker> = walks.iter().flat_map(Walk::markers).collect();
        let used = |e: &Expr| markers.iter().any(|m| exprs.list.get(m.expr) == Some(e));
        let mentions = |word: &[u8]| {
            exprs
                .list
                .iter()
                .any(|e| e.native.is_none() && rpl::find(&e.code, word).is_some())
        };
        let needs_total = exprs
            .list
            .iter()
            .any(|e| e.native.is_some_and(strings::Native::needs_total) && used(e))
            || mentions(b"total_jobs");
        let at_launch = mentions(b"slot");
        let ctx = Arc::new(Context::new(exprs.list, sources.trim, sources.slots, walks));
        let mut perl = None;
        if ctx.uses_perl {
            let codes: Vec<Vec<u8>> = ctx.exprs.iter().map(|e| e.code.clone()).collect();
            let evaluator = Evaluator {
                ctx: ctx.clone(),
                perl: Arc::new(Mutex::new(None)),
                at_launch,
                needs_total,
            };
            perl = Some(Perl::start(&codes, ctx.trim, ctx.slots).map_err(|f| evaluator.error(f, None).0)?);
        }
        let evaluator = Evaluator {
            ctx: ctx.clone(),
            perl: Arc::new(Mutex::new(perl)),
            at_launch,
            needs_total,
        };
        let attach = |mut t: Template| {
            t.ctx = Some(ctx.clone());
            t
        };
        Ok(Program {
            command: attach(command),
            tag: tag.map(attach),
            results: results.map(attach),
            extra: extra.into_iter().map(attach).collect(),
            evaluator,
        })
    }
}

/// `--header`: `{name}`, `{name/}`... become `{3}`, `{3/}`..., and
/// `{=name code=}` becomes `{=3 code=}`, as GNU parallel rewrites them.
fn rename_columns(text: &[u8], names: &[(Vec<u8>, i64)], left: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    for (name, id) in names {
        for suffix in [&b""[..], b"/", b"//", b".", b"/."] {
            let mut from = b"{".to_vec();
            from.extend_from_slice(name);
            from.extend_from_slice(suffix);
            from.push(b'}');
            let mut to = format!("{{{id}").into_bytes();
            to.extend_from_slice(suffix);
            to.push(b'}');
            out = replace_bytes(&out, &from, &to);
        }
        let mut from = left.to_vec();
        from.extend_from_slice(name);
        let mut to = left.to_vec();
        to.extend_from_slice(id.to_string().as_bytes());
        out = replace_bytes(&out, &from, &to);
    }
    out
}

fn replace_bytes(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// Where [`Ahead`] reads jobs from.
pub(crate) trait Unevaluated {
    /// The next job, its expressions not evaluated yet (may block).
    fn next_unevaluated(&mut self) -> io::Result<Option<crate::jobs::Job>>;
    /// Whether the next job can be read without waiting on input.
    fn input_ready(&self) -> bool;
}

/// Jobs evaluated ahead of time, in batches: while input is at hand, up to
/// [`BATCH`] jobs go to perl in one round trip.
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    /// Evaluated, ready to go.
    ready: VecDeque<crate::jobs::Job>,
    /// Read (all of the input, when the total is needed), not evaluated.
    raw: VecDeque<crate::jobs::Job>,
    /// What stopped the batch, reported after its jobs.
    failed: Option<io::Error>,
    total: Option<u64>,
}

/// The most jobs evaluated in one round trip.
pub(crate) const BATCH: usize = 128;

impl Ahead {
    /// The next job: a ready one, or from a new batch read from `source`
    /// (which may block for the first job of a batch; more are read while
    /// input is at hand).
    pub(crate) fn next(
        &mut self,
        evaluator: &Evaluator,
        source: &mut dyn Unevaluated,
    ) -> io::Result<Option<crate::jobs::Job>> {
        if let Some(job) = self.ready.pop_front() {
            return Ok(Some(job));
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if evaluator.needs_total && self.total.is_none() {
            // The number of jobs: read them all first.
            while let Some(job) = source.next_unevaluated()? {
                self.raw.push_back(job);
            }
            let total = self.raw.back().map_or(0, |j| j.seq);
            self.total = Some(total);
        }
        let mut batch = Vec::new();
        if self.raw.is_empty() {
            let Some(first) = source.next_unevaluated()? else {
                return Ok(None);
            };
            batch.push(first);
            while !evaluator.at_launch && batch.len() < BATCH && source.input_ready() {
                match source.next_unevaluated() {
                    Ok(Some(job)) => batch.push(job),
                    Ok(None) => break,
                    // (A perl expression that died measuring a line: the
                    // jobs before it go first.)
                    Err(e) => {
                        self.failed = Some(e);
                        break;
                    }
                }
            }
        } else {
            let n = self.raw.len().min(if evaluator.at_launch { 1 } else { BATCH });
            batch.extend(self.raw.drain(..n));
        }
        for job in &mut batch {
            job.total = self.total;
        }
        if evaluator.at_launch {
            self.ready.extend(batch);
        } else {
            let mut refs: Vec<&mut crate::jobs::Job> = batch.iter_mut().collect();
            match evaluator.evaluate(&mut refs, 0) {
                Ok(()) => self.ready.extend(batch),
                Err((k, e)) => {
                    batch.truncate(k);
                    self.ready.extend(batch);
                    self.failed = Some(io::Error::other(e));
                }
            }
        }
        match self.ready.pop_front() {
            Some(job) => Ok(Some(job)),
            None => match self.failed.take() {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }
}

/// The value of every argument of a `-n0`/`-N0` job, as GNU parallel
/// makes it: a replacement string (`{}`, `{.}`, a `{= =}` that leaves `$_`
/// as it is...) whose value is exactly this is nothing, not even an empty
/// word; any other (`{#}`, `{//}`'s `.`, `{+.}`'s empty word) is as usual.
pub(crate) const NOARG: &[u8] = b"\0noarg";

/// `--tag`: the job's values, trimmed, space-separated (GNU's `{==}`).
pub(crate) fn tag_of(args: &[Vec<u8>], trim: Trim) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if a != NOARG {
            out.extend_from_slice(trim.apply(a));
        }
    }
    out
}
