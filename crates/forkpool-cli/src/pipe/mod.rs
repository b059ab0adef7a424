//! `--pipe` and `--pipepart`: the input split into blocks of whole
//! records, one block per job, on the job's standard input (or in a file
//! or named pipe called `{}`, with `--cat` and `--fifo`).
//!
//! The room, in the order data flows (the design is in `README.md`):
//! - `flags` and `settings`: the options, as typed and checked;
//! - `separator` and `header`: where records meet (`--recstart`,
//!   `--recend`, `--regexp`), and the header repeated in every block;
//! - `cutter`: a stream (standard input) cut into blocks in bounded memory;
//!   `relay`: a pipe cut the plain way, its bytes spliced to the jobs'
//!   pipes without reading them; `spool`: the same into memfds, for jobs
//!   that may need their block again;
//! - `part`: a seekable file cut by position, reading only around the cuts
//!   (`--pipepart`, and `--pipe` from a regular file);
//! - `source`: blocks and `:::` arguments made into jobs;
//! - `deliver`: a started job given its block: written, or spliced from
//!   the file, by a thread of its own so that no job can stall the run;
//! - `robin` and `tee`: `--round-robin` and `--tee`, whose jobs are fed by
//!   one thread for the whole run (`claim`: a job's seat there);
//! - `shown`: a `--pipepart` job as `-v -v` shows it (GNU's reader line);
//! - `key`, `group_by` and `shard`: lines' keys (a column, a perl
//!   expression): `--group-by` cuts blocks where the key changes;
//!   `--shard`/`--bin` send each line to the job its key picks;
//!   `in_flight`: the lines whose keys perl computes while the next are
//!   read;
//! - `timeout`: `--block-timeout`'s reads against a deadline;
//! - `tmp`: the private directory of `--cat` and `--fifo`, removed even if
//!   we are killed.

mod claim;
mod cutter;
mod deliver;
pub(crate) mod flags;
mod group_by;
mod header;
mod in_flight;
mod key;
mod part;
mod refill;
mod relay;
mod robin;
mod separator;
pub(crate) mod settings;
mod shard;
pub(crate) mod shown;
mod source;
mod spool;
mod tee;
mod timeout;
mod tmp;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use deliver::{Attached, Launch, Runtime};
pub(crate) use settings::Settings;
pub(crate) use source::{arg_sources, prepare};

/// A block in memory: what `--pipe` read from a stream.
#[derive(Debug)]
pub(crate) struct Block {
    /// `--header`: written before the data.
    pub(crate) header: Arc<[u8]>,
    pub(crate) data: Vec<u8>,
    /// Where the buffer goes when the block is done with.
    pub(crate) recycler: Option<Arc<cutter::Recycler>>,
}

impl Drop for Block {
    fn drop(&mut self) {
        if let Some(recycler) = &self.recycler {
            recycler.give(std::mem::take(&mut self.data));
        }
    }
}

/// Part of a file: `--pipepart`, or `--pipe` from a regular file.
#[derive(Debug)]
pub(crate) struct FilePart {
    pub(crate) file: Arc<File>,
    /// `--pipepart`: the file's name (for `-v -v`, see `shown`).
    pub(crate) path: Option<Arc<PathBuf>>,
    pub(crate) header: Arc<[u8]>,
    pub(crate) range: part::Range,
}

/// A block spooled into a memfd (header first): what `--pipe` cut from a
/// pipe (see `spool`).
#[derive(Debug)]
pub(crate) struct Spooled {
    pub(crate) file: Arc<File>,
    pub(crate) len: u64,
}

/// What a job reads.
#[derive(Debug, Clone)]
pub(crate) enum Stdin {
    Block(Arc<Block>),
    Spooled(Arc<Spooled>),
    Part(Arc<FilePart>),
    /// `--round-robin`: what the distributor deals this job.
    Dealt(Arc<robin::Claim>),
    /// A plain `--pipe` from a pipe: what the relay moves to this job.
    Relayed(Arc<relay::Claim>),
    /// `--tee`: all of standard input.
    Tee(Arc<tee::Claim>),
    /// `--shard`/`--bin`: the lines the sharder sends this job.
    Shard(Arc<shard::Claim>),
    /// `--pipepart --tee`: the whole file.
    File(Arc<PathBuf>),
}

impl PartialEq for Stdin {
    fn eq(&self, other: &Stdin) -> bool {
        match (self, other) {
            (Stdin::Block(a), Stdin::Block(b)) => Arc::ptr_eq(a, b),
            (Stdin::Spooled(a), Stdin::Spooled(b)) => Arc::ptr_eq(a, b),
            (Stdin::Part(a), Stdin::Part(b)) => Arc::ptr_eq(a, b),
            (Stdin::Dealt(a), Stdin::Dealt(b)) => Arc::ptr_eq(a, b),
            (Stdin::Relayed(a), Stdin::Relayed(b)) => Arc::ptr_eq(a, b),
            (Stdin::Tee(a), Stdin::Tee(b)) => Arc::ptr_eq(a, b),
            (Stdin::Shard(a), Stdin::Shard(b)) => Arc::ptr_eq(a, b),
            (Stdin::File(a), Stdin::File(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Stdin {}

impl Stdin {
    /// Bytes in memory for this job (what bounds the read-ahead).
    pub(crate) fn in_memory(&self) -> usize {
        match self {
            Stdin::Block(b) => b.header.len() + b.data.len(),
            Stdin::Spooled(s) => usize::try_from(s.len).unwrap_or(usize::MAX),
            _ => 0,
        }
    }
}

/// GNU parallel runs `--pipe` jobs (but `--round-robin` ones) behind a
/// wrapper, which reports a job killed by a signal as exit status
/// 128 + signal: the joblog and `--halt` see the same here.
pub(crate) fn status_as_gnu(settings: &Settings, reason: forkpool::ExitReason) -> forkpool::ExitReason {
    match reason {
        forkpool::ExitReason::Signaled { signal, .. } if !settings.round_robin => {
            forkpool::ExitReason::Exited(128 + signal)
        }
        other => other,
    }
}
