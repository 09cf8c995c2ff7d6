//! How figures are written in the report.

use super::estimates::{Estimate, Ratio};

/// A time in nanoseconds: `812 ns`, `2.345 µs`, `12.3 ms`.
pub fn time(ns: f64) -> String {
    let magnitude = ns.abs();
    if magnitude < 1_000.0 {
        format!("{ns:.0} ns")
    } else if magnitude < 10_000.0 {
        format!("{:.3} µs", ns / 1_000.0)
    } else if magnitude < 1_000_000.0 {
        format!("{:.1} µs", ns / 1_000.0)
    } else {
        format!("{:.1} ms", ns / 1_000_000.0)
    }
}

/// A median with its interval: `2.345 µs (2.301–2.398)`.
pub fn estimate(e: Estimate) -> String {
    format!("{} ({}–{})", time(e.ns), bare(e.lo, e.ns), bare(e.hi, e.ns))
}

/// A bound in the unit `time` picks for `reference`, without the unit.
fn bare(ns: f64, reference: f64) -> String {
    let magnitude = reference.abs();
    if magnitude < 1_000.0 {
        format!("{ns:.0}")
    } else if magnitude < 10_000.0 {
        format!("{:.3}", ns / 1_000.0)
    } else if magnitude < 1_000_000.0 {
        format!("{:.1}", ns / 1_000.0)
    } else {
        format!("{:.1}", ns / 1_000_000.0)
    }
}

/// A ratio with its interval: `0.93× (0.90–0.97)`.
pub fn ratio(r: Ratio) -> String {
    format!("{:.2}× ({:.2}–{:.2})", r.value, r.lo, r.hi)
}

/// A count per second: `48,210/s`, `41.3/s`.
pub fn rate(per_sec: f64) -> String {
    if per_sec >= 100.0 {
        format!("{}/s", thousands(per_sec.round() as u64))
    } else {
        format!("{per_sec:.1}/s")
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A share as a signed percentage: `+12%`, `-4.5%`.
pub fn percent(share: f64) -> String {
    let pct = share * 100.0;
    if pct.abs() >= 10.0 {
        format!("{pct:+.0}%")
    } else {
        format!("{pct:+.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(time(812.4), "812 ns");
        assert_eq!(time(2345.0), "2.345 µs");
        assert_eq!(time(-150.0), "-150 ns");
        assert_eq!(time(445_000.0), "445.0 µs");
        assert_eq!(
            estimate(Estimate {
                ns: 2345.0,
                lo: 2301.0,
                hi: 2398.0
            }),
            "2.345 µs (2.301–2.398)"
        );
        assert_eq!(rate(48_210.4), "48,210/s");
        assert_eq!(rate(41.33), "41.3/s");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(percent(0.123), "+12%");
        assert_eq!(percent(-0.045), "-4.5%");
    }
}
