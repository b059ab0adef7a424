//! A job's command line from its template and values, as GNU parallel's
//! `replace_placeholders` builds it: each marker once per argument
//! (space-separated) or once for its position; with `-X` the word around
//! it is repeated per argument; values shell-quoted unless the command
//! starts with a replacement string; with `-q`, each command word quoted
//! whole.

use std::borrow::Cow;

use super::parse::{Marker, Template, Token, is_perl_space};
use super::plan::Seen;
use super::strings::{JobFacts, push_quoted, quoted_len};
use super::{Context, Evaluated};

/// How the values of a job with several input items are put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Multi {
    /// One item per job (or `{}` joins the item's values).
    #[default]
    Single,
    /// `-n`, `-m`: `{}` becomes all the values, space-separated.
    Join,
    /// `-X`, `-N`: the word around `{}` is repeated for each value.
    Context,
}

/// The values a job renders with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values<'a> {
    /// All values of the job, in order (every item's columns, flattened).
    pub(crate) args: &'a [Vec<u8>],
    /// The job's sequence number (`{#}`).
    pub(crate) seq: u64,
    /// The job's slot (`{%}`).
    pub(crate) slot: usize,
    /// The number of jobs, once known (`{##}`).
    pub(crate) total: Option<u64>,
    /// What perl computed for this job.
    pub(crate) evaluated: Option<&'a Evaluated>,
}

impl<'a> Values<'a> {
    /// Values with nothing computed by perl.
    #[cfg(test)]
    pub(crate) fn plain(args: &'a [Vec<u8>], seq: u64, slot: usize) -> Values<'a> {
        Values {
            args,
            seq,
            slot,
            total: None,
            evaluated: None,
        }
    }
}

/// A rendered piece before quoting.
enum Piece<'v> {
    /// A word break (never quoted).
    Break,
    Bytes(Cow<'v, [u8]>),
}

impl Template {
    /// Renders the command line for a job.
    pub(crate) fn render(&self, values: Values<'_>, multi: Multi) -> Vec<u8> {
        self.render_tokens(&self.tokens, values, multi)
    }

    /// Renders the command line of a `--pipe` job that reads its block
    /// from standard input: a command with no replacement string gets
    /// nothing appended (GNU parallel appends `{}` only with `--cat` and
    /// `--fifo`), not even the word break before it, whether or not `-q`
    /// quotes the words.
    pub(crate) fn render_unappended(&self, values: Values<'_>, multi: Multi) -> Vec<u8> {
        let tokens = match self.tokens.as_slice() {
            [rest @ .., Token::Break, Token::Marker(_)] if self.appended => rest,
            [Token::Marker(_)] if self.appended => &[],
            all => all,
        };
        self.render_tokens(tokens, values, multi)
    }

    fn render_tokens(&self, tokens: &[Token], values: Values<'_>, multi: Multi) -> Vec<u8> {
        let ctx = self.context();
        let mut out = Vec::with_capacity(64);
        // Which use of a value each marker is (an expression's value may
        // change from one use to the next: see `plan.rs`).
        let mut seen = Seen::default();
        if !self.quote_words && multi != Multi::Context {
            // The common case, straight into the line.
            for token in tokens {
                match token {
                    Token::Break => out.push(b' '),
                    Token::Text(t) => out.extend_from_slice(t),
                    Token::Marker(m) => {
                        self.put_marker(ctx, *m, None, values, &mut seen, &mut out);
                    }
                }
            }
            return out;
        }
        let mut pieces: Vec<Piece<'_>> = Vec::new();
        if multi == Multi::Context {
            self.context_pieces(ctx, tokens, values, &mut seen, &mut pieces);
        } else {
            for token in tokens {
                match token {
                    Token::Break => pieces.push(Piece::Break),
                    Token::Text(t) => pieces.push(Piece::Bytes(Cow::Borrowed(t))),
                    // As in GNU parallel, a marker's values are words of
                    // their own (`-q`: `x{}y` of a and b is `xa by`), and
                    // one that is nothing (`-N0`) makes no word.
                    Token::Marker(m) if m.position.is_none() => {
                        for i in 0..values.args.len().max(1) {
                            if i > 0 {
                                pieces.push(Piece::Break);
                            }
                            let mut v = Vec::new();
                            if self.put_marker(ctx, *m, Some(i), values, &mut seen, &mut v) {
                                pieces.push(Piece::Bytes(Cow::Owned(v)));
                            }
                        }
                    }
                    Token::Marker(m) => {
                        let mut v = Vec::new();
                        if self.put_marker(ctx, *m, None, values, &mut seen, &mut v) {
                            pieces.push(Piece::Bytes(Cow::Owned(v)));
                        }
                    }
                }
            }
        }
        // Quote groups: what lies between word breaks.
        let mut group: Option<Vec<u8>> = None;
        let mut first = true;
        let mut end_group = |group: &mut Option<Vec<u8>>, out: &mut Vec<u8>| {
            if self.quote_words {
                if let Some(g) = group.take() {
                    if !first {
                        out.push(b' ');
                    }
                    push_quoted(out, &g);
                    first = false;
                }
            } else {
                if !first {
                    out.push(b' ');
                }
                out.extend_from_slice(group.take().as_deref().unwrap_or_default());
                first = false;
            }
        };
        for piece in pieces {
            match piece {
                Piece::Break => end_group(&mut group, &mut out),
                Piece::Bytes(b) => group.get_or_insert_with(Vec::new).extend_from_slice(&b),
            }
        }
        end_group(&mut group, &mut out);
        out
    }

