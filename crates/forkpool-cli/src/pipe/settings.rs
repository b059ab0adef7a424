//! The `--pipe` options checked: every bad value or combination GNU
//! parallel refuses is refused here, before any job runs.

use crate::config::UsageError;
use crate::flags::Flags;
use crate::units::perl_count;

use super::header::HeaderRule;
use super::key::KeySpec;
use super::separator::Separator;

/// GNU parallel's default `--block`: 1 MiB.
pub(crate) const DEFAULT_BLOCK: u64 = 1 << 20;

/// The largest `--pipe` block (GNU's 2 GiB - 1; Perl cannot read more at
/// once).
pub(crate) const MAX_BLOCK: u64 = (1 << 31) - 1;

/// GNU parallel's words for `--pipe` with nothing to pipe into: no
/// command, or (with `:::` values as the commands) none left for a block.
pub(crate) const NO_COMMAND: &str = "--pipe/--pipepart must have a command to pipe into (e.g. 'cat').";

/// Where the blocks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `--pipe`: standard input.
    Pipe,
    /// `--pipepart`: the files of `-a` and `::::`, each job reading its own
    /// part.
    Part,
}

/// How a job gets its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    /// On its standard input.
    Stdin,
    /// `--cat`: in a temporary file named by `{}`.
    Cat,
    /// `--fifo`: through a named pipe named by `{}`.
    Fifo,
}

/// `--block`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BlockSize {
    Bytes(u64),
    /// `--block -N` (`--pipepart`): the files split into N blocks per job
    /// slot (N may be a fraction, or have a unit, as in GNU).
    PerSlot(f64),
}

impl BlockSize {
    /// The size in bytes, for `slots` job slots and `total` bytes of files.
    pub(crate) fn bytes(self, slots: usize, total: u64) -> u64 {
        match self {
            BlockSize::Bytes(n) => n,
            // GNU: 1 + int(size / slots / N).
            BlockSize::PerSlot(n) => {
                let size = total as f64 / slots.max(1) as f64 / n;
                1u64.saturating_add(size as u64)
            }
        }
    }
}

/// The checked `--pipe` settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) block: BlockSize,
    pub(crate) separator: Separator,
    pub(crate) header: Option<HeaderRule>,
    /// `--rrs`.
    pub(crate) remove_separators: bool,
    /// `--round-robin`.
    pub(crate) round_robin: bool,
    /// `--tee`.
    pub(crate) tee: bool,
    pub(crate) sink: Sink,
    /// `-N`: records per block (times `-L`'s lines per record).
    pub(crate) records: Option<usize>,
    /// `-L`: lines per record.
    pub(crate) lines: Option<usize>,
    /// `--group-by`.
    pub(crate) group_by: Option<GroupBy>,
    /// `--shard` or `--bin` (with `--pipe`).
    pub(crate) spread: Option<Spread>,
    /// `--block-timeout`, in whole seconds as GNU counts it.
    pub(crate) block_timeout: Option<std::time::Duration>,
}

/// `--group-by`: the key, the column separator (`--colsep`, or a tab),
/// and with `--pipe` the marker that starts each group (the records'
/// `--recstart`, see `group_by`).
#[derive(Debug, Clone)]
pub(crate) struct GroupBy {
    pub(crate) key: KeySpec,
    pub(crate) colsep: String,
    pub(crate) marker: String,
}

/// `--shard` or `--bin`: the key, the column separator (`--colsep`; else a
/// tab with `--header`, else a comma, as GNU's sharder), and whether the
/// key is a job number (`--bin`) or hashed (`--shard`).
#[derive(Debug, Clone)]
pub(crate) struct Spread {
    pub(crate) key: KeySpec,
    pub(crate) colsep: String,
    pub(crate) bin: bool,
}

