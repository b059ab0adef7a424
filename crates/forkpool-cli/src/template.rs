//! Command templates and GNU parallel's replacement strings.
//!
//! A template is the command with its replacement strings: `{}` (the
//! input), `{.}` (without extension), `{/}` (basename), `{//}` (dirname),
//! `{/.}` (basename without extension), `{#}` (job sequence number), `{%}`
//! (job slot), and the positional `{n}` with the same suffixes (`{2/.}`),
//! `n` counting from the end when negative. With `--header`, a column name
//! works like its position (`{name}`).
//!
//! Values are shell-quoted as they are put in, unless the command starts
//! with a replacement string (then it *is* the command). A template without
//! any replacement string gets the arguments appended.

use std::fmt;

/// Error in a command template: reported before any job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a replacement string does to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// `{}`
    None,
    /// `{.}`: without the extension.
    NoExt,
    /// `{/}`: the basename.
    Base,
    /// `{//}`: the dirname.
    Dir,
    /// `{/.}`: the basename without the extension.
    BaseNoExt,
}

impl Transform {
    /// Applies the transform to one value.
    pub(crate) fn apply<'a>(self, value: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        use std::borrow::Cow;
        match self {
            Transform::None => Cow::Borrowed(value),
            Transform::NoExt => Cow::Borrowed(no_ext(value)),
            Transform::Base => Cow::Borrowed(base(value)),
            Transform::Dir => dir(value),
            Transform::BaseNoExt => Cow::Borrowed(no_ext(base(value))),
        }
    }
}

/// Removes a final `.ext` (a dot followed by neither `/` nor `.`).
fn no_ext(v: &[u8]) -> &[u8] {
    match v.iter().rposition(|&b| b == b'.' || b == b'/') {
        Some(i) if v[i] == b'.' => &v[..i],
        _ => v,
    }
}

/// Everything after the last `/`.
fn base(v: &[u8]) -> &[u8] {
    match v.iter().rposition(|&b| b == b'/') {
        Some(i) => &v[i + 1..],
        None => v,
    }
}

/// `dirname(1)`.
fn dir(v: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let trimmed = trim_slashes(v);
    if trimmed.is_empty() {
        return Cow::Borrowed(if v.is_empty() { b"." } else { b"/" });
    }
    match trimmed.iter().rposition(|&b| b == b'/') {
        None => Cow::Borrowed(b"."),
        Some(i) => {
            let parent = trim_slashes(&trimmed[..i]);
            Cow::Borrowed(if parent.is_empty() { b"/" } else { parent })
        }
    }
}

fn trim_slashes(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    &v[..end]
}

/// One replacement string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repl {
    /// `{}` and its transforms: the whole input.
    All(Transform),
    /// `{n}` (1-based; negative from the end) and its transforms.
    Position(i64, Transform),
    /// `{#}`
    Seq,
    /// `{%}`
    Slot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Repl(Repl),
}

/// A word of the template (no whitespace inside), or the whitespace
/// between words.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Space(Vec<u8>),
    Word(Vec<Piece>),
}

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

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Vec<Segment>,
    /// `-q`: the command's own words, each quoted after substitution.
    quote_words: bool,
    /// The command starts with a replacement string: nothing is quoted.
    raw: bool,
    has_repl: bool,
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
}

impl Template {
    /// Parses the command words. `names` maps `--header` column names to
    /// their (1-based) positions.
    pub(crate) fn parse(
        words: &[Vec<u8>],
        quote_words: bool,
        names: &[(Vec<u8>, i64)],
    ) -> Result<Template, TemplateError> {
        Template::parse_replacing(words, quote_words, names, b"{}")
    }

