//! A minimal SMTP server (RFC 5321, no TLS) that records every message.
//!
//! Behind it sits a mailbox store that, like Exchange's, delivers a message
//! once: a second message with the same Message-ID, Date and recipients is
//! accepted (`250`) and then discarded, and listed apart as discarded.
//!
//! It speaks enough for `lettre`'s plain SMTP transport: the 220 greeting,
//! `EHLO`/`HELO`, `AUTH PLAIN`/`LOGIN` (any credentials, never logged),
//! `MAIL FROM`, `RCPT TO`, `DATA` with dot-unstuffing, `RSET`, `NOOP`,
//! `VRFY` and `QUIT`. Recipients whose local part starts with `reject`
//! get `550`. Faults on [`Route::Smtp`](crate::Route::Smtp) act at the end
//! of `DATA`; an outage answers `421` on connect.

use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

use crate::faults::{Service, Verdict};
use crate::mail;
use crate::state::{Email, RecordedRequest, SandboxState, one_line};

/// The host name the server calls itself.
const HOSTNAME: &str = "sandbox.local";
/// Largest message accepted, in bytes.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest command line accepted, in bytes.
const MAX_LINE_BYTES: usize = 4096;
/// A silent client is dropped after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Accepts connections until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    state: SandboxState,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let state = state.clone();
                    tokio::spawn(async move {
                        if let Err(error) = Session::new(stream, state).run().await {
                            tracing::debug!(%error, "smtp session ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// One transaction's envelope.
#[derive(Debug, Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

#[derive(Debug)]
struct Session {
    reader: BufReader<TcpStream>,
    state: SandboxState,
    greeted: bool,
    envelope: Envelope,
}

/// What to do after a command.
enum Next {
    Continue,
    Quit,
}

impl Session {
    fn new(stream: TcpStream, state: SandboxState) -> Self {
        Self {
            reader: BufReader::new(stream),
            state,
            greeted: false,
            envelope: Envelope::default(),
        }
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(text.as_bytes()).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await
    }

    /// Reads one line without its line ending; `None` at end of stream.
    async fn read_line(&mut self, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let mut limited = (&mut self.reader).take(limit as u64 + 2);
        let reading = limited.read_until(b'\n', &mut line);
        let read = tokio::time::timeout(IDLE_TIMEOUT, reading)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client idle"))??;
        if read == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") && line.len() > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    async fn run(mut self) -> std::io::Result<()> {
        if self.state.is_down(Service::Smtp, "smtp") {
            self.record(421);
            return self
                .reply(
                    "421 4.3.2 sandbox.local Service not available, closing transmission channel",
                )
                .await;
        }
        self.reply(&format!("220 {HOSTNAME} ESMTP survey-sandbox"))
            .await?;
        loop {
            let line = match self.read_line(MAX_LINE_BYTES).await {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                    return self.reply("500 5.5.2 Line too long").await;
                }
                Err(error) => return Err(error),
            };
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Next::Quit = self.command(&line).await? {
                return Ok(());
            }
        }
    }

    async fn command(&mut self, line: &str) -> std::io::Result<Next> {
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
            None => (line.trim().to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" => {
                self.greeted = true;
                self.envelope = Envelope::default();
                self.reply(&format!(
                    "250-{HOSTNAME} greets {arg}\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
                     250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n\
                     250 SIZE {MAX_MESSAGE_BYTES}"
                ))
                .await?;
            }
            "HELO" => {
                self.greeted = true;
                self.envelope = Envelope::default();
                self.reply(&format!("250 {HOSTNAME}")).await?;
            }
            "AUTH" => self.auth(arg).await?,
            "MAIL" => self.mail_from(arg).await?,
            "RCPT" => self.rcpt_to(arg).await?,
            "DATA" => self.data().await?,
            "RSET" => {
                self.envelope = Envelope::default();
                self.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => self.reply("250 2.0.0 Ok").await?,
            "VRFY" => {
                self.reply("252 2.5.2 Cannot VRFY user, but will accept message")
                    .await?;
            }
            "QUIT" => {
                self.reply("221 2.0.0 Bye").await?;
                return Ok(Next::Quit);
            }
            "STARTTLS" => self.reply("454 4.7.0 TLS not available").await?,
            _ => {
                self.reply("502 5.5.2 Error: command not recognized")
                    .await?
            }
        }
        Ok(Next::Continue)
    }

    /// Accepts any credentials without looking at them.
    async fn auth(&mut self, arg: &str) -> std::io::Result<()> {
        let mut words = arg.split_whitespace();
        let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
        let initial = words.next();
        match mechanism.as_str() {
            "PLAIN" => {
                if initial.is_none() {
                    self.reply("334 ").await?;
                    self.read_line(MAX_LINE_BYTES).await?;
                }
            }
            "LOGIN" => {
                if initial.is_none() {
                    self.reply("334 VXNlcm5hbWU6").await?;
                    self.read_line(MAX_LINE_BYTES).await?;
                }
                self.reply("334 UGFzc3dvcmQ6").await?;
                self.read_line(MAX_LINE_BYTES).await?;
            }
            _ => {
                return self
                    .reply("504 5.5.4 Unrecognized authentication type")
                    .await;
            }
        }
        self.reply("235 2.7.0 Authentication successful").await
    }

    async fn mail_from(&mut self, arg: &str) -> std::io::Result<()> {
        if !self.greeted {
            return self.reply("503 5.5.1 Error: send HELO/EHLO first").await;
        }
        if self.envelope.from.is_some() {
            return self.reply("503 5.5.1 Error: nested MAIL command").await;
        }
        let Some(address) = path_argument(arg, "FROM:") else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        self.envelope.from = Some(address);
        self.reply("250 2.1.0 Ok").await
    }

    async fn rcpt_to(&mut self, arg: &str) -> std::io::Result<()> {
        if self.envelope.from.is_none() {
            return self.reply("503 5.5.1 Error: need MAIL command").await;
        }
        let Some(address) = path_argument(arg, "TO:").filter(|a| !a.is_empty()) else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if address.to_ascii_lowercase().starts_with("reject") {
            return self
                .reply(&format!(
                    "550 5.1.1 <{address}>: Recipient address rejected: User unknown"
                ))
                .await;
        }
        self.envelope.to.push(address);
        self.reply("250 2.1.5 Ok").await
    }

    async fn data(&mut self) -> std::io::Result<()> {
        if self.envelope.to.is_empty() {
            return self.reply("503 5.5.1 Error: need RCPT command").await;
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut raw = String::new();
        let mut too_big = false;
        loop {
            let Some(line) = self.read_line(MAX_MESSAGE_BYTES).await? else {
                return Ok(());
            };
            if line == b"." {
                break;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if raw.len() + line.len() > MAX_MESSAGE_BYTES {
                too_big = true;
                continue;
            }
            raw.push_str(&String::from_utf8_lossy(line));
            raw.push_str("\r\n");
        }
        let envelope = std::mem::take(&mut self.envelope);
        if too_big {
            self.record(552);
            return self.reply("552 5.3.4 Error: message file too big").await;
        }
        match self.state.verdict(Service::Smtp, "smtp") {
            Verdict::Pass => {}
            Verdict::Delay(pause) => tokio::time::sleep(pause).await,
            Verdict::Down => {
                self.record(421);
                return self
                    .reply("421 4.3.2 Service not available, closing transmission channel")
                    .await;
            }
            Verdict::Fail { code, .. } => {
                let code = if (400..=599).contains(&code) {
                    code
                } else {
                    451
                };
                self.record(code);
                let text = if code < 500 {
                    "4.3.0 Temporary failure injected by the sandbox"
                } else {
                    "5.3.0 Permanent failure injected by the sandbox"
                };
                return self.reply(&format!("{code} {text}")).await;
            }
        }
        let queued = Uuid::new_v4().simple().to_string();
        self.store(envelope, raw);
        self.record(250);
        self.reply(&format!("250 2.0.0 Ok: queued as {}", &queued[..12]))
            .await
    }

    fn store(&self, envelope: Envelope, raw: String) {
        let parsed = mail::parse(&raw);
        let envelope_from = envelope.from.unwrap_or_default();
        let header = |name: &str| parsed.header(name).map(str::to_owned);
        let email = Email {
            from: header("From")
                .map(|f| mail::decode_words(&f))
                .unwrap_or_else(|| envelope_from.clone()),
            to: envelope.to,
            envelope_from,
            header_to: header("To").map(|t| mail::decode_words(&t)),
            subject: header("Subject").map(|s| mail::decode_words(&s)),
            message_id: header("Message-ID"),
            in_reply_to: header("In-Reply-To"),
            references: header("References"),
            text: parsed.text,
            html: parsed.html,
            headers: parsed.headers,
            raw,
            received_at: Utc::now(),
        };
        self.state.deliver(|s| {
            if s.emails.iter().any(|stored| same_mail(stored, &email)) {
                s.announce(&format!(
                    "email {} -> {} discarded: a copy of {} already delivered",
                    email.from,
                    email.to.join(", "),
                    email.message_id.as_deref().unwrap_or_default()
                ));
                s.emails_discarded.push(email);
                return;
            }
            s.announce(&format!(
                "email {} -> {} \"{}\"",
                email.from,
                email.to.join(", "),
                one_line(email.subject.as_deref().unwrap_or(""), 100)
            ));
            s.emails.push(email);
        });
    }

    fn record(&self, status: u16) {
        self.state.record_request(RecordedRequest {
            service: Service::Smtp,
            method: "SMTP".to_owned(),
            path: "DATA".to_owned(),
            route: None,
            status,
            at: Utc::now(),
        });
    }
}

/// Whether `new` is a copy of the delivered `stored`, the way a mailbox
/// store tells (Exchange keeps the Internet Message-ID and submit time of
/// what it delivered, and drops a second message with both): same
/// Message-ID, same Date, same recipients. A mail without a Message-ID is
/// never a copy.
fn same_mail(stored: &Email, new: &Email) -> bool {
    let date = |mail: &Email| {
        mail.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("Date"))
            .map(|(_, value)| value.clone())
    };
    new.message_id.is_some()
        && stored.message_id == new.message_id
        && date(stored) == date(new)
        && stored.to == new.to
}

/// The address in `FROM:<a@b> SIZE=10` or `TO:<a@b>`; `<>` is the empty address.
fn path_argument(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::path_argument;

    #[test]
    fn paths_parse() {
        assert_eq!(
            path_argument("FROM:<alerts@example.com> SIZE=120", "FROM:").as_deref(),
            Some("alerts@example.com")
        );
        assert_eq!(path_argument("from: <>", "FROM:").as_deref(), Some(""));
        assert_eq!(
            path_argument("TO:<sup@example.com>", "TO:").as_deref(),
            Some("sup@example.com")
        );
        assert_eq!(path_argument("TO:sup@example.com", "TO:"), None);
    }
}
