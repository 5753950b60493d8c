//! A small hand-written SVG plotter: panels with a log2, log10 or categorical x
//! axis and a linear y axis, lines with markers, grouped bars, error bars, a shared
//! legend, and a heatmap. Output is a pure function of the input (fixed number
//! formatting, no clock, no randomness).

use std::fmt::Write;

/// Colour-blind-friendly palette (Okabe-Ito, then greys).
const PALETTE: [&str; 10] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
    "#7F7F7F", "#8C564B",
];

const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 300.0;
const MARGIN_L: f64 = 72.0;
const MARGIN_R: f64 = 18.0;
const MARGIN_T: f64 = 30.0;
const MARGIN_B: f64 = 58.0;
const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/// The x axis of a panel.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum XScale {
    /// Powers of two; ticks print `1/4`, `1`, `16`.
    Log2,
    /// Powers of ten; ticks print `1e12`.
    Log10,
    /// One band per name; a point's x is the band's index.
    Categories(Vec<String>),
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    Line,
    DashedLine,
    /// Markers only, no connecting line.
    Points,
    Bars,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub(crate) x: f64,
    pub(crate) y: f64,
    /// Error bar, if any.
    pub(crate) ci: Option<(f64, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    /// Palette index; also picks the marker shape.
    pub(crate) style: usize,
    pub(crate) mark: Mark,
    pub(crate) points: Vec<Point>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) x: XScale,
    /// Clamp the automatic y range to [0, 1] (fractions).
    pub(crate) unit_interval: bool,
    pub(crate) series: Vec<Series>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Figure {
    pub(crate) title: String,
    pub(crate) panels: Vec<Panel>,
    pub(crate) columns: usize,
    /// Width of one panel in pixels ([`PANEL_W`] by default; wider for many bars).
    pub(crate) panel_width: f64,
    /// A line under the title (e.g. what the error bars are), if not empty.
    pub(crate) note: String,
}

