//! `--shell-completion bash|zsh|auto`: shell code that completes the
//! command's options, in the shape GNU parallel prints (a `compgen` word
//! list for bash, an `_arguments` spec for zsh), for the name forkpool was
//! invoked by. The options come from the command-line definition itself,
//! so every option is there.

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct CompletionFlags {
    /// Print shell code that completes forkpool's options (bash, zsh, or auto for the shell forkpool runs jobs in) and exit.
    #[arg(
        long = "shell-completion",
        visible_alias = "shellcompletion",
        value_name = "SHELL",
        help_heading = "Control"
    )]
    pub(crate) shell_completion: Option<String>,
}

/// One option's names, its help and whether it takes a value.
struct Opt {
    names: Vec<String>,
    help: String,
    value: Option<String>,
}

/// Every option forkpool takes, with all its names (GNU parallel's list
/// holds all of its own too): `--help`, `--version`, the hidden ones
/// (`--bug`, `--session`, the aliases kept for GNU's spellings), but not
/// the internal ones (`--_parset`, as GNU skips its `--_` ones) nor those
/// forkpool recognises only to refuse them (see `unsupported`, and the
/// retired `--tollef`).
fn options() -> Vec<Opt> {
    use clap::Args as _;
    let refused = crate::unsupported::UnsupportedFlags::augment_args(clap::Command::new("refused"));
    let refused = |a: &clap::Arg| a.get_id() == "tollef" || refused.get_arguments().any(|r| r.get_id() == a.get_id());
    let command = crate::flags::command();
    command
        .get_arguments()
        .filter(|a| !refused(a) && !a.get_long().is_some_and(|l| l.starts_with('_')))
        .filter_map(|a| {
            let mut names: Vec<String> = Vec::new();
            names.extend(a.get_long().map(|l| format!("--{l}")));
            if let Some(longs) = a.get_all_aliases() {
                names.extend(longs.iter().map(|l| format!("--{l}")));
            }
            names.extend(a.get_short().map(|s| format!("-{s}")));
            if let Some(shorts) = a.get_all_short_aliases() {
                names.extend(shorts.iter().map(|s| format!("-{s}")));
            }
            if names.is_empty() {
                return None;
            }
            let takes = a.get_num_args().is_some_and(|n| n.max_values() > 0) && a.get_action().takes_values();
            let value = takes.then(|| {
                a.get_value_names()
                    .and_then(|v| v.first().map(|s| s.to_string()))
                    .unwrap_or_else(|| "value".to_owned())
            });
            Some(Opt {
                names,
                help: a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                value,
            })
        })
        .collect()
}

/// The completion code for `shell` (`auto`: the shell jobs run in).
pub(crate) fn generate(shell: &str) -> Result<String, String> {
    let name = crate::program::name();
    let shell = if shell == "auto" {
        let detected = crate::shell::Shell::detect().path().to_path_buf();
        let base = detected
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match base.as_str() {
            "bash" | "zsh" => base,
            _ => {
                return Err(format!(
                    "--shellcompletion is not implemented for '{}'.",
                    detected.display()
                ));
            }
        }
    } else {
        shell.to_owned()
    };
    match shell.as_str() {
        "bash" => {
            let words: String = options()
                .iter()
                .flat_map(|o| o.names.iter())
                .map(|n| format!("{n} "))
                .collect();
            Ok(format!(
                "complete -F _comp_{name} {name};_comp_{name}() {{ COMPREPLY=($(compgen -W \"{words}\" -- \"${{COMP_WORDS[$COMP_CWORD]}}\")); }};\n"
            ))
        }
        "zsh" => {
            let escape = |s: &str| {
                s.replace('\\', "\\\\")
                    .replace('\'', "'\\''")
                    .replace(['[', ']', ':'], "")
            };
            let mut spec = String::new();
            for o in options() {
                let names = if o.names.len() == 1 {
                    o.names[0].clone()
                } else {
                    format!("{{{}}}", o.names.join(","))
                };
                spec.push_str(&format!("{names}'[{}]", escape(&o.help)));
                if let Some(value) = &o.value {
                    spec.push(':');
                    spec.push_str(&escape(value));
                }
                spec.push_str("' ");
            }
            Ok(format!(
                "compdef _comp_{name} {name}; setopt localoptions extended_glob; local -a _comp_priv_prefix; \
                 _comp_{name}() {{ _arguments {spec}'(-)1:command: _command_names -e' \
                 '*::arguments:{{ _comp_priv_prefix=( '$words[1]' -n ${{(kv)opt_args[(I)(-[ugHEP]|--(user|group|set-home|preserve-env|preserve-groups))]}} ) ; _normal }}'}};\n"
            ))
        }
        other => Err(format!("--shellcompletion is not implemented for '{other}'.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_completes_every_option() {
        let code = generate("bash").unwrap();
        assert!(code.starts_with("complete -F _comp_forkpool forkpool;_comp_forkpool() { COMPREPLY=($(compgen -W \""));
        for option in ["--jobs", "-j", "--keep-order", "-k", "--shell-completion", "--dryrun"] {
            assert!(code.contains(&format!(" {option} ")), "{option} missing");
        }
    }

    #[test]
    fn zsh_gets_an_arguments_spec_and_other_shells_an_error() {
        let code = generate("zsh").unwrap();
        assert!(code.starts_with("compdef _comp_forkpool forkpool;"));
        assert!(code.contains("{--keep-order,--keeporder,-k}'["));
        assert_eq!(
            generate("fish").unwrap_err(),
            "--shellcompletion is not implemented for 'fish'."
        );
    }
}
