//! Who may post webhooks: an HMAC-SHA256 signature (`X-Signature-256:
//! sha256=<hex>`), or a static bearer token for senders that cannot sign,
//! and optionally only from allowed networks.
//!
//! Two signature schemes, told apart by the `X-Signature-Timestamp` header:
//!
//! - plain: the HMAC of the raw body;
//! - timestamped (replay protection, as Stripe and Slack do it): the sender
//!   puts the current unix time in seconds into `X-Signature-Timestamp` and
//!   signs the bytes `"{timestamp}.{body}"`. A request whose timestamp lies
//!   further from our clock than the tolerance is refused, so a captured
//!   request cannot be replayed later. With
//!   [`ReplayPolicy::require_timestamp`] plain signatures are refused.
//!
//! Each kind of credential may have two valid values at once, the current and
//! the previous one, so a secret can be rotated without refusing a request.
//! Every comparison of a secret runs in constant time and tries every key,
//! so neither the timing nor the length of a token tells which one matched.

use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-signature-256";
/// Header carrying the signed unix time in seconds of the timestamped scheme.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
const SIGNATURE_PREFIX: &str = "sha256=";

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither a signature nor a bearer token was presented.
    #[error("missing credentials: send X-Signature-256 or an Authorization bearer token")]
    Missing,
    /// A signature or token was presented and is wrong.
    #[error("invalid signature or token")]
    Invalid,
    /// The peer's address is outside the allowlist.
    #[error("source address not allowed")]
    ForbiddenSource,
    /// Timestamps are required and the request has none.
    #[error(
        "missing X-Signature-Timestamp: this endpoint requires signed timestamps; send the unix \
         time in seconds and sign \"{{timestamp}}.{{body}}\""
    )]
    MissingTimestamp,
    /// `X-Signature-Timestamp` is not a whole number of unix seconds.
    #[error("X-Signature-Timestamp must be the unix time in whole seconds")]
    MalformedTimestamp,
    /// The signed timestamp is older than the tolerance: a replay, or a
    /// sender whose clock is behind.
    #[error(
        "stale X-Signature-Timestamp: older than {tolerance_secs} s (a replayed request, or the \
         sender's clock is behind)"
    )]
    StaleTimestamp {
        /// The configured tolerance.
        tolerance_secs: u64,
    },
    /// The signed timestamp lies further in the future than the tolerance.
    #[error(
        "X-Signature-Timestamp is more than {tolerance_secs} s in the future (the sender's clock \
         is ahead)"
    )]
    FutureTimestamp {
        /// The configured tolerance.
        tolerance_secs: u64,
    },
}

/// The credentials a request presents; header values as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `X-Signature-256`.
    pub signature: Option<&'a str>,
    /// `X-Signature-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `Authorization`.
    pub authorization: Option<&'a str>,
}

/// How the timestamped signature scheme is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayPolicy {
    /// Refuse signatures without `X-Signature-Timestamp`.
    pub require_timestamp: bool,
    /// How far a signed timestamp may lie from our clock, either way.
    pub tolerance: Duration,
}

impl Default for ReplayPolicy {
    fn default() -> Self {
        Self {
            require_timestamp: false,
            tolerance: Duration::from_secs(300),
        }
    }
}

/// One or two valid values of a credential: the current one and, during a
/// rotation, the previous one.
#[derive(Debug, Clone, Default)]
struct KeyRing(Vec<SecretString>);

impl KeyRing {
    fn new(keys: impl IntoIterator<Item = Option<SecretString>>) -> Self {
        Self(
            keys.into_iter()
                .flatten()
                .filter(|key| !key.expose_secret().is_empty())
                .collect(),
        )
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any key gives `matches`; every key is tried, whatever the
    /// earlier ones gave.
    fn any(&self, matches: impl Fn(&[u8]) -> Choice) -> bool {
        let hit = self.0.iter().fold(Choice::from(0), |hit, key| {
            hit | matches(key.expose_secret().as_bytes())
        });
        bool::from(hit)
    }
}

/// The configured ways in.
#[derive(Debug, Clone)]
pub struct Authenticator {
    secrets: KeyRing,
    tokens: KeyRing,
    allowed_networks: Vec<IpNet>,
    replay: ReplayPolicy,
}

impl Authenticator {
    /// An authenticator with one secret and one token; `None` for both means
    /// anyone may post (the caller only allows that with the insecure
    /// development flag). Timestamps are optional; see
    /// [`Authenticator::with_previous`] and [`Authenticator::with_replay_policy`].
    pub fn new(
        secret: Option<SecretString>,
        token: Option<SecretString>,
        allowed_networks: Vec<IpNet>,
    ) -> Self {
        Self {
            secrets: KeyRing::new([secret]),
            tokens: KeyRing::new([token]),
            allowed_networks,
            replay: ReplayPolicy::default(),
        }
    }

