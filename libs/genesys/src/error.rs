//! The one error type of the client, sorted at the boundary into retriable
//! and fatal.

/// What went wrong talking to Genesys Cloud.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesysError {
    /// Genesys Cloud could not answer now: a 5xx, a timeout, a transport
    /// failure, or a 429 that outlasted every attempt. Retriable.
    #[error("Genesys Cloud is unavailable: {0}")]
    Unavailable(String),
    /// The resource does not exist (404). Callers that treat absence as an
    /// answer get `Ok(None)` instead.
    #[error("Genesys Cloud has no such resource")]
    NotFound,
    /// Genesys Cloud refused the request (a 4xx other than 404 and 429).
    /// Fatal: sending it again gives the same answer.
    #[error("Genesys Cloud rejected the request with status {status}: {message}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The `message` of Genesys Cloud's error body, or a short excerpt.
        message: String,
    },
    /// The token endpoint refused the client credentials. Fatal until the
    /// configuration changes.
    #[error("Genesys Cloud refused the client credentials: {0}")]
    Auth(String),
    /// A response did not have the documented shape.
    #[error("unexpected Genesys Cloud response: {0}")]
    Decode(String),
    /// The client configuration cannot work (for example a zero rate limit).
    #[error("invalid Genesys Cloud client configuration: {0}")]
    InvalidConfig(String),
}

impl GenesysError {
    /// True when the same call may succeed later.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::GenesysError;

    #[test]
    fn only_unavailable_is_retriable() {
        assert!(GenesysError::Unavailable("timeout".into()).is_retriable());
        for fatal in [
            GenesysError::NotFound,
            GenesysError::Rejected {
                status: 400,
                message: "bad".into(),
            },
            GenesysError::Auth("invalid_client".into()),
            GenesysError::Decode("eof".into()),
            GenesysError::InvalidConfig("zero".into()),
        ] {
            assert!(!fatal.is_retriable(), "{fatal} must be fatal");
        }
    }

    #[test]
    fn display_is_a_sentence_not_debug() {
        let error = GenesysError::Rejected {
            status: 403,
            message: "missing permission coaching:appointment:add".into(),
        };
        assert_eq!(
            error.to_string(),
            "Genesys Cloud rejected the request with status 403: missing permission coaching:appointment:add"
        );
    }
}
