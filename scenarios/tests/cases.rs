//! Every case file under `scenarios/cases`, one trial per file and seed, named
//! `<area>/<name>/seed-<n>`, and every case under `scenarios/must-fail`, each of which
//! must fail with its `expect_failure` text (proof that the runner can fail).
//! `cargo test -p qb-scenarios --test cases -- oracle/` runs a subset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use qb_scenarios::{Case, Status, load_all, run, trials};

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn harness_trials(dir: &str, must_fail: bool) -> Vec<Trial> {
    let cases = match load_all(&[folder(dir)]) {
        Ok(cases) => cases,
        // A broken case file is one failing trial that names it, not a panic.
        Err(e) => {
            let message = e.to_string();
            return vec![Trial::test(format!("{dir}/load"), move || {
                Err(message.into())
            })];
        }
    };
    let mut out = Vec::new();
    for case in cases.into_iter().map(Arc::new) {
        if must_fail != case.expect_failure.is_some() {
            let message = format!(
                "{}: cases under must-fail/ need expect_failure, and only they may have it",
                case.path.display()
            );
            out.push(Trial::test(format!("{}/layout", case.name), move || {
                Err(message.into())
            }));
            continue;
        }
        for trial in trials(&case) {
            let case: Arc<Case> = Arc::clone(&case);
            let (name, suffix, seed) = (trial.name(), trial.suffix.clone(), trial.seed);
            out.push(Trial::test(name, move || {
                let trial = qb_scenarios::Trial {
                    case: &case,
                    suffix,
                    seed,
                };
                let result = run(&trial);
                match result.status {
                    Status::Pass => Ok(()),
                    Status::Skip | Status::Known => {
                        println!("{}: {}", result.name, result.message);
                        Ok(())
                    }
                    Status::Fail => Err(Failed::from(result.message)),
                }
            }));
        }
    }
    out
}

fn main() {
    let args = Arguments::from_args();
    let mut all = harness_trials("cases", false);
    all.extend(harness_trials("must-fail", true));
    libtest_mimic::run(&args, all).exit();
}
