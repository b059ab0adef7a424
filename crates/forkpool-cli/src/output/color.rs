//! `--color` (`--colour`, and `--ctag`, `--ctagstring`): each job's output
//! lines in a colour of its own (background and text), and
//! `--color-failed` (`--cf`): a failed job's lines white on red. As in GNU parallel: the colours are its palette in
//! its order, chosen by the job's sequence number; each line starts with
//! the colour and "clear to end of line" and ends with "reset"; a last
//! line without a newline gets one; `-u` shows no colours, and
//! `--line-buffer` no failure colour (the status comes too late).

/// The options of this room, as typed (`--color` itself, with `--ctag`
/// and `--ctagstring`, is with the replacement strings' options).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ColorFlags {
    /// Colour the output lines of failed jobs white on red.
    #[arg(
        long = "color-failed",
        visible_aliases = ["colour-failed", "colorfailed", "colourfailed", "color-fail", "colour-fail", "colorfail", "colourfail", "cf"],
        help_heading = "Output"
    )]
    pub(crate) color_failed: bool,
}

/// What a line is wrapped in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paint {
    /// Before each line: the colour, then "clear to end of line".
    pub(crate) start: Vec<u8>,
    /// Before each line's end: "reset".
    pub(crate) end: Vec<u8>,
}

/// The colours of a run.
#[derive(Debug, Clone)]
pub(crate) struct Colors {
    palette: Vec<Vec<u8>>,
    every_job: bool,
    failed: bool,
    eol: Vec<u8>,
    reset: Vec<u8>,
}

/// GNU parallel's readable background/text combinations, in its order
/// (adjacent ones dissimilar).
fn palette() -> Vec<Vec<u8>> {
    let ranges = |spans: &[(u32, u32)]| -> Vec<u32> { spans.iter().flat_map(|&(a, b)| a..=b).collect() };
    let black_text = ranges(&[
        (6, 7),
        (9, 11),
        (13, 15),
        (40, 51),
        (75, 87),
        (113, 123),
        (147, 159),
        (171, 182),
        (185, 231),
        (249, 254),
    ]);
    let white_text = ranges(&[
        (1, 9),
        (12, 13),
        (16, 45),
        (52, 81),
        (88, 114),
        (124, 149),
        (160, 178),
        (180, 180),
        (182, 184),
        (196, 214),
        (232, 250),
    ]);
    let combos: Vec<(u32, &str)> = black_text
        .into_iter()
        .map(|bg| (bg, "000"))
        .chain(white_text.into_iter().map(|bg| (bg, "231")))
        .collect();
    let mut order: Vec<usize> = (0..combos.len()).collect();
    // A stable sort, as Perl's: by i % 23 up, then i % 7 down.
    order.sort_by(|&a, &b| (a % 23).cmp(&(b % 23)).then((b % 7).cmp(&(a % 7))));
    order
        .into_iter()
        .map(|i| format!("\x1b[48;5;{:03};38;5;{}m", combos[i].0, combos[i].1).into_bytes())
        .collect()
}

/// `tput CAP` on the terminal, as GNU parallel asks it; `fallback` when
/// there is no terminal or no `tput`.
fn tput(cap: &str, fallback: &[u8]) -> Vec<u8> {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("tput {cap} </dev/tty")])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            let mut v = out.stdout;
            if v.last() == Some(&b'\n') {
                v.pop();
            }
            v
        }
        _ => fallback.to_vec(),
    }
}

impl ColorFlags {
    /// The colours, if any are wanted (`every_job`: `--color`).
    pub(crate) fn resolve(&self, every_job: bool) -> Option<Colors> {
        if !(every_job || self.color_failed) {
            return None;
        }
        Some(Colors {
            palette: palette(),
            every_job,
            failed: self.color_failed,
            eol: tput("el", b"\x1b[K"),
            reset: tput("sgr0", b"\x1b[m"),
        })
    }
}

impl Colors {
    /// A job's paint, by its sequence number (`failed`: it failed, and
    /// `--color-failed` was given). `None`: lines go as they are.
    pub(crate) fn paint(&self, seq: u64, failed: bool) -> Option<Paint> {
        let color = if failed && self.failed {
            b"\x1b[48;5;196;38;5;231m".to_vec()
        } else if self.every_job {
            self.palette[(seq % self.palette.len() as u64) as usize].clone()
        } else if self.failed {
            // --color-failed alone: lines end as coloured ones do, bare.
            return Some(Paint {
                start: Vec::new(),
                end: Vec::new(),
            });
        } else {
            return None;
        };
        let mut start = color;
        start.extend_from_slice(&self.eol);
        Some(Paint {
            start,
            end: self.reset.clone(),
        })
    }

    /// Whether a job's paint depends on how it ended.
    pub(crate) fn by_status(&self) -> bool {
        self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_palette_is_gnu_parallels() {
        let p = palette();
        assert_eq!(p.len(), 307);
        assert_eq!(p[0], b"\x1b[48;5;185;38;5;000m");
        assert_eq!(p[1], b"\x1b[48;5;134;38;5;231m");
        assert_eq!(p[2], b"\x1b[48;5;021;38;5;231m");
    }
}
