//! Charts as standalone SVG text: no fonts to embed, no JavaScript, byte-stable output
//! (every number is formatted with a fixed precision), so the same results always give
//! the same file. Four shapes cover the report: x-y lines (ROC curves), grouped bars,
//! distributions as strips (lead times), and heatmaps (confusion matrices).

use std::fmt::Write;

/// Okabe-Ito: distinguishable with every common colour-vision deficiency.
const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
];

const WIDTH: f64 = 640.0;
const MARGIN_LEFT: f64 = 64.0;
const MARGIN_RIGHT: f64 = 16.0;
const MARGIN_TOP: f64 = 32.0;
const MARGIN_BOTTOM: f64 = 48.0;

pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Escapes text for XML (SVG and HTML alike).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as an axis label: few digits, no trailing zeros.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let text = if a == 0.0 {
        "0".to_string()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.0e}")
    };
    if text.contains('.') && !text.contains('e') {
        let trimmed = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let suffix = &text[trimmed.len()..];
        let trimmed = trimmed.trim_end_matches('0').trim_end_matches('.');
        format!("{trimmed}{suffix}")
    } else {
        text
    }
}

/// Round tick values covering `[lo, hi]`, about `n` of them.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Powers of ten covering `[lo, hi]` (both > 0).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (a..=b).map(|e| 10f64.powi(e)).collect()
}

/// One axis: its label, range and scale.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub log: bool,
}

impl Axis {
    pub fn linear(label: &str, min: f64, max: f64) -> Axis {
        let max = if max > min { max } else { min + 1.0 };
        Axis {
            label: label.into(),
            min,
            max,
            log: false,
        }
    }

    /// A log axis around positive values; a degenerate range is widened to a decade.
    pub fn log(label: &str, min: f64, max: f64) -> Axis {
        let min = 10f64.powf(min.max(1e-12).log10().floor());
        let max = 10f64.powf(max.max(min * 10.0).log10().ceil());
        Axis {
            label: label.into(),
            min,
            max,
            log: true,
        }
    }

    /// 0..1 of the axis.
    fn unit(&self, v: f64) -> f64 {
        if self.log {
            let v = v.max(self.min);
            (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            log_ticks(self.min, self.max)
        } else {
            ticks(self.min, self.max, 5)
        }
    }
}

/// The plotting area of a chart, in SVG units.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn new(height: f64) -> Frame {
        Frame {
            x0: MARGIN_LEFT,
            x1: WIDTH - MARGIN_RIGHT,
            y0: MARGIN_TOP,
            y1: height - MARGIN_BOTTOM,
        }
    }
    fn x(&self, axis: &Axis, v: f64) -> f64 {
        self.x0 + axis.unit(v).clamp(0.0, 1.0) * (self.x1 - self.x0)
    }
    fn y(&self, axis: &Axis, v: f64) -> f64 {
        self.y1 - axis.unit(v).clamp(0.0, 1.0) * (self.y1 - self.y0)
    }
}

fn open(out: &mut String, height: f64, title: &str) {
    open_sized(out, WIDTH, height, title);
}

fn open_sized(out: &mut String, width: f64, height: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" font-family="sans-serif" font-size="11"><title>{}</title><rect width="{width:.0}" height="{height:.0}" fill="white"/><text x="8" y="18" font-size="13" font-weight="bold">{}</text>"#,
        escape(title),
        escape(title)
    );
}

fn y_axis(out: &mut String, f: &Frame, axis: &Axis) {
    for t in axis.ticks() {
        let y = f.y(axis, t);
        let _ = write!(
            out,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            f.x0,
            f.x1,
            f.x0 - 4.0,
            y + 4.0,
            escape(&short(t))
        );
    }
    let mid = (f.y0 + f.y1) / 2.0;
    let _ = write!(
        out,
        r#"<text transform="translate(14 {mid:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        escape(&axis.label)
    );
}

