//! What perl evaluates for a job, in the order GNU parallel evaluates it,
//! and what it answered.
//!
//! GNU parallel keeps an expression's value per argument, but only a value
//! perl holds true (`not $self->{'cache'}{$perlexpr}` in `Arg::replace`):
//! `""` and `"0"` are computed again at their next use. And it uses every
//! expression at least twice per job: once as it measures the command
//! line (`CommandLine::push`: each distinct replacement string on each
//! value of each record pushed), then at each place it occurs as it builds
//! the line (`replace_placeholders`). Expressions with side effects show
//! it: `seq 5 | parallel echo '{= $_ = $foo++ =}'` counts from 1, as its
//! man page says (the measuring gives 0, false, so the line gets 1).
//!
//! A [`Plan`] lists those uses, the measuring ones unanswered; perl keeps
//! the job's cache by GNU's rule (`driver.pl`), so a true value costs one
//! evaluation however often it is used. GNU measures the distinct strings
//! in perl's hash order (random from run to run); here they go in order
//! of appearance.

use std::collections::HashMap;

use super::Context;
use super::measure::Seeds;
use super::parse::{Marker, Template, Token, arg_index};
use super::perl::Eval;

/// The uses of a template's markers, in the order GNU parallel's
/// `replace_placeholders` makes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Walk {
    /// `-X`, `-N`: each word holding a marker is repeated per argument,
    /// its markers used in turn for each.
    context: bool,
    /// The markers of each word (`context`), or each marker alone.
    groups: Vec<Vec<Marker>>,
}

impl Walk {
    /// The walk of template `t`, rendered with words repeated per
    /// argument or not (`context`), as `render.rs` groups them.
    pub(crate) fn of(t: &Template, context: bool) -> Walk {
        let mut groups = Vec::new();
        let mut group = Vec::new();
        for token in &t.tokens {
            match token {
                Token::Marker(m) => {
                    group.push(*m);
                    if !context {
                        groups.push(std::mem::take(&mut group));
                    }
                }
                Token::Break => groups.push(std::mem::take(&mut group)),
                Token::Text(x) if x == b" " || x == b"\t" => groups.push(std::mem::take(&mut group)),
                Token::Text(_) => {}
            }
        }
        groups.push(group);
        groups.retain(|g| !g.is_empty());
        Walk { context, groups }
    }

    /// Every marker, in order.
    pub(crate) fn markers(&self) -> impl Iterator<Item = Marker> + '_ {
        self.groups.iter().flatten().copied()
    }

    /// Calls `each` with every use of a marker on a job of `n` arguments
    /// and the argument it is used on.
    fn uses(&self, n: usize, mut each: impl FnMut(Marker, usize)) {
        if n == 0 {
            return;
        }
        for group in &self.groups {
            if self.context {
                for i in 0..n {
                    let mut normal = false;
                    for m in group {
                        match m.position {
                            Some(p) => {
                                if let Some(a) = arg_index(p, n) {
                                    each(*m, a);
                                }
                            }
                            None => {
                                normal = true;
                                each(*m, i);
                            }
                        }
                    }
                    if !normal {
                        break;
                    }
                }
            } else {
                for m in group {
                    match m.position {
                        Some(p) => {
                            if let Some(a) = arg_index(p, n) {
                                each(*m, a);
                            }
                        }
                        None => (0..n).for_each(|i| each(*m, i)),
                    }
                }
            }
        }
    }
}

/// A job's evaluations, each answered one with the template (its section:
/// the command is 0) it is for.
pub(crate) type Plan = Vec<Eval>;

