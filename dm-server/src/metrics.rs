//! Operational metrics of a server, served at `GET /metrics` in the
//! Prometheus text exposition format (version 0.0.4).
//!
//! Counters and histograms are plain atomics with fixed label sets (command
//! names, status codes of the protocol, outcomes, authentication methods),
//! so counting costs no allocation and no lock on the request path. No
//! label ever carries a DevID or any other per-device value: the label sets
//! are closed, except the campaign id of the campaign gauges, which an
//! operator creates. Gauges that the store knows (open sessions, queued
//! commands, campaign progress) are read from it when scraped.
//!
//! ```
//! use std::time::Duration;
//! use dm_server::metrics::Histogram;
//!
//! let latency = Histogram::new(&[0.001, 0.01, 0.1]);
//! latency.observe(Duration::from_millis(5));
//! latency.observe(Duration::from_millis(50));
//! let snapshot = latency.snapshot();
//! assert_eq!(snapshot.count, 2);
//! // Cumulative: one observation ≤ 10 ms, two ≤ 100 ms.
//! assert_eq!(snapshot.cumulative, vec![0, 1, 2]);
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dm_types::{Command, StatusCode};

use crate::store::SessionOutcome;

/// A histogram with fixed upper bounds (in seconds), safe to observe from
/// many threads at once.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// What a [`Histogram`] holds at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The upper bounds of the buckets, in seconds (`+Inf` not included).
    pub bounds: &'static [f64],
    /// The observations at or below each bound (cumulative, one per bound).
    pub cumulative: Vec<u64>,
    /// The sum of the observations, in seconds.
    pub sum_seconds: f64,
    /// How many observations were made (the `+Inf` bucket).
    pub count: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (seconds, increasing).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let index = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The histogram's state now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self.buckets[..self.bounds.len()]
            .iter()
            .map(|bucket| {
                total += bucket.load(Ordering::Relaxed);
                total
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let sum_seconds = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            sum_seconds,
            count: total + self.buckets[self.bounds.len()].load(Ordering::Relaxed),
        }
    }
}

/// Bounds of the session duration histogram (seconds): a session lasts
/// from its Package#1 to its end, milliseconds on a LAN, minutes for a
/// device that downloads before answering.
const SESSION_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Bounds of the store latency histograms (seconds): one transaction.
pub const STORE_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The latency of a store's transactions, by access (what a SQL store
/// measures; see [`Store::latency`](crate::Store::latency)).
#[derive(Debug)]
pub struct StoreLatency {
    /// Read-only transactions.
    pub read: Histogram,
    /// Transactions that write.
    pub write: Histogram,
}

impl Default for StoreLatency {
    fn default() -> Self {
        StoreLatency {
            read: Histogram::new(STORE_SECONDS),
            write: Histogram::new(STORE_SECONDS),
        }
    }
}

/// The commands of the protocol, in the order of their counters.
const COMMANDS: &[&str] = &[
    "HGET", "HPUT", "HPOST", "DELETE", "EXEC", "GET", "SHOW", "CONT", "END", "DEFAULT", "SUB",
    "UNSUB",
];

/// How a device or admin request failed to authenticate: the label of
/// `dm_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// No credentials at all (the first round of a Digest exchange).
    None,
    /// An `Authorization` header that does not parse.
    Malformed,
    /// HTTP Basic.
    Basic,
    /// HTTP Digest (wrong response, unknown user, stale nonce).
    Digest,
    /// A TLS client certificate that is not registered.
    Certificate,
    /// A TLS-PSK identity that is no longer registered.
    Psk,
    /// The admin API's bearer token.
    Admin,
}

impl AuthMethod {
    const ALL: [AuthMethod; 7] = [
        AuthMethod::None,
        AuthMethod::Malformed,
        AuthMethod::Basic,
        AuthMethod::Digest,
        AuthMethod::Certificate,
        AuthMethod::Psk,
        AuthMethod::Admin,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Malformed => "malformed",
            AuthMethod::Basic => "basic",
            AuthMethod::Digest => "digest",
            AuthMethod::Certificate => "certificate",
            AuthMethod::Psk => "psk",
            AuthMethod::Admin => "admin",
        }
    }
}

/// The outcomes a session ends with, in the order of their counters.
const OUTCOMES: [&str; 3] = ["completed", "timeout", "failed"];

fn outcome_index(outcome: &SessionOutcome) -> usize {
    match outcome {
        SessionOutcome::Completed => 0,
        SessionOutcome::Timeout => 1,
        SessionOutcome::Failed(_) => 2,
    }
}