impl Figure {
    /// Panels of the default width.
    pub(crate) fn new(title: impl Into<String>, panels: Vec<Panel>, columns: usize) -> Self {
        Figure {
            title: title.into(),
            panels,
            columns,
            panel_width: PANEL_W,
            note: String::new(),
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Coordinates with two decimals: enough for a screen, stable across runs.
fn f(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

/// Tick label of 2^e.
pub(crate) fn pow2_label(e: i32) -> String {
    if e >= 0 {
        format!("{}", 1u64 << e.min(62))
    } else {
        format!("1/{}", 1u64 << (-e).min(62))
    }
}

/// Ticks of a log axis over positive values: one per integer exponent from
/// floor(log(min)) to ceil(log(max)), every second one when there are more than 12.
/// Returns the exponents and the axis domain (exponents, padded).
pub(crate) fn log_ticks(values: &[f64], base: f64) -> (Vec<i32>, (f64, f64)) {
    let logs: Vec<f64> = values
        .iter()
        .filter(|v| **v > 0.0 && v.is_finite())
        .map(|v| v.log(base))
        .collect();
    if logs.is_empty() {
        return (vec![0, 1], (-0.3, 1.3));
    }
    let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Tolerate rounding in log(): 2^4 must give exponent 4 exactly.
    let mut e0 = (lo - 1e-9).floor() as i32;
    let mut e1 = (hi + 1e-9).ceil() as i32;
    if (lo - lo.round()).abs() < 1e-9 {
        e0 = lo.round() as i32;
    }
    if (hi - hi.round()).abs() < 1e-9 {
        e1 = hi.round() as i32;
    }
    if e1 == e0 {
        e1 += 1;
        e0 -= 1;
    }
    let step = if e1 - e0 > 12 { 2 } else { 1 };
    let ticks: Vec<i32> = (e0..=e1).step_by(step).collect();
    (ticks, (f64::from(e0) - 0.3, f64::from(e1) + 0.3))
}

/// A readable linear range and step covering [lo, hi].
pub(crate) fn linear_ticks(lo: f64, hi: f64, unit_interval: bool) -> (Vec<f64>, usize) {
    let (mut lo, mut hi) = (lo, hi);
    if !(lo.is_finite() && hi.is_finite()) {
        lo = 0.0;
        hi = 1.0;
    }
    // A flat series still gets a readable span; within [0, 1] at least a tenth,
    // shifted inside the interval rather than cut by it.
    let min_span = if unit_interval { 0.1 } else { 0.05 };
    if hi - lo < min_span {
        let mid = (hi + lo) / 2.0;
        lo = mid - min_span / 2.0;
        hi = mid + min_span / 2.0;
    }
    if unit_interval {
        if lo < 0.0 {
            hi = (hi - lo).min(1.0);
            lo = 0.0;
        }
        if hi > 1.0 {
            lo = (lo - (hi - 1.0)).max(0.0);
            hi = 1.0;
        }
    }
    let span = hi - lo;
    let steps = [
        0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0,
    ];
    let mut step = *steps.last().unwrap();
    for s in steps {
        if span / s <= 6.0 {
            step = s;
            break;
        }
    }
    while span / step > 6.0 {
        step *= 10.0;
    }
    let mut start = (lo / step + 1e-6).floor() * step;
    let mut end = (hi / step - 1e-6).ceil() * step;
    if unit_interval {
        start = start.max(0.0);
        end = end.min(1.0);
    }
    let n = ((end - start) / step).round() as usize;
    let ticks = (0..=n).map(|i| start + i as f64 * step).collect();
    let digits = (0..4)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-9
        })
        .unwrap_or(4) as usize;
    (ticks, digits)
}

/// Data x to pixel x.
type XMap = Box<dyn Fn(f64) -> f64>;

struct Frame {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
}

fn marker(out: &mut String, style: usize, x: f64, y: f64) {
    let c = PALETTE[style % PALETTE.len()];
    let r = 4.0;
    match style % 4 {
        0 => {
            let _ = write!(
                out,
                r#"<circle cx="{}" cy="{}" r="{}" fill="{c}" stroke="white" stroke-width="0.8"/>"#,
                f(x),
                f(y),
                f(r)
            );
        }
        1 => {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{c}" stroke="white" stroke-width="0.8"/>"#,
                f(x - r),
                f(y - r),
                f(2.0 * r),
                f(2.0 * r)
            );
        }
        2 => {
            let _ = write!(
                out,
                r#"<polygon points="{},{} {},{} {},{}" fill="{c}" stroke="white" stroke-width="0.8"/>"#,
                f(x),
                f(y - r - 1.0),
                f(x + r + 0.5),
                f(y + r - 0.5),
                f(x - r - 0.5),
                f(y + r - 0.5)
            );
        }
        _ => {
            let _ = write!(
                out,
                r#"<polygon points="{},{} {},{} {},{} {},{}" fill="{c}" stroke="white" stroke-width="0.8"/>"#,
                f(x),
                f(y - r - 1.0),
                f(x + r + 1.0),
                f(y),
                f(x),
                f(y + r + 1.0),
                f(x - r - 1.0),
                f(y)
            );
        }
    }
}

fn error_bar(out: &mut String, style: usize, x: f64, y_lo: f64, y_hi: f64) {
    let c = PALETTE[style % PALETTE.len()];
    let cap = 3.0;
    let _ = write!(
        out,
        r#"<path d="M{} {}V{}M{} {}H{}M{} {}H{}" stroke="{c}" stroke-width="1.1" stroke-opacity="0.6" fill="none"/>"#,
        f(x),
        f(y_lo),
        f(y_hi),
        f(x - cap),
        f(y_lo),
        f(x + cap),
        f(x - cap),
        f(y_hi),
        f(x + cap)
    );
}

fn text(out: &mut String, x: f64, y: f64, size: f64, anchor: &str, extra: &str, s: &str) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="{}" text-anchor="{anchor}"{extra}>{}</text>"#,
        f(x),
        f(y),
        f(size),
        esc(s)
    );
}