fn x_axis(out: &mut String, f: &Frame, axis: &Axis) {
    for t in axis.ticks() {
        let x = f.x(axis, t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            f.y0,
            f.y1,
            f.y1 + 14.0,
            escape(&short(t))
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (f.x0 + f.x1) / 2.0,
        f.y1 + 34.0,
        escape(&axis.label)
    );
}

fn border(out: &mut String, f: &Frame) {
    let _ = write!(
        out,
        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>"##,
        f.x0,
        f.y0,
        f.x1 - f.x0,
        f.y1 - f.y0
    );
}

/// One line of an x-y chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Lines over two axes, with an optional dashed diagonal (chance, for ROC curves).
pub fn lines(title: &str, x: &Axis, y: &Axis, series: &[Line], diagonal: bool) -> String {
    // The legend goes under the plot: long names must not cover the curves.
    let legend_top = 400.0;
    let height = legend_top + 15.0 * series.len() as f64 + 8.0;
    let f = Frame::new(legend_top);
    let mut out = String::new();
    open(&mut out, height, title);
    y_axis(&mut out, &f, y);
    x_axis(&mut out, &f, x);
    if diagonal {
        let _ = write!(
            out,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 4"/>"##,
            f.x(x, x.min),
            f.y(y, y.min),
            f.x(x, x.max),
            f.y(y, y.max)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let mut d = String::new();
        for (j, (px, py)) in s.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { " L" },
                f.x(x, *px),
                f.y(y, *py)
            );
        }
        let _ = write!(
            out,
            r#"<path class="series" d="{d}" fill="none" stroke="{}" stroke-width="2"/>"#,
            colour(i)
        );
    }
    border(&mut out, &f);
    for (i, s) in series.iter().enumerate() {
        let y = legend_top + 15.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            f.x0,
            y - 9.0,
            colour(i),
            f.x0 + 14.0,
            y,
            escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars: one row per category, one bar per group in each row. `None` leaves
/// a gap (a value the group does not have), labelled "n/a".
pub fn bars(
    title: &str,
    value: &Axis,
    categories: &[String],
    groups: &[(String, Vec<Option<f64>>)],
) -> String {
    let per_row = groups.len().max(1) as f64;
    let bar = 12.0;
    let row = per_row * bar + 10.0;
    let legend_room = if groups.len() > 1 { 22.0 } else { 0.0 };
    let height = MARGIN_TOP + categories.len() as f64 * row + MARGIN_BOTTOM + 10.0 + legend_room;
    let mut f = Frame::new(height - legend_room);
    f.x0 = 170.0;
    f.x1 = WIDTH - 70.0;
    // Ratios on a log axis grow from 1 (no change), everything else from 0.
    let origin = if value.log {
        1f64.clamp(value.min, value.max)
    } else {
        0f64.max(value.min)
    };
    let mut out = String::new();
    open(&mut out, height, title);
    x_axis(&mut out, &f, value);
    for (ci, cat) in categories.iter().enumerate() {
        let top = f.y0 + ci as f64 * row + 5.0;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            f.x0 - 6.0,
            top + per_row * bar / 2.0 + 4.0,
            escape(cat)
        );
        for (gi, (_, values)) in groups.iter().enumerate() {
            let y = top + gi as f64 * bar;
            match values.get(ci).copied().flatten() {
                Some(v) if v.is_finite() => {
                    let x1 = f.x(value, v);
                    let base = f.x(value, origin);
                    let _ = write!(
                        out,
                        r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                        base.min(x1),
                        (x1 - base).abs().max(1.0),
                        bar - 2.0,
                        colour(gi),
                        base.max(x1) + 3.0,
                        y + bar - 3.0,
                        escape(&short(v))
                    );
                }
                _ => {
                    let _ = write!(
                        out,
                        r##"<text x="{:.1}" y="{:.1}" fill="#888">n/a</text>"##,
                        f.x0 + 3.0,
                        y + bar - 3.0
                    );
                }
            }
        }
    }
    border(&mut out, &f);
    if groups.len() > 1 {
        let mut x = f.x0;
        for (i, (name, _)) in groups.iter().enumerate() {
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                height - 14.0,
                colour(i),
                x + 14.0,
                height - 5.0,
                escape(name)
            );
            x += 24.0 + 6.5 * name.chars().count() as f64;
        }
    }
    out.push_str("</svg>");
    out
}

/// One distribution of a strip chart.
#[derive(Debug, Clone)]
pub struct Strip {
    pub name: String,
    pub values: Vec<f64>,
}

/// Distributions as rows of dots with their median (a bar) and 10th-90th percentile
/// range (a box): every observation stays visible, which matters with 3 or 20 of them.
pub fn strips(title: &str, value: &Axis, strips: &[Strip]) -> String {
    let row = 30.0;
    let height = MARGIN_TOP + strips.len().max(1) as f64 * row + MARGIN_BOTTOM;
    let mut f = Frame::new(height);
    f.x0 = 170.0;
    let mut out = String::new();
    open(&mut out, height, title);
    x_axis(&mut out, &f, value);
    for (i, s) in strips.iter().enumerate() {
        let mid = f.y0 + i as f64 * row + row / 2.0;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{} (n={})</text>"#,
            f.x0 - 6.0,
            mid + 4.0,
            escape(&s.name),
            s.values.len()
        );
        let mut sorted: Vec<f64> = s.values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        if let (Some(p10), Some(p50), Some(p90)) = (
            quantile(&sorted, 0.1),
            quantile(&sorted, 0.5),
            quantile(&sorted, 0.9),
        ) {
            let (a, b) = (f.x(value, p10), f.x(value, p90));
            let _ = write!(
                out,
                r#"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="16" fill="{}" fill-opacity="0.15" stroke="{}"/><line x1="{m:.1}" y1="{:.1}" x2="{m:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/>"#,
                mid - 8.0,
                (b - a).max(1.0),
                colour(i),
                colour(i),
                mid - 10.0,
                mid + 10.0,
                colour(i),
                m = f.x(value, p50),
            );
        }
        for v in &sorted {
            let _ = write!(
                out,
                r#"<circle class="point" cx="{:.1}" cy="{mid:.1}" r="3" fill="{}" fill-opacity="0.7"/>"#,
                f.x(value, *v),
                colour(i)
            );
        }
    }
    border(&mut out, &f);
    out.push_str("</svg>");
    out
}

