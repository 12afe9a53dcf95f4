//! Per-request limits checked before any credential or body work: the size
//! and number of request headers (431), and the request rate of each source
//! address (429 with `Retry-After`). The body's size limit (413) is applied
//! where the body is read.
//!
//! The rate is kept per peer IP address with the GCRA of the `governor`
//! crate; IPv4-mapped IPv6 addresses count as their IPv4 address, and IPv6
//! sources share their /64, which one host can otherwise cycle through.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::LimitSettings;

/// Why a request was refused before it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Header names and values add up to more than the limit.
    #[error("request headers exceed {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More header lines than the limit.
    #[error("too many request headers: more than {limit}")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// The source sent more requests than its rate allows.
    #[error("too many requests from this source; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the source may send again, for `Retry-After`.
        retry_after_secs: u64,
    },
}

/// Limits on the request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    /// Largest total of header name and value bytes.
    pub max_bytes: usize,
    /// Most header lines; repeated names count once per line.
    pub max_count: usize,
}

impl HeaderLimits {
    /// Checks the request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), LimitError> {
        if headers.len() > self.max_count {
            return Err(LimitError::TooManyHeaders {
                limit: self.max_count,
            });
        }
        let bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if bytes > self.max_bytes {
            return Err(LimitError::HeadersTooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(())
    }
}

type KeyedLimiter<C> =
    RateLimiter<IpAddr, DashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A request rate per source address.
pub struct SourceRateLimiter<C: Clock = DefaultClock> {
    limiter: KeyedLimiter<C>,
}

impl<C: Clock> fmt::Debug for SourceRateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceRateLimiter")
            .field("sources", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl SourceRateLimiter {
    /// `per_second` requests a second from each source, `burst` of them at
    /// once, on the real clock.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<C: Clock> SourceRateLimiter<C> {
    /// As [`SourceRateLimiter::new`], on `clock`.
    pub fn with_clock(per_second: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock),
        }
    }

    /// Takes one request from `peer`'s allowance.
    pub fn check(&self, peer: IpAddr) -> Result<(), LimitError> {
        self.limiter
            .check_key(&source_key(peer))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                LimitError::RateLimited {
                    retry_after_secs: whole_seconds_up(wait).max(1),
                }
            })
    }

    /// Forgets sources whose allowance is full again, so that the table does
    /// not grow with every address ever seen. Returns how many remain.
    pub fn forget_idle_sources(&self) -> usize {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.limiter.len()
    }
}

/// Everything checked before a request's credentials and body.
#[derive(Debug)]
pub struct RequestLimits {
    headers: HeaderLimits,
    rate: Option<SourceRateLimiter>,
}

impl RequestLimits {
    /// The limits `settings` describe; a rate of 0 means no rate limit.
    pub fn new(settings: &LimitSettings) -> Self {
        let rate = NonZeroU32::new(settings.rate_per_source).map(|per_second| {
            let burst = NonZeroU32::new(settings.burst_per_source).unwrap_or(per_second);
            SourceRateLimiter::new(per_second, burst)
        });
        Self {
            headers: HeaderLimits {
                max_bytes: settings.max_header_bytes,
                max_count: settings.max_header_count,
            },
            rate,
        }
    }

    /// Checks a request from `peer` with `headers`. The rate is checked
    /// first, so a flood of oversized requests is throttled too.
    pub fn check(&self, peer: IpAddr, headers: &HeaderMap) -> Result<(), LimitError> {
        if let Some(rate) = &self.rate {
            rate.check(peer)?;
        }
        self.headers.check(headers)
    }

    /// See [`SourceRateLimiter::forget_idle_sources`]; 0 without a rate limit.
    pub fn forget_idle_sources(&self) -> usize {
        self.rate
            .as_ref()
            .map_or(0, SourceRateLimiter::forget_idle_sources)
    }
}

/// The key a peer's requests are counted under.
fn source_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

