//! Server-rendered SVG charts: accessible (`role="img"`, `aria-label`,
//! `<title>` per point) and readable without JavaScript.

use std::fmt::Write;

/// One point of a trend: where it sits in time, label, value and interval.
pub struct TrendPoint {
    /// Position on the time axis (e.g. a month index): gaps stay gaps.
    pub position: f64,
    pub label: String,
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: i64,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart of `points` with the interval drawn as a band.
pub fn trend_svg(title: &str, unit: &str, points: &[TrendPoint]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 280.0;
    const LEFT: f64 = 48.0;
    const RIGHT: f64 = 40.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No data in this period</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let lo = points
        .iter()
        .map(|p| p.ci_low)
        .fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|p| p.ci_high)
        .fold(f64::NEG_INFINITY, f64::max);
    let y_min = ((lo - 5.0) / 10.0).floor() * 10.0;
    let y_max = ((hi + 5.0) / 10.0).ceil() * 10.0;
    let span = (y_max - y_min).max(10.0);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    // Points sit by their position, so a month without data leaves a gap;
    // half a slot of padding each side keeps the first and last labels inside.
    let first = points
        .iter()
        .map(|p| p.position)
        .fold(f64::INFINITY, f64::min);
    let last = points
        .iter()
        .map(|p| p.position)
        .fold(f64::NEG_INFINITY, f64::max);
    let slot = plot_w / (last - first + 1.0);
    let x = |i: usize| LEFT + slot * (points[i].position - first + 0.5);
    let y = |v: f64| TOP + plot_h * (1.0 - (v - y_min) / span);
    let step = if span > 100.0 {
        50.0
    } else if span > 40.0 {
        20.0
    } else {
        10.0
    };
    let mut tick = (y_min / step).ceil() * step;
    while tick <= y_max {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{:.0}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y(tick) + 4.0,
            tick + 0.0, // no "-0"
            yy = y(tick),
        );
        tick += step;
    }
    let upper: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.ci_high)))
        .collect();
    let lower: Vec<String> = points
        .iter()
        .enumerate()
        .rev()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.ci_low)))
        .collect();
    let _ = write!(
        svg,
        r##"<polygon class="band" points="{} {}" fill="#4a78c2" fill-opacity="0.18"><title>95% interval</title></polygon>"##,
        upper.join(" "),
        lower.join(" ")
    );
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.value)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#24579e" stroke-width="2"/>"##,
        line.join(" ")
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#24579e"><title>{}: {:.1}{unit} (95% CI {:.1} to {:.1}), n = {}</title></circle><text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
            x(i),
            y(p.value),
            escape(&p.label),
            p.value,
            p.ci_low,
            p.ci_high,
            p.n,
            x(i),
            H - BOTTOM + 18.0,
            escape(&p.label),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Opens an accessible chart: `role="img"` labelled by its own `<title>`
/// and `<desc>` (ids from `id`).
fn open(svg: &mut String, id: &str, w: f64, h: f64, title: &str, desc: &str) {
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(desc)
    );
}

/// A linear scale from `[d0, d1]` to `[r0, r1]`.
fn scale(d0: f64, d1: f64, r0: f64, r1: f64) -> impl Fn(f64) -> f64 {
    let span = if (d1 - d0).abs() < 1e-12 {
        1.0
    } else {
        d1 - d0
    };
    move |v| r0 + (v - d0) / span * (r1 - r0)
}

/// A step for about `count` ticks over `span`: 1, 2 or 5 × a power of ten.
fn tick_step(span: f64, count: f64) -> f64 {
    let raw = (span / count).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// Horizontal grid lines with labels at the left edge.
#[allow(clippy::too_many_arguments)]
fn y_grid(
    svg: &mut String,
    lo: f64,
    hi: f64,
    y: &dyn Fn(f64) -> f64,
    left: f64,
    right: f64,
    format: &dyn Fn(f64) -> String,
) {
    let step = tick_step(hi - lo, 5.0);
    let mut tick = (lo / step).ceil() * step;
    while tick <= hi + 1e-9 {
        let yy = y(tick);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{right}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e6ec"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="#5b6475">{}</text>"##,
            left - 6.0,
            yy + 4.0,
            escape(&format(tick + 0.0)),
        );
        tick += step;
    }
}

