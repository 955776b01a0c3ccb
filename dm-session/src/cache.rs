//! MO caching on the server side (docs/protocol.md section 8): what a server
//! learns from GET results, how it asks again with `cv`, and how a `304` is
//! answered with the data it kept.
//!
//! The rules, applied by [`CachedInstance::from_result`],
//! [`with_cache_validators`] and [`answer_from_cache`]:
//! - only a GET item at an **instance root** named by its MIID
//!   (`MOID/MIID/`) carries the instance's `CV`, so only whole instances are
//!   cached, keyed by MOID and MIID (unique per device);
//! - a later GET of such a root may carry `cv=<the validator kept>`. Not a
//!   GET of `MOID//` (the only instance): a validator belongs to one
//!   instance, and two instances may well have equal validators, so a `304`
//!   about whatever instance is the only one now could be taken for the data
//!   of another;
//! - a `304` means every target's instance is unchanged since the `cv` it
//!   carried, so the answer is the data kept **with that very validator**;
//!   when the server no longer holds it (it kept a newer one, or forgot),
//!   the `304` stays without data.
//!
//! The functions are pure: the application stores the instances
//! ([`CachedInstance`]) where it wants and passes them in.
//!
//! ```
//! use dm_session::{CachedInstance, answer_from_cache, with_cache_validators};
//! use dm_types::{Command, Status, StatusCode};
//!
//! let get = Command::from_words(&["GET", "urn:x:battery/1/"])?;
//! // The first GET returns the data with its validator: the server keeps it.
//! let mut result = Status::new(StatusCode::OK);
//! result.data = dm_codec::decode_mo_serialization(
//!     br#"[{"ClientURI":"urn:x:battery/1/","CV":"7","MOData":{"B":{"Level":87}}}]"#,
//!     &dm_codec::Limits::default(),
//! )?;
//! let kept = CachedInstance::from_result(&get, &result);
//! assert_eq!(kept.len(), 1);
//! // The next GET asks with the validator...
//! let again = with_cache_validators(&get, |moid, miid| {
//!     kept.iter().find(|c| c.moid == *moid && c.miid == *miid).map(|c| c.cache_validator.clone())
//! });
//! assert_eq!(again.params().collect::<Vec<_>>(), ["urn:x:battery/1/?cv=7"]);
//! // ...and a 304 is answered with the data kept.
//! let answer = answer_from_cache(&again, &Status::new(StatusCode::NOT_MODIFIED), |moid, miid| {
//!     kept.iter().find(|c| c.moid == *moid && c.miid == *miid).cloned()
//! })
//! .expect("served from the cache");
//! assert_eq!(answer.code, StatusCode::NOT_MODIFIED);
//! assert_eq!(answer.data, result.data);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use dm_types::{
    CacheValidator, ClientUri, Command, Miid, MoItem, Moid, NonEmpty, Status, StatusCode,
};

/// One MO instance as the server last received it: the data of its root
/// and the cache validator that came with it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedInstance {
    /// The MO type.
    pub moid: Moid,
    /// The instance.
    pub miid: Miid,
    /// The `CV` the device sent with the data.
    pub cache_validator: CacheValidator,
    /// The item as received (its ClientURI is the instance root).
    pub item: MoItem,
}

impl CachedInstance {
    /// The instances a status entry lets the server cache: for a
    /// successful (2xx) GET, every data item at an instance root
    /// (`MOID/MIID/`, [`ClientUri::is_instance_root`]) of an MOID the GET
    /// asked about, that carries a `CV`. Anything else gives none.
    pub fn from_result(command: &Command, status: &Status) -> Vec<CachedInstance> {
        let Command::Get { targets } = command else {
            return Vec::new();
        };
        if !status.code.is_success() {
            return Vec::new();
        }
        status
            .data
            .iter()
            .filter(|item| {
                item.client_uri.is_instance_root()
                    && targets.iter().any(|t| t.moid() == item.client_uri.moid())
            })
            .filter_map(|item| {
                Some(CachedInstance {
                    moid: item.client_uri.to_moid(),
                    miid: item.client_uri.miid()?,
                    cache_validator: item.cache_validator.clone()?,
                    item: item.clone(),
                })
            })
            .collect()
    }
}

