//! The `--pipe` family of options, as typed (checked in `settings`).

/// Options that split the input into blocks for the jobs' standard input.
/// Flattened into [`crate::flags::Flags`].
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct PipeFlags {
    /// Split standard input into blocks of records, one block per job, on its stdin.
    #[arg(long = "pipe", visible_alias = "spreadstdin", help_heading = "Pipe")]
    pub(crate) pipe: bool,
    /// Like --pipe, for the files of -a/::::, each job reading its own part (fast).
    #[arg(long = "pipepart", visible_alias = "pipe-part", help_heading = "Pipe")]
    pub(crate) pipepart: bool,
    /// Block size: K M G T P are powers of 1024, k m g t p of 1000 [default: 1M];
    /// with --pipepart, -N means N blocks per job slot [default: -10].
    #[arg(
        long = "block",
        visible_aliases = ["block-size", "blocksize"],
        value_name = "SIZE",
        allow_hyphen_values = true,
        help_heading = "Pipe"
    )]
    pub(crate) block: Option<String>,
    /// Records start with STR (C escapes \n \t \0 work) [default: none].
    #[arg(
        long = "recstart",
        value_name = "STR",
        allow_hyphen_values = true,
        help_heading = "Pipe"
    )]
    pub(crate) recstart: Option<String>,
    /// Records end with STR [default: \n].
    #[arg(
        long = "recend",
        value_name = "STR",
        allow_hyphen_values = true,
        help_heading = "Pipe"
    )]
    pub(crate) recend: Option<String>,
    /// --recstart and --recend are regular expressions.
    #[arg(long = "regexp", visible_alias = "regex", help_heading = "Pipe")]
    pub(crate) regexp: bool,
    /// Remove the record separators (--recstart, --recend) from each block.
    #[arg(
        long = "rrs",
        visible_aliases = ["remove-rec-sep", "removerecsep"],
        help_heading = "Pipe"
    )]
    pub(crate) remove_rec_sep: bool,
    /// Start one job per job slot and deal the blocks to whichever is ready.
    #[arg(
        long = "round-robin",
        visible_aliases = ["roundrobin", "round"],
        help_heading = "Pipe"
    )]
    pub(crate) round_robin: bool,
    /// Save each block in a temporary file; {} is its name (implies --pipe).
    #[arg(long = "cat", help_heading = "Pipe")]
    pub(crate) cat: bool,
    /// Give each block through a named pipe; {} is its name (implies --pipe).
    #[arg(long = "fifo", help_heading = "Pipe")]
    pub(crate) fifo: bool,
    /// Give all of the input to every job, one job per argument (::: a b c).
    #[arg(long = "tee", help_heading = "Pipe")]
    pub(crate) tee: bool,
    /// Cut blocks only where VAL (a column number or name, and/or a perl
    /// expression) changes: lines with the same value are one record.
    #[arg(
        long = "group-by",
        visible_alias = "groupby",
        value_name = "VAL",
        allow_hyphen_values = true,
        help_heading = "Pipe"
    )]
    pub(crate) group_by: Option<String>,
    /// One job per job slot; each line goes to the job its key's hash
    /// picks (a column number or name, and/or a perl expression).
    #[arg(
        long = "shard",
        value_name = "SHARDEXPR",
        allow_hyphen_values = true,
        help_heading = "Pipe"
    )]
    pub(crate) shard: Option<String>,
    /// As --shard, but the key is a number: the job slot (modulo the slots).
    #[arg(
        long = "bin",
        value_name = "BINEXPR",
        allow_hyphen_values = true,
        help_heading = "Pipe"
    )]
    pub(crate) bin: Option<String>,
    /// Give a job the block read so far if reading a whole block takes
    /// longer than DURATION (s, m, h, d; at least 1 second).
    #[arg(
        long = "block-timeout",
        visible_aliases = ["blocktimeout", "bt"],
        value_name = "DURATION",
        help_heading = "Pipe"
    )]
    pub(crate) block_timeout: Option<String>,
}
