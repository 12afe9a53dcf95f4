//! A runnable, controllable fake of the SaaS the pipeline talks to:
//! Genesys Cloud (OAuth token endpoint and Platform API v2), the Slack Web
//! API (`chat.postMessage`, `chat.update`, `conversations.list`,
//! `conversations.history`), Teams incoming webhooks with Microsoft Graph's
//! channel messages, and an SMTP server with a mailbox store that discards
//! copies — all on loopback, speaking the real request and answer shapes.
//!
//! One HTTP listener serves every HTTP fake, so [`Sandbox::base_url`] is the
//! value for `GENESYS_LOGIN_URL`, `GENESYS_API_URL`, `SLACK_API_URL` and the
//! base of Teams webhook URLs (`{base}/teams/{webhook_id}`). A second
//! listener speaks SMTP.
//!
//! Tests start it in-process, seed and inject faults through
//! [`SandboxState`], and read what was delivered from it; the binary serves
//! the same through `/sandbox/...` control endpoints (listed in
//! `src/control.rs`) and a page at `/` listing deliveries, newest first.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use survey_sandbox::{Fault, Route, Sandbox, SandboxConfig, Seed};
//! let sandbox = Sandbox::start(SandboxConfig { seed: Seed::Demo, quiet: true, ..SandboxConfig::default() }).await?;
//! sandbox.state().fail_next(Route::Slack, Fault::rate_limited(1, 2));
//! // ... run the pipeline against sandbox.base_url() and sandbox.smtp_addr() ...
//! let posted = sandbox.state().slack_messages();
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod control;
pub mod demo;
mod faults;
mod form;
mod genesys;
mod mail;
mod observe;
mod page;
mod seed;
mod slack;
mod smtp;
mod state;
mod teams;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{Fault, Route, Service};
pub use seed::{
    ConversationSeed, Direction, HandledBy, MediaType, PendingStyle, QueueMemberSeed, QueueSeed,
    SUPERVISOR_ROLE, UserSeed, WrapupSeed,
};
pub use state::{
    CoachingAppointment, Deliveries, DeliveryCounts, Email, RecordedRequest, SandboxState,
    SlackMessage, SlackMethod, TeamsCard,
};
pub use teams::ADAPTIVE_CARD;

/// How long [`Sandbox::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the sandbox starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    /// The [`demo`] organisation.
    #[default]
    Demo,
    /// Nothing: tests seed what they need.
    Empty,
}

impl FromStr for Seed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "demo" => Ok(Self::Demo),
            "empty" => Ok(Self::Empty),
            other => Err(format!("unknown seed {other:?}: expected demo or empty")),
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Demo => "demo",
            Self::Empty => "empty",
        })
    }
}

/// Where and how the sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// HTTP listener for every HTTP fake; port 0 picks a free one.
    pub http_addr: SocketAddr,
    /// SMTP listener; port 0 picks a free one.
    pub smtp_addr: SocketAddr,
    /// Initial data.
    pub seed: Seed,
    /// Don't print one line per delivery to stdout.
    pub quiet: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            http_addr: loopback,
            smtp_addr: loopback,
            seed: Seed::Demo,
            quiet: false,
        }
    }
}

/// A running sandbox. Dropping it without [`Sandbox::shutdown`] leaves the
/// listeners running until the runtime ends.
#[derive(Debug)]
pub struct Sandbox {
    state: SandboxState,
    http_addr: SocketAddr,
    smtp_addr: SocketAddr,
    stop: watch::Sender<bool>,
    http_task: JoinHandle<()>,
    smtp_task: JoinHandle<()>,
}

impl Sandbox {
    /// Binds both listeners, seeds, and serves in background tasks.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let http = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding the HTTP listener on {}", config.http_addr))?;
        let smtp = TcpListener::bind(config.smtp_addr)
            .await
            .with_context(|| format!("binding the SMTP listener on {}", config.smtp_addr))?;
        let http_addr = http.local_addr().context("reading the HTTP address")?;
        let smtp_addr = smtp.local_addr().context("reading the SMTP address")?;

        let state = SandboxState::new(config.quiet);
        state.set_base_url(base_url(http_addr));
        if config.seed == Seed::Demo {
            demo::load(&state);
        }

        let (stop, stopped) = watch::channel(false);
        let app = router(state.clone());
        let mut http_stopped = stopped.clone();
        let http_task = tokio::spawn(async move {
            let served = axum::serve(http, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stopped.changed().await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "sandbox HTTP server failed");
            }
        });
        let smtp_task = tokio::spawn(smtp::serve(smtp, state.clone(), stopped));
        tracing::info!(%http_addr, %smtp_addr, seed = %config.seed, "sandbox started");
        Ok(Sandbox {
            state,
            http_addr,
            smtp_addr,
            stop,
            http_task,
            smtp_task,
        })
    }

    /// `http://127.0.0.1:{port}`: the Genesys login and API base, the Slack
    /// API base and the Teams webhook base.
    pub fn base_url(&self) -> String {
        base_url(self.http_addr)
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound SMTP address.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// A handle to seed, inject faults and read deliveries.
    pub fn state(&self) -> SandboxState {
        self.state.clone()
    }

    /// Stops accepting, lets open requests finish (at most 5 s), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut http_task = self.http_task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut http_task)
            .await
            .is_err()
        {
            http_task.abort();
        }
        let _ = self.smtp_task.await;
    }
}

/// The URL clients use; an unspecified bind address becomes loopback.
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Every HTTP fake behind the observing middleware.
fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(genesys::router(state.clone()))
        .merge(slack::router(state.clone()))
        .merge(teams::router(state.clone()))
        .merge(control::router(state.clone()))
        .merge(page::router(state.clone()))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(axum::middleware::from_fn_with_state(
            state,
            observe::observe,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_use_loopback_for_unspecified_addresses() {
        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8090));
        assert_eq!(base_url(any), "http://127.0.0.1:8090");
        let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 8090));
        assert_eq!(base_url(v6), "http://[::1]:8090");
    }

    #[test]
    fn seeds_parse() {
        assert_eq!("Demo".parse::<Seed>(), Ok(Seed::Demo));
        assert_eq!("empty".parse::<Seed>(), Ok(Seed::Empty));
        assert!("full".parse::<Seed>().is_err());
    }
}
