//! Arbitrary bytes through what ingest does with a webhook request: the
//! signature check (`Authenticator::check`, with the input's first line as the
//! `X-Signature-256` or `Authorization` value and the rest as the body) and
//! validation (`serde_json::from_slice`, then `parse_survey`). Nothing may
//! panic; the body's own signature must pass; an accepted survey must have a
//! score from 1 to 5 and no NUL in its strings. The full list of invariants is
//! checked by the bounded proptest in `src/webhook.rs`.
//!
//! `cargo xtask fuzz [--seconds N]` runs it on the stable toolchain, seeded
//! with the hostile corpus (`tests/corpus/bodies`); `cargo xtask test` runs it
//! for 30 seconds.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use survey_ingest::auth::{Authenticator, sign};
use survey_ingest::webhook::{TimeBounds, parse_survey};

const SECRET: &str = "fuzz-webhook-secret";
/// A fixed receive time keeps runs reproducible: 2023-10-27T10:01:00Z.
const NOW: i64 = 1_698_400_860_000;
const BOUNDS: TimeBounds = TimeBounds {
    max_future_millis: 300_000,
    max_age_millis: 7 * 24 * 3_600_000,
};

static AUTH: LazyLock<Authenticator> = LazyLock::new(|| {
    Authenticator::new(
        Some(SecretString::from(SECRET.to_owned())),
        Some(SecretString::from("fuzz-token".to_owned())),
        Vec::new(),
    )
});

fuzz_target!(|data: &[u8]| {
    let (line, body) = match data.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (&[][..], data),
    };
    if let Ok(line) = std::str::from_utf8(line) {
        if AUTH.check(Some(line), None, body).is_ok() {
            assert!(line.trim().eq_ignore_ascii_case(&sign(SECRET, body)));
        }
        let _ = AUTH.check(None, Some(line), body);
    }
    assert!(AUTH.check(Some(&sign(SECRET, body)), None, body).is_ok());

    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(survey) = parse_survey(&value, NOW, BOUNDS) {
        assert!((1..=5).contains(&survey.csat), "csat {}", survey.csat);
        let texts = [&survey.response_id, &survey.event, &survey.interaction_id]
            .into_iter()
            .chain(
                [
                    &survey.survey_id,
                    &survey.comment,
                    &survey.queue_id,
                    &survey.agent_id,
                    &survey.agent_name,
                ]
                .into_iter()
                .flatten(),
            )
            .chain(survey.other_answers.iter().flat_map(|(k, v)| [k, v]));
        for text in texts {
            assert!(!text.contains('\0'), "NUL in {text:?}");
        }
    }
});
