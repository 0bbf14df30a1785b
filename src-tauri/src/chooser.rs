//! Native (GTK) file choosers, run in a child process of the app.
//!
//! Owns: what a chooser is asked (open a file, save a file, pick a folder; its title, the folder
//! it opens in, a suggested name, filters), running it as `patchdesk-app --file-chooser SPEC`, and
//! reading the one line of JSON the child answers with.
//! Must not touch: the database, or anything else of the app — the child only shows the chooser.
//!
//! Why a child process: GTK's chooser reads the files of every folder it shows (to guess their
//! type) and closes them again. In the app's own process, closing a descriptor of the database
//! (or its WAL/SHM files) drops every POSIX lock SQLite holds on that file; another process (the
//! CLI) then takes itself for the last connection and deletes the WAL under the running app,
//! whose later writes are lost. A chooser in its own process cannot touch the app's locks.
//! rfd (the crate behind tauri-plugin-dialog) does the GTK part; only the process split is ours.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The command-line switch that makes `patchdesk-app` show one chooser and exit.
pub const SWITCH: &str = "--file-chooser";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    OpenFile,
    SaveFile,
    Folder,
}

/// One chooser to show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spec {
    pub kind: Kind,
    pub title: String,
    /// The folder it opens in.
    pub start_dir: Option<PathBuf>,
    /// A save dialog's suggested name.
    pub file_name: Option<String>,
    /// (name, extensions without the dot).
    pub filters: Vec<(String, Vec<String>)>,
}

/// The child's answer: the chosen path, or `None` when cancelled.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    path: Option<PathBuf>,
}

impl Spec {
    pub fn new(kind: Kind, title: &str, near: Option<&Path>) -> Self {
        Spec {
            kind,
            title: title.to_string(),
            start_dir: start_dir(near),
            file_name: None,
            filters: Vec::new(),
        }
    }
}

/// The folder a chooser opens in: the one `near` names (or its parent), else the home folder.
/// GTK's folder chooser left without one opens on "Recent", where it cannot pick a folder.
fn start_dir(near: Option<&Path>) -> Option<PathBuf> {
    let near = near.filter(|p| !p.as_os_str().is_empty());
    near.into_iter()
        .flat_map(|p| [Some(p), p.parent()])
        .flatten()
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
}

/// Show the chooser in a child process and wait for it (off the async runtime's threads).
/// `Err`: the child could not run or answered nonsense, in words.
pub async fn choose(spec: Spec) -> Result<Option<PathBuf>, String> {
    let json = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
    let out = tauri::async_runtime::spawn_blocking(move || {
        let exe = std::env::current_exe()?;
        std::process::Command::new(exe)
            .arg(SWITCH)
            .arg(json)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the file chooser could not be started ({e})"))?;
    read_answer(&out)
}

/// What the child said. An answer printed counts even if the child died after it.
fn read_answer(out: &std::process::Output) -> Result<Option<PathBuf>, String> {
    match parse_answer(&out.stdout) {
        Ok(path) => Ok(path),
        Err(_) if !out.status.success() => Err(format!(
            "the file chooser failed ({}){}",
            out.status,
            match String::from_utf8_lossy(&out.stderr).trim() {
                "" => String::new(),
                e => format!(": {}", patchdesk_engine::text::clip(e, 300)),
            }
        )),
        Err(e) => Err(e),
    }
}

/// The child's stdout: its last line is the answer (GTK may print warnings before it).
fn parse_answer(stdout: &[u8]) -> Result<Option<PathBuf>, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str::<Answer>(line)
        .map(|a| a.path)
        .map_err(|e| format!("the file chooser answered something unreadable ({e})"))
}

/// In the child: show the chooser `arg` describes, print the answer, return the exit status.
pub fn run_child(arg: Option<&str>) -> i32 {
    let spec: Spec = match arg.map(serde_json::from_str) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("patchdesk-app {SWITCH}: unreadable spec ({e})");
            return 2;
        }
        None => {
            eprintln!("patchdesk-app {SWITCH} SPEC: the spec (JSON) is missing");
            return 2;
        }
    };
    let mut d = rfd::FileDialog::new().set_title(&spec.title);
    if let Some(dir) = &spec.start_dir {
        d = d.set_directory(dir);
    }
    if let Some(name) = &spec.file_name {
        d = d.set_file_name(name);
    }
    for (name, exts) in &spec.filters {
        d = d.add_filter(name, exts);
    }
    let path = match spec.kind {
        Kind::OpenFile => d.pick_file(),
        Kind::SaveFile => d.save_file(),
        Kind::Folder => d.pick_folder(),
    };
    match serde_json::to_string(&Answer { path }) {
        Ok(line) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                return 1;
            }
            // Leave at once: rfd keeps GTK running on a thread of its own, and the normal exit
            // (atexit handlers tearing GLib down under that thread) crashed now and then.
            // SAFETY: `_exit` ends the process without running any handler; the answer is
            // flushed and nothing else is pending in this process.
            unsafe { libc::_exit(0) }
        }
        Err(e) => {
            eprintln!("patchdesk-app {SWITCH}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chooser_opens_in_the_fields_folder_or_its_parent_else_home() {
        let dir = std::env::temp_dir();
        let file = dir.join("surely-not-here.csv");
        assert_eq!(start_dir(Some(&dir)), Some(dir.clone()));
        assert_eq!(start_dir(Some(&file)), Some(dir.clone()));
        let home = std::env::var_os("HOME").map(PathBuf::from);
        assert_eq!(start_dir(None), home);
        assert_eq!(start_dir(Some(Path::new(""))), home);
        assert_eq!(start_dir(Some(Path::new("/no/such/dir/x"))), home);
    }

    #[test]
    fn the_childs_answer_is_its_last_line() {
        let out = b"(patchdesk-app:1): Gtk-WARNING **: something\n{\"path\":\"/tmp/a b\"}\n";
        assert_eq!(parse_answer(out), Ok(Some(PathBuf::from("/tmp/a b"))));
        assert_eq!(parse_answer(b"{\"path\":null}\n"), Ok(None));
        assert!(parse_answer(b"").unwrap_err().contains("unreadable"));
        assert!(parse_answer(b"garbage").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn an_answer_counts_even_if_the_child_died_after_it() {
        use std::os::unix::process::ExitStatusExt;
        let segv = std::process::ExitStatus::from_raw(11);
        let out = |stdout: &[u8], stderr: &[u8]| std::process::Output {
            status: segv,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
        };
        assert_eq!(
            read_answer(&out(b"{\"path\":\"/tmp/x\"}\n", b"")),
            Ok(Some(PathBuf::from("/tmp/x")))
        );
        let e = read_answer(&out(b"", b"Gtk-ERROR: cannot open display")).unwrap_err();
        assert!(
            e.contains("failed") && e.contains("cannot open display"),
            "{e}"
        );
    }

    #[test]
    fn a_spec_survives_the_command_line() {
        let mut s = Spec::new(Kind::SaveFile, "Save the report", None);
        s.file_name = Some("group-web-2026-W48.pdf".into());
        s.filters.push(("PDF".into(), vec!["pdf".into()]));
        let back: Spec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
