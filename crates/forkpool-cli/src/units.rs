//! Numbers with GNU parallel's units: durations (`1.5`, `30s`, `2m`,
//! `1h30m`, `1d`) and sizes (`512M` = 512 × 2^20, `512m` = 512 × 10^6).

use std::time::Duration;

/// Parses a duration: seconds, optionally with units s, m, h, d, which may
/// be combined (`1h30m`).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    let mut number = String::new();
    let mut saw_unit = false;
    for c in text.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            's' | 'm' | 'h' | 'd' => {
                let value: f64 = number.parse().ok()?;
                let scale = match c {
                    's' => 1.0,
                    'm' => 60.0,
                    'h' => 3600.0,
                    _ => 86_400.0,
                };
                total += value * scale;
                number.clear();
                saw_unit = true;
            }
            _ => return None,
        }
    }
    if !number.is_empty() {
        total += number.parse::<f64>().ok()?;
    } else if !saw_unit {
        return None;
    }
    // `try_`: a duration too long to represent is refused, not a panic.
    (total >= 0.0)
        .then(|| Duration::try_from_secs_f64(total).ok())
        .flatten()
}

/// Parses a size in bytes: a number, optionally followed by K M G T P
/// (powers of 1024) or k m g t p (powers of 1000).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, scale) = match text.chars().last()? {
        'K' => (&text[..text.len() - 1], 1u64 << 10),
        'M' => (&text[..text.len() - 1], 1 << 20),
        'G' => (&text[..text.len() - 1], 1 << 30),
        'T' => (&text[..text.len() - 1], 1 << 40),
        'P' => (&text[..text.len() - 1], 1 << 50),
        'k' => (&text[..text.len() - 1], 1_000),
        'm' => (&text[..text.len() - 1], 1_000_000),
        'g' => (&text[..text.len() - 1], 1_000_000_000),
        't' => (&text[..text.len() - 1], 1_000_000_000_000),
        'p' => (&text[..text.len() - 1], 1_000_000_000_000_000),
        _ => (text, 1),
    };
    let value: f64 = digits.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((value * scale as f64) as u64)
}

/// What GNU parallel makes of a count (`-n`, `-N`, `-L`, `-l`): its
/// `multiply_binary_prefix` writes each unit letter as a product (`2k` is
/// `2*1000`, `1Ki` `1*1024`, and so `1e1` is `1*1000^6`, `0x10` a product
/// of 0), then Perl's `eval` reads the text as an expression. This reads
/// the expressions a number makes: Perl's numbers (`1_0`, `.5`, `5.`,
/// octal `010`, binary `0b11`) with `+ - * /` and parentheses. `None`
/// for any other text (GNU reads most as 0, some as nothing).
pub(crate) fn perl_count(text: &str) -> Option<f64> {
    const UNITS: [(char, &str, &str); 9] = [
        ('k', "*1024", "*1000"),
        ('m', "*1024*1024", "*1000*1000"),
        ('g', "*1024*1024*1024", "*1000*1000*1000"),
        ('t', "*1024*1024*1024*1024", "*1000*1000*1000*1000"),
        ('p', "*1024*1024*1024*1024*1024", "*1000*1000*1000*1000*1000"),
        ('e', "*1024*1024*1024*1024*1024*1024", "*1000*1000*1000*1000*1000*1000"),
        (
            'z',
            "*1024*1024*1024*1024*1024*1024*1024",
            "*1000*1000*1000*1000*1000*1000*1000",
        ),
        (
            'y',
            "*1024*1024*1024*1024*1024*1024*1024*1024",
            "*1000*1000*1000*1000*1000*1000*1000*1000",
        ),
        (
            'x',
            "*1024*1024*1024*1024*1024*1024*1024*1024*1024",
            "*1000*1000*1000*1000*1000*1000*1000*1000*1000",
        ),
    ];
    let mut text = text.to_owned();
    // `s/ki/*1024/gi` and so on first, then `s/K/*1024/g`, then `s/k/*1000/g`.
    for (letter, binary, _) in UNITS {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c.eq_ignore_ascii_case(&letter) && chars.peek().is_some_and(|i| i.eq_ignore_ascii_case(&'i')) {
                chars.next();
                out.push_str(binary);
            } else {
                out.push(c);
            }
        }
        text = out;
    }
    for (letter, binary, _) in UNITS {
        text = text.replace(letter.to_ascii_uppercase(), binary);
    }
    for (letter, _, decimal) in UNITS {
        text = text.replace(letter, decimal);
    }
    let mut expression = Expression {
        text: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = expression.sum()?;
    expression.blanks();
    (expression.at == text.len() && value.is_finite()).then_some(value)
}

/// A Perl arithmetic expression of numbers, read left to right.
struct Expression<'t> {
    text: &'t [u8],
    at: usize,
    /// Signs and parentheses open around the term being read: a count
    /// nested deeper than [`Expression::DEEPEST`] is refused rather than
    /// read by a recursion as deep as the argument is long.
    depth: usize,
}