    /// `-X`: words holding a marker are repeated per argument.
    fn context_pieces<'s>(
        &'s self,
        ctx: &Context,
        tokens: &'s [Token],
        values: Values<'_>,
        seen: &mut Seen,
        pieces: &mut Vec<Piece<'s>>,
    ) {
        let mut group: Vec<&Token> = Vec::new();
        let n_args = values.args.len().max(1);
        let mut flush = |group: &mut Vec<&'s Token>, pieces: &mut Vec<Piece<'s>>| {
            if group.iter().any(|t| matches!(t, Token::Marker(_))) {
                for i in 0..n_args {
                    let mut normal = false;
                    if i > 0 {
                        pieces.push(Piece::Break);
                    }
                    let mut word = Vec::new();
                    // Whether the word is something (not only markers
                    // that are nothing, as `-N0`'s `{}`).
                    let mut some = false;
                    for t in group.iter() {
                        match t {
                            Token::Marker(m) => {
                                if m.position.is_none() {
                                    normal = true;
                                }
                                some |= self.put_marker(ctx, *m, Some(i), values, seen, &mut word);
                            }
                            Token::Text(text) => {
                                some = true;
                                word.extend_from_slice(text);
                            }
                            Token::Break => {}
                        }
                    }
                    if some {
                        pieces.push(Piece::Bytes(Cow::Owned(word)));
                    }
                    if !normal {
                        break;
                    }
                }
            } else {
                for t in group.iter() {
                    if let Token::Text(text) = t {
                        pieces.push(Piece::Bytes(Cow::Borrowed(text)));
                    }
                }
            }
            group.clear();
        };
        for token in tokens {
            let separates = matches!(token, Token::Break) || matches!(token, Token::Text(t) if t == b" " || t == b"\t");
            if separates {
                flush(&mut group, pieces);
            }
            match token {
                Token::Break => pieces.push(Piece::Break),
                Token::Text(t) if t == b" " => pieces.push(Piece::Bytes(Cow::Borrowed(t))),
                _ => group.push(token),
            }
        }
        flush(&mut group, pieces);
    }

    /// Appends a marker's values: for its position, or for the argument
    /// `only` (`-X`), or for every argument, space-separated. Returns
    /// whether it is something (see [`Template::put_value`]).
    fn put_marker(
        &self,
        ctx: &Context,
        m: Marker,
        only: Option<usize>,
        values: Values<'_>,
        seen: &mut Seen,
        out: &mut Vec<u8>,
    ) -> bool {
        let args = values.args;
        let n = args.len();
        if n == 0 {
            // A `--pipe` job's appended `{}`: no argument at all.
            return false;
        }
        match m.position {
            Some(p) => {
                super::parse::arg_index(p, n).is_some_and(|index| self.put_value(ctx, m.expr, index, values, seen, out))
            }
            None => match only {
                Some(i) => self.put_value(ctx, m.expr, i.min(n - 1), values, seen, out),
                None => {
                    let mut some = false;
                    for i in 0..n {
                        if i > 0 {
                            out.push(b' ');
                        }
                        some |= self.put_value(ctx, m.expr, i, values, seen, out);
                    }
                    some
                }
            },
        }
    }

