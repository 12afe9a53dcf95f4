//! The calls the enricher and notifier make.

use std::sync::Arc;
use std::time::Duration;

use chrono::SecondsFormat;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::GenesysError;
use crate::auth::TokenSource;
use crate::config::{Endpoints, GenesysConfig};
use crate::http::{Call, Idempotency, RetryPolicy, Transport};
use crate::interaction::{InteractionDetails, normalize};
use crate::limiter::RateLimiter;
use crate::models::{
    CoachingAppointment, CoachingAppointmentQuery, CoachingAppointmentRequest, Conversation,
    ConversationSummaries, Listing, Queue, QueueMember, Recording, User, WireAppointment,
    WireQueueMember, WireUser,
};
use crate::recording::{RecordingStatus, recording_status};

/// Members asked for per page; the API's maximum.
const MEMBERS_PAGE_SIZE: u32 = 100;
/// A bound on member pages (10,000 members), against a listing that never ends.
const MAX_MEMBER_PAGES: u32 = 100;
/// Appointments asked for per page: the documented default, since no
/// maximum is documented.
const APPOINTMENTS_PAGE_SIZE: u32 = 25;
/// A bound on appointment pages (500 appointments).
const MAX_APPOINTMENT_PAGES: u32 = 20;

/// A Genesys Cloud API client. Clones share the token, the rate budget and
/// the connection pool.
#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    endpoints: Endpoints,
}

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("api", &self.inner.endpoints.api.as_str())
            .field("token", &self.inner.endpoints.token.as_str())
            .field("apps", &self.inner.endpoints.apps)
            .finish_non_exhaustive()
    }
}

