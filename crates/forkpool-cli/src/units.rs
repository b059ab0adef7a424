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

/// Parses a count that may carry a size unit (`-n 2k`).
pub(crate) fn parse_count(text: &str) -> Option<usize> {
    parse_size(text).and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(parse_count("2k"), Some(2000));
    }
}
