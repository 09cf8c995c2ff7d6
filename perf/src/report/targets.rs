//! The performance targets, judged against the measured figures.

use super::entries::{self, Entry};
use super::estimates::{self as ids, Estimates};
use super::format::{percent, rate, time};
use crate::results::{EmulatorLoad, HttpLoad, WrkRun};

/// Whether a target was met.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Met,
    /// Missed, and by how much.
    Missed(String),
    /// A figure it needs was not measured.
    NotMeasured,
}

/// One target and how it fared.
#[derive(Clone, Debug)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub verdict: Verdict,
}

impl Check {
    fn not_measured(target: &str) -> Self {
        Self {
            target: target.to_owned(),
            measured: "not measured".to_owned(),
            verdict: Verdict::NotMeasured,
        }
    }
}

/// Every target, in the order the report lists them.
pub fn evaluate(
    estimates: &Estimates,
    http: Option<&HttpLoad>,
    emulator: Option<&EmulatorLoad>,
) -> Vec<Check> {
    vec![
        decode(estimates),
        fresh_overhead(estimates),
        below_peers(estimates),
        cached_overhead(estimates),
        rejection(estimates),
        throughput(http, "stlock_fresh", "fresh token"),
        throughput(http, "stlock_repeat", "repeat token"),
        logins(emulator),
        refreshes(emulator),
    ]
}

/// A time target: `measured ≤ limit`; missed by the difference, also as a share of the limit.
fn at_most(target: String, measured_text: String, measured: f64, limit: f64) -> Check {
    let verdict = if measured <= limit {
        Verdict::Met
    } else {
        let over = measured - limit;
        let share = if limit <= f64::EPSILON {
            String::new()
        } else if measured >= 2.0 * limit {
            format!(" ({:.1}× the limit)", measured / limit)
        } else {
            format!(" ({} of the limit)", percent(over / limit))
        };
        Verdict::Missed(format!("{} over{share}", time(over)))
    };
    Check {
        target,
        measured: measured_text,
        verdict,
    }
}

fn decode(estimates: &Estimates) -> Check {
    const TARGET: &str = "`decode/stlock` ≤ 0.5 × `decode/jsonwebtoken_raw`";
    let (Some(ours), Some(raw)) = (
        estimates.get(ids::DECODE_STLOCK),
        estimates.get(ids::DECODE_RAW),
    ) else {
        return Check::not_measured(TARGET);
    };
    let limit = 0.5 * raw.ns;
    let mut check = at_most(
        TARGET.to_owned(),
        format!(
            "{} vs {}: {:.2}×",
            time(ours.ns),
            time(raw.ns),
            ours.ns / raw.ns
        ),
        ours.ns,
        limit,
    );
    if let Verdict::Missed(by) = &check.verdict {
        check.verdict = Verdict::Missed(format!(
            "{by}: needs ≤ {}, {} of today's time",
            time(limit),
            percent(limit / ours.ns - 1.0)
        ));
    }
    check
}

fn fresh_overhead(estimates: &Estimates) -> Check {
    const TARGET: &str = "layer overhead, fresh token ≤ `decode/stlock` + 0.2 µs";
    let (Some(overhead), Some(decode)) = (
        entries::STLOCK_FRESH.overhead(estimates),
        estimates.get(ids::DECODE_STLOCK),
    ) else {
        return Check::not_measured(TARGET);
    };
    let limit = decode.ns + 200.0;
    at_most(
        TARGET.to_owned(),
        format!("{} (limit {})", time(overhead.ns), time(limit)),
        overhead.ns,
        limit,
    )
}

fn below_peers(estimates: &Estimates) -> Check {
    const TARGET: &str = "layer overhead, fresh token, below every peer's overhead";
    let Some(ours) = entries::STLOCK_FRESH.overhead(estimates) else {
        return Check::not_measured(TARGET);
    };
    let peers: Vec<(&Entry, f64)> = entries::PEERS
        .iter()
        .filter_map(|peer| Some((peer, peer.overhead(estimates)?.ns)))
        .collect();
    if peers.is_empty() {
        return Check::not_measured(TARGET);
    }
    let lowest = peers
        .iter()
        .map(|(_, ns)| *ns)
        .fold(f64::INFINITY, f64::min);
    let faster: Vec<String> = peers
        .iter()
        .filter(|(_, ns)| *ns <= ours.ns)
        .map(|(peer, ns)| format!("{} by {}", peer.label, time(ours.ns - ns)))
        .collect();
    Check {
        target: TARGET.to_owned(),
        measured: format!("{} vs the lowest peer's {}", time(ours.ns), time(lowest)),
        verdict: if faster.is_empty() {
            Verdict::Met
        } else {
            Verdict::Missed(format!("lower than stlock's: {}", faster.join(", ")))
        },
    }
}

