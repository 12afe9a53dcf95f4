//! CPU accounting from `/proc`: how busy the whole machine was over a
//! measurement, and the CPU time of the processes that share it (the bench
//! process, the broker, the registry, the peer, the service binaries).
//! Throughput on a box this small ends where its cores are used up, so the
//! CPU cost per request is what says how far a goal is out of reach.

use std::time::Instant;

/// Clock ticks per second of `/proc/stat` and `/proc/<pid>/stat` (`USER_HZ`,
/// 100 on every Linux architecture this runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process groups watched, by a word of their command line; the first match wins.
const GROUPS: &[(&str, &str)] = &[
    ("kafka", "kafka.Kafka"),
    ("registry", "-Dquarkus."),
    ("peer", "uvicorn"),
    ("ingest", "survey-ingest"),
    ("filter", "survey-filter"),
    ("enricher", "survey-enricher"),
    ("notifier", "survey-notifier"),
];

/// CPU counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    machine_busy: u64,
    machine_total: u64,
    /// Ticks used so far, per group (the bench process as `bench`).
    groups: Vec<(&'static str, u64)>,
}

/// CPU used between two snapshots.
#[derive(Debug, Clone, Default)]
pub struct CpuUse {
    /// Wall seconds.
    pub wall_secs: f64,
    /// Share of all cores that was busy (0 to 1), whatever used it.
    pub busy_share: f64,
    /// CPU seconds, all cores together, whatever used them.
    pub busy_secs: f64,
    /// CPU seconds per watched group that ran.
    pub groups: Vec<(&'static str, f64)>,
}

impl CpuUse {
    /// CPU seconds of one group (0 when it did not run).
    pub fn of(&self, group: &str) -> f64 {
        self.groups
            .iter()
            .find(|(name, _)| *name == group)
            .map_or(0.0, |(_, secs)| *secs)
    }

    /// Machine-wide CPU microseconds per unit of work (a request, a record).
    pub fn micros_per(&self, units: u64) -> f64 {
        self.busy_secs * 1e6 / units.max(1) as f64
    }

    /// Like [`Self::micros_per`], less what `idle` used in as long: the cost
    /// the work added over the machine at rest.
    pub fn marginal_micros_per(&self, units: u64, idle: &CpuUse) -> f64 {
        let idle_rate = idle.busy_secs / idle.wall_secs.max(1e-9);
        (self.busy_secs - idle_rate * self.wall_secs).max(0.0) * 1e6 / units.max(1) as f64
    }

    /// `group=secs` pairs, biggest first, for a report cell.
    pub fn breakdown(&self) -> String {
        let mut groups = self.groups.clone();
        groups.sort_by(|a, b| b.1.total_cmp(&a.1));
        groups
            .iter()
            .filter(|(_, secs)| *secs >= 0.005)
            .map(|(name, secs)| format!("{name} {secs:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Snapshot {
    /// Reads the counters now.
    pub fn take() -> Self {
        let (machine_busy, machine_total) = machine_ticks().unwrap_or((0, 0));
        let mut groups: Vec<(&'static str, u64)> = Vec::new();
        let own = std::process::id();
        let mut add = |name: &'static str, ticks: u64| match groups
            .iter_mut()
            .find(|(group, _)| *group == name)
        {
            Some((_, sum)) => *sum += ticks,
            None => groups.push((name, ticks)),
        };
        if let Some((_, ticks)) = process_stat(own) {
            add("bench", ticks);
        }
        // A child (a uvicorn worker, say) counts with its parent's group.
        let mut processes: Vec<(u32, u32, u64, Option<&'static str>)> = other_pids(own)
            .into_iter()
            .filter_map(|pid| {
                let (parent, ticks) = process_stat(pid)?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                let group = GROUPS
                    .iter()
                    .find(|(_, word)| cmdline.contains(word))
                    .map(|(name, _)| *name);
                Some((pid, parent, ticks, group))
            })
            .collect();
        for _ in 0..3 {
            let known: Vec<(u32, &'static str)> = processes
                .iter()
                .filter_map(|(pid, _, _, group)| Some((*pid, (*group)?)))
                .collect();
            for (_, parent, _, group) in processes.iter_mut().filter(|p| p.3.is_none()) {
                *group = known.iter().find(|(pid, _)| pid == parent).map(|(_, g)| *g);
            }
        }
        for (_, _, ticks, group) in processes {
            if let Some(name) = group {
                add(name, ticks);
            }
        }
        Self {
            at: Instant::now(),
            machine_busy,
            machine_total,
            groups,
        }
    }

    /// What was used from `self` until `later`. A process that started in
    /// between counts from zero; one that ended in between is left out.
    pub fn until(&self, later: &Snapshot) -> CpuUse {
        let total = later.machine_total.saturating_sub(self.machine_total);
        let busy = later.machine_busy.saturating_sub(self.machine_busy);
        let groups = later
            .groups
            .iter()
            .map(|(name, ticks)| {
                let before = self
                    .groups
                    .iter()
                    .find(|(group, _)| group == name)
                    .map_or(0, |(_, t)| *t);
                (
                    *name,
                    ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND,
                )
            })
            .collect();
        CpuUse {
            wall_secs: (later.at - self.at).as_secs_f64(),
            busy_share: if total == 0 {
                0.0
            } else {
                busy as f64 / total as f64
            },
            busy_secs: busy as f64 / TICKS_PER_SECOND,
            groups,
        }
    }
}

/// (busy, total) ticks of all cores from the `cpu` line of `/proc/stat`; idle
/// and iowait are not busy.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_line(stat.lines().next()?)
}

fn parse_machine_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The parent pid and utime + stime (ticks) of a process.
fn process_stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 4, 14 and 15 of proc(5); the first after ')' is field 3.
    let parent: u32 = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, utime + stime))
}

fn other_pids(own: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_line_counts_idle_and_iowait_as_not_busy() {
        let (busy, total) =
            parse_machine_line("cpu  100 5 50 800 20 3 2 0 0 0").expect("a cpu line");
        assert_eq!(total, 980);
        assert_eq!(busy, 160);
        assert_eq!(parse_machine_line("cpu0 1 2 3 4"), None);
    }

    #[test]
    fn process_stat_reads_parent_utime_and_stime_after_a_name_with_spaces() {
        let stat = "4242 (tokio worker) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(stat), Some((1, 1234 + 567)));
    }

    #[test]
    fn the_bench_process_and_the_machine_are_seen_using_cpu() {
        let before = Snapshot::take();
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = before.until(&Snapshot::take());
        assert!(used.of("bench") > 0.1, "{used:?}");
        assert!(used.busy_secs >= used.of("bench") * 0.5, "{used:?}");
        assert!(used.busy_share > 0.0 && used.busy_share <= 1.0, "{used:?}");
        let idle = CpuUse {
            wall_secs: 2.0,
            busy_secs: 0.2,
            ..CpuUse::default()
        };
        let work = CpuUse {
            wall_secs: 4.0,
            busy_secs: 1.4,
            ..CpuUse::default()
        };
        // 1.4 s busy less 0.1 s/s idle over 4 s = 1.0 s for 1000 units.
        assert!((work.marginal_micros_per(1000, &idle) - 1000.0).abs() < 1e-6);
    }
}
