//! The terminal: every byte the CLI writes goes through here. Owns the two rules for output:
//! text is cleaned by the engine's one sanitiser (`patchdesk_engine::text`: control characters,
//! terminal escapes and Unicode bidi controls never reach the terminal, whatever a host, a feed or
//! a file said), and a closed pipe ends the program quietly, as a Unix tool does
//! (`patchdesk host list | head -1`), instead of a panic.

use patchdesk_engine::text::is_unsafe;
use std::io::Write;

/// Text for people: unsafe characters removed, newlines and tabs kept.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !is_unsafe(*c))
        .collect()
}

/// JSON for scripts: serde_json already escapes control characters inside strings; the other
/// unsafe characters (bidi controls, line separators) are escaped too (`\u202e`), so the data
/// stays exact and the terminal stays safe.
pub fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c != '\n' && is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Write to standard output; a closed pipe exits quietly (status 0: the reader has what it
/// wanted), any other write error exits with status 1 and one line on stderr.
pub fn stdout(s: &str) {
    let mut lock = std::io::stdout().lock();
    if let Err(e) = lock.write_all(s.as_bytes()).and_then(|_| lock.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "patchdesk: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Write to standard error; errors are ignored (a closed stderr must not stop a running job).
pub fn stderr(s: &str) {
    let mut lock = std::io::stderr().lock();
    let _ = lock.write_all(s.as_bytes()).and_then(|_| lock.flush());
}

/// `println!` for the CLI: cleaned, and quiet on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::term::stdout("\n") };
    ($($t:tt)*) => { $crate::term::stdout(&($crate::term::clean(&format!($($t)*)) + "\n")) };
}

/// `print!` for the CLI.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::term::stdout(&$crate::term::clean(&format!($($t)*))) };
}

/// `eprintln!` for the CLI.
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => { $crate::term::stderr(&($crate::term::clean(&format!($($t)*)) + "\n")) };
}

/// `eprint!` for the CLI.
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => { $crate::term::stderr(&$crate::term::clean(&format!($($t)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_escapes_and_bidi_keeps_layout() {
        assert_eq!(
            clean("a\u{1b}]0;pwned\u{7}\u{1b}[2Jb\tc\n\u{202e}d"),
            "a]0;pwned[2Jb\tc\nd"
        );
        assert_eq!(
            json_escape("{\"x\": \"a\u{202e}b\"}\n"),
            "{\"x\": \"a\\u202eb\"}\n"
        );
    }
}
