//! The arguments of `fuzz` and `fuzz-seed`, and the fuzz targets they name.

/// Every fuzz target of `fuzz/Cargo.toml`.
pub(crate) const TARGETS: [&str; 25] = [
    "package1",
    "package2",
    "package3",
    "mo_serialization",
    "alert",
    "notification",
    "accept",
    "client_uri",
    "server_uri",
    "ddf",
    "tree",
    "server_session",
    "client_session",
    "server_auth",
    "admin_command",
    "bootstrap_admin",
    "update_admin",
    "events",
    "server_config",
    "psk_credentials",
    "client_auth",
    "client_state",
    "server_http",
    "factory_file",
    "api_keys",
];

/// The options of the fuzz tasks.
pub(crate) struct FuzzOptions {
    pub(crate) seconds: u64,
    pub(crate) jobs: usize,
    pub(crate) check: bool,
    pub(crate) targets: Vec<&'static str>,
}

/// Parses the arguments of `fuzz` and `fuzz-seed`: options, then target
/// names (every target when none is named).
pub(crate) fn parse(args: &[String]) -> Result<FuzzOptions, String> {
    let mut options = FuzzOptions {
        seconds: 60,
        jobs: 1,
        check: false,
        targets: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--seconds" => {
                options.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?;
            }
            "--jobs" | "-j" => {
                options.jobs = value("--jobs")?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))?;
                if options.jobs == 0 {
                    return Err("--jobs must be at least 1".into());
                }
            }
            "--check" => options.check = true,
            name if name.starts_with('-') => return Err(format!("unknown option {name:?}")),
            name => {
                let target = TARGETS.iter().find(|t| **t == name).ok_or_else(|| {
                    format!(
                        "unknown fuzz target {name:?} (known: {})",
                        TARGETS.join(" ")
                    )
                })?;
                if !options.targets.contains(target) {
                    options.targets.push(target);
                }
            }
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.to_vec();
    }
    Ok(options)
}
