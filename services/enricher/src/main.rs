use anyhow::Context;
use survey_enricher::{EnricherConfig, config::ENV_ALIASES};
use survey_genesys::GenesysClient;
use survey_runtime::shutdown::bounded;
use survey_runtime::{Shutdown, load_config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("enricher");
    let config: EnricherConfig = load_config(ENV_ALIASES)?;
    match std::env::args().nth(1).as_deref() {
        None | Some("run") => {
            let bound = config.shutdown_timeout;
            let shutdown = Shutdown::on_signals();
            let enricher = survey_enricher::start(config, shutdown.clone()).await?;
            bounded(enricher.wait(), &shutdown, bound).await
        }
        Some("sync-directory") => {
            let routing_file = survey_enricher::app::routing_file(&config)?;
            let genesys =
                GenesysClient::new(config.genesys).context("configuring the Genesys client")?;
            let written =
                survey_enricher::sync::sync_directory(&config.kafka, &genesys, &routing_file, None)
                    .await?;
            println!("wrote {written} queue entries to the directory topic");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command {other}; use `run` or `sync-directory`"),
    }
}