impl GenesysClient {
    /// Checks `config` and builds the client; nothing is sent yet.
    pub fn new(config: GenesysConfig) -> Result<Self, GenesysError> {
        let endpoints = config.endpoints()?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("survey-alerts/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|error| GenesysError::InvalidConfig(format!("HTTP client: {error}")))?;
        let tokens = TokenSource::new(
            http.clone(),
            endpoints.token.clone(),
            config.client_id,
            config.client_secret,
            config.request_timeout,
        );
        let transport = Transport {
            http,
            tokens,
            limiter: RateLimiter::per_minute(config.requests_per_minute),
            retry: RetryPolicy {
                max_attempts: config.max_attempts,
                initial_backoff: config.initial_backoff,
                max_backoff: config.max_backoff,
            },
            timeout: config.request_timeout,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                endpoints,
            }),
        })
    }

    /// The conversation, normalized (`GET /api/v2/conversations/{id}`).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn interaction(
        &self,
        conversation_id: &str,
    ) -> Result<InteractionDetails, GenesysError> {
        let url = self.url(&["conversations", required(conversation_id)?])?;
        let conversation: Conversation = self.get(url).await?.json("conversation")?;
        Ok(normalize(conversation_id, conversation))
    }

    /// Where the conversation's recording stands
    /// (`GET /api/v2/conversations/{id}/recordings?maxWaitMs=`). Genesys holds
    /// the answer up to `max_wait` while it prepares the media; a 202 or an
    /// empty list means not yet. See [`RecordingStatus`] for the rules.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn recording(
        &self,
        conversation_id: &str,
        max_wait: Duration,
    ) -> Result<RecordingStatus, GenesysError> {
        let mut url = self.url(&["conversations", required(conversation_id)?, "recordings"])?;
        let max_wait_ms = max_wait.as_millis().clamp(1, u128::from(u32::MAX));
        url.query_pairs_mut()
            .append_pair("maxWaitMs", &max_wait_ms.to_string());
        let mut call = Call::get(url);
        call.extra_timeout = max_wait;
        let response = self.inner.transport.send(&call).await?;
        if response.status == StatusCode::ACCEPTED
            || response.body.iter().all(u8::is_ascii_whitespace)
        {
            return Ok(RecordingStatus::Pending);
        }
        let recordings: Vec<Recording> = response.json("recordings")?;
        Ok(recording_status(&recordings))
    }

    /// The conversation's AI summary text: the agent-edited version, else the
    /// completed generated one (`GET /api/v2/conversations/{id}/summaries`).
    /// `None` when there is none or the endpoint answers 404.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn summary(&self, conversation_id: &str) -> Result<Option<String>, GenesysError> {
        let Some(id) = checked(conversation_id) else {
            return Ok(None);
        };
        let url = self.url(&["conversations", id, "summaries"])?;
        match self.get(url).await {
            Ok(response) => Ok(response
                .json::<ConversationSummaries>("summaries")?
                .best_text()),
            Err(GenesysError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A queue, or `None` if it does not exist (`GET /api/v2/routing/queues/{id}`).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn queue(&self, queue_id: &str) -> Result<Option<Queue>, GenesysError> {
        let Some(id) = checked(queue_id) else {
            return Ok(None);
        };
        let url = self.url(&["routing", "queues", id])?;
        found(self.get(url).await)?
            .map(|response| response.json("queue"))
            .transpose()
    }

    /// Every member of a queue, across all pages
    /// (`GET /api/v2/routing/queues/{id}/members`), following `nextUri`, or
    /// `pageCount` where an older API version still sends it.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn queue_members(&self, queue_id: &str) -> Result<Vec<QueueMember>, GenesysError> {
        let base = self.url(&["routing", "queues", required(queue_id)?, "members"])?;
        let members: Vec<WireQueueMember> = self
            .pages(base, MEMBERS_PAGE_SIZE, MAX_MEMBER_PAGES, "queue members")
            .await?;
        Ok(members
            .into_iter()
            .filter_map(WireQueueMember::into_member)
            .collect())
    }

    /// A user, or `None` if there is no such user (`GET /api/v2/users/{id}`).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn user(&self, user_id: &str) -> Result<Option<User>, GenesysError> {
        let Some(id) = checked(user_id) else {
            return Ok(None);
        };
        let url = self.url(&["users", id])?;
        let Some(response) = found(self.get(url).await)? else {
            return Ok(None);
        };
        response
            .json::<WireUser>("user")?
            .into_user()
            .map(Some)
            .ok_or_else(|| GenesysError::Decode("user without an id".to_owned()))
    }

    /// The user's superiors, nearest first as Genesys lists them
    /// (`GET /api/v2/users/{id}/superiors`, a bare JSON array).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn superiors(&self, user_id: &str) -> Result<Vec<User>, GenesysError> {
        let url = self.url(&["users", required(user_id)?, "superiors"])?;
        let users: Vec<WireUser> = self.get(url).await?.json("superiors")?;
        Ok(users.into_iter().filter_map(WireUser::into_user).collect())
    }

    /// Creates a coaching appointment (`POST /api/v2/coaching/appointments`).
    /// Not retried after a timeout or 5xx, since it may have been created.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_coaching_appointment(
        &self,
        request: &CoachingAppointmentRequest,
    ) -> Result<CoachingAppointment, GenesysError> {
        let body = serde_json::to_vec(request).map_err(|error| {
            GenesysError::Decode(format!("coaching appointment request: {error}"))
        })?;
        let call = Call {
            method: Method::POST,
            url: self.url(&["coaching", "appointments"])?,
            body: Some(body),
            extra_timeout: Duration::ZERO,
            idempotency: Idempotency::NotIdempotent,
        };
        self.inner
            .transport
            .send(&call)
            .await?
            .json::<WireAppointment>("coaching appointment")?
            .into_appointment()
            .ok_or_else(|| GenesysError::Decode("coaching appointment without an id".to_owned()))
    }

    /// The coaching appointments `query` selects, across pages
    /// (`GET /api/v2/coaching/appointments`), at most 500. Nothing is sent
    /// without a user id, since Genesys requires one: the answer is empty.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn coaching_appointments(
        &self,
        query: &CoachingAppointmentQuery,
    ) -> Result<Vec<CoachingAppointment>, GenesysError> {
        let mut url = self.url(&["coaching", "appointments"])?;
        {
            let mut pairs = url.query_pairs_mut();
            // Lists are repeated parameters (`userIds=a&userIds=b`), as the SDKs send them.
            for id in query.user_ids.iter().filter_map(|id| checked(id)) {
                pairs.append_pair("userIds", id);
            }
            for id in query.facilitator_ids.iter().filter_map(|id| checked(id)) {
                pairs.append_pair("facilitatorIds", id);
            }
            if let Some((start, end)) = &query.interval {
                let iso = |time: &chrono::DateTime<chrono::Utc>| {
                    time.to_rfc3339_opts(SecondsFormat::Secs, true)
                };
                pairs.append_pair("interval", &format!("{}/{}", iso(start), iso(end)));
            }
        }
        if !url.query_pairs().any(|(name, _)| name == "userIds") {
            return Ok(Vec::new());
        }
        let appointments: Vec<WireAppointment> = self
            .pages(
                url,
                APPOINTMENTS_PAGE_SIZE,
                MAX_APPOINTMENT_PAGES,
                "coaching appointments",
            )
            .await?;
        Ok(appointments
            .into_iter()
            .filter_map(WireAppointment::into_appointment)
            .collect())
    }

    /// The Genesys Cloud UI page of an interaction, on the region's apps host
    /// (even when `api_url` is overridden):
    /// `https://apps.{region}/directory/#/analytics/interactions/{id}/admin`.
    pub fn interaction_link(&self, conversation_id: &str) -> String {
        format!(
            "{}/directory/#/analytics/interactions/{}/admin",
            self.inner.endpoints.apps,
            percent_encode(conversation_id)
        )
    }

    async fn get(&self, url: Url) -> Result<crate::http::ApiResponse, GenesysError> {
        self.inner.transport.send(&Call::get(url)).await
    }

    /// Every entity of the listing at `base`, `page_size` a page, following
    /// `nextUri`, else `pageCount`; at most `max_pages` pages.
    async fn pages<T: DeserializeOwned>(
        &self,
        base: Url,
        page_size: u32,
        max_pages: u32,
        what: &str,
    ) -> Result<Vec<T>, GenesysError> {
        let page_url = |number: u32| {
            let mut url = base.clone();
            url.query_pairs_mut()
                .append_pair("pageSize", &page_size.to_string())
                .append_pair("pageNumber", &number.to_string());
            url
        };
        let mut entities = Vec::new();
        let mut url = page_url(1);
        for page in 1..=max_pages {
            let listing: Listing<T> = self.get(url).await?.json(what)?;
            let number = listing.page_number.unwrap_or(page);
            let next = match (&listing.next_uri, listing.page_count) {
                (Some(next_uri), _) if !next_uri.trim().is_empty() => Some(self.follow(next_uri)?),
                (_, Some(count)) if number < count => Some(page_url(number + 1)),
                _ => None,
            };
            let empty = listing.entities.is_empty();
            entities.extend(listing.entities);
            match next {
                Some(next) if !empty => url = next,
                _ => return Ok(entities),
            }
        }
        tracing::warn!(
            listing = what,
            pages = max_pages,
            entities = entities.len(),
            "listing truncated"
        );
        Ok(entities)
    }

    /// `{api}/api/v2/{segments...}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, GenesysError> {
        let mut url = self.inner.endpoints.api.clone();
        url.path_segments_mut()
            .map_err(|()| GenesysError::InvalidConfig("api_url cannot take a path".to_owned()))?
            .clear()
            .extend(["api", "v2"])
            .extend(segments);
        Ok(url)
    }

    /// A listing's `nextUri`, always sent to the configured API host (the
    /// bearer token never leaves it).
    fn follow(&self, next_uri: &str) -> Result<Url, GenesysError> {
        let api = &self.inner.endpoints.api;
        let next = api
            .join(next_uri.trim())
            .map_err(|error| GenesysError::Decode(format!("nextUri {next_uri:?}: {error}")))?;
        let mut url = api.clone();
        url.set_path(next.path());
        url.set_query(next.query());
        Ok(url)
    }
}

/// Turns a 404 into `None`.
fn found<T>(result: Result<T, GenesysError>) -> Result<Option<T>, GenesysError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(GenesysError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// An id fit for a path segment. A blank id would address the collection
/// instead of one resource, so nothing is sent and it counts as not found.
fn checked(id: &str) -> Option<&str> {
    let id = id.trim();
    (!id.is_empty() && id != "." && id != "..").then_some(id)
}

/// [`checked`] for calls that answer absence with [`GenesysError::NotFound`].
fn required(id: &str) -> Result<&str, GenesysError> {
    checked(id).ok_or(GenesysError::NotFound)
}

/// Percent-encodes everything but unreserved URL characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.trim().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn link_ids_are_encoded() {
        assert_eq!(
            percent_encode("7d0a5e1c-3b8f-4a52-9f6e-1c2d3e4f5a6b"),
            "7d0a5e1c-3b8f-4a52-9f6e-1c2d3e4f5a6b"
        );
        assert_eq!(percent_encode("a/b#c"), "a%2Fb%23c");
    }
}
