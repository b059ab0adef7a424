//! [`JobSource`]: input records grouped into jobs, lazily (`-n`, `-N`,
//! `-X`, `-m`), each line as long as GNU parallel makes it, measured by
//! perl's values where a `{= =}` is in it.

use std::collections::VecDeque;
use std::io;

use super::shuffle::shuffle;
use super::{Job, MAX_LINE};
use crate::config::Batching;
use crate::input::{Record, Records};
use crate::replace::{Ahead, BATCH, EvalError, Evaluator, Measured, MeasuredLine, Multi, Shape, Template};

/// The most records measured in the first round trip to perl for a line
/// (see [`JobSource::chunk`]): what the values before perl suggest may be
/// far off.
const FIRST_CHUNK: usize = 4;

/// An input record as [`JobSource`] holds it: with what perl made of its
/// values, once measured (see `replace::measure`).
#[derive(Debug)]
struct Item {
    record: Record,
    measured: Option<Measured>,
    /// An expression died measuring it: the error stands if its line
    /// needs it (else it is measured again for the next).
    died: Option<EvalError>,
}

/// Produces jobs from records, lazily.
pub(crate) struct JobSource {
    records: Records,
    batching: Batching,
    multi: Multi,
    template: Template,
    slots: usize,
    next_seq: u64,
    buffer: VecDeque<Item>,
    buffered_cost: usize,
    eof: bool,
    /// `-X`/`-m`: records per job once the input is known to be short
    /// enough to spread over every slot.
    even: Option<usize>,
    /// Whether `-X`/`-m` share the last of the input out (not `--xargs`).
    spread: bool,
    /// The longest command line allowed.
    max_line: usize,
    /// How lines are measured (`-q`, `--shellquote`).
    measure: crate::xargs::length::Measure,
    /// The template as GNU parallel measures it.
    pub(super) shape: Shape,
    /// Evaluates perl expressions, in batches of jobs read ahead.
    pub(crate) evaluator: Option<Evaluator>,
    ahead: Ahead,
    /// Reading may wait on another process.
    pub(crate) input_may_block: bool,
    /// `--hostgroups`: arguments name their host groups.
    pub(crate) hostgroups: bool,
    /// `--shuf`: the records are read, all, and shuffled before the first
    /// job is made (then cleared).
    pub(crate) shuffle: bool,
    /// `-n0`, `-N0`: every value read is made GNU parallel's `\0noarg`.
    pub(crate) no_args: bool,
    /// A perl expression called `skip()` as the line being filled was
    /// measured, on a record it does not keep (GNU marks the line).
    line_skip: bool,
    /// The input was just shared out over the slots: the next line takes
    /// its share whatever its length, as GNU refills it (by count only).
    refill: bool,
}

