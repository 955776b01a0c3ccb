//! `cargo xtask deny`: the dependency policy of `deny.toml` — licenses,
//! banned crates, duplicate versions and sources — checked against
//! `cargo metadata`. It needs no advisory database, so it runs on machines
//! that cannot fetch one (the RustSec database is not checked; SECURITY.md
//! says so).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// The part of `deny.toml` this check reads (cargo-deny's format).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Policy {
    licenses: Licenses,
    bans: Bans,
    sources: Sources,
}

#[derive(Deserialize)]
struct Licenses {
    allow: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Bans {
    multiple_versions: String,
    #[serde(default)]
    deny: Vec<Entry>,
    #[serde(default)]
    skip: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "crate")]
    spec: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Sources {
    unknown_registry: String,
    unknown_git: String,
    #[serde(default)]
    allow_registry: Vec<String>,
}

/// One package of the resolved graph.
struct Package {
    name: String,
    version: String,
    license: Option<String>,
    source: Option<String>,
}

fn packages(root: &Path) -> Result<Vec<Package>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let text = |p: &Value, key: &str| p.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(metadata
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| Package {
            name: text(p, "name").unwrap_or_default(),
            version: text(p, "version").unwrap_or_default(),
            license: text(p, "license"),
            source: text(p, "source"),
        })
        .collect())
}

/// Whether `spec` (`name` or `name@version`) names the package.
fn matches(spec: &str, package: &Package) -> bool {
    match spec.split_once('@') {
        Some((name, version)) => name == package.name && version == package.version,
        None => spec == package.name,
    }
}

/// Whether the license expression is satisfied by the allowed identifiers.
fn license_allowed(expression: &str, allow: &[String]) -> Result<bool, String> {
    let parsed = spdx::Expression::parse_mode(expression, spdx::ParseMode::LAX)
        .map_err(|e| format!("license {expression:?} is not SPDX: {e}"))?;
    Ok(parsed.evaluate(|requirement| {
        let text = requirement.to_string();
        allow.contains(&text)
    }))
}

/// Problems found in the resolved graph against the policy.
fn check(policy: &Policy, packages: &[Package]) -> Vec<String> {
    let mut problems = Vec::new();
    for package in packages {
        let id = format!("{}@{}", package.name, package.version);
        match &package.license {
            None => problems.push(format!("{id}: no license expression")),
            Some(expression) => match license_allowed(expression, &policy.licenses.allow) {
                Ok(true) => {}
                Ok(false) => problems.push(format!("{id}: license {expression:?} is not allowed")),
                Err(e) => problems.push(format!("{id}: {e}")),
            },
        }
        if let Some(ban) = policy.bans.deny.iter().find(|b| matches(&b.spec, package)) {
            problems.push(format!("{id}: banned ({})", ban.reason));
        }
        match package.source.as_deref() {
            None => {}
            Some(source) if source.starts_with("git+") && policy.sources.unknown_git == "deny" => {
                problems.push(format!("{id}: git source {source} is not allowed"));
            }
            Some(source) if source.starts_with("git+") => {}
            Some(source) => {
                let registry = source
                    .trim_start_matches("registry+")
                    .trim_start_matches("sparse+");
                let known = policy.sources.allow_registry.iter().any(|r| r == registry)
                    || registry == "https://index.crates.io/";
                if !known && policy.sources.unknown_registry == "deny" {
                    problems.push(format!("{id}: registry {source} is not allowed"));
                }
            }
        }
    }
    if policy.bans.multiple_versions == "deny" {
        let mut versions: BTreeMap<&str, Vec<&Package>> = BTreeMap::new();
        for package in packages {
            versions.entry(&package.name).or_default().push(package);
        }
        for (name, all) in versions {
            let kept: Vec<&str> = all
                .iter()
                .filter(|p| !policy.bans.skip.iter().any(|s| matches(&s.spec, p)))
                .map(|p| p.version.as_str())
                .collect();
            if kept.len() > 1 {
                problems.push(format!(
                    "{name}: {} versions ({}); unify them or skip all but one in deny.toml",
                    kept.len(),
                    kept.join(", ")
                ));
            }
        }
    }
    for skip in &policy.bans.skip {
        if !packages.iter().any(|p| matches(&skip.spec, p)) {
            problems.push(format!(
                "deny.toml skips {} ({}), which is no longer in the graph: remove the entry",
                skip.spec, skip.reason
            ));
        }
    }
    problems
}

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let path = root.join("deny.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy: Policy = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let packages = packages(root)?;
    let problems = check(&policy, &packages);
    println!(
        "deny: {} packages checked for licenses, bans, duplicate versions and sources; advisories not checked (no advisory database on this machine)",
        packages.len()
    );
    if problems.is_empty() {
        println!("deny: ok");
        Ok(())
    } else {
        for problem in &problems {
            println!("deny: {problem}");
        }
        Err(format!("{} dependency policy problem(s)", problems.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, license: Option<&str>, source: Option<&str>) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            license: license.map(Into::into),
            source: source.map(Into::into),
        }
    }

    fn policy() -> Policy {
        toml::from_str(
            r#"
            [licenses]
            allow = ["MIT", "Apache-2.0"]
            [bans]
            multiple-versions = "deny"
            deny = [{ crate = "openssl", reason = "rustls" }]
            skip = [{ crate = "syn@1.0.0", reason = "old" }]
            [sources]
            unknown-registry = "deny"
            unknown-git = "deny"
            allow-registry = ["https://github.com/rust-lang/crates.io-index"]
            "#,
        )
        .expect("policy")
    }

    const CRATES_IO: Option<&str> = Some("registry+https://github.com/rust-lang/crates.io-index");

    #[test]
    fn a_clean_graph_passes() {
        let graph = [
            package("a", "1.0.0", Some("MIT OR Apache-2.0"), CRATES_IO),
            package("b", "1.0.0", Some("MIT/Apache-2.0"), CRATES_IO),
            package("syn", "1.0.0", Some("MIT"), CRATES_IO),
            package("syn", "2.0.0", Some("MIT"), CRATES_IO),
            package("ours", "0.1.0", Some("MIT OR Apache-2.0"), None),
        ];
        assert_eq!(check(&policy(), &graph), Vec::<String>::new());
    }

    #[test]
    fn every_kind_of_problem_is_reported() {
        let graph = [
            package("gpl", "1.0.0", Some("GPL-3.0-only"), CRATES_IO),
            package("mixed", "1.0.0", Some("MIT AND GPL-3.0-only"), CRATES_IO),
            package("none", "1.0.0", None, CRATES_IO),
            package("openssl", "0.10.0", Some("Apache-2.0"), CRATES_IO),
            package(
                "git",
                "1.0.0",
                Some("MIT"),
                Some("git+https://example.com/x"),
            ),
            package(
                "elsewhere",
                "1.0.0",
                Some("MIT"),
                Some("registry+https://example.com/index"),
            ),
            package("dup", "1.0.0", Some("MIT"), CRATES_IO),
            package("dup", "2.0.0", Some("MIT"), CRATES_IO),
        ];
        let problems = check(&policy(), &graph);
        for needle in [
            "gpl@1.0.0: license",
            "mixed@1.0.0: license",
            "none@1.0.0: no license",
            "openssl@0.10.0: banned",
            "git@1.0.0: git source",
            "elsewhere@1.0.0: registry",
            "dup: 2 versions",
            "skips syn@1.0.0",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{needle:?} missing from {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 8, "{problems:#?}");
    }
}
