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
}
