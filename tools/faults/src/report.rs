//! The verdict and its table: per fault, the surveys first sent while it was on, and what
//! the sinks received for them.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::check::{Tally, attribute, group, judge};
use crate::load::Sent;
use crate::schedule::PhaseRecord;

/// Consumers must handle records again within this long after a restart.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The fault.
    pub phase: PhaseRecord,
    /// What its surveys came to.
    pub tally: Tally,
}

/// The whole verdict.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// One per fault.
    pub rows: Vec<Row>,
    /// Over all surveys.
    pub total: Tally,
    /// Sink messages naming no survey of the run.
    pub unattributed: Vec<String>,
    /// Posts never answered 2xx.
    pub failed_posts: Vec<String>,
    /// What went wrong, survey by survey.
    pub problems: Vec<String>,
    /// When the notifier was SIGKILLed.
    pub notifier_kills: Vec<chrono::DateTime<chrono::Utc>>,
    /// E-mails sent again that the mailbox store discarded as copies.
    pub discarded_emails: usize,
}

/// Judges every sent survey against `deliveries` and sorts the results by fault.
pub fn evaluate(
    sent: &[Sent],
    phases: &[PhaseRecord],
    deliveries: &Value,
    prefix: &str,
) -> Evaluation {
    let record = attribute(deliveries, prefix);
    let grouped = group(&record.deliveries);
    let mut rows: Vec<Row> = phases
        .iter()
        .map(|phase| Row {
            phase: phase.clone(),
            tally: Tally::default(),
        })
        .collect();
    let mut total = Tally::default();
    let mut problems = Vec::new();
    let mut failed_posts = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    let notifier_kills: Vec<_> = phases
        .iter()
        .flat_map(|p| &p.kills)
        .filter(|(service, _)| service == "notifier")
        .map(|(_, at)| *at)
        .collect();
    for s in sent {
        known.insert(s.survey.id.clone());
        let mut outcome = judge(&s.survey, grouped.get(&s.survey.id), &notifier_kills);
        outcome.tally.accepted_posts = s.accepted_posts;
        let row = phases
            .iter()
            .rposition(|p| p.start <= s.first_sent)
            .unwrap_or(0);
        if let Some(row) = rows.get_mut(row) {
            row.tally.add(&outcome.tally);
        }
        total.add(&outcome.tally);
        problems.extend(outcome.problems);
        failed_posts.extend(
            s.failed_posts
                .iter()
                .map(|f| format!("{}: {f}", s.survey.id)),
        );
    }
    let discarded_emails = record.discarded_emails;
    let mut unattributed = record.unattributed;
    // Alerts of surveys the load never sent cannot be right either.
    for (survey, channels) in &grouped {
        if !known.contains(survey) {
            let n: usize = channels.values().map(Vec::len).sum();
            unattributed.push(format!("{n} message(s) for {survey}, never sent"));
        }
    }
    Evaluation {
        rows,
        total,
        unattributed,
        failed_posts,
        problems,
        notifier_kills,
        discarded_emails,
    }
}

