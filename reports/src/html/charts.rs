//! SVG charts drawn with `plotters`' SVG backend (no system fonts: text is left to the
//! browser, sizes are estimated). Each function returns one `<svg>` element as a string, or
//! a short HTML note when there is nothing to draw or drawing failed — never a panic.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::escape;
use super::timeline::FaultWindow;

/// Chart size in SVG pixels (scaled down by CSS on narrow screens).
const WIDTH: u32 = 760;
const HEIGHT: u32 = 340;
const FONT: &str = "sans-serif";

/// A palette that reads on white and for the common kinds of colour blindness (Okabe–Ito).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];
const FAULT_SHADE: RGBColor = RGBColor(214, 39, 40);

/// One line of a line chart.
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with optional shaded time windows.
pub struct LineChart<'a> {
    /// Caption.
    pub title: &'a str,
    /// X axis label.
    pub x_desc: &'a str,
    /// Y axis label.
    pub y_desc: &'a str,
    /// The lines.
    pub series: Vec<Series>,
    /// Shaded windows on the x axis (faults).
    pub shaded: &'a [FaultWindow],
    /// Fixed y range, or `None` to fit the data.
    pub y_max: Option<f64>,
    /// Draw each point as a dot instead of joining them (a scatter plot).
    pub dots: bool,
}

/// Draws a line chart.
pub fn line_chart(c: &LineChart) -> String {
    let points = || c.series.iter().flat_map(|s| s.points.iter().copied());
    if points().next().is_none() {
        return empty(c.title, "no data");
    }
    let x_max = points()
        .map(|p| p.0)
        .chain(c.shaded.iter().map(|w| w.end_s))
        .filter(|x| x.is_finite())
        .fold(0.0_f64, f64::max);
    let x_min = points()
        .map(|p| p.0)
        .filter(|x| x.is_finite())
        .fold(x_max, f64::min)
        .min(0.0);
    let y_max = c.y_max.unwrap_or_else(|| {
        points()
            .map(|p| p.1)
            .filter(|y| y.is_finite())
            .fold(0.0_f64, f64::max)
            * 1.1
    });
    let x_max = if x_max > x_min { x_max } else { x_min + 1.0 };
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    render(c.title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(c.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_min..x_max, 0.0..y_max)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(c.x_desc)
            .y_desc(c.y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(text)?;
        if !c.shaded.is_empty() {
            chart
                .draw_series(c.shaded.iter().map(|w| {
                    Rectangle::new(
                        [(w.start_s.max(x_min), 0.0), (w.end_s.min(x_max), y_max)],
                        FAULT_SHADE.mix(0.15).filled(),
                    )
                }))
                .map_err(text)?
                .label("fault active")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], FAULT_SHADE.mix(0.3).filled())
                });
        }
        for (i, s) in c.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            if c.dots {
                chart
                    .draw_series(
                        s.points
                            .iter()
                            .copied()
                            .filter(|p| p.0.is_finite() && p.1.is_finite())
                            .map(|p| Circle::new(p, 5, color.filled())),
                    )
                    .map_err(text)?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    s.points
                        .iter()
                        .copied()
                        .filter(|p| p.0.is_finite() && p.1.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(text)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .draw()
            .map_err(text)?;
        Ok(())
    })
}

/// Horizontal bars, one per `(label, value)`, values ≥ 0.
pub fn bar_chart(title: &str, x_desc: &str, bars: &[(String, f64)]) -> String {
    let bars: Vec<&(String, f64)> = bars
        .iter()
        .filter(|(_, v)| v.is_finite() && *v >= 0.0)
        .collect();
    if bars.is_empty() {
        return empty(title, "nothing to draw");
    }
    let n = bars.len() as i32;
    let x_max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max) * 1.15;
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let height = (90 + 26 * bars.len() as u32).clamp(160, 900);
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let label_width = labels.iter().map(|l| l.len()).max().unwrap_or(4) as u32 * 7 + 12;
    render_sized(title, (WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_width.min(360))
            .build_cartesian_2d(0.0..x_max, (0..n - 1).into_segmented())
            .map_err(text)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| labels.get(i).cloned())
                    .unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .x_desc(x_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let i = i as i32;
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    PALETTE[i as usize % PALETTE.len()].filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(text)?;
        Ok(())
    })
}

/// A square matrix as a heat map with the value printed in each cell; `labels` name rows
/// (sources) and columns (destinations), `cells[src][dst]`.
pub fn heatmap(title: &str, labels: &[String], cells: &[Vec<f64>], unit: &str) -> String {
    let n = labels.len();
    if n == 0 || cells.len() != n || cells.iter().any(|r| r.len() != n) {
        return empty(title, "no traffic recorded");
    }
    let max = cells
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let side = (120 + 90 * n as u32).clamp(300, 760);
    let n = n as i32;
    render_sized(title, (side + 80, side), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(text)?;
        let name = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| labels.get(i).cloned())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(labels.len())
            .y_labels(labels.len())
            .x_label_formatter(&name)
            .y_label_formatter(&name)
            .x_desc("destination AZ")
            .y_desc("source AZ")
            .draw()
            .map_err(text)?;
        for (src, row) in cells.iter().enumerate() {
            for (dst, v) in row.iter().enumerate() {
                let (x, y) = (dst as i32, src as i32);
                let t = if max > 0.0 && v.is_finite() {
                    v / max
                } else {
                    0.0
                };
                let shade = (255.0 - 180.0 * t).round().clamp(0.0, 255.0) as u8;
                let fill = if src == dst {
                    RGBColor(shade, shade, shade)
                } else {
                    RGBColor(255, shade, (f64::from(shade) * 0.8) as u8)
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                        ],
                        fill.filled(),
                    )))
                    .map_err(text)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.2} {unit}"),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        (FONT, 13).into_font().color(&BLACK),
                    )))
                    .map_err(text)?;
            }
        }
        Ok(())
    })
}

fn render(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> String {
    render_sized(title, (WIDTH, HEIGHT), draw)
}

fn render_sized(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(text)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(text))
    };
    match result {
        Ok(()) => svg,
        Err(e) => empty(title, &format!("chart could not be drawn: {e}")),
    }
}

fn empty(title: &str, why: &str) -> String {
    format!(
        "<p class=\"chart-empty\"><b>{}</b>: {}</p>",
        escape(title),
        escape(why)
    )
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