    /// Appends what expression `expr` makes of argument `arg`, unless it
    /// is exactly `-N0`'s `\0noarg`: that is nothing, as in GNU parallel
    /// (`false`).
    fn put_value(
        &self,
        ctx: &Context,
        expr: usize,
        arg: usize,
        values: Values<'_>,
        seen: &mut Seen,
        out: &mut Vec<u8>,
    ) -> bool {
        let (value, unquoted) = ctx.value_at(self.section, expr, arg, values, || seen.next(expr, arg));
        if *value == *super::NOARG {
            return false;
        }
        if self.quote_values && !unquoted {
            push_quoted(out, &value);
        } else {
            out.extend_from_slice(&value);
        }
        true
    }

    /// How GNU parallel measures this command against the line budget.
    pub(crate) fn shape(&self) -> Shape {
        let mut shape = Shape {
            quote: self.quote_values,
            ..Shape::default()
        };
        // `\S*{}\S*` around markers is context; all other text (blanks
        // included) and one space per word break is not.
        let blank = |t: &Token| matches!(t, Token::Text(b) if b.len() == 1 && is_perl_space(b[0]));
        for word in self.tokens.split(|t| matches!(t, Token::Break)) {
            for group in word.split(blank) {
                let text: usize = group
                    .iter()
                    .map(|t| match t {
                        Token::Text(t) => t.len(),
                        _ => 0,
                    })
                    .sum();
                let before = shape.markers.len();
                shape.markers.extend(group.iter().filter_map(|t| match t {
                    Token::Marker(m) => Some(*m),
                    _ => None,
                }));
                if shape.markers.len() > before {
                    shape.context += text;
                    shape.groups += 1;
                } else {
                    shape.noncontext += text;
                }
            }
        }
        let blanks = self
            .tokens
            .iter()
            .filter(|t| matches!(t, Token::Break) || blank(t))
            .count();
        shape.noncontext += blanks;
        shape
    }
}

/// A command template as GNU parallel's length accounting sees it
/// (`replacement_counts_and_lengths`, `CommandLine::len`): the length of
/// a line is a fixed part plus what each input record adds, whatever
/// the values turn out to be once rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Text not in a word with a marker, and the blanks between words.
    noncontext: usize,
    /// Text of the (blank-separated) words holding a marker.
    context: usize,
    /// How many such words.
    groups: usize,
    /// Every marker (its position `None`: all of a record's values).
    markers: Vec<Marker>,
    /// Values count shell-quoted.
    quote: bool,
}

impl Shape {
    /// The length of a line with no record (it may be less than nothing:
    /// the first record makes up for it).
    pub(crate) fn base(&self, multi: Multi) -> isize {
        let fixed = self.noncontext as isize;
        if multi == Multi::Context {
            // Each record repeats the context words, space-separated.
            fixed - self.groups as isize
        } else {
            // The context once; each marker's values space-separated.
            fixed + self.context as isize - self.markers.len() as isize
        }
    }

    /// Counts the markers of the run's other templates (`--tagstring`,
    /// `--results`, `--filter`, `--workdir`, `--template`, the remote
    /// file options) as GNU parallel does: each expression not in the
    /// command once more, by its values alone.
    pub(crate) fn count_also(&mut self, markers: impl IntoIterator<Item = Marker>) {
        // (In both formulas such a marker counts as one of the command's
        // outside the words around them.)
        for m in markers {
            if !self.markers.contains(&m) {
                self.markers.push(m);
            }
        }
    }

    /// `--tag` (GNU's `--tagstring {}`) and `--bar`: `{}` counts once
    /// more if the command has none.
    pub(crate) fn count_args_also(&mut self, ctx: &Context) {
        let is_args = |m: &Marker| {
            m.position.is_none()
                && ctx
                    .exprs
                    .get(m.expr)
                    .is_some_and(|e| e.native == Some(super::strings::Native::Value))
        };
        if !self.markers.iter().any(is_args) {
            // No expression of the run has this index: counted as the value.
            self.markers.push(Marker {
                position: None,
                expr: usize::MAX,
                zero: false,
            });
        }
    }

    /// What a record adds to a line it is the first record of:
    /// [`Shape::values_cost`] and [`Shape::per_value`] for each value.
    #[cfg(test)]
    pub(crate) fn cost(&self, record: &[Vec<u8>], multi: Multi, ctx: &Context, seq: u64) -> usize {
        self.values_cost(record, multi, ctx, seq, None) + record.len() * self.per_value(multi)
    }