impl Context {
    /// What perl evaluates for a job whose records have `widths` values
    /// (all of them `args`): GNU's measuring of each distinct perl
    /// expression, record by record, then every use of every template's
    /// markers where perl computes the value (a built-in string, only on
    /// a value it cannot compute natively). With `seeds` (the records
    /// were measured as the line was filled), no measuring, and the uses
    /// of values measured true are `known`.
    pub(crate) fn plan(
        &self,
        widths: impl Iterator<Item = usize> + Clone,
        args: &[Vec<u8>],
        seeds: Option<&Seeds<'_>>,
    ) -> Plan {
        let n = args.len();
        let mut plan = Plan::default();
        if n == 0 || !(self.uses_perl || self.newline_sensitive) {
            return plan;
        }
        // (Records measured as their line was filled are not measured
        // again.)
        if !self.keys.is_empty() && seeds.is_none() {
            // (Values that are no records' are one record.)
            let records = widths.clone().sum::<usize>() == n;
            let whole = (!records).then_some(n);
            let mut first = 0;
            for w in widths.filter(|_| records).chain(whole) {
                self.measuring(w, first, false, &mut plan);
                first += w;
            }
        }
        for (section, walk) in self.walks.iter().enumerate() {
            walk.uses(n, |m, arg| {
                if let Some(native) = self.exprs[m.expr].native
                    && native.exact_for(self.trim.apply(&args[arg]))
                {
                    return;
                }
                plan.push(Eval {
                    expr: m.expr,
                    arg,
                    answered: true,
                    known: seeds.is_some_and(|s| s.get(m.expr, arg).is_some()),
                    unquoted: seeds.is_some_and(|s| s.unquoted(m.expr, arg)),
                    section,
                });
            });
        }
        plan
    }
}

/// What perl computed for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Evaluated {
    /// Each answered use: its section, expression, argument, whether it
    /// is unquoted, and its value.
    values: Vec<(usize, usize, usize, bool, Vec<u8>)>,
    /// The places in `values` by (expression, argument), in order: where
    /// the uses of one are found without a search through all.
    by_use: Vec<usize>,
    /// The code called `skip()`.
    pub(crate) skip: bool,
}

impl Evaluated {
    /// What perl answered for `plan` (its uses not known from `seeds`).
    pub(crate) fn new(plan: &Plan, values: Vec<(Vec<u8>, bool)>, skip: bool, seeds: Option<&Seeds<'_>>) -> Evaluated {
        let mut asked = values.into_iter();
        let values = plan
            .iter()
            .filter(|e| e.answered)
            .filter_map(|e| {
                let (v, u) = match seeds.and_then(|s| s.get(e.expr, e.arg)).filter(|_| e.known) {
                    Some((v, u)) => (v.to_vec(), u),
                    None => asked.next()?,
                };
                Some((e.section, e.expr, e.arg, u, v))
            })
            .collect::<Vec<_>>();
        let mut by_use: Vec<usize> = (0..values.len()).collect();
        by_use.sort_by_key(|&k| (values[k].1, values[k].2, k));
        Evaluated { values, by_use, skip }
    }

    /// The value of the `nth` use (from 0) of expression `expr` on
    /// argument `arg` in template `section` (the last one if there are
    /// fewer, as a template rendered another way may use it more often),
    /// and whether it is unquoted.
    pub(crate) fn get(&self, section: usize, expr: usize, arg: usize, nth: usize) -> Option<(&[u8], bool)> {
        let (mut any, mut last, mut count) = (None, None, 0);
        let key = |k: usize| (self.values[k].1, self.values[k].2);
        let first = self.by_use.partition_point(|&k| key(k) < (expr, arg));
        let uses = self.by_use[first..].iter().take_while(|&&k| key(k) == (expr, arg));
        for &k in uses {
            let s = self.values[k].0;
            any = any.or(Some(k));
            if s == section {
                if count == nth {
                    return self.pick(Some(k));
                }
                count += 1;
                last = Some(k);
            }
        }
        self.pick(last.or(any))
    }

    fn pick(&self, k: Option<usize>) -> Option<(&[u8], bool)> {
        k.map(|k| {
            let (_, _, _, u, v) = &self.values[k];
            (v.as_slice(), *u)
        })
    }
}

/// How often each (expression, argument) was used so far while a template
/// is rendered: which of its values the next use takes.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The first few (expression, argument, uses), kept without allocating.
    few: [(usize, usize, usize); 4],
    len: usize,
    /// The others (`-X`: one per argument of the line).
    more: HashMap<(usize, usize), usize>,
}

