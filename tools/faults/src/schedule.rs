//! The faults, one after the other while the load runs, each timed and measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use survey_sandbox::{Fault, Route};

use crate::load::Load;
use crate::procs::{Service, StackControl};
use crate::sandbox::SandboxProcess;

/// How long a restarted component may take to show progress before the run says so.
const PROGRESS_LIMIT: Duration = Duration::from_secs(90);

/// Durations and rates of one form of the suite.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Surveys per second.
    pub rate: f64,
    /// Surveys per second while ingest is under load with Kafka down.
    pub burst_rate: f64,
    /// Load before the first fault.
    pub warmup: Duration,
    /// Between two kills of one service.
    pub kill_gap: Duration,
    /// How long a killed service stays down.
    pub kill_down: Duration,
    /// How long the broker stays down (each time).
    pub broker_down: Duration,
    /// How long the registry stays down.
    pub registry_down: Duration,
    /// How long Slack answers 503.
    pub slack_down: Duration,
    /// Load after the last fault.
    pub cooldown: Duration,
    /// How long the pipeline may take to deliver everything after the load.
    pub drain_limit: Duration,
}

impl Timing {
    /// The short form run by `cargo xtask test`.
    pub const SHORT: Timing = Timing {
        rate: 2.0,
        burst_rate: 6.0,
        warmup: Duration::from_secs(15),
        kill_gap: Duration::from_secs(2),
        kill_down: Duration::from_secs(1),
        broker_down: Duration::from_secs(8),
        registry_down: Duration::from_secs(15),
        slack_down: Duration::from_secs(15),
        cooldown: Duration::from_secs(5),
        drain_limit: Duration::from_secs(150),
    };

    /// The full form.
    pub const FULL: Timing = Timing {
        rate: 2.5,
        burst_rate: 10.0,
        warmup: Duration::from_secs(40),
        kill_gap: Duration::from_secs(5),
        kill_down: Duration::from_secs(2),
        broker_down: Duration::from_secs(20),
        registry_down: Duration::from_secs(40),
        slack_down: Duration::from_secs(120),
        cooldown: Duration::from_secs(15),
        drain_limit: Duration::from_secs(240),
    };
}

/// What one fault came to.
#[derive(Debug, Clone)]
pub struct PhaseRecord {
    /// The fault, as the report names it.
    pub name: String,
    /// When it began; it ends where the next one begins.
    pub start: Instant,
    /// The same, on the wall clock.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Recovery times (one per restart), `None` when no progress was seen in time.
    pub recovery: Vec<Option<Duration>>,
    /// Whether the recovery times are the consumers' resumption bound (10 s).
    pub bounded_recovery: bool,
    /// Extra facts for the report.
    pub note: String,
    /// Services SIGKILLed during it, and when.
    pub kills: Vec<(String, chrono::DateTime<chrono::Utc>)>,
}

/// The run's moving parts.
#[derive(Debug)]
pub struct Rig<'a> {
    /// Services by name.
    pub services: BTreeMap<&'static str, Arc<Service>>,
    /// The broker and registry.
    pub stack: StackControl,
    /// The SaaS fakes.
    pub sandbox: &'a SandboxProcess,
    /// The load.
    pub load: &'a Load,
    /// For metrics.
    pub http: reqwest::Client,
    /// The form.
    pub timing: Timing,
}

/// The consumers, whose resumption is measured after broker and registry restarts.
const CONSUMERS: [&str; 3] = ["filter", "enricher", "notifier"];