    /// Like [`parse`](Template::parse), with `replace` standing for the
    /// whole input instead of `{}` (`-I`); `{}` is then plain text.
    pub(crate) fn parse_replacing(
        words: &[Vec<u8>],
        quote_words: bool,
        names: &[(Vec<u8>, i64)],
        replace: &[u8],
    ) -> Result<Template, TemplateError> {
        let parse_pieces = |word: &[u8]| parse_pieces(word, names, replace);
        let mut segments = Vec::new();
        if quote_words {
            // Each command word stays one word, whatever it contains.
            for (i, word) in words.iter().enumerate() {
                if i > 0 {
                    segments.push(Segment::Space(b" ".to_vec()));
                }
                segments.push(Segment::Word(parse_pieces(word)?));
            }
        } else {
            let joined = words.join(&b' ');
            let mut rest = &joined[..];
            while !rest.is_empty() {
                let is_space = |b: &u8| b.is_ascii_whitespace();
                let n = if is_space(&rest[0]) {
                    rest.iter().position(|b| !is_space(b)).unwrap_or(rest.len())
                } else {
                    word_len(rest)
                };
                let (head, tail) = rest.split_at(n);
                if is_space(&head[0]) {
                    segments.push(Segment::Space(head.to_vec()));
                } else {
                    segments.push(Segment::Word(parse_pieces(head)?));
                }
                rest = tail;
            }
        }
        let has_repl = segments
            .iter()
            .any(|s| matches!(s, Segment::Word(p) if p.iter().any(|p| matches!(p, Piece::Repl(_)))));
        let raw = !quote_words
            && matches!(segments.first(), Some(Segment::Word(p)) if matches!(p.first(), Some(Piece::Repl(_))));
        Ok(Template {
            segments,
            quote_words,
            raw,
            has_repl,
        })
    }

    /// Parses a template for text that is not run (`--tagstring`,
    /// `--results`): no quoting, nothing appended.
    pub(crate) fn parse_text(text: &[u8], names: &[(Vec<u8>, i64)], replace: &[u8]) -> Result<Template, TemplateError> {
        let mut t = Template::parse_replacing(&[text.to_vec()], true, names, replace)?;
        t.raw = true;
        t.quote_words = false;
        t.has_repl = true;
        Ok(t)
    }

    /// Whether the template uses any replacement string.
    pub(crate) fn has_replacements(&self) -> bool {
        self.has_repl
    }

    /// Renders the command line for a job.
    pub(crate) fn render(&self, values: Values<'_>, multi: Multi) -> Vec<u8> {
        let quote = !self.raw && !self.quote_words;
        let mut out = Vec::with_capacity(64);
        for segment in &self.segments {
            match segment {
                Segment::Space(s) => out.extend_from_slice(s),
                Segment::Word(pieces) => {
                    let context =
                        multi == Multi::Context && pieces.iter().any(|p| matches!(p, Piece::Repl(Repl::All(_))));
                    if context {
                        // The word once per value, space-separated.
                        for (i, arg) in values.args.iter().enumerate() {
                            if i > 0 {
                                out.push(b' ');
                            }
                            let one = Values {
                                args: std::slice::from_ref(arg),
                                ..values
                            };
                            self.render_word(pieces, one, values, quote, &mut out);
                        }
                    } else {
                        self.render_word(pieces, values, values, quote, &mut out);
                    }
                }
            }
        }
        if !self.has_repl {
            // No replacement string: the arguments go at the end.
            out.push(b' ');
            for (i, arg) in values.args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                push_quoted(&mut out, arg);
            }
        }
        out
    }

    /// `all` provides `{}`; `job` provides positions, `{#}` and `{%}`.
    fn render_word(&self, pieces: &[Piece], all: Values<'_>, job: Values<'_>, quote: bool, out: &mut Vec<u8>) {
        let mut word = Vec::new();
        let target: &mut Vec<u8> = if self.quote_words { &mut word } else { out };
        for piece in pieces {
            match piece {
                Piece::Text(t) => target.extend_from_slice(t),
                Piece::Repl(Repl::Seq) => target.extend_from_slice(job.seq.to_string().as_bytes()),
                Piece::Repl(Repl::Slot) => target.extend_from_slice(job.slot.to_string().as_bytes()),
                Piece::Repl(Repl::All(t)) => {
                    for (i, arg) in all.args.iter().enumerate() {
                        if i > 0 {
                            target.push(b' ');
                        }
                        put(target, &t.apply(arg), quote);
                    }
                }
                Piece::Repl(Repl::Position(n, t)) => {
                    let len = job.args.len() as i64;
                    let index = if *n > 0 { n - 1 } else { len + n };
                    if (0..len).contains(&index) {
                        put(target, &t.apply(&job.args[index as usize]), quote);
                    }
                }
            }
        }
        if self.quote_words {
            push_quoted(out, &word);
        }
    }

    /// Bytes one more value adds to a rendered command, for filling command
    /// lines with `-X`/`-m`.
    pub(crate) fn cost_per_value(&self, value: &[u8], multi: Multi) -> usize {
        // Values are quoted one by one, unless `-q` quotes whole words
        // (then GNU parallel counts them unquoted) or the command is raw.
        let quoted = if self.raw || self.quote_words {
            value.len()
        } else {
            quoted_len(value)
        };
        let mut cost = 0;
        let mut uses = 0;
        for segment in &self.segments {
            if let Segment::Word(pieces) = segment {
                let alls = pieces.iter().filter(|p| matches!(p, Piece::Repl(Repl::All(_)))).count();
                if alls == 0 {
                    continue;
                }
                uses += alls;
                if multi == Multi::Context {
                    let text: usize = pieces
                        .iter()
                        .map(|p| match p {
                            Piece::Text(t) => t.len(),
                            _ => 0,
                        })
                        .sum();
                    cost += text + alls * quoted + 1;
                } else {
                    cost += alls * (quoted + 1);
                }
            }
        }
        if uses == 0 { quoted + 1 } else { cost }
    }
}

