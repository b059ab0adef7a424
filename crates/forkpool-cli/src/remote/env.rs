//! `--env`: the variables (and bash functions) copied into remote jobs'
//! environments, as GNU parallel copies them.
//!
//! Local jobs inherit our whole environment; remote ones start from what
//! sshd gives a login. `--env NAME` (or `NAME1,NAME2`) copies the named
//! variables; a name that is an exported bash function (`BASH_FUNC_NAME%%`)
//! is defined in the remote shell in front of the command. `--env _`
//! copies every variable except those `--record-env` wrote to
//! `~/.parallel/ignored_vars` (run in a clean shell first). `PARALLEL_PID`,
//! `PARALLEL_SEQ`, `PARALLEL_JOBSLOT`, `PARALLEL_SSHLOGIN` and
//! `PARALLEL_SSHHOST` are always set.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// The file `--record-env` (`crate::env`) writes and `--env _` reads.
pub(crate) fn ignored_vars_file() -> PathBuf {
    crate::env::config_dir().join("ignored_vars")
}

/// What `--env` copies, resolved once for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Exported {
    /// Variables (name, value), in name order.
    pub(crate) vars: Vec<(Vec<u8>, Vec<u8>)>,
    /// Shell code defining the exported functions, for the front of each
    /// command.
    pub(crate) functions: Vec<u8>,
}

impl Exported {
    /// Resolves the `--env` values against our environment.
    pub(crate) fn resolve(values: &[String]) -> Result<Exported, String> {
        let mut names: BTreeSet<OsString> = BTreeSet::new();
        for value in values {
            for name in value.split(',').filter(|n| !n.is_empty()) {
                if name == "_" {
                    let path = ignored_vars_file();
                    let text = std::fs::read(&path).map_err(|_| {
                        format!(
                            "Run '{} --record-env' in a clean environment first.",
                            crate::program::name()
                        )
                    })?;
                    let ignored: BTreeSet<&[u8]> = text.split(|&b| b == b'\n').collect();
                    names.extend(
                        std::env::vars_os()
                            .map(|(k, _)| k)
                            .filter(|k| !ignored.contains(k.as_bytes())),
                    );
                } else {
                    names.insert(name.into());
                    // An exported bash function of that name.
                    names.insert(format!("BASH_FUNC_{name}%%").into());
                    names.insert(format!("BASH_FUNC_{name}()").into());
                }
            }
        }
        let mut exported = Exported::default();
        for name in names {
            let Some(value) = std::env::var_os(&name) else { continue };
            let name = name.into_vec();
            let value = value.into_vec();
            if is_our_own(&name) {
                continue;
            }
            if let Some(function) = function_name(&name)
                && value.starts_with(b"() {")
            {
                exported.functions.extend_from_slice(function);
                exported.functions.extend_from_slice(&value);
                exported.functions.extend_from_slice(b";\nexport -f ");
                exported.functions.extend_from_slice(function);
                exported.functions.extend_from_slice(b" 2> /dev/null;\n");
            } else {
                exported.vars.push((name, value));
            }
        }
        Ok(exported)
    }
}

/// Variables forkpool sets for each job itself.
fn is_our_own(name: &[u8]) -> bool {
    matches!(
        name,
        b"PARALLEL_PID" | b"PARALLEL_SEQ" | b"PARALLEL_JOBSLOT" | b"PARALLEL_SSHLOGIN" | b"PARALLEL_SSHHOST"
    ) || name == b"FORKPOOL_SUPERVISOR"
}

/// `BASH_FUNC_NAME%%` (or the older `BASH_FUNC_NAME()`) → `NAME`.
pub(crate) fn function_name(var: &[u8]) -> Option<&[u8]> {
    let rest = var.strip_prefix(b"BASH_FUNC_")?;
    rest.strip_suffix(b"%%").or_else(|| rest.strip_suffix(b"()"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_variables_name_their_function() {
        assert_eq!(function_name(b"BASH_FUNC_f%%"), Some(&b"f"[..]));
        assert_eq!(function_name(b"BASH_FUNC_my_f()"), Some(&b"my_f"[..]));
        assert_eq!(function_name(b"HOME"), None);
    }

    #[test]
    fn named_variables_and_functions_are_copied() {
        // The test process's own environment: PATH is always set.
        let e = Exported::resolve(&["PATH,NO_SUCH_VARIABLE_HERE".to_owned()]).unwrap();
        assert_eq!(e.vars.len(), 1);
        assert_eq!(e.vars[0].0, b"PATH");
        assert!(e.functions.is_empty());
    }
}
