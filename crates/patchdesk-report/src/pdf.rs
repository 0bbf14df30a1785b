//! The PDF: the report laid out on A4 or Letter pages and written by krilla as PDF/A-2a
//! (archivable, tagged): embedded and subset fonts, real text, a vector chart, repeated table
//! headers, the scope and week on every page, page numbers.

use crate::chart::{self, Anchor, Item, Rgb, GREY, INK};
use crate::fonts::{clean, Face, BOLD, REGULAR};
use crate::layout::{col, num, Child, Kind, Layout, Op, MARGIN};
use crate::text::*;
use crate::Error;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime as PdfDate, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::tagging::{
    Artifact, ArtifactType, ContentTag, Identifier, Node, SpanTag, TableHeaderScope, Tag, TagGroup,
    TagTree,
};
use krilla::text::{Font, TextDirection};
use krilla::{Document, SerializeSettings};
use patchdesk_engine::report::{Paper, Scope, WeeklyReport};
use std::num::NonZeroU16;

fn page_size(paper: Paper) -> (f32, f32) {
    match paper {
        Paper::A4 => (595.28, 841.89),
        Paper::Letter => (612.0, 792.0),
    }
}

/// Lay the report out (everything but the running header and footer).
fn lay_out(r: &WeeklyReport, paper: Paper) -> Layout {
    let (w, h) = page_size(paper);
    let mut l = Layout::new(w, h);
    let s = &r.summary;

    l.section();
    l.heading(1, &format!("Weekly patch status: {}", r.scope_title));
    l.paragraph(&format!(
        "ISO week {} ({} to {}). Figures as of {}{}. Generated {}.",
        r.week,
        day(r.period_start),
        day(r.period_end),
        when(r.as_of),
        if r.complete {
            " (the week is over: final figures)"
        } else {
            " (the week is still running: provisional figures)"
        },
        when(r.generated_at)
    ));

    l.section();
    l.heading(2, "Summary");
    l.table(
        &[
            col("Figure", 30.0),
            col("Value", 38.0),
            col("Target", 20.0),
            col("Status", 12.0),
        ],
        &summary_rows(r),
        "",
    );
    l.note(&freshness_line(r));

    l.section();
    l.heading(2, "Trend, last 12 weeks");
    l.chart(chart::trend_chart(r));
    l.table(
        &[
            col("Week", 13.0),
            num("Compliance", 14.0),
            num("Overdue", 11.0),
            num("Critical patched", 14.0),
            num("Critical median time-to-patch", 22.0),
            col("Snapshot", 26.0),
        ],
        &trend_rows(r),
        "",
    );

    l.section();
    l.heading(2, "Patches and time-to-patch by bucket");
    l.table(
        &[
            col("Bucket", 18.0),
            num("Open", 12.0),
            num("Overdue", 12.0),
            num("Applied", 12.0),
            num("Median time-to-patch", 23.0),
            num("Mean time-to-patch", 23.0),
        ],
        &bucket_rows(&s.buckets),
        "",
    );

    if r.scope == Scope::Fleet {
        // The fleet report: one page of totals, then a section per group.
        l.page_break();
        l.section();
        l.heading(2, "Groups");
        l.table(
            &[
                col("Group", 22.0),
                num("Hosts", 9.0),
                num("Not current", 12.0),
                num("Compliance", 14.0),
                num("Overdue", 11.0),
                num("Open critical / high", 16.0),
                num("Critical median time-to-patch", 16.0),
            ],
            &group_rows(r),
            "No host belongs to a group.",
        );
        for g in &s.groups {
            l.section();
            l.heading(3, &format!("Group {}", g.group));
            l.paragraph(&format!(
                "{} host(s): {} scanned within 24 h, {} stale, {} unreachable, {} never scanned, {} waiting for a reboot. Compliance {} ({} of {} patches inside their deadline), {} overdue.",
                g.hosts.total,
                g.hosts.scanned,
                g.hosts.stale,
                g.hosts.unreachable,
                g.hosts.never_scanned,
                g.hosts.reboot_pending,
                pct(g.compliance.percent),
                g.compliance.compliant,
                g.compliance.with_deadline,
                g.compliance.overdue
            ));
            l.table(
                &[
                    col("Bucket", 18.0),
                    num("Open", 12.0),
                    num("Overdue", 12.0),
                    num("Applied", 12.0),
                    num("Median time-to-patch", 23.0),
                    num("Mean time-to-patch", 23.0),
                ],
                &bucket_rows(&g.buckets),
                "",
            );
        }
    }

    let patch_cols = |last: &'static str| {
        [
            col("Package", 16.0),
            col("Version", 11.0),
            col("Bucket", 9.0),
            col("CVEs", 17.0),
            col("Hosts", 22.0),
            col("Deadline (UTC)", 15.0),
            num(last, 10.0),
        ]
    };
    l.section();
    let count = |rows: &[patchdesk_engine::report::PatchRow]| {
        let hosts: usize = rows.iter().map(|p| p.hosts.len()).sum();
        if rows.is_empty() {
            "none".to_string()
        } else {
            format!("{hosts} on {} package(s)", rows.len())
        }
    };
    l.heading(2, &format!("Overdue patches ({})", count(&r.overdue)));
    l.table(
        &patch_cols("Days overdue"),
        &patch_rows(&r.overdue, true),
        "No patch is past its deadline.",
    );
    l.section();
    l.heading(
        2,
        &format!("Due in the next 7 days ({})", count(&r.due_soon)),
    );
    l.table(
        &patch_cols("Hours left"),
        &patch_rows(&r.due_soon, false),
        "No deadline falls in the next 7 days.",
    );

    l.section();
    l.heading(
        2,
        &format!("Deployments in the week ({})", r.deployments.len()),
    );
    l.table(
        &[
            num("#", 5.0),
            col("Name", 20.0),
            col("Scope", 10.0),
            col("Outcome", 11.0),
            num("Gates passed", 9.0),
            col("No-go reasons", 28.0),
            col("Rolled back", 17.0),
        ],
        &deployment_rows(r),
        "No deployment in this week.",
    );
    l.section();
    l.heading(2, &format!("Overrides ({})", r.overrides.len()));
    l.table(
        &[
            col("Deployment", 22.0),
            col("When (UTC)", 16.0),
            col("Overridden", 17.0),
            col("Written reason", 45.0),
        ],
        &override_rows(r),
        "Nothing was overridden in this week.",
    );
    l.section();
    l.heading(2, "Rollback drills");
    l.table(
        &[
            col("Group", 25.0),
            col("Last drill (UTC)", 25.0),
            col("Result", 14.0),
            num("Age (days)", 12.0),
            col("Status", 24.0),
        ],
        &drill_rows(r),
        "No group in this scope.",
    );
    l.section();
    l.heading(2, &format!("Hosts not scanned ({})", r.not_scanned.len()));
    l.table(
        &[
            col("Host", 16.0),
            col("Env", 8.0),
            col("Groups", 14.0),
            col("State", 11.0),
            col("Last good scan (UTC)", 15.0),
            col("Last error", 36.0),
        ],
        &host_rows(r),
        "Every host was scanned within 24 hours.",
    );
    l
}

