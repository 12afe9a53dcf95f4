//! Kafka client settings. Each role starts from safe settings (idempotent
//! `acks=all` producers, consumers that store offsets only by hand) and the
//! operator's `librdkafka` passthrough goes on top.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaSettings;

/// A producer whose acknowledged records are durable on every in-sync
/// replica, without duplicates from internal retries.
///
/// `delivery_timeout` bounds how long a record may wait for its
/// acknowledgement before the producer gives up on it.
pub fn producer_config(settings: &KafkaSettings, delivery_timeout: Duration) -> ClientConfig {
    let mut config = base_config(settings);
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.kbytes", "65536")
        .set(
            "message.timeout.ms",
            delivery_timeout.as_millis().to_string(),
        );
    apply_passthrough(&mut config, settings);
    config
}

/// A consumer in `group` that reads committed data only, and commits only
/// the offsets the service stored after its outputs were acknowledged.
pub fn consumer_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = base_config(settings);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", "20")
        .set("queued.max.messages.kbytes", "16384");
    if let Some(instance) = &settings.group_instance_id {
        config.set("group.instance.id", instance);
    }
    apply_passthrough(&mut config, settings);
    config
}

/// How long a transaction may stay open before the coordinator aborts it.
/// It bounds how long a crashed instance's open transaction holds back
/// `read_committed` readers when no successor fences it sooner.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer for a transactional stage: like [`consumer_config`], but its
/// offsets are committed only inside the stage's transactions.
pub fn transactional_consumer_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = consumer_config(settings, group);
    config.set("enable.auto.commit", "false");
    apply_passthrough(&mut config, settings);
    config
}

/// Turns a producer configuration into a transactional one with id
/// `transactional_id`. Records wait for acknowledgement no longer than the
/// transaction may stay open.
pub fn make_transactional(config: &mut ClientConfig, transactional_id: &str) {
    let timeout = TRANSACTION_TIMEOUT.as_millis();
    let message_timeout = config
        .get("message.timeout.ms")
        .and_then(|value| value.parse::<u128>().ok())
        .map_or(timeout, |value| value.min(timeout));
    config
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", timeout.to_string())
        .set("message.timeout.ms", message_timeout.to_string());
}

/// The transactional id of a stage instance: stable across restarts when
/// the instance has a static identity (so a restart fences its predecessor's
/// open transaction), otherwise unique per process. Zombies are fenced by the
/// consumer group generation either way (KIP-447).
pub fn transactional_id(settings: &KafkaSettings, group: &str) -> String {
    match &settings.group_instance_id {
        Some(instance) => format!("{group}.{instance}"),
        None => format!("{group}.{}", uuid::Uuid::new_v4().simple()),
    }
}

/// A consumer that assigns partitions itself (to read a table topic from its
/// start) and never commits.
pub fn table_reader_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = base_config(settings);
    config
        .set("group.id", "survey-alerts.table-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "20");
    apply_passthrough(&mut config, settings);
    config
}

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", "survey-alerts")
        // Loopback and cluster-internal names only; keeps the resolver quiet.
        .set("broker.address.family", "v4");
    config
}

fn apply_passthrough(config: &mut ClientConfig, settings: &KafkaSettings) {
    for (key, value) in &settings.librdkafka {
        config.set(key, value);
    }
}

/// The partitions of `topic` as the cluster's metadata lists them now:
/// empty for a topic that does not exist (yet).
pub fn topic_partitions<C: rdkafka::consumer::Consumer>(
    consumer: &C,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Whether a Kafka error can clear up on its own (broker down, queue full,
/// leader change) or needs a person (authorization, unknown topic, record too
/// large, fenced producer).
pub fn is_retriable(error: &KafkaError) -> bool {
    match error.rdkafka_error_code() {
        Some(code) => !matches!(
            code,
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::InvalidConfig
                | RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidRecord
        ),
        None => !matches!(
            error,
            KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_overrides_the_defaults() {
        let mut settings = KafkaSettings::default();
        settings
            .librdkafka
            .insert("linger.ms".to_owned(), "0".to_owned());
        let config = producer_config(&settings, Duration::from_secs(3));
        assert_eq!(config.get("linger.ms"), Some("0"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("message.timeout.ms"), Some("3000"));
    }

    #[test]
    fn transactional_stages_commit_offsets_only_in_transactions() {
        let mut settings = KafkaSettings {
            group_instance_id: Some("filter-0".to_owned()),
            ..KafkaSettings::default()
        };
        let consumer = transactional_consumer_config(&settings, "g");
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(consumer.get("group.instance.id"), Some("filter-0"));
        assert_eq!(transactional_id(&settings, "g"), "g.filter-0");
        let mut producer = producer_config(&settings, Duration::from_secs(120));
        make_transactional(&mut producer, "g.filter-0");
        assert_eq!(producer.get("transactional.id"), Some("g.filter-0"));
        assert_eq!(producer.get("message.timeout.ms"), Some("10000"));
        settings.group_instance_id = None;
        assert_ne!(
            transactional_id(&settings, "g"),
            transactional_id(&settings, "g")
        );
    }

    #[test]
    fn consumers_store_offsets_by_hand() {
        let config = consumer_config(&KafkaSettings::default(), "g");
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("isolation.level"), Some("read_committed"));
    }

    #[test]
    fn errors_are_sorted_into_retriable_and_fatal() {
        let full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        let transport = KafkaError::MessageProduction(RDKafkaErrorCode::BrokerTransportFailure);
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        let unknown = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(is_retriable(&full) && is_retriable(&transport));
        assert!(!is_retriable(&too_large) && !is_retriable(&unknown));
    }
}
