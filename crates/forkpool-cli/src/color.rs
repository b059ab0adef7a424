//! `--color` (and `--ctag`, `--ctagstring`): each job's output lines in a
//! colour of their own, picked by the job's sequence number from GNU
//! parallel's list of readable background/foreground pairs, in its order.
//!
//! A line is printed as colour + tag + line + reset + newline; a CR inside
//! it resets and starts the colour (and tag) again; a last line without a
//! newline gets one, as in GNU parallel. GNU asks `tput` (on `/dev/tty`)
//! for the clear-to-end-of-line and reset codes; we use the codes it falls
//! back to without a terminal, `ESC[K` and `ESC[m`.

/// Clears to the end of the line, so the background fills it.
const EOL: &[u8] = b"\x1b[K";
/// Ends the colour.
pub(crate) const RESET: &[u8] = b"\x1b[m";

/// GNU parallel's colour pairs (background, foreground), reordered so
/// that neighbours differ.
fn pairs() -> Vec<(u16, u16)> {
    let mut pairs: Vec<(u16, u16)> = Vec::new();
    let black_text = [
        6..=7,
        9..=11,
        13..=15,
        40..=51,
        75..=87,
        113..=123,
        147..=159,
        171..=182,
        185..=231,
        249..=254,
    ];
    for range in black_text {
        pairs.extend(range.map(|bg| (bg, 0)));
    }
    let white_text = [
        1..=9,
        12..=13,
        16..=45,
        52..=81,
        88..=114,
        124..=149,
        160..=178,
        180..=180,
        182..=184,
        196..=214,
        232..=250,
    ];
    for range in white_text {
        pairs.extend(range.map(|bg| (bg, 231)));
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    // `sort { ($a%23 <=> $b%23) or ($b%7 <=> $a%7) }` (stable).
    order.sort_by(|&a, &b| (a % 23).cmp(&(b % 23)).then((b % 7).cmp(&(a % 7))));
    order.into_iter().map(|i| pairs[i]).collect()
}

/// The colour that starts a line of job `seq`.
pub(crate) fn of_job(seq: u64) -> Vec<u8> {
    let pairs = pairs();
    let (bg, fg) = pairs[(seq % pairs.len() as u64) as usize];
    let fg = if fg == 0 { "000".to_owned() } else { fg.to_string() };
    let mut out = format!("\x1b[48;5;{bg:03};38;5;{fg}m").into_bytes();
    out.extend_from_slice(EOL);
    out
}

/// Appends `bytes` coloured: `start` (colour and tag) opens each line.
/// `at_line_start` carries over between calls.
pub(crate) fn paint(start: &[u8], bytes: &[u8], at_line_start: &mut bool, out: &mut Vec<u8>) {
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if *at_line_start {
            out.extend_from_slice(start);
        }
        let (content, newline) = match line.strip_suffix(b"\n") {
            Some(c) => (c, true),
            None => (line, false),
        };
        for &b in content {
            if b == b'\r' {
                out.extend_from_slice(RESET);
                out.push(b'\r');
                out.extend_from_slice(start);
            } else {
                out.push(b);
            }
        }
        if newline {
            out.extend_from_slice(RESET);
            out.push(b'\n');
        }
        *at_line_start = newline;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_gnu_parallels() {
        // As `parallel --ctag echo ::: a b` prints them.
        assert_eq!(of_job(1), b"\x1b[48;5;134;38;5;231m\x1b[K");
        assert_eq!(of_job(2), b"\x1b[48;5;021;38;5;231m\x1b[K");
    }

    #[test]
    fn lines_are_painted_and_closed() {
        let mut out = Vec::new();
        let mut start = true;
        paint(b"C", b"a\nb\rc", &mut start, &mut out);
        assert_eq!(out, b"Ca\x1b[m\nCb\x1b[m\rCc");
        assert!(!start);
    }
}