impl Rig<'_> {
    fn service(&self, name: &str) -> Arc<Service> {
        self.services
            .get(name)
            .cloned()
            .unwrap_or_else(|| unreachable!("{name} is always started"))
    }

    /// Runs every fault in turn and returns what each came to, the warm-up first.
    pub async fn run(&self) -> Result<Vec<PhaseRecord>> {
        let t = self.timing;
        let mut phases = Vec::new();

        let warmup = begin(&mut phases, "none (warm-up)", false);
        tokio::time::sleep(t.warmup).await;
        phases[warmup].note = format!(
            "{} surveys sent before the first fault",
            self.load.stats.surveys()
        );

        for name in ["ingest", "filter", "enricher", "notifier"] {
            let phase = begin(&mut phases, &format!("SIGKILL {name} x3, restart"), true);
            for _ in 0..3 {
                tokio::time::sleep(t.kill_gap).await;
                let (killed, recovery) = self.kill_and_restart(name, t.kill_down).await?;
                phases[phase].kills.push((name.to_owned(), killed));
                phases[phase].recovery.push(recovery);
            }
        }

        let phase = begin(&mut phases, "broker stopped, restarted", false);
        self.stack.stop("kafka").await?;
        tokio::time::sleep(t.broker_down).await;
        self.stack.up().await?;
        phases[phase].recovery.push(self.consumers_resume().await);

        let phase = begin(&mut phases, "ingest under load, broker killed", false);
        let unavailable_before = self
            .load
            .stats
            .unavailable
            .load(std::sync::atomic::Ordering::Relaxed);
        self.load.set_rate(t.burst_rate);
        self.stack.kill("kafka").await?;
        tokio::time::sleep(t.broker_down).await;
        self.stack.up().await?;
        let back = Instant::now();
        self.load.set_rate(t.rate);
        let consumers = self.consumers_resume().await;
        let ingest = wait_until(PROGRESS_LIMIT, || async {
            self.load.stats.first_accept_after(back).is_some()
        })
        .await
        .map(|_| {
            self.load
                .stats
                .first_accept_after(back)
                .map_or(Duration::ZERO, |at| at.saturating_duration_since(back))
        });
        phases[phase]
            .recovery
            .push(consumers.zip(ingest).map(|(c, i)| c.max(i)));
        let unavailable = self
            .load
            .stats
            .unavailable
            .load(std::sync::atomic::Ordering::Relaxed)
            - unavailable_before;
        phases[phase].note = format!("{unavailable} posts answered 5xx and retried");

        let phase = begin(&mut phases, "schema registry down", false);
        self.stack.stop("registry").await?;
        tokio::time::sleep(t.registry_down / 4).await;
        // Services that start while the registry is down must wait for it, not lose work.
        for name in ["enricher", "notifier"] {
            let service = self.service(name);
            let killed = service.kill().await?;
            phases[phase].kills.push((name.to_owned(), killed));
            service.start().await?;
        }
        tokio::time::sleep(t.registry_down - t.registry_down / 4).await;
        self.stack.up().await?;
        phases[phase].recovery.push(self.consumers_resume().await);
        phases[phase].note = "enricher and notifier restarted while it was down".to_owned();

        let phase = begin(&mut phases, "Genesys 429, 5xx, timeouts", false);
        // Delays first (the first matching fault is used first): 4 s against a 3 s timeout.
        self.sandbox
            .fault(Route::Genesys, Fault::delay(4_000, 6))
            .await?;
        self.sandbox
            .fault(Route::Genesys, Fault::rate_limited(1, 20))
            .await?;
        for code in [500, 502, 503] {
            self.sandbox
                .fault(Route::Genesys, Fault::status(code, 8))
                .await?;
        }
        let used_up = wait_until(Duration::from_secs(120), || async {
            self.sandbox.counts().await.pending_faults == 0
        })
        .await;
        phases[phase].recovery.push(match used_up {
            Some(_) => self.sinks_progress(|c| c.total()).await,
            None => None,
        });
        phases[phase].note = if used_up.is_some() {
            "6 timeouts, 20 x 429, 24 x 5xx".to_owned()
        } else {
            "faults not all used within 120 s".to_owned()
        };

        let phase = begin(
            &mut phases,
            &format!("Slack down {} s", t.slack_down.as_secs()),
            false,
        );
        self.sandbox.outage(Route::Slack, t.slack_down).await?;
        tokio::time::sleep(t.slack_down).await;
        phases[phase]
            .recovery
            .push(self.sinks_progress(|c| c.slack).await);

        let phase = begin(&mut phases, "none (cool-down)", false);
        tokio::time::sleep(t.cooldown).await;
        phases[phase].note = "load continues, then stops".to_owned();
        Ok(phases)
    }

    /// SIGKILL, a pause, a restart; returns when the process was gone, and the time from
    /// the restart until the new process handled a record.
    async fn kill_and_restart(
        &self,
        name: &str,
        down: Duration,
    ) -> Result<(chrono::DateTime<chrono::Utc>, Option<Duration>)> {
        let service = self.service(name);
        let killed = service.kill().await?;
        tokio::time::sleep(down).await;
        service.start().await?;
        Ok((
            killed,
            service.wait_progress(&self.http, PROGRESS_LIMIT).await,
        ))
    }

    /// After the broker or registry came back: the time until every consumer handled a
    /// record again (the slowest one).
    async fn consumers_resume(&self) -> Option<Duration> {
        let since = Instant::now();
        let mut before = Vec::new();
        for name in CONSUMERS {
            before.push(self.service(name).progress(&self.http).await);
        }
        let mut slowest = Duration::ZERO;
        for (name, before) in CONSUMERS.into_iter().zip(before) {
            let service = self.service(name);
            let resumed = wait_until(PROGRESS_LIMIT.saturating_sub(since.elapsed()), || {
                let service = service.clone();
                async move { service.progress(&self.http).await > before }
            })
            .await?;
            slowest = slowest.max(resumed.saturating_duration_since(since));
        }
        Some(slowest)
    }

    /// The time until the sandbox's count (as `count` reads it) grows.
    async fn sinks_progress(
        &self,
        count: impl Fn(&crate::sandbox::Counts) -> usize,
    ) -> Option<Duration> {
        let since = Instant::now();
        let before = count(&self.sandbox.counts().await);
        wait_until(PROGRESS_LIMIT, || async {
            count(&self.sandbox.counts().await) > before
        })
        .await
        .map(|at| at.saturating_duration_since(since))
    }
}

/// Starts the record of a fault; returns its index.
fn begin(phases: &mut Vec<PhaseRecord>, name: &str, bounded: bool) -> usize {
    println!("faults: {name}");
    phases.push(PhaseRecord {
        name: name.to_owned(),
        start: Instant::now(),
        started_at: chrono::Utc::now(),
        recovery: Vec::new(),
        bounded_recovery: bounded,
        note: String::new(),
        kills: Vec::new(),
    });
    phases.len() - 1
}

/// Polls `check` every 100 ms until it holds (returns when) or `limit` passed.
pub async fn wait_until<F, Fut>(limit: Duration, check: F) -> Option<Instant>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let since = Instant::now();
    loop {
        if check().await {
            return Some(Instant::now());
        }
        if since.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