/// The instance a GET target addresses, when it is an instance root named
/// by its MIID.
fn root_instance(target: &ClientUri) -> Option<(Moid, Miid)> {
    target
        .is_instance_root()
        .then(|| Some((target.to_moid(), target.miid()?)))
        .flatten()
}

/// The instances (MOID, MIID) whose validators [`with_cache_validators`]
/// and [`answer_from_cache`] may ask for: those of the GET targets at
/// instance roots, in target order, without repetitions. Empty for other
/// commands. A server with an asynchronous store loads these first.
pub fn cacheable_targets(command: &Command) -> Vec<(Moid, Miid)> {
    let Command::Get { targets } = command else {
        return Vec::new();
    };
    let mut found: Vec<(Moid, Miid)> = Vec::new();
    for instance in targets.iter().filter_map(root_instance) {
        if !found.contains(&instance) {
            found.push(instance);
        }
    }
    found
}

/// The GET `command` asking with cache validators: each target at an
/// instance root for which `known` gives a validator gets
/// `cv=<validator>` (replacing any it had); other targets, and other
/// commands, are left as they are. A validator that would make the
/// ClientURI invalid (too long) is not added.
pub fn with_cache_validators(
    command: &Command,
    mut known: impl FnMut(&Moid, &Miid) -> Option<CacheValidator>,
) -> Command {
    let Command::Get { targets } = command else {
        return command.clone();
    };
    let asked: Vec<ClientUri> = targets
        .iter()
        .map(|target| {
            root_instance(target)
                .and_then(|(moid, miid)| known(&moid, &miid))
                .and_then(|cv| target.with_cache_validator(cv.as_str()).ok())
                .unwrap_or_else(|| target.clone())
        })
        .collect();
    match NonEmpty::new(asked) {
        Some(targets) => Command::Get { targets },
        None => command.clone(),
    }
}

