//! Injected failures: which requests they hit ([`Route`]), what they do
//! ([`Fault`]), and the book that hands them out ([`FaultBook`]).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Which fake a request went to. Every HTTP request and SMTP transaction is
/// sorted into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// `POST /oauth/token`.
    GenesysLogin,
    /// `/api/v2/...`.
    GenesysApi,
    /// Recording media files under `/recordings/`.
    Media,
    /// The Slack Web API, `/api/*`.
    Slack,
    /// `/teams/...`: webhooks, and the Graph token and channel messages.
    Teams,
    /// The SMTP listener.
    Smtp,
    /// The sandbox's own page and `/sandbox/...` control endpoints: never
    /// faulted, never counted.
    Control,
}

impl Service {
    /// Sorts an HTTP path.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/oauth/") {
            Self::GenesysLogin
        } else if path.starts_with("/api/v2/") {
            Self::GenesysApi
        } else if path.starts_with("/api/") {
            Self::Slack
        } else if path.starts_with("/teams/") {
            Self::Teams
        } else if path.starts_with("/recordings/") {
            Self::Media
        } else {
            Self::Control
        }
    }

    /// Whether requests to it are recorded in the call log.
    pub fn is_counted(self) -> bool {
        self != Self::Control
    }
}

/// Which requests a fault or an outage applies to.
///
/// In JSON: `"any"`, `"genesys"`, `"genesys_login"`, `"genesys_api"`,
/// `"slack"`, `"teams"`, `"smtp"`, `"media"` or `{"path_prefix": "/api/v2/users"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Every fake (not the control endpoints).
    Any,
    /// The Genesys token endpoint and the Platform API.
    Genesys,
    /// Only `POST /oauth/token`.
    GenesysLogin,
    /// Only `/api/v2/...`.
    GenesysApi,
    /// Slack Web API.
    Slack,
    /// Teams webhooks.
    Teams,
    /// The SMTP server (faults act at the end of `DATA`).
    Smtp,
    /// Recording media downloads.
    Media,
    /// HTTP requests whose path starts with this (e.g. `/api/v2/users`).
    PathPrefix(String),
}

impl Route {
    /// Whether a request to `service` at `path` is covered.
    pub fn matches(&self, service: Service, path: &str) -> bool {
        match self {
            _ if service == Service::Control => false,
            Self::Any => true,
            Self::Genesys => matches!(service, Service::GenesysLogin | Service::GenesysApi),
            Self::GenesysLogin => service == Service::GenesysLogin,
            Self::GenesysApi => service == Service::GenesysApi,
            Self::Slack => service == Service::Slack,
            Self::Teams => service == Service::Teams,
            Self::Smtp => service == Service::Smtp,
            Self::Media => service == Service::Media,
            Self::PathPrefix(prefix) => service != Service::Smtp && path.starts_with(prefix),
        }
    }
}

/// What happens to the next `count` matching requests.
///
/// In JSON: `{"kind": "status", "code": 429, "retry_after_secs": 2, "count": 3}`
/// or `{"kind": "delay", "ms": 5000, "count": 1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status instead of the real answer, in the fake's own
    /// error shape (Genesys error JSON, Slack `{"ok":false,...}`, Teams text,
    /// an SMTP reply code at the end of `DATA`), with `Retry-After` when set.
    Status {
        /// HTTP status (or SMTP reply code for [`Route::Smtp`]).
        code: u16,
        /// `Retry-After` header value, in seconds.
        #[serde(default)]
        retry_after_secs: Option<u32>,
        /// How many matching requests it hits.
        #[serde(default = "one")]
        count: u32,
    },
    /// Wait this long before answering normally (slow answers, timeouts).
    Delay {
        /// Milliseconds.
        ms: u64,
        /// How many matching requests it hits.
        #[serde(default = "one")]
        count: u32,
    },
}

fn one() -> u32 {
    1
}

impl Fault {
    /// `429 Too Many Requests` with `Retry-After`, `count` times.
    pub fn rate_limited(retry_after_secs: u32, count: u32) -> Self {
        Self::Status {
            code: 429,
            retry_after_secs: Some(retry_after_secs),
            count,
        }
    }

    /// A bare status, `count` times.
    pub fn status(code: u16, count: u32) -> Self {
        Self::Status {
            code,
            retry_after_secs: None,
            count,
        }
    }

    /// A delay, `count` times.
    pub fn delay(ms: u64, count: u32) -> Self {
        Self::Delay { ms, count }
    }

    fn count(&self) -> u32 {
        match self {
            Self::Status { count, .. } | Self::Delay { count, .. } => *count,
        }
    }
}

/// What a request gets from the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve normally.
    Pass,
    /// Sleep, then serve normally.
    Delay(Duration),
    /// Answer with this status.
    Fail {
        /// Status or SMTP code.
        code: u16,
        /// `Retry-After` seconds.
        retry_after_secs: Option<u32>,
    },
    /// The fake is down.
    Down,
}

#[derive(Debug, Clone)]
struct Rule {
    route: Route,
    fault: Fault,
    remaining: u32,
}

#[derive(Debug, Clone)]
struct Outage {
    route: Route,
    until: Option<Instant>,
}