fn whole_seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!("{text}"))
    }

    fn nonzero(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
    }

    #[test]
    fn headers_over_either_limit_are_refused() {
        let limits = HeaderLimits {
            max_bytes: 100,
            max_count: 3,
        };
        let mut headers = HeaderMap::new();
        headers.insert("a", HeaderValue::from_static("1"));
        headers.append("a", HeaderValue::from_static("2"));
        headers.insert("b", HeaderValue::from_static("3"));
        assert_eq!(limits.check(&headers), Ok(()));
        headers.append("a", HeaderValue::from_static("4"));
        assert_eq!(
            limits.check(&headers),
            Err(LimitError::TooManyHeaders { limit: 3 })
        );

        let mut headers = HeaderMap::new();
        // 1 + 99 bytes is at the limit; one more is over.
        let value = HeaderValue::from_str(&"x".repeat(99)).unwrap_or_else(|_| unreachable!());
        headers.insert("a", value);
        assert_eq!(limits.check(&headers), Ok(()));
        headers.insert("b", HeaderValue::from_static(""));
        assert_eq!(
            limits.check(&headers),
            Err(LimitError::HeadersTooLarge { limit: 100 })
        );
    }

    #[test]
    fn each_source_has_its_own_allowance_which_refills_with_time() {
        let clock = FakeRelativeClock::default();
        let limiter = SourceRateLimiter::with_clock(nonzero(2), nonzero(3), clock.clone());
        let a = ip("10.0.0.1");
        let b = ip("10.0.0.2");
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        assert_eq!(
            limiter.check(a),
            Err(LimitError::RateLimited {
                retry_after_secs: 1
            })
        );
        // Another source is not held back by the first.
        assert_eq!(limiter.check(b), Ok(()));
        // Half a second later one request's worth has come back to `a`.
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check(a), Ok(()));
        assert!(limiter.check(a).is_err());
        assert_eq!(limiter.forget_idle_sources(), 2);
        clock.advance(Duration::from_secs(10));
        assert_eq!(limiter.forget_idle_sources(), 0);
    }

    #[test]
    fn retry_after_is_the_wait_in_whole_seconds_rounded_up() {
        let clock = FakeRelativeClock::default();
        // One request a second: 100 ms after the first, the next one is
        // 900 ms away, which is announced as 1 s.
        let limiter = SourceRateLimiter::with_clock(nonzero(1), nonzero(1), clock.clone());
        let a = ip("192.0.2.1");
        assert_eq!(limiter.check(a), Ok(()));
        clock.advance(Duration::from_millis(100));
        assert_eq!(
            limiter.check(a),
            Err(LimitError::RateLimited {
                retry_after_secs: 1
            })
        );
        assert_eq!(whole_seconds_up(Duration::from_millis(2_001)), 3);
        assert_eq!(whole_seconds_up(Duration::from_secs(2)), 2);
    }

    #[test]
    fn mapped_addresses_and_one_v6_subnet_count_as_one_source() {
        let clock = FakeRelativeClock::default();
        let limiter = SourceRateLimiter::with_clock(nonzero(1), nonzero(1), clock);
        assert_eq!(limiter.check(ip("192.0.2.7")), Ok(()));
        assert!(limiter.check(ip("::ffff:192.0.2.7")).is_err());
        assert_eq!(limiter.check(ip("2001:db8:1:2::1")), Ok(()));
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9")).is_err());
        assert_eq!(limiter.check(ip("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn without_a_rate_only_the_headers_are_limited() {
        let settings = LimitSettings::default();
        assert_eq!(settings.rate_per_source, 0, "no rate limit by default");
        let limits = RequestLimits::new(&settings);
        let peer = ip("127.0.0.1");
        for _ in 0..10_000 {
            assert_eq!(limits.check(peer, &HeaderMap::new()), Ok(()));
        }
        assert_eq!(limits.forget_idle_sources(), 0);
    }

    #[test]
    fn the_burst_defaults_to_one_seconds_worth() {
        let limits = RequestLimits::new(&LimitSettings {
            rate_per_source: 5,
            burst_per_source: 0,
            ..LimitSettings::default()
        });
        let peer = ip("127.0.0.1");
        for _ in 0..5 {
            assert_eq!(limits.check(peer, &HeaderMap::new()), Ok(()));
        }
        assert!(matches!(
            limits.check(peer, &HeaderMap::new()),
            Err(LimitError::RateLimited { .. })
        ));
    }
}