fn bad(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// `--block-timeout`, in whole seconds as GNU counts them. Anything that
/// is not a duration of a second or more (`''`, `x`, `0.5`) is GNU's
/// "must be at least 1".
fn block_timeout(text: Option<&str>) -> Result<Option<std::time::Duration>, UsageError> {
    let Some(text) = text else { return Ok(None) };
    let secs = crate::units::parse_duration(text).map_or(0, |d| d.as_secs());
    if secs < 1 {
        return Err(bad("--block-timeout must be at least 1"));
    }
    Ok(Some(std::time::Duration::from_secs(secs)))
}

impl Settings {
    /// The settings, or `None` without `--pipe`, `--pipepart`, `--cat` or
    /// `--fifo`. `no_command`: nothing before the first `:::`, and no `:::`
    /// values to be the commands either.
    pub(crate) fn from_flags(flags: &Flags, no_command: bool) -> Result<Option<Settings>, UsageError> {
        let p = &flags.pipe;
        // GNU tests these three as Perl truths: `0` or nothing is as if
        // the option were not given (`--group-by 0` is not column 0).
        let truth = |value: &Option<String>| crate::config::perl_true(value.as_ref());
        let (group_by, shard, bin) = (truth(&p.group_by), truth(&p.shard), truth(&p.bin));
        // GNU checks it before anything else, with or without --pipe.
        block_timeout(p.block_timeout.as_deref())?;
        let mode = if p.pipepart {
            Mode::Part
        } else if p.pipe || p.cat || p.fifo || group_by.is_some() {
            Mode::Pipe
        } else {
            return Ok(None);
        };
        if p.cat && p.fifo {
            return Err(bad("--fifo cannot be combined with --cat."));
        }
        if p.round_robin && flags.retries.is_some() {
            return Err(bad("--retries cannot be combined with --roundrobin."));
        }
        if mode == Mode::Part && (flags.max_replace_args.is_some() || lines_flag(flags).is_some()) {
            return Err(bad(
                "--pipepart is incompatible with --max-replace-args, --max-lines, and -L.",
            ));
        }
        if mode == Mode::Part && !p.tee && (shard.is_some() || bin.is_some()) {
            // GNU refuses it too (with a message about --jobs); silently
            // cutting plain parts would be a wrong answer.
            return Err(bad("--shard and --bin work with --pipe, not with --pipepart."));
        }
        if mode == Mode::Pipe && !p.tee && (flags.shuf || flags.bar || flags.eta) {
            return Err(bad("--pipe is incompatible with --eta/--bar/--shuf"));
        }
        if group_by.is_some() {
            if p.remove_rec_sep {
                return Err(bad("--remove-rec-sep is not compatible with --groupby"));
            }
            if p.recstart.is_some() {
                return Err(bad("--recstart is not compatible with --groupby"));
            }
            // As GNU: compared as typed (so `--recend '\n'` is refused too).
            if p.recend.as_deref().is_some_and(|e| e != "\n") {
                return Err(bad("--recend is not compatible with --groupby"));
            }
        }
        let block_timeout = block_timeout(p.block_timeout.as_deref())?;
        if no_command {
            return Err(bad(NO_COMMAND));
        }
        // As GNU: --tee before --shard/--bin before --group-by; --bin's
        // binning with --shard's key if both are given.
        let spread = match (&shard, &bin) {
            _ if mode != Mode::Pipe || p.tee => None,
            (None, None) => None,
            (shard, bin) => {
                let text = shard.as_deref().or(bin.as_deref()).unwrap_or_default();
                let option = if bin.is_some() { "--bin" } else { "--shard" };
                let colsep = flags
                    .colsep
                    .clone()
                    .unwrap_or_else(|| if flags.header.is_some() { "\t" } else { "," }.to_owned());
                Some(Spread {
                    key: KeySpec::parse(option, text),
                    colsep,
                    bin: bin.is_some(),
                })
            }
        };
        let group_by = match &group_by {
            Some(text) if spread.is_none() && !p.tee => Some(GroupBy {
                key: KeySpec::parse("--group-by", text),
                colsep: flags.colsep.clone().unwrap_or_else(|| "\t".to_owned()),
                marker: super::group_by::marker(),
            }),
            _ => None,
        };
        let block = match p.block.as_deref() {
            // GNU: one block per job slot with --round-robin, whatever
            // --block says; ten by default.
            _ if mode == Mode::Part && p.round_robin => BlockSize::PerSlot(1.0),
            None => match mode {
                Mode::Part => BlockSize::PerSlot(10.0),
                Mode::Pipe => BlockSize::Bytes(DEFAULT_BLOCK),
            },
            Some(text) => parse_block(text).ok_or_else(|| {
                bad(format!(
                    "--block {text:?} is not a size: use bytes with k, M, G, T or P (1M = 1048576), \
                     or -N with --pipepart"
                ))
            })?,
        };
        let block = match (mode, block) {
            (Mode::Pipe, BlockSize::PerSlot(_)) => {
                return Err(bad(format!(
                    "--block {}: a negative size (blocks per job slot) needs --pipepart",
                    p.block.as_deref().unwrap_or_default()
                )));
            }
            (Mode::Pipe, BlockSize::Bytes(n)) if n > MAX_BLOCK => {
                warning!("--blocksize >= 2G causes problems. Using 2G-1.");
                BlockSize::Bytes(MAX_BLOCK)
            }
            (_, block) => block,
        };
        // --group-by --pipe: each group starts with the marker.
        let (recstart, recend, regexp) = match &group_by {
            Some(g) if mode == Mode::Pipe => (Some(g.marker.as_str()), None, false),
            _ => (p.recstart.as_deref(), p.recend.as_deref(), p.regexp),
        };
        let separator = Separator::new(recstart, recend, regexp).map_err(|e| {
            bad(format!(
                "{} {:?} is not a valid regular expression: {}",
                e.option, e.pattern, e.reason
            ))
        })?;
        let header = match flags.header.as_deref() {
            None => None,
            Some(text) => HeaderRule::parse(text).map_err(bad)?,
        };
        // What GNU parallel makes of each count (`units::perl_count`; a
        // value that is no number is 0 there): 0 is no count.
        let number = |v: &str| perl_count(v).unwrap_or(0.0);
        // Lines per record, -L (or -l, whose 0 is 1).
        let lines = lines_flag(flags).map(|(flag, v)| match number(v) {
            0.0 if flag == "-l" => 1.0,
            n => n,
        });
        // Records per block, -n or -N: `-N` (which also sets the count)
        // wins whatever the order, as in GNU parallel; times the lines per
        // record, if any. GNU counts `1..n` records: whole ones. Below 1
        // (`0.5`, `-1`) it hands each job one byte, cutting records
        // apart: refused (the README's differences).
        let (flag, count) = match (&flags.max_replace_args, &flags.max_args) {
            (Some(n), _) => ("-N", Some(n)),
            (None, Some(n)) => ("-n", Some(n)),
            (None, None) => ("-N", None),
        };
        let per_record = lines_flag(flags).zip(lines).filter(|&(_, l)| l != 0.0);
        let records = match count.map(|v| (v, number(v))) {
            None | Some((_, 0.0)) => None,
            Some((v, n)) => match n * per_record.map_or(1.0, |(_, l)| l) {
                n if n >= 1.0 => Some(n as usize),
                _ => {
                    let (what, given) = match per_record {
                        Some(((l_flag, l), _)) => (format!("{flag} times {l_flag}"), format!("{v:?} times {l:?}")),
                        None => (flag.to_owned(), format!("{v:?}")),
                    };
                    return Err(bad(format!("{what} must be 0 or at least 1 with --pipe, not {given}")));
                }
            },
        };
        // Without them, GNU's `%` takes the whole part of the lines per
        // record, whatever its sign; 0 is no count (where the number was
        // not 0, `0.5`, GNU parallel dies of "Illegal modulus zero").
        let lines = lines.map(|n| n.abs().trunc() as usize).filter(|&n| n > 0);
        let sink = if p.cat {
            Sink::Cat
        } else if p.fifo {
            Sink::Fifo
        } else {
            Sink::Stdin
        };
        Ok(Some(Settings {
            mode,
            block,
            separator,
            header,
            remove_separators: p.remove_rec_sep || (group_by.is_some() && mode == Mode::Pipe),
            round_robin: p.round_robin && mode == Mode::Pipe && !p.tee,
            tee: p.tee,
            sink,
            records,
            lines,
            group_by,
            spread,
            block_timeout,
        }))
    }
}

/// `-L` (or `-l`), which with `--pipe` is the lines per record: xargs's
/// flags, read here with the pipe's meaning.
fn lines_flag(flags: &Flags) -> Option<(&'static str, &str)> {
    let l = flags.xargs.max_lines.as_deref().map(|v| ("-l", v));
    flags.xargs.max_lines_l.as_deref().map(|v| ("-L", v)).or(l)
}

/// `--block`: a size with GNU parallel's units (`K` 1024, `k` 1000, ...,
/// `Ki`/`ki` 1024 too), or `-N` blocks per job slot. `0` is the default,
/// as in GNU parallel.
fn parse_block(text: &str) -> Option<BlockSize> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('-') {
        return fraction(rest).filter(|&n| n > 0.0).map(BlockSize::PerSlot);
    }
    let n = size(text)?;
    Some(BlockSize::Bytes(if n == 0 { DEFAULT_BLOCK } else { n }))
}