    /// What a line's context words and blanks add for each value of a
    /// record, counted as GNU parallel's `CommandLine::len` counts them:
    /// as if every record had as many values as the line's first
    /// (`number_of_recargs`), whatever each has (`--colsep` rows of
    /// different widths).
    pub(crate) fn per_value(&self, multi: Multi) -> usize {
        match multi {
            _ if self.markers.is_empty() => 1,
            Multi::Context => self.context + self.groups,
            _ => self.markers.len(),
        }
    }

    /// What one more record's values add to a line: each marker's
    /// replacement (as GNU parallel computes it for each value pushed:
    /// `{.}` shorter than `{}`, `{#}` the job's number), where forkpool
    /// computes it; a perl expression as the value perl `measured`, else
    /// as the value it works on.
    pub(crate) fn values_cost(
        &self,
        record: &[Vec<u8>],
        multi: Multi,
        ctx: &Context,
        seq: u64,
        measured: Option<&super::Measured>,
    ) -> usize {
        let facts = JobFacts {
            seq,
            slot: 1,
            total: None,
            slots: ctx.slots,
        };
        let len = |expr: Option<usize>, i: usize| {
            let v = record[i].as_slice();
            let perl = || {
                expr.and_then(|e| measured?.get(e, i))
                    .map(|(v, u)| (Cow::Borrowed(v), u))
            };
            let (value, unquoted) = match expr.and_then(|e| ctx.native_value(e, v, &facts)).or_else(perl) {
                Some(known) => known,
                None => (Cow::Borrowed(v), false),
            };
            if self.quote && !unquoted {
                quoted_len(&value)
            } else {
                value.len()
            }
        };
        self.cost_with(record.len(), 0, multi, len)
    }

    /// GNU parallel's estimate of the length of the line of a job whose
    /// records have `widths` values (before `-q`'s and `--shellquote`'s
    /// scaling): [`Shape::base`] and each record's [`Shape::cost`], with
    /// the `values` the line is rendered with, perl's too, as GNU measures
    /// them. A record of several values (`--colsep`, several sources)
    /// counts its context words and blanks once per value, as GNU's
    /// `CommandLine::len` does, though they are rendered once, and every
    /// record as many of them as the first has (see [`Shape::per_value`]).
    pub(crate) fn job_len(
        &self,
        widths: impl IntoIterator<Item = usize>,
        multi: Multi,
        ctx: &Context,
        values: Values<'_>,
    ) -> usize {
        let mut len = self.base(multi);
        let mut first = 0;
        let mut width = None;
        for n in widths {
            let width = *width.get_or_insert(n);
            let value_len = |expr: Option<usize>, i: usize| {
                let arg = first + i;
                let (value, unquoted) = match expr.filter(|&e| e < ctx.exprs.len()) {
                    Some(e) => ctx.value(e, arg, values),
                    None => (
                        Cow::Borrowed(values.args.get(arg).map_or(&b""[..], Vec::as_slice)),
                        false,
                    ),
                };
                if self.quote && !unquoted {
                    quoted_len(&value)
                } else {
                    value.len()
                }
            };
            len = len.saturating_add_unsigned(self.cost_with(n, width, multi, value_len));
            first += n;
        }
        len.max(0).unsigned_abs()
    }

    /// What a record of `n` values adds to a line whose first record has
    /// `width` values, `len` giving the length of what expression `expr`
    /// (`None`: the value itself) makes of its `i`th value.
    fn cost_with(&self, n: usize, width: usize, multi: Multi, len: impl Fn(Option<usize>, usize) -> usize) -> usize {
        let blanks = width * self.per_value(multi);
        if self.markers.is_empty() {
            return (0..n).map(|i| len(None, i)).sum::<usize>() + blanks;
        }
        let values: usize = self
            .markers
            .iter()
            .map(|m| match m.position {
                Some(p) => super::parse::arg_index(p, n).map_or(0, |i| len(Some(m.expr), i)),
                None => (0..n).map(|i| len(Some(m.expr), i)).sum(),
            })
            .sum();
        values + blanks
    }
}

