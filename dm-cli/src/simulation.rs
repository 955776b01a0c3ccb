//! The update MOs `dm device` simulates (`--fumo`, `--scomo`): a FUMO
//! instance over `SimulatedFirmware` whose successful installs change the
//! device's DevInfo `FwV`, and a SCOMO instance over `SimulatedComponents`,
//! both with the configured duration, result and share of failures.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dm_client::update::{
    FirmwareUpdate, FumoSetup, Package, PackageSink, Progress, Scomo, ScomoOptions,
    SimulatedComponents, SimulatedFirmware, Simulation, SinkError,
};
use dm_client::{DmClient, TreeEditor};
use dm_tree::{DEVINFO_MOID, MoTree};
use dm_types::update::{FUMO_MOID, FumoResult, SCOMO_MOID, ScomoResult};
use dm_types::{ClientUri, LeafValue, Miid, MoData, MoNode, NodeName};

/// The MIID of the simulated FUMO instance.
pub(crate) const FUMO_MIID: &str = "fw";

/// The MIID of the simulated SCOMO instance.
pub(crate) const SCOMO_MIID: &str = "scomo";

/// The largest simulated firmware package.
const FIRMWARE_CAPACITY: u64 = 256 << 20;

/// What the simulated update MOs do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdateSimulation {
    /// Simulate a FUMO instance.
    pub(crate) fumo: bool,
    /// Simulate a SCOMO instance.
    pub(crate) scomo: bool,
    /// What an install reports (200..=599; SCOMO adds 1000).
    pub(crate) result: u16,
    /// How long an install takes.
    pub(crate) duration: Duration,
    /// The share of installs, in percent, that fail with 410 (SCOMO 1410).
    pub(crate) fail_percent: u8,
    /// The seed of the failure draw (default: from the DevID).
    pub(crate) seed: Option<u64>,
}

impl UpdateSimulation {
    /// Whether an update MO is simulated.
    pub(crate) fn any(&self) -> bool {
        self.fumo || self.scomo
    }
}

/// The draw behind `--update-fail-percent`: xorshift64, the same seed
/// giving the same failures.
#[derive(Debug)]
struct Draw {
    state: Mutex<u64>,
    percent: u8,
}

impl Draw {
    fn new(seed: u64, percent: u8) -> Draw {
        Draw {
            state: Mutex::new(seed.max(1)),
            percent,
        }
    }

