use clap::Parser;
use rdkafka::message::Message;
use survey_contracts::topics::QUEUE_DIRECTORY;
use survey_contracts::{AvroCodec, QueueDirectoryEntry};
use survey_ctl::cli::{Cli, Command, DirectoryCommand};
use survey_ctl::commands::directory;
use survey_sandbox::{Sandbox, SandboxConfig, demo};
use survey_test_support::TopicReader;

use crate::helpers::{ARRIVAL, QUIET, ok, provisioned};

#[tokio::test]
async fn sync_writes_one_entry_per_routing_file_queue_with_names_from_genesys() {
    let kafka = provisioned(&[QUEUE_DIRECTORY]).await;
    let sandbox = ok(Sandbox::start(SandboxConfig {
        quiet: true,
        ..SandboxConfig::default()
    })
    .await);
    let routing_file =
        std::env::temp_dir().join(format!("ctl-routing-{}.yaml", kafka.topic_prefix));
    let routing = format!(
        r##"
default: {{ slack: "#cx-alerts" }}
queues:
  "{billing}":
    supervisors: ["{maria}", "{james}"]
    slack: "#billing-supervisors"
    coaching: true
  "q-local":
    name: Local Queue
    emails: [local-leads@example.com]
"##,
        billing = demo::BILLING_QUEUE_ID,
        maria = demo::SUPERVISOR_MARIA_ID,
        james = demo::SUPERVISOR_JAMES_ID,
    );
    ok(std::fs::write(&routing_file, routing).map_err(Into::into));

    // The flags (or the enricher's variables) make the Genesys settings.
    let base = sandbox.base_url();
    let path = routing_file.to_string_lossy().into_owned();
    let argv = [
        "survey-ctl",
        "directory",
        "sync",
        "--routing-file",
        &path,
        "--genesys-api-url",
        &base,
        "--genesys-login-url",
        &base,
        "--genesys-client-id",
        "survey-alerts-test",
        "--genesys-client-secret",
        "test-secret",
    ];
    let args = match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Command::Directory {
            action: DirectoryCommand::Sync(args),
        }) => args,
        other => panic!("{other:?}"),
    };
    let report = ok(directory::sync(&kafka, args.genesys(), &args.routing_file).await);
    assert_eq!(report.entries, 2, "{report}");
    assert_eq!(report.topic, kafka.topology().topic(&QUEUE_DIRECTORY));

    let reader = ok(TopicReader::new(&kafka, &report.topic));
    let records = reader.read(2, ARRIVAL).await;
    assert_eq!(records.len(), 2);
    assert!(
        reader.read_all(QUIET).await.is_empty(),
        "one entry per queue"
    );
    let codec = AvroCodec::registry(&kafka.schema_registry_url);
    let mut entries = Vec::new();
    for record in &records {
        let entry: QueueDirectoryEntry = ok(codec
            .decode(record.payload().unwrap_or_default())
            .await
            .map_err(Into::into));
        assert_eq!(record.key(), Some(entry.queue_id.as_bytes()));
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.queue_id.cmp(&b.queue_id));
    let billing = &entries[0];
    assert_eq!(billing.queue_id, demo::BILLING_QUEUE_ID);
    assert_eq!(billing.name.as_deref(), Some(demo::BILLING_QUEUE_NAME));
    assert!(billing.coaching);
    let supervisors: Vec<Option<&str>> = billing
        .supervisors
        .iter()
        .map(|p| p.name.as_deref())
        .collect();
    assert_eq!(supervisors, [Some("Maria Lopez"), Some("James Okafor")]);
    let local = &entries[1];
    assert_eq!(local.queue_id, "q-local");
    assert_eq!(local.name.as_deref(), Some("Local Queue"));
    assert_eq!(local.targets.len(), 1);

    let _ = std::fs::remove_file(&routing_file);
    sandbox.shutdown().await;
}
