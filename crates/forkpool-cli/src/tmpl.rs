//! `--template FILE=NAME` (`--tmpl`): for each job, FILE's content with
//! the job's replacement strings put in (unquoted) is written to NAME
//! (whose replacement strings are put in too) before the job starts; with
//! `--cleanup` it is removed when the job ends. As in GNU parallel.

use std::path::PathBuf;

use crate::replace::Template;

/// The options of this room, as typed.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct TmplFlags {
    /// Write FILE with the job's replacement strings put in to NAME (replacement strings allowed) before each job.
    #[arg(
        long = "template",
        visible_alias = "tmpl",
        value_name = "FILE=NAME",
        allow_hyphen_values = true,
        help_heading = "Jobs"
    )]
    pub(crate) template: Vec<String>,
    /// Remove the files --template wrote for a job when it ends (on hosts: those transferred and returned too).
    #[arg(long = "cleanup", help_heading = "Jobs")]
    pub(crate) cleanup: bool,
}

/// One `--template`, read.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// FILE's content.
    pub(crate) content: Vec<u8>,
    /// NAME, with its replacement strings.
    pub(crate) name: Vec<u8>,
}

impl TmplFlags {
    /// Reads the template files, before any job runs.
    ///
    /// GNU parallel keeps the templates in a hash keyed by FILE, so a FILE
    /// given twice is written once, to the last NAME given for it.
    pub(crate) fn resolve(&self) -> Result<Vec<Source>, String> {
        let mut last: Vec<(&str, &str)> = Vec::new();
        for t in &self.template {
            let (file, name) = t
                .split_once('=')
                .ok_or_else(|| format!("--template needs FILE=NAME, not {t:?}"))?;
            match last.iter_mut().find(|(f, _)| *f == file) {
                Some(given) => given.1 = name,
                None => last.push((file, name)),
            }
        }
        last.into_iter()
            .map(|(file, name)| {
                // A directory opens, and reads as nothing, as Perl's
                // open and read make it in GNU parallel.
                let content = match std::fs::read(file) {
                    Err(_) if std::path::Path::new(file).is_dir() => Vec::new(),
                    read => read.map_err(|_| format!("Cannot open '{file}'."))?,
                };
                Ok(Source {
                    content,
                    name: name.as_bytes().to_vec(),
                })
            })
            .collect()
    }
}

/// A template ready for jobs: its name and content parsed.
#[derive(Debug, Clone)]
pub(crate) struct Filled {
    pub(crate) name: Template,
    pub(crate) content: Template,
}

/// A template that could not be written: it ends the run.
#[derive(Debug)]
pub(crate) struct Unwritable {
    /// What to say (GNU parallel only says `Died at ... line NNNN.`).
    pub(crate) message: String,
    /// The run's exit status: the errno, as GNU parallel's
    /// `open(...) || die` exits with it (`ENOENT` 2, `ENOTDIR` 20,
    /// `EISDIR` 21), or 255 without one.
    pub(crate) status: i32,
}

/// Writes each template for a job (`render` puts its values in); returns
/// the files written.
pub(crate) fn fill(templates: &[Filled], render: impl Fn(&Template) -> Vec<u8>) -> Result<Vec<PathBuf>, Unwritable> {
    let mut written = Vec::new();
    for t in templates {
        let name = PathBuf::from(std::ffi::OsString::from(
            String::from_utf8_lossy(&render(&t.name)).into_owned(),
        ));
        std::fs::write(&name, render(&t.content)).map_err(|e| Unwritable {
            message: format!(
                "--template cannot write {}: {}",
                name.display(),
                crate::jobs::io_reason(&e)
            ),
            status: e.raw_os_error().filter(|n| (1..=255).contains(n)).unwrap_or(255),
        })?;
        written.push(name);
    }
    Ok(written)
}
