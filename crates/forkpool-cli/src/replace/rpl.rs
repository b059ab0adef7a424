//! The table of replacement strings, and how a command's text becomes
//! markers, as GNU parallel does it.
//!
//! Every replacement string is a *tag* standing for a perl expression:
//! `{.}` is `s:\.[^/.]*$::`, `{#}` is `1 $_=$job->seq()` (the leading `1 `
//! makes it positional: computed once, on the first argument). `--plus`
//! adds more, `-I`, `--er`, `--bnr`... rename them, `--rpl 'TAG CODE'`
//! adds or overrides one. A tag with a `(regex)` in it takes arguments:
//! `--rpl '{%(.+?)} s/$$1$//'` makes `{%.gz}` run `s/.gz$//`.
//!
//! Expanding a text (a command word, `--tagstring`, `--results`) turns
//! `{= code =}` and every tag into a *marker*: `\xAF<` code `\xAF>`, with
//! any `\xAF` of the text itself written `\xAF\xAE`. Longer tags go first
//! (a short tag may be part of a long one); text already inside a marker
//! is never touched again. A tag starting with `{` also has a positional
//! form: `{2.}` is `{.}` applied to the second argument (`\xAF<2code\xAF>`).

use regex::bytes::{Captures, Regex};

use super::parens::Parens;

/// Starts a marker.
pub(crate) const OPEN: &[u8] = b"\xAF<";
/// Ends a marker.
pub(crate) const CLOSE: &[u8] = b"\xAF>";
const ESCAPE: u8 = 0xAF;
const ESCAPED: &[u8] = b"\xAF\xAE";

/// GNU parallel's own strings (`%Global::replace`).
const BUILTIN: &[(&str, &str)] = &[
    ("{}", ""),
    ("{#}", "1 $_=$job->seq()"),
    ("{%}", "1 $_=$job->slot()"),
    ("{/}", "s:.*/::"),
    (
        "{//}",
        r#"$Global::use{"File::Basename"} ||= eval "use File::Basename; 1;"; $_ = dirname($_);"#,
    ),
    ("{/.}", r"s:.*/::; s:\.[^/.]*$::;"),
    ("{.}", r"s:\.[^/.]*$::"),
];