    /// Also accepts the previous secret and token, during a rotation.
    pub fn with_previous(
        mut self,
        secret: Option<SecretString>,
        token: Option<SecretString>,
    ) -> Self {
        self.secrets.0.extend(KeyRing::new([secret]).0);
        self.tokens.0.extend(KeyRing::new([token]).0);
        self
    }

    /// Sets how signed timestamps are enforced.
    pub fn with_replay_policy(mut self, replay: ReplayPolicy) -> Self {
        self.replay = replay;
        self
    }

    /// True when any credential is configured.
    pub fn requires_credentials(&self) -> bool {
        !self.secrets.is_empty() || !self.tokens.is_empty()
    }

    /// Checks the peer address against the allowlist (empty allows all).
    pub fn check_source(&self, peer: IpAddr) -> Result<(), AuthError> {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            IpAddr::V4(_) => peer,
        };
        if self.allowed_networks.is_empty()
            || self.allowed_networks.iter().any(|net| net.contains(&peer))
        {
            Ok(())
        } else {
            Err(AuthError::ForbiddenSource)
        }
    }

    /// Checks a request with `body` that presents a signature or a bearer
    /// token but no timestamp, as senders of the plain scheme do.
    pub fn check(
        &self,
        signature: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let presented = Presented {
            signature,
            timestamp: None,
            authorization,
        };
        self.verify(&presented, body, 0)
    }

    /// Checks the credentials of a request with `body`, received at
    /// `now_secs` (unix seconds).
    pub fn verify(
        &self,
        presented: &Presented<'_>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), AuthError> {
        if !self.requires_credentials() {
            return Ok(());
        }
        if let (false, Some(signature)) = (self.secrets.is_empty(), presented.signature) {
            return self.verify_signature(signature, presented.timestamp, body, now_secs);
        }
        if let (false, Some(authorization)) = (self.tokens.is_empty(), presented.authorization) {
            return self.verify_token(authorization);
        }
        Err(AuthError::Missing)
    }

    fn verify_signature(
        &self,
        signature: &str,
        timestamp: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), AuthError> {
        let presented = signature
            .trim()
            .strip_prefix(SIGNATURE_PREFIX)
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
            .ok_or(AuthError::Invalid)?;
        let Some(timestamp) = timestamp else {
            if self.replay.require_timestamp {
                return Err(AuthError::MissingTimestamp);
            }
            return if self
                .secrets
                .any(|key| mac(key, &[body]).as_slice().ct_eq(&presented))
            {
                Ok(())
            } else {
                Err(AuthError::Invalid)
            };
        };
        let signed_at = parse_timestamp(timestamp)?;
        let signed = [timestamp.as_bytes(), b".", body];
        if !self
            .secrets
            .any(|key| mac(key, &signed).as_slice().ct_eq(&presented))
        {
            return Err(AuthError::Invalid);
        }
        check_freshness(signed_at, now_secs, self.replay.tolerance)
    }