fn fill(c: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(c.0, c.1, c.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

struct Fonts {
    regular: Font,
    bold: Font,
}

fn draw_text(
    s: &mut Surface<'_>,
    fonts: &Fonts,
    (x, y): (f32, f32),
    size: f32,
    face: Face,
    color: Rgb,
    t: &str,
) {
    s.set_stroke(None);
    s.set_fill(Some(fill(color)));
    let font = match face {
        Face::Regular => fonts.regular.clone(),
        Face::Bold => fonts.bold.clone(),
    };
    s.draw_text(
        Point::from_xy(x, y),
        font,
        size,
        t,
        false,
        TextDirection::Auto,
    );
}

fn draw_line(
    s: &mut Surface<'_>,
    (x1, y1): (f32, f32),
    (x2, y2): (f32, f32),
    width: f32,
    color: Rgb,
    dashed: bool,
) {
    let mut pb = PathBuilder::new();
    pb.move_to(x1, y1);
    pb.line_to(x2, y2);
    if let Some(path) = pb.finish() {
        s.set_fill(None);
        s.set_stroke(Some(Stroke {
            paint: rgb::Color::new(color.0, color.1, color.2).into(),
            width,
            dash: dashed.then(|| StrokeDash {
                array: vec![3.0, 2.0],
                offset: 0.0,
            }),
            ..Default::default()
        }));
        s.draw_path(&path);
        s.set_stroke(None);
    }
}

fn draw_rect(s: &mut Surface<'_>, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
    let Some(rect) = Rect::from_xywh(x, y, w.max(0.01), h.max(0.01)) else {
        return;
    };
    let mut pb = PathBuilder::new();
    pb.push_rect(rect);
    if let Some(path) = pb.finish() {
        s.set_stroke(None);
        s.set_fill(Some(fill(color)));
        s.draw_path(&path);
    }
}

fn draw_dot(s: &mut Surface<'_>, cx: f32, cy: f32, r: f32, color: Rgb) {
    // A circle from four cubic Béziers (k = 0.5523).
    let k = 0.5523 * r;
    let mut pb = PathBuilder::new();
    pb.move_to(cx + r, cy);
    pb.cubic_to(cx + r, cy + k, cx + k, cy + r, cx, cy + r);
    pb.cubic_to(cx - k, cy + r, cx - r, cy + k, cx - r, cy);
    pb.cubic_to(cx - r, cy - k, cx - k, cy - r, cx, cy - r);
    pb.cubic_to(cx + k, cy - r, cx + r, cy - k, cx + r, cy);
    pb.close();
    if let Some(path) = pb.finish() {
        s.set_stroke(None);
        s.set_fill(Some(fill(color)));
        s.draw_path(&path);
    }
}

fn draw_chart(s: &mut Surface<'_>, fonts: &Fonts, ox: f32, oy: f32, c: &chart::Chart) {
    for it in &c.items {
        match it {
            Item::Line {
                x1,
                y1,
                x2,
                y2,
                color,
                width,
                dashed,
            } => draw_line(
                s,
                (ox + x1, oy + y1),
                (ox + x2, oy + y2),
                *width,
                *color,
                *dashed,
            ),
            Item::Polyline {
                points,
                color,
                width,
            } => {
                let mut pb = PathBuilder::new();
                for (i, (x, y)) in points.iter().enumerate() {
                    if i == 0 {
                        pb.move_to(ox + x, oy + y);
                    } else {
                        pb.line_to(ox + x, oy + y);
                    }
                }
                if let Some(path) = pb.finish() {
                    s.set_fill(None);
                    s.set_stroke(Some(Stroke {
                        paint: rgb::Color::new(color.0, color.1, color.2).into(),
                        width: *width,
                        ..Default::default()
                    }));
                    s.draw_path(&path);
                    s.set_stroke(None);
                }
            }
            Item::Rect { x, y, w, h, fill } => draw_rect(s, ox + x, oy + y, *w, *h, *fill),
            Item::Dot { cx, cy, r, fill } => draw_dot(s, ox + cx, oy + cy, *r, *fill),
            Item::Text {
                x,
                y,
                size,
                anchor,
                color,
                bold,
                text,
            } => {
                let start = Item::text_start(*x, *size, *anchor, *bold, text);
                let face = if *bold { Face::Bold } else { Face::Regular };
                draw_text(s, fonts, (ox + start, oy + y), *size, face, *color, text);
            }
        }
    }
}

fn artifact(s: &mut Surface<'_>, kind: ArtifactType, draw: impl FnOnce(&mut Surface<'_>)) {
    s.start_tagged(ContentTag::Artifact(Artifact::with_kind(kind)));
    draw(s);
    s.end_tagged();
}

fn tag_tree(l: &Layout, ids: &mut [Option<Identifier>]) -> TagTree {
    fn group(l: &Layout, n: usize, ids: &mut [Option<Identifier>]) -> Option<TagGroup> {
        let node = &l.nodes[n];
        let mut children: Vec<Node> = Vec::new();
        for c in &node.children {
            match c {
                Child::Node(k) => {
                    if let Some(g) = group(l, *k, ids) {
                        children.push(g.into());
                    }
                }
                Child::Leaf(k) => {
                    if let Some(id) = ids.get_mut(*k).and_then(Option::take) {
                        children.push(id.into());
                    }
                }
            }
        }
        if children.is_empty() {
            return None;
        }
        let tag: krilla::tagging::TagKind = match &node.kind {
            Kind::Section => Tag::Section.into(),
            Kind::H(level) => {
                Tag::Hn(NonZeroU16::new(*level).unwrap_or(NonZeroU16::MIN), None).into()
            }
            Kind::P => Tag::P.into(),
            Kind::Table => Tag::Table.into(),
            Kind::THead => Tag::THead.into(),
            Kind::TBody => Tag::TBody.into(),
            Kind::TR => Tag::TR.into(),
            Kind::TH => Tag::TH(TableHeaderScope::Column).into(),
            Kind::TD => Tag::TD.into(),
            Kind::Figure(alt) => Tag::Figure(Some(alt.clone())).into(),
        };
        Some(TagGroup::with_children(tag, children))
    }
    let mut tree = TagTree::new().with_lang(Some("en".into()));
    for r in &l.roots {
        if let Some(g) = group(l, *r, ids) {
            tree.push(g);
        }
    }
    tree
}

fn pdf_date(t: chrono::DateTime<chrono::Utc>) -> PdfDate {
    use chrono::{Datelike, Timelike};
    PdfDate::new(u16::try_from(t.year()).unwrap_or(1970))
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

/// The report as a PDF/A-2a document.
pub fn render(r: &WeeklyReport, paper: Paper) -> Result<Vec<u8>, Error> {
    let layout = lay_out(r, paper);
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_A)
        .finish()
        .map_err(|e| Error::Pdf(format!("{e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: true,
        compress_content_streams: true,
        ..SerializeSettings::default()
    };
    let fonts = Fonts {
        regular: Font::new(REGULAR.into(), 0)
            .ok_or_else(|| Error::Pdf("the embedded regular font is unreadable".into()))?,
        bold: Font::new(BOLD.into(), 0)
            .ok_or_else(|| Error::Pdf("the embedded bold font is unreadable".into()))?,
    };
    let mut doc = Document::new_with(settings);
    let mut ids: Vec<Option<Identifier>> = vec![None; layout.leaves];
    let total = layout.pages.len();
    let header_left = clean(&format!(
        "PatchDesk weekly patch status · {} · {}",
        r.scope_title, r.week
    ));
    let header_right = format!("{} to {}", day(r.period_start), day(r.period_end));
    let footer_left = format!(
        "Generated {} · figures as of {}",
        when(r.generated_at),
        when(r.as_of)
    );
    let (w, h) = (layout.width, layout.height);
    for (i, page) in layout.pages.iter().enumerate() {
        let settings =
            PageSettings::from_wh(w, h).ok_or_else(|| Error::Pdf("bad page size".into()))?;
        let mut p = doc.start_page_with(settings);
        let mut s = p.surface();
        artifact(&mut s, ArtifactType::Header, |s| {
            draw_text(
                s,
                &fonts,
                (MARGIN, MARGIN + 8.0),
                7.5,
                Face::Regular,
                GREY,
                &header_left,
            );
            let x = Item::text_start(w - MARGIN, 7.5, Anchor::End, false, &header_right);
            draw_text(
                s,
                &fonts,
                (x, MARGIN + 8.0),
                7.5,
                Face::Regular,
                GREY,
                &header_right,
            );
            draw_line(
                s,
                (MARGIN, MARGIN + 13.0),
                (w - MARGIN, MARGIN + 13.0),
                0.5,
                GREY,
                false,
            );
        });
        for op in &page.ops {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    face,
                    color,
                    text,
                    leaf,
                } => match leaf {
                    Some(leaf) => {
                        let id = s.start_tagged(ContentTag::Span(SpanTag::empty()));
                        draw_text(&mut s, &fonts, (*x, *y), *size, *face, *color, text);
                        s.end_tagged();
                        if let Some(slot) = ids.get_mut(*leaf) {
                            *slot = Some(id);
                        }
                    }
                    None => artifact(&mut s, ArtifactType::PaginationOther, |s| {
                        draw_text(s, &fonts, (*x, *y), *size, *face, *color, text)
                    }),
                },
                Op::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    width,
                    color,
                } => artifact(&mut s, ArtifactType::Layout, |s| {
                    draw_line(s, (*x1, *y1), (*x2, *y2), *width, *color, false)
                }),
                Op::Rect { x, y, w, h, fill } => artifact(&mut s, ArtifactType::Layout, |s| {
                    draw_rect(s, *x, *y, *w, *h, *fill)
                }),
                Op::Chart { x, y, chart, leaf } => {
                    let id = s.start_tagged(ContentTag::Other);
                    draw_chart(&mut s, &fonts, *x, *y, chart);
                    s.end_tagged();
                    if let Some(slot) = ids.get_mut(*leaf) {
                        *slot = Some(id);
                    }
                }
            }
        }
        artifact(&mut s, ArtifactType::Footer, |s| {
            let fy = h - MARGIN - 6.0;
            draw_line(
                s,
                (MARGIN, fy - 10.0),
                (w - MARGIN, fy - 10.0),
                0.5,
                GREY,
                false,
            );
            draw_text(
                s,
                &fonts,
                (MARGIN, fy),
                7.5,
                Face::Regular,
                GREY,
                &footer_left,
            );
            let n = format!("Page {} of {}", i + 1, total);
            let x = Item::text_start(w - MARGIN, 7.5, Anchor::End, false, &n);
            draw_text(s, &fonts, (x, fy), 7.5, Face::Regular, INK, &n);
        });
        s.finish();
        p.finish();
    }
    doc.set_tag_tree(tag_tree(&layout, &mut ids));
    doc.set_metadata(
        Metadata::new()
            .title(clean(&format!(
                "Weekly patch status: {}, {}",
                r.scope_title, r.week
            )))
            .description(format!(
                "PatchDesk weekly patch status report of {} for ISO week {}, figures as of {}.",
                clean(&r.scope_title),
                r.week,
                when(r.as_of)
            ))
            .language("en".into())
            .creator("PatchDesk".into())
            .producer(format!("PatchDesk {} (krilla)", env!("CARGO_PKG_VERSION")))
            .creation_date(pdf_date(r.generated_at)),
    );
    doc.finish().map_err(|e| Error::Pdf(format!("{e:?}")))
}
