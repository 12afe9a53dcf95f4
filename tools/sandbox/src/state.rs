//! The sandbox's memory: the seeded organisation, the faults, and every
//! delivery and call it received. [`SandboxState`] is a cheap `Clone`
//! handle; tests seed and read through it without HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::faults::{Fault, FaultBook, Route, Service, Verdict};
use crate::seed::{ConversationSeed, HandledBy, QueueSeed, SUPERVISOR_ROLE, UserSeed};

/// Which Slack method was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackMethod {
    /// `chat.postMessage`.
    PostMessage,
    /// `chat.update`.
    Update,
}

impl SlackMethod {
    /// The Web API method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PostMessage => "chat.postMessage",
            Self::Update => "chat.update",
        }
    }
}

/// One accepted Slack call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    /// `chat.postMessage` or `chat.update`.
    pub method: SlackMethod,
    /// The channel as the caller named it (`#alerts` or `C…`).
    pub channel: String,
    /// The channel id the answer carried.
    pub channel_id: String,
    /// The message timestamp (new for a post, the updated one for an update).
    pub ts: String,
    /// `text`, if sent.
    pub text: Option<String>,
    /// `blocks`, if sent.
    pub blocks: Option<Value>,
    /// `thread_ts`, if sent.
    pub thread_ts: Option<String>,
    /// `metadata` (`event_type` and `event_payload`), if sent.
    pub metadata: Option<Value>,
    /// The whole request body.
    pub body: Value,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// One accepted Teams webhook post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamsCard {
    /// The path after `/teams/`.
    pub webhook_id: String,
    /// The team the webhook posts to, as Graph names it (`team-{webhook_id}`).
    pub team_id: String,
    /// The channel the webhook posts to (`19:{webhook_id}@thread.tacv2`).
    pub channel_id: String,
    /// The Graph message id: epoch milliseconds, unique and increasing.
    pub message_id: String,
    /// The Adaptive Card (`attachments[0].content`).
    pub card: Value,
    /// The whole request body.
    pub payload: Value,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// One message accepted by the SMTP server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Email {
    /// `From` header, or the envelope sender when the header is missing.
    pub from: String,
    /// Envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// Envelope sender (`MAIL FROM`).
    pub envelope_from: String,
    /// `To` header as written.
    pub header_to: Option<String>,
    /// `Subject`, RFC 2047 encoded words decoded.
    pub subject: Option<String>,
    /// `Message-ID`.
    pub message_id: Option<String>,
    /// `In-Reply-To`.
    pub in_reply_to: Option<String>,
    /// `References`.
    pub references: Option<String>,
    /// The first `text/plain` part, transfer encoding undone.
    pub text: Option<String>,
    /// The first `text/html` part, transfer encoding undone.
    pub html: Option<String>,
    /// All top-level headers, unfolded, in order.
    pub headers: Vec<(String, String)>,
    /// The message as received after `DATA` (dot-unstuffed).
    pub raw: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// One coaching appointment created through the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoachingAppointment {
    /// The id the sandbox gave it.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `dateStart` as sent.
    pub date_start: String,
    /// `lengthInMinutes`.
    pub length_in_minutes: i64,
    /// `attendeeIds`.
    pub attendee_ids: Vec<String>,
    /// `facilitatorId`.
    pub facilitator_id: Option<String>,
    /// `conversationIds`.
    pub conversation_ids: Vec<String>,
    /// The whole request body.
    pub request: Value,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// Everything delivered so far, as `GET /sandbox/deliveries` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deliveries {
    /// Slack calls.
    pub slack: Vec<SlackMessage>,
    /// Teams posts.
    pub teams: Vec<TeamsCard>,
    /// Emails.
    pub emails: Vec<Email>,
    /// Emails the SMTP server accepted but the mailbox store discarded as
    /// copies of one already delivered (same Message-ID and Date).
    pub emails_discarded: Vec<Email>,
    /// Coaching appointments.
    pub coaching: Vec<CoachingAppointment>,
}

