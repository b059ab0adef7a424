//! From the command's words to a [`Template`]: tokens of text, word breaks
//! and markers, as GNU parallel's `replace_placeholders` sees them.

use super::rpl::{CLOSE, OPEN, Table, Typed, find, unescape};
use super::strings::Native;

/// Error in a command template: reported before any job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One distinct expression: the code of a marker, without its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expr {
    /// The perl code (what `{= =}` held, or a tag's code).
    pub(crate) code: Vec<u8>,
    /// Computed here when it is one of the built-in strings.
    pub(crate) native: Option<Native>,
    /// What the user typed, for messages, where it was first seen: a
    /// `{= =}` parentheses and all (`[[= s/a/ =]]` with `--parens
    /// '[[]]'`), a `--rpl` tag's option (`--rpl '{U} s/(/'`), another
    /// tag as it stands (`{/(/x}`).
    pub(crate) typed: Option<Vec<u8>>,
}

/// Every distinct expression of a run, numbered in order of appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Exprs {
    pub(crate) list: Vec<Expr>,
}

impl Exprs {
    /// The number of the expression `code`, with the user's text `typed`
    /// if it has none yet.
    fn intern(&mut self, code: &[u8], typed: Option<&[u8]>) -> usize {
        let i = match self.list.iter().position(|e| e.code == code) {
            Some(i) => i,
            None => {
                self.list.push(Expr {
                    code: code.to_vec(),
                    native: Native::of(code),
                    typed: None,
                });
                self.list.len() - 1
            }
        };
        let expr = &mut self.list[i];
        if expr.typed.is_none() {
            expr.typed = typed.map(<[u8]>::to_vec);
        }
        i
    }
}

/// A marker: an expression, on every argument or on one (`{2.}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    /// 1-based; negative counts from the end; `Some(0)` (from `-0`) is
    /// past the end. `None`: every argument.
    pub(crate) position: Option<i64>,
    pub(crate) expr: usize,
    /// A perl expression typed `{=0 code=}`: used on every argument, but
    /// GNU parallel measures the line with it on each record's last value
    /// (`$1-1`), as a replacement string of its own.
    pub(crate) zero: bool,
}

/// The argument a position picks among `n`, as GNU parallel's
/// `$args[$p > 0 ? $p-1 : $n+$p]` does: a negative index past the first
/// counts again from the end, as Perl's arrays do (`{-4}` of three
/// arguments is the last); anything further picks nothing.
pub(crate) fn arg_index(position: i64, n: usize) -> Option<usize> {
    let n = n as i64;
    let mut i = if position > 0 { position - 1 } else { n + position };
    if i < 0 {
        i += n;
    }
    (0..n).contains(&i).then_some(i as usize)
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Between two command words: a space never quoted.
    Break,
    /// Text (one blank character, or a run of other bytes).
    Text(Vec<u8>),
    Marker(Marker),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) tokens: Vec<Token>,
    /// `-q`: each command word is quoted whole after substitution.
    pub(crate) quote_words: bool,
    /// Values are shell-quoted as they go in (not when the command starts
    /// with a replacement string, nor with `-q`, nor in text templates).
    pub(crate) quote_values: bool,
    pub(crate) has_repl: bool,
    /// A command without a replacement string of its own: `{}` was
    /// appended (with `--pipe` and no argument, GNU appends nothing).
    pub(crate) appended: bool,
    /// What the run's templates share (set once they are all parsed).
    pub(crate) ctx: Option<std::sync::Arc<super::Context>>,
    /// Its place among the run's templates (the command is 0): where its
    /// values are in a job's [`super::Evaluated`].
    pub(crate) section: usize,
}

/// The context of a template not attached to a run's.
static NO_CONTEXT: super::Context = super::Context::empty();

/// How to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The command: `{}` is appended when it has no replacement string.
    Command { quote_words: bool },
    /// `--tagstring`, `--results`: text, unquoted, nothing appended.
    Text,
}

