//! The trend chart: compliance % per week and critical time-to-patch per week, as one list of
//! vector shapes. The PDF draws these shapes; [`Chart::to_svg`] writes the same shapes as SVG
//! for the app's preview, so both show the same chart. Weeks without data are gaps labelled
//! "n/d", never interpolated.

use crate::fonts::{clean, metrics, Face};
use patchdesk_engine::report::{TrendPoint, WeeklyReport};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub(crate) const INK: Rgb = Rgb(0x22, 0x22, 0x22);
pub(crate) const GREY: Rgb = Rgb(0x88, 0x88, 0x88);
pub(crate) const GRID: Rgb = Rgb(0xdd, 0xdd, 0xdd);
pub(crate) const BLUE: Rgb = Rgb(0x1f, 0x5f, 0xa8);
pub(crate) const GREEN: Rgb = Rgb(0x2e, 0x7d, 0x32);
pub(crate) const ORANGE: Rgb = Rgb(0xd9, 0x6c, 0x00);

impl Rgb {
    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One shape, in points, origin top left, y down.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        color: Rgb,
        width: f32,
        dashed: bool,
    },
    Polyline {
        points: Vec<(f32, f32)>,
        color: Rgb,
        width: f32,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Dot {
        cx: f32,
        cy: f32,
        r: f32,
        fill: Rgb,
    },
    Text {
        x: f32,
        y: f32,
        size: f32,
        anchor: Anchor,
        color: Rgb,
        bold: bool,
        text: String,
    },
}

/// A chart: its size, its shapes and a sentence describing it (the PDF's alternate text).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: f32,
    pub height: f32,
    pub items: Vec<Item>,
    pub alt: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl Item {
    /// The x where a text run starts, given its anchor.
    pub(crate) fn text_start(x: f32, size: f32, anchor: Anchor, bold: bool, text: &str) -> f32 {
        let face = if bold { Face::Bold } else { Face::Regular };
        let w = metrics(face).width(text, size);
        match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - w / 2.0,
            Anchor::End => x - w,
        }
    }
}

impl Chart {
    /// The same shapes as SVG (presentation attributes only, no `style`: the app's CSP
    /// forbids inline styles). Every text is escaped.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{alt}" font-family="DejaVu Sans, Verdana, sans-serif"><title>{alt}</title>"#,
            w = self.width,
            h = self.height,
            alt = esc(&self.alt)
        );
        for it in &self.items {
            match it {
                Item::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    color,
                    width,
                    dashed,
                } => {
                    let _ = write!(
                        s,
                        r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{}" stroke-width="{width}"{}/>"#,
                        color.hex(),
                        if *dashed {
                            r#" stroke-dasharray="3 2""#
                        } else {
                            ""
                        }
                    );
                }
                Item::Polyline {
                    points,
                    color,
                    width,
                } => {
                    let pts: Vec<String> = points
                        .iter()
                        .map(|(x, y)| format!("{x:.2},{y:.2}"))
                        .collect();
                    let _ = write!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}"/>"#,
                        pts.join(" "),
                        color.hex()
                    );
                }
                Item::Rect { x, y, w, h, fill } => {
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{}"/>"#,
                        fill.hex()
                    );
                }
                Item::Dot { cx, cy, r, fill } => {
                    let _ = write!(
                        s,
                        r#"<circle cx="{cx:.2}" cy="{cy:.2}" r="{r}" fill="{}"/>"#,
                        fill.hex()
                    );
                }
                Item::Text {
                    x,
                    y,
                    size,
                    anchor,
                    color,
                    bold,
                    text,
                } => {
                    let _ = write!(
                        s,
                        r#"<text x="{x:.2}" y="{y:.2}" font-size="{size}" text-anchor="{}" fill="{}"{}>{}</text>"#,
                        match anchor {
                            Anchor::Start => "start",
                            Anchor::Middle => "middle",
                            Anchor::End => "end",
                        },
                        color.hex(),
                        if *bold { r#" font-weight="bold""# } else { "" },
                        esc(text)
                    );
                }
            }
        }
        s.push_str("</svg>");
        s
    }
}

fn pct(p: Option<f64>) -> String {
    p.map_or("no data".into(), |p| format!("{p:.1} %"))
}

/// The trend chart of a report.
pub fn trend_chart(r: &WeeklyReport) -> Chart {
    build(
        &r.trend,
        r.targets.compliance_percent,
        r.targets.critical_ttp_hours,
    )
}

fn text(x: f32, y: f32, size: f32, anchor: Anchor, color: Rgb, t: &str) -> Item {
    Item::Text {
        x,
        y,
        size,
        anchor,
        color,
        bold: false,
        text: clean(t),
    }
}

