//! The load client: sends the planned surveys to ingest at a steady (adjustable) rate,
//! each as many times as planned (webhook retries), and retries every post that is not
//! answered 2xx (503 while Kafka is down, refused connections while ingest restarts) until
//! it is, as Genesys would.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::task::JoinSet;

use crate::plan::{Survey, survey};

/// How long one post is retried before the load gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(240);
/// Longest wait between two tries of one post.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// What happened to one survey's posts.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The survey.
    pub survey: Survey,
    /// When its first post went out.
    pub first_sent: Instant,
    /// Posts answered 2xx.
    pub accepted_posts: usize,
    /// Posts given up on, and why.
    pub failed_posts: Vec<String>,
}

/// Counters shared by the load's tasks.
#[derive(Debug, Default)]
pub struct LoadStats {
    sent: Mutex<Vec<Sent>>,
    accepts: Mutex<Vec<Instant>>,
    /// Answers 503 (Kafka down or slow).
    pub unavailable: AtomicU64,
    /// Connections refused or timed out (ingest down).
    pub connect_errors: AtomicU64,
}

impl LoadStats {
    /// Every survey sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many surveys were sent so far.
    pub fn surveys(&self) -> usize {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The first 2xx answer after `t`.
    pub fn first_accept_after(&self, t: Instant) -> Option<Instant> {
        self.accepts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .filter(|&a| a >= t)
            .min()
    }
}

/// A running load.
#[derive(Debug)]
pub struct Load {
    /// Its counters.
    pub stats: Arc<LoadStats>,
    /// Surveys per second, times 1000.
    rate_milli: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    /// Starts sending surveys of run `run` to `webhook_url`, signed with `secret`, at
    /// `rate` surveys per second. A survey's conversation is seeded into the sandbox
    /// (`seed_url`) just before its first post.
    pub fn start(
        webhook_url: String,
        seed_url: String,
        secret: String,
        run: String,
        rate: f64,
    ) -> Self {
        let stats = Arc::new(LoadStats::default());
        let rate_milli = Arc::new(AtomicU64::new(to_milli(rate)));
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let task = {
            let (stats, rate_milli, stop) = (stats.clone(), rate_milli.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tasks = JoinSet::new();
                let mut next = tokio::time::Instant::now();
                let mut index = 0;
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep_until(next).await;
                    let rate = rate_milli.load(Ordering::SeqCst).max(1) as f64 / 1000.0;
                    next += Duration::from_secs_f64(1.0 / rate);
                    let poster = Poster {
                        http: http.clone(),
                        url: webhook_url.clone(),
                        seed_url: seed_url.clone(),
                        secret: secret.clone(),
                        stats: stats.clone(),
                    };
                    tasks.spawn(poster.send(survey(&run, index)));
                    index += 1;
                }
                while tasks.join_next().await.is_some() {}
            })
        };
        Self {
            stats,
            rate_milli,
            stop,
            task,
        }
    }

    /// Changes the rate.
    pub fn set_rate(&self, rate: f64) {
        self.rate_milli.store(to_milli(rate), Ordering::SeqCst);
    }

    /// Stops sending new surveys and waits until every post was answered 2xx or given up.
    pub async fn finish(self) -> Arc<LoadStats> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        self.stats
    }
}

fn to_milli(rate: f64) -> u64 {
    // A rate is a few surveys per second: far inside u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let milli = (rate * 1000.0).round().max(1.0) as u64;
    milli
}

struct Poster {
    http: reqwest::Client,
    url: String,
    seed_url: String,
    secret: String,
    stats: Arc<LoadStats>,
}

impl Poster {
    async fn send(self, survey: Survey) {
        if let Some(seed) = survey.conversation_seed() {
            for _ in 0..5 {
                let seeded = self.http.post(&self.seed_url).json(&seed).send().await;
                if seeded.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let first_sent = Instant::now();
        let submitted_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = serde_json::to_vec(&survey.webhook(&submitted_at)).unwrap_or_default();
        let slot = {
            let mut sent = self
                .stats
                .sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            sent.push(Sent {
                survey: survey.clone(),
                first_sent,
                accepted_posts: 0,
                failed_posts: Vec::new(),
            });
            sent.len() - 1
        };
        for attempt in 0..survey.sends {
            if attempt > 0 {
                // A retry of the same webhook, a little later.
                tokio::time::sleep(Duration::from_millis(700 * u64::from(attempt))).await;
            }
            let result = self.post_until_accepted(&body).await;
            let mut sent = self
                .stats
                .sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(()) => sent[slot].accepted_posts += 1,
                Err(reason) => sent[slot].failed_posts.push(reason),
            }
        }
    }

    async fn post_until_accepted(&self, body: &[u8]) -> Result<(), String> {
        let since = Instant::now();
        loop {
            let response = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-signature-256", sign(&self.secret, body))
                .body(body.to_vec())
                .send()
                .await;
            let wait = match response {
                Ok(r) if r.status().is_success() => {
                    self.stats
                        .accepts
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Instant::now());
                    return Ok(());
                }
                Ok(r) if r.status().as_u16() == 503 || r.status().is_server_error() => {
                    self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map_or(MAX_RETRY_WAIT, Duration::from_secs);
                    retry_after.min(MAX_RETRY_WAIT)
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    return Err(format!(
                        "{status}: {}",
                        text.chars().take(200).collect::<String>()
                    ));
                }
                Err(_) => {
                    self.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                    Duration::from_millis(300)
                }
            };
            if since.elapsed() > GIVE_UP_AFTER {
                return Err(format!("not accepted within {GIVE_UP_AFTER:?}"));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of the body>`, ingest's `X-Signature-256`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_rfc_4231_style_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