impl Template {
    /// Parses `words` with the replacement strings of `table`, adding
    /// their expressions to `exprs`.
    pub(crate) fn parse(
        words: &[Vec<u8>],
        kind: Kind,
        table: &Table,
        exprs: &mut Exprs,
    ) -> Result<Template, TemplateError> {
        Template::parse_in(words, kind, "the command template", table, exprs)
    }

    /// [`Template::parse`], with `place` (`--tagstring`, `the command
    /// template`) naming where the words come from in its messages.
    pub(crate) fn parse_in(
        words: &[Vec<u8>],
        kind: Kind,
        place: &str,
        table: &Table,
        exprs: &mut Exprs,
    ) -> Result<Template, TemplateError> {
        let words = match kind {
            Kind::Command { .. } => table.merge_words(words),
            Kind::Text => words.to_vec(),
        };
        let mut expanded: Vec<Vec<u8>> = Vec::with_capacity(words.len());
        let mut typed: Vec<Vec<Typed>> = Vec::with_capacity(words.len());
        for word in &words {
            let (e, typed_here) = table.expand_typed(word);
            if let Some(at) = table.unclosed_perl(&e) {
                let typed = as_typed(table, word, &e[at..]);
                let shown = String::from_utf8_lossy(typed).trim_end().to_owned();
                let left = String::from_utf8_lossy(table.left());
                // `{= "{=" =}`: an expression cannot hold a left
                // parenthesis (GNU's scan takes the last one before `=}`).
                let inner = typed
                    .get(table.left().len()..)
                    .is_some_and(|rest| find(rest, table.left()).is_some());
                return Err(TemplateError(format!(
                    "unmatched '{left}' in {place}: '{shown}' needs a closing '{}'{}",
                    String::from_utf8_lossy(table.right()),
                    if inner {
                        format!(" before the next '{left}'")
                    } else {
                        String::new()
                    }
                )));
            }
            check_unclosed_braces(&e, place)?;
            expanded.push(e);
            typed.push(typed_here);
        }
        let has_repl = expanded.iter().any(|w| find(w, OPEN).is_some());
        let quote_words = matches!(kind, Kind::Command { quote_words: true });
        if matches!(kind, Kind::Command { .. }) && !has_repl {
            // No replacement string: the arguments go at the end.
            let mut all = OPEN.to_vec();
            all.extend_from_slice(CLOSE);
            expanded.push(all);
        }
        // `"@command" =~ /^[^ \t\n=]*\xAF</`: a command that starts with a
        // replacement string is the command itself, unquoted.
        let joined = expanded.join(&b' ');
        let raw = joined
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\n' | b'='))
            .map_or(joined.as_slice(), |end| &joined[..end]);
        let starts_with_marker = find(raw, OPEN).is_some();
        let quote_values = matches!(kind, Kind::Command { quote_words: false }) && !starts_with_marker;
        let mut tokens = Vec::new();
        for (i, word) in expanded.iter().enumerate() {
            if i > 0 {
                tokens.push(Token::Break);
            }
            if word.is_empty() {
                tokens.push(Token::Text(Vec::new()));
                continue;
            }
            // (The `{}` appended to a command is no word of the user's.)
            tokenize(word, typed.get(i).map_or(&[][..], Vec::as_slice), exprs, &mut tokens);
        }
        Ok(Template {
            tokens,
            quote_words,
            quote_values,
            has_repl: has_repl || matches!(kind, Kind::Command { .. }),
            appended: matches!(kind, Kind::Command { .. }) && !has_repl,
            ctx: None,
            section: 0,
        })
    }

    /// The run's shared context.
    pub(crate) fn context(&self) -> &super::Context {
        self.ctx.as_deref().unwrap_or(&NO_CONTEXT)
    }

