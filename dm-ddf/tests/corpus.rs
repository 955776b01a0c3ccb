//! Every DDF of the corpus (`conformance/ddf`) parses, with the
//! node count and depth of its `MANIFEST.tsv` line; the malformed files fail
//! with the position of the bad byte.

use std::path::{Path, PathBuf};

use dm_ddf::{DdfRepository, DfType, Error, MoDefinition, NodeNameDef};
use dm_types::{AccessType, NodeFormat, Occurrence};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The corpus folder. Missing, it fails the test: these tests never pass
/// without their data.
fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/ddf");
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the DDF corpus is missing: expected {} (the shared folder next to the workspace)",
        dir.display()
    );
    dir
}

struct ManifestLine {
    file: String,
    nodes: Option<usize>,
    max_depth: Option<usize>,
    bytes: usize,
}

fn manifest(path: &Path) -> Result<Vec<ManifestLine>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    assert_eq!(
        lines.next().map(|h| h.split('\t').collect::<Vec<_>>()),
        Some(vec!["file", "source", "nodes", "max_depth", "bytes"]),
        "unexpected header in {}",
        path.display()
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() != 5 {
                return Err(format!("bad manifest line {line:?}"));
            }
            Ok(ManifestLine {
                file: cols[0].to_owned(),
                nodes: cols[2].parse().ok(),
                max_depth: cols[3].parse().ok(),
                bytes: cols[4]
                    .parse()
                    .map_err(|_| format!("bad byte count in {line:?}"))?,
            })
        })
        .collect()
}

fn parse_file(path: &Path) -> Result<Result<MoDefinition, Error>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(MoDefinition::parse(&bytes))
}