impl Panel {
    fn render(&self, out: &mut String, ox: f64, oy: f64, panel_w: f64) {
        let fr = Frame {
            x0: ox + MARGIN_L,
            y0: oy + MARGIN_T,
            w: panel_w - MARGIN_L - MARGIN_R,
            h: PANEL_H - MARGIN_T - MARGIN_B,
        };
        text(
            out,
            fr.x0 + fr.w / 2.0,
            oy + 19.0,
            13.0,
            "middle",
            " font-weight=\"bold\"",
            &self.title,
        );

        // y range over every value and interval end; bars start at 0.
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for s in &self.series {
            for p in &s.points {
                let (a, b) = p.ci.unwrap_or((p.y, p.y));
                lo = lo.min(p.y).min(a);
                hi = hi.max(p.y).max(b);
                if s.mark == Mark::Bars {
                    lo = lo.min(0.0);
                }
            }
        }
        if lo == f64::INFINITY {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.05).max(0.005);
        let (yt, digits) = linear_ticks(lo - pad, hi + pad, self.unit_interval);
        let (ymin, ymax) = (yt[0], yt[yt.len() - 1]);
        let sy = |v: f64| fr.y0 + fr.h - (v - ymin) / (ymax - ymin) * fr.h;

        // x mapping.
        let xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.x))
            .collect();
        let (xticks, sx): (Vec<(f64, String)>, XMap) = match &self.x {
            XScale::Log2 | XScale::Log10 => {
                let base = if self.x == XScale::Log2 { 2.0 } else { 10.0 };
                let (ticks, (d0, d1)) = log_ticks(&xs, base);
                let w = fr.w;
                let x0 = fr.x0;
                let map = move |v: f64| x0 + (v.log(base) - d0) / (d1 - d0) * w;
                let labels = ticks
                    .iter()
                    .map(|e| {
                        let label = if base == 2.0 {
                            pow2_label(*e)
                        } else {
                            format!("1e{e}")
                        };
                        (base.powi(*e), label)
                    })
                    .collect();
                (labels, Box::new(map))
            }
            XScale::Categories(names) => {
                let band = fr.w / names.len().max(1) as f64;
                let x0 = fr.x0;
                let labels = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (i as f64, n.clone()))
                    .collect();
                (labels, Box::new(move |v: f64| x0 + (v + 0.5) * band))
            }
        };

        // Frame, grid and ticks.
        let _ = write!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#FFFFFF" stroke="#444444" stroke-width="1"/>"##,
            f(fr.x0),
            f(fr.y0),
            f(fr.w),
            f(fr.h)
        );
        for v in &yt {
            let y = sy(*v);
            let _ = write!(
                out,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#E4E4E4" stroke-width="1"/>"##,
                f(fr.x0),
                f(y),
                f(fr.x0 + fr.w),
                f(y)
            );
            text(
                out,
                fr.x0 - 6.0,
                y + 4.0,
                11.0,
                "end",
                "",
                &format!("{v:.digits$}"),
            );
        }
        let categorical = matches!(self.x, XScale::Categories(_));
        for (v, label) in &xticks {
            let x = sx(*v);
            if !categorical {
                let _ = write!(
                    out,
                    r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#E4E4E4" stroke-width="1"/>"##,
                    f(x),
                    f(fr.y0),
                    f(x),
                    f(fr.y0 + fr.h)
                );
            }
            let _ = write!(
                out,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#444444" stroke-width="1"/>"##,
                f(x),
                f(fr.y0 + fr.h),
                f(x),
                f(fr.y0 + fr.h + 4.0)
            );
            text(out, x, fr.y0 + fr.h + 17.0, 11.0, "middle", "", label);
        }
        text(
            out,
            fr.x0 + fr.w / 2.0,
            fr.y0 + fr.h + 38.0,
            12.0,
            "middle",
            "",
            &self.x_label,
        );
        let (lx, ly) = (ox + 16.0, fr.y0 + fr.h / 2.0);
        text(
            out,
            lx,
            ly,
            12.0,
            "middle",
            &format!(" transform=\"rotate(-90 {} {})\"", f(lx), f(ly)),
            &self.y_label,
        );

        // Series: bars first so lines stay on top.
        let bars: Vec<&Series> = self
            .series
            .iter()
            .filter(|s| s.mark == Mark::Bars)
            .collect();
        if let XScale::Categories(names) = &self.x {
            let band = fr.w / names.len().max(1) as f64;
            let bw = band * 0.8 / bars.len().max(1) as f64;
            for (k, s) in bars.iter().enumerate() {
                let c = PALETTE[s.style % PALETTE.len()];
                for p in &s.points {
                    let left = sx(p.x) - band * 0.4 + k as f64 * bw;
                    let (top, bottom) = (sy(p.y.max(ymin)), sy(ymin.max(0.0)));
                    let _ = write!(
                        out,
                        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{c}" fill-opacity="0.85"/>"#,
                        f(left + 1.0),
                        f(top.min(bottom - 1.5)),
                        f((bw - 2.0).max(1.0)),
                        // A zero still shows, as a hairline.
                        f((bottom - top).abs().max(1.5))
                    );
                    if let Some((a, b)) = p.ci {
                        error_bar(out, 6, left + bw / 2.0, sy(a), sy(b));
                    }
                }
            }
        }
        let lines: Vec<&Series> = self
            .series
            .iter()
            .filter(|s| s.mark != Mark::Bars)
            .collect();
        let n = lines.len();
        for (k, s) in lines.iter().enumerate() {
            // Dodge overlapping error bars a little.
            let dodge = (k as f64 - (n as f64 - 1.0) / 2.0) * 3.0;
            let c = PALETTE[s.style % PALETTE.len()];
            let mut pts = s.points.clone();
            pts.sort_by(|a, b| a.x.total_cmp(&b.x));
            if pts.len() > 1 && s.mark != Mark::Points {
                let mut d = String::new();
                for (i, p) in pts.iter().enumerate() {
                    let _ = write!(
                        d,
                        "{}{} {}",
                        if i == 0 { "M" } else { "L" },
                        f(sx(p.x) + dodge),
                        f(sy(p.y))
                    );
                }
                let dash = if s.mark == Mark::DashedLine {
                    " stroke-dasharray=\"6 4\""
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    r#"<path d="{d}" stroke="{c}" stroke-width="2" fill="none"{dash}/>"#
                );
            }
            for p in &pts {
                if let Some((a, b)) = p.ci {
                    error_bar(out, s.style, sx(p.x) + dodge, sy(a), sy(b));
                }
            }
            for p in &pts {
                marker(out, s.style, sx(p.x) + dodge, sy(p.y));
            }
        }
    }
}