/// Pending faults and outages, first match wins.
#[derive(Debug, Clone, Default)]
pub struct FaultBook {
    rules: Vec<Rule>,
    outages: Vec<Outage>,
}

impl FaultBook {
    /// Queues a fault.
    pub fn push(&mut self, route: Route, fault: Fault) {
        let remaining = fault.count();
        if remaining > 0 {
            self.rules.push(Rule {
                route,
                fault,
                remaining,
            });
        }
    }

    /// Turns an open-ended outage on or off.
    pub fn set_down(&mut self, route: Route, down: bool) {
        self.outages.retain(|o| o.route != route);
        if down {
            self.outages.push(Outage { route, until: None });
        }
    }

    /// An outage that ends by itself.
    pub fn outage(&mut self, route: Route, until: Instant) {
        self.outages.retain(|o| o.route != route);
        self.outages.push(Outage {
            route,
            until: Some(until),
        });
    }

    /// Forgets every fault and outage.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.outages.clear();
    }

    /// How many faulted requests are still to come (outages not included).
    pub fn pending(&self) -> u32 {
        self.rules.iter().map(|r| r.remaining).sum()
    }

    /// Whether an outage covers the request (no fault is used up).
    pub fn is_down(&mut self, service: Service, path: &str, now: Instant) -> bool {
        self.outages
            .retain(|o| o.until.is_none_or(|until| until > now));
        self.outages.iter().any(|o| o.route.matches(service, path))
    }

    /// Decides for one request, consuming one use of the matching fault.
    pub fn verdict(&mut self, service: Service, path: &str, now: Instant) -> Verdict {
        if self.is_down(service, path, now) {
            return Verdict::Down;
        }
        let Some(index) = self
            .rules
            .iter()
            .position(|r| r.route.matches(service, path))
        else {
            return Verdict::Pass;
        };
        let rule = &mut self.rules[index];
        rule.remaining -= 1;
        let verdict = match rule.fault {
            Fault::Status {
                code,
                retry_after_secs,
                ..
            } => Verdict::Fail {
                code,
                retry_after_secs,
            },
            Fault::Delay { ms, .. } => Verdict::Delay(Duration::from_millis(ms)),
        };
        if rule.remaining == 0 {
            self.rules.remove(index);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up_in_order() {
        let mut book = FaultBook::default();
        let now = Instant::now();
        book.push(Route::Slack, Fault::rate_limited(2, 2));
        book.push(Route::Any, Fault::status(503, 1));
        let slack = |b: &mut FaultBook| b.verdict(Service::Slack, "/api/chat.postMessage", now);
        let fail429 = Verdict::Fail {
            code: 429,
            retry_after_secs: Some(2),
        };
        assert_eq!(book.pending(), 3);
        assert_eq!(slack(&mut book), fail429);
        assert_eq!(slack(&mut book), fail429);
        assert_eq!(book.pending(), 1);
        assert_eq!(
            slack(&mut book),
            Verdict::Fail {
                code: 503,
                retry_after_secs: None
            }
        );
        assert_eq!(slack(&mut book), Verdict::Pass);
    }

    #[test]
    fn routes_match_their_services_only() {
        assert!(Route::Genesys.matches(Service::GenesysLogin, "/oauth/token"));
        assert!(Route::Genesys.matches(Service::GenesysApi, "/api/v2/users/x"));
        assert!(!Route::Genesys.matches(Service::Slack, "/api/chat.update"));
        assert!(!Route::Any.matches(Service::Control, "/sandbox/faults"));
        assert!(
            Route::PathPrefix("/api/v2/users".into())
                .matches(Service::GenesysApi, "/api/v2/users/1")
        );
        assert_eq!(Service::of_path("/api/chat.postMessage"), Service::Slack);
        assert_eq!(Service::of_path("/api/v2/users/1"), Service::GenesysApi);
    }

    #[test]
    fn outages_end_by_themselves() {
        let mut book = FaultBook::default();
        let now = Instant::now();
        book.outage(Route::Teams, now + Duration::from_secs(5));
        assert_eq!(book.verdict(Service::Teams, "/teams/a", now), Verdict::Down);
        let later = now + Duration::from_secs(6);
        assert_eq!(
            book.verdict(Service::Teams, "/teams/a", later),
            Verdict::Pass
        );
        book.set_down(Route::Teams, true);
        assert_eq!(
            book.verdict(Service::Teams, "/teams/a", later),
            Verdict::Down
        );
        book.set_down(Route::Teams, false);
        assert_eq!(
            book.verdict(Service::Teams, "/teams/a", later),
            Verdict::Pass
        );
    }

    #[test]
    fn faults_read_from_json() -> Result<(), serde_json::Error> {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"status","code":429,"retry_after_secs":3,"count":2}"#)?;
        assert_eq!(fault, Fault::rate_limited(3, 2));
        let route: Route = serde_json::from_str(r#"{"path_prefix":"/api/v2/users"}"#)?;
        assert_eq!(route, Route::PathPrefix("/api/v2/users".into()));
        let route: Route = serde_json::from_str(r#""genesys_api""#)?;
        assert_eq!(route, Route::GenesysApi);
        Ok(())
    }
}
