//! Who may post webhooks: an HMAC-SHA256 signature of the raw body
//! (`X-Signature-256: sha256=<hex>`), or a static bearer token for senders
//! that cannot sign, and optionally only from allowed networks. Every
//! comparison of a secret runs in constant time.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-signature-256";
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
}

/// The configured ways in.
#[derive(Debug, Clone)]
pub struct Authenticator {
    secret: Option<SecretString>,
    token: Option<SecretString>,
    allowed_networks: Vec<IpNet>,
}

impl Authenticator {
    /// An authenticator; `None` for both secrets means anyone may post (the
    /// caller only allows that with the insecure development flag).
    pub fn new(
        secret: Option<SecretString>,
        token: Option<SecretString>,
        allowed_networks: Vec<IpNet>,
    ) -> Self {
        Self {
            secret: secret.filter(|s| !s.expose_secret().is_empty()),
            token: token.filter(|t| !t.expose_secret().is_empty()),
            allowed_networks,
        }
    }

    /// True when any credential is configured.
    pub fn requires_credentials(&self) -> bool {
        self.secret.is_some() || self.token.is_some()
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

    /// Checks the credentials of a request with `body`.
    pub fn check(
        &self,
        signature: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(), AuthError> {
        if !self.requires_credentials() {
            return Ok(());
        }
        if let (Some(secret), Some(signature)) = (&self.secret, signature) {
            return verify_signature(secret, signature, body);
        }
        if let (Some(token), Some(authorization)) = (&self.token, authorization) {
            let presented = authorization
                .strip_prefix("Bearer ")
                .or_else(|| authorization.strip_prefix("bearer "))
                .ok_or(AuthError::Invalid)?;
            let expected = token.expose_secret().as_bytes();
            return if bool::from(presented.trim().as_bytes().ct_eq(expected)) {
                Ok(())
            } else {
                Err(AuthError::Invalid)
            };
        }
        Err(AuthError::Missing)
    }
}

fn verify_signature(secret: &SecretString, signature: &str, body: &[u8]) -> Result<(), AuthError> {
    let hex_digest = signature
        .trim()
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(AuthError::Invalid)?;
    let presented = hex::decode(hex_digest).map_err(|_| AuthError::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| AuthError::Invalid)?;
    mac.update(body);
    mac.verify_slice(&presented).map_err(|_| AuthError::Invalid)
}

/// The `X-Signature-256` value for `body` under `secret`; for senders, tests
/// and benchmarks.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: Option<&str>, token: Option<&str>) -> Authenticator {
        Authenticator::new(
            secret.map(|s| SecretString::from(s.to_owned())),
            token.map(|t| SecretString::from(t.to_owned())),
            Vec::new(),
        )
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
            auth.check(None, Some("Basic tok"), b""),
            Err(AuthError::Invalid)
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
}
