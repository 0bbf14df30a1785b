//! PatchDesk report renderers: the engine's [`WeeklyReport`] as an archivable PDF, as CSV (one
//! file per table) and as JSON, plus the trend chart as SVG for the app's preview. Owns layout
//! and file formats only; every figure comes from the engine (`patchdesk_engine::report`), and
//! this crate must not read the database or compute metrics.
//!
//! # Why krilla
//!
//! The PDF is written in-process by [krilla](https://crates.io/crates/krilla) 0.8, chosen over
//! typst (the other maintained candidate) because:
//! - it is the PDF layer typst itself uses (typst-pdf is built on it), without typst's
//!   compiler, so it adds a few small crates to the build instead of a typesetting system
//!   (compile time counts on a 2-core CI);
//! - it validates what it writes: with the PDF/A-2a validator an export that would break the
//!   standard (a font not embedded, a missing glyph, untagged structure) fails instead of
//!   producing a file that only looks right, and it writes the XMP metadata and output intent
//!   PDF/A needs;
//! - it embeds and subsets TrueType fonts, shapes text (rustybuzz) and writes real text, so the
//!   report is selectable and searchable;
//! - it supports tagged PDF (logical structure: headings, paragraphs, tables with header
//!   cells, figures with alternate text, artifacts for running headers), which PDF/A-2a needs;
//! - vector paths for the chart; A4 and Letter are just page sizes.
//!
//! What krilla does not do is layout: [`layout`] places text, wraps it, and breaks tables
//! across pages with a repeated header row (a few hundred lines, regular content). With typst
//! the report would have been a template (and typst's table header repetition for free), at
//! the cost of a much heavier dependency and of generating markup from hostile strings.
//!
//! Fonts: DejaVu Sans (regular and bold) from Debian's `fonts-dejavu-core` 2.37, embedded with
//! `include_bytes!` (licence: `fonts/LICENSE-DejaVu.txt`, Bitstream Vera licence with DejaVu
//! changes in the public domain). Characters the font lacks are printed as `?` (PDF/A forbids
//! the missing-glyph glyph).

mod chart;
mod csv_out;
mod fonts;
mod layout;
mod pdf;
mod text;

pub use chart::{trend_chart, Chart};
pub use csv_out::tables as csv_tables;
use patchdesk_engine::report::{Paper, RenderedFile, ReportFormat, WeeklyReport};

/// What can go wrong while rendering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the PDF could not be written ({0})")]
    Pdf(String),
    #[error("the CSV could not be written ({0})")]
    Csv(String),
    #[error("the JSON could not be written ({0})")]
    Json(String),
}

impl From<Error> for patchdesk_engine::Error {
    fn from(e: Error) -> Self {
        patchdesk_engine::Error::Report(e.to_string())
    }
}

/// The report as a PDF/A-2a document on `paper`.
pub fn pdf(report: &WeeklyReport, paper: Paper) -> Result<Vec<u8>, Error> {
    pdf::render(report, paper)
}

/// The report as pretty-printed JSON: the engine's data structure as is (its fields are
/// documented in the README, `format_version` says which set they are).
pub fn json(report: &WeeklyReport) -> Result<Vec<u8>, Error> {
    let mut v = serde_json::to_vec_pretty(report).map_err(|e| Error::Json(e.to_string()))?;
    v.push(b'\n');
    Ok(v)
}

/// The trend chart as SVG: the very shapes the PDF draws.
pub fn chart_svg(report: &WeeklyReport) -> String {
    trend_chart(report).to_svg()
}

/// The base of a report's file names: `group-web-2026-W48`.
pub fn file_stem(report: &WeeklyReport) -> String {
    format!("{}-{}", report.scope.file_stem(), report.week)
}

/// What the scheduled weekly run writes for one scope: the PDF and the JSON.
pub fn scheduled_files(
    report: &WeeklyReport,
    paper: Paper,
) -> patchdesk_engine::Result<Vec<RenderedFile>> {
    let stem = file_stem(report);
    Ok(vec![
        RenderedFile {
            name: format!("{stem}.pdf"),
            format: ReportFormat::Pdf,
            bytes: pdf(report, paper)?,
        },
        RenderedFile {
            name: format!("{stem}.json"),
            format: ReportFormat::Json,
            bytes: json(report)?,
        },
    ])
}

/// The CSV tables as files in a folder named after the report.
pub fn csv_files(report: &WeeklyReport) -> patchdesk_engine::Result<Vec<RenderedFile>> {
    Ok(csv_tables(report)?
        .into_iter()
        .map(|(name, bytes)| RenderedFile {
            name,
            format: ReportFormat::Csv,
            bytes,
        })
        .collect())
}