/// The status to record for a `304` answer to `command`, with the data
/// the server kept: when `status` is `304`, `command` is a GET whose every
/// target is an instance root carrying a `cv`, and for each target
/// `cached` gives the instance kept **with that same validator**, the
/// result is `304` with the kept items as its data, in target order.
/// Otherwise `None`: the status stands as received (a `304` then carries
/// no data; the server kept another version, or nothing).
pub fn answer_from_cache(
    command: &Command,
    status: &Status,
    mut cached: impl FnMut(&Moid, &Miid) -> Option<CachedInstance>,
) -> Option<Status> {
    let Command::Get { targets } = command else {
        return None;
    };
    if status.code != StatusCode::NOT_MODIFIED {
        return None;
    }
    let mut data = Vec::with_capacity(targets.len());
    for target in targets {
        let (moid, miid) = root_instance(target)?;
        let cv = target.cache_validator()?;
        let kept = cached(&moid, &miid).filter(|kept| kept.cache_validator.as_str() == cv)?;
        data.push(kept.item);
    }
    Some(Status {
        code: StatusCode::NOT_MODIFIED,
        uris: status.uris.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(targets: &[&str]) -> Command {
        let mut words = vec!["GET"];
        words.extend_from_slice(targets);
        Command::from_words(&words).expect("GET")
    }

    fn item(json: &str) -> MoItem {
        dm_codec::decode_mo_serialization(json.as_bytes(), &dm_codec::Limits::default())
            .expect("MO data")
            .remove(0)
    }

    fn entry(moid: &str, miid: &str, cv: &str) -> CachedInstance {
        CachedInstance {
            moid: Moid::new(moid).expect("moid"),
            miid: Miid::new(miid).expect("miid"),
            cache_validator: CacheValidator::new(cv).expect("cv"),
            item: item(&format!(
                r#"[{{"ClientURI":"{moid}/{miid}/","CV":"{cv}","MOData":{{"R":{{"v":"{cv}"}}}}}}]"#
            )),
        }
    }

    #[test]
    fn only_whole_instances_with_a_validator_are_kept() {
        let mut status = Status::new(StatusCode::OK);
        status.data = vec![
            item(r#"[{"ClientURI":"urn:x:a/1/","CV":"c1","MOData":{"R":{}}}]"#),
            item(r#"[{"ClientURI":"urn:x:a/1/Level","MOData":{"Level":1}}]"#),
            item(r#"[{"ClientURI":"urn:x:a/2/","MOData":{"R":{}}}]"#),
        ];
        let kept = CachedInstance::from_result(&get(&["urn:x:a/*/"]), &status);
        assert_eq!(kept.len(), 1);
        // Data about an MO the GET did not ask for is not kept.
        assert!(CachedInstance::from_result(&get(&["urn:x:b/*/"]), &status).is_empty());
        assert_eq!(
            (kept[0].miid.as_str(), kept[0].cache_validator.as_str()),
            ("1", "c1")
        );
        // Not a GET, or not a success: nothing.
        status.code = StatusCode::NOT_FOUND;
        assert!(CachedInstance::from_result(&get(&["urn:x:a/1/"]), &status).is_empty());
        status.code = StatusCode::OK;
        let delete = Command::from_words(&["DELETE", "urn:x:a/1/"]).expect("DELETE");
        assert!(CachedInstance::from_result(&delete, &status).is_empty());
    }

    #[test]
    fn validators_go_only_to_instance_roots_they_belong_to() {
        let command = get(&[
            "urn:x:a/1/",
            "urn:x:a/1/Level",
            "urn:x:a//",
            "urn:x:a/2/?cv=stale",
        ]);
        assert_eq!(
            cacheable_targets(&command),
            [
                (
                    Moid::new("urn:x:a").expect("moid"),
                    Miid::new("1").expect("miid")
                ),
                (
                    Moid::new("urn:x:a").expect("moid"),
                    Miid::new("2").expect("miid")
                ),
            ]
        );
        let asked = with_cache_validators(&command, |_, miid| {
            (miid.as_str() == "1").then(|| CacheValidator::new("c 1").expect("cv"))
        });
        assert_eq!(
            asked.params().collect::<Vec<_>>(),
            [
                "urn:x:a/1/?cv=c%201",
                "urn:x:a/1/Level",
                "urn:x:a//",
                "urn:x:a/2/?cv=stale"
            ]
        );
        let exec = Command::from_words(&["EXEC", "urn:x:a/1/Run"]).expect("EXEC");
        assert_eq!(with_cache_validators(&exec, |_, _| None), exec);
    }

    #[test]
    fn a_304_is_answered_only_with_the_data_of_that_validator() {
        let kept = [entry("urn:x:a", "1", "c1"), entry("urn:x:b", "2", "c2")];
        let lookup = |moid: &Moid, miid: &Miid| {
            kept.iter()
                .find(|c| c.moid == *moid && c.miid == *miid)
                .cloned()
        };
        let not_modified = Status::new(StatusCode::NOT_MODIFIED);
        let both = get(&["urn:x:a/1/?cv=c1", "urn:x:b/2/?cv=c2"]);
        let answer = answer_from_cache(&both, &not_modified, lookup).expect("from cache");
        assert_eq!(answer.data, [kept[0].item.clone(), kept[1].item.clone()]);
        // The server kept another version than the one it asked about.
        let stale = get(&["urn:x:a/1/?cv=c0"]);
        assert_eq!(answer_from_cache(&stale, &not_modified, lookup), None);
        // A target without cv, not at a root, or unknown: no answer.
        for command in [
            get(&["urn:x:a/1/?cv=c1", "urn:x:b/2/"]),
            get(&["urn:x:a/1/R?cv=c1"]),
            get(&["urn:x:c/1/?cv=c1"]),
        ] {
            assert_eq!(
                answer_from_cache(&command, &not_modified, lookup),
                None,
                "{command:?}"
            );
        }
        // Another status is never replaced.
        assert_eq!(
            answer_from_cache(&both, &Status::new(StatusCode::OK), lookup),
            None
        );
    }
}
