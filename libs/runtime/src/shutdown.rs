//! One shutdown token per process: SIGTERM, Ctrl-C or a failed task cancels
//! it, and every loop watches it.

use tokio_util::sync::CancellationToken;

/// The process-wide shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A token that nothing has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token cancelled by SIGTERM or Ctrl-C as well.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received");
            token.cancel();
        });
        shutdown
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// True once shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when shutdown starts.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// A signal that starts with this one, and can also be triggered alone
    /// (to stop one loop's work without stopping the process).
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
        }
    }

    /// A child token for a task that must also stop on its own.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// Waits for `service` to finish; once `shutdown` has started, waits at
/// most `bound` more. A service that overruns is reported as an error, so
/// the process exits non-zero and the orchestrator knows.
pub async fn bounded<F>(
    service: F,
    shutdown: &Shutdown,
    bound: std::time::Duration,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    tokio::pin!(service);
    tokio::select! {
        outcome = &mut service => return outcome,
        () = shutdown.triggered() => {}
    }
    match tokio::time::timeout(bound, service).await {
        Ok(outcome) => outcome,
        Err(_) => anyhow::bail!("did not stop within {bound:?} of the shutdown signal"),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
