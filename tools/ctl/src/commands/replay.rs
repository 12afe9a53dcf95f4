//! `replay`: moves a stage's consumer group on its input topic back (or
//! forward) to the first records at or after a point in time, so the stage
//! reprocesses them when it starts again.
//!
//! Kafka accepts offsets committed from outside a group only while the group
//! has no members, so the stage must be stopped first: the command refuses
//! when the broker reports members, and explains the broker's refusal if one
//! joined in between. Reprocessed records yield the same ids downstream, so
//! the filter's dedup and the notifier's ledger keep alerts from repeating
//! within their windows.

use std::fmt;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::error::RDKafkaErrorCode;
use survey_runtime::KafkaSettings;

use crate::kafka::{self, GroupOffsets};
use crate::stage::Stage;
use crate::table::Table;

/// One partition's move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMove {
    /// Partition.
    pub partition: i32,
    /// The group's committed offset before; `None` if it had none.
    pub before: Option<i64>,
    /// The committed offset now (or, in a dry run, the one it would get).
    pub after: i64,
}

/// What `replay` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// The input topic.
    pub topic: String,
    /// The stage's consumer group.
    pub group: String,
    /// The point in time.
    pub from: DateTime<Utc>,
    /// Nothing was committed.
    pub dry_run: bool,
    /// Per partition.
    pub partitions: Vec<PartitionMove>,
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(["partition", "committed before", "committed now", "change"]);
        for moved in &self.partitions {
            let before = moved.before.map_or("-".to_owned(), |o| o.to_string());
            let change = moved.before.map_or(String::new(), |before| {
                format!("{:+}", moved.after - before)
            });
            table.row([
                moved.partition.to_string(),
                before,
                moved.after.to_string(),
                change,
            ]);
        }
        write!(f, "{table}")?;
        writeln!(
            f,
            "{} group {} on {} to {}",
            if self.dry_run {
                "dry run: would move"
            } else {
                "moved"
            },
            self.group,
            self.topic,
            self.from.to_rfc3339_opts(SecondsFormat::Millis, true)
        )
    }
}

/// Commits, for `stage`'s group on its input topic, the first offset of
/// each partition whose record is at or after `from` (the end where none
/// is). Refuses while the group has members.
pub fn replay(
    settings: &KafkaSettings,
    stage: Stage,
    from: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<ReplayReport> {
    let topology = settings.topology();
    let spec = stage.input();
    let topic = topology.topic(&spec);
    let group = topology
        .group(&spec)
        .with_context(|| format!("{topic} is read without a consumer group"))?;
    let offsets = GroupOffsets::new(settings, &group)?;
    let state = offsets.state()?;
    anyhow::ensure!(
        !state.is_active(),
        "consumer group {group} is {} with {} member(s): stop every {stage} instance and \
         wait until the group is Empty, then replay",
        state.state,
        state.members
    );
    let partitions = kafka::partitions(offsets.consumer(), &topic)?;
    let before = offsets.committed(&topic, &partitions)?;
    let targets = kafka::offsets_at(offsets.consumer(), &topic, &partitions, from)?;
    if !dry_run {
        offsets.commit(&topic, &targets).map_err(|error| {
            let refused_by_members = matches!(
                error.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::UnknownMemberId
                        | RDKafkaErrorCode::IllegalGeneration
                        | RDKafkaErrorCode::RebalanceInProgress
                        | RDKafkaErrorCode::FencedInstanceId
                )
            );
            if refused_by_members {
                anyhow::anyhow!(
                    "the broker refused the offsets ({error}): a {stage} instance joined group \
                     {group}; stop every instance, then replay"
                )
            } else {
                anyhow::Error::new(error).context(format!("committing offsets of group {group}"))
            }
        })?;
    }
    Ok(ReplayReport {
        partitions: targets
            .iter()
            .map(|(&partition, &after)| PartitionMove {
                partition,
                before: before.get(&partition).copied().flatten(),
                after,
            })
            .collect(),
        topic,
        group,
        from,
        dry_run,
    })
}