#[test]
fn every_corpus_file_parses_with_the_manifest_counts() -> TestResult {
    let dir = corpus_dir();
    let lines = manifest(&dir.join("MANIFEST.tsv"))?;
    assert_eq!(lines.len(), 75, "the corpus README announces 75 files");
    let mut failures = Vec::new();
    for line in &lines {
        let path = dir.join(&line.file);
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        if size != u64::try_from(line.bytes).ok() {
            failures.push(format!(
                "{}: size {size:?}, manifest says {}",
                line.file, line.bytes
            ));
            continue;
        }
        match parse_file(&path)? {
            Ok(def) => {
                let got = (def.node_count(), def.max_depth());
                let want = (line.nodes.unwrap_or(0), line.max_depth.unwrap_or(0));
                if Some(got.0) != line.nodes || Some(got.1) != line.max_depth {
                    failures.push(format!(
                        "{}: (nodes, max_depth) = {got:?}, manifest says {want:?}",
                        line.file
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", line.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus file(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[test]
fn every_xml_file_of_the_corpus_is_in_a_manifest() -> TestResult {
    let dir = corpus_dir();
    let mut listed: Vec<PathBuf> = manifest(&dir.join("MANIFEST.tsv"))?
        .into_iter()
        .map(|l| dir.join(l.file))
        .collect();
    listed.extend(
        manifest(&dir.join("malformed/MANIFEST.tsv"))?
            .into_iter()
            .map(|l| dir.join("malformed").join(l.file)),
    );
    let mut repo = DdfRepository::new();
    repo.load_dir(&dir)?;
    let seen = repo
        .entries()
        .chain(repo.unindexed())
        .filter_map(|e| e.source.clone());
    let failed = repo.failures().iter().map(|f| f.path.clone());
    let unlisted: Vec<PathBuf> = seen.chain(failed).filter(|p| !listed.contains(p)).collect();
    assert!(
        unlisted.is_empty(),
        "files missing from the manifests: {unlisted:?}"
    );
    Ok(())
}

/// The malformed files fail with an UTF-8 error at the first bad byte.
/// `malformed/NOTES.md` gives 0-based columns; ours start at 1.
#[test]
fn malformed_files_fail_with_the_position_of_the_bad_byte() -> TestResult {
    let dir = corpus_dir().join("malformed");
    let lines = manifest(&dir.join("MANIFEST.tsv"))?;
    assert_eq!(lines.len(), 2, "malformed/NOTES.md describes two files");
    let expected = |file: &str| match file {
        "mattrax-legacy/PolicyDDF_all.xml" => Some((109_497, 3662, 96)),
        "wso2/OMA-SUP-MO_DM_DMAcc-V1_2-20070209-A.xml" => Some((6209, 198, 19)),
        _ => None,
    };
    let mut failures = Vec::new();
    for line in &lines {
        assert_eq!((line.nodes, line.max_depth), (None, None));
        match parse_file(&dir.join(&line.file))? {
            Ok(_) => failures.push(format!("{}: parsed, but it is not UTF-8", line.file)),
            Err(e @ Error::Utf8 { .. }) => {
                let pos = e.position().map(|p| (p.offset, p.line, p.column));
                if pos != expected(&line.file) {
                    failures.push(format!(
                        "{}: {e}; expected {:?}",
                        line.file,
                        expected(&line.file)
                    ));
                }
                if !e.to_string().contains("line ") || !e.to_string().contains("column ") {
                    failures.push(format!("{}: message without line/column: {e}", line.file));
                }
            }
            Err(e) => failures.push(format!("{}: wrong error: {e}", line.file)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn a_repository_loads_the_corpus_and_reports_what_it_could_not_load() -> TestResult {
    let dir = corpus_dir();
    let mut repo = DdfRepository::new();
    let added = repo.load_dir(&dir)?;
    let failed: Vec<String> = repo
        .failures()
        .iter()
        .map(|f| {
            f.path
                .strip_prefix(&dir)
                .unwrap_or(&f.path)
                .display()
                .to_string()
        })
        .collect();
    // Both malformed files fail; windows/devinfo.xml declares the same MOID
    // (urn:oma:mo:oma-dm-devinfo:1.0) as mattrax-legacy/DevInfo_DDF.xml,
    // which comes first in path order.
    assert_eq!(
        failed,
        [
            "malformed/mattrax-legacy/PolicyDDF_all.xml",
            "malformed/wso2/OMA-SUP-MO_DM_DMAcc-V1_2-20070209-A.xml",
            "windows/devinfo.xml",
        ],
        "{:#?}",
        repo.failures()
    );
    assert!(matches!(repo.failures()[0].error, Error::File { .. }));
    assert!(
        repo.failures()[0]
            .error
            .position()
            .is_some_and(|p| p.line == 3662)
    );
    assert!(matches!(repo.failures()[2].error, Error::Duplicate { .. }));
    assert_eq!(added, 74);
    assert_eq!(added, repo.len() + repo.unindexed().len());

    // DMAcc 1.0 (mattrax-legacy) and 1.1 (windows): the newest by family,
    // each exactly by version.
    let versions: Vec<String> = repo
        .versions("urn:oma:mo:oma-dm-dmacc")
        .map(ToString::to_string)
        .collect();
    assert_eq!(versions, ["1.0", "1.1"]);
    let newest = repo
        .newest("urn:oma:mo:oma-dm-dmacc")
        .and_then(MoDefinition::ddf_name);
    assert_eq!(newest, Some("urn:oma:mo:oma-dm-dmacc:1.1"));
    let exact = repo
        .get(&"urn:oma:mo:oma-dm-dmacc:1.0".parse()?)
        .and_then(MoDefinition::ddf_name);
    assert_eq!(exact, Some("urn:oma:mo:oma-dm-dmacc:1.0"));
    assert!(repo.get(&"urn:oma:mo:oma-dm-dmacc:1.2".parse()?).is_none());
    // Non-URN DDFNames are kept but not indexed.
    assert!(
        repo.unindexed()
            .iter()
            .any(|e| e.definition.ddf_name() == Some("com.microsoft/1.2/MDM/DMClient"))
    );
    Ok(())
}

fn corpus(file: &str) -> Result<MoDefinition, String> {
    let path = corpus_dir().join(file);
    parse_file(&path)?.map_err(|e| format!("{file}: {e}"))
}

#[test]
fn vendor_namespace_elements_are_kept_as_extensions() -> TestResult {
    let def = corpus("mattrax/DevInfo.xml")?;
    assert_eq!(def.extensions.len(), 1);
    assert_eq!(def.extensions[0].name, "MSFT:Diagnostics");
    assert_eq!(
        def.extensions[0].namespace.as_deref(),
        Some("http://schemas.microsoft.com/MobileDevice/DM")
    );
    let root = &def.nodes[0];
    let applicability = root
        .extensions
        .iter()
        .find(|e| e.name == "MSFT:Applicability")
        .ok_or("MSFT:Applicability not kept")?;
    let build = applicability
        .children
        .iter()
        .find(|c| c.name == "MSFT:OsBuildVersion");
    assert_eq!(build.map(|c| c.text.as_str()), Some("10.0.10586"));
    // Attributes and nested values of MSFT:AllowedValues are kept.
    let defender = corpus("mattrax/Defender.xml")?;
    let allowed = defender
        .iter()
        .flat_map(|(_, n)| &n.extensions)
        .find(|e| e.name == "MSFT:AllowedValues" && e.attribute("ValueType") == Some("ENUM"))
        .ok_or("no ENUM MSFT:AllowedValues")?;
    assert!(allowed.children.iter().any(|c| c.name == "MSFT:Enum"));
    Ok(())
}

#[test]
fn occurrence_with_n_and_without_a_number() -> TestResult {
    let email = corpus("mattrax/EMAIL2.xml")?;
    assert!(
        email
            .iter()
            .any(|(_, n)| n.occurrence == Occurrence::ZeroOrN(None))
    );
    let active_sync = corpus("mattrax/ActiveSync.xml")?;
    assert!(
        active_sync
            .iter()
            .any(|(_, n)| n.occurrence == Occurrence::OneOrN(None))
    );
    Ok(())
}

#[test]
fn older_tree_files_keep_man_mod_type_and_data() -> TestResult {
    let def = corpus("cyanogenmod/devdetail_uri.xml")?;
    assert_eq!(def.ver_dtd, "1.1.2");
    assert_eq!(
        (def.man.as_deref(), def.model.as_deref()),
        (Some("Motorola"), Some("Nexus"))
    );
    let max_depth = def
        .lookup_path("URI/MaxDepth")
        .ok_or("URI/MaxDepth not defined")?;
    assert_eq!(max_depth.format, NodeFormat::Int);
    assert_eq!(max_depth.value.as_deref(), Some("20"));
    assert_eq!(max_depth.value_type.as_deref(), Some("text/plain"));
    assert_eq!(max_depth.access_type, AccessType::GET);
    Ok(())
}

#[test]
fn dot_star_and_empty_node_names() -> TestResult {
    let syncml = corpus("cyanogenmod/syncmldm.xml")?;
    assert_eq!(syncml.nodes[0].name, NodeNameDef::Named(".".into()));
    assert_eq!(syncml.nodes[0].path.as_deref(), Some(""));
    assert!(syncml.iter().any(|(_, n)| n.name.is_placeholder()));
    let dmacc = corpus("windows/dmacc.xml")?;
    assert_eq!(dmacc.ddf_name(), Some("urn:oma:mo:oma-dm-dmacc:1.1"));
    // `*` is a placeholder: any account name matches.
    let addr = dmacc
        .lookup_path("DMAcc/any-account/AppAddr")
        .ok_or("DMAcc/*/AppAddr not found")?;
    assert!(addr.is_interior());
    Ok(())
}

#[test]
fn several_top_level_nodes_and_df_types() -> TestResult {
    let def = corpus("mattrax/VPNv2.xml")?;
    let paths: Vec<Option<&str>> = def.nodes.iter().map(|n| n.path.as_deref()).collect();
    assert_eq!(
        paths,
        [Some("./User/Vendor/MSFT"), Some("./Device/Vendor/MSFT")]
    );
    let devinfo = corpus("mattrax-legacy/DevInfo_DDF.xml")?;
    assert_eq!(
        devinfo.moid().map(dm_types::Moid::into_string).as_deref(),
        Some("urn:oma:mo:oma-dm-devinfo:1.0")
    );
    // Empty `<MIME />` and `<DDFName></DDFName>` are kept as empty text.
    let mattrax = corpus("mattrax/DevInfo.xml")?;
    assert_eq!(mattrax.nodes[0].df_type, Some(DfType::Mime(String::new())));
    let wso2 = corpus("wso2/OMA-SUP-MO_DM_DevInfo-V1_2-20070209-A.xml")?;
    assert_eq!(wso2.nodes[0].df_type, Some(DfType::DdfName(String::new())));
    assert_eq!(wso2.ddf_name(), None);
    Ok(())
}