impl std::fmt::Debug for JobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSource")
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl JobSource {
    pub(crate) fn new(
        records: Records,
        batching: Batching,
        multi: Multi,
        template: Template,
        slots: usize,
    ) -> JobSource {
        JobSource {
            records,
            batching,
            multi,
            shape: template.shape(),
            template,
            slots: slots.max(1),
            next_seq: 1,
            buffer: VecDeque::new(),
            buffered_cost: 0,
            eof: false,
            even: None,
            spread: batching == Batching::Fill,
            max_line: MAX_LINE,
            measure: crate::xargs::length::Measure::default(),
            evaluator: None,
            ahead: Ahead::default(),
            input_may_block: false,
            hostgroups: false,
            shuffle: false,
            no_args: false,
            line_skip: false,
            refill: false,
        }
    }

    /// Sets the command-line budget (`-s`), whether `-m`/`-X` share the
    /// last of the input out over the slots (also with `-n`), and how
    /// lines are measured (`-q`, `--shellquote`).
    pub(crate) fn with_limits(
        mut self,
        max_line: usize,
        spread: bool,
        measure: crate::xargs::length::Measure,
    ) -> JobSource {
        self.max_line = max_line;
        self.spread = spread;
        self.measure = measure;
        self
    }

    fn read(&mut self) -> io::Result<Option<Item>> {
        self.shuffle_once()?;
        if let Some(item) = self.buffer.pop_front() {
            self.buffered_cost = self.buffered_cost.saturating_sub(self.cost(&item));
            return Ok(Some(item));
        }
        if self.eof {
            return Ok(None);
        }
        match self.pull()? {
            Some(item) => Ok(Some(item)),
            None => {
                self.eof = true;
                Ok(None)
            }
        }
    }

    /// `--shuf`: before the first record is used, they are all read.
    fn shuffle_once(&mut self) -> io::Result<()> {
        if self.shuffle {
            self.shuffle = false;
            self.read_all_shuffled()?;
        }
        Ok(())
    }

    /// The next record of the input, its values made `\0noarg` with
    /// `-n0`/`-N0` (before they are measured, as in GNU parallel).
    fn pull(&mut self) -> io::Result<Option<Item>> {
        let mut record = self.records.next().transpose()?;
        if self.no_args
            && let Some(record) = record.as_mut()
        {
            for value in record.iter_mut() {
                *value = crate::replace::NOARG.to_vec();
            }
        }
        Ok(record.map(|record| Item {
            record,
            measured: None,
            died: None,
        }))
    }

    /// `--shuf`, as GNU parallel does it: the input records are shuffled,
    /// then grouped into jobs (`-n`, `-X`...) and numbered, so `{#}`, perl's
    /// `$job->seq()` and `-k` follow the shuffled order.
    fn read_all_shuffled(&mut self) -> io::Result<()> {
        let mut all: Vec<Item> = self.buffer.drain(..).collect();
        while let Some(item) = self.pull()? {
            all.push(item);
        }
        self.eof = true;
        shuffle(&mut all);
        self.buffered_cost = all.iter().map(|r| self.cost(r)).sum();
        self.buffer = all.into();
        Ok(())
    }

    /// Reads the next record of the input to the back of the buffer.
    fn read_ahead(&mut self) -> io::Result<()> {
        match self.pull()? {
            Some(item) => {
                self.buffered_cost += self.cost(&item);
                self.buffer.push_back(item);
            }
            None => self.eof = true,
        }
        Ok(())
    }

    /// Puts a record back, to be read first.
    fn unread(&mut self, item: Item) {
        self.buffered_cost += self.cost(&item);
        self.buffer.push_front(item);
    }

    /// What a record's values add to the length of a line, before
    /// [`Self::estimate`].
    fn cost(&self, item: &Item) -> usize {
        self.shape.values_cost(
            &item.record,
            self.multi,
            self.template.context(),
            self.next_seq,
            item.measured.as_ref(),
        )
    }

    /// The length of a line of `records` records whose values add up to
    /// `cost`, as GNU parallel estimates it against the budget: the
    /// blanks and context of each record counted as many times as the
    /// `first` record has values (see `Shape::per_value`).
    fn estimate(&self, cost: usize, records: usize, first: Option<&Record>) -> usize {
        let per_record = first.map_or(0, Vec::len) * self.shape.per_value(self.multi);
        let len = cost.saturating_add(records.saturating_mul(per_record));
        self.measure
            .of_len(len.saturating_add_signed(self.shape.base(self.multi)))
    }

    /// [`Self::estimate`] of a line of all the records read ahead.
    fn buffered_estimate(&self) -> usize {
        self.estimate(
            self.buffered_cost,
            self.buffer.len(),
            self.buffer.front().map(|i| &i.record),
        )
    }

    /// The next job, or `None` at the end of the input, with its perl
    /// expressions evaluated (several jobs per round trip to perl, while
    /// input is at hand).
    pub(crate) fn next_job(&mut self) -> io::Result<Option<Job>> {
        let Some(evaluator) = self.evaluator.clone() else {
            return self.next_raw();
        };
        let mut ahead = std::mem::take(&mut self.ahead);
        let result = ahead.next(&evaluator, self);
        self.ahead = ahead;
        result
    }
}

impl crate::replace::Unevaluated for JobSource {
    fn input_ready(&self) -> bool {
        // Grouping several records may wait for more input: read ahead
        // only what is sure to be there.
        let single = self.batching == Batching::Single || !self.input_may_block;
        // (A job measured as its line is filled is evaluated before the
        // next is measured, as GNU parallel does.)
        single && !self.measuring() && (!self.buffer.is_empty() || self.eof || self.records.ready())
    }

    fn next_unevaluated(&mut self) -> io::Result<Option<Job>> {
        self.next_raw()
    }
}

