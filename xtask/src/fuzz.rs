//! `cargo xtask fuzz`: seed, build, run every target, report.

use crate::fuzz_options::FuzzOptions;
use crate::fuzz_run::{build, run_all};
use crate::fuzz_seed::seed;
use crate::paths::Paths;

/// Seeds, builds and runs the targets of `options`; an error naming the
/// number of targets with a finding.
pub(crate) fn run(options: &FuzzOptions) -> Result<(), String> {
    let paths = Paths::new()?;
    seed(&paths, &options.targets)?;
    build(&paths)?;
    let outcomes = run_all(&paths, options)?;

    println!();
    println!(
        "{:<18} {:>14} {:>6}  result",
        "target",
        if options.check {
            "inputs run"
        } else {
            "executions"
        },
        "secs"
    );
    let mut findings = 0;
    for outcome in &outcomes {
        let executions = outcome
            .executions
            .map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = match &outcome.finding {
            None => "ok".to_owned(),
            Some(what) => {
                findings += 1;
                format!("FINDING (log: {})\n    {what}", outcome.log.display())
            }
        };
        println!(
            "{:<18} {:>14} {:>6}  {result}",
            outcome.target, executions, outcome.seconds
        );
    }
    if findings > 0 {
        Err(format!(
            "{findings} of {} fuzz targets found a problem",
            outcomes.len()
        ))
    } else {
        Ok(())
    }
}
