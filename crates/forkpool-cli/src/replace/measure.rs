//! GNU parallel's measuring of a line with perl's values, done as the
//! line is filled.
//!
//! `-X`, `-m`, `-n`, `-N` put as many records on a line as fit the budget,
//! and GNU parallel measures each record it pushes by what its
//! replacement strings make of it (`CommandLine::push`): a `{= =}` that
//! makes values longer fits fewer of them, one that shortens them more.
//! So [`crate::jobs::JobSource`] has perl measure the records as they join
//! the line, before it is cut, and the job then uses what was measured: a
//! value perl holds true is kept for the job ([`Seeds`]), as GNU keeps it
//! in its `Arg` (only `""` and `"0"` are computed again where the line
//! uses them).
//!
//! The co-process keeps the line (`P` pushes a record on it, `L` starts
//! one, `Q` takes a record back off), so `@arg` is the line so far, as in
//! GNU. What GNU measures again is measured again: a record taken back off
//! a full line (its false values), a record carried to the next line, the
//! records of a line shared out over the job slots at the end (GNU flushes
//! a record's values as it takes it off its queue again). Records go in
//! batches, so a line of many records costs few round trips: about half of
//! what the rest of the line holds, judged by the records before (see
//! `JobSource::chunk`); the few measured past the end of a line when the
//! guess is off are measured again for the next.

use super::perl::{Eval, Perl, Request};
use super::plan::Plan;
use super::{Context, EvalError, Evaluator};
use crate::input::Record;

/// What perl made of one record's values as its line was measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Measured {
    /// Each measured (expression, value of the record): its value and
    /// whether it is unquoted.
    values: Vec<(usize, usize, Vec<u8>, bool)>,
    /// The code called `skip()`.
    pub(crate) skip: bool,
}

impl Measured {
    /// What expression `expr` made of the record's value `i`, and whether
    /// it is unquoted.
    pub(crate) fn get(&self, expr: usize, i: usize) -> Option<(&[u8], bool)> {
        self.values
            .iter()
            .find(|(e, a, _, _)| (*e, *a) == (expr, i))
            .map(|(_, _, v, u)| (v.as_slice(), *u))
    }
}

/// What perl measured of a job's line as it was filled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MeasuredLine {
    /// Each record's values.
    pub(crate) records: Vec<Measured>,
    /// The code called `skip()` on the line (on a record of it, or one
    /// taken back off it).
    pub(crate) skip: bool,
}

/// The values a job's records were measured with, by the job's argument
/// numbers: those perl holds true, which the job uses as they are.
#[derive(Debug, Clone)]
pub(crate) struct Seeds<'a> {
    measured: &'a [Measured],
    /// The job's argument number of each record's first value.
    starts: Vec<usize>,
}

impl<'a> Seeds<'a> {
    /// The seeds of `records` (a job's), measured as `measured`.
    pub(crate) fn new(measured: &'a [Measured], records: &[Record]) -> Seeds<'a> {
        let starts = records
            .iter()
            .scan(0, |first, r| {
                let start = *first;
                *first += r.len();
                Some(start)
            })
            .collect();
        Seeds { measured, starts }
    }

    /// The value expression `expr` has on the job's argument `arg`, if
    /// it was measured true.
    pub(crate) fn get(&self, expr: usize, arg: usize) -> Option<(&'a [u8], bool)> {
        self.measured(expr, arg).filter(|(v, _)| perl_true(v))
    }

    /// Whether `uq()` was called as expression `expr` was measured on
    /// argument `arg`, whatever the value.
    pub(crate) fn unquoted(&self, expr: usize, arg: usize) -> bool {
        self.measured(expr, arg).is_some_and(|(_, u)| u)
    }

    fn measured(&self, expr: usize, arg: usize) -> Option<(&'a [u8], bool)> {
        let record = self.starts.partition_point(|&start| start <= arg).checked_sub(1)?;
        self.measured.get(record)?.get(expr, arg - self.starts[record])
    }
}

/// Whether perl holds a value true (not `""` nor `"0"`).
fn perl_true(v: &[u8]) -> bool {
    !v.is_empty() && v != b"0"
}

impl Context {
    /// Whether lines are measured with perl's values.
    pub(crate) fn measures(&self) -> bool {
        self.uses_perl && !self.keys.is_empty()
    }

    /// [`Context::measuring`] of a record alone.
    fn measuring_of(&self, w: usize, answered: bool) -> Plan {
        let mut plan = Plan::default();
        self.measuring(w, 0, answered, &mut plan);
        plan
    }

