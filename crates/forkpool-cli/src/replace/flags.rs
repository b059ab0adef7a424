//! The replacement-string options, as typed (flattened into the command
//! line's `Flags`).

use super::{Settings, TableOptions, Trim};

/// Replacement strings, `{= perl =}` and the options around them.
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct ReplaceFlags {
    /// Add GNU parallel's --plus strings: {+/} {+.} {..} {...} {/..} {##} {0#} {0%} {:-str} {%str} {/a/b} ...
    #[arg(long = "plus", help_heading = "Replacement strings")]
    pub(crate) plus: bool,
    /// Define a replacement string: 'TAG perl-expression' ('{TAG(regex)} ...' takes an argument, $$1).
    #[arg(
        long = "rpl",
        value_name = "'TAG PERL'",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) rpl: Vec<String>,
    /// Use these parentheses instead of {==} for perl expressions (the first half is the left one, the rest the right).
    #[arg(
        long = "parens",
        value_name = "PARENS",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) parens: Option<String>,
    /// Use STR instead of {.}.
    #[arg(
        long = "extensionreplace",
        visible_alias = "er",
        value_name = "STR",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) extension: Option<String>,
    /// Use STR instead of {/}.
    #[arg(
        long = "basenamereplace",
        visible_alias = "bnr",
        value_name = "STR",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) basename: Option<String>,
    /// Use STR instead of {//}.
    #[arg(
        long = "dirnamereplace",
        visible_alias = "dnr",
        value_name = "STR",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) dirname: Option<String>,
    /// Use STR instead of {/.}.
    #[arg(
        long = "basenameextensionreplace",
        visible_alias = "bner",
        value_name = "STR",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) basename_extension: Option<String>,
    /// Use STR instead of {#}.
    #[arg(
        long = "seqreplace",
        value_name = "STR",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) seq: Option<String>,
    /// Use STR instead of {%}.
    #[arg(
        long = "slotreplace",
        value_name = "STR",
        help_heading = "Replacement strings",
        allow_hyphen_values = true
    )]
    pub(crate) slot: Option<String>,
    /// Trim blanks from values: n (none), l, r, lr or rl (both; the default with --colsep).
    #[arg(long = "trim", value_name = "n|l|r|lr|rl", help_heading = "Replacement strings")]
    pub(crate) trim: Option<String>,
    /// Colour each job's output (background and foreground picked by its sequence number).
    #[arg(long = "color", visible_alias = "colour", help_heading = "Output")]
    pub(crate) color: bool,
    /// --tag in colour (--color --tag).
    #[arg(long = "ctag", help_heading = "Output")]
    pub(crate) ctag: bool,
    /// --tagstring in colour (--color --tagstring STR).
    #[arg(
        long = "ctagstring",
        visible_alias = "ctag-string",
        value_name = "STR",
        help_heading = "Output",
        allow_hyphen_values = true
    )]
    pub(crate) ctagstring: Option<String>,
    /// Input is CSV: --colsep (default ',') separates fields; quoted fields may hold it, "" and newlines.
    #[arg(long = "csv", help_heading = "Input")]
    pub(crate) csv: bool,
    /// Use SEP instead of ::: (and SEP+ instead of :::+).
    #[arg(
        long = "arg-sep",
        visible_alias = "argsep",
        value_name = "SEP",
        help_heading = "Input",
        allow_hyphen_values = true
    )]
    pub(crate) arg_sep: Option<String>,
    /// Use SEP instead of :::: (and SEP+ instead of ::::+).
    #[arg(
        long = "arg-file-sep",
        visible_alias = "argfilesep",
        value_name = "SEP",
        help_heading = "Input",
        allow_hyphen_values = true
    )]
    pub(crate) arg_file_sep: Option<String>,
}

impl ReplaceFlags {
    /// Checks the options; `replace` is `-I`'s string, if given.
    pub(crate) fn settings(&self, replace: Option<&str>) -> Result<Settings, String> {
        let bytes = |s: &Option<String>| s.as_ref().map(|s| s.as_bytes().to_vec());
        let trim = self
            .trim
            .as_deref()
            .map(|t| Trim::parse(t).ok_or_else(|| "--trim must be one of: r l rl lr.".to_string()))
            .transpose()?;
        let settings = Settings {
            table: TableOptions {
                plus: self.plus,
                replace: replace.filter(|r| *r != "{}").map(|r| r.as_bytes().to_vec()),
                extension: bytes(&self.extension),
                basename: bytes(&self.basename),
                dirname: bytes(&self.dirname),
                basename_extension: bytes(&self.basename_extension),
                seq: bytes(&self.seq),
                slot: bytes(&self.slot),
                rpl: self.rpl.iter().map(|r| r.as_bytes().to_vec()).collect(),
                parens: bytes(&self.parens),
            },
            trim,
            color: self.color || self.ctag || self.ctagstring.is_some(),
            csv: self.csv,
            csv_separator: None,
        };
        // Malformed tags and parentheses are reported now, before any job.
        super::rpl::Table::new(&settings.table)?;
        for (flag, value) in [("--arg-sep", &self.arg_sep), ("--arg-file-sep", &self.arg_file_sep)] {
            if value.as_deref() == Some("") {
                return Err(format!("{flag} cannot be empty"));
            }
        }
        Ok(settings)
    }
}