/// The counters and histograms of one server process.
#[derive(Debug)]
pub(crate) struct Metrics {
    sessions_started: AtomicU64,
    sessions_ended: [AtomicU64; OUTCOMES.len()],
    session_seconds: Histogram,
    /// `COMMANDS.len()` rows of `StatusCode::TABLE.len() + 1` columns (the
    /// last: a code outside the table).
    command_results: Box<[AtomicU64]>,
    notifications_sent: AtomicU64,
    notifications_failed: AtomicU64,
    auth_failures: [AtomicU64; AuthMethod::ALL.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        let cells = COMMANDS.len() * (StatusCode::TABLE.len() + 1);
        Metrics {
            sessions_started: AtomicU64::new(0),
            sessions_ended: Default::default(),
            session_seconds: Histogram::new(SESSION_SECONDS),
            command_results: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            notifications_sent: AtomicU64::new(0),
            notifications_failed: AtomicU64::new(0),
            auth_failures: Default::default(),
        }
    }
}

/// What the store says when scraped: gauges read at that moment.
#[derive(Debug, Default)]
pub(crate) struct StoreGauges {
    pub(crate) open_sessions: usize,
    pub(crate) queued_commands: u64,
    /// Per campaign not finished: its id, status, and (stage, state, count).
    pub(crate) campaigns: Vec<CampaignGauge>,
}

/// The progress of one campaign.
#[derive(Debug)]
pub(crate) struct CampaignGauge {
    pub(crate) id: String,
    pub(crate) stage: u32,
    pub(crate) devices: Vec<(u32, &'static str, u64)>,
}

impl Metrics {
    /// A session was opened (its Package#1 answered).
    pub(crate) fn session_started(&self) {
        self.sessions_started.fetch_add(1, Ordering::Relaxed);
    }

    /// A session ended with `outcome`, `started_ms` and `ended_ms` apart.
    pub(crate) fn session_ended(&self, outcome: &SessionOutcome, started_ms: u64, ended_ms: u64) {
        self.sessions_ended[outcome_index(outcome)].fetch_add(1, Ordering::Relaxed);
        self.session_seconds
            .observe(Duration::from_millis(ended_ms.saturating_sub(started_ms)));
    }

