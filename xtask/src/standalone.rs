//! `cargo xtask standalone`: the repository needs nothing outside itself.
//!
//! Every test, benchmark, fuzz seed and the demo read their data from the
//! repository (`conformance/`). This check reads every file git tracks and
//! fails on any text that reaches for data outside the clone: the team's
//! reference folder beside the repository, the environment variable that
//! once pointed at it, or a path that climbs out of a crate folder twice
//! (`CARGO_MANIFEST_DIR` joined with `../..` leaves the workspace).

use std::path::Path;
use std::process::Command;

/// Text that names data outside the repository. Built from pieces so that
/// this file does not match itself.
fn patterns() -> [String; 4] {
    let up = "..";
    [
        format!("{up}/shared"),
        format!("DM_{}", "SHARED"),
        format!("\"/{up}/{up}/"),
        format!("join(\"{up}/{up}"),
    ]
}

/// Lists the tracked files with git, reads each one that is text, and
/// returns one line per offending place (`file:line: text`).
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run git ls-files: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let patterns = patterns();
    let mut findings = Vec::new();
    let mut files = 0usize;
    for name in output.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let Ok(bytes) = std::fs::read(root.join(&name)) else {
            continue; // deleted in the work tree: nothing to read
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue; // binary data carries no paths
        };
        files += 1;
        findings.extend(scan(&name, text, &patterns));
    }
    if findings.is_empty() {
        println!(
            "standalone: {files} tracked text files, none refers to data outside the repository"
        );
        Ok(())
    } else {
        Err(format!(
            "{} place(s) refer to data outside the repository:\n{}",
            findings.len(),
            findings.join("\n")
        ))
    }
}

/// The offending lines of one file.
fn scan(name: &str, text: &str, patterns: &[String]) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| patterns.iter().any(|p| line.contains(p.as_str())))
        .map(|(index, line)| format!("  {name}:{}: {}", index + 1, line.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{patterns, scan};

    #[test]
    fn finds_each_kind_of_outside_reference() {
        let patterns = patterns();
        let up = "..";
        let text = format!(
            "ok line\nlet d = \"{up}/shared/vectors\";\nstd::env::var(\"DM_{}\")\n\
             concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{up}/{up}/data\")\n\
             Path::new(x).join(\"{up}/{up}/data\")\nlet inside = \"/{up}/conformance\";\n",
            "SHARED"
        );
        let found = scan("f.rs", &text, &patterns);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("  f.rs:2:"), "{found:?}");
    }

    #[test]
    fn data_inside_the_repository_passes() {
        let text = "concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../conformance/vectors\")";
        assert!(scan("f.rs", text, &patterns()).is_empty());
    }
}
