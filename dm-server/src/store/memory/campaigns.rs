//! The campaigns of a [`MemoryStore`](super::MemoryStore): their records,
//! each device's row, and the lease of the node driving each.

use std::collections::BTreeMap;
use std::ops::Bound;

use dm_types::DevId;

use crate::Error;
use crate::store::{
    CampaignDevice, CampaignId, CampaignRecord, CampaignSpec, CampaignStatus, StageCounts,
    UpdateState,
};

/// One campaign: its record, its rows by DevID, its lease.
#[derive(Debug)]
struct Campaign {
    record: CampaignRecord,
    rows: BTreeMap<DevId, CampaignDevice>,
    /// The node driving it and until when.
    lease: Option<(String, u64)>,
}

#[derive(Debug, Default)]
pub(super) struct CampaignState {
    /// The last id assigned.
    last_id: u64,
    campaigns: BTreeMap<CampaignId, Campaign>,
}

impl CampaignState {
    /// Whether an unfinished campaign's spec meets `uses`.
    pub(super) fn unfinished_use(&self, uses: impl Fn(&CampaignSpec) -> bool) -> bool {
        self.campaigns
            .values()
            .any(|c| !c.record.status.is_finished() && uses(&c.record.spec))
    }

    /// The device's row that is not final in an unfinished campaign (the
    /// oldest campaign's, should there be several).
    fn active_row(&self, dev_id: &DevId) -> Option<&CampaignDevice> {
        self.campaigns
            .values()
            .filter(|c| !c.record.status.is_finished())
            .filter_map(|c| c.rows.get(dev_id))
            .find(|row| !row.state.is_final())
    }

    pub(super) fn create(
        &mut self,
        spec: CampaignSpec,
        members: Vec<(DevId, u32)>,
        now_ms: u64,
    ) -> CampaignRecord {
        let id = CampaignId(self.last_id + 1);
        let mut rows = BTreeMap::new();
        for (dev_id, stage) in members {
            if rows.contains_key(&dev_id) {
                continue;
            }
            let mut row = CampaignDevice::pending(id, dev_id.clone(), stage);
            row.updated_ms = now_ms;
            if self.active_row(&dev_id).is_some() {
                row.state = UpdateState::Skipped;
            }
            rows.insert(dev_id, row);
        }
        let record = CampaignRecord {
            id,
            spec,
            status: CampaignStatus::Running,
            stage: 0,
            version: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
        };
        self.last_id = id.0;
        self.campaigns.insert(
            id,
            Campaign {
                record: record.clone(),
                rows,
                lease: None,
            },
        );
        record
    }

    pub(super) fn campaign(&self, id: CampaignId) -> Option<CampaignRecord> {
        self.campaigns.get(&id).map(|c| c.record.clone())
    }

    pub(super) fn campaigns(&self) -> Vec<CampaignRecord> {
        self.campaigns.values().map(|c| c.record.clone()).collect()
    }

    pub(super) fn update(
        &mut self,
        id: CampaignId,
        expected_version: u64,
        status: CampaignStatus,
        stage: u32,
        now_ms: u64,
    ) -> Result<CampaignRecord, Error> {
        let campaign = self
            .campaigns
            .get_mut(&id)
            .ok_or(Error::CampaignNotFound(id))?;
        let record = &mut campaign.record;
        if record.version != expected_version {
            return Err(Error::CampaignVersion {
                campaign: id,
                expected: expected_version,
            });
        }
        record.status = status;
        record.stage = stage;
        record.version += 1;
        record.updated_ms = now_ms;
        Ok(record.clone())
    }

    pub(super) fn counts(&self, id: CampaignId) -> Vec<StageCounts> {
        let mut stages: BTreeMap<u32, StageCounts> = BTreeMap::new();
        for row in self.rows(id) {
            let stage = stages.entry(row.stage).or_insert_with(|| StageCounts {
                stage: row.stage,
                counts: BTreeMap::new(),
            });
            *stage.counts.entry(row.state).or_insert(0) += 1;
        }
        stages.into_values().collect()
    }

