//! `GET /`: one page listing every delivered alert, newest first, so a
//! person running the demo sees what supervisors would have received.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::state::{Deliveries, SandboxState};

pub(crate) fn router(state: SandboxState) -> Router {
    Router::new().route("/", get(page)).with_state(state)
}

async fn page(State(state): State<SandboxState>) -> Html<String> {
    Html(render(&state.deliveries()))
}

/// One row of the page.
struct Item {
    at: DateTime<Utc>,
    kind: &'static str,
    title: String,
    lines: Vec<String>,
    raw: Option<String>,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The readable text inside Slack blocks or an Adaptive Card: every
/// `text` string, and `title: value` for facts.
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(title)), Some(Value::String(v))) =
                (map.get("title"), map.get("value"))
            {
                out.push(format!("{title}: {v}"));
            }
            for (key, item) in map {
                match item {
                    Value::String(s) if key == "text" => out.push(s.clone()),
                    other => texts(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
        _ => {}
    }
}

fn pretty(value: &Value) -> Option<String> {
    serde_json::to_string_pretty(value).ok()
}

fn items(deliveries: &Deliveries) -> Vec<Item> {
    let mut items = Vec::new();
    for m in &deliveries.slack {
        let mut lines = Vec::new();
        if let Some(blocks) = &m.blocks {
            texts(blocks, &mut lines);
        }
        if lines.is_empty()
            && let Some(text) = &m.text
        {
            lines.push(text.clone());
        }
        items.push(Item {
            at: m.received_at,
            kind: "Slack",
            title: format!("{} {} (ts {})", m.method.as_str(), m.channel, m.ts),
            lines,
            raw: pretty(&m.body),
        });
    }
    for card in &deliveries.teams {
        let mut lines = Vec::new();
        texts(&card.card, &mut lines);
        items.push(Item {
            at: card.received_at,
            kind: "Teams",
            title: format!("webhook {}", card.webhook_id),
            lines,
            raw: pretty(&card.payload),
        });
    }
    for email in &deliveries.emails {
        let mut lines = vec![
            format!("From: {}", email.from),
            format!("To: {}", email.to.join(", ")),
        ];
        if let Some(reply) = &email.in_reply_to {
            lines.push(format!("In-Reply-To: {reply}"));
        }
        lines.extend(email.text.iter().flat_map(|t| t.lines().map(str::to_owned)));
        items.push(Item {
            at: email.received_at,
            kind: "Email",
            title: email
                .subject
                .clone()
                .unwrap_or_else(|| "(no subject)".to_owned()),
            lines,
            raw: Some(email.raw.clone()),
        });
    }
    for a in &deliveries.coaching {
        items.push(Item {
            at: a.received_at,
            kind: "Coaching",
            title: a.name.clone(),
            lines: vec![
                format!(
                    "Starts {} for {} minutes",
                    a.date_start, a.length_in_minutes
                ),
                format!("Attendees: {}", a.attendee_ids.join(", ")),
                a.description.clone(),
            ],
            raw: pretty(&a.request),
        });
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.at));
    items
}

/// The whole page.
pub(crate) fn render(deliveries: &Deliveries) -> String {
    let items = items(deliveries);
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <title>survey-sandbox deliveries</title><style>\
         body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}\
         .item{border:1px solid #ddd;border-radius:6px;padding:.75rem 1rem;margin:.75rem 0}\
         .kind{display:inline-block;font-size:.75rem;font-weight:600;padding:.1rem .5rem;border-radius:4px;background:#eee;margin-right:.5rem}\
         .Slack{background:#e8d5f5}.Teams{background:#d5e0f5}.Email{background:#f5ecd5}.Coaching{background:#d5f5de}\
         time{color:#777;font-size:.8rem;float:right}p{margin:.25rem 0;white-space:pre-wrap}\
         pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.8rem}\
         </style></head><body><h1>Delivered alerts</h1>",
    );
    html.push_str(&format!(
        "<p>{} Slack, {} Teams, {} email, {} coaching. Newest first; refreshes every 5 s. \
         JSON at <a href=\"/sandbox/deliveries\">/sandbox/deliveries</a>.</p>",
        deliveries.slack.len(),
        deliveries.teams.len(),
        deliveries.emails.len(),
        deliveries.coaching.len()
    ));
    if items.is_empty() {
        html.push_str("<p><em>Nothing delivered yet.</em></p>");
    }
    for item in items {
        html.push_str(&format!(
            "<div class=\"item\"><time>{}</time><span class=\"kind {}\">{}</span><strong>{}</strong>",
            escape(&item.at.to_rfc3339()),
            item.kind,
            item.kind,
            escape(&item.title)
        ));
        for line in &item.lines {
            html.push_str(&format!("<p>{}</p>", escape(line)));
        }
        if let Some(raw) = item.raw {
            html.push_str(&format!(
                "<details><summary>raw</summary><pre>{}</pre></details>",
                escape(&raw)
            ));
        }
        html.push_str("</div>");
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn card_and_block_texts_are_found_and_html_is_escaped() {
        let mut out = Vec::new();
        texts(
            &json!({"type": "AdaptiveCard", "body": [
                {"type": "TextBlock", "text": "Low score <2>"},
                {"type": "FactSet", "facts": [{"title": "Agent", "value": "Ann"}]}
            ]}),
            &mut out,
        );
        assert_eq!(out, ["Low score <2>", "Agent: Ann"]);
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
