//! A small Genesys Cloud Platform API v2 client for survey-alerts.
//!
//! [`GenesysClient`] fetches what an alert needs about an interaction (the
//! conversation, its recording, its AI summary, queue, agent and the agent's
//! superiors), creates coaching appointments and lists them. Underneath:
//!
//! - **OAuth client credentials** (`auth`): one token, fetched once behind an
//!   async mutex, renewed before expiry, and renewed once more on a 401.
//! - **Rate limit** (`limiter`): a token bucket keeping each client, clones
//!   included, within `requests_per_minute`.
//! - **Retries** (`http`): 429 waits for `Retry-After`; 5xx, 408, timeouts and
//!   transport failures back off exponentially with jitter, up to
//!   `max_attempts`, then fail as retriable [`GenesysError::Unavailable`].
//!   Every other 4xx is fatal. A POST is only repeated when it certainly was
//!   not processed.
//! - **Lenient wire shapes** (`models`): every field read may be absent.
//!
//! Calls log at debug level (method, path, status, latency); secrets, tokens
//! and summary text are never logged.

mod auth;
mod client;
mod config;
mod error;
mod http;
mod interaction;
mod limiter;
mod models;
mod recording;

pub use client::GenesysClient;
pub use config::GenesysConfig;
pub use error::GenesysError;
pub use interaction::{AgentRef, InteractionDetails};
pub use models::{
    CoachingAppointment, CoachingAppointmentQuery, CoachingAppointmentRequest, Queue, QueueMember,
    User,
};
pub use recording::RecordingStatus;