impl Context {
    /// The value of expression `expr` on `value` where it is computed here
    /// (not by perl), and whether it goes in unquoted.
    pub(crate) fn native_value<'v>(
        &self,
        expr: usize,
        value: &'v [u8],
        facts: &JobFacts,
    ) -> Option<(Cow<'v, [u8]>, bool)> {
        let value = self.trim.apply(value);
        let native = self.exprs.get(expr).and_then(|e| e.native)?;
        native
            .exact_for(value)
            .then(|| (native.apply(value, facts), native.unquoted()))
    }

    /// The value of an expression on argument `arg` (its first use in the
    /// command), and whether it goes in unquoted.
    pub(crate) fn value<'v>(&self, expr: usize, arg: usize, values: Values<'v>) -> (Cow<'v, [u8]>, bool) {
        self.value_at(0, expr, arg, values, || 0)
    }

    /// [`Context::value`] for a use in template `section`: perl's value
    /// for the `nth()` use of the expression on `arg` there.
    pub(crate) fn value_at<'v>(
        &self,
        section: usize,
        expr: usize,
        arg: usize,
        values: Values<'v>,
        nth: impl FnOnce() -> usize,
    ) -> (Cow<'v, [u8]>, bool) {
        let raw = values.args.get(arg).map_or(&b""[..], Vec::as_slice);
        let value = self.trim.apply(raw);
        if let Some(native) = self.exprs.get(expr).and_then(|e| e.native)
            && native.exact_for(value)
        {
            let facts = JobFacts {
                seq: values.seq,
                slot: values.slot,
                total: values.total,
                slots: self.slots,
            };
            return (native.apply(value, &facts), native.unquoted());
        }
        match values.evaluated.and_then(|e| e.get(section, expr, arg, nth())) {
            Some((v, unquoted)) => (Cow::Borrowed(v), unquoted),
            None => (Cow::Borrowed(b""), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(words: &[&str]) -> Shape {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        Template::plain(&words).shape()
    }

    /// A record's cost in `words`, on job 1.
    fn cost(words: &[&str], record: &[&str], multi: Multi) -> usize {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        let t = Template::plain(&words);
        let record: Vec<Vec<u8>> = record.iter().map(|v| v.as_bytes().to_vec()).collect();
        t.shape().cost(&record, multi, t.context(), 1)
    }

    #[test]
    fn one_word_commands_measure_as_their_words_would() {
        let one = shape(&["echo {}"]);
        assert_eq!(one, shape(&["echo", "{}"]));
        assert_eq!((one.noncontext, one.context, one.groups), (5, 0, 1));
        // `echo 12 12`: 4 + (2 + 1) per record.
        assert_eq!(one.base(Multi::Context), 4);
        assert_eq!(cost(&["echo {}"], &["12"], Multi::Context), 3);
        let around = shape(&["echo pre{}post {}"]);
        assert_eq!((around.context, around.groups), (7, 2));
        // `-X`: `pre12post 12` per record, after `echo` (the line `echo pre12post 12`).
        assert_eq!(cost(&["echo pre{}post {}"], &["12"], Multi::Context), 7 + 2 * 2 + 2);
        assert_eq!(around.base(Multi::Context), 6 - 2);
        // `-m`: `prepost` once, each marker's values space-separated.
        assert_eq!(around.base(Multi::Join), 6 + 7 - 2);
        assert_eq!(cost(&["echo pre{}post {}"], &["12"], Multi::Join), 2 * (2 + 1));
        assert_eq!(cost(&["echo {}"], &["a b"], Multi::Join), "'a b'".len() + 1);
        // What a string makes of the value, as GNU's length counts it.
        assert_eq!(cost(&["echo {.}"], &["d/f.txt"], Multi::Context), "d/f".len() + 1);
        assert_eq!(cost(&["echo {/}"], &["d/f.txt"], Multi::Join), "f.txt".len() + 1);
        assert_eq!(cost(&["echo {#}"], &["long value"], Multi::Join), "1".len() + 1);
    }

    #[test]
    fn a_record_of_several_values_counts_its_context_once_per_value() {
        // GNU's 16 for `echo a-b-c`, in every mode.
        let t = Template::plain(&[b"echo".to_vec(), b"{1}-{2}-{3}".to_vec()]);
        let args = [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        for multi in [Multi::Single, Multi::Join, Multi::Context] {
            let len = t.shape().job_len([3], multi, t.context(), Values::plain(&args, 1, 1));
            assert_eq!(len, 16, "{multi:?}");
        }
    }
}