    /// A device reported `status` for `command`.
    pub(crate) fn command_result(&self, command: &Command, status: StatusCode) {
        let name = command.name();
        let Some(row) = COMMANDS.iter().position(|c| *c == name) else {
            return;
        };
        let column = StatusCode::TABLE
            .binary_search_by_key(&status, |info| info.code)
            .unwrap_or(StatusCode::TABLE.len());
        self.command_results[row * (StatusCode::TABLE.len() + 1) + column]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A notification (Package#0) was delivered, or failed to be.
    pub(crate) fn notification(&self, sent: bool) {
        let counter = if sent {
            &self.notifications_sent
        } else {
            &self.notifications_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A request failed to authenticate with `method`.
    pub(crate) fn auth_failure(&self, method: AuthMethod) {
        let index = AuthMethod::ALL
            .iter()
            .position(|m| *m == method)
            .unwrap_or(0);
        self.auth_failures[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text: these counters, the store's latency when it
    /// measures it, and the store's gauges.
    pub(crate) fn render(&self, store: Option<&StoreLatency>, gauges: &StoreGauges) -> String {
        let mut out = String::with_capacity(16 << 10);
        header(
            &mut out,
            "dm_sessions_started_total",
            "counter",
            "Sessions opened (Package#1 answered).",
        );
        sample(
            &mut out,
            "dm_sessions_started_total",
            &[],
            self.sessions_started.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "dm_sessions_ended_total",
            "counter",
            "Sessions ended, by outcome (completed, timeout, failed).",
        );
        for (outcome, counter) in OUTCOMES.iter().zip(&self.sessions_ended) {
            sample(
                &mut out,
                "dm_sessions_ended_total",
                &[("outcome", outcome)],
                counter.load(Ordering::Relaxed),
            );
        }
        histogram(
            &mut out,
            "dm_session_duration_seconds",
            "Time from a session's Package#1 to its end.",
            &[],
            &self.session_seconds.snapshot(),
        );
        self.render_commands(&mut out);
        header(
            &mut out,
            "dm_notifications_total",
            "counter",
            "Notifications (Package#0) sent, by result (sent, failed).",
        );
        for (result, counter) in [
            ("sent", &self.notifications_sent),
            ("failed", &self.notifications_failed),
        ] {
            sample(
                &mut out,
                "dm_notifications_total",
                &[("result", result)],
                counter.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "dm_auth_failures_total",
            "counter",
            "Requests refused with 401, by authentication method (none: no credentials, the first round of Digest).",
        );
        for (method, counter) in AuthMethod::ALL.iter().zip(&self.auth_failures) {
            sample(
                &mut out,
                "dm_auth_failures_total",
                &[("method", method.label())],
                counter.load(Ordering::Relaxed),
            );
        }
        if let Some(latency) = store {
            let help = "Duration of one store transaction, by access (read, write).";
            header(&mut out, "dm_store_transaction_seconds", "histogram", help);
            for (access, histogram) in [("read", &latency.read), ("write", &latency.write)] {
                histogram_samples(
                    &mut out,
                    "dm_store_transaction_seconds",
                    &[("access", access)],
                    &histogram.snapshot(),
                );
            }
        }
        render_gauges(&mut out, gauges);
        out
    }

    fn render_commands(&self, out: &mut String) {
        header(
            out,
            "dm_command_results_total",
            "counter",
            "Command statuses devices reported, by command and status code.",
        );
        let columns = StatusCode::TABLE.len() + 1;
        for (row, command) in COMMANDS.iter().enumerate() {
            for column in 0..columns {
                let value = self.command_results[row * columns + column].load(Ordering::Relaxed);
                // Only the pairs that happened: a scrape stays small.
                if value == 0 {
                    continue;
                }
                let code = StatusCode::TABLE
                    .get(column)
                    .map_or_else(|| "other".to_owned(), |info| info.code.as_u16().to_string());
                sample(
                    out,
                    "dm_command_results_total",
                    &[("command", command), ("code", &code)],
                    value,
                );
            }
        }
    }
}

fn render_gauges(out: &mut String, gauges: &StoreGauges) {
    header(out, "dm_open_sessions", "gauge", "Sessions open now.");
    sample(out, "dm_open_sessions", &[], gauges.open_sessions as u64);
    header(
        out,
        "dm_queued_commands",
        "gauge",
        "Commands queued and not yet sent to their device (the queue depth).",
    );
    sample(out, "dm_queued_commands", &[], gauges.queued_commands);
    header(
        out,
        "dm_campaign_stage",
        "gauge",
        "The current stage (index) of each campaign not finished.",
    );
    for campaign in &gauges.campaigns {
        sample(
            out,
            "dm_campaign_stage",
            &[("campaign", &campaign.id)],
            u64::from(campaign.stage),
        );
    }
    header(
        out,
        "dm_campaign_devices",
        "gauge",
        "Devices of each campaign not finished, by stage and update state.",
    );
    for campaign in &gauges.campaigns {
        for (stage, state, count) in &campaign.devices {
            sample(
                out,
                "dm_campaign_devices",
                &[
                    ("campaign", &campaign.id),
                    ("stage", &stage.to_string()),
                    ("state", state),
                ],
                *count,
            );
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    write_labels(out, labels);
    let _ = writeln!(out, " {value}");
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape_label(value));
    }
    out.push('}');
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    snapshot: &HistogramSnapshot,
) {
    header(out, name, "histogram", help);
    histogram_samples(out, name, labels, snapshot);
}

fn histogram_samples(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    snapshot: &HistogramSnapshot,
) {
    let bucket = format!("{name}_bucket");
    for (bound, count) in snapshot.bounds.iter().zip(&snapshot.cumulative) {
        let le = bound.to_string();
        let mut all = labels.to_vec();
        all.push(("le", &le));
        sample(out, &bucket, &all, *count);
    }
    let mut all = labels.to_vec();
    all.push(("le", "+Inf"));
    sample(out, &bucket, &all, snapshot.count);
    out.push_str(name);
    out.push_str("_sum");
    write_labels(out, labels);
    let _ = writeln!(out, " {}", snapshot.sum_seconds);
    out.push_str(name);
    out.push_str("_count");
    write_labels(out, labels);
    let _ = writeln!(out, " {}", snapshot.count);
}

/// A label value as the format writes it: backslash, double quote and line
/// feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A HELP text as the format writes it: backslash and line feed escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_an_infinite_last() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(100));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![2, 3]);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 5.65).abs() < 1e-9);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
    }

    #[test]
    fn command_results_count_by_name_and_code() {
        let metrics = Metrics::default();
        let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]).unwrap();
        metrics.command_result(&get, StatusCode::OK);
        metrics.command_result(&get, StatusCode::OK);
        metrics.command_result(&get, StatusCode::new(299).unwrap());
        let text = metrics.render(None, &StoreGauges::default());
        assert!(text.contains("dm_command_results_total{command=\"GET\",code=\"200\"} 2\n"));
        assert!(text.contains("dm_command_results_total{command=\"GET\",code=\"other\"} 1\n"));
        assert!(!text.contains("command=\"EXEC\""));
    }

    #[test]
    fn every_command_has_a_row() {
        let node = "urn:oma:mo:oma-dm-devinfo:1.0//Man";
        for words in [
            &["GET", node][..],
            &["DELETE", node],
            &["EXEC", node],
            &["END"],
        ] {
            let command = Command::from_words(words).unwrap();
            assert!(COMMANDS.contains(&command.name()), "{words:?}");
        }
    }
}
