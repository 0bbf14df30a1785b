//! The embedded fonts (DejaVu Sans, regular and bold; licence in `fonts/LICENSE-DejaVu.txt`) and
//! their metrics, used to measure and wrap text before it is placed.

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};
use std::collections::HashMap;
use std::sync::OnceLock;

pub(crate) static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
pub(crate) static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Which face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    Regular,
    Bold,
}

/// Advance widths per character (at 1 pt) and the set of characters the face has.
pub(crate) struct Metrics {
    widths: HashMap<char, f32>,
    fallback: f32,
}

fn load(bytes: &'static [u8]) -> Metrics {
    let mut widths = HashMap::new();
    let mut fallback = 0.6;
    if let Ok(font) = FontRef::new(bytes) {
        let upem = f32::from(
            font.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        )
        .max(1.0);
        let gm = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        for (cp, gid) in font.charmap().mappings() {
            if let (Some(c), Some(w)) = (char::from_u32(cp), gm.advance_width(gid)) {
                widths.insert(c, w / upem);
            }
        }
        fallback = widths.get(&'?').copied().unwrap_or(0.6);
    }
    Metrics { widths, fallback }
}

pub(crate) fn metrics(face: Face) -> &'static Metrics {
    static R: OnceLock<Metrics> = OnceLock::new();
    static B: OnceLock<Metrics> = OnceLock::new();
    match face {
        Face::Regular => R.get_or_init(|| load(REGULAR)),
        Face::Bold => B.get_or_init(|| load(BOLD)),
    }
}

impl Metrics {
    /// The width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| self.widths.get(&c).copied().unwrap_or(self.fallback))
            .sum::<f32>()
            * size
    }

    pub(crate) fn has(&self, c: char) -> bool {
        self.widths.contains_key(&c)
    }
}

/// Make any string safe to typeset: control characters become spaces (runs collapsed), and a
/// character the font has no glyph for becomes `?` (PDF/A forbids the missing-glyph glyph).
/// Remote and user strings (host and package names, reasons) all pass through here.
pub(crate) fn clean(text: &str) -> String {
    let m = metrics(Face::Regular);
    let b = metrics(Face::Bold);
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else if m.has(c) && b.has(c) {
            c
        } else {
            '?'
        };
        if c == ' ' {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Break `text` into lines no wider than `width` at `size`: at spaces, and inside words that
/// are wider than a line by themselves (long package lists, hostile names).
pub(crate) fn wrap(text: &str, face: Face, size: f32, width: f32) -> Vec<String> {
    let m = metrics(face);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if m.width(&candidate, size) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // The word alone: split it where it overflows.
        let mut part = String::new();
        for c in word.chars() {
            part.push(c);
            if m.width(&part, size) > width && part.chars().count() > 1 {
                part.pop();
                lines.push(std::mem::take(&mut part));
                part.push(c);
            }
        }
        line = part;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_and_wrapping_hostile_text() {
        assert_eq!(clean("a\tb\n\u{7}c  d "), "a b c d");
        // DejaVu Sans has Latin, Greek, Cyrillic; not CJK.
        assert_eq!(clean("é Ω Ж 漢字"), "é Ω Ж ??");
        let long = "x".repeat(500);
        let lines = wrap(&long, Face::Regular, 8.0, 100.0);
        assert!(lines.len() > 5);
        assert!(lines
            .iter()
            .all(|l| metrics(Face::Regular).width(l, 8.0) <= 100.0));
        assert_eq!(lines.concat(), long);
        assert_eq!(wrap("", Face::Regular, 8.0, 10.0), [""]);
        assert_eq!(
            wrap("alpha beta gamma", Face::Bold, 10.0, 1000.0),
            ["alpha beta gamma"]
        );
    }
}
