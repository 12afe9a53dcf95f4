//! Just enough RFC 5322 / MIME reading to show and assert on what the
//! notifier mailed: unfolded headers, RFC 2047 encoded words, and the
//! first text and HTML parts with their transfer encoding undone.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Base64 that tolerates missing padding and is used for bodies and words.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A message split into what tests look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedMessage {
    /// Top-level headers, unfolded, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    /// First `text/plain` part.
    pub text: Option<String>,
    /// First `text/html` part.
    pub html: Option<String>,
}

impl ParsedMessage {
    /// The first header with this name (case-insensitive), raw.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parses a whole message (headers, blank line, body).
pub fn parse(raw: &str) -> ParsedMessage {
    let (headers, body) = split_entity(raw);
    let mut message = ParsedMessage {
        headers,
        text: None,
        html: None,
    };
    let headers = message.headers.clone();
    collect_bodies(&headers, body, &mut message, 0);
    message
}

/// Splits an entity into unfolded headers and its body.
fn split_entity(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = match (raw.find("\r\n\r\n"), raw.find("\n\n")) {
        (Some(crlf), Some(lf)) if lf < crlf => (&raw[..lf], &raw[lf + 2..]),
        (Some(crlf), _) => (&raw[..crlf], &raw[crlf + 4..]),
        (None, Some(lf)) => (&raw[..lf], &raw[lf + 2..]),
        (None, None) => (raw, ""),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

/// `type/subtype` (lowercase) and parameters of a `Content-Type` value.
fn content_type(value: Option<&str>) -> (String, Vec<(String, String)>) {
    let Some(value) = value else {
        return ("text/plain".to_owned(), Vec::new());
    };
    let mut parts = value.split(';');
    let mime = parts
        .next()
        .unwrap_or("text/plain")
        .trim()
        .to_ascii_lowercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    (mime, params)
}

fn collect_bodies(headers: &[(String, String)], body: &str, out: &mut ParsedMessage, depth: u8) {
    if depth > 8 {
        return;
    }
    let (mime, params) = content_type(header(headers, "Content-Type"));
    let is_attachment = header(headers, "Content-Disposition").is_some_and(|d| {
        d.trim_start()
            .to_ascii_lowercase()
            .starts_with("attachment")
    });
    if mime.starts_with("multipart/") {
        let Some(boundary) = params.iter().find(|(k, _)| k == "boundary").map(|(_, v)| v) else {
            return;
        };
        for part in split_multipart(body, boundary) {
            let (part_headers, part_body) = split_entity(part);
            collect_bodies(&part_headers, part_body, out, depth + 1);
        }
        return;
    }
    if is_attachment {
        return;
    }
    let slot = match mime.as_str() {
        "text/plain" => &mut out.text,
        "text/html" => &mut out.html,
        _ => return,
    };
    if slot.is_none() {
        let encoding = header(headers, "Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        let charset = params
            .iter()
            .find(|(k, _)| k == "charset")
            .map_or("utf-8", |(_, v)| v.as_str());
        let bytes = match encoding.as_str() {
            "base64" => {
                let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                LENIENT_BASE64
                    .decode(compact)
                    .unwrap_or_else(|_| body.as_bytes().to_vec())
            }
            "quoted-printable" => decode_quoted_printable(body),
            _ => body.as_bytes().to_vec(),
        };
        *slot = Some(decode_charset(&bytes, charset));
    }
}

/// The parts of a multipart body, without their delimiter lines.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == delimiter || trimmed == format!("{delimiter}--") {
            if let Some(s) = start {
                let part = &body[s..offset];
                let part = part
                    .strip_suffix("\r\n")
                    .or_else(|| part.strip_suffix('\n'))
                    .unwrap_or(part);
                parts.push(part);
            }
            if trimmed.ends_with("--") && trimmed != delimiter {
                return parts;
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    parts
}

fn decode_quoted_printable(body: &str) -> Vec<u8> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    out.push(hex_value(h) * 16 + hex_value(l));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let charset = charset.to_ascii_lowercase();
    if matches!(
        charset.as_str(),
        "iso-8859-1" | "latin1" | "latin-1" | "windows-1252"
    ) {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?B?...?=`, `=?utf-8?Q?...?=`);
/// whitespace between two encoded words is dropped, as the RFC says.
pub fn decode_words(input: &str) -> String {
    let mut out = String::new();
    let mut rest = input;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        match decode_word(&rest[start..]) {
            Some((decoded, consumed)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &rest[start + consumed..];
                after_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes one encoded word at the start of `s`: (text, bytes consumed).
fn decode_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let (charset, rest) = body.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => LENIENT_BASE64.decode(text).ok()?,
        "Q" | "q" => decode_quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    let consumed = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((decode_charset(&bytes, charset), consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_decode() {
        assert_eq!(
            decode_words("=?utf-8?b?TG93IHNjb3JlIOKAlCBCaWxsaW5n?="),
            "Low score — Billing"
        );
        assert_eq!(
            decode_words("=?UTF-8?Q?caf=C3=A9_time?= ok"),
            "café time ok"
        );
        assert_eq!(decode_words("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
        assert_eq!(decode_words("plain =? text"), "plain =? text");
    }

    #[test]
    fn headers_unfold_and_single_part_bodies_decode() {
        let raw = "From: Alerts <alerts@example.com>\r\nSubject: =?utf-8?q?Low?=\r\n =?utf-8?q?_score?=\r\n\
                   Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                   Score 2/10 =E2=80=94 call back=\r\n today\r\n";
        let m = parse(raw);
        assert_eq!(m.header("from"), Some("Alerts <alerts@example.com>"));
        assert_eq!(
            m.header("Subject").map(decode_words).as_deref(),
            Some("Low score")
        );
        assert_eq!(m.text.as_deref(), Some("Score 2/10 — call back today\r\n"));
        assert_eq!(m.html, None);
    }

    #[test]
    fn multipart_alternative_yields_text_and_html() {
        let raw = "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
                   --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   aGVsbG8gd29ybGQ=\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hello</p>\r\n--b1--\r\n";
        let m = parse(raw);
        assert_eq!(m.text.as_deref(), Some("hello world"));
        assert_eq!(m.html.as_deref(), Some("<p>hello</p>"));
    }
}