fn build(trend: &[TrendPoint], target_pct: f64, target_hours: f64) -> Chart {
    let width = 515.0;
    let height = 200.0;
    let mut items = Vec::new();
    let n = trend.len().max(1) as f32;
    let week_label = |p: &TrendPoint| format!("W{:02}", p.week.week());

    // Left: compliance % per week.
    let (l0, l1, top, bottom) = (36.0f32, 300.0f32, 28.0f32, 160.0f32);
    items.push(Item::Text {
        x: l0,
        y: 12.0,
        size: 8.5,
        anchor: Anchor::Start,
        color: INK,
        bold: true,
        text: format!("Compliance % by week (target {target_pct:.0} %)"),
    });
    let y_of = |v: f64| bottom - (v.clamp(0.0, 100.0) as f32 / 100.0) * (bottom - top);
    for v in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = y_of(v);
        items.push(Item::Line {
            x1: l0,
            y1: y,
            x2: l1,
            y2: y,
            color: GRID,
            width: 0.5,
            dashed: false,
        });
        items.push(text(
            l0 - 4.0,
            y + 2.5,
            6.5,
            Anchor::End,
            GREY,
            &format!("{v:.0}"),
        ));
    }
    let yt = y_of(target_pct);
    items.push(Item::Line {
        x1: l0,
        y1: yt,
        x2: l1,
        y2: yt,
        color: GREEN,
        width: 0.8,
        dashed: true,
    });
    let step = (l1 - l0) / n;
    let x_of = |i: usize| l0 + (i as f32 + 0.5) * step;
    let mut run: Vec<(f32, f32)> = Vec::new();
    let mut dots = Vec::new();
    for (i, p) in trend.iter().enumerate() {
        let x = x_of(i);
        items.push(text(
            x,
            bottom + 10.0,
            6.0,
            Anchor::Middle,
            GREY,
            &week_label(p),
        ));
        match p.percent.filter(|_| p.has_data) {
            Some(v) => {
                let y = y_of(v);
                run.push((x, y));
                dots.push(Item::Dot {
                    cx: x,
                    cy: y,
                    r: 2.2,
                    fill: BLUE,
                });
                if i + 1 == trend.len() {
                    items.push(text(
                        x,
                        y - 5.0,
                        6.5,
                        Anchor::Middle,
                        BLUE,
                        &format!("{v:.1}"),
                    ));
                }
            }
            None => {
                if run.len() > 1 {
                    items.push(Item::Polyline {
                        points: std::mem::take(&mut run),
                        color: BLUE,
                        width: 1.4,
                    });
                }
                run.clear();
                items.push(text(x, bottom - 3.0, 5.5, Anchor::Middle, GREY, "n/d"));
            }
        }
    }
    if run.len() > 1 {
        items.push(Item::Polyline {
            points: run,
            color: BLUE,
            width: 1.4,
        });
    }
    items.extend(dots);
    items.push(Item::Line {
        x1: l0,
        y1: bottom,
        x2: l1,
        y2: bottom,
        color: INK,
        width: 0.7,
        dashed: false,
    });

    // Right: critical median time-to-patch (days) per week.
    let (r0, r1) = (340.0f32, 510.0f32);
    items.push(Item::Text {
        x: r0 - 24.0,
        y: 12.0,
        size: 8.5,
        anchor: Anchor::Start,
        color: INK,
        bold: true,
        text: format!(
            "Critical time-to-patch, days (target {:.0})",
            target_hours / 24.0
        ),
    });
    let days: Vec<Option<f64>> = trend
        .iter()
        .map(|p| {
            p.critical_median_hours
                .filter(|_| p.has_data)
                .map(|h| h / 24.0)
        })
        .collect();
    let max = days
        .iter()
        .flatten()
        .fold(target_hours / 24.0 + 1.0, |m, d| m.max(*d))
        .ceil();
    let yd = |d: f64| bottom - ((d / max).clamp(0.0, 1.0) as f32) * (bottom - top);
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let y = yd(v);
        items.push(Item::Line {
            x1: r0,
            y1: y,
            x2: r1,
            y2: y,
            color: GRID,
            width: 0.5,
            dashed: false,
        });
        items.push(text(
            r0 - 4.0,
            y + 2.5,
            6.5,
            Anchor::End,
            GREY,
            &format!("{v:.0}"),
        ));
    }
    let rstep = (r1 - r0) / n;
    for (i, (p, d)) in trend.iter().zip(&days).enumerate() {
        let x = r0 + (i as f32 + 0.5) * rstep;
        items.push(text(
            x,
            bottom + 10.0,
            5.5,
            Anchor::Middle,
            GREY,
            &format!("{:02}", p.week.week()),
        ));
        match d {
            Some(d) => {
                let y = yd(*d);
                let color = if *d * 24.0 <= target_hours {
                    BLUE
                } else {
                    ORANGE
                };
                items.push(Item::Rect {
                    x: x - rstep * 0.3,
                    y,
                    w: rstep * 0.6,
                    h: (bottom - y).max(0.5),
                    fill: color,
                });
            }
            None if p.has_data => {
                items.push(text(x, bottom - 3.0, 5.5, Anchor::Middle, GREY, "–"));
            }
            None => items.push(text(x, bottom - 3.0, 5.5, Anchor::Middle, GREY, "n/d")),
        }
    }
    let y7 = yd(target_hours / 24.0);
    items.push(Item::Line {
        x1: r0,
        y1: y7,
        x2: r1,
        y2: y7,
        color: GREEN,
        width: 0.8,
        dashed: true,
    });
    items.push(Item::Line {
        x1: r0,
        y1: bottom,
        x2: r1,
        y2: bottom,
        color: INK,
        width: 0.7,
        dashed: false,
    });
    items.push(text(
        l0,
        height - 8.0,
        6.5,
        Anchor::Start,
        GREY,
        "Median days from disclosure to the scan that saw the fix. n/d: no snapshot for that week (never interpolated). –: none applied yet. Dashed: target.",
    ));

    let alt = format!(
        "Compliance by week: {}. Critical median time-to-patch: {}.",
        trend
            .iter()
            .map(|p| format!("{} {}", p.week, pct(p.percent.filter(|_| p.has_data))))
            .collect::<Vec<_>>()
            .join(", "),
        trend
            .iter()
            .zip(&days)
            .map(|(p, d)| format!(
                "{} {}",
                p.week,
                d.map_or("none".into(), |d| format!("{d:.1} days"))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Chart {
        width,
        height,
        items,
        alt,
    }
}
