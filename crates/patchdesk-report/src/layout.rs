//! Page layout: places headings, paragraphs, tables and charts on pages (tables break across
//! pages and repeat their header row), and records the document's logical structure (headings,
//! paragraphs, table rows and cells, figures) for the tagged PDF. Written by hand because no
//! maintained crate lays out tables on top of krilla; the layout needs are small and regular.

use crate::chart::{Chart, Rgb, GREY, GRID, INK};
use crate::fonts::{clean, wrap, Face};

pub(crate) const MARGIN: f32 = 42.0;
const HEADER_SPACE: f32 = 30.0;
const FOOTER_SPACE: f32 = 30.0;

#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `leaf`: the structure leaf it belongs to; `None`: an artifact (repeated header row).
    Text {
        x: f32,
        y: f32,
        size: f32,
        face: Face,
        color: Rgb,
        text: String,
        leaf: Option<usize>,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        color: Rgb,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Chart {
        x: f32,
        y: f32,
        chart: Chart,
        leaf: usize,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Page {
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Section,
    H(u16),
    P,
    Table,
    THead,
    TBody,
    TR,
    TH,
    TD,
    Figure(String),
}

#[derive(Debug)]
pub(crate) enum Child {
    Node(usize),
    Leaf(usize),
}

#[derive(Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub children: Vec<Child>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table column: title, share of the text width, alignment.
pub(crate) struct Col {
    pub title: &'static str,
    pub share: f32,
    pub align: Align,
}

pub(crate) const fn col(title: &'static str, share: f32) -> Col {
    Col {
        title,
        share,
        align: Align::Left,
    }
}

pub(crate) const fn num(title: &'static str, share: f32) -> Col {
    Col {
        title,
        share,
        align: Align::Right,
    }
}

pub(crate) struct Layout {
    pub width: f32,
    pub height: f32,
    pub pages: Vec<Page>,
    pub nodes: Vec<Node>,
    pub roots: Vec<usize>,
    pub leaves: usize,
    section: Option<usize>,
    y: f32,
}

const BODY: f32 = 9.0;
const CELL: f32 = 7.5;
const MAX_CELL_LINES: usize = 12;

impl Layout {
    pub(crate) fn new(width: f32, height: f32) -> Self {
        let mut l = Self {
            width,
            height,
            pages: Vec::new(),
            nodes: Vec::new(),
            roots: Vec::new(),
            leaves: 0,
            section: None,
            y: 0.0,
        };
        l.new_page();
        l
    }

    fn top(&self) -> f32 {
        MARGIN + HEADER_SPACE
    }

    fn bottom(&self) -> f32 {
        self.height - MARGIN - FOOTER_SPACE
    }

    pub(crate) fn text_width(&self) -> f32 {
        self.width - 2.0 * MARGIN
    }

    fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = self.top();
    }

    /// Start a new page unless `h` more points fit on this one.
    fn need(&mut self, h: f32) -> bool {
        if self.y + h > self.bottom() && self.y > self.top() {
            self.new_page();
            true
        } else {
            false
        }
    }

    pub(crate) fn page_break(&mut self) {
        if self.y > self.top() {
            self.new_page();
        }
    }

    fn op(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.ops.push(op);
        }
    }

    fn node(&mut self, kind: Kind, parent: Option<usize>) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            kind,
            children: Vec::new(),
        });
        match parent {
            Some(p) => self.nodes[p].children.push(Child::Node(id)),
            None => self.roots.push(id),
        }
        id
    }

    fn leaf(&mut self, parent: usize) -> usize {
        let id = self.leaves;
        self.leaves += 1;
        self.nodes[parent].children.push(Child::Leaf(id));
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn text(&mut self, x: f32, y: f32, size: f32, face: Face, color: Rgb, t: &str, parent: usize) {
        let leaf = self.leaf(parent);
        self.op(Op::Text {
            x,
            y,
            size,
            face,
            color,
            text: t.to_string(),
            leaf: Some(leaf),
        });
    }

    /// A new top-level section (its heading follows).
    pub(crate) fn section(&mut self) {
        let s = self.node(Kind::Section, None);
        self.section = Some(s);
    }

    pub(crate) fn heading(&mut self, level: u16, title: &str) {
        let size = match level {
            1 => 17.0,
            2 => 12.5,
            _ => 10.5,
        };
        // Keep a heading with at least a few lines of what follows.
        self.need(size * 1.6 + 48.0);
        self.y += if level == 1 { 0.0 } else { size * 0.9 };
        let h = self.node(Kind::H(level), self.section);
        let lines = wrap(&clean(title), Face::Bold, size, self.text_width());
        for line in lines {
            self.y += size * 1.25;
            self.text(MARGIN, self.y, size, Face::Bold, INK, &line, h);
        }
        self.y += size * 0.5;
    }

    pub(crate) fn paragraph(&mut self, t: &str) {
        self.paragraph_with(t, BODY, Face::Regular, INK);
    }

    pub(crate) fn note(&mut self, t: &str) {
        self.paragraph_with(t, 8.0, Face::Regular, GREY);
    }

    pub(crate) fn paragraph_with(&mut self, t: &str, size: f32, face: Face, color: Rgb) {
        let p = self.node(Kind::P, self.section);
        for line in wrap(&clean(t), face, size, self.text_width()) {
            self.need(size * 1.35);
            self.y += size * 1.35;
            if !line.is_empty() {
                self.text(MARGIN, self.y, size, face, color, &line, p);
            }
        }
        if self.nodes[p].children.is_empty() {
            // An empty paragraph has no content to tag: keep the tree without it.
            self.text(MARGIN, self.y, size, face, color, "-", p);
        }
        self.y += size * 0.6;
    }

    pub(crate) fn chart(&mut self, chart: Chart) {
        self.need(chart.height + 8.0);
        let f = self.node(Kind::Figure(chart.alt.clone()), self.section);
        let leaf = self.leaf(f);
        let x = MARGIN + (self.text_width() - chart.width).max(0.0) / 2.0;
        let h = chart.height;
        let y = self.y + 4.0;
        self.op(Op::Chart { x, y, chart, leaf });
        self.y += h + 8.0;
    }

    /// Cell text as wrapped lines, capped (a cell never outgrows a page).
    fn cell_lines(t: &str, width: f32, face: Face) -> Vec<String> {
        let t = clean(t);
        let t = if t.is_empty() { "-".to_string() } else { t };
        let mut lines = wrap(&t, face, CELL, width);
        if lines.len() > MAX_CELL_LINES {
            let more = lines.len() - MAX_CELL_LINES + 1;
            lines.truncate(MAX_CELL_LINES - 1);
            lines.push(format!("… ({more} more lines in the CSV)"));
        }
        lines
    }

    fn widths(&self, cols: &[Col]) -> Vec<f32> {
        let total: f32 = cols.iter().map(|c| c.share).sum::<f32>().max(0.0001);
        cols.iter()
            .map(|c| c.share / total * self.text_width())
            .collect()
    }

    fn draw_row(
        &mut self,
        cols: &[Col],
        widths: &[f32],
        cells: &[Vec<String>],
        face: Face,
        tags: Option<(usize, Kind)>,
        shade: bool,
    ) {
        let pad = 3.0;
        let line_h = CELL * 1.3;
        let lines = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let h = lines as f32 * line_h + 2.0 * pad;
        let y0 = self.y;
        if shade {
            self.op(Op::Rect {
                x: MARGIN,
                y: y0,
                w: self.text_width(),
                h,
                fill: Rgb(0xf3, 0xf5, 0xf8),
            });
        }
        let tr = tags
            .as_ref()
            .map(|(parent, _)| self.node(Kind::TR, Some(*parent)));
        let mut x = MARGIN;
        for (i, c) in cols.iter().enumerate() {
            let w = widths[i];
            let cell = tr.map(|tr| {
                let kind = tags.as_ref().map(|(_, k)| k.clone()).unwrap_or(Kind::TD);
                self.node(kind, Some(tr))
            });
            for (k, line) in cells[i].iter().enumerate() {
                let m = crate::fonts::metrics(face);
                let tx = match c.align {
                    Align::Left => x + pad,
                    Align::Right => x + w - pad - m.width(line, CELL),
                };
                let ty = y0 + pad + (k as f32 + 1.0) * line_h - 2.0;
                match cell {
                    Some(cell) => self.text(tx, ty, CELL, face, INK, line, cell),
                    None => self.op(Op::Text {
                        x: tx,
                        y: ty,
                        size: CELL,
                        face,
                        color: INK,
                        text: line.clone(),
                        leaf: None,
                    }),
                }
            }
            x += w;
        }
        self.y = y0 + h;
        self.op(Op::Line {
            x1: MARGIN,
            y1: self.y,
            x2: MARGIN + self.text_width(),
            y2: self.y,
            width: 0.4,
            color: GRID,
        });
    }

    /// A table that breaks across pages, repeating its header row on each new page (as an
    /// artifact: the structure has the header once). An empty table says `empty` instead.
    pub(crate) fn table(&mut self, cols: &[Col], rows: &[Vec<String>], empty: &str) {
        if rows.is_empty() {
            self.paragraph_with(empty, BODY, Face::Regular, GREY);
            return;
        }
        let widths = self.widths(cols);
        let header: Vec<Vec<String>> = cols
            .iter()
            .zip(&widths)
            .map(|(c, w)| Self::cell_lines(c.title, *w - 6.0, Face::Bold))
            .collect();
        let header_h = header.iter().map(Vec::len).max().unwrap_or(1) as f32 * CELL * 1.3 + 6.0;
        let table = self.node(Kind::Table, self.section);
        let thead = self.node(Kind::THead, Some(table));
        let tbody = self.node(Kind::TBody, Some(table));
        let first: Vec<Vec<String>> = rows
            .first()
            .map(|r| {
                r.iter()
                    .zip(&widths)
                    .map(|(t, w)| Self::cell_lines(t, *w - 6.0, Face::Regular))
                    .collect()
            })
            .unwrap_or_default();
        let first_h = first.iter().map(Vec::len).max().unwrap_or(1) as f32 * CELL * 1.3 + 6.0;
        self.need(header_h + first_h + 4.0);
        self.y += 2.0;
        self.header_rule();
        self.draw_row(
            cols,
            &widths,
            &header,
            Face::Bold,
            Some((thead, Kind::TH)),
            false,
        );
        for (i, r) in rows.iter().enumerate() {
            let cells: Vec<Vec<String>> = r
                .iter()
                .zip(&widths)
                .map(|(t, w)| Self::cell_lines(t, *w - 6.0, Face::Regular))
                .collect();
            let h = cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * CELL * 1.3 + 6.0;
            if self.need(h) {
                self.header_rule();
                self.draw_row(cols, &widths, &header, Face::Bold, None, false);
            }
            self.draw_row(
                cols,
                &widths,
                &cells,
                Face::Regular,
                Some((tbody, Kind::TD)),
                i % 2 == 1,
            );
        }
        self.y += 8.0;
    }

    fn header_rule(&mut self) {
        self.op(Op::Line {
            x1: MARGIN,
            y1: self.y,
            x2: MARGIN + self.text_width(),
            y2: self.y,
            width: 0.8,
            color: INK,
        });
    }
}
