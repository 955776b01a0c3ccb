//! A set of MO definitions indexed by MOID and version, loaded from a
//! folder of DDF files. The only part of the crate that touches the file
//! system.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use dm_types::Moid;

use crate::{Error, Limits, MoDefinition, MoVersion, Warning, standard};

/// How deep [`DdfRepository::load_dir`] descends into sub-folders.
const MAX_FOLDER_DEPTH: usize = 8;

/// One definition held by a [`DdfRepository`], with where it came from.
///
/// ```
/// let repo = dm_ddf::DdfRepository::standard();
/// let entry = repo.entries().next().expect("four bundled entries");
/// assert!(entry.source.is_none());
/// assert!(entry.definition.moid().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct DdfEntry {
    /// The definition.
    pub definition: MoDefinition,
    /// The file it was read from (`None` for one added in memory).
    pub source: Option<PathBuf>,
    /// The departures from the DDF DTD read past when the file was loaded
    /// (docs/protocol.md section 10.1); empty for one added in memory.
    pub warnings: Vec<Warning>,
}

/// A file that [`DdfRepository::load_dir`] could not load, and why.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("dm-ddf-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("bad.xml"), "<MgmtTree>")?;
/// let mut repo = dm_ddf::DdfRepository::new();
/// assert_eq!(repo.load_dir(&dir)?, 0);
/// let failure = &repo.failures()[0];
/// assert!(failure.path.ends_with("bad.xml"));
/// assert!(failure.error.position().is_some());
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LoadFailure {
    /// The file.
    pub path: PathBuf,
    /// Why it was not loaded: unreadable, not a valid DDF, or a second
    /// definition of a MOID and version already loaded.
    pub error: Error,
}

/// MO definitions indexed by MOID family and version.
///
/// A definition is indexed under its MOID ([`MoDefinition::moid`]), split
/// by [`MoVersion::split`] into a family and a version. Lookups by a MOID
/// with a version give exactly that version; lookups by a family give the
/// newest version. Definitions without a MOID are kept too
/// ([`DdfRepository::unindexed`]).
///
/// ```
/// use dm_ddf::DdfRepository;
/// use dm_types::Moid;
///
/// let repo = DdfRepository::standard();
/// let devinfo = repo.get(&Moid::new("urn:oma:mo:oma-dm-devinfo:1.0")?).expect("bundled");
/// assert!(devinfo.lookup_path("DevInfo/DevID").is_some());
/// assert!(repo.newest("urn:oma:mo:oma-dm-devinfo").is_some());
/// assert!(repo.get(&Moid::new("urn:oma:mo:oma-dm-devinfo:9.9")?).is_none());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct DdfRepository {
    limits: Limits,
    /// Family → versions (by [`MoVersion`] order; `None`, no version, first).
    index: BTreeMap<String, BTreeMap<Option<MoVersion>, DdfEntry>>,
    unindexed: Vec<DdfEntry>,
    failures: Vec<LoadFailure>,
}

impl DdfRepository {
    /// An empty repository with the default [`Limits`] for the files it
    /// loads.
    ///
    /// ```
    /// assert!(dm_ddf::DdfRepository::new().is_empty());
    /// ```
    pub fn new() -> DdfRepository {
        DdfRepository::default()
    }

    /// A repository holding the standard DDFs bundled with this crate
    /// ([`standard::all`]).
    ///
    /// ```
    /// assert_eq!(dm_ddf::DdfRepository::standard().len(), 4);
    /// ```
    pub fn standard() -> DdfRepository {
        let mut repo = DdfRepository::new();
        for def in standard::all() {
            // The bundled MOIDs are distinct (a test checks it), so no
            // insertion can fail; a failure would only leave one out.
            let _ = repo.insert(def.clone(), None);
        }
        repo
    }

    /// Sets the limits applied to each file [`DdfRepository::load_dir`]
    /// reads.
    ///
    /// ```
    /// use dm_ddf::{DdfRepository, Limits};
    ///
    /// let repo = DdfRepository::new().with_limits(Limits { max_bytes: 1 << 20, ..Limits::default() });
    /// assert!(repo.is_empty());
    /// ```
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> DdfRepository {
        self.limits = limits;
        self
    }

