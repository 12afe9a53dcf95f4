//! Open-model HTTP load: requests start at a constant rate whatever the
//! server does, and each latency is measured from the request's intended
//! start, so a slow server cannot hide behind a slow generator (no
//! coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// One signed webhook body.
#[derive(Debug, Clone)]
pub struct SignedBody {
    /// The JSON body.
    pub bytes: Bytes,
    /// Its `X-Signature-256` value.
    pub signature: String,
}

/// A small deterministic generator (xorshift64*), enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// Words of neutral comments: none is a critical keyword.
const WORDS: &str = "the agent answered quickly and explained my bill order was delayed but \
    refund arrived today thanks for help with account password reset took a while queue long \
    overall fine call";

/// A realistic `survey.response.created` body of about `target_len` bytes
/// (the comment is padded to reach it). `csat` 1 to 5.
pub fn webhook_body(id: &str, csat: u64, target_len: usize, rng: &mut Rng) -> Vec<u8> {
    let submitted_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let build = |comment: &str| {
        json!({
            "event": "survey.response.created",
            "data": {
                "id": id,
                "surveyId": "6f1c2a4e-8d3b-4f7a-9e21-5b0c7d9a3e11",
                "interactionId": format!("c-{id}"),
                "submittedAt": submitted_at,
                "answers": {
                    "q1_csat": csat,
                    "q2_comments": comment,
                    "q3_resolved": "yes",
                    "q4_nps": 7
                },
                "routingData": {
                    "queueId": "2b7e8f4c-1a9d-4c3e-8f6a-0d5b9c7e2a41",
                    "agentId": "9a4d6c2e-7f1b-4e8a-b3c5-1d0e9f8a7b62",
                    "agentName": "Jane Doe"
                }
            }
        })
        .to_string()
        .into_bytes()
    };
    let base = build("").len();
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut comment = String::new();
    while base + comment.len() < target_len {
        if !comment.is_empty() {
            comment.push(' ');
        }
        let word = words[usize::try_from(rng.next_u64() % words.len() as u64).unwrap_or(0)];
        comment.push_str(word);
    }
    build(&comment)
}

/// `count` signed bodies of 512 to 2048 bytes with distinct ids.
pub fn signed_bodies(secret: &str, count: usize, run: &str) -> Vec<SignedBody> {
    let mut rng = Rng::new(0x5eed);
    (0..count)
        .map(|i| {
            let len = usize::try_from(rng.between(512, 2048)).unwrap_or(1024);
            let csat = rng.between(1, 5);
            let bytes = webhook_body(&format!("{run}-{i}"), csat, len, &mut rng);
            let signature = survey_ingest::auth::sign(secret, &bytes);
            SignedBody {
                bytes: Bytes::from(bytes),
                signature,
            }
        })
        .collect()
}

/// How one load step is run.
#[derive(Debug, Clone, Copy)]
pub struct StepSettings {
    /// Requests per second, constant.
    pub rate: u64,
    /// How long requests are started.
    pub duration: Duration,
    /// At most this many requests on the wire at once (and so connections);
    /// a request waiting for a slot keeps its intended start time.
    pub max_in_flight: usize,
    /// A request not answered this long after its intended start counts as
    /// a timeout.
    pub timeout: Duration,
}

/// What one step measured.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The settings of the step.
    pub settings: StepSettings,
    /// Requests scheduled (rate x duration).
    pub sent: u64,
    /// 202 answers.
    pub accepted: u64,
    /// Other HTTP statuses.
    pub rejected: u64,
    /// Connection or protocol errors.
    pub transport_errors: u64,
    /// No answer within the timeout.
    pub timeouts: u64,
    /// From the first intended start to the last answer.
    pub elapsed: Duration,
    /// Latencies in microseconds from the intended start, of every request
    /// (a timeout counts as the timeout), sorted.
    pub latencies_us: Vec<u64>,
    /// The 1-minute load average when the step ended.
    pub load_1m: String,
    /// CPU used on the machine over the step.
    pub cpu: crate::cpu::CpuUse,
}

