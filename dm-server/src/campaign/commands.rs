//! The commands a campaign queues for a device: the MO data of the update
//! (served from the repository, one object per campaign and device, since
//! the PkgURL carries the device's own download token), the HGET that
//! writes it into the device's update MO instance, and the EXECs that start
//! the download and the installation with a ServerURI, so that the result
//! comes asynchronously in a generic alert.

use dm_types::update::{EXT_PKG_SHA256, EXT_PKG_SIZE, FUMO_MOID, FumoOperation, SCOMO_MOID};
use dm_types::{ClientUri, Command, DevId, Instance, Miid, MosEntry, ServerUri};
use serde_json::{Value, json};

use super::policy::Flavor;
use crate::Error;
use crate::store::{ArtifactKind, ArtifactRecord, CampaignId};

/// The flavor of an artifact kind.
pub(crate) fn flavor(kind: ArtifactKind) -> Flavor {
    match kind {
        ArtifactKind::Firmware => Flavor::Firmware,
        ArtifactKind::Software => Flavor::Software,
    }
}

/// The MOID of the update MO of a flavor.
pub(crate) fn moid(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Firmware => FUMO_MOID,
        Flavor::Software => SCOMO_MOID,
    }
}

/// The code a row fails with when the device has no instance of the update
/// MO: FUMO 408 (not implemented), SCOMO 1408.
pub(crate) fn unsupported_code(flavor: Flavor) -> u16 {
    match flavor {
        Flavor::Firmware => 408,
        Flavor::Software => 1408,
    }
}

/// The device's instance of the update MO, from the MOS of its last
/// Package#1 (the first MIID listed); `None` when it reported none.
pub(crate) fn instance(mos: Option<&[MosEntry]>, flavor: Flavor) -> Option<Miid> {
    let moid = moid(flavor);
    mos?.iter()
        .find(|entry| entry.moid.as_str() == moid)
        .and_then(|entry| entry.miids.first().cloned())
}

/// The repository path of a device's MO data in a campaign:
/// `campaigns/<id>/<DevID>`, the DevID as it is when made of
/// `A-Z a-z 0-9 . _ : -` only (and not `.` or `..`), else `x` and its
/// hexadecimal (a DevID may hold `/`, `?` or `%`).
pub(crate) fn repository_path(campaign: CampaignId, dev_id: &DevId) -> String {
    let text = dev_id.as_str();
    let plain = text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if plain {
        format!("campaigns/{campaign}/{text}")
    } else {
        format!(
            "campaigns/{campaign}/x{}",
            dm_codec::hex::encode(text.as_bytes())
        )
    }
}

/// Removes a device's MO data of a campaign once its row is final (or will
/// never be started): its download token is of no further use. A failure
/// is logged; the object is small and its device's own.
pub(crate) async fn forget_mo_data<S: crate::store::Store>(
    store: &S,
    campaign: CampaignId,
    dev_id: &DevId,
) {
    let path = repository_path(campaign, dev_id);
    if let Err(error) = store.delete_object(&path).await {
        tracing::warn!(%error, path, "the campaign's MO data of a device was not removed");
    }
}

/// The node a software package is downloaded under: `Download/<x>` with
/// `x` = `c<campaign id>`.
fn scomo_download_name(campaign: CampaignId) -> String {
    format!("c{campaign}")
}

fn client_uri(text: &str) -> Result<ClientUri, Error> {
    ClientUri::parse(text).map_err(|e| Error::store("build a campaign command", e))
}

fn server_uri(text: String) -> Result<ServerUri, Error> {
    ServerUri::new(text).map_err(|e| Error::store("build a campaign command", e))
}

/// The MO serialization the HGET writes: for firmware, leaves of the FUMO
/// instance `PkgName`, `PkgVersion`, `Download/PkgURL`, `Ext/PkgSize` and
/// `Ext/PkgSHA256`; for software, the whole entry `Download/<x>`: `PkgID`,
/// `Name`, `PkgURL`, `Ext/PkgSize`, `Ext/PkgSHA256` and its `Operations`
/// nodes (docs/updates.md, device side of SCOMO).
pub(crate) fn mo_data(
    flavor: Flavor,
    campaign: CampaignId,
    miid: &Miid,
    artifact: &ArtifactRecord,
    url: &str,
) -> Value {
    let root = format!("{}/{miid}", moid(flavor));
    let sha256 = artifact.sha256_hex();
    match flavor {
        Flavor::Firmware => {
            let leaf = |path: &str, value: Value| {
                let name = path.rsplit('/').next().unwrap_or(path);
                json!({ "ClientURI": format!("{root}/{path}"), "MOData": { name: value } })
            };
            let download = FumoOperation::Download.node_name();
            Value::Array(vec![
                leaf("PkgName", json!(artifact.name)),
                leaf("PkgVersion", json!(artifact.version)),
                leaf(&format!("{download}/PkgURL"), json!(url)),
                leaf(EXT_PKG_SIZE, json!(artifact.size)),
                leaf(EXT_PKG_SHA256, json!(sha256)),
            ])
        }
        Flavor::Software => {
            let name = scomo_download_name(campaign);
            json!([{
                "ClientURI": format!("{root}/Download/{name}"),
                "MOData": { name: {
                    "PkgID": artifact.id.as_str(),
                    "Name": artifact.name,
                    "PkgURL": url,
                    "Ext": { "PkgSize": artifact.size, "PkgSHA256": sha256 },
                    // The device learns of the entry when a node of it is
                    // executed: the server creates the nodes it executes.
                    "Operations": {
                        "Download": {},
                        "DownloadInstall": {},
                        "DownloadInstallInactive": {},
                    },
                }},
            }])
        }
    }
}

