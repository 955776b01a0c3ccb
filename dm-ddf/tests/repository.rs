//! `DdfRepository` on a folder built by the test: versions, newest-first
//! lookups, files it cannot load, limits.

use std::path::{Path, PathBuf};

use dm_ddf::{DdfRepository, Error, Limits, MoDefinition};
use dm_types::Moid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A folder removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("dm-ddf-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    fn write(&self, file: &str, content: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.0.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ddf(ddf_name: &str) -> String {
    format!(
        "<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Root</NodeName><DFProperties>\
         <AccessType><Get/></AccessType><DFFormat><node/></DFFormat>\
         <DFType><DDFName>{ddf_name}</DDFName></DFType></DFProperties></Node></MgmtTree>"
    )
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

#[test]
fn loads_a_folder_indexes_versions_and_reports_failures() -> TestResult {
    let tmp = TempDir::new("load")?;
    tmp.write(
        "a/thing-1.9.xml",
        ddf("urn:example:mo:thing:1.9").as_bytes(),
    )?;
    tmp.write(
        "a/thing-1.10.XML",
        ddf("urn:example:mo:thing:1.10").as_bytes(),
    )?;
    tmp.write(
        "b/thing-1.2.ddf",
        ddf("urn:example:mo:thing:1.2").as_bytes(),
    )?;
    tmp.write(
        "b/thing-again.xml",
        ddf("urn:example:mo:thing:1.2.0").as_bytes(),
    )?;
    tmp.write("b/unversioned.xml", ddf("urn:example:mo:plain").as_bytes())?;
    tmp.write("c/vendor.xml", ddf("com.example/MDM/Thing").as_bytes())?;
    tmp.write("c/broken.xml", b"<MgmtTree><VerDTD>1.2</VerDTD>\n<Node>")?;
    tmp.write("c/latin1.xml", b"<MgmtTree><Man>caf\xe9</Man></MgmtTree>")?;
    tmp.write("c/notes.txt", b"not a DDF, not looked at")?;

    let mut repo = DdfRepository::standard();
    let added = repo.load_dir(&tmp.0)?;
    assert_eq!(added, 5);
    assert_eq!(repo.len(), 4 + 4);

    let failures: Vec<(String, String)> = repo
        .failures()
        .iter()
        .map(|f| (relative(&tmp.0, &f.path), f.error.to_string()))
        .collect();
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert_eq!(failures[0].0, "b/thing-again.xml");
    assert!(
        failures[0]
            .1
            .contains("urn:example:mo:thing:1.2.0 is already loaded (from ")
            && failures[0].1.contains("thing-1.2.ddf"),
        "{}",
        failures[0].1
    );
    assert_eq!(failures[1].0, "c/broken.xml");
    assert!(
        failures[1].1.contains("malformed XML at line 2"),
        "{}",
        failures[1].1
    );
    assert_eq!(failures[2].0, "c/latin1.xml");
    assert!(
        failures[2].1.contains("invalid UTF-8 at line 1, column 19"),
        "{}",
        failures[2].1
    );

    let versions: Vec<String> = repo
        .versions("urn:example:mo:thing")
        .map(ToString::to_string)
        .collect();
    assert_eq!(versions, ["1.2", "1.9", "1.10"]);
    let name_of =
        |def: Option<&MoDefinition>| def.and_then(MoDefinition::ddf_name).map(str::to_owned);
    assert_eq!(
        name_of(repo.newest("urn:example:mo:thing")).as_deref(),
        Some("urn:example:mo:thing:1.10")
    );
    assert_eq!(
        name_of(repo.get(&Moid::new("urn:example:mo:thing:1.9")?)).as_deref(),
        Some("urn:example:mo:thing:1.9")
    );
    // A MOID without version asks for the newest of its family.
    assert_eq!(
        name_of(repo.get(&Moid::new("urn:example:mo:thing")?)).as_deref(),
        Some("urn:example:mo:thing:1.10")
    );
    assert!(repo.get(&Moid::new("urn:example:mo:thing:2")?).is_none());
    assert_eq!(
        name_of(repo.get(&Moid::new("urn:example:mo:plain")?)).as_deref(),
        Some("urn:example:mo:plain")
    );
    assert_eq!(repo.unindexed().len(), 1);
    assert_eq!(
        repo.unindexed()[0].definition.ddf_name(),
        Some("com.example/MDM/Thing")
    );
    assert!(
        repo.entries()
            .filter_map(|e| e.source.as_deref())
            .all(|p| p.starts_with(&tmp.0))
    );
    Ok(())
}

#[test]
fn files_over_the_size_limit_are_not_read_whole() -> TestResult {
    let tmp = TempDir::new("limit")?;
    let big = format!(
        "{}<!-- {} -->",
        ddf("urn:example:mo:big:1"),
        "x".repeat(10_000)
    );
    tmp.write("big.xml", big.as_bytes())?;
    tmp.write("small.xml", ddf("urn:example:mo:small:1").as_bytes())?;
    let mut repo = DdfRepository::new().with_limits(Limits {
        max_bytes: 1000,
        ..Limits::default()
    });
    assert_eq!(repo.load_dir(&tmp.0)?, 1);
    let failure = &repo.failures()[0];
    assert!(failure.path.ends_with("big.xml"));
    match &failure.error {
        Error::File { source, .. } => {
            assert!(matches!(**source, Error::TooLarge { limit: 1000, size } if size == big.len()));
        }
        other => return Err(format!("unexpected error {other}").into()),
    }
    assert_eq!(failure.error.status().as_u16(), 413);
    Ok(())
}

#[test]
fn a_missing_folder_is_an_error() {
    let mut repo = DdfRepository::new();
    let missing = std::env::temp_dir().join(format!("dm-ddf-missing-{}", std::process::id()));
    let err = repo.load_dir(&missing).err();
    assert!(matches!(err, Some(Error::Io { .. })), "{err:?}");
    assert!(err.is_some_and(|e| e.status().as_u16() == 500));
    assert!(repo.failures().is_empty());
}
