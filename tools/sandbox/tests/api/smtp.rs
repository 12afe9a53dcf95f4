//! The SMTP server, driven by a raw client exchange.

use std::net::SocketAddr;

use survey_sandbox::{Fault, Route, Seed};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::helpers::{TestResult, spawn_sandbox};

/// A line-oriented SMTP client.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> std::io::Result<(Self, u16)> {
        let (read, write) = TcpStream::connect(addr).await?.into_split();
        let mut client = Self {
            reader: BufReader::new(read),
            writer: write,
        };
        let greeting = client.reply().await?;
        Ok((client, greeting.0))
    }

    /// Reads one (possibly multi-line) reply: its code and its lines.
    async fn reply(&mut self) -> std::io::Result<(u16, Vec<String>)> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            lines.push(line);
            if last {
                return Ok((code, lines));
            }
        }
    }

    async fn send(&mut self, line: &str) -> std::io::Result<(u16, Vec<String>)> {
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await?;
        self.reply().await
    }
}

const MESSAGE: &str = "From: Survey Alerts <alerts@example.com>\r\n\
To: Maria Lopez <maria.lopez@example.com>\r\n\
Subject: =?utf-8?b?TG93IHNjb3JlIOKAlCBCaWxsaW5n?=\r\n\
Message-ID: <alert-2@survey-alerts.local>\r\n\
In-Reply-To: <alert-1@survey-alerts.local>\r\n\
References: <alert-1@survey-alerts.local>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Score 2/10 from Jordan Smith.\r\n\
..a line that starts with a dot\r\n";

#[tokio::test]
async fn a_raw_smtp_exchange_is_recorded() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let (mut smtp, greeting) = Client::connect(app.sandbox.smtp_addr()).await?;
    assert_eq!(greeting, 220);
    let (code, ehlo) = smtp.send("EHLO test.local").await?;
    assert_eq!(code, 250);
    assert!(ehlo.len() > 1, "EHLO lists extensions: {ehlo:?}");
    assert!(ehlo.iter().any(|l| l.contains("8BITMIME")));
    assert_eq!(smtp.send("NOOP").await?.0, 250);
    assert_eq!(smtp.send("RCPT TO:<x@example.com>").await?.0, 503);
    assert_eq!(smtp.send("MAIL FROM:<alerts@example.com>").await?.0, 250);
    assert_eq!(smtp.send("RCPT TO:<maria.lopez@example.com>").await?.0, 250);
    assert_eq!(smtp.send("RCPT TO:<reject-me@example.com>").await?.0, 550);
    assert_eq!(
        smtp.send("RCPT TO:<james.okafor@example.com>").await?.0,
        250
    );
    assert_eq!(smtp.send("DATA").await?.0, 354);
    smtp.writer.write_all(MESSAGE.as_bytes()).await?;
    assert_eq!(smtp.send(".").await?.0, 250);
    assert_eq!(smtp.send("RSET").await?.0, 250);
    assert_eq!(smtp.send("QUIT").await?.0, 221);

    let emails = app.sandbox.state().emails();
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert_eq!(email.from, "Survey Alerts <alerts@example.com>");
    assert_eq!(email.envelope_from, "alerts@example.com");
    assert_eq!(
        email.to,
        ["maria.lopez@example.com", "james.okafor@example.com"]
    );
    assert_eq!(email.subject.as_deref(), Some("Low score — Billing"));
    assert_eq!(
        email.message_id.as_deref(),
        Some("<alert-2@survey-alerts.local>")
    );
    assert_eq!(
        email.in_reply_to.as_deref(),
        Some("<alert-1@survey-alerts.local>")
    );
    let text = email.text.as_deref().unwrap_or_default();
    assert!(text.contains("Score 2/10 from Jordan Smith."));
    assert!(
        text.contains("\r\n.a line that starts with a dot"),
        "dot-unstuffed: {text:?}"
    );
    assert!(email.raw.starts_with("From: Survey Alerts"));
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn smtp_faults_and_outages() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let state = app.sandbox.state();
    state.fail_next(Route::Smtp, Fault::status(451, 1));
    let (mut smtp, _) = Client::connect(app.sandbox.smtp_addr()).await?;
    smtp.send("HELO test.local").await?;
    for expected in [451, 250] {
        assert_eq!(smtp.send("MAIL FROM:<a@example.com>").await?.0, 250);
        assert_eq!(smtp.send("RCPT TO:<b@example.com>").await?.0, 250);
        assert_eq!(smtp.send("DATA").await?.0, 354);
        smtp.writer
            .write_all(b"Subject: hi\r\n\r\nbody\r\n")
            .await?;
        assert_eq!(smtp.send(".").await?.0, expected);
    }
    smtp.send("QUIT").await?;
    assert_eq!(state.emails().len(), 1);

    state.set_down(Route::Smtp, true);
    let (_, greeting) = Client::connect(app.sandbox.smtp_addr()).await?;
    assert_eq!(greeting, 421);
    app.sandbox.shutdown().await;
    Ok(())
}
