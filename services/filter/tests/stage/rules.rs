use std::collections::BTreeSet;

use survey_contracts::topics;
use survey_test_support::samples::raw_survey;

use crate::helpers::{ARRIVAL, Harness, QUIET};

#[tokio::test]
async fn threshold_queue_override_and_keywords_decide_what_is_forwarded() {
    let harness = Harness::new().await;
    let mut config = harness.config();
    config.rules.queue_thresholds.insert("vip".to_owned(), 4);
    let (filter, shutdown) = harness.start(config).await;

    let cases = [
        ("low-2", 2, None, "general", true),
        ("low-1", 1, None, "general", true),
        ("ok-3", 3, None, "general", false),
        ("happy-5", 5, Some("great service"), "general", false),
        ("vip-3", 3, None, "vip", true),
        ("vip-4", 4, None, "vip", false),
        (
            "keyword",
            5,
            Some("Honestly UNPROFESSIONAL."),
            "general",
            true,
        ),
        ("lawsuit", 4, Some("expect a lawsuit"), "general", true),
        (
            "negated",
            4,
            Some("the agent was not rude"),
            "general",
            false,
        ),
        ("substring", 4, Some("a prudent answer"), "general", false),
    ];
    for (id, csat, comment, queue, _) in &cases {
        harness
            .send_raw(&raw_survey(id, *csat, *comment, queue))
            .await;
    }
    let expected: BTreeSet<&str> = cases.iter().filter(|c| c.4).map(|c| c.0).collect();

    let reader = harness.reader(&topics::SURVEY_RESPONSES_ACTIONABLE);
    let mut records = reader.read(expected.len(), ARRIVAL).await;
    records.extend(reader.read_all(QUIET).await);
    let actionable = harness.actionable(&records).await;
    let forwarded: BTreeSet<&str> = actionable
        .iter()
        .map(|a| a.survey.response_id.as_str())
        .collect();
    assert_eq!(forwarded, expected);
    assert_eq!(actionable.len(), expected.len());

    let keyword = actionable
        .iter()
        .find(|a| a.survey.response_id == "keyword");
    let reasons: Vec<_> = keyword.map(|a| a.reasons.clone()).unwrap_or_default();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].code, "critical_keyword");
    assert_eq!(reasons[0].detail, "unprofessional");

    assert_eq!(filter.stats.dropped_total("not_actionable"), 5);
    shutdown.trigger();
    filter.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