    fn fails(&self) -> bool {
        if self.percent == 0 {
            return false;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x % 100 < u64::from(self.percent)
    }
}

/// A stable seed from the DevID (FNV-1a), so that a fleet's devices fail
/// differently but the same way on every run.
fn seed_of(dev_id: &str) -> u64 {
    dev_id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The firmware of the simulated device: [`SimulatedFirmware`], failing
/// the drawn share of installs, printing each result, and writing the
/// installed version into DevInfo `FwV` on success.
struct DeviceFirmware {
    firmware: SimulatedFirmware,
    duration: Duration,
    draw: Draw,
    editor: TreeEditor,
}

impl FirmwareUpdate for DeviceFirmware {
    fn storage(&self) -> Result<Box<dyn PackageSink + '_>, SinkError> {
        self.firmware.storage()
    }

    fn verify_signature(&self, package: &Package, signature: Option<&[u8]>) -> bool {
        self.firmware.verify_signature(package, signature)
    }

    async fn install(&self, package: &Package) -> FumoResult {
        let result = if self.draw.fails() {
            tokio::time::sleep(self.duration).await;
            FumoResult::UPDATE_FAILED
        } else {
            self.firmware.install(package).await
        };
        if result.is_success() {
            let version = package.version.clone();
            self.editor
                .edit(move |tree| set_firmware_version(tree, &version));
        }
        say!(
            "dm device: firmware update {} finished: {result}",
            package.version
        );
        result
    }

    fn progress(&self, progress: Progress) {
        self.firmware.progress(progress);
    }
}

/// Writes `version` into the device's DevInfo `FwV`.
fn set_firmware_version(
    tree: &mut MoTree,
    version: &str,
) -> Result<Vec<ClientUri>, dm_tree::Error> {
    let miid = tree
        .instances_of(DEVINFO_MOID)
        .next()
        .map(|devinfo| devinfo.miid().as_str().to_owned())
        .ok_or(dm_tree::Error::NotFound)?;
    let instance = tree
        .instance_mut(DEVINFO_MOID, &miid)
        .ok_or(dm_tree::Error::NotFound)?;
    let name = NodeName::new("FwV").map_err(|e| dm_tree::Error::InvalidData {
        at: "FwV".into(),
        reason: e.to_string(),
    })?;
    let id = instance.write(
        std::slice::from_ref(&name),
        &MoData::new(name.clone(), MoNode::Leaf(LeafValue::from(version))),
    )?;
    Ok(vec![instance.client_uri(id)])
}

/// The DevInfo `FwV` of the tree stored in `state`, when there is one: a
/// simulated firmware update survives a restart.
pub(crate) fn stored_firmware_version(state: Option<&Path>) -> Option<String> {
    let tree = DmClient::stored_tree(state?).ok()??;
    let devinfo = tree.instances_of(DEVINFO_MOID).next()?;
    let id = devinfo.lookup(["FwV"])?;
    devinfo.value(id).map(|v| v.to_text().into_owned())
}

/// Creates the simulated update MOs `simulation` asks for; the handles
/// must live as long as the client.
pub(crate) fn attach(
    client: &mut DmClient,
    simulation: &UpdateSimulation,
) -> Result<Vec<Box<dyn std::any::Any + Send>>, String> {
    let mut handles: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let seed = simulation
        .seed
        .unwrap_or_else(|| seed_of(client.dev_id().as_str()));
    if simulation.fumo {
        let result = FumoResult::new(simulation.result)
            .ok_or_else(|| format!("--update-result {}: not in 200..=599", simulation.result))?;
        let version = client
            .tree()
            .instances_of(DEVINFO_MOID)
            .next()
            .and_then(|devinfo| devinfo.lookup(["FwV"]).and_then(|id| devinfo.value(id)))
            .map(|v| v.to_text().into_owned())
            .unwrap_or_default();
        let firmware = DeviceFirmware {
            firmware: SimulatedFirmware::new(FIRMWARE_CAPACITY)
                .install_duration(simulation.duration)
                .result(result),
            duration: simulation.duration,
            draw: Draw::new(seed, simulation.fail_percent),
            editor: client.tree_editor(),
        };
        let mut setup = FumoSetup::new(Miid::new(FUMO_MIID).map_err(|e| e.to_string())?)
            .package("firmware", version);
        for server in client.servers() {
            setup = setup.server(server);
        }
        let fumo = client
            .install_fumo(setup, firmware)
            .map_err(|e| format!("--fumo: {e}"))?;
        handles.push(Box::new(fumo));
    }
    if simulation.scomo {
        let result = simulation
            .result
            .checked_add(1000)
            .and_then(ScomoResult::new)
            .ok_or_else(|| format!("--update-result {}: not in 200..=599", simulation.result))?;
        // The simulated components are those the state file's inventory
        // holds: installs survive a restart.
        let (delivered, deployed) = Scomo::inventory_in(client.tree(), SCOMO_MIID);
        let components = Arc::new(
            SimulatedComponents::new(Simulation {
                duration: simulation.duration,
                result,
                fail_percent: simulation.fail_percent,
                seed,
                ..Simulation::default()
            })
            .with_delivered(delivered)
            .with_deployed(deployed),
        );
        let options = ScomoOptions {
            miid: Miid::new(SCOMO_MIID).map_err(|e| e.to_string())?,
            listener: Some(Arc::new(|operation, name, result| {
                say!("dm device: software component {name} {operation} finished: {result}");
            })),
            ..ScomoOptions::default()
        };
        let scomo: Scomo =
            Scomo::attach(client, components, options).map_err(|e| format!("--scomo: {e}"))?;
        handles.push(Box::new(scomo));
    }
    Ok(handles)
}

/// Whether `node` is an update operation (FUMO or SCOMO), which a new
/// process cannot continue.
pub(crate) fn interrupted(node: &ClientUri) -> bool {
    node.moid() == FUMO_MOID || node.moid() == SCOMO_MOID
}

/// Waits until no EXEC is running (the simulated updates finished), at
/// most `limit`, recording their results.
pub(crate) async fn settle(client: &mut DmClient, limit: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + limit;
    while !client.running_execs().is_empty() && tokio::time::Instant::now() < deadline {
        client.take_exec_completions().map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.take_exec_completions().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_their_seed_and_share() {
        let run = |seed| {
            let draw = Draw::new(seed, 30);
            (0..200).map(|_| draw.fails()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let failures = run(5).iter().filter(|f| **f).count();
        assert!((30..=90).contains(&failures), "{failures} of 200");
        assert!(!Draw::new(1, 0).fails());
        assert_ne!(seed_of("IMEI:1"), seed_of("IMEI:2"));
    }

    #[test]
    fn only_update_operations_count_as_interrupted() {
        for (uri, expected) in [
            ("urn:oma:mo:oma-fumo:1.0/fw/DownloadAndUpdate", true),
            (
                "urn:oma:mo:oma-scomo:1.0/scomo/Download/a/Operations/Download",
                true,
            ),
            ("urn:dm-sdk:mo:demo:1.0//Reboot", false),
        ] {
            let node = ClientUri::parse(uri).expect("uri");
            assert_eq!(interrupted(&node), expected, "{uri}");
        }
    }

    #[test]
    fn the_firmware_version_lands_in_devinfo() {
        let mut tree = MoTree::new();
        let devinfo = dm_tree::DevInfo::new(dm_types::DevId::new("IMEI:1").expect("id"), "A", "B");
        tree.insert(devinfo.to_instance()).expect("inserted");
        let changed = set_firmware_version(&mut tree, "1.2.0").expect("set");
        assert_eq!(changed.len(), 1);
        let (status, uris) = tree.resolve_str(&format!("{DEVINFO_MOID}//FwV"));
        assert_eq!(status.as_u16(), 200);
        let nodes = tree.resolve(&uris[0]).expect("resolved");
        assert_eq!(
            nodes[0].instance.value(nodes[0].id),
            Some(&LeafValue::from("1.2.0"))
        );
        assert!(set_firmware_version(&mut MoTree::new(), "1").is_err());
    }
}
