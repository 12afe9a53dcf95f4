//! Every error the webhook endpoint answers with, and its status code. Bodies
//! are `{"error": ..., "field": ...}`; 5xx bodies name no internals.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::limits::LimitError;
use crate::webhook::ValidationError;

/// A failed webhook request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A field is missing or wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The content type is not JSON.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// The body exceeds the limit.
    #[error("body exceeds {0} bytes")]
    TooLarge(usize),
    /// Credentials missing, wrong, stale, or from a disallowed network.
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// Headers too large or too many, or the source sends too fast.
    #[error(transparent)]
    Limited(#[from] LimitError),
    /// Kafka (or the registry) did not acknowledge in time; the sender should
    /// retry after the given seconds.
    #[error("temporarily unavailable")]
    Unavailable {
        /// Seconds for `Retry-After`.
        retry_after_secs: u32,
    },
    /// The route exists, but not for this method.
    #[error("method not allowed; POST JSON to /webhooks/survey")]
    MethodNotAllowed,
    /// No such route.
    #[error("not found; POST JSON to /webhooks/survey")]
    NotFound,
    /// A bug or a configuration error on our side.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The status code this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(AuthError::ForbiddenSource) => StatusCode::FORBIDDEN,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Limited(LimitError::RateLimited { .. }) => StatusCode::TOO_MANY_REQUESTS,
            Self::Limited(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let field = match &self {
            Self::Invalid(error) => Some(error.field.clone()),
            _ => None,
        };
        let message = match &self {
            Self::Invalid(error) => error.message.clone(),
            other => other.to_string(),
        };
        let mut response = (
            self.status(),
            Json(json!({ "error": message, "field": field })),
        )
            .into_response();
        let retry_after = match self {
            Self::Unavailable { retry_after_secs } => Some(u64::from(retry_after_secs)),
            Self::Limited(LimitError::RateLimited { retry_after_secs }) => Some(retry_after_secs),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, Self::Unauthorized(error) if error != AuthError::ForbiddenSource) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