/// Where a period lies against its control limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlSignal {
    Above,
    Below,
    Noise,
}

/// One period of a control chart.
pub struct ControlPoint {
    pub label: String,
    pub value: Option<f64>,
    pub lcl: Option<f64>,
    pub ucl: Option<f64>,
    pub n: i64,
    pub signal: ControlSignal,
}

/// A control chart: the value per period as points on a line, the centre
/// line, the limits as step lines (they follow each period's n), and
/// points beyond the limits drawn as red diamonds labelled "signal" (shape
/// and colour), the rest as blue circles.
pub fn control_svg(
    id: &str,
    title: &str,
    desc: &str,
    points: &[ControlPoint],
    centre: Option<f64>,
    format: &dyn Fn(f64) -> String,
) -> String {
    const W: f64 = 860.0;
    const H: f64 = 340.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 56.0;
    let mut svg = String::new();
    open(&mut svg, id, W, H, title, desc);
    let values: Vec<f64> = points
        .iter()
        .flat_map(|p| [p.value, p.lcl, p.ucl])
        .flatten()
        .chain(centre)
        .filter(|v| v.is_finite())
        .collect();
    if points.is_empty() || values.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No data in this period</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let y = scale(lo, hi, H - BOTTOM, TOP);
    let slot = (W - LEFT - RIGHT) / points.len() as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    y_grid(&mut svg, lo, hi, &y, LEFT, W - RIGHT, format);
    // Limits as steps: each period's limits span its slot.
    for (name, limit) in [
        (
            "UCL",
            &(|p: &ControlPoint| p.ucl) as &dyn Fn(&ControlPoint) -> Option<f64>,
        ),
        ("LCL", &|p: &ControlPoint| p.lcl),
    ] {
        let mut d = String::new();
        let mut drawing = false;
        for (i, p) in points.iter().enumerate() {
            match limit(p).filter(|v| v.is_finite()) {
                Some(v) => {
                    let (x0, x1, yy) = (x(i) - slot / 2.0, x(i) + slot / 2.0, y(v));
                    if drawing {
                        let _ = write!(d, " L{x0:.1},{yy:.1} L{x1:.1},{yy:.1}");
                    } else {
                        let _ = write!(d, "M{x0:.1},{yy:.1} L{x1:.1},{yy:.1}");
                    }
                    drawing = true;
                }
                None => drawing = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                r##"<path class="limit" d="{d}" fill="none" stroke="#b3261e" stroke-width="1.2" stroke-dasharray="5 3"><title>{name} (3σ for each period's n)</title></path>"##
            );
        }
        if let Some((i, v)) = points
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, p)| limit(p).map(|v| (i, v)))
        {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="#b3261e">{name}</text>"##,
                x(i) + slot / 2.0,
                y(v) + if name == "UCL" { -4.0 } else { 12.0 }
            );
        }
    }
    if let Some(c) = centre.filter(|c| c.is_finite()) {
        let _ = write!(
            svg,
            r##"<line class="centre" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#1d2433" stroke-width="1"><title>Centre line: {} (pooled over the periods shown)</title></line><text x="{}" y="{:.1}" font-size="11" text-anchor="end">centre {}</text>"##,
            W - RIGHT,
            escape(&format(c)),
            W - RIGHT,
            y(c) - 4.0,
            escape(&format(c)),
            yy = y(c),
        );
    }
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.value.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#24579e" stroke-width="1.8"/>"##,
        line.join(" ")
    );
    let label_every = (points.len() as f64 / 14.0).ceil().max(1.0) as usize;
    for (i, p) in points.iter().enumerate() {
        if let Some(v) = p.value {
            let (cx, cy) = (x(i), y(v));
            let limits = match (p.lcl, p.ucl) {
                (Some(l), Some(u)) => format!(", limits {} to {}", format(l), format(u)),
                _ => String::new(),
            };
            let what = match p.signal {
                ControlSignal::Above => "signal: above the upper limit",
                ControlSignal::Below => "signal: below the lower limit",
                ControlSignal::Noise => "noise: within the limits",
            };
            let tip = escape(&format!(
                "{}: {}, n = {}{limits}; {what}",
                p.label,
                format(v),
                p.n
            ));
            if p.signal == ControlSignal::Noise {
                let _ = write!(
                    svg,
                    r##"<circle class="noise" cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="#24579e"><title>{tip}</title></circle>"##
                );
            } else {
                let r = 6.0;
                let ty = if p.signal == ControlSignal::Above {
                    cy - 10.0
                } else {
                    cy + 18.0
                };
                let _ = write!(
                    svg,
                    r##"<path class="signal" d="M{cx:.1},{:.1} L{:.1},{cy:.1} L{cx:.1},{:.1} L{:.1},{cy:.1} Z" fill="#b3261e" stroke="#fff" stroke-width="1"><title>{tip}</title></path><text x="{cx:.1}" y="{ty:.1}" text-anchor="middle" font-size="11" font-weight="700" fill="#b3261e">signal</text>"##,
                    cy - r,
                    cx + r,
                    cy + r,
                    cx - r,
                );
            }
        }
        if i % label_every == 0 || i + 1 == points.len() {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" text-anchor="end" font-size="11" transform="rotate(-35 {:.1} {})">{}</text>"##,
                x(i),
                H - BOTTOM + 16.0,
                x(i),
                H - BOTTOM + 16.0,
                escape(&p.label),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// One group of a dot-and-interval chart.
pub struct DotRow {
    pub label: String,
    pub value: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: i64,
    /// Differs significantly from the rest: higher (`Some(true)`) or lower.
    pub significant: Option<bool>,
}

/// One row per group: the value as a dot, its interval as a bar, and the
/// overall value as a vertical reference line; groups flagged significant
/// are drawn as filled diamonds with ▲/▼ (shape and colour), the rest as
/// hollow circles.
pub fn dot_interval_svg(
    id: &str,
    title: &str,
    desc: &str,
    rows: &[DotRow],
    overall: Option<f64>,
    format: &dyn Fn(f64) -> String,
) -> String {
    const W: f64 = 860.0;
    const LEFT: f64 = 200.0;
    const RIGHT: f64 = 150.0;
    const TOP: f64 = 28.0;
    const ROW: f64 = 26.0;
    const BOTTOM: f64 = 30.0;
    let h = TOP + ROW * rows.len().max(1) as f64 + BOTTOM;
    let mut svg = String::new();
    open(&mut svg, id, W, h, title, desc);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| [Some(r.value), r.ci_low, r.ci_high])
        .flatten()
        .chain(overall)
        .filter(|v| v.is_finite())
        .collect();
    if rows.is_empty() || values.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No groups in this selection</text></svg>"#,
            W / 2.0,
            h / 2.0
        );
        return svg;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = scale(lo, hi, LEFT, W - RIGHT);
    let step = tick_step(hi - lo, 6.0);
    let mut tick = (lo / step).ceil() * step;
    while tick <= hi {
        let xx = x(tick);
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{:.1}" stroke="#e3e6ec"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#5b6475">{}</text>"##,
            h - BOTTOM,
            h - BOTTOM + 16.0,
            escape(&format(tick + 0.0))
        );
        tick += step;
    }
    if let Some(o) = overall.filter(|o| o.is_finite()) {
        let _ = write!(
            svg,
            r##"<line class="overall" x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}" stroke="#1d2433" stroke-dasharray="4 3"><title>Overall: {}</title></line><text x="{xx:.1}" y="{:.1}" text-anchor="middle" font-size="11">overall {}</text>"##,
            TOP - 6.0,
            h - BOTTOM,
            escape(&format(o)),
            TOP - 10.0,
            escape(&format(o)),
            xx = x(o),
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let cy = TOP + ROW * (i as f64 + 0.5);
        let label: String = if r.label.chars().count() > 28 {
            r.label.chars().take(27).chain(['…']).collect()
        } else {
            r.label.clone()
        };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text>"##,
            LEFT - 10.0,
            cy + 4.0,
            escape(&label)
        );
        let colour = match r.significant {
            Some(true) => "#1d7a3a",
            Some(false) => "#b3261e",
            None => "#24579e",
        };
        if let (Some(l), Some(u)) = (r.ci_low, r.ci_high) {
            let _ = write!(
                svg,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="{colour}" stroke-width="2"/>"##,
                x(l),
                x(u)
            );
        }
        let interval = match (r.ci_low, r.ci_high) {
            (Some(l), Some(u)) => format!(" (95% CI {} to {})", format(l), format(u)),
            _ => String::new(),
        };
        let flag = match r.significant {
            Some(true) => "significantly higher than the rest (Holm)",
            Some(false) => "significantly lower than the rest (Holm)",
            None => "no significant difference",
        };
        let tip = escape(&format!(
            "{}: {}{interval}, n = {}; {flag}",
            r.label,
            format(r.value),
            r.n
        ));
        let cx = x(r.value);
        match r.significant {
            Some(higher) => {
                let d = 6.5;
                let _ = write!(
                    svg,
                    r##"<path class="significant" d="M{cx:.1},{:.1} L{:.1},{cy:.1} L{cx:.1},{:.1} L{:.1},{cy:.1} Z" fill="{colour}"><title>{tip}</title></path><text x="{:.1}" y="{:.1}" font-size="12" font-weight="700" fill="{colour}">{}</text>"##,
                    cy - d,
                    cx + d,
                    cy + d,
                    cx - d,
                    W - RIGHT + 8.0,
                    cy + 4.0,
                    if higher {
                        "▲ significant"
                    } else {
                        "▼ significant"
                    }
                );
            }
            None => {
                let _ = write!(
                    svg,
                    r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4.5" fill="#fff" stroke="{colour}" stroke-width="2"><title>{tip}</title></circle>"##
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

/// One driver on the quadrant chart.
pub struct QuadrantPoint {
    pub label: String,
    /// Importance: rescaled % of R².
    pub importance: f64,
    /// Performance: the driver's mean rating.
    pub performance: f64,
    pub fix_first: bool,
}

/// Importance (x) against performance (y) with dividing lines and the four
/// quadrants labelled; "Fix first" drivers drawn as red squares.
pub fn quadrant_svg(
    id: &str,
    title: &str,
    desc: &str,
    points: &[QuadrantPoint],
    importance_split: f64,
    performance_split: f64,
) -> String {
    const W: f64 = 860.0;
    const H: f64 = 440.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 24.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 48.0;
    let mut svg = String::new();
    open(&mut svg, id, W, H, title, desc);
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No driver analysis for this selection</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let max_x = points
        .iter()
        .map(|p| p.importance)
        .fold(importance_split, f64::max);
    let x_hi = (max_x * 1.15).max(1.0);
    let (p_lo, p_hi) = points
        .iter()
        .fold((performance_split, performance_split), |a, p| {
            (a.0.min(p.performance), a.1.max(p.performance))
        });
    let pad = ((p_hi - p_lo) * 0.15).max(0.2);
    let (y_lo, y_hi) = (p_lo - pad, p_hi + pad);
    let x = scale(0.0, x_hi, LEFT, W - RIGHT);
    let y = scale(y_lo, y_hi, H - BOTTOM, TOP);
    y_grid(&mut svg, y_lo, y_hi, &y, LEFT, W - RIGHT, &|v| {
        format!("{v:.1}")
    });
    let step = tick_step(x_hi, 6.0);
    let mut tick = 0.0;
    while tick <= x_hi {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11" fill="#5b6475">{tick:.0}%</text>"##,
            x(tick),
            H - BOTTOM + 16.0
        );
        tick += step;
    }
    let (sx, sy) = (x(importance_split), y(performance_split));
    let _ = write!(
        svg,
        r##"<rect class="fix-first-area" x="{sx:.1}" y="{sy:.1}" width="{:.1}" height="{:.1}" fill="#b3261e" fill-opacity="0.06"/>"##,
        W - RIGHT - sx,
        H - BOTTOM - sy
    );
    let _ = write!(
        svg,
        r##"<line x1="{sx:.1}" x2="{sx:.1}" y1="{TOP}" y2="{}" stroke="#1d2433" stroke-dasharray="4 3"><title>Median importance: {importance_split:.1}%</title></line><line x1="{LEFT}" x2="{}" y1="{sy:.1}" y2="{sy:.1}" stroke="#1d2433" stroke-dasharray="4 3"><title>Median performance: {performance_split:.2}</title></line>"##,
        H - BOTTOM,
        W - RIGHT,
    );
    for (text, tx, ty, anchor, colour) in [
        ("Maintain", LEFT + 8.0, TOP + 14.0, "start", "#5b6475"),
        ("Keep up", W - RIGHT - 8.0, TOP + 14.0, "end", "#1d7a3a"),
        ("Monitor", LEFT + 8.0, H - BOTTOM - 8.0, "start", "#5b6475"),
        (
            "Fix first",
            W - RIGHT - 8.0,
            H - BOTTOM - 8.0,
            "end",
            "#b3261e",
        ),
    ] {
        let _ = write!(
            svg,
            r##"<text class="quadrant" x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}" font-size="14" font-weight="700" fill="{colour}">{text}</text>"##
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="12">Importance (share of R², %)</text><text x="14" y="{:.1}" text-anchor="middle" font-size="12" transform="rotate(-90 14 {:.1})">Performance (mean rating, 1–5)</text>"##,
        (LEFT + W - RIGHT) / 2.0,
        H - 8.0,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
    );
    for p in points {
        let (cx, cy) = (x(p.importance), y(p.performance));
        let tip = escape(&format!(
            "{}: importance {:.1}%, mean rating {:.2}{}",
            p.label,
            p.importance,
            p.performance,
            if p.fix_first { "; fix first" } else { "" }
        ));
        if p.fix_first {
            let _ = write!(
                svg,
                r##"<rect class="fix-first" x="{:.1}" y="{:.1}" width="11" height="11" fill="#b3261e"><title>{tip}</title></rect>"##,
                cx - 5.5,
                cy - 5.5
            );
        } else {
            let _ = write!(
                svg,
                r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="5" fill="#24579e"><title>{tip}</title></circle>"##
            );
        }
        let anchor = if cx > W - RIGHT - 160.0 {
            "end"
        } else {
            "start"
        };
        let dx = if anchor == "end" { -9.0 } else { 9.0 };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-size="12">{}</text>"##,
            cx + dx,
            cy - 7.0,
            escape(&p.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One value of an expectation-gap curve.
pub struct GapPoint {
    pub x: f64,
    pub observed: f64,
    pub fitted: f64,
    pub n: i64,
}

/// The fitted satisfied share as a step curve over the measure, the
/// observed share per value as dots sized by n, a horizontal line at the
/// level and vertical lines at the customers' threshold and the target.
#[allow(clippy::too_many_arguments)]
pub fn gap_svg(
    id: &str,
    title: &str,
    desc: &str,
    points: &[GapPoint],
    level: f64,
    threshold: Option<f64>,
    target: Option<f64>,
    unit: &str,
) -> String {
    const W: f64 = 860.0;
    const H: f64 = 380.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 24.0;
    const TOP: f64 = 36.0;
    const BOTTOM: f64 = 48.0;
    let mut svg = String::new();
    open(&mut svg, id, W, H, title, desc);
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No linked records in this selection</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let xs = points.iter().map(|p| p.x).chain(threshold).chain(target);
    let (x_lo, x_hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
        (a.0.min(v), a.1.max(v))
    });
    let pad = ((x_hi - x_lo) * 0.04).max(0.5);
    let (x_lo, x_hi) = (x_lo - pad, x_hi + pad);
    let x = scale(x_lo, x_hi, LEFT, W - RIGHT);
    let y = scale(0.0, 1.0, H - BOTTOM, TOP);
    y_grid(&mut svg, 0.0, 1.0, &y, LEFT, W - RIGHT, &|v| {
        format!("{:.0}%", v * 100.0)
    });
    let step = tick_step(x_hi - x_lo, 10.0);
    let mut tick = (x_lo / step).ceil() * step;
    while tick <= x_hi {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11" fill="#5b6475">{}</text>"##,
            x(tick),
            H - BOTTOM + 16.0,
            number(tick)
        );
        tick += step;
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="12">{}</text>"##,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0,
        escape(unit)
    );
    let max_n = points.iter().map(|p| p.n).max().unwrap_or(1).max(1) as f64;
    for p in points {
        let r = 2.5 + 6.5 * (p.n as f64 / max_n).sqrt();
        let _ = write!(
            svg,
            r##"<circle class="observed" cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="#24579e" fill-opacity="0.35"><title>{}: observed {:.0}% satisfied, fitted {:.0}%, n = {}</title></circle>"##,
            x(p.x),
            y(p.observed),
            escape(&number(p.x)),
            p.observed * 100.0,
            p.fitted * 100.0,
            p.n
        );
    }
    // The isotonic fit is constant from one observed value to the next.
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        let yy = y(p.fitted);
        if i == 0 {
            let _ = write!(d, "M{:.1},{yy:.1}", x(p.x));
        } else {
            let _ = write!(d, " L{:.1},{yy:.1}", x(p.x));
        }
        let next = points.get(i + 1).map_or(p.x, |q| q.x);
        let _ = write!(d, " L{:.1},{yy:.1}", x(next));
    }
    let _ = write!(
        svg,
        r##"<path class="fitted" d="{d}" fill="none" stroke="#24579e" stroke-width="2.5"><title>Fitted satisfied share (isotonic regression)</title></path>"##
    );
    let level_text = format!("{}% level", number(level * 100.0));
    let level_y = y(level);
    let _ = write!(
        svg,
        r##"<line class="level" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#1d2433" stroke-dasharray="5 3"/><text x="{}" y="{:.1}" text-anchor="end" font-size="12">{level_text}</text>"##,
        W - RIGHT,
        W - RIGHT - 4.0,
        level_y + 14.0,
        yy = level_y,
    );
    for (class, value, text, colour, row) in [
        ("threshold", threshold, "customers", "#b3261e", 0.0),
        ("target", target, "target", "#1d7a3a", 1.0),
    ] {
        if let Some(v) = value {
            let xx = x(v);
            let label = format!("{text}: {} {}", number(v), unit);
            let _ = write!(
                svg,
                r##"<line class="{class}" x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{}" stroke="{colour}" stroke-width="2"><title>{}</title></line><text x="{:.1}" y="{:.1}" font-size="12" font-weight="700" fill="{colour}">{}</text>"##,
                H - BOTTOM,
                escape(&label),
                xx + 4.0,
                TOP - 20.0 + row * 13.0,
                escape(&label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A number without needless decimals: 3, 3.5, 0.25.
pub fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{:.0}", v + 0.0)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One bar of a tornado chart: an input's name and the outcome at its low
/// and high ends.
pub struct TornadoBar {
    pub label: String,
    pub at_low: f64,
    pub at_high: f64,
}

/// A label cut to `max` characters with an ellipsis (the full text stays
/// in the bar's title).
fn truncate_label(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let cut: String = label.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// A sensitivity (tornado) chart: one horizontal bar per input, from the
/// outcome at its low to the outcome at its high, around the base line.
pub fn tornado_svg(
    title: &str,
    base: f64,
    bars: &[TornadoBar],
    format: fn(f64) -> String,
) -> String {
    const W: f64 = 760.0;
    const LEFT: f64 = 300.0;
    const RIGHT: f64 = 90.0;
    const ROW: f64 = 26.0;
    let h = 40.0 + ROW * bars.len() as f64 + 24.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    let lo = bars
        .iter()
        .map(|b| b.at_low.min(b.at_high))
        .fold(base, f64::min);
    let hi = bars
        .iter()
        .map(|b| b.at_low.max(b.at_high))
        .fold(base, f64::max);
    let span = (hi - lo).max(1.0);
    let x = |v: f64| LEFT + (v - lo) / span * (W - LEFT - RIGHT);
    for (i, b) in bars.iter().enumerate() {
        let y = 30.0 + ROW * i as f64;
        let (a, c) = (x(b.at_low.min(b.at_high)), x(b.at_low.max(b.at_high)));
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="12">{}</text><rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{}" fill="#6b8fc7"><title>{}: {} at its low, {} at its high</title></rect>"##,
            LEFT - 8.0,
            y + 14.0,
            escape(&truncate_label(&b.label, 48)),
            (c - a).max(1.0),
            ROW - 8.0,
            escape(&b.label),
            format(b.at_low),
            format(b.at_high)
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="end">{}</text><text x="{:.1}" y="{}" font-size="10">{}</text>"#,
            a - 2.0,
            y + 13.0,
            escape(&format(b.at_low.min(b.at_high))),
            c + 2.0,
            y + 13.0,
            escape(&format(b.at_low.max(b.at_high)))
        );
    }
    let bx = x(base);
    let _ = write!(
        svg,
        r#"<line x1="{bx:.1}" y1="20" x2="{bx:.1}" y2="{:.1}" stroke="black" stroke-dasharray="4 3"/><text x="{bx:.1}" y="14" text-anchor="middle" font-size="11">base {}</text></svg>"#,
        h - 20.0,
        escape(&format(base))
    );
    svg
}

/// A series of a two-group chart.
pub struct GroupSeries {
    pub label: String,
    /// (x position, value, n).
    pub points: Vec<(f64, f64, u64)>,
    pub dashed: bool,
}

/// Two (or more) lines over the same axis with a vertical marker (a
/// pilot's start); points sized by nothing, labelled in their titles.
pub fn groups_svg(
    title: &str,
    unit: &str,
    series: &[GroupSeries],
    marker: Option<(f64, &str)>,
    x_labels: &[(f64, String)],
) -> String {
    const W: f64 = 760.0;
    const H: f64 = 280.0;
    const LEFT: f64 = 52.0;
    const RIGHT: f64 = 110.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    let all: Vec<&(f64, f64, u64)> = series.iter().flat_map(|s| s.points.iter()).collect();
    if all.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">No data</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let x_lo = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_hi = all
        .iter()
        .map(|p| p.0)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(x_lo + 1.0);
    let y_lo = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_hi = all
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(y_lo + 1e-9);
    let pad = (y_hi - y_lo) * 0.1;
    // Counts never go below zero on the axis.
    let floor = if y_lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    let (y_lo, y_hi) = ((y_lo - pad).max(floor), y_hi + pad);
    let px = |v: f64| LEFT + (v - x_lo) / (x_hi - x_lo) * (W - LEFT - RIGHT);
    let py = |v: f64| TOP + (y_hi - v) / (y_hi - y_lo) * (H - TOP - BOTTOM);
    for t in 0..=4 {
        let v = y_lo + (y_hi - y_lo) * f64::from(t) / 4.0;
        let y = py(v);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            number(v),
        );
    }
    for (x, label) in x_labels {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
            px(*x),
            H - BOTTOM + 16.0,
            escape(label)
        );
    }
    if let Some((x, label)) = marker {
        let _ = write!(
            svg,
            r#"<line x1="{m:.1}" x2="{m:.1}" y1="{TOP}" y2="{}" stroke="black" stroke-dasharray="5 3"/><text x="{:.1}" y="{}" font-size="11">{}</text>"#,
            H - BOTTOM,
            px(x) + 4.0,
            TOP + 12.0,
            escape(label),
            m = px(x)
        );
    }
    let colours = ["#1f5fae", "#b35900", "#555"];
    for (i, s) in series.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{} points="{}"/>"#,
            if s.dashed {
                r#" stroke-dasharray="6 3""#
            } else {
                ""
            },
            path.join(" ")
        );
        for p in &s.points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {} {unit} (n = {})</title></circle>"#,
                px(p.0),
                py(p.1),
                escape(&s.label),
                number(p.1),
                p.2
            );
        }
        if let Some(last) = s.points.last() {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" fill="{colour}">{}</text>"#,
                px(last.0) + 6.0,
                py(last.1) + 4.0,
                escape(&s.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_and_every_point_are_drawn() {
        let pts: Vec<TrendPoint> = (0..3)
            .map(|i| TrendPoint {
                position: i as f64,
                label: format!("2026-0{}", i + 1),
                value: 10.0 * i as f64,
                ci_low: 10.0 * i as f64 - 5.0,
                ci_high: 10.0 * i as f64 + 5.0,
                n: 100,
            })
            .collect();
        let svg = trend_svg("NPS by month", "", &pts);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<polygon class=\"band\""));
        assert!(svg.contains("2026-02: 10.0 (95% CI 5.0 to 15.0), n = 100"));
        assert!(trend_svg("x", "", &[]).contains("No data"));
        // A missing month leaves a gap: the middle of three slots stays empty.
        let gap: Vec<TrendPoint> = [0.0, 2.0]
            .into_iter()
            .map(|position| TrendPoint {
                position,
                label: format!("m{position}"),
                value: 0.0,
                ci_low: -1.0,
                ci_high: 1.0,
                n: 1,
            })
            .collect();
        let svg = trend_svg("gap", "", &gap);
        let slot = (760.0 - 48.0 - 40.0) / 3.0;
        assert!(
            svg.contains(&format!("cx=\"{:.1}\"", 48.0 + slot * 2.5)),
            "{svg}"
        );
    }

    #[test]
    fn control_charts_mark_signals_by_shape_and_label() {
        let point = |label: &str, value, signal| ControlPoint {
            label: label.into(),
            value: Some(value),
            lcl: Some(-5.0),
            ucl: Some(5.0),
            n: 40,
            signal,
        };
        let svg = control_svg(
            "c",
            "NPS by week",
            "desc <b>",
            &[
                point("W1", 0.0, ControlSignal::Noise),
                point("W2", -9.0, ControlSignal::Below),
            ],
            Some(0.0),
            &|v| format!("{v:.1}"),
        );
        assert!(svg.contains(r#"role="img" aria-labelledby="c-title c-desc""#));
        assert!(svg.contains(r#"<desc id="c-desc">desc &lt;b&gt;</desc>"#));
        assert_eq!(svg.matches(r#"<path class="signal""#).count(), 1);
        assert_eq!(svg.matches(r#"<circle class="noise""#).count(), 1);
        assert!(svg.contains(">signal</text>"));
        assert!(
            svg.contains("W2: -9.0, n = 40, limits -5.0 to 5.0; signal: below the lower limit")
        );
    }

    #[test]
    fn the_gap_chart_draws_level_threshold_and_target() {
        let points: Vec<GapPoint> = [(1.0, 0.9), (2.0, 0.85), (3.0, 0.5)]
            .into_iter()
            .map(|(x, s)| GapPoint {
                x,
                observed: s,
                fitted: s,
                n: 10,
            })
            .collect();
        let svg = gap_svg("g", "t", "d", &points, 0.8, Some(3.0), Some(5.0), "days");
        assert!(svg.contains("80% level"));
        assert!(svg.contains("customers: 3 days") && svg.contains("target: 5 days"));
        assert_eq!(svg.matches(r#"<circle class="observed""#).count(), 3);
        assert_eq!(number(3.5), "3.5");
        assert_eq!(number(-0.0), "0");
    }
}
