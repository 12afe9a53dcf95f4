use survey_filter::{FilterConfig, config::ENV_ALIASES};
use survey_runtime::shutdown::bounded;
use survey_runtime::{Shutdown, load_config, telemetry};

/// mimalloc instead of glibc malloc: this stage allocates per record at tens
/// of thousands of records/s, and malloc was a fifth of ingest's CPU under
/// load. The enricher and notifier, bound by their external calls, keep the
/// system allocator and its smaller footprint.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("filter");
    let config: FilterConfig = load_config(ENV_ALIASES)?;
    let bound = config.shutdown_timeout;
    let shutdown = Shutdown::on_signals();
    let filter = survey_filter::start(config, shutdown.clone()).await?;
    bounded(filter.wait(), &shutdown, bound).await
}
