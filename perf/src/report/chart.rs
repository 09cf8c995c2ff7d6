//! benchmarks.png: two panels of horizontal bars. Left, the time each middleware adds to a
//! request over its own baseline; right, rejected requests through `StlockLayer` next to a
//! request without authentication. Each bar is a median with its 95% interval drawn across it.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::entries::{self, Entry};
use super::estimates::{self as ids, Estimate, Estimates};
use super::format::time;

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 620;
const STLOCK: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const PEER: RGBColor = RGBColor(0x9a, 0x9a, 0x9a);
const REJECT: RGBColor = RGBColor(0xdd, 0x84, 0x2a);

/// One bar: its label, its figure, its colour.
struct Bar {
    label: String,
    value: Estimate,
    color: RGBColor,
}

/// Registers the TrueType file at `font` (read once, kept for the process) as the sans-serif
/// face every label is drawn with.
pub fn use_font(font: &Path) -> Result<(), String> {
    let bytes = std::fs::read(font).map_err(|err| format!("{}: {err}", font.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{}: not a font plotters can read", font.display()))
}

/// Draws the chart into `out`; bars whose figures were not measured are left out.
pub fn draw(estimates: &Estimates, out: &Path) -> Result<(), String> {
    let overhead = |entry: &Entry, color| {
        entry.overhead(estimates).map(|value| Bar {
            label: entry.label.to_owned(),
            value,
            color,
        })
    };
    let overheads: Vec<Bar> = [
        overhead(&entries::STLOCK_FRESH, STLOCK),
        overhead(&entries::STLOCK_CACHED, STLOCK),
    ]
    .into_iter()
    .chain(entries::PEERS.iter().map(|peer| overhead(peer, PEER)))
    .flatten()
    .collect();
    let absolute = |label: &str, id: &str, color| {
        estimates.get(id).map(|value| Bar {
            label: label.to_owned(),
            value,
            color,
        })
    };
    let rejections: Vec<Bar> = [
        absolute("no auth (200)", ids::NO_AUTH, PEER),
        absolute("401: no token", ids::REJECT_MISSING, REJECT),
        absolute("401: not a JWT", ids::REJECT_GARBAGE, REJECT),
        absolute("401: bad signature", ids::REJECT_BAD_SIGNATURE, REJECT),
    ]
    .into_iter()
    .flatten()
    .collect();

    let root = BitMapBackend::new(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|err| err.to_string())?;
    let (left, right) = root.split_horizontally(WIDTH * 3 / 5);
    panel(
        &left,
        "Time added to a request over its baseline (µs)",
        &overheads,
    )?;
    panel(&right, "A rejected request, whole (µs)", &rejections)?;
    root.present().map_err(|err| err.to_string())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    bars: &[Bar],
) -> Result<(), String> {
    let error = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    let widest = bars
        .iter()
        .map(|bar| bar.value.hi.max(bar.value.ns))
        .fold(0.0_f64, f64::max)
        / 1000.0;
    let x_max = if widest > 0.0 { widest * 1.35 } else { 1.0 };
    let rows = bars.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(190)
        .build_cartesian_2d(0.0..x_max, -0.5..rows - 0.5)
        .map_err(error)?;
    // Row 0 at the top: the first bar listed is drawn highest.
    let row_of = |i: usize| rows - 1.0 - i as f64;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(bars.len().max(1))
        .y_label_formatter(&|y| {
            let i = (rows - 1.0 - y).round();
            if (y - y.round()).abs() < 1e-6 && i >= 0.0 && (i as usize) < bars.len() {
                bars[i as usize].label.clone()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|x| format!("{x:.1}"))
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(error)?;
    for (i, bar) in bars.iter().enumerate() {
        let y = row_of(i);
        let us = |ns: f64| (ns / 1000.0).max(0.0);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.32), (us(bar.value.ns), y + 0.32)],
                bar.color.filled(),
            )))
            .map_err(error)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(us(bar.value.lo), y), (us(bar.value.hi), y)],
                BLACK.stroke_width(2),
            )))
            .map_err(error)?;
        chart
            .draw_series(std::iter::once(Text::new(
                time(bar.value.ns),
                (us(bar.value.hi.max(bar.value.ns)) + x_max * 0.01, y + 0.12),
                ("sans-serif", 16),
            )))
            .map_err(error)?;
    }
    Ok(())
}
