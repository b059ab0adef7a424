//! `--env` and `--record-env`: which variables and functions a job gets.
//!
//! GNU parallel's `--env NAME` copies an exported variable (or a bash
//! function exported with `export -f`) into the job's environment, which
//! matters on remote machines. A local job inherits every exported
//! variable and function anyway, so locally `--env` changes nothing a job
//! sees, exactly as with GNU parallel; what is not exported reaches no job
//! in either. Remote jobs get the variables copied: `crate::remote::env`. `--env _` stands for every exported name except those
//! `--record-env` saved in `$PARALLEL_HOME/ignored_vars`, and, as in GNU
//! parallel, is an error until that file exists.

use std::io::Write;
use std::path::PathBuf;

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct EnvFlags {
    /// Give jobs the exported variable or function NAME (NAME,NAME... too; _ for all not ignored). Local jobs have them already; remote ones get them copied.
    #[arg(long = "env", value_name = "NAME", help_heading = "Jobs", allow_hyphen_values = true)]
    pub(crate) env: Vec<String>,
    /// Save the names of the variables set now in $PARALLEL_HOME/ignored_vars (for --env _) and exit.
    #[arg(long = "record-env", visible_alias = "recordenv", help_heading = "Jobs")]
    pub(crate) record_env: bool,
}

/// GNU parallel's directory for its files: `$PARALLEL_HOME`, else
/// `$XDG_CONFIG_HOME/parallel` or a `$XDG_CONFIG_DIRS` one if it exists,
/// else `~/.parallel`.
pub(crate) fn config_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let home = var("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = var("PARALLEL_HOME") {
        candidates.push(dir.into());
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        candidates.push(PathBuf::from(dir).join("parallel"));
    }
    if let Some(dirs) = var("XDG_CONFIG_DIRS") {
        candidates.extend(std::env::split_paths(&dirs).map(|d| d.join("parallel")));
    }
    let fallback = home.join(".parallel");
    candidates.push(fallback.clone());
    candidates.into_iter().find(|d| d.is_dir()).unwrap_or(fallback)
}

/// What the `--env` options ask for, checked.
pub(crate) fn check(flags: &EnvFlags) -> Result<(), String> {
    let names = flags.env.iter().flat_map(|e| e.split(','));
    for name in names {
        if name == "_" && !config_dir().join("ignored_vars").is_file() {
            return Err("Run 'parallel --record-env' in a clean environment first.".to_owned());
        }
    }
    Ok(())
}

/// `--record-env`: saves the names of the variables set now.
pub(crate) fn record() -> Result<(), String> {
    let path = config_dir().join("ignored_vars");
    let mut names = Vec::new();
    for (name, _) in std::env::vars_os() {
        names.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()));
        names.push(b'\n');
    }
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(&path)?.write_all(&names)
    };
    write().map_err(|_| format!("Cannot write to {}.", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_accepted_in_gnus_forms() {
        let flags = EnvFlags {
            env: vec!["A".into(), "B,C".into(), "no_such_var".into()],
            record_env: false,
        };
        assert_eq!(check(&flags), Ok(()));
    }
}
