//! Resolving a device group to its members (docs/updates.md).

use dm_types::DevId;

use crate::Error;
use crate::store::{GroupFilter, GroupRecord, Store};

/// Devices read from the store per page while resolving a group.
const PAGE: usize = 500;

/// The members of `group` at `now_ms`, in DevID order: its explicit devices
/// that are registered, and every registered device meeting all of its
/// conditions ([`GroupFilter::matches`]), read over the store's device
/// pages ([`Store::devices`]). A group without conditions costs one
/// look-up per listed device. The conditions are absolute times today;
/// `now_ms` is the time they are evaluated at.
#[allow(
    dead_code,
    reason = "the campaign engine (another step) starts campaigns with it"
)]
pub(crate) async fn resolve_group<S: Store>(
    store: &S,
    group: &GroupRecord,
    now_ms: u64,
) -> Result<Vec<DevId>, Error> {
    let _ = now_ms;
    let mut members = Vec::new();
    let mut after: Option<DevId> = None;
    loop {
        let (page, next) = members_page(store, &group.filter, after.as_ref(), PAGE).await?;
        members.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => return Ok(members),
        }
    }
}

/// At most `limit` members of a group of `filter` after `after`, in DevID
/// order, and where the next page starts after (`None` at the end).
pub(crate) async fn members_page<S: Store>(
    store: &S,
    filter: &GroupFilter,
    after: Option<&DevId>,
    limit: usize,
) -> Result<(Vec<DevId>, Option<DevId>), Error> {
    let limit = limit.max(1);
    let mut members = Vec::new();
    if !filter.has_conditions() {
        let listed = match after {
            Some(after) => filter
                .devices
                .range::<DevId, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => filter.devices.range::<DevId, _>(..),
        };
        for dev_id in listed {
            if members.len() == limit {
                let next = members.last().cloned();
                return Ok((members, next));
            }
            if store.device(dev_id).await?.is_some() {
                members.push(dev_id.clone());
            }
        }
        return Ok((members, None));
    }
    let mut cursor = after.cloned();
    loop {
        let mut query = crate::store::DeviceQuery::new(PAGE);
        query.after = cursor.take();
        let page = store.devices(&query).await?;
        for device in &page.devices {
            if filter.matches(device) {
                members.push(device.dev_id.clone());
                if members.len() == limit {
                    let next = members.last().cloned();
                    return Ok((members, next));
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok((members, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use dm_types::{Moid, MosEntry};

    use super::*;
    use crate::store::{DeviceRecord, DeviceRegistration, SessionSummary, SessionToken, Tag};
    use crate::{GroupId, MemoryStore};

    fn dev(n: &str) -> DevId {
        DevId::new(format!("IMEI:{n}")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn record(n: &str) -> DeviceRecord {
        DeviceRecord::new(DeviceRegistration::new(dev(n)), 0)
    }

    fn tag(t: &str) -> Tag {
        Tag::new(t).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_condition_must_hold() {
        let mut device = record("1");
        let mut filter = GroupFilter::default();
        assert!(!filter.matches(&device), "no condition, not listed");
        filter.devices.insert(dev("1"));
        assert!(filter.matches(&device), "listed");
        filter.devices.clear();

        filter.tags.insert(tag("a"));
        filter.tags.insert(tag("b"));
        device.tags.insert(tag("a"));
        assert!(!filter.matches(&device), "one tag of two");
        device.tags.insert(tag("b"));
        device.tags.insert(tag("c"));
        assert!(filter.matches(&device));

        filter.devinfo.insert("Mod".into(), "X1".into());
        assert!(!filter.matches(&device), "DevInfo never seen");
        device.devinfo.insert("Mod".into(), "X2".into());
        assert!(!filter.matches(&device), "other value");
        device.devinfo.insert("Mod".into(), "X1".into());
        assert!(filter.matches(&device));

        let fumo = Moid::new("urn:oma:mo:oma-fumo:1.0").unwrap_or_else(|e| panic!("{e}"));
        filter.mos.insert(fumo.clone());
        assert!(!filter.matches(&device), "no MOS");
        device.mos = Some(vec![MosEntry {
            ddf: None,
            moid: fumo,
            miids: Vec::new(),
        }]);
        assert!(filter.matches(&device));

        filter.last_session_after_ms = Some(1_000);
        assert!(!filter.matches(&device), "never had a session");
        filter.last_session_after_ms = None;
        filter.last_session_before_ms = Some(1_000);
        assert!(filter.matches(&device), "never had a session is before");
        let token = SessionToken::from_bytes([7; 16]);
        device.sessions = vec![SessionSummary::new(
            token,
            dm_session::Initiator::Client,
            1_000,
        )];
        assert!(!filter.matches(&device), "at the bound is not before");
        filter.last_session_before_ms = Some(1_001);
        assert!(filter.matches(&device));
        filter.last_session_after_ms = Some(1_000);
        assert!(filter.matches(&device), "at the bound is after");
        filter.last_session_after_ms = Some(1_001);
        assert!(!filter.matches(&device));
    }

    #[tokio::test]
    async fn resolution_pages_over_the_store() {
        let store = MemoryStore::new();
        for n in 0..1_203 {
            let dev_id = dev(&format!("{n:05}"));
            store
                .register_device(DeviceRegistration::new(dev_id.clone()), false, 0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if n % 2 == 0 {
                store
                    .set_device_tags(&dev_id, [tag("even")].into())
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let mut filter = GroupFilter::default();
        filter.tags.insert(tag("even"));
        filter.devices.insert(dev("00001"));
        let group = GroupRecord::new(GroupId::new("g").unwrap_or_else(|e| panic!("{e}")), filter);
        let members = resolve_group(&store, &group, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(members.len(), 603);
        assert_eq!(members[0], dev("00000"));
        assert_eq!(members[1], dev("00001"));
        assert!(members.windows(2).all(|w| w[0] < w[1]));

        let mut listed = GroupFilter::default();
        listed.devices.insert(dev("00003"));
        listed.devices.insert(dev("99999"));
        let (page, next) = members_page(&store, &listed, None, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (page, next),
            (vec![dev("00003")], None),
            "unregistered left out"
        );
    }
}