impl Evaluation {
    /// Recovery times over the bound, or missing, where the bound applies.
    pub fn slow_recoveries(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|row| row.phase.bounded_recovery)
            .flat_map(|row| {
                row.phase.recovery.iter().filter_map(move |r| match r {
                    Some(d) if *d <= RECOVERY_BOUND => None,
                    Some(d) => Some(format!("{}: {:.1} s", row.phase.name, d.as_secs_f64())),
                    None => Some(format!("{}: no progress seen", row.phase.name)),
                })
            })
            .collect()
    }

    /// Whether every criterion holds.
    pub fn passed(&self) -> bool {
        self.total.clean()
            && self.unattributed.is_empty()
            && self.failed_posts.is_empty()
            && self.slow_recoveries().is_empty()
    }

    /// The table and the criteria, as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| fault | surveys (posts 2xx) | actionable | delivered / targets | lost | duplicated | recovery | notes |\n\
             |---|--:|--:|--:|--:|--:|---|---|\n",
        );
        for row in &self.rows {
            let t = &row.tally;
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {} | {} / {} | {} | {} | {} | from {}{} |",
                row.phase.name,
                t.surveys,
                t.accepted_posts,
                t.actionable,
                t.delivered,
                t.targets,
                t.lost,
                duplicated_text(t),
                recovery_text(&row.phase.recovery),
                row.phase.started_at.format("%H:%M:%S"),
                if row.phase.note.is_empty() {
                    String::new()
                } else {
                    format!("; {}", row.phase.note)
                }
            );
        }
        let t = &self.total;
        let _ = writeln!(
            out,
            "| **all** | **{} ({})** | **{}** | **{} / {}** | **{}** | **{}** | | |",
            t.surveys,
            t.accepted_posts,
            t.actionable,
            t.delivered,
            t.targets,
            t.lost,
            duplicated_text(t)
        );
        out.push('\n');
        let check = |ok: bool| if ok { "ok" } else { "FAILED" };
        let _ = writeln!(
            out,
            "- every actionable survey delivered once per target, its final revision included: {} \
             ({} lost; {} duplicated{})",
            check(t.lost == 0 && t.duplicated == 0),
            t.lost,
            t.duplicated,
            if t.in_kill_window == 0 {
                String::new()
            } else {
                format!(
                    ", {} of them within {} s after a notifier SIGKILL",
                    t.in_kill_window,
                    crate::check::KILL_WINDOW.as_secs()
                )
            }
        );
        let _ = writeln!(
            out,
            "- e-mails the notifier sent again after a kill or a timeout, with the first one's \
             Message-ID and Date, which the mailbox store discarded as copies: {}",
            self.discarded_emails
        );
        let _ = writeln!(
            out,
            "- no revision regressed: {} ({})",
            check(t.regressions == 0),
            t.regressions
        );
        let _ = writeln!(
            out,
            "- nothing delivered that must not be (happy customers, unknown alerts, other targets): {} ({})",
            check(t.unexpected == 0 && self.unattributed.is_empty()),
            t.unexpected + self.unattributed.len()
        );
        let _ = writeln!(
            out,
            "- every post answered 2xx in the end (the load retries 503s and refused connections): {} ({} not)",
            check(self.failed_posts.is_empty()),
            self.failed_posts.len()
        );
        let slow = self.slow_recoveries();
        let _ = writeln!(
            out,
            "- every restarted service handled records again within {} s: {}{}",
            RECOVERY_BOUND.as_secs(),
            check(slow.is_empty()),
            if slow.is_empty() {
                String::new()
            } else {
                format!(" ({})", slow.join("; "))
            }
        );
        if !self.notifier_kills.is_empty() {
            let _ = writeln!(
                out,
                "\nThe notifier was SIGKILLed at (gone at) {}.",
                self.notifier_kills
                    .iter()
                    .map(|t| t.format("%H:%M:%S%.3f").to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let mut details: Vec<&String> = self
            .problems
            .iter()
            .chain(&self.unattributed)
            .chain(&self.failed_posts)
            .collect();
        if !details.is_empty() {
            let shown = details.len().min(40);
            let _ = writeln!(
                out,
                "\nProblems ({} in all, first {shown}):\n",
                details.len()
            );
            for line in details.drain(..shown) {
                let _ = writeln!(out, "- {line}");
            }
        }
        out
    }
}

fn duplicated_text(t: &Tally) -> String {
    if t.in_kill_window == 0 {
        t.duplicated.to_string()
    } else {
        format!(
            "{} ({} after a notifier kill)",
            t.duplicated, t.in_kill_window
        )
    }
}

fn recovery_text(recovery: &[Option<Duration>]) -> String {
    recovery
        .iter()
        .map(|r| match r {
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
            None => "none seen".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
