//! The workspace's folders the tasks work in.

use std::path::{Path, PathBuf};

/// Where the workspace, its `fuzz/` and its `conformance/` folders are.
pub(crate) struct Paths {
    pub(crate) root: PathBuf,
    pub(crate) fuzz: PathBuf,
    pub(crate) conformance: PathBuf,
}

impl Paths {
    /// The paths of this workspace; an error when `conformance/` is missing.
    pub(crate) fn new() -> Result<Paths, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("xtask is not inside the workspace")?
            .to_path_buf();
        let conformance = root.join("conformance");
        if !conformance.join("vectors").is_dir() {
            return Err(format!(
                "conformance data not found at {} (the repository's conformance/ folder is missing)",
                conformance.display()
            ));
        }
        Ok(Paths {
            fuzz: root.join("fuzz"),
            root,
            conformance,
        })
    }

    /// The corpus folder of a fuzz target.
    pub(crate) fn corpus(&self, target: &str) -> PathBuf {
        self.fuzz.join("corpus").join(target)
    }
}
