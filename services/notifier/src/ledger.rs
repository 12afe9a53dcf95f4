//! The delivery ledger: which revision of which alert each target already
//! has, read back from its compacted topic at start and kept current.

use std::sync::Arc;

use async_trait::async_trait;
use survey_contracts::{AvroCodec, DeliveryRecord, NotificationTarget};
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