/// Length of the word starting `rest`: up to whitespace, but a
/// replacement string is never split.
fn word_len(rest: &[u8]) -> usize {
    rest.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(rest.len())
}

fn put(out: &mut Vec<u8>, value: &[u8], quote: bool) {
    if quote {
        push_quoted(out, value);
    } else {
        out.extend_from_slice(value);
    }
}

fn parse_pieces(word: &[u8], names: &[(Vec<u8>, i64)], replace: &[u8]) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    let custom = replace != b"{}";
    while i < word.len() {
        let rest = &word[i..];
        let found = if custom && rest.starts_with(replace) {
            Some((Repl::All(Transform::None), replace.len()))
        } else if custom && (rest.starts_with(b"{}") || rest.get(1).is_some_and(|&b| b.is_ascii_digit() || b == b'-')) {
            // `-I` took the place of `{}` and of the positional strings
            // (as in GNU parallel): here they are text.
            None
        } else if word[i] == b'{' {
            parse_repl(rest, names)?
        } else {
            None
        };
        if let Some((repl, len)) = found {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Repl(repl));
            i += len;
            continue;
        }
        text.push(word[i]);
        i += 1;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Parses a replacement string at the start of `s` (which starts with
/// `{`). `Ok(None)` means the brace is literal text.
fn parse_repl(s: &[u8], names: &[(Vec<u8>, i64)]) -> Result<Option<(Repl, usize)>, TemplateError> {
    let show = |n: usize| String::from_utf8_lossy(&s[..n.min(s.len())]).into_owned();
    if s.starts_with(b"{=") {
        return Err(TemplateError(format!(
            "perl replacement strings like {} are not supported",
            show(s.iter().position(|&b| b == b'}').map_or(s.len(), |p| p + 1))
        )));
    }
    // Named columns first: `{name}`, `{name.}`, `{name/}` ...
    for (name, position) in names {
        if let Some(after) = s[1..].strip_prefix(name.as_slice())
            && let Some((t, len)) = parse_transform_end(after)
        {
            return Ok(Some((Repl::Position(*position, t), 1 + name.len() + len)));
        }
    }
    let body = &s[1..];
    // `{#}` and `{%}`.
    if body.starts_with(b"#}") {
        return Ok(Some((Repl::Seq, 3)));
    }
    if body.starts_with(b"%}") {
        return Ok(Some((Repl::Slot, 3)));
    }
    if matches!(body, [b'#' | b'%'] | [b'#' | b'%', b' ' | b'\t' | b'\n', ..]) {
        return Err(TemplateError(format!(
            "unmatched '{{' in the command template: '{}' needs a closing '}}'",
            show(2)
        )));
    }
    // `{n...}` or `{...}`.
    let mut k = 0;
    if body.first() == Some(&b'-') {
        k = 1;
    }
    let digits_start = k;
    while body.get(k).is_some_and(u8::is_ascii_digit) {
        k += 1;
    }
    let has_number = k > digits_start;
    if k > 0 && !has_number {
        // A lone `{-`: not a replacement string.
        return Ok(None);
    }
    let position = has_number
        .then(|| std::str::from_utf8(&body[..k]).ok()?.parse::<i64>().ok())
        .flatten();
    if has_number && matches!(position, None | Some(0)) {
        return Ok(None);
    }
    match parse_transform_end(&body[k..]) {
        Some((t, len)) => {
            let repl = match position {
                Some(n) => Repl::Position(n, t),
                None => Repl::All(t),
            };
            Ok(Some((repl, 1 + k + len)))
        }
        None => {
            // Looks like the start of one but never closes before the word
            // ends: `{1`, `{.`, `{3/`.
            let prefix_len = k + transform_prefix_len(&body[k..]);
            let ends_word = body.get(prefix_len).is_none_or(u8::is_ascii_whitespace);
            if prefix_len > 0 && ends_word {
                Err(TemplateError(format!(
                    "unmatched '{{' in the command template: '{}' needs a closing '}}'",
                    show(1 + prefix_len)
                )))
            } else {
                Ok(None)
            }
        }
    }
}

/// `}`, `.}`, `/}`, `//}` or `/.}`: the transform and the bytes it takes.
fn parse_transform_end(s: &[u8]) -> Option<(Transform, usize)> {
    for (text, t) in [
        (&b"}"[..], Transform::None),
        (b".}", Transform::NoExt),
        (b"/}", Transform::Base),
        (b"//}", Transform::Dir),
        (b"/.}", Transform::BaseNoExt),
    ] {
        if s.starts_with(text) {
            return Some((t, text.len()));
        }
    }
    None
}

fn transform_prefix_len(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| b == b'.' || b == b'/').count().min(2)
}