/// Linear-interpolated quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// A confusion matrix: rows are the truth, columns the prediction; each cell shaded by
/// its share of its row, so recall reads along the diagonal.
pub fn heatmap(title: &str, labels: &[String], counts: &[Vec<u64>]) -> String {
    let n = labels.len().max(1) as f64;
    let cell = (300.0 / n).min(70.0);
    let left = 150.0;
    let top = MARGIN_TOP + 30.0;
    let height = top + n * cell + 40.0;
    let width = (left + n * cell + 20.0).max(8.0 + 7.0 * title.chars().count() as f64);
    let mut out = String::new();
    open_sized(&mut out, width, height, title);
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">predicted</text>"#,
        left + n * cell / 2.0,
        top - 20.0
    );
    for (j, l) in labels.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + (j as f64 + 0.5) * cell,
            top - 5.0,
            escape(l)
        );
    }
    for (i, l) in labels.iter().enumerate() {
        let y = top + i as f64 * cell;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{} (true)</text>"#,
            left - 6.0,
            y + cell / 2.0 + 4.0,
            escape(l)
        );
        let row = counts.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let total: u64 = row.iter().sum();
        for (j, _) in labels.iter().enumerate() {
            let c = row.get(j).copied().unwrap_or(0);
            let share = if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            };
            let fill = if i == j { "#009E73" } else { "#D55E00" };
            let _ = write!(
                out,
                r##"<rect class="cell" x="{:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}" fill-opacity="{:.3}" stroke="#888"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{c}</text>"##,
                left + j as f64 * cell,
                0.08 + 0.8 * share,
                left + (j as f64 + 0.5) * cell,
                y + cell / 2.0 + 4.0
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(3.0, 97.0, 5);
        assert!(t.iter().all(|v| (3.0..=97.0).contains(v)));
        assert_eq!(t.first(), Some(&20.0));
        assert_eq!(
            ticks(5.0, 5.0, 5),
            vec![5.0],
            "a degenerate range has one tick"
        );
        assert_eq!(ticks(f64::NAN, 1.0, 5).len(), 1);
    }

    #[test]
    fn short_numbers_read_well() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(2.50), "2.5");
        assert_eq!(short(150.0), "150");
        assert_eq!(short(25_000.0), "25k");
        assert_eq!(short(1_500_000.0), "1.5M");
        assert_eq!(short(0.001), "1e-3");
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let svg = bars(
            "a <b> & \"c\"",
            &Axis::linear("x", 0.0, 1.0),
            &["<script>".to_string()],
            &[("g".to_string(), vec![Some(0.5)])],
        );
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn charts_draw_one_mark_per_value() {
        let svg = lines(
            "roc",
            &Axis::linear("fpr", 0.0, 1.0),
            &Axis::linear("tpr", 0.0, 1.0),
            &[
                Line {
                    name: "a".into(),
                    points: vec![(0.0, 0.0), (0.5, 0.9), (1.0, 1.0)],
                },
                Line {
                    name: "b".into(),
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                },
            ],
            true,
        );
        assert_eq!(svg.matches("class=\"series\"").count(), 2);
        let svg = strips(
            "lead",
            &Axis::linear("s", 0.0, 300.0),
            &[Strip {
                name: "lstm".into(),
                values: vec![60.0, 120.0, f64::NAN, 180.0],
            }],
        );
        assert_eq!(
            svg.matches("class=\"point\"").count(),
            3,
            "NaN is not drawn"
        );
        let svg = bars(
            "f1",
            &Axis::linear("F1", 0.0, 1.0),
            &["oracle".into(), "curator".into()],
            &[("model".into(), vec![Some(0.9), None])],
        );
        assert_eq!(svg.matches("class=\"bar\"").count(), 1);
        assert!(svg.contains("n/a"));
        let svg = heatmap("cm", &["a".into(), "b".into()], &[vec![5, 1], vec![0, 4]]);
        assert_eq!(svg.matches("class=\"cell\"").count(), 4);
    }

    #[test]
    fn same_input_same_bytes() {
        let draw = || {
            strips(
                "x",
                &Axis::log("s", 1.0, 500.0),
                &[Strip {
                    name: "a".into(),
                    values: vec![1.0, 10.0, 400.0],
                }],
            )
        };
        assert_eq!(draw(), draw());
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