    /// Adds a definition. It is indexed under its MOID when it has one,
    /// otherwise kept in [`DdfRepository::unindexed`].
    ///
    /// Fails with [`Error::Duplicate`] when a definition of the same MOID
    /// and version is already held (the repository is unchanged then).
    ///
    /// ```
    /// use dm_ddf::{DdfRepository, Error};
    ///
    /// let mut repo = DdfRepository::new();
    /// repo.insert(dm_ddf::standard::dacmo().clone(), None)?;
    /// let again = repo.insert(dm_ddf::standard::dacmo().clone(), None);
    /// assert!(matches!(again, Err(Error::Duplicate { .. })));
    /// assert_eq!(repo.len(), 1);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn insert(
        &mut self,
        definition: MoDefinition,
        source: Option<PathBuf>,
    ) -> Result<(), Error> {
        self.insert_entry(DdfEntry {
            definition,
            source,
            warnings: Vec::new(),
        })
    }

    fn insert_entry(&mut self, entry: DdfEntry) -> Result<(), Error> {
        let Some(moid) = entry.definition.moid() else {
            self.unindexed.push(entry);
            return Ok(());
        };
        let (family, version) = MoVersion::split(moid.as_str());
        let versions = self.index.entry(family.to_owned()).or_default();
        if let Some(first) = versions.get(&version) {
            return Err(Error::Duplicate {
                moid: moid.into_string(),
                first: first.source.clone(),
            });
        }
        versions.insert(version, entry);
        Ok(())
    }

    /// Loads every DDF file (`*.xml` or `*.ddf`, any letter case) in `dir`
    /// and its sub-folders (8 levels deep at most; symbolic links to folders
    /// are not followed), in path order.
    ///
    /// A file that cannot be loaded is recorded in
    /// [`DdfRepository::failures`] and loading goes on. Departures from the
    /// DTD read past in a loaded file are kept in its entry's
    /// [`DdfEntry::warnings`]. Fails only when `dir`
    /// itself cannot be read. Returns the number of definitions added.
    ///
    /// ```no_run
    /// let mut repo = dm_ddf::DdfRepository::standard();
    /// let added = repo.load_dir("/etc/dm/ddf")?;
    /// for failure in repo.failures() {
    ///     eprintln!("skipped {}: {}", failure.path.display(), failure.error);
    /// }
    /// # let _ = added;
    /// # Ok::<(), dm_ddf::Error>(())
    /// ```
    pub fn load_dir(&mut self, dir: impl AsRef<Path>) -> Result<usize, Error> {
        let dir = dir.as_ref();
        let mut files = Vec::new();
        list_files(dir, 0, &mut files, &mut self.failures)?;
        files.sort();
        let mut added = 0;
        for path in files {
            let result = read_bounded(&path, self.limits.max_bytes)
                .and_then(|bytes| {
                    MoDefinition::parse_with_warnings(&bytes, &self.limits).map_err(|e| {
                        Error::File {
                            path: path.clone(),
                            source: Box::new(e),
                        }
                    })
                })
                .and_then(|parsed| {
                    self.insert_entry(DdfEntry {
                        definition: parsed.definition,
                        source: Some(path.clone()),
                        warnings: parsed.warnings,
                    })
                });
            match result {
                Ok(()) => added += 1,
                Err(error) => self.failures.push(LoadFailure { path, error }),
            }
        }
        Ok(added)
    }

    /// The definition for `moid`: exactly its version when the MOID ends in
    /// one (`urn:oma:mo:oma-dm-dmacc:1.2`), else the newest version of the
    /// family it names.
    ///
    /// ```
    /// use dm_types::Moid;
    ///
    /// let repo = dm_ddf::DdfRepository::standard();
    /// assert!(repo.get(&Moid::new("urn:oma:mo:oma-dm-dmacc:1.2")?).is_some());
    /// assert!(repo.get(&Moid::new("urn:oma:mo:oma-dm-dmacc:1.3")?).is_none());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn get(&self, moid: &Moid) -> Option<&MoDefinition> {
        match MoVersion::split(moid.as_str()) {
            (family, Some(version)) => self
                .index
                .get(family)?
                .get(&Some(version))
                .map(|e| &e.definition),
            (family, None) => self.newest(family),
        }
    }

    /// The newest definition of a MOID family (a MOID without its version,
    /// `urn:oma:mo:oma-dm-devinfo`).
    ///
    /// ```
    /// let repo = dm_ddf::DdfRepository::standard();
    /// let def = repo.newest("urn:oma:mo:oma-dm-dacmo").expect("bundled");
    /// assert_eq!(def.ddf_name(), Some("urn:oma:mo:oma-dm-dacmo:1.0"));
    /// ```
    pub fn newest(&self, family: &str) -> Option<&MoDefinition> {
        self.index
            .get(family)?
            .values()
            .next_back()
            .map(|e| &e.definition)
    }

    /// The versions held for a MOID family, oldest first.
    ///
    /// ```
    /// let repo = dm_ddf::DdfRepository::standard();
    /// let versions: Vec<String> = repo.versions("urn:oma:mo:oma-dm-dmacc").map(|v| v.to_string()).collect();
    /// assert_eq!(versions, ["1.2"]);
    /// ```
    pub fn versions(&self, family: &str) -> impl Iterator<Item = &MoVersion> {
        self.index
            .get(family)
            .into_iter()
            .flat_map(|versions| versions.keys().flatten())
    }

    /// Every indexed entry, by family then version.
    ///
    /// ```
    /// let repo = dm_ddf::DdfRepository::standard();
    /// assert!(repo.entries().all(|e| e.source.is_none()));
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = &DdfEntry> {
        self.index.values().flat_map(BTreeMap::values)
    }

    /// The definitions held without a MOID (no top-level `DDFName`, or one
    /// that is not a URN).
    ///
    /// ```
    /// assert!(dm_ddf::DdfRepository::standard().unindexed().is_empty());
    /// ```
    pub fn unindexed(&self) -> &[DdfEntry] {
        &self.unindexed
    }

    /// The files [`DdfRepository::load_dir`] could not load.
    ///
    /// ```
    /// assert!(dm_ddf::DdfRepository::standard().failures().is_empty());
    /// ```
    pub fn failures(&self) -> &[LoadFailure] {
        &self.failures
    }

    /// The number of indexed definitions.
    ///
    /// ```
    /// assert_eq!(dm_ddf::DdfRepository::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.index.values().map(BTreeMap::len).sum()
    }

    /// Whether no definition is indexed.
    ///
    /// ```
    /// assert!(!dm_ddf::DdfRepository::standard().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// Collects the DDF files under `dir`. An unreadable sub-folder is a
/// failure; an unreadable `dir` at depth 0 is the error.
fn list_files(
    dir: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
    failures: &mut Vec<LoadFailure>,
) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if depth == 0 => return Err(io_error(e)),
        Err(e) => {
            failures.push(LoadFailure {
                path: dir.to_owned(),
                error: io_error(e),
            });
            return Ok(());
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                failures.push(LoadFailure {
                    path: dir.to_owned(),
                    error: io_error(e),
                });
                continue;
            }
        };
        let path = entry.path();
        // `DirEntry::file_type` does not follow symbolic links.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if depth < MAX_FOLDER_DEPTH {
                list_files(&path, depth + 1, files, failures)?;
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("xml") || ext.eq_ignore_ascii_case("ddf"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads a file, refusing more than `limit` bytes.
fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, Error> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let stated = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() > limit {
        return Err(Error::File {
            path: path.to_owned(),
            source: Box::new(Error::TooLarge {
                size: usize::try_from(stated)
                    .unwrap_or(usize::MAX)
                    .max(bytes.len()),
                limit,
            }),
        });
    }
    Ok(bytes)
}