impl JobSource {
    fn next_raw(&mut self) -> io::Result<Option<Job>> {
        let items = match self.batching {
            Batching::Single => match self.read()? {
                Some(item) => vec![item],
                None => return Ok(None),
            },
            Batching::Count(0) => match self.read()? {
                // `--pipe -N0 ::: ...`: read one argument, made `\0noarg`.
                Some(item) if self.no_args => vec![item],
                Some(_) => Vec::new(),
                None => return Ok(None),
            },
            Batching::Count(n) if self.spread => {
                self.look_ahead(n)?;
                self.group(n.min(self.even.unwrap_or(usize::MAX)))?
            }
            Batching::Count(n) => self.group(n)?,
            Batching::Fill if self.spread => {
                self.look_ahead(usize::MAX)?;
                self.group(self.even.unwrap_or(usize::MAX))?
            }
            Batching::Fill => self.group(usize::MAX)?,
        };
        if items.is_empty() && self.batching != Batching::Count(0) {
            return Ok(None);
        }
        let measuring = self.measuring();
        let (records, measured): (Vec<Record>, Vec<Option<Measured>>) =
            items.into_iter().map(|i| (i.record, i.measured)).unzip();
        let mut job = Job::new(self.next_seq, records);
        if measuring {
            let records: Vec<Measured> = measured.into_iter().map(Option::unwrap_or_default).collect();
            let skip = std::mem::take(&mut self.line_skip) || records.iter().any(|m| m.skip);
            job.measured = Some(MeasuredLine { records, skip });
            // What was measured for this job and not taken is measured
            // again for the next (GNU flushes a record's values as it is
            // taken off the queue again).
            self.flush();
        }
        if self.hostgroups {
            crate::remote::hostgroups::take(&mut job);
        }
        self.next_seq += 1;
        Ok(Some(job))
    }

    /// Up to `most` records whose command line is shorter than the
    /// budget (at least one, however long).
    fn group(&mut self, most: usize) -> io::Result<Vec<Item>> {
        let refill = std::mem::take(&mut self.refill);
        self.measure_next(0, 0, most)?;
        let Some(first) = self.read_pushed()? else {
            return Ok(Vec::new());
        };
        // GNU parallel's estimate decides how many records fit (it may be
        // less than the line: a record of more values than the first).
        let mut cost = self.cost(&first);
        let mut taken = vec![first];
        while taken.len() < most {
            let first = taken.first().map(|i| &i.record);
            let len = self.estimate(cost, taken.len(), first);
            if len >= self.max_line && !refill {
                // One record, too long alone: the job says so as it starts
                // (GNU stops there, reading no further).
                break;
            }
            self.measure_next(taken.len(), len, most)?;
            let Some(item) = self.read_pushed()? else { break };
            let c = self.cost(&item);
            let first = taken.first().map(|i| &i.record);
            if self.estimate(cost + c, taken.len() + 1, first) >= self.max_line && !refill {
                self.take_back(&taken, &item)?;
                self.unread(item);
                break;
            }
            cost += c;
            taken.push(item);
        }
        Ok(taken)
    }

    /// The next record, pushed on the line being filled: an error if an
    /// expression died measuring it.
    fn read_pushed(&mut self) -> io::Result<Option<Item>> {
        match self.read()? {
            Some(Item { died: Some(e), .. }) => Err(io::Error::other(e)),
            item => Ok(item),
        }
    }

    /// `-X`/`-m`: reads ahead a line's worth (or `most` records and one
    /// more); when what is left of the input fits in one job, it is spread
    /// evenly over the slots instead (as GNU parallel does: full jobs,
    /// then the rest shared out).
    fn look_ahead(&mut self, most: usize) -> io::Result<()> {
        let budget = self.max_line;
        if self.measuring() {
            self.look_ahead_measured(most)?;
        } else {
            while !self.eof && self.buffered_estimate() < budget && self.buffer.len() <= most {
                self.read_ahead()?;
            }
        }
        if self.eof && self.even.is_none() && self.buffered_estimate() < budget && self.buffer.len() <= most {
            self.even = Some(self.buffer.len().div_ceil(self.slots).max(1));
            // GNU takes the line's records back to share them out, and
            // measures them again as it takes them (a `skip()` on the way
            // stays with its line).
            if self.buffer.len() > 1 {
                self.line_skip |= self.buffer.iter().any(|i| i.measured.as_ref().is_some_and(|m| m.skip));
                self.flush();
                self.refill = true;
            }
        }
        Ok(())
    }

    /// [`Self::look_ahead`] as GNU fills the line: each record measured as
    /// it is pushed, until the line is full, holds `most` records, or the
    /// input ends. One record more is read past `most`, to see whether
    /// the input ends, but not measured. Once the input is shared out,
    /// each job measures its own share (in [`Self::group`]).
    fn look_ahead_measured(&mut self, most: usize) -> io::Result<()> {
        if self.even.is_some() {
            return Ok(());
        }
        loop {
            let measured = self.buffer.iter().take_while(|i| i.measured.is_some());
            let (k, cost) = measured.fold((0, 0), |(k, cost), i| (k + 1, cost + self.cost(i)));
            let len = self.estimate(cost, k, self.buffer.front().map(|i| &i.record));
            if len >= self.max_line {
                return Ok(());
            }
            if k >= most {
                if self.buffer.len() <= k && !self.eof {
                    self.read_ahead()?;
                }
                return Ok(());
            }
            // The line pushes the record an expression died on.
            if let Some(e) = self.buffer.get_mut(k).and_then(|i| i.died.take()) {
                return Err(io::Error::other(e));
            }
            self.peek()?;
            if k == self.buffer.len() && self.eof {
                return Ok(());
            }
            let chunk = self.chunk(len, k, most);
            self.measure_ahead(k.saturating_add(chunk), 0)?;
        }
    }

