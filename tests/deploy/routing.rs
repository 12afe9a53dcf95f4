//! Routing files: the enricher's parser, and what the notifier must know
//! to deliver what they name.

use std::collections::BTreeSet;

use survey_enricher::routing_file::RoutingFile;

/// Parses a routing file's text with the enricher's own parser.
pub fn parse(text: &str, place: &str) -> RoutingFile {
    RoutingFile::parse(text).unwrap_or_else(|e| panic!("{place}: {e:#}"))
}

/// The Teams webhook names a routing file uses.
pub fn teams_names(file: &RoutingFile) -> BTreeSet<String> {
    [&file.default, &file.bot_team]
        .into_iter()
        .chain(file.queues.values().map(|queue| &queue.destinations))
        .filter_map(|destinations| destinations.teams.clone())
        .collect()
}

/// The variable that gives the notifier the URL of the Teams webhook `name`.
pub fn teams_webhook_variable(name: &str) -> String {
    format!("SURVEY_ALERTS__TEAMS__WEBHOOKS__{}", name.to_uppercase())
}

/// Problems with the Teams names of `file`, given the variables the
/// notifier gets.
pub fn check_teams_webhooks(
    file: &RoutingFile,
    notifier_vars: &[String],
    place: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in teams_names(file) {
        if name != name.to_lowercase() {
            problems.push(format!(
                "{place}: Teams webhook name {name:?} must be lower case: the config crate \
                 lower-cases environment keys, so no variable could set it"
            ));
        }
        let variable = teams_webhook_variable(&name);
        if !notifier_vars.contains(&variable) {
            problems.push(format!(
                "{place}: the routing file sends to Teams webhook {name:?}, but the notifier has \
                 no {variable}"
            ));
        }
    }
    problems
}
