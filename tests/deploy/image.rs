//! The Dockerfile builds every binary the deployments run, and ships the
//! notifier's templates where the deployments point TEMPLATES_DIR.

use crate::services::Service;
use crate::support::{self, assert_no_problems};

const DOCKERFILE: &str = "Dockerfile";

/// The binaries the image carries: the `for bin in ...; do` list.
fn image_binaries(dockerfile: &str) -> Vec<String> {
    dockerfile
        .lines()
        .find_map(|line| line.trim().strip_prefix("&& for bin in"))
        .and_then(|rest| rest.split_once(';'))
        .map(|(list, _)| list.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn the_image_carries_every_binary_the_deployments_run() {
    let dockerfile = support::read(DOCKERFILE);
    let binaries = image_binaries(&dockerfile);
    let mut problems = Vec::new();
    let needed = Service::ALL
        .iter()
        .map(|service| service.binary())
        .chain(["survey-ctl", "survey-sandbox"]);
    for binary in needed {
        if !binaries.iter().any(|b| b == binary) {
            problems.push(format!(
                "{binary} is not copied into the image ({binaries:?})"
            ));
        }
        if !dockerfile.contains(&format!("-p {binary}")) {
            problems.push(format!("{binary} is not built (`-p {binary}`)"));
        }
    }
    assert_no_problems(DOCKERFILE, &problems);
}

#[test]
fn the_image_ships_the_templates_where_templates_dir_points() {
    let dockerfile = support::read(DOCKERFILE);
    let copy = dockerfile
        .lines()
        .find(|line| line.starts_with("COPY services/notifier/templates/"))
        .unwrap_or_else(|| panic!("{DOCKERFILE} does not copy services/notifier/templates/"));
    let destination = copy.split_whitespace().last().unwrap_or_default();
    let mut problems = Vec::new();
    for template in [
        survey_notifier::templates::SLACK,
        survey_notifier::templates::TEAMS,
        survey_notifier::templates::EMAIL_SUBJECT,
        survey_notifier::templates::EMAIL_TEXT,
        survey_notifier::templates::EMAIL_HTML,
    ] {
        if !support::repo_root()
            .join("services/notifier/templates")
            .join(template)
            .is_file()
        {
            problems.push(format!("services/notifier/templates/{template} is missing"));
        }
    }
    let compose = support::read_yaml("docker-compose.yml");
    let templates_dir = support::str_at(
        &compose,
        &["services", "notifier", "environment", "TEMPLATES_DIR"],
    );
    if templates_dir
        .map(|dir| format!("{}/", dir.trim_end_matches('/')))
        .as_deref()
        != Some(destination)
    {
        problems.push(format!(
            "docker-compose.yml's TEMPLATES_DIR {templates_dir:?} is not where the image puts \
             the templates ({destination})"
        ));
    }
    assert_no_problems(DOCKERFILE, &problems);
}