    /// Whether records are measured by perl as lines are filled: a perl
    /// expression, and several records to a line (a job of one record,
    /// which is its line whatever its length, is measured with its
    /// evaluation: no round trip of its own). Not when an expression asks
    /// for the job slot or the number of jobs: GNU measures with the slot
    /// the job is to run in, and the number it counts as it measures,
    /// known here only as the job starts or once all input is read (such
    /// lines are filled by the values before perl, and measured with the
    /// job's evaluation).
    fn measuring(&self) -> bool {
        matches!(self.batching, Batching::Fill | Batching::Count(2..))
            && !self.hostgroups
            && self
                .evaluator
                .as_ref()
                .is_some_and(|e| e.measures() && !e.at_launch && !e.needs_total)
    }

    /// Before the next record is read into a line of `taken` records
    /// (estimated `len` long, `most` at most): measures it, and more
    /// ahead, if it is not measured yet.
    fn measure_next(&mut self, taken: usize, len: usize, most: usize) -> io::Result<()> {
        let ready = |i: &Item| i.measured.is_some() || i.died.is_some();
        if !self.measuring() || self.buffer.front().is_some_and(ready) {
            return Ok(());
        }
        self.peek()?;
        let chunk = self.chunk(len, taken, most);
        self.measure_ahead(chunk, taken)
    }

    /// Reads a record into the buffer if it is empty (to judge by).
    fn peek(&mut self) -> io::Result<()> {
        self.shuffle_once()?;
        if self.buffer.is_empty() && !self.eof {
            self.read_ahead()?;
        }
        Ok(())
    }

    /// How many records to measure in one round trip for a line of
    /// `taken` records (`most` at most), estimated `len` long: about half
    /// of what the rest of the line holds, judged by the records so far
    /// (at first, by the next record's values before perl).
    fn chunk(&self, len: usize, taken: usize, most: usize) -> usize {
        let left = most.saturating_sub(taken).max(1);
        let each = match taken {
            0 => self.buffer.front().map_or(1, |i| self.cost(i)),
            _ => len / taken,
        };
        let fits = self.max_line.saturating_sub(len) / each.max(1) / 2;
        fits.clamp(1, if taken == 0 { FIRST_CHUNK } else { BATCH }).min(left)
    }

    /// Has perl measure the first `want` records of the buffer for the
    /// next job, whose line has `taken` records before them, reading more
    /// into it first (one at least, waiting for it; the rest while input
    /// is at hand).
    fn measure_ahead(&mut self, want: usize, taken: usize) -> io::Result<()> {
        self.shuffle_once()?;
        let had = self.buffer.len();
        while self.buffer.len() < want && !self.eof && (self.buffer.len() == had || self.records.ready()) {
            self.read_ahead()?;
        }
        let Some(evaluator) = self.evaluator.clone() else {
            return Ok(());
        };
        // (The records not measured yet, up to one an expression died on.)
        let todo: Vec<usize> = (0..self.buffer.len().min(want))
            .skip_while(|&i| self.buffer[i].measured.is_some())
            .take_while(|&i| self.buffer[i].measured.is_none() && self.buffer[i].died.is_none())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        // (Measured records are the front of the buffer: these follow them
        // on the line.)
        let new_line = taken + todo[0] == 0;
        let records: Vec<&Record> = todo.iter().map(|&i| &self.buffer[i].record).collect();
        let (measured, failed) = evaluator.measure(&records, self.next_seq, new_line);
        // An expression died on a record: it may be one GNU measures only
        // for a later line. Its error stands if the line comes to push it
        // (`group`, `look_ahead_measured`); perl goes on meanwhile.
        if let Some(e) = failed {
            if let Some(&i) = todo.get(measured.len()) {
                self.buffer[i].died = Some(e);
            }
            evaluator.clear().map_err(io::Error::other)?;
        }
        for (i, m) in todo.into_iter().zip(measured) {
            let before = self.cost(&self.buffer[i]);
            self.buffer[i].measured = Some(m);
            let after = self.cost(&self.buffer[i]);
            self.buffered_cost = (self.buffered_cost + after).saturating_sub(before);
        }
        Ok(())
    }