/// How many deliveries each fake accepted, and how many injected faults are still to come,
/// as `GET /sandbox/counts` shows it: cheap enough to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    /// Slack calls (posts and updates).
    pub slack: usize,
    /// Teams posts.
    pub teams: usize,
    /// Emails.
    pub emails: usize,
    /// Coaching appointments.
    pub coaching: usize,
    /// Faulted requests still queued (outages not included).
    pub pending_faults: u32,
}

/// One HTTP request (or SMTP transaction) to a fake, faulted ones included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// Which fake.
    pub service: Service,
    /// HTTP method (`SMTP` for mail).
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// The route template, e.g. `/api/v2/conversations/{conversationId}`.
    pub route: Option<String>,
    /// The status answered (SMTP reply code for mail).
    pub status: u16,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

/// Ids generated once per conversation so every endpoint agrees on them.
#[derive(Debug, Clone)]
pub(crate) struct ConversationIds {
    pub customer: String,
    pub customer_session: String,
    pub flow: String,
    pub flow_session: String,
    pub acd: String,
    pub acd_session: String,
    pub agent: String,
    pub agent_session: String,
    pub recording: String,
    pub summary: String,
}

impl ConversationIds {
    fn generate() -> Self {
        let id = || Uuid::new_v4().to_string();
        Self {
            customer: id(),
            customer_session: id(),
            flow: id(),
            flow_session: id(),
            acd: id(),
            acd_session: id(),
            agent: id(),
            agent_session: id(),
            recording: id(),
            summary: id(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConversationEntry {
    pub seed: ConversationSeed,
    pub ids: ConversationIds,
    pub polls: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredQueue {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// (user id, joined)
    pub members: Vec<(String, bool)>,
    pub created: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct RateWindow {
    pub started: Instant,
    pub count: u32,
}

/// How a Slack channel reference resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChannelLookup {
    Found(String),
    NotFound,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub quiet: bool,
    pub base_url: String,
    // Genesys
    pub client_credentials: Option<(String, String)>,
    pub token_ttl: Duration,
    pub tokens: HashMap<String, Instant>,
    pub rate_limit_per_minute: Option<u32>,
    pub rate_windows: HashMap<String, RateWindow>,
    pub conversations: BTreeMap<String, ConversationEntry>,
    pub queues: BTreeMap<String, StoredQueue>,
    pub users: BTreeMap<String, UserSeed>,
    pub role_ids: BTreeMap<String, String>,
    pub coaching: Vec<CoachingAppointment>,
    // Slack
    pub missing_channels: BTreeSet<String>,
    pub slack_messages: Vec<SlackMessage>,
    pub slack_live: BTreeSet<(String, String)>,
    pub slack_seq: u64,
    /// Channels posted to by name, name (without `#`) to id.
    pub slack_channel_names: BTreeMap<String, String>,
    // Teams and mail
    pub teams_cards: Vec<TeamsCard>,
    /// Microsoft Graph tokens and their expiry.
    pub teams_tokens: HashMap<String, Instant>,
    pub emails: Vec<Email>,
    pub emails_discarded: Vec<Email>,
    // Faults and the call log
    pub faults: FaultBook,
    pub requests: Vec<RecordedRequest>,
}

impl Inner {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            base_url: String::new(),
            client_credentials: None,
            token_ttl: Duration::from_secs(86_400),
            tokens: HashMap::new(),
            rate_limit_per_minute: None,
            rate_windows: HashMap::new(),
            conversations: BTreeMap::new(),
            queues: BTreeMap::new(),
            users: BTreeMap::new(),
            role_ids: BTreeMap::new(),
            coaching: Vec::new(),
            missing_channels: BTreeSet::new(),
            slack_messages: Vec::new(),
            slack_live: BTreeSet::new(),
            slack_seq: 0,
            slack_channel_names: BTreeMap::new(),
            teams_cards: Vec::new(),
            teams_tokens: HashMap::new(),
            emails: Vec::new(),
            emails_discarded: Vec::new(),
            faults: FaultBook::default(),
            requests: Vec::new(),
        }
    }

    /// Gives a role an id on first sight.
    fn role_id(&mut self, name: &str) {
        self.role_ids
            .entry(name.to_owned())
            .or_insert_with(|| Uuid::new_v4().to_string());
    }

    fn upsert_user(&mut self, user: UserSeed) {
        for role in &user.roles {
            self.role_id(role);
        }
        match self.users.get_mut(&user.id) {
            Some(existing) => {
                let mut roles = existing.roles.clone();
                for role in user.roles {
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
                let superiors = if user.superiors.is_empty() {
                    existing.superiors.clone()
                } else {
                    user.superiors
                };
                *existing = UserSeed {
                    roles,
                    superiors,
                    email: user.email.or(existing.email.take()),
                    title: user.title.or(existing.title.take()),
                    department: user.department.or(existing.department.take()),
                    ..user
                };
            }
            None => {
                self.users.insert(user.id.clone(), user);
            }
        }
    }

    /// Resolves a Slack channel name or id.
    pub fn slack_channel(&self, channel: &str) -> ChannelLookup {
        let name = channel.trim_start_matches('#');
        if name.is_empty() || name.starts_with("missing") || self.missing_channels.contains(name) {
            return ChannelLookup::NotFound;
        }
        if is_channel_id(name) {
            return ChannelLookup::Found(name.to_owned());
        }
        ChannelLookup::Found(channel_id_for(name))
    }

    /// A fresh, unique, increasing Slack message timestamp.
    pub fn next_slack_ts(&mut self) -> String {
        self.slack_seq += 1;
        format!(
            "{}.{:06}",
            Utc::now().timestamp(),
            (self.slack_seq * 100) % 1_000_000
        )
    }

    /// Prints one delivery line unless quiet.
    pub fn announce(&self, line: &str) {
        if !self.quiet {
            println!("[sandbox] {line}");
        }
    }
}

/// Whether a channel reference is an id rather than a name.
pub(crate) fn is_channel_id(name: &str) -> bool {
    name.len() >= 9
        && name.starts_with(['C', 'G', 'D'])
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// A stable channel id for a channel name.
fn channel_id_for(name: &str) -> String {
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    let hex = format!("{:016X}", hasher.finish());
    format!("C{}", &hex[..10])
}

/// Shortens text to one readable line.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// A shared handle on the sandbox's memory.
#[derive(Debug, Clone)]
pub struct SandboxState {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
}

impl SandboxState {
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::new(quiet))),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the state locked. Never hold it across an `.await`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.lock())
    }

    /// Runs `f` with the state locked and wakes [`SandboxState::wait_for`] callers.
    pub(crate) fn deliver<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let result = self.with(f);
        self.notify.notify_waiters();
        result
    }