/// The HGET of a device's MO data from `<base>/repo/<path>`.
pub(crate) fn hget(base: &str, path: &str) -> Result<Command, Error> {
    Ok(Command::Hget {
        source: server_uri(format!("{base}/repo/{path}"))?,
        target: None,
    })
}

/// The EXEC that starts the download (firmware: `<instance>/Download`;
/// software: `<instance>/Download/<x>/Operations/DownloadInstall`), its
/// result to be reported to `<base>/dm`.
pub(crate) fn exec_download(
    flavor: Flavor,
    campaign: CampaignId,
    miid: &Miid,
    base: &str,
) -> Result<Command, Error> {
    let root = format!("{}/{miid}", moid(flavor));
    let target = match flavor {
        Flavor::Firmware => format!("{root}/{}", FumoOperation::Download.node_name()),
        Flavor::Software => format!(
            "{root}/Download/{}/Operations/DownloadInstall",
            scomo_download_name(campaign)
        ),
    };
    Ok(Command::Exec {
        target: client_uri(&target)?,
        report_to: Some(server_uri(format!("{base}/dm"))?),
    })
}

/// The EXEC of `Update` on the FUMO instance that `download` (the EXEC of
/// its `Download`) targets, reported to the same ServerURI.
pub(crate) fn exec_update(download: &Command) -> Result<Command, Error> {
    let Command::Exec { target, report_to } = download else {
        return Err(Error::store(
            "build a campaign command",
            "the download command is not an EXEC",
        ));
    };
    let miid = target.miid().ok_or_else(|| {
        Error::store(
            "build a campaign command",
            "the download EXEC names no MIID",
        )
    })?;
    let update = format!(
        "{}/{miid}/{}",
        target.moid(),
        FumoOperation::Update.node_name()
    );
    Ok(Command::Exec {
        target: client_uri(&update)?,
        report_to: report_to.clone(),
    })
}

/// The update MO instance (MOID and MIID) an EXEC targets.
pub(crate) fn exec_instance(command: &Command) -> Option<(String, Miid)> {
    match command {
        Command::Exec { target, .. } => Some((target.moid().to_owned(), target.miid()?)),
        _ => None,
    }
}

/// Whether a report's URI (`SourceURI` or `TargetURI` of the alert) names
/// the instance `(moid, miid)`, by its MIID or as the sole instance
/// (`MOID//...`); a report naming no URI is taken as the row's.
pub(crate) fn names_instance(uris: &[Option<&str>], moid: &str, miid: &Miid) -> bool {
    let named: Vec<&str> = uris.iter().flatten().copied().collect();
    if named.is_empty() {
        return true;
    }
    named.iter().any(|uri| {
        ClientUri::parse(uri).ok().is_some_and(|uri| {
            uri.moid() == moid
                && match uri.instance() {
                    Instance::Miid(named) => named == miid.as_str(),
                    Instance::Sole => true,
                    _ => false,
                }
        })
    })
}

