//! Text from outside (hosts, feeds, files) made safe to keep and to show. Owns the one rule for
//! which characters never reach a terminal or the window: control characters (C0, C1, DEL) and
//! the Unicode bidirectional controls (U+202E and friends reorder what a person reads: a file
//! name or a command can be made to look like another), plus the line and paragraph separators.
//! Owns no I/O. The CLI and the app show host strings only after they went through here (the
//! parsers store them cleaned; the CLI cleans again before printing anything a host or a feed
//! said).

/// True for characters that must never be stored or shown as they came.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` without unsafe characters.
pub fn clean(s: &str) -> String {
    s.chars().filter(|c| !is_unsafe(*c)).collect()
}

/// `s` trimmed, without unsafe characters, and at most `max` bytes (cut at a character boundary).
/// Only the first `max` bytes of the input are looked at, so a 64 MiB line costs nothing.
pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = clean(&s[..end]);
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_controls_and_bidi() {
        assert_eq!(clean("a\u{1b}[31mb\u{7}"), "a[31mb");
        assert_eq!(clean("evil\u{202e}txt.exe"), "eviltxt.exe");
        assert_eq!(clean("\u{2066}x\u{2069}\u{200f}"), "x");
        assert_eq!(clean("naïve — ok"), "naïve — ok");
        assert_eq!(clip("  ééé  ", 3), "é");
        assert_eq!(clip(&"x".repeat(10_000_000), 4), "xxxx");
    }
}