/// Whether `value` can go into a shell command without quotes.
fn is_plain(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/'))
}

/// Appends `value` shell-quoted the way GNU parallel quotes: as is when it
/// only has `[-_.+a-zA-Z0-9/]`, `''` when empty, otherwise in single quotes
/// with each `'` written as `'"'"'`.
pub(crate) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
    if is_plain(value) {
        out.extend_from_slice(value);
        return;
    }
    if value.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    let start = out.len();
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\"'\"'");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    // Drop the empty '' GNU parallel also drops at either end.
    if out[start..].starts_with(b"''") {
        out.drain(start..start + 2);
    }
    if out[start..].ends_with(b"''") && out.len() - start >= 2 {
        out.truncate(out.len() - 2);
    }
}

fn quoted_len(value: &[u8]) -> usize {
    if is_plain(value) {
        value.len()
    } else if value.is_empty() {
        2
    } else {
        // The `''` that a leading or trailing `'` leaves is dropped.
        let ends = usize::from(value.first() == Some(&b'\'')) + usize::from(value.last() == Some(&b'\''));
        value.len() + 2 + 4 * value.iter().filter(|&&b| b == b'\'').count() - 2 * ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_quoted(&mut out, value);
        out
    }

    fn words(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    fn args(values: &[&str]) -> Vec<Vec<u8>> {
        values.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    fn render(template: &str, values: &[&str], multi: Multi) -> String {
        let t = Template::parse(&words(template), false, &[]).unwrap();
        let args = args(values);
        String::from_utf8(t.render(
            Values {
                args: &args,
                seq: 7,
                slot: 2,
            },
            multi,
        ))
        .unwrap()
    }

    #[test]
    fn a_custom_replace_string_takes_the_place_of_braces() {
        let t = Template::parse_replacing(&words("mv X X.bak {}"), false, &[], b"X").unwrap();
        let args = [b"a b".to_vec()];
        let values = Values {
            args: &args,
            seq: 1,
            slot: 1,
        };
        assert_eq!(t.render(values, Multi::Single), b"mv 'a b' 'a b'.bak {}".to_vec());
        let t = Template::parse_replacing(&words("echo X {1} {.}"), false, &[], b"X").unwrap();
        assert_eq!(t.render(values, Multi::Single), b"echo 'a b' {1} 'a b'".to_vec());
        assert!(t.has_replacements(), "nothing is appended");
    }

    #[test]
    fn quoting_matches_gnu_parallel() {
        let q = |s: &str| String::from_utf8(quoted(s.as_bytes())).unwrap();
        assert_eq!(q("A_Z-0.9+/"), "A_Z-0.9+/");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("c'd"), "'c'\"'\"'d'");
        assert_eq!(q("'a"), "\"'\"'a'");
        assert_eq!(q("a'"), "'a'\"'\"");
        assert_eq!(q(""), "''");
        assert_eq!(q("*"), "'*'");
        assert_eq!(q("a=b"), "'a=b'");
        assert_eq!(q("-x"), "-x");
    }

    #[test]
    fn transforms() {
        let t = |t: Transform, v: &str| String::from_utf8(t.apply(v.as_bytes()).into_owned()).unwrap();
        assert_eq!(t(Transform::NoExt, "/a/b.c/d.tar.gz"), "/a/b.c/d.tar");
        assert_eq!(t(Transform::NoExt, "sub.dir/bar"), "sub.dir/bar");
        assert_eq!(t(Transform::NoExt, "x.y"), "x");
        assert_eq!(t(Transform::Base, "/a/b.c/d.tar.gz"), "d.tar.gz");
        assert_eq!(t(Transform::Dir, "/a/b.c/d.tar.gz"), "/a/b.c");
        assert_eq!(t(Transform::Dir, "x.y"), ".");
        assert_eq!(t(Transform::Dir, "/root"), "/");
        assert_eq!(t(Transform::Dir, "a/b/"), "a");
        assert_eq!(t(Transform::BaseNoExt, "/a/b.c/d.tar.gz"), "d.tar");
        assert_eq!(t(Transform::BaseNoExt, "nodot"), "nodot");
    }

    #[test]
    fn single_jobs() {
        assert_eq!(
            render("echo {} {.} {/} {//} {/.}", &["d/x.y"], Multi::Single),
            "echo d/x.y d/x x.y d x"
        );
        assert_eq!(render("echo {#}-{%}", &["a"], Multi::Single), "echo 7-2");
        assert_eq!(render("echo pre", &["a", "b c"], Multi::Single), "echo pre a 'b c'");
        assert_eq!(render("echo [{}]", &["a b", "c"], Multi::Single), "echo ['a b' c]");
        assert_eq!(
            render("echo {2} {1} {-1} {3}", &["a", "b"], Multi::Single),
            "echo b a b "
        );
        assert_eq!(render("{} x", &["echo a;b"], Multi::Single), "echo a;b x");
    }

    #[test]
    fn multi_value_jobs() {
        assert_eq!(render("echo x{}y", &["a", "b"], Multi::Join), "echo xa by");
        assert_eq!(render("echo x{}y", &["a", "b"], Multi::Context), "echo xay xby");
        assert_eq!(
            render("echo x{}y {1}", &["a b", "c"], Multi::Context),
            "echo x'a b'y xcy 'a b'"
        );
        assert_eq!(render("echo", &[], Multi::Join), "echo ");
    }

    #[test]
    fn quoted_commands_keep_their_words() {
        let t = Template::parse(&[b"echo".to_vec(), b"a b".to_vec(), b"{}".to_vec()], true, &[]).unwrap();
        let a = args(&["c d"]);
        let line = t.render(
            Values {
                args: &a,
                seq: 1,
                slot: 1,
            },
            Multi::Single,
        );
        assert_eq!(line, b"echo 'a b' 'c d'");
    }

    #[test]
    fn literal_braces_stay_and_unmatched_ones_are_errors() {
        assert_eq!(
            render("awk {print} {1,2}", &["f"], Multi::Single),
            "awk {print} {1,2} f"
        );
        assert_eq!(render("{ echo a; } {}", &["b"], Multi::Single), "{ echo a; } b");
        assert_eq!(render("echo ${HOME} {-}", &["z"], Multi::Single), "echo ${HOME} {-} z");
        for bad in ["echo {1", "echo {.", "echo {3/ x", "echo {#", "echo {=$_=}"] {
            assert!(
                Template::parse(&words(bad), false, &[]).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn header_names_are_positions() {
        let names = vec![(b"file".to_vec(), 2)];
        let t = Template::parse(&words("gzip {file} {file.}"), false, &names).unwrap();
        let a = args(&["x", "y.gz"]);
        let line = t.render(
            Values {
                args: &a,
                seq: 1,
                slot: 1,
            },
            Multi::Single,
        );
        assert_eq!(line, b"gzip y.gz y");
    }
}
