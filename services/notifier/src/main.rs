use survey_notifier::{NotifierConfig, config::ENV_ALIASES};
use survey_runtime::{Shutdown, load_config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("notifier");
    let config: NotifierConfig = load_config(ENV_ALIASES)?;
    let shutdown = Shutdown::on_signals();
    survey_notifier::start(config, shutdown).await?.wait().await
}