fn cached_overhead(estimates: &Estimates) -> Check {
    const TARGET: &str = "layer overhead, repeat token ≤ 0.15 µs";
    let Some(overhead) = entries::STLOCK_CACHED.overhead(estimates) else {
        return Check::not_measured(TARGET);
    };
    at_most(TARGET.to_owned(), time(overhead.ns), overhead.ns, 150.0)
}

fn rejection(estimates: &Estimates) -> Check {
    const TARGET: &str = "`reject/missing` ≤ `request/no_auth`";
    let (Some(missing), Some(no_auth)) = (
        estimates.get(ids::REJECT_MISSING),
        estimates.get(ids::NO_AUTH),
    ) else {
        return Check::not_measured(TARGET);
    };
    at_most(
        TARGET.to_owned(),
        format!("{} vs {}", time(missing.ns), time(no_auth.ns)),
        missing.ns,
        no_auth.ns,
    )
}

fn run<'a>(http: &'a HttpLoad, case: &str) -> Option<&'a WrkRun> {
    http.runs.iter().find(|run| run.case == case)
}

fn throughput(http: Option<&HttpLoad>, case: &str, what: &str) -> Check {
    let target = format!("throughput with the layer ({what}) ≥ 0.95 × without");
    let Some((with, without)) =
        http.and_then(|http| Some((run(http, case)?, run(http, "no_auth")?)))
    else {
        return Check::not_measured(&target);
    };
    let share = with.requests_per_sec() / without.requests_per_sec();
    Check {
        target,
        measured: format!(
            "{} vs {}: {share:.3}×",
            rate(with.requests_per_sec()),
            rate(without.requests_per_sec())
        ),
        verdict: if share >= 0.95 {
            Verdict::Met
        } else {
            Verdict::Missed(format!(
                "{:.3}× short of 0.95×: {} fewer requests/s than needed",
                0.95 - share,
                rate(0.95 * without.requests_per_sec() - with.requests_per_sec())
                    .trim_end_matches("/s")
            ))
        },
    }
}

fn logins(emulator: Option<&EmulatorLoad>) -> Check {
    const TARGET: &str = "emulator logins ≥ 0.9 × the Argon2 limit";
    let Some(emulator) = emulator else {
        return Check::not_measured(TARGET);
    };
    let limit = emulator.argon2_limit_per_sec();
    let share = emulator.logins.per_sec() / limit;
    Check {
        target: TARGET.to_owned(),
        measured: format!(
            "{} vs a limit of {}: {share:.2}×",
            rate(emulator.logins.per_sec()),
            rate(limit)
        ),
        verdict: if share >= 0.9 {
            Verdict::Met
        } else {
            Verdict::Missed(format!(
                "{:.2}× short of 0.9×: {} fewer logins than needed",
                0.9 - share,
                rate(0.9 * limit - emulator.logins.per_sec())
            ))
        },
    }
}

fn refreshes(emulator: Option<&EmulatorLoad>) -> Check {
    const TARGET: &str = "emulator refreshes ≥ 20,000/s on 2 cores";
    let Some(emulator) = emulator else {
        return Check::not_measured(TARGET);
    };
    let measured = emulator.refreshes.per_sec();
    Check {
        target: TARGET.to_owned(),
        measured: format!("{} on {} cores", rate(measured), emulator.cores),
        verdict: if measured >= 20_000.0 {
            Verdict::Met
        } else {
            Verdict::Missed(format!(
                "{} short ({})",
                rate(20_000.0 - measured),
                percent(measured / 20_000.0 - 1.0)
            ))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::estimates::Estimate;

    fn e(ns: f64) -> Estimate {
        Estimate {
            ns,
            lo: ns * 0.98,
            hi: ns * 1.02,
        }
    }

    #[test]
    fn judged() {
        let estimates = Estimates::from_pairs([
            (ids::DECODE_STLOCK, e(1000.0)),
            (ids::DECODE_RAW, e(2500.0)),
            (ids::NO_AUTH, e(200.0)),
            (ids::STLOCK_LAYER, e(1300.0)),
            (ids::STLOCK_CACHED, e(400.0)),
            (ids::JWT_AUTHORIZER, e(5000.0)),
            (ids::JWT_AUTHORIZER_NO_AUTH, e(300.0)),
            (ids::REJECT_MISSING, e(250.0)),
        ]);
        let checks = evaluate(&estimates, None, None);
        assert_eq!(checks[0].verdict, Verdict::Met, "{:?}", checks[0]);
        assert_eq!(checks[1].verdict, Verdict::Met, "{:?}", checks[1]);
        assert_eq!(checks[2].verdict, Verdict::Met, "{:?}", checks[2]);
        assert_eq!(
            checks[3].verdict,
            Verdict::Missed("50 ns over (+33% of the limit)".to_owned())
        );
        assert_eq!(
            checks[4].verdict,
            Verdict::Missed("50 ns over (+25% of the limit)".to_owned())
        );
        assert_eq!(checks[5].verdict, Verdict::NotMeasured);
        assert_eq!(checks[8].verdict, Verdict::NotMeasured);
    }
}
