//! The queue directory: the compacted directory topic held in memory as a
//! table (stream-table join), with the Genesys API as the fallback on a miss.

use std::sync::Arc;

use async_trait::async_trait;
use survey_contracts::{AvroCodec, Person, QueueDirectoryEntry};
use survey_genesys::{GenesysClient, GenesysError, Queue, User};
use survey_runtime::table::{KeyedTable, TableSink, decode_entry};

use crate::routing_file::QueueRoute;

/// Queue entries by queue id.
#[derive(Debug, Default)]
pub struct QueueDirectory {
    entries: KeyedTable<QueueDirectoryEntry>,
}

impl QueueDirectory {
    /// The entry of `queue_id`, if known.
    pub fn get(&self, queue_id: &str) -> Option<QueueDirectoryEntry> {
        self.entries.get(queue_id)
    }

    /// Adds or replaces an entry.
    pub fn insert(&self, entry: QueueDirectoryEntry) {
        self.entries
            .upsert(entry.queue_id.clone(), entry, |_, _| false);
    }

    /// Forgets a queue (a tombstone on the topic).
    pub fn remove(&self, queue_id: &str) {
        self.entries.remove(queue_id);
    }

    /// Number of known queues.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no queue is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Feeds the directory topic into a [`QueueDirectory`].
#[derive(Debug)]
pub struct DirectorySink {
    /// Decodes entries.
    pub codec: Arc<AvroCodec>,
    /// The table.
    pub directory: Arc<QueueDirectory>,
}

#[async_trait]
impl TableSink for DirectorySink {
    async fn apply(&mut self, key: &[u8], payload: Option<&[u8]>) {
        let Some(payload) = payload else {
            self.directory.remove(&String::from_utf8_lossy(key));
            return;
        };
        if let Some(entry) =
            decode_entry::<QueueDirectoryEntry>(&self.codec, payload, "queue directory").await
        {
            self.directory.insert(entry);
        }
    }
}

/// Builds a queue's entry from the API's queue and the routing file. Pure.
pub fn entry_from_sources(
    queue_id: &str,
    api_queue: Option<&Queue>,
    route: Option<&QueueRoute>,
    supervisors: Vec<Person>,
    now: i64,
) -> QueueDirectoryEntry {
    let source = match (api_queue.is_some(), route.is_some()) {
        (true, true) => "both",
        (true, false) => "genesys_api",
        _ => "routing_file",
    };
    QueueDirectoryEntry {
        queue_id: queue_id.to_owned(),
        name: route
            .and_then(|route| route.name.clone())
            .or_else(|| api_queue.map(|queue| queue.name.clone())),
        supervisors,
        targets: route
            .map(|route| route.destinations.targets())
            .unwrap_or_default(),
        coaching: route.is_some_and(|route| route.coaching),
        updated_at: now,
        source: source.to_owned(),
    }
}

/// A person from a directory user.
pub fn person(user: &User) -> Person {
    Person {
        user_id: Some(user.id.clone()),
        name: user.name.clone(),
        email: user.email.clone(),
    }
}

/// Looks up supervisors by user id; an id the API does not know stays an
/// id, never an error.
pub async fn resolve_people(
    genesys: &GenesysClient,
    user_ids: &[String],
) -> Result<Vec<Person>, GenesysError> {
    let mut people = Vec::with_capacity(user_ids.len());
    for user_id in user_ids {
        let person = match genesys.user(user_id).await? {
            Some(user) => person(&user),
            None => Person {
                user_id: Some(user_id.clone()),
                ..Person::default()
            },
        };
        people.push(person);
    }
    Ok(people)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing_file::Destinations;

    #[test]
    fn the_file_names_targets_and_the_api_names_the_queue() {
        let route = QueueRoute {
            name: None,
            supervisors: vec!["u".into()],
            destinations: Destinations {
                slack: Some("#billing".into()),
                ..Destinations::default()
            },
            coaching: true,
        };
        let entry = entry_from_sources("q", None, Some(&route), vec![Person::default()], 5);
        assert_eq!(
            (entry.source.as_str(), entry.coaching, entry.targets.len()),
            ("routing_file", true, 1)
        );
        assert_eq!(entry.name, None);

        let directory = QueueDirectory::default();
        directory.insert(entry);
        assert!(directory.get("q").is_some());
        directory.remove("q");
        assert!(directory.is_empty());
    }
}
