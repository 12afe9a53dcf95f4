//! The delivery ledger (which revision of which alert each target already
//! has) and the delivery intents (which deliveries were begun), each read
//! back from its compacted topic at start and kept current.

use std::sync::Arc;

use async_trait::async_trait;
use survey_contracts::{AvroCodec, DeliveryIntent, DeliveryRecord, NotificationTarget};
use survey_runtime::table::{KeyedTable, TableSink, decode_entry};

/// Ledger entries by `alert id|channel:address`.
#[derive(Debug, Default)]
pub struct DeliveryLedger {
    entries: KeyedTable<DeliveryRecord>,
}

impl DeliveryLedger {
    /// The newest delivery of `alert_id` to `target`, if any.
    pub fn get(&self, alert_id: &str, target: &NotificationTarget) -> Option<DeliveryRecord> {
        self.entries.get(&DeliveryRecord::key_for(alert_id, target))
    }

    /// Records a delivery; an older revision never replaces a newer one.
    pub fn record(&self, delivery: DeliveryRecord) {
        let key = DeliveryRecord::key_for(&delivery.alert_id, &delivery.target);
        self.entries.upsert(key, delivery, |existing, new| {
            existing.revision >= new.revision
        });
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Feeds the ledger topic into a [`DeliveryLedger`].
#[derive(Debug)]
pub struct LedgerSink {
    /// Decodes records.
    pub codec: Arc<AvroCodec>,
    /// The table.
    pub ledger: Arc<DeliveryLedger>,
}

#[async_trait]
impl TableSink for LedgerSink {
    async fn apply(&mut self, _key: &[u8], payload: Option<&[u8]>) {
        let Some(payload) = payload else { return };
        if let Some(record) =
            decode_entry::<DeliveryRecord>(&self.codec, payload, "delivery ledger").await
        {
            self.ledger.record(record);
        }
    }
}

/// Begun deliveries by `alert id|channel:address`: the newest revision
/// begun for each target, until the ledger has it.
#[derive(Debug, Default)]
pub struct DeliveryIntents {
    entries: KeyedTable<DeliveryIntent>,
}

impl DeliveryIntents {
    /// The delivery begun for `alert_id` and `target`, if any.
    pub fn get(&self, alert_id: &str, target: &NotificationTarget) -> Option<DeliveryIntent> {
        self.entries.get(&DeliveryRecord::key_for(alert_id, target))
    }

    /// Records a begun delivery; an older revision never replaces a newer one.
    pub fn record(&self, intent: DeliveryIntent) {
        let key = DeliveryRecord::key_for(&intent.alert_id, &intent.target);
        self.entries.upsert(key, intent, |existing, new| {
            existing.revision > new.revision
        });
    }

    /// Forgets the delivery begun under `key`.
    pub fn remove(&self, key: &str) {
        self.entries.remove(key);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Feeds the intents topic into [`DeliveryIntents`].
#[derive(Debug)]
pub struct IntentSink {
    /// Decodes records.
    pub codec: Arc<AvroCodec>,
    /// The table.
    pub intents: Arc<DeliveryIntents>,
}

#[async_trait]
impl TableSink for IntentSink {
    async fn apply(&mut self, key: &[u8], payload: Option<&[u8]>) {
        let Some(payload) = payload else {
            self.intents.remove(&String::from_utf8_lossy(key));
            return;
        };
        if let Some(intent) =
            decode_entry::<DeliveryIntent>(&self.codec, payload, "delivery intents").await
        {
            self.intents.record(intent);
        }
    }
}
