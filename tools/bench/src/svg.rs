//! Hand-written SVG line charts for the report: no plotting crate needed.

use std::fmt::Write as _;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// Dashed (for example p99 next to a solid p50).
    pub dashed: bool,
    /// Points, in data units.
    pub points: Vec<(f64, f64)>,
}

/// Axis scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Linear from 0.
    Linear,
    /// Base-10 logarithmic.
    Log,
}

/// A chart's texts and scales.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// Title, at the top.
    pub title: &'a str,
    /// Under the x axis.
    pub x_label: &'a str,
    /// Beside the y axis.
    pub y_label: &'a str,
    /// The y axis scale (the x axis is linear).
    pub y_scale: Scale,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "Nice" tick values covering `0..=max`.
fn linear_ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= max + step * 0.999 {
        ticks.push(t);
        t += step;
    }
    ticks
}

fn label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", v / 1000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{}", (v * 100.0).round() / 100.0)
    } else {
        format!("{v}")
    }
}

/// Renders `lines` as an SVG document.
pub fn line_chart(chart: &Chart<'_>, lines: &[Line]) -> String {
    let points = lines.iter().flat_map(|l| l.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (0f64, f64::MAX, 0f64);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_max = y_max.max(y);
        if y > 0.0 {
            y_min = y_min.min(y);
        }
    }
    let x_ticks = linear_ticks(x_max);
    let x_top = x_ticks.last().copied().unwrap_or(1.0).max(1e-9);
    let (y_lo, y_hi, y_ticks) = match chart.y_scale {
        Scale::Linear => {
            let ticks = linear_ticks(y_max);
            (0.0, ticks.last().copied().unwrap_or(1.0).max(1e-9), ticks)
        }
        Scale::Log => {
            let lo = if y_min == f64::MAX {
                0.1
            } else {
                10f64.powf(y_min.log10().floor())
            };
            let hi = 10f64.powf(y_max.max(lo * 10.0).log10().ceil());
            let mut ticks = Vec::new();
            let mut t = lo;
            while t <= hi * 1.0001 {
                ticks.push(t);
                t *= 10.0;
            }
            (lo, hi, ticks)
        }
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + x / x_top * plot_w;
    let sy = |y: f64| match chart.y_scale {
        Scale::Linear => TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h,
        Scale::Log => {
            let y = y.max(y_lo);
            TOP + plot_h - (y.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10()) * plot_h
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(chart.title)
    );
    for &t in &x_ticks {
        let x = sx(t);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            label(t)
        );
    }
    for &t in &y_ticks {
        let y = sy(t);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            label(t)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0,
        escape(chart.x_label)
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(chart.y_label)
    );
    for (i, line) in lines.iter().enumerate() {
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let path: Vec<String> = line
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            line.color
        );
        if line.points.len() <= 20 {
            for &(x, y) in &line.points {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                    sx(x),
                    sy(y),
                    line.color
                );
            }
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 26.0,
            line.color,
            lx + 32.0,
            ly + 4.0,
            escape(&line.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_one_svg_with_every_line() {
        let chart = Chart {
            title: "t <1>",
            x_label: "x",
            y_label: "y",
            y_scale: Scale::Log,
        };
        let svg = line_chart(
            &chart,
            &[
                Line {
                    name: "a".into(),
                    color: "red",
                    dashed: false,
                    points: vec![(1000.0, 1.5), (2000.0, 300.0)],
                },
                Line {
                    name: "b".into(),
                    color: "blue",
                    dashed: true,
                    points: vec![(1000.0, 0.5)],
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("t &lt;1&gt;"));
    }

    #[test]
    fn ticks_cover_the_maximum() {
        let ticks = linear_ticks(37.0);
        assert!(ticks.last().copied().unwrap_or(0.0) >= 37.0);
        assert_eq!(ticks.first().copied(), Some(0.0));
    }
}
