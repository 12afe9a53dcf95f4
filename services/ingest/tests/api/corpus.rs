//! The hostile-webhook corpus (`tests/corpus/`, described in its README).
//!
//! Every case is written to a running ingest as hand-made HTTP/1.1 over a
//! plain TCP connection, so that bodies, headers and framing can be anything
//! (invalid UTF-8, NUL bytes, duplicated or oversized headers, broken chunked
//! encoding). Each case must get its 4xx with a JSON error; afterwards nothing
//! may be on the raw topic and `/healthz` must still answer. All mismatches are
//! collected and reported together.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use survey_ingest::auth::sign;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{SECRET, spawn_app};

/// The corpus must not quietly shrink.
const MIN_CASES: usize = 100;
/// How long one exchange may take before it counts as a hang.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);
/// The body every `replayed` signature is computed over.
const REPLAY_SOURCE: &str = "bodies/valid.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    cases: Vec<Case>,
}

/// One hostile request and the answer it must get. Defaults describe a
/// correctly signed JSON POST to the webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Body template, relative to the corpus directory; none sends no body.
    #[serde(default)]
    body: Option<String>,
    /// `null` sends no Content-Type header.
    #[serde(default = "json_content_type")]
    content_type: Option<String>,
    #[serde(default)]
    signature: Signature,
    /// Extra header lines, in order, after the ones above.
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default = "post")]
    method: String,
    #[serde(default = "webhook_path")]
    path: String,
    #[serde(default)]
    framing: Framing,
    /// Declared Content-Length in place of the real one.
    #[serde(default)]
    content_length: Option<u64>,
    status: u16,
    /// Expected `field` of the JSON error; absent means `null`.
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    error_contains: Option<String>,
    /// False where the HTTP stack refuses the request before ingest sees it.
    #[serde(default = "yes")]
    json_error: bool,
    /// Expected length of the expanded body, for cases about size limits.
    #[serde(default)]
    body_len: Option<usize>,
    #[serde(default)]
    note: Option<String>,
    /// The expectation is right and the service is not (yet): reported, not
    /// failed, and failed once the case passes so the marker goes away.
    #[serde(default)]
    known_gap: Option<String>,
}

fn json_content_type() -> Option<String> {
    Some("application/json".to_owned())
}

fn post() -> String {
    "POST".to_owned()
}

fn webhook_path() -> String {
    "/webhooks/survey".to_owned()
}

fn yes() -> bool {
    true
}

/// What goes into `X-Signature-256`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Signature {
    /// `sha256=<hex>` of the body under the test secret.
    #[default]
    Valid,
    /// No signature header.
    None,
    WrongSecret,
    /// The valid value without its last two hex digits.
    Truncated,
    /// The valid value without its last hex digit.
    TruncatedOdd,
    /// Valid for `bodies/valid.json`, not for the body sent.
    Replayed,
    /// `sha256=` and 64 characters that are not hex.
    Garbled,
    UppercasePrefix,
    NoPrefix,
    Empty,
    PrefixOnly,
    /// The right digest under a `sha1=` prefix.
    OtherAlgorithm,
    /// The valid value with an extra byte appended.
    Extended,
}