/// `--plus` (`%Global::plus`).
const PLUS: &[(&str, &str)] = &[
    ("{+/}", r"s:/[^/]*$:: || s:.*$::"),
    ("{+.}", r"s:.*\.:: || s:.*$::"),
    ("{+..}", r"s:.*\.([^/.]*\.[^/.]*)$:$1: || s:.*$::"),
    ("{+...}", r"s:.*\.([^/.]*\.[^/.]*\.[^/.]*)$:$1: || s:.*$::"),
    ("{..}", r"s:\.[^/.]*\.[^/.]*$::"),
    ("{...}", r"s:\.[^/.]*\.[^/.]*\.[^/.]*$::"),
    ("{/..}", r"s:.*/::; s:\.[^/.]*\.[^/.]*$::"),
    ("{/...}", r"s:.*/::; s:\.[^/.]*\.[^/.]*\.[^/.]*$::"),
    (
        "{choose_k}",
        "for $t (2..$#arg){ if($arg[$t-1] ge $arg[$t]) { skip() } }",
    ),
    ("{uniq}", "if(::uniq(@arg) != @arg) { skip(); }"),
    ("{##}", "1 $_=total_jobs()"),
    (
        "{0%}",
        r#"1 $f=1+int((log($Global::max_jobs_running||1)/log(10)));$_=sprintf("%0${f}d",slot())"#,
    ),
    (
        "{0#}",
        r#"1 $f=1+int((log(total_jobs())/log(10)));$_=sprintf("%0${f}d",seq())"#,
    ),
    ("{:-([^}]+?)}", "$_ ||= $$1"),
    (r"{:(\d+?)}", r#"substr($_,0,$$1) = """#),
    (r"{:(\d+?):(\d+?)}", "$_ = substr($_,$$1,$$2);"),
    (
        "{#([^#}][^}]*?)}",
        "$nongreedy=::make_regexp_ungreedy($$1);s/^$nongreedy(.*)/$1/;",
    ),
    ("{##([^#}][^}]*?)}", "s/^$$1//;"),
    (
        "{%([^}]+?)}",
        "$nongreedy=::make_regexp_ungreedy($$1);s/(.*)$nongreedy$/$1/;",
    ),
    ("{%%([^}]+?)}", "s/$$1$//;"),
    ("{/([^#%}/]+?)/([^}]*?)}", "s/$$1/$$2/;"),
    ("{/#([^}]+?)/([^}]*?)}", "s/^$$1/$$2/g;"),
    ("{/%([^}]+?)/([^}]*?)}", "s/$$1$/$$2/g;"),
    ("{//([^}]+?)/([^}]*?)}", "s/$$1/$$2/g;"),
    ("{^([^}]+?)}", "s/^($$1)/uc($1)/e;"),
    ("{^^([^}]+?)}", "s/($$1)/uc($1)/eg;"),
    ("{,([^}]+?)}", "s/^($$1)/lc($1)/e;"),
    ("{,,([^}]+?)}", "s/($$1)/lc($1)/eg;"),
    ("{slot}", r#"1 $_="\${PARALLEL_JOBSLOT}";uq()"#),
    ("{host}", r#"1 $_="\${PARALLEL_SSHHOST}";uq()"#),
    ("{sshlogin}", r#"1 $_="\${PARALLEL_SSHLOGIN}";uq()"#),
    ("{hgrp}", r#"1 $_="\${PARALLEL_HOSTGROUPS}";uq()"#),
    ("{agrp}", r#"1 $_="\${PARALLEL_ARGHOSTGROUPS}";uq()"#),
];

/// What defines the table: the options that change it.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableOptions {
    pub(crate) plus: bool,
    /// `-I`: replaces `{}`.
    pub(crate) replace: Option<Vec<u8>>,
    /// `--er`: replaces `{.}`.
    pub(crate) extension: Option<Vec<u8>>,
    /// `--bnr`: replaces `{/}`.
    pub(crate) basename: Option<Vec<u8>>,
    /// `--dnr`: replaces `{//}`.
    pub(crate) dirname: Option<Vec<u8>>,
    /// `--bner`: replaces `{/.}`.
    pub(crate) basename_extension: Option<Vec<u8>>,
    /// `--seqreplace`: replaces `{#}`.
    pub(crate) seq: Option<Vec<u8>>,
    /// `--slotreplace`: replaces `{%}`.
    pub(crate) slot: Option<Vec<u8>>,
    /// `--rpl 'TAG CODE'`, in order.
    pub(crate) rpl: Vec<Vec<u8>>,
    /// `--parens`: the left and right parenthesis of `{= =}`.
    pub(crate) parens: Option<Vec<u8>>,
}

/// One replacement string: its tag, split where it takes arguments.
///
/// Its regular expressions are compiled when a text could hold the tag
/// (it holds the tag's literal part): compiling the forty of `--plus`
/// for every run cost several milliseconds of start-up. A `--rpl` tag's
/// are compiled at once, so that a bad one is an error before any job.
#[derive(Debug, Clone)]
struct Entry {
    code: Vec<u8>,
    /// Finds the tag outside markers; group 1 is what precedes it.
    plain: Lazy,
    /// The positional form (`{2.}`), for tags starting with `{`; group 2 is
    /// the position.
    positional: Option<Lazy>,
    /// A `--rpl` tag's option as typed (`--rpl '{U} s/(/'`), for messages.
    origin: Option<Vec<u8>>,
}

/// A marker's content (unescaped), and what the user typed for it, for
/// messages: a `{= =}` as typed, parentheses and all; a `--rpl` tag's
/// option (`--rpl '{U} s/(/'`); another tag as it stands (`{/(/x}`).
pub(crate) type Typed = (Vec<u8>, Vec<u8>);

/// A regular expression compiled on first use, and the literal bytes
/// every match of it holds (no match is possible in a text without them).
///
/// Its source, too, is written only when it is compiled: a run builds the
/// whole table (sixteen tags, two expressions each, with `--plus` forty)
/// at every start, and most runs use one or two of them.
#[derive(Debug, Clone)]
struct Lazy {
    needle: Vec<u8>,
    source: Source,
    compiled: std::sync::OnceLock<Option<Regex>>,
}

/// What a tag's expression is made of (see [`Source::text`]).
#[derive(Debug, Clone)]
struct Source {
    /// `{N` before the rest: the positional form.
    positional: bool,
    /// Literal text, then the tag's own group (a regular expression), then
    /// literal text again.
    before: Vec<u8>,
    group: String,
    after: Vec<u8>,
}

impl Source {
    /// The regular expression: what may come before a tag (`OUTSIDE`),
    /// then the tag.
    fn text(&self) -> String {
        let literal = |b: &[u8]| regex::escape(&String::from_utf8_lossy(b));
        let (before, group, after) = (literal(&self.before), &self.group, literal(&self.after));
        if self.positional {
            format!(r"(?s-u){OUTSIDE}\{{(-?\d+)\s*{before}{group}{after}")
        } else {
            format!("(?s-u){OUTSIDE}{before}{group}{after}")
        }
    }
}

impl Lazy {
    fn new(needle: &[u8], source: Source) -> Lazy {
        Lazy {
            needle: needle.to_vec(),
            source,
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// The expression, if `text` could match it.
    fn for_text(&self, text: &[u8]) -> Option<&Regex> {
        if !self.needle.is_empty() && find(text, &self.needle).is_none() {
            return None;
        }
        self.compiled
            .get_or_init(|| Regex::new(&self.source.text()).ok())
            .as_ref()
    }
}

/// The replacement strings in force, and the `{= =}` parentheses.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Longest tag first.
    entries: Vec<Entry>,
    parens: Parens,
}

/// Matches from the start or the end of a marker, across text that is not
/// a marker, lazily: what a tag must be preceded by.
const OUTSIDE: &str = r"((?:^|\xAF>)(?:[^\xAF]|\xAF[^<>])*?)";

impl Table {
    /// The table these options make, or what is wrong with an option.
    pub(crate) fn new(options: &TableOptions) -> Result<Table, String> {
        let mut table: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let set = |table: &mut Vec<(Vec<u8>, Vec<u8>)>, tag: &[u8], code: &[u8]| match table
            .iter_mut()
            .find(|(t, _)| t == tag)
        {
            Some(entry) => entry.1 = code.to_vec(),
            None => table.push((tag.to_vec(), code.to_vec())),
        };
        if options.plus {
            for (tag, code) in PLUS {
                set(&mut table, tag.as_bytes(), code.as_bytes());
            }
        }
        for (tag, code) in BUILTIN {
            set(&mut table, tag.as_bytes(), code.as_bytes());
        }
        let renames = [
            ("{}", &options.replace),
            ("{.}", &options.extension),
            ("{/}", &options.basename),
            ("{//}", &options.dirname),
            ("{#}", &options.seq),
            ("{%}", &options.slot),
            ("{/.}", &options.basename_extension),
        ];
        for (old, new) in renames {
            let Some(new) = new else { continue };
            if new.as_slice() == old.as_bytes() {
                continue;
            }
            if new.is_empty() {
                return Err(format!("the replacement string for {old} cannot be empty"));
            }
            if let Some(i) = table.iter().position(|(t, _)| t == old.as_bytes()) {
                let (_, code) = table.remove(i);
                set(&mut table, new, &code);
            }
        }
        for rpl in &options.rpl {
            let (tag, code) = match rpl.iter().position(u8::is_ascii_whitespace) {
                Some(i) => (&rpl[..i], &rpl[i + 1..]),
                None => (&rpl[..], &b""[..]),
            };
            if tag.is_empty() {
                return Err(format!(
                    "--rpl '{}': expected a tag, a blank, then a perl expression",
                    String::from_utf8_lossy(rpl)
                ));
            }
            set(&mut table, tag, code);
        }
        let parens = Parens::new(options.parens.as_deref())?;
        // Longest first; equally long ones in table order.
        table.sort_by_key(|(tag, _)| std::cmp::Reverse(tag.len()));
        let entries = table
            .into_iter()
            .map(|(tag, code)| {
                // The last `--rpl` of a tag is the one in force.
                let rpl = options
                    .rpl
                    .iter()
                    .rfind(|r| r.split(u8::is_ascii_whitespace).next() == Some(&tag[..]));
                Entry::new(tag, code, rpl.map(Vec::as_slice))
            })
            .collect::<Result<_, _>>()?;
        Ok(Table { entries, parens })
    }

    /// Turns `{= =}` and every tag in `text` into markers.
    pub(crate) fn expand(&self, text: &[u8]) -> Vec<u8> {
        self.expand_typed(text).0
    }

    /// [`Table::expand`], and what the user typed for each marker.
    pub(crate) fn expand_typed(&self, text: &[u8]) -> (Vec<u8>, Vec<Typed>) {
        let mut typed: Vec<Typed> = (self.parens.typed(text).into_iter())
            .map(|(held, span)| (held.to_vec(), span.to_vec()))
            .collect();
        let mut out = escape(text);
        out = self.parens.mark(&out);
        for entry in &self.entries {
            out = entry.replace_all(&out, &mut typed);
        }
        (out, typed)
    }

    /// Joins command words so that a `{= ... =}` split over several words
    /// is one (GNU parallel's `merge_rpl_parts`).
    pub(crate) fn merge_words(&self, words: &[Vec<u8>]) -> Vec<Vec<u8>> {
        self.parens.merge_words(words)
    }

    /// Where `expanded` opens a `{=` it never closes (see
    /// [`Parens::unclosed`]).
    pub(crate) fn unclosed_perl(&self, expanded: &[u8]) -> Option<usize> {
        self.parens.unclosed(expanded)
    }

    /// The left parenthesis (`{=`).
    pub(crate) fn left(&self) -> &[u8] {
        &self.parens.left
    }

    /// The right parenthesis (`=}`).
    pub(crate) fn right(&self) -> &[u8] {
        &self.parens.right
    }
}

impl Entry {
    /// The entry for `tag`; `rpl`: the `--rpl` it comes from, if one: its
    /// expressions are compiled now, to report a bad one.
    fn new(tag: Vec<u8>, code: Vec<u8>, rpl: Option<&[u8]>) -> Result<Entry, String> {
        let check = rpl.is_some();
        let show = || String::from_utf8_lossy(&tag).into_owned();
        // prefix: up to the first `(`; group: from it to the last `)`;
        // postfix: the rest, without `)`.
        let (prefix, group, postfix) = match tag.iter().position(|&b| b == b'(') {
            None => {
                if tag.contains(&b')') {
                    return Err(format!("--rpl '{}': unmatched ')' in the tag", show()));
                }
                (&tag[..], &b""[..], &b""[..])
            }
            Some(open) => match tag.iter().rposition(|&b| b == b')') {
                Some(close) if close > open => (&tag[..open], &tag[open..=close], &tag[close + 1..]),
                _ => {
                    // No group: the `(` is part of the postfix, as in GNU.
                    (&tag[..open], &b""[..], &tag[open..])
                }
            },
        };
        let group = std::str::from_utf8(group).map_err(|_| format!("--rpl '{}': the tag is not UTF-8", show()))?;
        let group_re = if group.is_empty() {
            String::new()
        } else {
            without_blanks(group)
        };
        let compile = |needle: &[u8], source: Source| -> Result<Lazy, String> {
            let lazy = Lazy::new(needle, source);
            if !check {
                return Ok(lazy);
            }
            let compiled = Regex::new(&lazy.source.text()).map_err(|e| {
                let reason = e.to_string();
                let reason = reason
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .trim_start_matches("error: ");
                format!(
                    "--rpl '{}': the regular expression in the tag is invalid: {reason}",
                    show()
                )
            })?;
            let _ = lazy.compiled.set(Some(compiled));
            Ok(lazy)
        };
        let source = |positional: bool, before: &[u8]| Source {
            positional,
            before: before.to_vec(),
            group: group_re.clone(),
            after: postfix.to_vec(),
        };
        let plain = compile(prefix, source(false, prefix))?;
        let positional = match prefix.strip_prefix(b"{") {
            Some(rest) => Some(compile(if rest.is_empty() { b"{" } else { rest }, source(true, rest))?),
            None => None,
        };
        if prefix.is_empty() && group.is_empty() && postfix.is_empty() {
            return Err(format!("--rpl '{}': the tag matches nothing", show()));
        }
        Ok(Entry {
            code,
            plain,
            positional,
            origin: rpl.map(|r| format!("--rpl '{}'", String::from_utf8_lossy(r)).into_bytes()),
        })
    }

    /// Replaces every occurrence of the tag, then of its positional form,
    /// noting what was typed for each marker in `typed`.
    fn replace_all(&self, text: &[u8], typed: &mut Vec<Typed>) -> Vec<u8> {
        let mut mark = |caps: &Captures<'_>, position: Option<&[u8]>, first_group: usize| {
            let before = caps.get(1).map_or(&b""[..], |m| m.as_bytes());
            let tag = caps.get(0).map_or(&b""[..], |m| &m.as_bytes()[before.len()..]);
            let content = self.content(caps, position, first_group);
            let origin = self.origin.clone().unwrap_or_else(|| unescape(tag));
            typed.push((unescape(&content), origin));
            [before, OPEN, &content, CLOSE].concat()
        };
        let mut out = text.to_vec();
        if let Some(plain) = self.plain.for_text(&out) {
            out = replace_loop(plain, &out, |caps| mark(caps, None, 2));
        }
        if let Some(positional) = self.positional.as_ref().and_then(|p| p.for_text(&out)) {
            out = replace_loop(positional, &out, |caps| {
                mark(caps, caps.get(2).map(|m| m.as_bytes()), 3)
            });
        }
        out
    }

    /// What the marker for one occurrence holds: the code, with `$$N`
    /// reading the tag's argument N (set first, perl-quoted).
    fn content(&self, caps: &Captures<'_>, position: Option<&[u8]>, first_group: usize) -> Vec<u8> {
        let mut m = position.map(<[u8]>::to_vec).unwrap_or_default();
        let mut k = 1;
        while let Some(arg) = caps.get(first_group + k - 1) {
            m.extend_from_slice(format!("$_pAr_gRp{k} = \"").as_bytes());
            for &b in arg.as_bytes() {
                if matches!(b, b'\\' | b'"' | b'$' | b'@') {
                    m.push(b'\\');
                }
                m.push(b);
            }
            m.extend_from_slice(b"\";");
            k += 1;
        }
        m.extend_from_slice(&group_references(&self.code));
        m
    }
}

/// GNU parallel puts the tag's regular expression in an `/x` pattern:
/// blanks outside character classes (and not escaped) do not count.
fn without_blanks(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let (mut escaped, mut in_class) = (false, false);
    for c in re.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if in_class {
            in_class = c != ']';
        } else if c == '[' {
            in_class = true;
        } else if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// `$$1` → `$_pAr_gRp1` in a tag's code.
fn group_references(code: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(code.len());
    let mut i = 0;
    while i < code.len() {
        if code[i..].starts_with(b"$$") && code.get(i + 2).is_some_and(u8::is_ascii_digit) {
            out.extend_from_slice(b"$_pAr_gRp");
            i += 2;
            continue;
        }
        out.push(code[i]);
        i += 1;
    }
    out
}

/// `while (s/re/.../g) {}` with the replacement from `make`.
fn replace_loop(re: &Regex, text: &[u8], mut make: impl FnMut(&Captures<'_>) -> Vec<u8>) -> Vec<u8> {
    let mut out = text.to_vec();
    // Each pass marks at least one occurrence; text inside a marker never
    // matches again, so this ends. The bound guards a tag that could
    // match an empty string.
    for _ in 0..100_000 {
        let Some(caps) = re.captures(&out) else { break };
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        let replacement = make(&caps);
        let mut next = out[..whole.start].to_vec();
        next.extend_from_slice(&replacement);
        next.extend_from_slice(&out[whole.end..]);
        out = next;
    }
    out
}

fn escape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        if b == ESCAPE {
            out.extend_from_slice(ESCAPED);
        } else {
            out.push(b);
        }
    }
    out
}

/// Undoes the escaping of `\xAF` in text outside markers.
pub(crate) fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(ESCAPED) {
            out.push(ESCAPE);
            i += 2;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &[u8]) -> String {
        String::from_utf8_lossy(v).replace('\u{FFFD}', "#")
    }

    fn expand(options: &TableOptions, text: &str) -> String {
        let table = Table::new(options).unwrap();
        let out = table.expand(text.as_bytes());
        let mut s = Vec::new();
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(OPEN) {
                s.push(b'<');
                i += 2;
            } else if out[i..].starts_with(CLOSE) {
                s.push(b'>');
                i += 2;
            } else {
                s.push(out[i]);
                i += 1;
            }
        }
        show(&s)
    }

    #[test]
    fn tags_become_markers() {
        let o = TableOptions::default();
        assert_eq!(expand(&o, "a{}b"), "a<>b");
        assert_eq!(expand(&o, "{.}{2/}{-1}"), r"<s:\.[^/.]*$::><2s:.*/::><-1>");
        assert_eq!(expand(&o, "{#}"), "<1 $_=$job->seq()>");
        assert_eq!(expand(&o, "{= s/{}/x/ =}{}"), "< s/{}/x/ ><>");
        assert_eq!(expand(&o, "awk {print} {1,2}"), "awk {print} {1,2}");
        assert_eq!(expand(&o, "{0}"), "<0>");
    }

    #[test]
    fn plus_strings_take_arguments() {
        let o = TableOptions {
            plus: true,
            ..TableOptions::default()
        };
        assert_eq!(
            expand(&o, "{%.gz}"),
            r#"<$_pAr_gRp1 = ".gz";$nongreedy=::make_regexp_ungreedy($_pAr_gRp1);s/(.*)$nongreedy$/$1/;>"#
        );
        assert_eq!(expand(&o, "{2:-x}"), r#"<2$_pAr_gRp1 = "x";$_ ||= $_pAr_gRp1>"#);
        assert_eq!(
            expand(&o, "{/a/$b}"),
            r#"<$_pAr_gRp1 = "a";$_pAr_gRp2 = "\$b";s/$_pAr_gRp1/$_pAr_gRp2/;>"#
        );
        assert_eq!(expand(&o, "{..}"), r"<s:\.[^/.]*\.[^/.]*$::>");
    }

    #[test]
    fn renames_and_rpl() {
        let o = TableOptions {
            replace: Some(b"X".to_vec()),
            rpl: vec![b"{odd} $_ = seq() % 2".to_vec(), b"{.} s/a/b/".to_vec()],
            ..TableOptions::default()
        };
        assert_eq!(
            expand(&o, "X {} {1} {1.} {odd} {.}"),
            "<> {} {1} <1s/a/b/> <$_ = seq() % 2> <s/a/b/>"
        );
        let bad = TableOptions {
            rpl: vec![b"{x([)} s/a/b/".to_vec()],
            ..TableOptions::default()
        };
        assert!(Table::new(&bad).unwrap_err().contains("--rpl"));
        let empty = TableOptions {
            rpl: vec![b" s/a/b/".to_vec()],
            ..TableOptions::default()
        };
        assert!(Table::new(&empty).is_err());
    }

    #[test]
    fn perl_expressions_merge_across_words_and_lines() {
        let table = Table::new(&TableOptions::default()).unwrap();
        let words: Vec<Vec<u8>> = ["echo", "{=", "s/a/b/", "=}", "x"]
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        let merged = table.merge_words(&words);
        assert_eq!(merged, [b"echo".to_vec(), b"{= s/a/b/ =}".to_vec(), b"x".to_vec()]);
        // A pair may span lines (GNU's `/s`): nothing to merge.
        let lines = [b"{= s/a/b/\n=}".to_vec(), b"x".to_vec()];
        assert_eq!(table.merge_words(&lines), lines);
        // With `--parens aa` the last `a` closes the pair.
        let aa = Table::new(&TableOptions {
            parens: Some(b"aa".to_vec()),
            ..TableOptions::default()
        })
        .unwrap();
        let words = [b"xaa".to_vec(), b"a s/x/y/ a".to_vec(), b"y".to_vec()];
        assert_eq!(aa.merge_words(&words), words);
        let open = [b"a".to_vec(), b"y".to_vec(), b"a".to_vec()];
        assert_eq!(aa.merge_words(&open), [b"a y a".to_vec()]);
        assert_eq!(expand(&TableOptions::default(), "{=\ns/a/b/\n=}x"), "<\ns/a/b/\n>x");
        let parens = TableOptions {
            parens: Some(b",,,,".to_vec()),
            ..TableOptions::default()
        };
        assert_eq!(expand(&parens, "foo,,s/I/O/g,,"), "foo<s/I/O/g>");
        // An odd length: the left one is the shorter half. One byte: no
        // left one, and every right one is an empty expression.
        let odd = |parens: &str, text: &str| {
            let options = TableOptions {
                parens: Some(parens.as_bytes().to_vec()),
                ..TableOptions::default()
            };
            let table = Table::new(&options).unwrap();
            assert_eq!(
                table.merge_words(&[text.as_bytes().to_vec()]),
                [text.as_bytes().to_vec()]
            );
            assert_eq!(table.unclosed_perl(&table.expand(text.as_bytes())), None);
            expand(&options, text)
        };
        assert_eq!(odd(",", "a,b,"), "a<>b<>");
        assert_eq!(odd("abc", "abca s/x/y/ bc"), "<>< s/x/y/ >");
        assert_eq!(odd("<<=>>", "x<<= 1 =>>"), "x<= 1 >");
        let open = table.expand(b"echo {= s/a/b/");
        assert_eq!(table.unclosed_perl(&open), Some(5));
    }
}