    fn rows(&self, id: CampaignId) -> impl Iterator<Item = &CampaignDevice> {
        self.campaigns
            .get(&id)
            .into_iter()
            .flat_map(|c| c.rows.values())
    }

    pub(super) fn devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> Vec<CampaignDevice> {
        let Some(campaign) = self.campaigns.get(&id) else {
            return Vec::new();
        };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        campaign
            .rows
            .range::<DevId, _>((start, Bound::Unbounded))
            .map(|(_, row)| row)
            .filter(|row| state.is_none_or(|s| row.state == s))
            .take(limit)
            .cloned()
            .collect()
    }

    pub(super) fn device(&self, id: CampaignId, dev_id: &DevId) -> Option<CampaignDevice> {
        self.campaigns.get(&id)?.rows.get(dev_id).cloned()
    }

    pub(super) fn active_device(&self, dev_id: &DevId) -> Option<CampaignDevice> {
        self.active_row(dev_id).cloned()
    }

    pub(super) fn due(
        &self,
        id: CampaignId,
        max_stage: u32,
        now_ms: u64,
        limit: usize,
    ) -> Vec<CampaignDevice> {
        let mut due: Vec<&CampaignDevice> = self
            .rows(id)
            .filter(|row| {
                row.state == UpdateState::Pending
                    && row.stage <= max_stage
                    && row.next_attempt_ms <= now_ms
            })
            .collect();
        due.sort_by(|a, b| {
            (a.stage, a.next_attempt_ms, &a.dev_id).cmp(&(b.stage, b.next_attempt_ms, &b.dev_id))
        });
        due.into_iter().take(limit).cloned().collect()
    }

    pub(super) fn stale(
        &self,
        id: CampaignId,
        updated_before_ms: u64,
        limit: usize,
    ) -> Vec<CampaignDevice> {
        let mut stale: Vec<&CampaignDevice> = self
            .rows(id)
            .filter(|row| row.state.is_in_flight() && row.updated_ms < updated_before_ms)
            .collect();
        stale.sort_by(|a, b| (a.updated_ms, &a.dev_id).cmp(&(b.updated_ms, &b.dev_id)));
        stale.into_iter().take(limit).cloned().collect()
    }

    pub(super) fn advance(
        &mut self,
        new: &CampaignDevice,
        expected: (UpdateState, u32),
        now_ms: u64,
    ) -> bool {
        let Some(row) = self
            .campaigns
            .get_mut(&new.campaign)
            .and_then(|c| c.rows.get_mut(&new.dev_id))
        else {
            return false;
        };
        if (row.state, row.attempts) != expected {
            return false;
        }
        row.state = new.state;
        row.result = new.result;
        row.attempts = new.attempts;
        row.next_attempt_ms = new.next_attempt_ms;
        row.commands.clone_from(&new.commands);
        row.updated_ms = now_ms;
        true
    }

    pub(super) fn skip_pending(&mut self, id: CampaignId, now_ms: u64) -> u64 {
        let Some(campaign) = self.campaigns.get_mut(&id) else {
            return 0;
        };
        let mut skipped = 0;
        for row in campaign.rows.values_mut() {
            if matches!(row.state, UpdateState::Pending | UpdateState::Notified) {
                row.state = UpdateState::Skipped;
                row.updated_ms = now_ms;
                skipped += 1;
            }
        }
        skipped
    }

    pub(super) fn lease(
        &mut self,
        id: CampaignId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, Error> {
        let campaign = self
            .campaigns
            .get_mut(&id)
            .ok_or(Error::CampaignNotFound(id))?;
        let free = match &campaign.lease {
            None => true,
            Some((holder, until)) => holder == node || *until <= now_ms,
        };
        if free {
            campaign.lease = Some((node.to_owned(), until_ms));
        }
        Ok(free)
    }
}