    /// A command template with the default replacement strings and its
    /// own context (for tests and callers without options).
    #[cfg(test)]
    pub(crate) fn plain(words: &[Vec<u8>]) -> Template {
        let table = Table::new(&super::TableOptions::default()).expect("the default table");
        let mut exprs = Exprs::default();
        let mut t =
            Template::parse(words, Kind::Command { quote_words: false }, &table, &mut exprs).expect("a valid template");
        let walks = vec![super::plan::Walk::of(&t, false)];
        t.ctx = Some(std::sync::Arc::new(super::Context::new(
            exprs.list,
            super::Trim::None,
            1,
            walks,
        )));
        t
    }

    /// Whether the text had a replacement string of its own.
    pub(crate) fn has_replacements(&self) -> bool {
        self.has_repl
    }

    /// The markers, in order.
    pub(crate) fn markers(&self) -> impl Iterator<Item = Marker> + '_ {
        self.tokens.iter().filter_map(|t| match t {
            Token::Marker(m) => Some(*m),
            _ => None,
        })
    }
}

/// A replacement string left open, `{1`, `{.`, `{3/` at the end of a word:
/// almost always a typo; GNU parallel runs it as text, we refuse it.
fn check_unclosed_braces(expanded: &[u8], place: &str) -> Result<(), TemplateError> {
    let mut i = 0;
    while i < expanded.len() {
        if expanded[i..].starts_with(OPEN) {
            i += find(&expanded[i..], CLOSE).map_or(expanded.len(), |e| e + CLOSE.len());
            continue;
        }
        if expanded[i] == b'{' {
            let body = &expanded[i + 1..];
            let prefix = if matches!(body.first(), Some(b'#' | b'%')) {
                1
            } else {
                let sign = usize::from(body.first() == Some(&b'-'));
                let digits = body[sign..].iter().take_while(|b| b.is_ascii_digit()).count();
                if sign == 1 && digits == 0 {
                    0
                } else {
                    let rest = &body[sign + digits..];
                    sign + digits + rest.iter().take_while(|&&b| b == b'.' || b == b'/').count().min(2)
                }
            };
            if prefix > 0 && body.get(prefix).is_none_or(u8::is_ascii_whitespace) {
                let shown = String::from_utf8_lossy(&expanded[i..i + 1 + prefix]).into_owned();
                return Err(TemplateError(format!(
                    "unmatched '{{' in {place}: '{shown}' needs a closing '}}'"
                )));
            }
        }
        i += 1;
    }
    Ok(())
}

/// The end of the user's `word` that `expanded_tail` (the end of the word
/// as expanded, with its markers) came from, for a message: the markers'
/// bytes and code are ours, not what the user typed. The whole word if no
/// end of it expands so.
fn as_typed<'a>(table: &Table, word: &'a [u8], expanded_tail: &[u8]) -> &'a [u8] {
    (0..word.len())
        .map(|j| &word[j..])
        .find(|tail| table.expand(tail) == expanded_tail)
        .unwrap_or(word)
}

/// Splits a word into markers and text, the text into blanks and the rest.
/// `typed`: what the user typed for each of the word's markers (see
/// `Table::expand_typed`).
fn tokenize(word: &[u8], typed: &[Typed], exprs: &mut Exprs, tokens: &mut Vec<Token>) {
    let mut i = 0;
    let mut text = Vec::new();
    let flush_text = |text: &mut Vec<u8>, tokens: &mut Vec<Token>| {
        if text.is_empty() {
            return;
        }
        let raw = unescape(&std::mem::take(text));
        // Each blank is a token of its own (`split /(?=\s)|(?<=\s)/`).
        let mut run = Vec::new();
        for &b in &raw {
            if is_perl_space(b) {
                if !run.is_empty() {
                    tokens.push(Token::Text(std::mem::take(&mut run)));
                }
                tokens.push(Token::Text(vec![b]));
            } else {
                run.push(b);
            }
        }
        if !run.is_empty() {
            tokens.push(Token::Text(run));
        }
    };
    while i < word.len() {
        if word[i..].starts_with(OPEN)
            && let Some(len) = find(&word[i + OPEN.len()..], CLOSE)
        {
            flush_text(&mut text, tokens);
            let content = unescape(&word[i + OPEN.len()..i + OPEN.len() + len]);
            let typed = typed
                .iter()
                .find(|(held, _)| *held == content)
                .map(|(_, t)| t.as_slice());
            tokens.push(Token::Marker(marker(&content, typed, exprs)));
            i += OPEN.len() + len + CLOSE.len();
            continue;
        }
        text.push(word[i]);
        i += 1;
    }
    flush_text(&mut text, tokens);
}