/// Whether a command is one a campaign queues (an HGET from the campaign
/// repository, an EXEC on an update MO): the session hooks look for the
/// device's campaign row only then.
pub(crate) fn is_campaign_command(command: &Command) -> bool {
    match command {
        Command::Hget { source, .. } => source.path_and_query().contains("/repo/campaigns/"),
        Command::Exec { target, .. } => target.moid() == FUMO_MOID || target.moid() == SCOMO_MOID,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ArtifactId, ArtifactSource};

    fn artifact(kind: ArtifactKind) -> ArtifactRecord {
        ArtifactRecord::new(
            ArtifactId::new("fw-2").expect("id"),
            kind,
            "Acme firmware",
            "2.0",
            1234,
            [0xab; 32],
            ArtifactSource::Stored,
        )
    }

    #[test]
    fn repository_paths_are_safe_for_any_dev_id() -> Result<(), Box<dyn std::error::Error>> {
        let path = repository_path(CampaignId(3), &DevId::new("IMEI:1")?);
        assert_eq!(path, "campaigns/3/IMEI:1");
        let odd = repository_path(CampaignId(3), &DevId::new("a/../b?%")?);
        assert_eq!(odd, "campaigns/3/x612f2e2e2f623f25");
        assert_eq!(
            repository_path(CampaignId(3), &DevId::new("..")?),
            "campaigns/3/x2e2e"
        );
        for path in [path, odd] {
            assert!(crate::admin::check_repository_path(&path).is_ok());
            hget("http://127.0.0.1:1", &path)?;
        }
        Ok(())
    }

    #[test]
    fn firmware_commands() -> Result<(), Box<dyn std::error::Error>> {
        let miid = Miid::new("fw")?;
        let data = mo_data(
            Flavor::Firmware,
            CampaignId(1),
            &miid,
            &artifact(ArtifactKind::Firmware),
            "http://h/a?token=t",
        );
        let body = serde_json::to_vec(&data)?;
        let items = dm_codec::decode_mo_serialization(&body, &dm_codec::Limits::default())?;
        assert_eq!(items.len(), 5);
        assert_eq!(
            data[2]["ClientURI"],
            "urn:oma:mo:oma-fumo:1.0/fw/Download/PkgURL"
        );
        assert_eq!(data[2]["MOData"]["PkgURL"], "http://h/a?token=t");
        assert_eq!(data[3]["MOData"]["PkgSize"], 1234);
        assert_eq!(data[4]["MOData"]["PkgSHA256"], "ab".repeat(32));
        let download = exec_download(Flavor::Firmware, CampaignId(1), &miid, "http://h")?;
        assert_eq!(
            download.params().collect::<Vec<_>>(),
            ["urn:oma:mo:oma-fumo:1.0/fw/Download", "http://h/dm"]
        );
        assert!(is_campaign_command(&download));
        let update = exec_update(&download)?;
        assert_eq!(
            update.params().collect::<Vec<_>>(),
            ["urn:oma:mo:oma-fumo:1.0/fw/Update", "http://h/dm"]
        );
        assert_eq!(
            exec_instance(&update),
            Some((FUMO_MOID.to_owned(), miid.clone()))
        );
        assert!(exec_update(&hget("http://h", "campaigns/1/d")?).is_err());
        assert!(is_campaign_command(&hget("http://h", "campaigns/1/d")?));
        assert!(!is_campaign_command(&Command::from_words(&[
            "GET",
            "urn:oma:mo:oma-dm-devinfo:1.0//"
        ])?));
        Ok(())
    }

    #[test]
    fn software_commands() -> Result<(), Box<dyn std::error::Error>> {
        let miid = Miid::new("sw")?;
        let data = mo_data(
            Flavor::Software,
            CampaignId(9),
            &miid,
            &artifact(ArtifactKind::Software),
            "u",
        );
        assert_eq!(
            data[0]["ClientURI"],
            "urn:oma:mo:oma-scomo:1.0/sw/Download/c9"
        );
        assert_eq!(data[0]["MOData"]["c9"]["PkgID"], "fw-2");
        assert_eq!(
            data[0]["MOData"]["c9"]["Operations"]["DownloadInstall"],
            json!({})
        );
        let body = serde_json::to_vec(&data)?;
        dm_codec::decode_mo_serialization(&body, &dm_codec::Limits::default())?;
        let exec = exec_download(Flavor::Software, CampaignId(9), &miid, "http://h")?;
        assert_eq!(
            exec.params().next(),
            Some("urn:oma:mo:oma-scomo:1.0/sw/Download/c9/Operations/DownloadInstall")
        );
        Ok(())
    }

    #[test]
    fn instances_and_reports() -> Result<(), Box<dyn std::error::Error>> {
        let mos = vec![MosEntry {
            ddf: None,
            moid: dm_types::Moid::new(FUMO_MOID)?,
            miids: vec![Miid::new("fw")?, Miid::new("fw2")?],
        }];
        assert_eq!(
            instance(Some(&mos), Flavor::Firmware),
            Some(Miid::new("fw")?)
        );
        assert_eq!(instance(Some(&mos), Flavor::Software), None);
        assert_eq!(instance(None, Flavor::Firmware), None);
        let fw = Miid::new("fw")?;
        assert!(names_instance(
            &[Some("urn:oma:mo:oma-fumo:1.0/fw/Download")],
            FUMO_MOID,
            &fw
        ));
        assert!(!names_instance(
            &[Some("urn:oma:mo:oma-fumo:1.0/fw2/Download")],
            FUMO_MOID,
            &fw
        ));
        assert!(!names_instance(&[Some("not a uri")], FUMO_MOID, &fw));
        assert!(names_instance(
            &[Some("urn:oma:mo:oma-fumo:1.0//Update")],
            FUMO_MOID,
            &fw
        ));
        assert!(!names_instance(
            &[Some("urn:oma:mo:oma-scomo:1.0//Update")],
            FUMO_MOID,
            &fw
        ));
        assert!(names_instance(&[None, None], FUMO_MOID, &fw));
        assert_eq!(unsupported_code(Flavor::Software), 1408);
        Ok(())
    }
}
