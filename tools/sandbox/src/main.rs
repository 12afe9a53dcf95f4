//! `survey-sandbox`: serves the Genesys Cloud, Slack, Teams and SMTP fakes
//! until Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use clap::Parser;
use survey_sandbox::{Sandbox, SandboxConfig, Seed};

/// Local fakes of Genesys Cloud, Slack, Teams and SMTP.
#[derive(Debug, Parser)]
#[command(name = "survey-sandbox", version, about)]
struct Args {
    /// HTTP listen address (Genesys login + API, Slack, Teams, control, page).
    #[arg(long, env = "SANDBOX_HTTP_ADDR", default_value = "127.0.0.1:8090")]
    http: SocketAddr,
    /// SMTP listen address.
    #[arg(long, env = "SANDBOX_SMTP_ADDR", default_value = "127.0.0.1:2525")]
    smtp: SocketAddr,
    /// Initial data: `demo` or `empty`.
    #[arg(long, env = "SANDBOX_SEED", default_value_t = Seed::Demo)]
    seed: Seed,
    /// Don't print one line per delivery.
    #[arg(long, env = "SANDBOX_QUIET")]
    quiet: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let sandbox = Sandbox::start(SandboxConfig {
        http_addr: args.http,
        smtp_addr: args.smtp,
        seed: args.seed,
        quiet: args.quiet,
    })
    .await?;
    println!("survey-sandbox listening");
    println!(
        "  base URL (Genesys login + API, Slack, Teams): {}",
        sandbox.base_url()
    );
    println!(
        "  deliveries page:                              {}/",
        sandbox.base_url()
    );
    println!(
        "  SMTP:                                         {}",
        sandbox.smtp_addr()
    );
    println!(
        "  seed:                                         {}",
        args.seed
    );
    wait_for_signal().await;
    println!("survey-sandbox stopping");
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
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
