//! Process metrics under the names every Prometheus client library uses (`process_*`), so stock
//! dashboards and alerts work unchanged. Read from /proc on scrape; elsewhere nothing is exported.

use metrics::{describe_gauge, gauge};

const RESIDENT: &str = "process_resident_memory_bytes";
const CPU: &str = "process_cpu_seconds_total";
const OPEN_FDS: &str = "process_open_fds";
const MAX_FDS: &str = "process_max_fds";
const START_TIME: &str = "process_start_time_seconds";

/// /proc/[pid]/stat counts CPU time and start time in USER_HZ, which the kernel fixes at 100 for
/// user space on every architecture Gatehouse builds for (sysconf would need libc for a constant).
const USER_HZ: f64 = 100.0;

pub fn describe() {
    describe_gauge!(RESIDENT, metrics::Unit::Bytes, "Resident memory size");
    // A gauge set from the kernel's running total: the facade's counters only add.
    describe_gauge!(
        CPU,
        metrics::Unit::Seconds,
        "User and system CPU time spent"
    );
    describe_gauge!(OPEN_FDS, "Open file descriptors");
    describe_gauge!(MAX_FDS, "The open file descriptor limit");
    describe_gauge!(
        START_TIME,
        metrics::Unit::Seconds,
        "Start time of the process since the Unix epoch"
    );
}

/// Reads the current values; a file that cannot be read leaves its gauge as it was.
pub fn refresh() {
    let Some(sample) = Sample::read() else {
        return;
    };
    if let Some(v) = sample.resident_bytes {
        gauge!(RESIDENT).set(v);
    }
    if let Some(v) = sample.cpu_seconds {
        gauge!(CPU).set(v);
    }
    if let Some(v) = sample.open_fds {
        gauge!(OPEN_FDS).set(v);
    }
    if let Some(v) = sample.max_fds {
        gauge!(MAX_FDS).set(v);
    }
    if let Some(v) = sample.start_time {
        gauge!(START_TIME).set(v);
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Sample {
    pub resident_bytes: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time: Option<f64>,
}

impl Sample {
    #[cfg(target_os = "linux")]
    pub fn read() -> Option<Sample> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let system = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|dir| dir.count() as f64);
        let mut sample = parse(&stat, &status, &system, &limits);
        sample.open_fds = open_fds;
        Some(sample)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read() -> Option<Sample> {
        None
    }
}

/// The sample in the texts of /proc/self/stat, /proc/self/status, /proc/stat and
/// /proc/self/limits.
pub fn parse(stat: &str, status: &str, system: &str, limits: &str) -> Sample {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let after_name: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Field n of proc(5) is after_name[n - 3].
    let field = |n: usize| after_name.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu_seconds = match (field(14), field(15)) {
        (Some(user), Some(system)) => Some((user + system) / USER_HZ),
        _ => None,
    };
    let boot_time = system
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    let start_time = match (boot_time, field(22)) {
        (Some(boot), Some(ticks)) => Some(boot + ticks / USER_HZ),
        _ => None,
    };
    let resident_bytes = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|kib| kib * 1024.0);
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<f64>().ok());
    Sample {
        resident_bytes,
        cpu_seconds,
        open_fds: None,
        max_fds,
        start_time,
    }
}