/// Perl's `\s`.
pub(crate) fn is_perl_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `(-?\d+)?(.*)`, then the code loses `^(-?\d+)? *` (again, as in GNU).
/// `typed`: the user's text it came from, if in parentheses.
fn marker(content: &[u8], typed: Option<&[u8]>, exprs: &mut Exprs) -> Marker {
    let (position, rest) = leading_number(content);
    let (_, code) = leading_number(rest);
    let code = &code[code.iter().take_while(|&&b| b == b' ').count()..];
    let zero = position == Some(b"0");
    let position = position.and_then(|p| {
        if p == b"0" {
            // `if($1)`: "0" is false in perl: every argument.
            return None;
        }
        std::str::from_utf8(p).ok()?.parse::<i64>().ok().or(Some(i64::MAX))
    });
    let expr = exprs.intern(code, typed);
    Marker {
        position,
        expr,
        zero: zero && exprs.list[expr].native.is_none(),
    }
}

fn leading_number(s: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let sign = usize::from(s.first() == Some(&b'-'));
    let digits = s[sign..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        (None, s)
    } else {
        (Some(&s[..sign + digits]), &s[sign + digits..])
    }
}

#[cfg(test)]
mod tests {
    use super::super::rpl::TableOptions;
    use super::*;

    fn parse(words: &[&str], kind: Kind) -> (Template, Exprs) {
        let table = Table::new(&TableOptions::default()).unwrap();
        let mut exprs = Exprs::default();
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        (Template::parse(&words, kind, &table, &mut exprs).unwrap(), exprs)
    }

    #[test]
    fn markers_positions_and_quoting() {
        let cmd = Kind::Command { quote_words: false };
        let (t, exprs) = parse(&["echo", "{2.}x", "{}"], cmd);
        assert!(t.quote_values);
        let markers: Vec<Marker> = t.markers().collect();
        assert_eq!(markers[0].position, Some(2));
        assert_eq!(exprs.list[markers[0].expr].native, Some(Native::NoExt(1)));
        assert_eq!(markers[1].position, None);
        let (raw, _) = parse(&["my_{}", "x"], cmd);
        assert!(!raw.quote_values, "the command starts with a replacement string");
        let (v, _) = parse(&["V={}"], cmd);
        assert!(v.quote_values);
        let (appended, _) = parse(&["echo"], cmd);
        assert_eq!(
            appended.tokens.last(),
            Some(&Token::Marker(Marker {
                position: None,
                expr: 0,
                zero: false,
            }))
        );
    }

    #[test]
    fn open_strings_are_errors() {
        let table = Table::new(&TableOptions::default()).unwrap();
        for bad in ["echo {1", "echo {.", "echo {3/ x", "echo {#", "echo {= $_"] {
            let words: Vec<Vec<u8>> = bad.split(' ').map(|w| w.as_bytes().to_vec()).collect();
            let r = Template::parse(
                &words,
                Kind::Command { quote_words: false },
                &table,
                &mut Exprs::default(),
            );
            assert!(r.is_err(), "{bad:?} was accepted");
        }
        for good in ["awk {print}", "echo ${HOME} {-}", "{ echo a; }", "echo {1,2}"] {
            let words: Vec<Vec<u8>> = good.split(' ').map(|w| w.as_bytes().to_vec()).collect();
            let r = Template::parse(
                &words,
                Kind::Command { quote_words: false },
                &table,
                &mut Exprs::default(),
            );
            assert!(r.is_ok(), "{good:?} was refused");
        }
    }
}