/// How the body is framed on the wire.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Framing {
    #[default]
    ContentLength,
    Chunked,
    /// Neither header is added; the body is written as it is (for cases that
    /// bring their own `transfer-encoding` and raw chunks).
    None,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn load_manifest() -> Manifest {
    let path = corpus_dir().join("cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the placeholders of a template expand to.
struct Expansion {
    now_millis: i64,
    /// The signature of the expanded body, for `${sig}` in header values.
    signature: Option<String>,
}

/// Expands `${now}`, `${now+S}`, `${now-S}` (RFC 3339, milliseconds, UTC, S
/// seconds away), `${repeat N HEX}` (the bytes HEX, N times), `${bytes HEX}`
/// and, in header values, `${sig}`. Everything else is copied byte for byte.
fn expand(template: &[u8], with: &Expansion) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = find(rest, b"${") {
        out.extend_from_slice(&rest[..start]);
        let after = &rest[start + 2..];
        let end = find(after, b"}").ok_or("unterminated ${ placeholder")?;
        let inner = std::str::from_utf8(&after[..end])
            .map_err(|_| "placeholder is not ASCII".to_owned())?;
        out.extend(placeholder(inner, with)?);
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

fn placeholder(inner: &str, with: &Expansion) -> Result<Vec<u8>, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["sig"] => with
            .signature
            .clone()
            .map(String::into_bytes)
            .ok_or_else(|| "${sig} is only known in header values".to_owned()),
        ["repeat", count, hex @ ..] => {
            let count: usize = count
                .parse()
                .map_err(|_| format!("bad count in ${{{inner}}}"))?;
            Ok(decode_hex(hex)?.repeat(count))
        }
        ["bytes", hex @ ..] => decode_hex(hex),
        [time] if time.starts_with("now") => {
            let offset_secs: i64 = match &time[3..] {
                "" => 0,
                signed => signed
                    .parse()
                    .map_err(|_| format!("bad offset in ${{{inner}}}"))?,
            };
            let millis = with.now_millis + offset_secs * 1000;
            let time = chrono::DateTime::from_timestamp_millis(millis)
                .ok_or_else(|| format!("${{{inner}}} is out of range"))?;
            Ok(time
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into_bytes())
        }
        _ => Err(format!("unknown placeholder ${{{inner}}}")),
    }
}

fn decode_hex(words: &[&str]) -> Result<Vec<u8>, String> {
    hex::decode(words.concat()).map_err(|e| format!("bad hex {words:?}: {e}"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn read_template(relative: &str) -> Result<Vec<u8>, String> {
    let path = corpus_dir().join(relative);
    std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn signature_header(
    mode: Signature,
    body: &[u8],
    now_millis: i64,
) -> Result<Option<String>, String> {
    let valid = sign(SECRET, body);
    let hex_digest = valid.trim_start_matches("sha256=").to_owned();
    Ok(match mode {
        Signature::Valid => Some(valid),
        Signature::None => None,
        Signature::WrongSecret => Some(sign("not-the-webhook-secret", body)),
        Signature::Truncated => Some(valid[..valid.len() - 2].to_owned()),
        Signature::TruncatedOdd => Some(valid[..valid.len() - 1].to_owned()),
        Signature::Replayed => {
            let expansion = Expansion {
                now_millis,
                signature: None,
            };
            let source = expand(&read_template(REPLAY_SOURCE)?, &expansion)?;
            if source == body {
                return Err("a replayed signature needs a body other than its source".to_owned());
            }
            Some(sign(SECRET, &source))
        }
        Signature::Garbled => Some(format!("sha256={}", "z".repeat(64))),
        Signature::UppercasePrefix => Some(format!("SHA256={hex_digest}")),
        Signature::NoPrefix => Some(hex_digest),
        Signature::Empty => Some(String::new()),
        Signature::PrefixOnly => Some("sha256=".to_owned()),
        Signature::OtherAlgorithm => Some(format!("sha1={hex_digest}")),
        Signature::Extended => Some(format!("{valid}00")),
    })
}

/// The request bytes of a case, and the length of its expanded body.
fn build_request(
    case: &Case,
    address: SocketAddr,
    now_millis: i64,
) -> Result<(Vec<u8>, usize), String> {
    let body_expansion = Expansion {
        now_millis,
        signature: None,
    };
    let body = match &case.body {
        Some(relative) => expand(&read_template(relative)?, &body_expansion)?,
        None => Vec::new(),
    };
    let signature = signature_header(case.signature, &body, now_millis)?;
    let header_expansion = Expansion {
        now_millis,
        signature: Some(sign(SECRET, &body)),
    };

    let mut request = format!(
        "{} {} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n",
        case.method, case.path
    )
    .into_bytes();
    let mut header = |name: &[u8], value: &[u8]| {
        request.extend_from_slice(name);
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    };
    if let Some(content_type) = &case.content_type {
        header(
            b"content-type",
            &expand(content_type.as_bytes(), &header_expansion)?,
        );
    }
    if let Some(signature) = &signature {
        header(b"x-signature-256", signature.as_bytes());
    }
    for (name, value) in &case.headers {
        header(
            &expand(name.as_bytes(), &header_expansion)?,
            &expand(value.as_bytes(), &header_expansion)?,
        );
    }
    match case.framing {
        Framing::ContentLength => {
            let length = case.content_length.unwrap_or(body.len() as u64);
            header(b"content-length", length.to_string().as_bytes());
        }
        Framing::Chunked => header(b"transfer-encoding", b"chunked"),
        Framing::None => {}
    }
    request.extend_from_slice(b"\r\n");
    if matches!(case.framing, Framing::Chunked) {
        if !body.is_empty() {
            request.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
            request.extend_from_slice(&body);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(&body);
    }
    Ok((request, body.len()))
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Writes `request` and reads the answer until the server closes. The write
/// runs alongside the read, since a server may answer (413) before it has read
/// the whole body; the write side stays open until the answer is in, because
/// a half-closed connection may be dropped without one.
async fn exchange(address: SocketAddr, request: Vec<u8>) -> Result<Answer, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        // The server may close first (it refused the request); that is its answer.
        let _ = writer.write_all(&request).await;
        let _ = writer.flush().await;
        writer
    });
    let mut raw = Vec::new();
    let read = tokio::time::timeout(EXCHANGE_LIMIT, reader.read_to_end(&mut raw)).await;
    writing.abort();
    match read {
        Err(_) => return Err(format!("no answer within {EXCHANGE_LIMIT:?}")),
        // A reset after the answer arrived still leaves the answer in `raw`.
        Ok(Err(error)) if raw.is_empty() => return Err(format!("read: {error}")),
        Ok(_) => {}
    }
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Result<Answer, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        format!(
            "incomplete response: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        )
    })?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let rest = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec()
    };
    Ok(Answer { status, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// Everything about `answer` that differs from what `case` expects.
fn mismatches(case: &Case, answer: &Answer) -> Vec<String> {
    let mut wrong = Vec::new();
    if answer.status != case.status {
        wrong.push(format!(
            "status {} (expected {})",
            answer.status, case.status
        ));
    }
    if !case.json_error {
        return wrong;
    }
    let shown = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).into_owned();
    let Ok(json) = serde_json::from_slice::<Value>(&answer.body) else {
        wrong.push(format!("body is not a JSON error: {shown:?}"));
        return wrong;
    };
    let error = json["error"].as_str().unwrap_or_default();
    if error.trim().is_empty() {
        wrong.push(format!("no error message in {json}"));
    }
    if let Some(expected) = &case.error_contains
        && !error.to_lowercase().contains(&expected.to_lowercase())
    {
        wrong.push(format!("error {error:?} does not mention {expected:?}"));
    }
    let expected_field = case.field.as_deref().map_or(Value::Null, Value::from);
    if json["field"] != expected_field {
        wrong.push(format!(
            "field {} (expected {expected_field})",
            json["field"]
        ));
    }
    wrong
}

/// Corpus files that no case uses, and cases that reuse a name.
fn corpus_hygiene(manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    if manifest.cases.len() < MIN_CASES {
        problems.push(format!(
            "the corpus has {} cases, fewer than {MIN_CASES}",
            manifest.cases.len()
        ));
    }
    let mut names = BTreeSet::new();
    for case in &manifest.cases {
        if !names.insert(case.name.as_str()) {
            problems.push(format!("{}: the name is used twice", case.name));
        }
        if !(400..500).contains(&case.status) {
            problems.push(format!("{}: expects {}, not a 4xx", case.name, case.status));
        }
    }
    let used: BTreeSet<&str> = manifest
        .cases
        .iter()
        .filter_map(|case| case.body.as_deref())
        .chain([REPLAY_SOURCE])
        .collect();
    let bodies = corpus_dir().join("bodies");
    let files =
        std::fs::read_dir(&bodies).unwrap_or_else(|e| panic!("reading {}: {e}", bodies.display()));
    for file in files.flatten() {
        let relative = format!("bodies/{}", file.file_name().to_string_lossy());
        if !used.contains(relative.as_str()) {
            problems.push(format!("{relative} is used by no case"));
        }
    }
    problems
}

#[tokio::test]
async fn every_corpus_case_gets_its_4xx_and_nothing_reaches_kafka() {
    let manifest = load_manifest();
    let mut failures = corpus_hygiene(&manifest);
    let mut gaps = Vec::new();
    let app = spawn_app().await;

    for case in &manifest.cases {
        let now_millis = survey_runtime::now_millis();
        let outcome = match build_request(case, app.address, now_millis) {
            Err(error) => vec![format!("corpus error: {error}")],
            Ok((_, length)) if case.body_len.is_some_and(|expected| expected != length) => {
                vec![format!(
                    "corpus error: body is {length} bytes, the case says {:?}",
                    case.body_len
                )]
            }
            Ok((request, _)) => match exchange(app.address, request).await {
                Ok(answer) => mismatches(case, &answer),
                Err(error) => vec![error],
            },
        };
        let note = case
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        match (&case.known_gap, outcome.is_empty()) {
            (None, true) => {}
            (None, false) => failures.push(format!("{}{note}: {}", case.name, outcome.join("; "))),
            (Some(gap), false) => {
                gaps.push(format!("{}: {gap}: {}", case.name, outcome.join("; ")))
            }
            (Some(gap), true) => failures.push(format!(
                "{}: passes now; remove its known_gap ({gap})",
                case.name
            )),
        }
    }

    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .map(|response| response.status().as_u16());
    if !matches!(health, Ok(200)) {
        failures.push(format!("/healthz after the corpus: {health:?}"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    match survey_test_support::record_count(&app.kafka, &app.raw_topic()) {
        Ok(0) => {}
        Ok(count) => failures.push(format!("{count} records reached the raw topic")),
        Err(error) => failures.push(format!("counting raw records: {error:#}")),
    }

    for gap in &gaps {
        eprintln!("known gap: {gap}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases (and checks) failed:\n  {}",
        failures.len(),
        manifest.cases.len(),
        failures.join("\n  ")
    );
}
