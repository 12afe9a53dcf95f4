use survey_notifier::{NotifierConfig, config::ENV_ALIASES};
use survey_runtime::shutdown::bounded;
use survey_runtime::{Shutdown, load_config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("notifier");
    let config: NotifierConfig = load_config(ENV_ALIASES)?;
    let bound = config.shutdown_timeout;
    let shutdown = Shutdown::on_signals();
    let notifier = survey_notifier::start(config, shutdown.clone()).await?;
    bounded(notifier.wait(), &shutdown, bound).await
}