/// Legend entries in order of first appearance, one per (name, style, mark).
fn legend_entries(panels: &[Panel]) -> Vec<(String, usize, Mark)> {
    let mut out: Vec<(String, usize, Mark)> = Vec::new();
    for p in panels {
        for s in &p.series {
            if !out.iter().any(|e| e.0 == s.name) {
                out.push((s.name.clone(), s.style, s.mark));
            }
        }
    }
    out
}

impl Figure {
    /// The figure as a standalone SVG document.
    pub(crate) fn render(&self) -> String {
        let cols = self.columns.clamp(1, self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(cols).max(1);
        let pw = self.panel_width;
        // Wide enough for the title (bold 15px: about 9px a character).
        let width = (cols as f64 * pw)
            .max(self.title.chars().count() as f64 * 9.0 + 40.0)
            .max(self.note.chars().count() as f64 * 6.5 + 40.0);
        let left = (width - cols as f64 * pw) / 2.0;
        let header = if self.note.is_empty() { 36.0 } else { 52.0 };
        let entries = legend_entries(&self.panels);
        let item_w = entries
            .iter()
            .map(|e| e.0.chars().count() as f64 * 7.0 + 44.0)
            .fold(120.0, f64::max);
        let per_row = ((width - 20.0) / item_w).floor().max(1.0) as usize;
        let legend_rows = entries.len().div_ceil(per_row);
        let legend_h = legend_rows as f64 * 20.0 + if entries.is_empty() { 0.0 } else { 12.0 };
        let height = header + rows as f64 * PANEL_H + legend_h;

        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" {FONT}>"#,
            f(width),
            f(height),
            f(width),
            f(height)
        );
        out.push('\n');
        let _ = write!(
            out,
            r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#,
            f(width),
            f(height)
        );
        out.push('\n');
        text(
            &mut out,
            width / 2.0,
            24.0,
            15.0,
            "middle",
            " font-weight=\"bold\"",
            &self.title,
        );
        if !self.note.is_empty() {
            text(
                &mut out,
                width / 2.0,
                42.0,
                11.0,
                "middle",
                " fill=\"#555555\"",
                &self.note,
            );
        }
        out.push('\n');
        for (i, p) in self.panels.iter().enumerate() {
            let (r, c) = (i / cols, i % cols);
            out.push_str("<g>");
            p.render(
                &mut out,
                left + c as f64 * pw,
                header + r as f64 * PANEL_H,
                pw,
            );
            out.push_str("</g>\n");
        }
        let top = header + rows as f64 * PANEL_H + 4.0;
        for (i, (name, style, mark)) in entries.iter().enumerate() {
            let (r, c) = (i / per_row, i % per_row);
            let x = 16.0 + c as f64 * item_w;
            let y = top + r as f64 * 20.0 + 10.0;
            let col = PALETTE[style % PALETTE.len()];
            match mark {
                Mark::Bars => {
                    let _ = write!(
                        out,
                        r#"<rect x="{}" y="{}" width="22" height="10" fill="{col}" fill-opacity="0.85"/>"#,
                        f(x),
                        f(y - 5.0)
                    );
                }
                _ => {
                    if *mark != Mark::Points {
                        let dash = if *mark == Mark::DashedLine {
                            " stroke-dasharray=\"6 4\""
                        } else {
                            ""
                        };
                        let _ = write!(
                            out,
                            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{col}" stroke-width="2"{dash}/>"#,
                            f(x),
                            f(y),
                            f(x + 26.0),
                            f(y)
                        );
                    }
                    marker(&mut out, *style, x + 13.0, y);
                }
            }
            text(&mut out, x + 32.0, y + 4.0, 12.0, "start", "", name);
        }
        out.push_str("\n</svg>\n");
        out
    }
}