impl StepResult {
    /// Accepted requests per second over the step.
    pub fn throughput(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Failed requests (rejected, transport errors, timeouts) as a fraction.
    pub fn error_ratio(&self) -> f64 {
        (self.rejected + self.transport_errors + self.timeouts) as f64 / (self.sent.max(1)) as f64
    }

    /// The `q` quantile (0..=1) of the latency, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        percentile(&self.latencies_us, q) as f64 / 1000.0
    }
}

/// The `q` quantile of sorted values (nearest rank); 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    transport_errors: AtomicU64,
    timeouts: AtomicU64,
}

/// Posts `bodies` (cycled) to `url` at a constant rate for the step.
pub async fn run_step(
    client: &reqwest::Client,
    url: &str,
    bodies: &Arc<Vec<SignedBody>>,
    settings: StepSettings,
) -> StepResult {
    let bodies = Arc::clone(bodies);
    run_generated_step(client, url, settings, move |n| {
        bodies[usize::try_from(n).unwrap_or(0) % bodies.len()].clone()
    })
    .await
}

/// Posts `body_for(n)` as the `n`th request of the step, at a constant rate.
/// `body_for` runs when the request is due, so a body can carry its own
/// intended send time.
pub async fn run_generated_step(
    client: &reqwest::Client,
    url: &str,
    settings: StepSettings,
    mut body_for: impl FnMut(u64) -> SignedBody,
) -> StepResult {
    let total = (settings.rate as f64 * settings.duration.as_secs_f64()).round() as u64;
    let slots = Arc::new(Semaphore::new(settings.max_in_flight));
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(
        usize::try_from(total).unwrap_or(0),
    )));
    let url: Arc<str> = Arc::from(url);
    let cpu_before = crate::cpu::Snapshot::take();
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut next = 0u64;
    while next < total {
        let now = Instant::now();
        let due = if now < start {
            0
        } else {
            let elapsed = (now - start).as_secs_f64();
            ((elapsed * settings.rate as f64) as u64 + 1).min(total)
        };
        while next < due {
            let intended = start + Duration::from_secs_f64(next as f64 / settings.rate as f64);
            let body = body_for(next);
            let client = client.clone();
            let url = Arc::clone(&url);
            let slots = Arc::clone(&slots);
            let counters = Arc::clone(&counters);
            let latencies = Arc::clone(&latencies);
            tasks.push(tokio::spawn(async move {
                let request = async {
                    let _slot = slots.acquire_owned().await;
                    client
                        .post(&*url)
                        .header("content-type", "application/json")
                        .header(survey_ingest::auth::SIGNATURE_HEADER, body.signature)
                        .body(body.bytes)
                        .send()
                        .await
                };
                let outcome = tokio::time::timeout_at(intended + settings.timeout, request).await;
                let counter = match outcome {
                    Ok(Ok(response)) if response.status() == reqwest::StatusCode::ACCEPTED => {
                        &counters.accepted
                    }
                    Ok(Ok(_)) => &counters.rejected,
                    Ok(Err(_)) => &counters.transport_errors,
                    Err(_) => &counters.timeouts,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let latency = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Ok(mut all) = latencies.lock() {
                    all.push(latency);
                }
            }));
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed();
    let cpu = cpu_before.until(&crate::cpu::Snapshot::take());
    let mut latencies_us = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    latencies_us.sort_unstable();
    StepResult {
        settings,
        sent: total,
        accepted: counters.accepted.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        transport_errors: counters.transport_errors.load(Ordering::Relaxed),
        timeouts: counters.timeouts.load(Ordering::Relaxed),
        elapsed,
        latencies_us,
        load_1m: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default(),
        cpu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_and_sized() {
        let bodies = signed_bodies("s", 50, "t");
        for body in &bodies {
            assert!(
                (512..=2100).contains(&body.bytes.len()),
                "{}",
                body.bytes.len()
            );
            let value: serde_json::Value = serde_json::from_slice(&body.bytes).expect("valid JSON");
            let bounds = survey_ingest::webhook::TimeBounds {
                max_future_millis: 300_000,
                max_age_millis: 86_400_000,
            };
            survey_ingest::webhook::parse_survey(&value, survey_runtime::now_millis(), bounds)
                .expect("a valid survey");
        }
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&values, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