    /// `item` does not fit on the line after `taken`: GNU measures it
    /// again as it takes it back off (a `skip()` then, or as it was
    /// pushed, is the line's).
    fn take_back(&mut self, taken: &[Item], item: &Item) -> io::Result<()> {
        let (Some(evaluator), Some(measured)) = (self.evaluator.as_ref(), item.measured.as_ref()) else {
            return Ok(());
        };
        let keep = taken.iter().map(|i| i.record.len()).sum();
        let skip = evaluator
            .take_back(&item.record, measured, self.next_seq, keep)
            .map_err(io::Error::other)?;
        self.line_skip |= skip || measured.skip;
        Ok(())
    }

    /// Forgets what perl measured of the records read ahead.
    fn flush(&mut self) {
        for item in &mut self.buffer {
            item.measured = None;
            item.died = None;
        }
        self.buffered_cost = self.buffer.iter().map(|i| self.cost(i)).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Columns, Linking, Source, Splitter};

    fn source(values: &[&str]) -> Records {
        let columns = Columns::new(Source::values(values), Splitter::new(None));
        Records::new(vec![columns], &[false], Linking::Product)
    }

    fn template() -> Template {
        Template::plain(&[b"echo".to_vec()])
    }

    fn batches(values: &[&str], batching: Batching, multi: Multi, slots: usize) -> Vec<Vec<String>> {
        let mut jobs = JobSource::new(source(values), batching, multi, template(), slots);
        let mut out = Vec::new();
        while let Some(job) = jobs.next_job().unwrap() {
            out.push(job.args.iter().map(|a| String::from_utf8(a.clone()).unwrap()).collect());
        }
        out
    }

    #[test]
    fn counts_group_records() {
        assert_eq!(
            batches(&["a", "b", "c"], Batching::Count(2), Multi::Join, 4),
            vec![vec!["a", "b"], vec!["c"]]
        );
    }

    #[test]
    fn fill_spreads_short_input_over_the_slots() {
        let seven: Vec<String> = (1..=7).map(|i| i.to_string()).collect();
        let seven: Vec<&str> = seven.iter().map(String::as_str).collect();
        let sizes: Vec<usize> = batches(&seven, Batching::Fill, Multi::Context, 3)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [3, 3, 1]);
        let sizes: Vec<usize> = batches(&seven, Batching::Fill, Multi::Join, 2)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [4, 3]);
    }

    #[test]
    fn fill_makes_full_lines_then_shares_out_the_rest_as_gnu_parallel_does() {
        let numbers: Vec<String> = (1..=20_000).map(|i| i.to_string()).collect();
        let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
        // What GNU parallel 20221122 makes of `seq 20000 | parallel -j2 -X echo`.
        let sizes: Vec<usize> = batches(&numbers, Batching::Fill, Multi::Context, 2)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [12460, 3770, 3770]);
    }

    #[test]
    fn fill_respects_the_line_length() {
        let long = "x".repeat(40_000);
        let values: Vec<&str> = std::iter::repeat_n(long.as_str(), 10).collect();
        let sizes: Vec<usize> = batches(&values, Batching::Fill, Multi::Join, 1)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(sizes.iter().all(|&n| n * 40_001 <= MAX_LINE), "{sizes:?}");
    }

    #[test]
    fn counts_stop_where_the_line_would_be_too_long_as_gnu_parallel_does() {
        let numbers: Vec<String> = (1..=20_000).map(|i| i.to_string()).collect();
        let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
        // What GNU parallel 20221122 makes of `seq 20000 | parallel -j1 -n 30000 echo`.
        let sizes: Vec<usize> = batches(&numbers, Batching::Count(30_000), Multi::Join, 1)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [12_460, 7_540]);
        let sizes: Vec<usize> = batches(&numbers, Batching::Fill, Multi::Join, 1)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [12_460, 7_540]);
        // A huge count allocates nothing up front.
        assert_eq!(batches(&["a"], Batching::Count(usize::MAX), Multi::Join, 1).len(), 1);
    }

    #[test]
    fn sequence_numbers_count_from_one() {
        let mut jobs = JobSource::new(source(&["a", "b"]), Batching::Single, Multi::Single, template(), 1);
        assert_eq!(jobs.next_job().unwrap().unwrap().seq, 1);
        assert_eq!(jobs.next_job().unwrap().unwrap().seq, 2);
        assert_eq!(jobs.next_job().unwrap(), None);
    }
}
