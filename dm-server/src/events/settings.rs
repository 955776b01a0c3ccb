//! [`EventSettings`]: the event stream's and the webhooks' settings.

use std::time::Duration;

/// How the server keeps and spreads its events (docs/operations.md,
/// "Events and webhooks"): set with
/// [`ServerOptionsBuilder::events`](crate::ServerOptionsBuilder::events).
///
/// ```
/// use std::time::Duration;
/// use dm_server::{EventSettings, ServerOptions};
///
/// let settings = EventSettings::default()
///     .with_keep_events(10_000)
///     .with_max_age(Duration::from_secs(3600))
///     .with_poll_interval(Duration::from_millis(50));
/// let options = ServerOptions::builder().events(settings).build()?;
/// assert_eq!(options.events().keep_events, 10_000);
/// assert!(EventSettings::default().enabled);
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventSettings {
    /// Whether events are recorded at all (default on). Off: nothing is
    /// appended, `GET /admin/events` streams nothing, webhooks deliver
    /// nothing.
    pub enabled: bool,
    /// Most events kept in the store (default 100,000); older ones are
    /// pruned.
    pub keep_events: u64,
    /// Events older than this are pruned (default 7 days).
    pub max_age: Duration,
    /// How often the pruning runs (default 1 minute).
    pub prune_interval: Duration,
    /// Most events waiting in memory to be appended (default 65,536);
    /// beyond, new events are dropped and counted in the log.
    pub buffer: usize,
    /// How often waiting events are appended to the store, in one
    /// statement (default 50 ms).
    pub flush_interval: Duration,
    /// How often each node reads the events other nodes appended
    /// (default 200 ms; its own are read as soon as they are appended).
    pub poll_interval: Duration,
    /// The comment sent on an idle stream (default every 15 s).
    pub keep_alive: Duration,
    /// Most attempts to deliver an event to a webhook (default 6), then
    /// it is skipped.
    pub webhook_attempts: u32,
    /// The wait before the second attempt, doubled for each next one, up
    /// to a minute (default 1 s).
    pub webhook_backoff: Duration,
    /// How long one delivery may take (default 10 s).
    pub webhook_timeout: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            enabled: true,
            keep_events: 100_000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            prune_interval: Duration::from_secs(60),
            buffer: 65_536,
            flush_interval: Duration::from_millis(50),
            poll_interval: Duration::from_millis(200),
            keep_alive: Duration::from_secs(15),
            webhook_attempts: 6,
            webhook_backoff: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

impl EventSettings {
    /// Sets [`EventSettings::enabled`].
    #[must_use]
    pub fn with_enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Sets [`EventSettings::keep_events`] (at least 1).
    #[must_use]
    pub fn with_keep_events(mut self, n: u64) -> Self {
        self.keep_events = n.max(1);
        self
    }

    /// Sets [`EventSettings::max_age`].
    #[must_use]
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Sets [`EventSettings::prune_interval`] (at least 10 ms).
    #[must_use]
    pub fn with_prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets [`EventSettings::buffer`] (at least 1).
    #[must_use]
    pub fn with_buffer(mut self, n: usize) -> Self {
        self.buffer = n.max(1);
        self
    }

    /// Sets [`EventSettings::flush_interval`] (at least 1 ms).
    #[must_use]
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets [`EventSettings::poll_interval`] (at least 10 ms).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets [`EventSettings::keep_alive`] (at least 10 ms).
    #[must_use]
    pub fn with_keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets [`EventSettings::webhook_attempts`] (at least 1).
    #[must_use]
    pub fn with_webhook_attempts(mut self, n: u32) -> Self {
        self.webhook_attempts = n.max(1);
        self
    }

    /// Sets [`EventSettings::webhook_backoff`].
    #[must_use]
    pub fn with_webhook_backoff(mut self, wait: Duration) -> Self {
        self.webhook_backoff = wait;
        self
    }

    /// Sets [`EventSettings::webhook_timeout`] (at least 10 ms).
    #[must_use]
    pub fn with_webhook_timeout(mut self, timeout: Duration) -> Self {
        self.webhook_timeout = timeout.max(Duration::from_millis(10));
        self
    }
}