    pub(crate) fn set_base_url(&self, base_url: String) {
        self.with(|s| s.base_url = base_url);
    }

    // ----- seeding -------------------------------------------------------

    /// Adds (or replaces) a conversation. An agent it names is added to the
    /// users directory if missing, so `GET /api/v2/users/{id}` finds it.
    pub fn add_conversation(&self, seed: ConversationSeed) {
        self.with(|s| {
            if let HandledBy::Agent { user_id, name } = &seed.handled_by
                && !s.users.contains_key(user_id)
            {
                s.users.insert(
                    user_id.clone(),
                    UserSeed {
                        id: user_id.clone(),
                        name: name.clone(),
                        email: None,
                        title: None,
                        department: None,
                        roles: Vec::new(),
                        superiors: Vec::new(),
                    },
                );
            }
            let entry = ConversationEntry {
                ids: ConversationIds::generate(),
                polls: 0,
                seed,
            };
            s.conversations.insert(entry.seed.id.clone(), entry);
        });
    }

    /// Adds (or replaces) a queue; its members are added to (or merged into)
    /// the users directory, supervisors with the [`SUPERVISOR_ROLE`] role.
    pub fn add_queue(&self, queue: QueueSeed) {
        self.with(|s| {
            let mut members = Vec::new();
            for member in queue.members {
                let mut user = member.user;
                if member.supervisor && !user.roles.iter().any(|r| r == SUPERVISOR_ROLE) {
                    user.roles.push(SUPERVISOR_ROLE.to_owned());
                }
                members.push((user.id.clone(), member.joined));
                s.upsert_user(user);
            }
            s.queues.insert(
                queue.id.clone(),
                StoredQueue {
                    id: queue.id,
                    name: queue.name,
                    description: queue.description,
                    members,
                    created: Utc::now(),
                },
            );
        });
    }