    fn verify_token(&self, authorization: &str) -> Result<(), AuthError> {
        let presented = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .ok_or(AuthError::Invalid)?;
        // Digests of equal length, so the comparison says nothing about the
        // token's length either.
        let presented = Sha256::digest(presented.trim().as_bytes());
        if self
            .tokens
            .any(|token| Sha256::digest(token).as_slice().ct_eq(presented.as_slice()))
        {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// Unix seconds: ASCII digits only (no sign, no fraction), at most 12.
fn parse_timestamp(timestamp: &str) -> Result<i64, AuthError> {
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|byte| byte.is_ascii_digit())
    {
        return Err(AuthError::MalformedTimestamp);
    }
    timestamp.parse().map_err(|_| AuthError::MalformedTimestamp)
}

/// Whether a request signed at `signed_at` and received at `now` is inside
/// the tolerance, either way.
fn check_freshness(signed_at: i64, now: i64, tolerance: Duration) -> Result<(), AuthError> {
    let tolerance_secs = tolerance.as_secs();
    let limit = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    let age = now.saturating_sub(signed_at);
    if age > limit {
        Err(AuthError::StaleTimestamp { tolerance_secs })
    } else if age < -limit {
        Err(AuthError::FutureTimestamp { tolerance_secs })
    } else {
        Ok(())
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The `X-Signature-256` value for `body` under `secret` (plain scheme); for
/// senders, tests and benchmarks.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(mac(secret.as_bytes(), &[body]))
    )
}

/// The `X-Signature-256` value for `body` sent with
/// `X-Signature-Timestamp: {timestamp}` (timestamped scheme).
pub fn sign_timestamped(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(mac(secret.as_bytes(), &[timestamp.as_bytes(), b".", body]))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn secret(value: &str) -> Option<SecretString> {
        Some(SecretString::from(value.to_owned()))
    }

    fn auth(secret_value: Option<&str>, token: Option<&str>) -> Authenticator {
        Authenticator::new(
            secret_value.and_then(secret),
            token.and_then(secret),
            Vec::new(),
        )
    }

    fn timestamped<'a>(signature: &'a str, timestamp: &'a str) -> Presented<'a> {
        Presented {
            signature: Some(signature),
            timestamp: Some(timestamp),
            authorization: None,
        }
    }

    #[test]
    fn a_correct_signature_passes_and_any_change_fails() {
        let auth = auth(Some("s3cret"), None);
        let body = br#"{"a":1}"#;
        let good = sign("s3cret", body);
        assert_eq!(auth.check(Some(&good), None, body), Ok(()));
        assert_eq!(
            auth.check(Some(&good), None, br#"{"a":2}"#),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(Some(&sign("other", body)), None, body),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(Some(&good[..good.len() - 2]), None, body),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(Some(good.trim_start_matches("sha256=")), None, body),
            Err(AuthError::Invalid)
        );
        assert_eq!(auth.check(None, None, body), Err(AuthError::Missing));
        assert_eq!(
            auth.check(None, Some("Bearer s3cret"), body),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn a_bearer_token_is_accepted_when_configured() {
        let auth = auth(None, Some("tok"));
        assert_eq!(auth.check(None, Some("Bearer tok"), b""), Ok(()));
        assert_eq!(
            auth.check(None, Some("Bearer nope"), b""),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(None, Some("Bearer tokk"), b""),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(None, Some("Basic tok"), b""),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn during_a_rotation_current_and_previous_secrets_pass_and_a_third_fails() {
        let auth = Authenticator::new(secret("new-key"), secret("new-token"), Vec::new())
            .with_previous(secret("old-key"), secret("old-token"));
        let body = br#"{"a":1}"#;
        for key in ["new-key", "old-key"] {
            assert_eq!(
                auth.check(Some(&sign(key, body)), None, body),
                Ok(()),
                "{key}"
            );
            let signature = sign_timestamped(key, NOW, body);
            assert_eq!(
                auth.verify(&timestamped(&signature, &NOW.to_string()), body, NOW),
                Ok(()),
                "{key}"
            );
        }
        for token in ["new-token", "old-token"] {
            let header = format!("Bearer {token}");
            assert_eq!(auth.check(None, Some(&header), body), Ok(()), "{token}");
        }
        assert_eq!(
            auth.check(Some(&sign("third-key", body)), None, body),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(None, Some("Bearer third-token"), body),
            Err(AuthError::Invalid)
        );
        // A secret is no token, and a token no secret.
        assert_eq!(
            auth.check(None, Some("Bearer old-key"), body),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(Some(&sign("old-token", body)), None, body),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn an_empty_previous_secret_is_no_secret() {
        let auth = Authenticator::new(secret("key"), None, Vec::new())
            .with_previous(secret(""), secret(""));
        assert_eq!(
            auth.check(Some(&sign("", b"x")), None, b"x"),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.check(None, Some("Bearer "), b"x"),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn a_timestamped_signature_covers_timestamp_and_body() {
        let auth = auth(Some("s3cret"), None);
        let body = br#"{"a":1}"#;
        let ts = NOW.to_string();
        let good = sign_timestamped("s3cret", NOW, body);
        assert_eq!(auth.verify(&timestamped(&good, &ts), body, NOW), Ok(()));
        // Another timestamp, another body, or the plain signature: invalid.
        let later = (NOW + 1).to_string();
        assert_eq!(
            auth.verify(&timestamped(&good, &later), body, NOW),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.verify(&timestamped(&good, &ts), br#"{"a":2}"#, NOW),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.verify(&timestamped(&sign("s3cret", body), &ts), body, NOW),
            Err(AuthError::Invalid)
        );
        // Without the timestamp header the timestamped signature is invalid.
        assert_eq!(auth.check(Some(&good), None, body), Err(AuthError::Invalid));
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused_either_way() {
        let auth = auth(Some("k"), None).with_replay_policy(ReplayPolicy {
            require_timestamp: true,
            tolerance: Duration::from_secs(300),
        });
        let body = b"{}";
        let at = |signed_at: i64| {
            let signature = sign_timestamped("k", signed_at, body);
            auth.verify(&timestamped(&signature, &signed_at.to_string()), body, NOW)
        };
        assert_eq!(at(NOW), Ok(()));
        assert_eq!(at(NOW - 300), Ok(()));
        assert_eq!(at(NOW + 300), Ok(()));
        let tolerance_secs = 300;
        assert_eq!(
            at(NOW - 301),
            Err(AuthError::StaleTimestamp { tolerance_secs })
        );
        assert_eq!(
            at(NOW + 301),
            Err(AuthError::FutureTimestamp { tolerance_secs })
        );
        assert_eq!(at(0), Err(AuthError::StaleTimestamp { tolerance_secs }));
    }

    #[test]
    fn a_required_timestamp_must_be_present_and_well_formed() {
        let required = auth(Some("k"), Some("tok")).with_replay_policy(ReplayPolicy {
            require_timestamp: true,
            ..ReplayPolicy::default()
        });
        let body = b"{}";
        assert_eq!(
            required.check(Some(&sign("k", body)), None, body),
            Err(AuthError::MissingTimestamp)
        );
        let signature = sign_timestamped("k", NOW, body);
        for bad in [
            "",
            "-1",
            "+1700000000",
            "1700000000.5",
            " 1700000000",
            "1e9",
            "9999999999999",
        ] {
            assert_eq!(
                required.verify(&timestamped(&signature, bad), body, NOW),
                Err(AuthError::MalformedTimestamp),
                "{bad:?}"
            );
        }
        // Bearer tokens sign nothing, so the timestamp rule is not theirs.
        assert_eq!(required.check(None, Some("Bearer tok"), body), Ok(()));
    }

    #[test]
    fn optional_timestamps_still_protect_the_senders_that_use_them() {
        let optional = auth(Some("k"), None);
        let body = b"{}";
        assert_eq!(optional.check(Some(&sign("k", body)), None, body), Ok(()));
        let old = NOW - 3600;
        let signature = sign_timestamped("k", old, body);
        assert_eq!(
            optional.verify(&timestamped(&signature, &old.to_string()), body, NOW),
            Err(AuthError::StaleTimestamp {
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn the_allowlist_limits_sources() {
        let auth = Authenticator::new(
            None,
            None,
            vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())],
        );
        assert!(
            auth.check_source("10.1.2.3".parse().unwrap_or_else(|_| unreachable!()))
                .is_ok()
        );
        assert!(
            auth.check_source("::ffff:10.1.2.3".parse().unwrap_or_else(|_| unreachable!()))
                .is_ok()
        );
        assert_eq!(
            auth.check_source("127.0.0.1".parse().unwrap_or_else(|_| unreachable!())),
            Err(AuthError::ForbiddenSource)
        );
    }

    proptest::proptest! {
        #[test]
        fn only_the_right_key_and_timestamp_verify(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            signed_at in 0_i64..4_000_000_000,
            skew in -600_i64..600,
        ) {
            let auth = auth(Some("k"), None);
            let signature = sign_timestamped("k", signed_at, &body);
            let result = auth.verify(&timestamped(&signature, &signed_at.to_string()), &body, signed_at + skew);
            proptest::prop_assert_eq!(result.is_ok(), skew.abs() <= 300);
            let forged = sign_timestamped("other", signed_at, &body);
            proptest::prop_assert!(auth.verify(&timestamped(&forged, &signed_at.to_string()), &body, signed_at).is_err());
        }
    }
}
