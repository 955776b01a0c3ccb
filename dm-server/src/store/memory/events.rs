//! The events and webhooks of a [`MemoryStore`](super::MemoryStore), under
//! a lock of their own (reading events never waits for a session step).

use std::collections::{BTreeMap, VecDeque};

use crate::store::{
    EventBounds, EventFilter, EventRecord, NewEvent, WebhookId, WebhookRecord, WebhookSpec,
};

/// A webhook with the lease of the node delivering it.
#[derive(Debug)]
struct Webhook {
    record: WebhookRecord,
    lease: Option<(String, u64)>,
}

#[derive(Debug, Default)]
pub(super) struct EventLog {
    /// Oldest first, ids increasing.
    events: VecDeque<EventRecord>,
    newest: u64,
    pruned_through: u64,
    last_webhook: u64,
    webhooks: BTreeMap<WebhookId, Webhook>,
}

impl EventLog {
    pub(super) fn append(&mut self, events: Vec<NewEvent>) {
        for event in events {
            self.newest += 1;
            self.events.push_back(EventRecord::new(self.newest, event));
        }
    }

    pub(super) fn after(&self, after: u64, limit: usize, filter: &EventFilter) -> Vec<EventRecord> {
        let start = self.events.partition_point(|e| e.id <= after);
        self.events
            .range(start..)
            .filter(|e| filter.matches(e.kind, e.dev_id.as_ref()))
            .take(limit)
            .cloned()
            .collect()
    }

    pub(super) fn bounds(&self) -> EventBounds {
        EventBounds::new(self.newest, self.pruned_through)
    }

    pub(super) fn prune(&mut self, keep: u64, before_ms: u64) -> u64 {
        let by_count = self.newest.saturating_sub(keep);
        let by_age = self
            .events
            .iter()
            .filter(|e| e.at_ms < before_ms)
            .map(|e| e.id)
            .max()
            .unwrap_or(0);
        let through = by_count.max(by_age);
        let mut removed = 0;
        while self.events.front().is_some_and(|e| e.id <= through) {
            self.events.pop_front();
            removed += 1;
        }
        if removed > 0 {
            self.pruned_through = self.pruned_through.max(through);
        }
        removed
    }

    pub(super) fn create_webhook(&mut self, spec: WebhookSpec, now_ms: u64) -> WebhookRecord {
        self.last_webhook += 1;
        let id = WebhookId(self.last_webhook);
        let record = WebhookRecord::new(id, spec, now_ms, self.newest);
        self.webhooks.insert(
            id,
            Webhook {
                record: record.clone(),
                lease: None,
            },
        );
        record
    }

    pub(super) fn webhooks(&self) -> Vec<WebhookRecord> {
        self.webhooks.values().map(|w| w.record.clone()).collect()
    }

    pub(super) fn remove_webhook(&mut self, id: WebhookId) -> bool {
        self.webhooks.remove(&id).is_some()
    }

    pub(super) fn lease(
        &mut self,
        id: WebhookId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Option<WebhookRecord> {
        let webhook = self.webhooks.get_mut(&id)?;
        let free = match &webhook.lease {
            None => true,
            Some((holder, until)) => holder == node || *until <= now_ms,
        };
        if !free {
            return None;
        }
        webhook.lease = Some((node.to_owned(), until_ms));
        Some(webhook.record.clone())
    }

    pub(super) fn advance(&mut self, id: WebhookId, node: &str, cursor: u64) -> bool {
        let Some(webhook) = self.webhooks.get_mut(&id) else {
            return false;
        };
        if webhook
            .lease
            .as_ref()
            .is_none_or(|(holder, _)| holder != node)
        {
            return false;
        }
        webhook.record.cursor = webhook.record.cursor.max(cursor);
        true
    }
}
