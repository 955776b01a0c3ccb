//! What bounds the memory devices can make the server hold for them: the
//! server-wide budget of buffered request-body bytes ([`BodyBudget`]) and
//! the cap on requests a device has in flight at once
//! ([`DeviceRequests`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use hyper::body::{Frame, SizeHint};
use tokio::sync::Notify;

use dm_types::DevId;

/// The bytes of request bodies all requests together may hold in memory.
///
/// A request takes its share before it reads its body (all of its
/// `Content-Length` at once, or chunk by chunk as a body without one
/// arrives) and gives it back when the bytes it read are dropped.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    released: Notify,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize) -> Self {
        BodyBudget {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            released: Notify::new(),
        }
    }

    /// Bytes taken now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The most bytes ever taken at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// Takes `bytes` if they fit under the limit now.
    fn try_take(&self, bytes: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            });
        match taken {
            Ok(before) => {
                self.peak.fetch_max(before + bytes, Ordering::AcqRel);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `bytes`, waiting up to `wait` for other requests to give
    /// bytes back; `false` when they did not fit in time.
    async fn take(&self, bytes: usize, wait: Duration) -> bool {
        if self.try_take(bytes) {
            return true;
        }
        if bytes > self.limit {
            return false;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let released = self.released.notified();
            let mut released = std::pin::pin!(released);
            // Registered before trying, so a release in between wakes us.
            released.as_mut().enable();
            if self.try_take(bytes) {
                return true;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return self.try_take(bytes);
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            self.released.notify_waiters();
        }
    }
}

/// A share of the [`BodyBudget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Reservation {
    /// An empty share of `budget`.
    pub(crate) fn empty(budget: Arc<BodyBudget>) -> Self {
        Reservation { budget, bytes: 0 }
    }

    /// Adds `bytes` to the share, waiting up to `wait` for room; `false`
    /// (and nothing added) when there was none in time.
    pub(crate) async fn grow(&mut self, bytes: usize, wait: Duration) -> bool {
        if self.budget.take(bytes, wait).await {
            self.bytes += bytes;
            true
        } else {
            false
        }
    }

    /// The bytes of the share.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// How many requests each device has in flight, capped.
#[derive(Debug)]
pub(crate) struct DeviceRequests {
    limit: usize,
    in_flight: Mutex<HashMap<DevId, usize>>,
}

impl DeviceRequests {
    pub(crate) fn new(limit: usize) -> Self {
        DeviceRequests {
            limit: limit.max(1),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The cap.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for one more request of `dev_id`; `None` when the device
    /// already has the most allowed in flight.
    pub(crate) fn enter(self: &Arc<Self>, dev_id: &DevId) -> Option<DeviceSlot> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = in_flight.entry(dev_id.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(DeviceSlot {
            requests: self.clone(),
            dev_id: dev_id.clone(),
        })
    }

    fn leave(&self, dev_id: &DevId) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(dev_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(dev_id);
            }
        }
    }
}

/// One request of a device in flight; leaves when dropped.
#[derive(Debug)]
pub(crate) struct DeviceSlot {
    requests: Arc<DeviceRequests>,
    dev_id: DevId,
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        self.requests.leave(&self.dev_id);
    }
}

/// Keeps `slot` until the body of `response` is sent (or the connection
/// closes): a device that reads its answers slowly keeps its requests in
/// flight.
pub(crate) fn hold_until_sent(response: Response, slot: DeviceSlot) -> Response {
    response.map(|body| {
        Body::new(Held {
            body,
            slot: Some(slot),
        })
    })
}

/// A response body with the device slot it holds.
struct Held {
    body: Body,
    slot: Option<DeviceSlot>,
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            this.slot = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_budget_is_never_exceeded_and_waiters_get_released_bytes() {
        let budget = Arc::new(BodyBudget::new(100));
        let mut first = Reservation::empty(budget.clone());
        assert!(first.grow(60, Duration::ZERO).await);
        let mut second = Reservation::empty(budget.clone());
        assert!(!second.grow(41, Duration::ZERO).await);
        assert_eq!(second.bytes(), 0);
        assert!(second.grow(40, Duration::ZERO).await);
        assert_eq!((budget.used(), budget.peak()), (100, 100));
        // More than the whole budget never fits, however long it waits.
        let mut huge = Reservation::empty(budget.clone());
        assert!(!huge.grow(101, Duration::from_secs(60)).await);
        // A waiter gets the bytes given back meanwhile.
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut third = Reservation::empty(budget);
                third.grow(50, Duration::from_secs(60)).await
            })
        };
        tokio::task::yield_now().await;
        drop(first);
        assert!(waiter.await.expect("no panic"));
        drop(second);
        assert_eq!(budget.used(), 0);
        assert_eq!(budget.peak(), 100);
    }

    #[test]
    fn a_device_has_at_most_its_cap_in_flight() {
        let requests = Arc::new(DeviceRequests::new(2));
        let a = DevId::new("IMEI:1").expect("valid");
        let b = DevId::new("IMEI:2").expect("valid");
        let first = requests.enter(&a).expect("first");
        let _second = requests.enter(&a).expect("second");
        assert!(requests.enter(&a).is_none());
        assert!(
            requests.enter(&b).is_some(),
            "another device is not affected"
        );
        drop(first);
        assert!(requests.enter(&a).is_some());
        let in_flight = requests.in_flight.lock().expect("not poisoned");
        assert_eq!(in_flight.get(&a), Some(&1), "the slots above were dropped");
        assert!(
            !in_flight.contains_key(&b),
            "no entry is kept for idle devices"
        );
    }
}