/// A heatmap of counts: rows top to bottom, columns left to right, each cell shaded by
/// its share of its row and labelled with the count.
pub(crate) fn heatmap(
    title: &str,
    row_label: &str,
    col_label: &str,
    rows: &[String],
    cols: &[String],
    counts: &[Vec<usize>],
) -> String {
    let cell = 56.0;
    let (ml, mt, mr, mb) = (96.0, 80.0, 30.0, 62.0);
    let width = (ml + cols.len() as f64 * cell + mr).max(360.0);
    let height = mt + rows.len() as f64 * cell + mb;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" {FONT}>"#,
        f(width),
        f(height),
        f(width),
        f(height)
    );
    out.push('\n');
    let _ = write!(
        out,
        r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#,
        f(width),
        f(height)
    );
    text(
        &mut out,
        width / 2.0,
        24.0,
        15.0,
        "middle",
        " font-weight=\"bold\"",
        title,
    );
    let gx = ml + cols.len() as f64 * cell / 2.0;
    text(&mut out, gx, mt - 24.0, 12.0, "middle", "", col_label);
    for (j, c) in cols.iter().enumerate() {
        text(
            &mut out,
            ml + (j as f64 + 0.5) * cell,
            mt - 6.0,
            11.0,
            "middle",
            "",
            c,
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = mt + i as f64 * cell;
        text(&mut out, ml - 8.0, y + cell / 2.0 + 4.0, 11.0, "end", "", r);
        let total: usize = counts.get(i).map(|row| row.iter().sum()).unwrap_or(0);
        for j in 0..cols.len() {
            let n = counts
                .get(i)
                .and_then(|row| row.get(j))
                .copied()
                .unwrap_or(0);
            let share = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            // White to the palette's blue (0, 114, 178).
            let mix = |full: f64| (255.0 + (full - 255.0) * share).round() as u8;
            let fill = format!("#{:02X}{:02X}{:02X}", mix(0.0), mix(114.0), mix(178.0));
            let x = ml + j as f64 * cell;
            let _ = write!(
                out,
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="#999999" stroke-width="0.5"/>"##,
                f(x),
                f(y),
                f(cell),
                f(cell)
            );
            let ink = if share > 0.5 { "white" } else { "black" };
            text(
                &mut out,
                x + cell / 2.0,
                y + cell / 2.0 + 5.0,
                13.0,
                "middle",
                &format!(" fill=\"{ink}\""),
                &n.to_string(),
            );
        }
    }
    let ly = mt + rows.len() as f64 * cell / 2.0;
    text(
        &mut out,
        22.0,
        ly,
        12.0,
        "middle",
        &format!(" transform=\"rotate(-90 22.00 {})\"", f(ly)),
        row_label,
    );
    text(
        &mut out,
        gx,
        mt + rows.len() as f64 * cell + 22.0,
        11.0,
        "middle",
        " fill=\"#555555\"",
        "shade: share of the row (oracle bin)",
    );
    out.push_str("\n</svg>\n");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Checks that every tag is closed in order, attributes are quoted and text
    /// holds no raw `<` or `&` outside entities: enough to catch what a hand-written
    /// SVG gets wrong.
    pub(crate) fn well_formed(svg: &str) -> Result<usize, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        let mut elements = 0;
        let mut root = false;
        while let Some(start) = rest.find(['<', '&']) {
            let text = &rest[..start];
            if !text.trim().is_empty() && stack.is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            rest = &rest[start..];
            if rest.starts_with('&') {
                let end = rest.find(';').ok_or("unterminated entity")?;
                let name = &rest[1..end];
                if !["amp", "lt", "gt", "quot", "apos"].contains(&name) {
                    return Err(format!("unknown entity &{name};"));
                }
                rest = &rest[end + 1..];
                continue;
            }
            let end = rest.find('>').ok_or("unterminated tag")?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if tag.contains('<') {
                return Err(format!("`<` inside tag {tag:?}"));
            }
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("unbalanced quotes in {tag:?}"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .ok_or(format!("close of {name} with nothing open"))?;
                if open != name.trim() {
                    return Err(format!("</{name}> closes <{open}>"));
                }
                continue;
            }
            if stack.is_empty() {
                if root {
                    return Err("a second root element".into());
                }
                root = true;
            }
            elements += 1;
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()
                .ok_or("empty tag")?
                .to_string();
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        if !rest.trim().is_empty() {
            return Err(format!("trailing text {rest:?}"));
        }
        if let Some(open) = stack.pop() {
            return Err(format!("<{open}> never closed"));
        }
        Ok(elements)
    }

    #[test]
    fn log2_ticks_cover_the_budgets() {
        let (t, (d0, d1)) = log_ticks(&[1.0, 4.0, 16.0, 256.0], 2.0);
        assert_eq!(t, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(d0 < 0.0 && d1 > 8.0);
        let labels: Vec<String> = t.iter().map(|e| pow2_label(*e)).collect();
        assert_eq!(labels[8], "256");
        // Sequential ratios below one.
        let (t, _) = log_ticks(&[0.25, 1.0, 16.0], 2.0);
        assert_eq!(t.first(), Some(&-2));
        assert_eq!(pow2_label(-2), "1/4");
        // Not powers of two: the ticks enclose them.
        let (t, _) = log_ticks(&[3.0, 100.0], 2.0);
        assert_eq!((t[0], *t.last().unwrap()), (1, 7));
        // A single value still gets an axis.
        let (t, _) = log_ticks(&[8.0], 2.0);
        assert_eq!(t, vec![2, 3, 4]);
        // A wide range thins out to every second exponent.
        let (t, _) = log_ticks(&[1.0, 2f64.powi(20)], 2.0);
        assert_eq!(t.len(), 11);
        // Log10 for FLOPs.
        let (t, _) = log_ticks(&[3.0e11, 2.0e13], 10.0);
        assert_eq!(t, vec![11, 12, 13, 14]);
    }

    #[test]
    fn linear_ticks_are_round() {
        let (t, d) = linear_ticks(0.12, 0.58, true);
        assert_eq!(d, 1);
        assert!((t[0] - 0.1).abs() < 1e-12 && (t[t.len() - 1] - 0.6).abs() < 1e-12);
        let (t, _) = linear_ticks(-0.1, 1.1, true);
        assert_eq!((t[0], t[t.len() - 1]), (0.0, 1.0));
        let (t, d) = linear_ticks(0.5, 0.5, true);
        assert!(t.len() >= 2 && d >= 1, "{t:?}");
        assert!(t[t.len() - 1] - t[0] >= 0.1 - 1e-12, "{t:?}");
        // All ones or all zeros: a tenth of the unit interval, inside it.
        let (t, _) = linear_ticks(0.995, 1.005, true);
        assert!((t[0] - 0.9).abs() < 1e-12 && t[t.len() - 1] == 1.0, "{t:?}");
        let (t, _) = linear_ticks(-0.005, 0.005, true);
        assert!(t[0] == 0.0 && (t[t.len() - 1] - 0.1).abs() < 1e-12, "{t:?}");
    }

    #[test]
    fn figure_is_well_formed_and_escapes_text() {
        let fig = Figure {
            title: "a < b & c".into(),
            columns: 2,
            panel_width: PANEL_W,
            note: "error bars: 95% interval".into(),
            panels: vec![
                Panel {
                    title: "bin 1".into(),
                    x_label: "budget N (generations per question, log2)".into(),
                    y_label: "accuracy (fraction correct)".into(),
                    x: XScale::Log2,
                    unit_interval: true,
                    series: vec![Series {
                        name: "beam \"m4\"".into(),
                        style: 1,
                        mark: Mark::Line,
                        points: vec![
                            Point {
                                x: 4.0,
                                y: 0.3,
                                ci: Some((0.2, 0.4)),
                            },
                            Point {
                                x: 16.0,
                                y: 0.5,
                                ci: None,
                            },
                        ],
                    }],
                },
                Panel {
                    title: "bars".into(),
                    x_label: "bin".into(),
                    y_label: "accuracy".into(),
                    x: XScale::Categories(vec!["1".into(), "2".into()]),
                    unit_interval: true,
                    series: vec![Series {
                        name: "greedy".into(),
                        style: 0,
                        mark: Mark::Bars,
                        points: vec![Point {
                            x: 1.0,
                            y: 0.4,
                            ci: Some((0.3, 0.5)),
                        }],
                    }],
                },
            ],
        };
        let svg = fig.render();
        let n = well_formed(&svg).unwrap();
        assert!(n > 20, "{n}");
        assert!(svg.contains("a &lt; b &amp; c"));
        assert!(svg.contains("beam &quot;m4&quot;"));
        assert!(svg.contains(">16</text>"));
        assert_eq!(svg, fig.render());
        let h = heatmap(
            "t",
            "oracle bin",
            "predicted bin",
            &["1".into(), "2".into()],
            &["1".into(), "2".into()],
            &[vec![3, 1], vec![0, 4]],
        );
        well_formed(&h).unwrap();
        assert!(h.contains(">4</text>"));
    }

    #[test]
    fn the_checker_rejects_broken_documents() {
        assert!(well_formed("<svg><g></svg>").is_err());
        assert!(well_formed("<svg><text>a < b</text></svg>").is_err());
        assert!(well_formed("<svg><text x=\"1>a</text></svg>").is_err());
        assert!(well_formed("<svg/><svg/>").is_err());
        assert!(well_formed("<svg>&foo;</svg>").is_err());
        assert_eq!(well_formed("<svg><g><line/></g></svg>"), Ok(3));
    }
}