impl Expression<'_> {
    const DEEPEST: usize = 100;

    fn blanks(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// The next byte after blanks, taken if it is one of `ops`.
    fn operator(&mut self, ops: &[u8]) -> Option<u8> {
        self.blanks();
        let op = *self.text.get(self.at).filter(|b| ops.contains(b))?;
        // `**` is a power: not read here.
        if op == b'*' && self.text.get(self.at + 1) == Some(&b'*') {
            return None;
        }
        self.at += 1;
        Some(op)
    }

    fn sum(&mut self) -> Option<f64> {
        let mut value = self.product()?;
        while let Some(op) = self.operator(b"+-") {
            let next = self.product()?;
            value = if op == b'+' { value + next } else { value - next };
        }
        Some(value)
    }

    fn product(&mut self) -> Option<f64> {
        let mut value = self.unary()?;
        while let Some(op) = self.operator(b"*/") {
            let next = self.unary()?;
            value = match op {
                b'*' => value * next,
                // Perl dies dividing by zero: the eval gives nothing.
                _ if next == 0.0 => return None,
                _ => value / next,
            };
        }
        Some(value)
    }

    fn unary(&mut self) -> Option<f64> {
        self.depth += 1;
        let value = self.signed();
        self.depth -= 1;
        value
    }

    fn signed(&mut self) -> Option<f64> {
        if self.depth > Self::DEEPEST {
            return None;
        }
        match self.operator(b"+-(") {
            Some(b'+') => self.unary(),
            // `--1` is Perl's decrement, not two signs.
            Some(b'-') if self.text.get(self.at) == Some(&b'-') => None,
            Some(b'-') => self.unary().map(|v| -v),
            Some(_) => {
                let value = self.sum()?;
                self.operator(b")")?;
                Some(value)
            }
            None => self.number(),
        }
    }

    /// A Perl numeric literal: decimal (`_` between digits), `0b` binary,
    /// or octal (a leading `0`).
    fn number(&mut self) -> Option<f64> {
        let rest = &self.text[self.at..];
        if !rest.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
            return None;
        }
        let run = |b: &[u8], ok: fn(&u8) -> bool| b.iter().take_while(|c| ok(c) || **c == b'_').count();
        if let Some(bits) = rest.strip_prefix(b"0b") {
            let n = run(bits, |c| matches!(c, b'0' | b'1'));
            self.at += 2 + n;
            return radix(&bits[..n], 2);
        }
        let whole = run(rest, u8::is_ascii_digit);
        if whole > 1 && rest[0] == b'0' && rest.get(whole) != Some(&b'.') {
            self.at += whole;
            return radix(&rest[..whole], 8);
        }
        let mut end = whole;
        if rest.get(end) == Some(&b'.') {
            end += 1 + run(&rest[end + 1..], u8::is_ascii_digit);
        }
        let digits: String = rest[..end]
            .iter()
            .filter(|&&c| c != b'_')
            .map(|&c| char::from(c))
            .collect();
        if !digits.bytes().any(|c| c.is_ascii_digit()) || rest.get(end) == Some(&b'.') {
            return None;
        }
        self.at += end;
        digits.parse().ok()
    }
}

/// `digits` (with `_`s) in base `radix`, as Perl reads them; `None` if
/// one is not a digit of that base.
fn radix(digits: &[u8], radix: u32) -> Option<f64> {
    digits.iter().filter(|&&c| c != b'_').try_fold(0.0, |n, &c| {
        Some(n * f64::from(radix) + f64::from(char::from(c).to_digit(radix)?))
    })
}

/// The values a job gets for a count GNU parallel reads as the number
/// `n` (see [`perl_count`]): it adds values until there are `n` or more,
/// so a fraction rounds up and a negative number is one; 0 is none.
pub(crate) fn values_per_job(n: f64) -> usize {
    match n {
        0.0 => 0,
        n if n < 0.0 => 1,
        // Saturates for the huge (`1e1` is 10^19).
        n => n.ceil() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_what_perl_makes_of_gnu_parallels_units() {
        for (text, n) in [
            ("2", 2.0),
            ("1.5", 1.5),
            ("-1", -1.0),
            ("+2", 2.0),
            (" 2 ", 2.0),
            ("1_0", 10.0),
            ("10_", 10.0),
            ("1__0", 10.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("010", 8.0),
            ("0_7", 7.0),
            ("0b101", 5.0),
            ("2k", 2000.0),
            ("1K", 1024.0),
            ("1ki", 1024.0),
            ("0.5k", 500.0),
            ("1k5", 10005.0),
            ("1e1", 1e15 * 10001.0),
            ("0x10", 0.0),
            ("-0", 0.0),
            ("1/2", 0.5),
            ("+-1", -1.0),
            ("(1+2)*3", 9.0),
            (&format!("{}1{}", "(".repeat(50), ")".repeat(50)), 1.0),
        ] {
            assert_eq!(perl_count(text), Some(n), "{text:?}");
        }
        for bad in [
            "", "x", "abc", "kk", "1.5.5", "08", "2i", "1+", "--1", "1/0", "2**3", "_1", "nan",
        ] {
            assert_eq!(perl_count(bad), None, "{bad:?}");
        }
        // Nested deeper than any count needs: refused, not a stack overflow.
        for deep in ["(".repeat(200_000), "+".repeat(200_000), "-+".repeat(100_000)] {
            assert_eq!(perl_count(&(deep + "1")), None);
        }
    }

    #[test]
    fn values_per_job_round_up_and_a_negative_count_is_one() {
        for (n, values) in [
            (0.0, 0),
            (0.5, 1),
            (1.0, 1),
            (1.5, 2),
            (2.5, 3),
            (-1.0, 1),
            (-0.5, 1),
            (1e19, 1e19 as usize),
        ] {
            assert_eq!(values_per_job(n), values, "{n}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        for bad in ["", "x", "1x", "-1", "s", "1..2"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1K"), Some(1024));
        assert_eq!(parse_size("1k"), Some(1000));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("2m"), Some(2_000_000));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("-1"), None);
    }
}
