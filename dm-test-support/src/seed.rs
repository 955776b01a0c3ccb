//! Many devices in any [`Store`], fast: [`seed_devices`] registers them
//! through the store's batch path ([`Store::register_devices`]: one lock of
//! the memory store, multi-row inserts in one transaction per batch of a
//! SQL store), named by [`seeded_dev_id`].
//!
//! ```
//! use dm_server::{DeviceQuery, MemoryStore, Store};
//! use dm_test_support::seed::{seed_devices, seeded_dev_id};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! seed_devices(&store, 25_000).await.expect("seeded");
//! assert_eq!(store.device_count().await.expect("counted"), 25_000);
//! let page = store.devices(&DeviceQuery::new(2)).await.expect("listed");
//! assert_eq!(page.devices[1].dev_id, seeded_dev_id(1));
//! # });
//! ```

use dm_server::{DeviceRegistration, Error, Store};
use dm_types::DevId;

/// Devices per [`Store::register_devices`] call.
pub const SEED_BATCH: usize = 5_000;

/// The DevID of seeded device `i`: `IMEI:` and `i` in 15 digits, so that
/// DevID order is the order of `i` (`IMEI:000000000000042`).
pub fn seeded_dev_id(i: usize) -> DevId {
    DevId::new(format!("IMEI:{i:015}")).expect("a seeded DevID is valid")
}

/// Registers the devices `0..n` ([`seeded_dev_id`]) without credentials,
/// [`SEED_BATCH`] at a time; an error (e.g. [`Error::DeviceExists`] when
/// the store holds one of them already) stops with the batches before it
/// registered.
pub async fn seed_devices<S: Store>(store: &S, n: usize) -> Result<(), Error> {
    seed_device_range(store, 0, n).await
}

/// Registers the devices `start..end` ([`seeded_dev_id`]), as
/// [`seed_devices`] does.
pub async fn seed_device_range<S: Store>(store: &S, start: usize, end: usize) -> Result<(), Error> {
    let mut next = start;
    while next < end {
        let stop = end.min(next + SEED_BATCH);
        let batch = (next..stop)
            .map(|i| DeviceRegistration::new(seeded_dev_id(i)))
            .collect();
        store.register_devices(batch, 1_764_000_000_000).await?;
        next = stop;
    }
    Ok(())
}
