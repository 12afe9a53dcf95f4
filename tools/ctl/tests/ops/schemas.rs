use survey_contracts::Topology;
use survey_contracts::registry_admin::RegistryAdmin;
use survey_contracts::schemas::SURVEY_RESPONSE;
use survey_contracts::topics::{ALL, SURVEY_RESPONSES_RAW, ValueFormat};
use survey_ctl::commands::schemas::{self, Candidate, Verdict};

use crate::helpers::ok;

#[tokio::test]
async fn register_puts_every_schema_under_its_subject_with_its_compatibility() {
    let kafka = survey_test_support::kafka_settings();
    let topology = kafka.topology();
    let url = &kafka.schema_registry_url;
    let avro_topics = ALL
        .iter()
        .filter(|spec| matches!(spec.value, ValueFormat::Avro(_)))
        .count();

    let before = ok(schemas::check(url, &schemas::embedded(&topology)).await);
    assert_eq!(before.checked.len(), avro_topics);
    assert!(
        before.checked.iter().all(|c| c.verdict == Verdict::New),
        "{before}"
    );
    assert!(before.incompatible().is_empty());

    let report = ok(schemas::register(url, &topology).await);
    assert_eq!(report.registered.len(), avro_topics, "{report}");
    let admin = RegistryAdmin::new(url);
    for entry in &report.registered {
        assert!(entry.subject.starts_with(topology.prefix()));
        assert!(entry.subject.ends_with("-value"));
        let level = ok(admin
            .compatibility(&entry.subject)
            .await
            .map_err(Into::into));
        assert_eq!(level, entry.compatibility, "{}", entry.subject);
    }
    let alerts = report
        .registered
        .iter()
        .find(|e| e.source == "enriched-alert.avsc")
        .map(|e| e.compatibility);
    assert_eq!(alerts, Some("FULL_TRANSITIVE"));

    // Registering again changes nothing.
    let again = ok(schemas::register(url, &topology).await);
    assert_eq!(again, report);

    let after = ok(schemas::check(url, &schemas::embedded(&topology)).await);
    assert!(
        after
            .checked
            .iter()
            .all(|c| c.verdict == Verdict::Compatible { latest: 1 }),
        "{after}"
    );
    assert!(
        after
            .to_string()
            .contains(&format!("all {avro_topics} schemas can be registered"))
    );
}

/// The raw survey schema with a new field that has no default: old records
/// cannot be read with it, so BACKWARD compatibility refuses it.
fn with_required_field(text: &str) -> String {
    let mut schema: serde_json::Value = ok(serde_json::from_str(text).map_err(Into::into));
    let field = serde_json::json!({
        "name": "mandatoryNewField",
        "type": "string",
        "doc": "Added without a default."
    });
    match schema["fields"].as_array_mut() {
        Some(fields) => fields.push(field),
        None => panic!("no fields in {text}"),
    }
    schema.to_string()
}

#[tokio::test]
async fn check_flags_a_schema_the_registry_would_refuse() {
    let kafka = survey_test_support::kafka_settings();
    let topology = Topology::with_prefix(kafka.topic_prefix.clone());
    let subject = topology.value_subject(&SURVEY_RESPONSES_RAW);
    ok(RegistryAdmin::new(&kafka.schema_registry_url)
        .register(&subject, &SURVEY_RESPONSE)
        .await
        .map_err(Into::into));

    let candidates = [
        Candidate {
            subject: subject.clone(),
            source: "incompatible.avsc".to_owned(),
            text: with_required_field(SURVEY_RESPONSE.text),
        },
        Candidate {
            subject: subject.clone(),
            source: SURVEY_RESPONSE.file.to_owned(),
            text: SURVEY_RESPONSE.text.to_owned(),
        },
        Candidate {
            subject: format!("{}never-registered-value", topology.prefix()),
            source: SURVEY_RESPONSE.file.to_owned(),
            text: with_required_field(SURVEY_RESPONSE.text),
        },
    ];
    let report = ok(schemas::check(&kafka.schema_registry_url, &candidates).await);
    let verdicts: Vec<&Verdict> = report.checked.iter().map(|c| &c.verdict).collect();
    assert!(
        matches!(verdicts[0], Verdict::Incompatible { latest: 1, .. }),
        "{report}"
    );
    assert_eq!(verdicts[1], &Verdict::Compatible { latest: 1 });
    assert_eq!(verdicts[2], &Verdict::New);
    assert_eq!(report.incompatible(), vec![subject.as_str()]);
    let text = report.to_string();
    assert!(
        text.contains("| incompatible.avsc | v1 | INCOMPATIBLE |"),
        "{text}"
    );
    assert!(text.contains("1 of 3 schemas are incompatible"), "{text}");
}