/// A size as a number of bytes.
fn size(text: &str) -> Option<u64> {
    sized(text).map(|n| n as u64)
}

/// A size that may be a fraction (`--block -0.5`: half a block per slot).
fn fraction(text: &str) -> Option<f64> {
    sized(text)
}

/// A number with GNU parallel's units: `k` 1000, `K` 1024 and so on (as
/// `units::parse_size`), and `Ki`, `mi`...: 1024-based whatever the case.
fn sized(text: &str) -> Option<f64> {
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let scale = match unit.as_bytes() {
        [] => 1,
        [u, b'i' | b'I'] => crate::units::parse_size(&format!("1{}", u.to_ascii_uppercase() as char))?,
        [_] => crate::units::parse_size(&format!("1{unit}"))?,
        _ => return None,
    };
    let value: f64 = digits.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * scale as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_as_gnu_parallel() {
        assert_eq!(parse_block("10"), Some(BlockSize::Bytes(10)));
        assert_eq!(parse_block("1k"), Some(BlockSize::Bytes(1000)));
        assert_eq!(parse_block("1K"), Some(BlockSize::Bytes(1024)));
        assert_eq!(parse_block("1ki"), Some(BlockSize::Bytes(1024)));
        assert_eq!(parse_block("10M"), Some(BlockSize::Bytes(10 << 20)));
        assert_eq!(parse_block("1.5k"), Some(BlockSize::Bytes(1500)));
        assert_eq!(parse_block("0"), Some(BlockSize::Bytes(DEFAULT_BLOCK)));
        assert_eq!(parse_block("1Mi"), Some(BlockSize::Bytes(1 << 20)));
        assert_eq!(parse_block("-2"), Some(BlockSize::PerSlot(2.0)));
        assert_eq!(parse_block("-0.5"), Some(BlockSize::PerSlot(0.5)));
        assert_eq!(parse_block("-1k"), Some(BlockSize::PerSlot(1000.0)));
        for bad in ["10Q", "-0", "abc", "", "-", "k", "1xi", "--1", "1kb", "1.2.3"] {
            assert_eq!(parse_block(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn blocks_per_slot() {
        assert_eq!(BlockSize::PerSlot(10.0).bytes(2, 1000), 51);
        assert_eq!(BlockSize::PerSlot(2.5).bytes(2, 1000), 201);
        assert_eq!(BlockSize::PerSlot(0.5).bytes(2, 1000), 1001);
        assert_eq!(BlockSize::Bytes(7).bytes(2, 1000), 7);
    }
}