    /// Adds a user, or merges into the one with the same id.
    pub fn add_user(&self, user: UserSeed) {
        self.with(|s| s.upsert_user(user));
    }

    /// Makes Slack answer `channel_not_found` for this channel (with or
    /// without `#`). Names starting with `missing` always do.
    pub fn add_missing_channel(&self, channel: impl Into<String>) {
        let channel = channel.into();
        self.with(|s| {
            s.missing_channels
                .insert(channel.trim_start_matches('#').to_owned())
        });
    }

    /// Accepts only these client credentials at `/oauth/token` (by default
    /// any non-empty pair is accepted, except client ids starting with `invalid`).
    pub fn set_client_credentials(&self, client_id: impl Into<String>, secret: impl Into<String>) {
        let pair = (client_id.into(), secret.into());
        self.with(|s| s.client_credentials = Some(pair));
    }

    /// Lifetime of tokens issued from now on (default 24 h, as Genesys).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.with(|s| s.token_ttl = ttl);
    }

    /// Forgets every issued token: the next API call gets 401.
    pub fn revoke_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// Forgets every issued Microsoft Graph token: the next Graph call gets 401.
    pub fn revoke_teams_tokens(&self) {
        self.with(|s| s.teams_tokens.clear());
    }

    /// Enforces a per-token request budget per minute on `/api/v2` (Genesys
    /// defaults to 300), answering 429 with `Retry-After` beyond it. Off by default.
    pub fn set_genesys_rate_limit(&self, per_minute: Option<u32>) {
        self.with(|s| {
            s.rate_limit_per_minute = per_minute;
            s.rate_windows.clear();
        });
    }

    // ----- faults --------------------------------------------------------

    /// Queues a fault for the next matching requests.
    pub fn fail_next(&self, route: Route, fault: Fault) {
        self.with(|s| s.faults.push(route, fault));
    }

    /// Takes a fake down (every request answers 503, SMTP 421) or back up.
    pub fn set_down(&self, route: Route, down: bool) {
        self.with(|s| s.faults.set_down(route, down));
    }

    /// Takes a fake down for a while.
    pub fn outage(&self, route: Route, duration: Duration) {
        let until = Instant::now() + duration;
        self.with(|s| s.faults.outage(route, until));
    }

    /// Forgets every pending fault and outage.
    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    pub(crate) fn is_down(&self, service: Service, path: &str) -> bool {
        self.with(|s| s.faults.is_down(service, path, Instant::now()))
    }

    pub(crate) fn verdict(&self, service: Service, path: &str) -> Verdict {
        self.with(|s| s.faults.verdict(service, path, Instant::now()))
    }

    // ----- observation ---------------------------------------------------

    /// Slack calls accepted, oldest first.
    pub fn slack_messages(&self) -> Vec<SlackMessage> {
        self.with(|s| s.slack_messages.clone())
    }

    /// Teams cards accepted, oldest first.
    pub fn teams_cards(&self) -> Vec<TeamsCard> {
        self.with(|s| s.teams_cards.clone())
    }

    /// Emails accepted, oldest first.
    pub fn emails(&self) -> Vec<Email> {
        self.with(|s| s.emails.clone())
    }

    /// Emails the mailbox store discarded as duplicates, oldest first.
    pub fn emails_discarded(&self) -> Vec<Email> {
        self.with(|s| s.emails_discarded.clone())
    }

    /// Coaching appointments created, oldest first.
    pub fn coaching_appointments(&self) -> Vec<CoachingAppointment> {
        self.with(|s| s.coaching.clone())
    }

    /// All deliveries at once.
    pub fn deliveries(&self) -> Deliveries {
        self.with(|s| Deliveries {
            slack: s.slack_messages.clone(),
            teams: s.teams_cards.clone(),
            emails: s.emails.clone(),
            emails_discarded: s.emails_discarded.clone(),
            coaching: s.coaching.clone(),
        })
    }

    /// Delivery counts and pending faults.
    pub fn counts(&self) -> DeliveryCounts {
        self.with(|s| DeliveryCounts {
            slack: s.slack_messages.len(),
            teams: s.teams_cards.len(),
            emails: s.emails.len(),
            coaching: s.coaching.len(),
            pending_faults: s.faults.pending(),
        })
    }

    /// Genesys calls (token endpoint and API) per `"METHOD /route/{template}"`,
    /// faulted and rejected ones included.
    pub fn genesys_calls(&self) -> BTreeMap<String, u32> {
        self.with(|s| {
            let mut counts = BTreeMap::new();
            for r in s
                .requests
                .iter()
                .filter(|r| matches!(r.service, Service::GenesysLogin | Service::GenesysApi))
            {
                let route = r.route.as_deref().unwrap_or(r.path.as_str());
                *counts.entry(format!("{} {route}", r.method)).or_insert(0) += 1;
            }
            counts
        })
    }

    /// Every request to a fake, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// How many times the conversation's recordings were asked for.
    pub fn recording_polls(&self, conversation_id: &str) -> u32 {
        self.with(|s| s.conversations.get(conversation_id).map_or(0, |c| c.polls))
    }

    /// Forgets deliveries (the seeded organisation stays).
    pub fn clear_deliveries(&self) {
        self.with(|s| {
            s.slack_messages.clear();
            s.slack_live.clear();
            s.teams_cards.clear();
            s.emails.clear();
            s.emails_discarded.clear();
            s.coaching.clear();
        });
    }

    /// Forgets the call log and the recording poll counts.
    pub fn clear_requests(&self) {
        self.with(|s| {
            s.requests.clear();
            for c in s.conversations.values_mut() {
                c.polls = 0;
            }
        });
    }

    pub(crate) fn record_request(&self, request: RecordedRequest) {
        self.with(|s| s.requests.push(request));
    }

    /// Waits until `condition` holds, re-checking after every delivery;
    /// `false` if `timeout` passes first.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&SandboxState) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if condition(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return condition(self);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_get_stable_ids_and_missing_ones_fail() {
        let state = SandboxState::new(true);
        state.add_missing_channel("#gone");
        state.with(|s| {
            let a = s.slack_channel("#alerts");
            assert_eq!(a, s.slack_channel("alerts"));
            assert!(
                matches!(&a, ChannelLookup::Found(id) if id.starts_with('C') && id.len() == 11)
            );
            assert_eq!(s.slack_channel("#missing-team"), ChannelLookup::NotFound);
            assert_eq!(s.slack_channel("gone"), ChannelLookup::NotFound);
            assert_eq!(
                s.slack_channel("C0123456789"),
                ChannelLookup::Found("C0123456789".into())
            );
        });
    }

    #[test]
    fn slack_timestamps_are_unique_and_shaped_like_slacks() {
        let state = SandboxState::new(true);
        let (a, b) = state.with(|s| (s.next_slack_ts(), s.next_slack_ts()));
        assert_ne!(a, b);
        let (secs, micros) = a.split_once('.').unwrap_or_default();
        assert_eq!(secs.len(), 10);
        assert_eq!(micros.len(), 6);
    }

    #[test]
    fn queue_members_become_users_and_supervisors_get_the_role() {
        use crate::seed::QueueMemberSeed;
        let state = SandboxState::new(true);
        state.add_user(UserSeed::new("u1", "Ann", "ann@example.com").superiors(["boss"]));
        state.add_queue(QueueSeed::new(
            "q1",
            "Billing",
            vec![QueueMemberSeed::supervisor(UserSeed::new(
                "u1",
                "Ann",
                "ann@example.com",
            ))],
        ));
        state.with(|s| {
            let user = &s.users["u1"];
            assert_eq!(user.roles, vec![SUPERVISOR_ROLE.to_owned()]);
            assert_eq!(user.superiors, vec!["boss".to_owned()]);
        });
    }
}
