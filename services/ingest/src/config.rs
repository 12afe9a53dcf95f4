//! The ingest service's configuration. See the README's configuration
//! reference.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;
use survey_runtime::KafkaSettings;

/// Everything ingest can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Brokers, registry and topic prefix.
    pub kafka: KafkaSettings,
    /// Address to listen on (`LISTEN_ADDR`); port 0 picks a free port.
    pub listen_addr: SocketAddr,
    /// Who may post.
    pub auth: AuthSettings,
    /// Largest accepted body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Limits on request headers and on each source's request rate.
    pub limits: LimitSettings,
    /// How long a request waits for Kafka's acknowledgement before it gets
    /// 503 with `Retry-After` (the record may still land; the sender's retry
    /// is then deduplicated by the filter).
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// Seconds sent in `Retry-After` with a 503.
    pub retry_after_secs: u32,
    /// How far in the future `submittedAt` may lie (clock skew).
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
    /// How old `submittedAt` may be.
    #[serde(with = "humantime_serde")]
    pub max_survey_age: Duration,
    /// Address of the ops endpoint (`OPS_ADDR`): `/healthz`, `/readyz` and
    /// `/metrics`, as on every service. The webhook port serves them too.
    pub ops_addr: SocketAddr,
    /// How long ingest may take to finish in-flight requests and flush after
    /// SIGTERM (`SHUTDOWN_TIMEOUT`) before it exits non-zero.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

/// Credentials and network limits for webhook senders. See
/// docs/security.md for the schemes and the rotation procedure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HMAC-SHA256 key for `X-Signature-256` (`WEBHOOK_SECRET`).
    pub webhook_secret: Option<SecretString>,
    /// The previous HMAC key, still accepted while senders move to the new
    /// one (`WEBHOOK_SECRET_PREVIOUS`); unset it once they all have.
    pub webhook_secret_previous: Option<SecretString>,
    /// Static bearer token for senders that cannot sign (`WEBHOOK_TOKEN`).
    pub webhook_token: Option<SecretString>,
    /// The previous bearer token, still accepted during a rotation
    /// (`WEBHOOK_TOKEN_PREVIOUS`).
    pub webhook_token_previous: Option<SecretString>,
    /// Refuse signatures without a signed `X-Signature-Timestamp`
    /// (`WEBHOOK_REQUIRE_TIMESTAMP`, default false). Senders then sign
    /// `"{timestamp}.{body}"`. Bearer tokens sign nothing and are not
    /// affected. A timestamp that is sent is checked either way.
    pub require_timestamp: bool,
    /// How far a signed timestamp may lie from ingest's clock, either way,
    /// before the request is refused as a replay (default 5 min).
    #[serde(with = "humantime_serde")]
    pub timestamp_tolerance: Duration,
    /// Networks allowed to post; empty allows any (`WEBHOOK_ALLOWED_CIDRS`,
    /// comma-separated).
    pub allowed_cidrs: Vec<IpNet>,
    /// Accept unauthenticated webhooks when no secret or token is set. For
    /// local development only (`INGEST_INSECURE_DEV=true`).
    pub insecure_dev: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            webhook_secret_previous: None,
            webhook_token: None,
            webhook_token_previous: None,
            require_timestamp: false,
            timestamp_tolerance: Duration::from_secs(300),
            allowed_cidrs: Vec::new(),
            insecure_dev: false,
        }
    }
}

