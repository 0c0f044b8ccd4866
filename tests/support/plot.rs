//! `docs/adaptive.svg`: the limit, the capacity and p99 over time, one row per limiter, written
//! as plain SVG text from the simulation's traces (`support/sim.rs`).
//!
//! Every number is printed with one decimal and nothing depends on the clock or a hash order,
//! so a trace gives the same bytes every time. Each limiter's row is a `<g id="…">` whose
//! contents do not depend on where the row sits (its place is a `transform` on a group around
//! it), so a test can check one limiter's row in the committed file without running the others.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Write;

use crate::sim::{Trace, figures};

/// The committed plot, relative to the crate's root.
pub const PLOT: &str = "docs/adaptive.svg";
const SECONDS: f64 = 180.0;
/// Limits above this are drawn at it (a peer that admits 200 would flatten the rest).
const LIMIT_TOP: f64 = 32.0;
/// p99 above this is drawn at it.
const P99_TOP_MS: f64 = 1000.0;
const ROW_HEIGHT: f64 = 170.0;
const PANEL: (f64, f64) = (400.0, 120.0);
const LEFT_X: f64 = 50.0;
const RIGHT_X: f64 = 540.0;
const TOP: f64 = 42.0;
const WIDTH: f64 = 980.0;

/// One limiter's row: its name (shown) and an id made of it.
pub fn series(name: &str, trace: &Trace) -> String {
    let mut svg = String::new();
    let id: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    writeln!(svg, r#"<g id="{id}">"#).unwrap();
    writeln!(svg, r#"<text x="{LEFT_X}" y="16" class="title">{name}</text>"#).unwrap();
    svg.push_str(&frame(LEFT_X, "limit (workers)", LIMIT_TOP, &[0.0, 4.0, 10.0, 16.0, 32.0]));
    svg.push_str(&frame(RIGHT_X, "p99 per second (ms)", P99_TOP_MS, &[0.0, 300.0, 1000.0]));
    let capacity = step_path(&trace.capacity, LEFT_X, LIMIT_TOP);
    writeln!(svg, r#"<path class="capacity" d="{capacity}"/>"#).unwrap();
    let limit = step_path(&trace.limits, LEFT_X, LIMIT_TOP);
    writeln!(svg, r#"<path class="limit" d="{limit}"/>"#).unwrap();
    writeln!(svg, r#"<path class="p99" d="{}"/>"#, p99_path(trace)).unwrap();
    svg.push_str("</g>\n");
    svg
}

/// The whole plot: a row per `(name, trace)`, in order.
pub fn plot(rows: &[(&str, &Trace)]) -> String {
    let height = TOP + ROW_HEIGHT * rows.len() as f64 + 10.0;
    let mut svg = String::new();
    writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    )
    .unwrap();
    svg.push_str(concat!(
        "<style>.title{font-size:13px;font-weight:bold}.axis{stroke:#888;fill:none}",
        ".grid{stroke:#ddd}.limit{stroke:#1f6feb;fill:none;stroke-width:1.2}",
        ".capacity{stroke:#d1242f;fill:none;stroke-dasharray:5 3;stroke-width:1.2}",
        ".p99{stroke:#8250df;fill:none;stroke-width:1}.bar{stroke:#d1242f;stroke-dasharray:2 2}</style>\n",
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
    ));
    writeln!(
        svg,
        r#"<text x="{LEFT_X}" y="16">Issue 21's simulation, seed 21: the limit (blue), the capacity C (red, dashed: 10, then 4 from 60 s, then 16 from 120 s)</text>"#
    )
    .unwrap();
    writeln!(
        svg,
        r#"<text x="{LEFT_X}" y="31">and the p99 of each second's successful calls (purple; the 300 ms bar dotted). Limits above {LIMIT_TOP} and p99 above {P99_TOP_MS} ms are drawn at the top.</text>"#
    )
    .unwrap();
    for (row, (name, trace)) in rows.iter().enumerate() {
        writeln!(svg, r#"<g transform="translate(0,{:.1})">"#, TOP + ROW_HEIGHT * row as f64).unwrap();
        svg.push_str(&series(name, trace));
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    svg
}

/// A panel's axes, its label and grid lines at `ticks` (values of its y axis, 0 to `top`).
fn frame(x: f64, label: &str, top: f64, ticks: &[f64]) -> String {
    let (width, height) = PANEL;
    let mut svg = String::new();
    for &tick in ticks {
        let y = y_of(tick, top);
        writeln!(svg, r#"<line class="grid" x1="{x}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#, x + width)
            .unwrap();
        writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{tick}</text>"#, x - 4.0, y + 4.0)
            .unwrap();
    }
    if top == P99_TOP_MS {
        let y = y_of(300.0, top);
        writeln!(svg, r#"<line class="bar" x1="{x}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#, x + width)
            .unwrap();
    }
    writeln!(svg, r#"<rect class="axis" x="{x}" y="24" width="{width}" height="{height}"/>"#).unwrap();
    for second in [0, 60, 120, 180] {
        let tick_x = x_of(second as f64, x);
        writeln!(
            svg,
            r#"<text x="{tick_x:.1}" y="{:.1}" text-anchor="middle">{second} s</text>"#,
            24.0 + height + 13.0
        )
        .unwrap();
    }
    writeln!(svg, r#"<text x="{:.1}" y="20" text-anchor="end">{label}</text>"#, x + width).unwrap();
    svg
}

fn x_of(second: f64, x: f64) -> f64 {
    x + second.clamp(0.0, SECONDS) / SECONDS * PANEL.0
}

fn y_of(value: f64, top: f64) -> f64 {
    24.0 + PANEL.1 - value.clamp(0.0, top) / top * PANEL.1
}

/// A step line through `(second, value)` samples: a corner only where the value changes.
fn step_path(samples: &[(f64, usize)], x: f64, top: f64) -> String {
    let mut path = String::new();
    let mut last = None;
    for &(second, value) in samples {
        let (px, py) = (x_of(second, x), y_of(value as f64, top));
        match last {
            None => write!(path, "M{px:.1} {py:.1}").unwrap(),
            Some(previous) if previous != value => write!(path, "H{px:.1}V{py:.1}").unwrap(),
            Some(_) => {}
        }
        last = Some(value);
    }
    write!(path, "H{:.1}", x_of(SECONDS, x)).unwrap();
    path
}

/// p99 of each second's successful calls; a second without one breaks the line.
fn p99_path(trace: &Trace) -> String {
    let mut path = String::new();
    let mut drawing = false;
    for second in 0..SECONDS as u32 {
        let p99 = figures(trace, second as f64, second as f64 + 1.0).p99_ms;
        if p99.is_nan() {
            drawing = false;
            continue;
        }
        let (px, py) = (x_of(second as f64 + 0.5, RIGHT_X), y_of(p99, P99_TOP_MS));
        write!(path, "{}{px:.1} {py:.1}", if drawing { "L" } else { "M" }).unwrap();
        drawing = true;
    }
    path
}

/// Whether the committed plot holds `name`'s row exactly as `trace` draws it; the message
/// says how to bring it up to date.
pub fn assert_current(name: &str, trace: &Trace) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PLOT);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.contains(&series(name, trace)),
        "{PLOT} does not show the current `{name}` run: redraw it with \
         `cargo test --test adaptive_peers -- --ignored` and commit it"
    );
}
