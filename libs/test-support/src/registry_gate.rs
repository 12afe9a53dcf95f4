//! A pass-through in front of the real schema registry whose subject
//! lookups can be refused: the way a test makes the registry go down for
//! the encoding side while schemas already fetched by id keep working.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Bodies the gate forwards are schemas, never large.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// A running gate; dropping it stops it.
#[derive(Debug)]
pub struct RegistryGate {
    /// The registry URL to give the code under test (same path as upstream).
    pub url: String,
    refuse_subjects: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    origin: String,
    client: reqwest::Client,
    refuse_subjects: Arc<AtomicBool>,
}

impl RegistryGate {
    /// Starts a gate on 127.0.0.1 in front of `upstream`, a registry URL such
    /// as `http://127.0.0.1:18081/apis/ccompat/v7`.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(upstream)?;
        let origin = parsed.origin().ascii_serialization();
        let refuse_subjects = Arc::new(AtomicBool::new(false));
        let state = Upstream {
            origin,
            client: reqwest::Client::new(),
            refuse_subjects: Arc::clone(&refuse_subjects),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!(
                "http://127.0.0.1:{port}{}",
                parsed.path().trim_end_matches('/')
            ),
            refuse_subjects,
            server,
        })
    }

    /// While `refuse` is set, every request about a subject (what an encoder
    /// asks for) is answered 503; schema lookups by id still pass.
    pub fn refuse_subject_lookups(&self, refuse: bool) {
        self.refuse_subjects.store(refuse, Ordering::SeqCst);
    }
}

impl Drop for RegistryGate {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if upstream.refuse_subjects.load(Ordering::SeqCst) && path.contains("/subjects") {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error_code":50301,"message":"registry gate closed"}"#,
        )
            .into_response();
    }
    let method = request.method().clone();
    let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(body) = to_bytes(request.into_body(), BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut call = upstream
        .client
        .request(method, format!("{}{path}", upstream.origin))
        .body(body);
    if let Some(content_type) = content_type {
        call = call.header(header::CONTENT_TYPE, content_type);
    }
    match call.send().await {
        Ok(answer) => {
            let status = answer.status();
            let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