impl Seen {
    /// The number of this use of `expr` on `arg` (from 0).
    pub(crate) fn next(&mut self, expr: usize, arg: usize) -> usize {
        let room = self.few.len();
        let found = self.few[..self.len]
            .iter()
            .position(|(e, a, _)| (*e, *a) == (expr, arg));
        let n = match found {
            Some(i) => &mut self.few[i].2,
            None if self.len < room => {
                self.few[self.len] = (expr, arg, 0);
                self.len += 1;
                &mut self.few[self.len - 1].2
            }
            None => self.more.entry((expr, arg)).or_insert(0),
        };
        *n += 1;
        *n - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(words: &[&str]) -> Template {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        Template::plain(&words)
    }

    /// The plan as text: `~e.i` measured, `e.i` used.
    fn shown(plan: &Plan) -> Vec<String> {
        let shown = plan.iter().map(|e| {
            let measured = if e.answered { "" } else { "~" };
            format!("{measured}{}.{}", e.expr, e.arg)
        });
        shown.collect()
    }

    fn args(values: &[&str]) -> Vec<Vec<u8>> {
        values.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    #[test]
    fn expressions_are_measured_then_used_where_they_stand() {
        // `{}` is computed natively: perl neither measures nor uses it.
        let t = template(&["echo", "{= s/a/b/ =}", "x{= s/a/b/ =}", "{}", "{=2 $_ .= 1 =}"]);
        let plan = t.context().plan([2].into_iter(), &args(&["a", "b"]), None);
        assert_eq!(
            shown(&plan),
            ["~0.0", "~0.1", "~2.1", "0.0", "0.1", "0.0", "0.1", "2.1"]
        );
        assert!(plan.iter().all(|e| e.section == 0));
        // Record by record (-N2): a position is the record's.
        let plan = t.context().plan([1, 1].into_iter(), &args(&["a", "b"]), None);
        assert_eq!(&shown(&plan)[..2], ["~0.0", "~0.1"]);
        assert_eq!(shown(&plan).len(), 7);
        // No argument, nothing to evaluate.
        assert!(t.context().plan([].into_iter(), &[], None).is_empty());
    }

    #[test]
    fn words_repeated_per_argument_use_their_markers_in_turn() {
        let t = template(&["echo", "{= s/a/b/ =}x{= s/a/c/ =}", "{=1 s/a/d/ =}"]);
        let mut uses = Vec::new();
        Walk::of(&t, true).uses(2, |m, a| uses.push((m.expr, a)));
        // The word once per argument; a word of positions only, once.
        assert_eq!(uses, [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0)]);
        let mut uses = Vec::new();
        Walk::of(&t, false).uses(2, |m, a| uses.push((m.expr, a)));
        assert_eq!(uses, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]);
    }

    #[test]
    fn each_use_takes_its_own_value() {
        let t = template(&["echo", "{= s/a/b/ =}", "{= s/a/b/ =}"]);
        let plan = t.context().plan([1].into_iter(), &args(&["a"]), None);
        let values = vec![(b"".to_vec(), false), (b"x".to_vec(), true)];
        let evaluated = Evaluated::new(&plan, values, false, None);
        assert_eq!(evaluated.get(0, 0, 0, 0), Some((&b""[..], false)));
        assert_eq!(evaluated.get(0, 0, 0, 1), Some((&b"x"[..], true)));
        // A use the plan has not: the last (another section's, if none).
        assert_eq!(evaluated.get(0, 0, 0, 5), Some((&b"x"[..], true)));
        assert_eq!(evaluated.get(3, 0, 0, 0), Some((&b""[..], false)));
        assert_eq!(evaluated.get(0, 1, 0, 0), None);
        let mut seen = Seen::default();
        assert_eq!([seen.next(0, 0), seen.next(0, 1), seen.next(0, 0)], [0, 0, 1]);
    }
}
