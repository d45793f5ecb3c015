//! A phase's throughput, p99 and CPU per login against a baseline, and the medians of rounds.

use crate::Phase;

/// What a ratio line is held to, if anything: a least throughput ratio, a most p99 ratio.
#[derive(Clone, Copy)]
pub struct Goal {
    throughput: Option<f64>,
    p99: Option<f64>,
}

impl Goal {
    pub fn new(throughput: Option<f64>, p99: Option<f64>) -> Self {
        Self { throughput, p99 }
    }

    /// A line that attributes cost, held to nothing.
    pub fn none() -> Self {
        Self::new(None, None)
    }
}

/// A phase against its baseline: the mean of the baseline phases measured before and after it
/// (one phase twice, for a baseline measured once).
pub struct Ratios {
    throughput: f64,
    p99: f64,
    cpu: Option<f64>,
}

impl Ratios {
    pub fn of(p: &Phase, before: &Phase, after: &Phase) -> Self {
        let raw_rate = (before.rate + after.rate) / 2.0;
        let raw_p99 = (before.p99 + after.p99).as_secs_f64() / 2.0;
        let raw_cpu = before
            .total_cpu_us()
            .zip(after.total_cpu_us())
            .map(|(a, b)| (a + b) / 2.0);
        Self {
            throughput: p.rate / raw_rate,
            p99: p.p99.as_secs_f64() / raw_p99,
            cpu: raw_cpu.zip(p.total_cpu_us()).map(|(raw, p)| raw / p),
        }
    }

    /// Each round's ratios and their median.
    pub fn print_rounds(name: &str, baseline: &str, rounds: &[Ratios], goal: Goal) {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let list = |f: fn(&Ratios) -> Option<f64>| {
            rounds
                .iter()
                .map(|r| f(r).map_or_else(|| "?".to_owned(), |x| format!("{x:.2}")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let throughput = median(rounds.iter().map(|r| r.throughput).collect());
        let p99 = median(rounds.iter().map(|r| r.p99).collect());
        let cpu: Vec<f64> = rounds.iter().filter_map(|r| r.cpu).collect();
        let cpu = if cpu.is_empty() {
            "?".to_owned()
        } else {
            format!("{:.2}", median(cpu))
        };
        let throughput_goal = goal
            .throughput
            .map_or_else(String::new, |g| format!(" (goal >= {g:.2})"));
        let p99_goal = goal
            .p99
            .map_or_else(String::new, |g| format!(" (goal <= {g}x)"));
        println!(
            "  {name:<8} / {baseline}: throughput {throughput:.2}{throughput_goal}, p99 {p99:.2}x{p99_goal}, CPU per login {baseline}/{name} {cpu}{}",
            if rounds.len() > 1 {
                format!(
                    "  (medians; by round: throughput {}, p99 {})",
                    list(|r| Some(r.throughput)),
                    list(|r| Some(r.p99))
                )
            } else {
                String::new()
            }
        );
    }
}
