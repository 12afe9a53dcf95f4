use survey_ingest::{Application, IngestConfig, config::ENV_ALIASES};
use survey_runtime::{Shutdown, load_config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("ingest");
    let config: IngestConfig = load_config(ENV_ALIASES)?;
    let shutdown = Shutdown::on_signals();
    Application::build(config)
        .await?
        .run_until_stopped(shutdown)
        .await
}