/// Limits applied to every webhook request before its credentials are
/// checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest total of header name and value bytes; more gets 431 (default
    /// 96 KiB, so one 64 KiB header still passes). Independently, the HTTP
    /// server refuses heads over about 400 KiB with a bare 431.
    pub max_header_bytes: usize,
    /// Most header lines, repeated names counted per line; more gets 431
    /// (default 64). Independently, the HTTP server refuses more than 100
    /// with a bare 431.
    pub max_header_count: usize,
    /// Webhook requests per second allowed from one source IP address
    /// (an IPv6 source is its /64); more get 429 with `Retry-After`. 0, the
    /// default, is no limit: behind a load balancer every request has the
    /// balancer's address, and the benchmark sends ~10k/s from 127.0.0.1.
    pub rate_per_source: u32,
    /// How many requests one source may send at once before the rate
    /// applies; 0, the default, is one second's worth.
    pub burst_per_source: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_header_bytes: 96 * 1024,
            max_header_count: 64,
            rate_per_source: 0,
            burst_per_source: 0,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            auth: AuthSettings::default(),
            max_body_bytes: 64 * 1024,
            limits: LimitSettings::default(),
            publish_timeout: Duration::from_secs(5),
            retry_after_secs: 5,
            max_clock_skew: Duration::from_secs(300),
            max_survey_age: Duration::from_secs(7 * 24 * 3600),
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Plain environment variables ingest honours.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("LISTEN_ADDR", "listen_addr"),
    ("WEBHOOK_SECRET", "auth.webhook_secret"),
    ("WEBHOOK_SECRET_PREVIOUS", "auth.webhook_secret_previous"),
    ("WEBHOOK_TOKEN", "auth.webhook_token"),
    ("WEBHOOK_TOKEN_PREVIOUS", "auth.webhook_token_previous"),
    ("WEBHOOK_REQUIRE_TIMESTAMP", "auth.require_timestamp"),
    ("INGEST_INSECURE_DEV", "auth.insecure_dev"),
];

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use rdkafka::producer::FutureProducer;
    use survey_runtime::kafka::producer_config;

    use super::*;

    /// Set in the child process of the environment tests.
    const PROBE: &str = "SURVEY_INGEST_CONFIG_PROBE";

    /// Runs only as the child of the tests below: loads the configuration
    /// from the environment it was given and prints the librdkafka map.
    #[test]
    fn probe_load_config_from_the_environment() {
        if std::env::var_os(PROBE).is_none() {
            return;
        }
        // The harness has written the test's name on the current line.
        println!();
        match survey_runtime::load_config::<IngestConfig>(ENV_ALIASES) {
            Ok(config) => {
                for (key, value) in &config.kafka.librdkafka {
                    println!("librdkafka: {key}={value}");
                }
                println!("require_timestamp: {}", config.auth.require_timestamp);
                println!("rate_per_source: {}", config.limits.rate_per_source);
            }
            Err(error) => println!("error: {error:#}"),
        }
    }

    /// The probe's output lines, run with `vars` as its environment.
    fn probe(vars: &[(&str, &str)]) -> Vec<String> {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let output = Command::new(exe)
            .args([
                "--exact",
                "config::tests::probe_load_config_from_the_environment",
                "--nocapture",
                "--test-threads=1",
            ])
            .env_clear()
            .env(PROBE, "1")
            .envs(vars.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("running the probe: {e}"));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| {
                [
                    "librdkafka: ",
                    "error: ",
                    "require_timestamp: ",
                    "rate_per_source: ",
                ]
                .iter()
                .any(|prefix| line.starts_with(prefix))
            })
            .map(str::to_owned)
            .collect()
    }

    fn sasl_ssl_settings() -> KafkaSettings {
        let mut settings = KafkaSettings::default();
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "survey-alerts"),
            ("sasl.password", "not-a-real-password"),
        ] {
            settings.librdkafka.insert(key.to_owned(), value.to_owned());
        }
        settings
    }

    #[test]
    fn kafka_security_settings_from_a_config_file_reach_librdkafka() {
        let path =
            std::env::temp_dir().join(format!("survey-ingest-kafka-{}.toml", std::process::id()));
        let file = "[kafka.librdkafka]\n\
                    \"security.protocol\" = \"SASL_SSL\"\n\
                    \"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\
                    \"sasl.username\" = \"survey-alerts\"\n\
                    \"ssl.ca.location\" = \"/etc/kafka/ca.crt\"\n";
        std::fs::write(&path, file).unwrap_or_else(|e| panic!("{e}"));
        let lines = probe(&[
            ("SURVEY_ALERTS_CONFIG", path.to_str().unwrap_or_default()),
            ("WEBHOOK_REQUIRE_TIMESTAMP", "true"),
            ("SURVEY_ALERTS__LIMITS__RATE_PER_SOURCE", "50"),
        ]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            lines,
            [
                "librdkafka: sasl.mechanisms=SCRAM-SHA-512",
                "librdkafka: sasl.username=survey-alerts",
                "librdkafka: security.protocol=SASL_SSL",
                "librdkafka: ssl.ca.location=/etc/kafka/ca.crt",
                "require_timestamp: true",
                "rate_per_source: 50",
            ]
        );
    }

    #[test]
    fn kafka_security_settings_pass_through_to_the_producer() {
        let config = producer_config(&sasl_ssl_settings(), Duration::from_secs(5));
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("survey-alerts"));
        assert_eq!(config.get("acks"), Some("all"));
    }

    /// librdkafka refuses `security.protocol=ssl` at creation when it was
    /// built without OpenSSL; creating the client opens no connection.
    #[test]
    fn librdkafka_is_built_with_tls_and_sasl() {
        let mut tls = KafkaSettings::default();
        tls.librdkafka
            .insert("security.protocol".to_owned(), "ssl".to_owned());
        for (name, settings) in [("ssl", tls), ("sasl_ssl scram", sasl_ssl_settings())] {
            let created =
                producer_config(&settings, Duration::from_secs(5)).create::<FutureProducer>();
            assert!(created.is_ok(), "{name}: {:?}", created.err());
        }
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER"] {
            let mut settings = sasl_ssl_settings();
            settings
                .librdkafka
                .insert("sasl.mechanisms".to_owned(), mechanism.to_owned());
            if mechanism == "OAUTHBEARER" {
                settings.librdkafka.remove("sasl.username");
                settings.librdkafka.remove("sasl.password");
            }
            let created =
                producer_config(&settings, Duration::from_secs(5)).create::<FutureProducer>();
            assert!(created.is_ok(), "{mechanism}: {:?}", created.err());
        }
        // Kerberos needs libsasl2, which this build does not link.
        let mut gssapi = sasl_ssl_settings();
        gssapi
            .librdkafka
            .insert("sasl.mechanisms".to_owned(), "GSSAPI".to_owned());
        let created = producer_config(&gssapi, Duration::from_secs(5)).create::<FutureProducer>();
        assert!(created.is_err(), "GSSAPI unexpectedly available");
    }
}