    /// GNU's measuring of a record of `w` values whose first is argument
    /// `first` of the job: each distinct perl expression on each value it
    /// applies to, appended to `plan` (`answered`: its value wanted).
    pub(crate) fn measuring(&self, w: usize, first: usize, answered: bool, plan: &mut Plan) {
        for key in &self.keys {
            let mut measure = |i: usize| {
                plan.push(Eval {
                    expr: key.expr,
                    arg: first + i,
                    answered,
                    known: false,
                    unquoted: false,
                    section: 0,
                })
            };
            // `{=0 code=}` is measured as `-0` is.
            let position = if key.zero { Some(0) } else { key.position };
            match position {
                // `$record->[$p > 0 ? $p-1 : $p]` (`-0` is `-1`).
                Some(p) if p > 0 => {
                    if let Some(i) = usize::try_from(p - 1).ok().filter(|&i| i < w) {
                        measure(i);
                    }
                }
                Some(p) => {
                    let back = usize::try_from(p.unsigned_abs().max(1)).unwrap_or(usize::MAX);
                    if back <= w {
                        measure(w - back);
                    }
                }
                None => (0..w).for_each(measure),
            }
        }
    }
}

impl Evaluator {
    /// Whether lines are measured with perl's values.
    pub(crate) fn measures(&self) -> bool {
        self.ctx.measures()
    }

    /// Measures `records`, pushed in order on the line of job `seq` (a
    /// `new_line`: they are its first), in one round trip to perl. If an
    /// expression died, what it died on comes with the records measured
    /// before, its error naming the job.
    pub(crate) fn measure(&self, records: &[&Record], seq: u64, new_line: bool) -> (Vec<Measured>, Option<EvalError>) {
        let plans: Vec<Plan> = records.iter().map(|r| self.ctx.measuring_of(r.len(), true)).collect();
        let requests: Vec<Request<'_>> = records
            .iter()
            .zip(&plans)
            .map(|(r, plan)| request(seq, r, plan))
            .collect();
        let (answers, failed) = match self.with_perl(|perl| perl.measure(new_line, &requests)) {
            Err(f) => (Vec::new(), Some(self.error(f, None))),
            Ok(Ok(answers)) => (answers, None),
            Ok(Err((answers, f))) => (answers, Some(self.error_in_job(f, seq))),
        };
        let measured = plans
            .iter()
            .zip(answers)
            .map(|(plan, answer)| Measured {
                values: plan
                    .iter()
                    .zip(answer.values)
                    .map(|(e, (v, u))| (e.expr, e.arg, v, u))
                    .collect(),
                skip: answer.skip,
            })
            .collect();
        (measured, failed)
    }

    /// Lets perl go on after [`Evaluator::measure`] failed on a record
    /// that the line turned out not to need.
    pub(crate) fn clear(&self) -> Result<(), EvalError> {
        match self.with_perl(Perl::clear) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(f)) | Err(f) => Err(self.error(f, None)),
        }
    }

    /// Takes `record` (measured as `measured`) back off the line of job
    /// `seq`, after its first `keep` values: GNU measures it again as it
    /// does, which evaluates what was measured false. Whether the code
    /// called `skip()`.
    pub(crate) fn take_back(
        &self,
        record: &Record,
        measured: &Measured,
        seq: u64,
        keep: usize,
    ) -> Result<bool, EvalError> {
        let mut plan = self.ctx.measuring_of(record.len(), false);
        plan.retain(|e| measured.get(e.expr, e.arg).is_none_or(|(v, _)| !perl_true(v)));
        if plan.is_empty() {
            return Ok(false);
        }
        match self.with_perl(|perl| perl.take_back(keep, &request(seq, record, &plan))) {
            Ok(Ok(answer)) => Ok(answer.skip),
            Ok(Err(f)) | Err(f) => Err(self.error_in_job(f, seq)),
        }
    }
}

/// The request that measures `record` for job `seq`.
fn request<'a>(seq: u64, record: &'a Record, plan: &'a Plan) -> Request<'a> {
    Request {
        seq,
        slot: 0,
        total: None,
        args: record,
        evals: plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_the_true_values_by_argument_number() {
        let measured = vec![
            Measured {
                values: vec![(0, 0, b"x".to_vec(), false), (0, 1, b"0".to_vec(), false)],
                skip: false,
            },
            Measured {
                values: vec![(0, 0, b"".to_vec(), false), (1, 0, b"y".to_vec(), true)],
                skip: false,
            },
        ];
        let records: Vec<Record> = vec![vec![b"a".to_vec(), b"b".to_vec()], vec![b"c".to_vec()]];
        let seeds = Seeds::new(&measured, &records);
        assert_eq!(seeds.get(0, 0), Some((&b"x"[..], false)));
        assert_eq!(seeds.get(0, 1), None, "\"0\" is computed again");
        assert_eq!(seeds.get(0, 2), None, "\"\" is computed again");
        assert_eq!(seeds.get(1, 2), Some((&b"y"[..], true)));
        assert_eq!(seeds.get(0, 3), None);
    }
}
