//! `qbranch replay` end to end: a passing case, a must-fail case (which passes by
//! failing), the same case without its `expect_failure` (exit code 1), the JUnit XML,
//! and the JSON results (and an unwritable path for them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_qbranch");

fn scenarios(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(rel)
}

fn replay(args: &[&str]) -> (Output, String) {
    let out = Command::new(EXE).arg("replay").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn a_passing_case_filtered_to_one_seed_exits_zero() {
    let case = scenarios("cases/pathologist/idle_server.toml");
    let (out, text) = replay(&[case.to_str().unwrap(), "--run", "seed-10001$"]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("PASS  pathologist/idle_server/seed-10001"),
        "{text}"
    );
    assert!(!text.contains("seed-10002"), "{text}");
    assert!(text.contains("1 trials in"), "{text}");
}

#[test]
fn a_failing_case_exits_one_and_its_junit_carries_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let must_fail = scenarios("must-fail/quiet_gadget_fires.toml");
    let junit = dir.path().join("must-fail.xml");
    let (out, text) = replay(&[
        must_fail.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "a must-fail case that fails passes: {text}"
    );
    assert!(text.contains("failed as it must"), "{text}");

    // The same case, no longer declared must-fail: a real failure.
    let original = std::fs::read_to_string(&must_fail).unwrap();
    let cases = dir.path().join("broken");
    std::fs::create_dir(&cases).unwrap();
    let case = cases.join("quiet_gadget_fires.toml");
    let text_without: String = original
        .lines()
        .filter(|l| !l.starts_with("expect_failure"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&case, text_without).unwrap();
    let xml_path = dir.path().join("replay.xml");
    let (out, text) = replay(&[
        cases.to_str().unwrap(),
        "--junit",
        xml_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  broken/quiet_gadget_fires/seed-10001"),
        "{text}"
    );
    assert!(
        text.contains("quiet[1]: the pathologist must stay quiet"),
        "{text}"
    );
    assert!(text.contains("1 failed"), "{text}");

    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuites name=\"qbranch replay\" tests=\"1\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"broken/quiet_gadget_fires\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"seed-10001\" classname=\"broken/quiet_gadget_fires\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"quiet[1]: the pathologist must stay quiet"),
        "{xml}"
    );
    for tag in ["testsuites", "testsuite", "testcase", "failure"] {
        assert_eq!(
            xml.matches(&format!("<{tag} ")).count(),
            xml.matches(&format!("</{tag}>")).count(),
            "<{tag}> balanced in {xml}"
        );
    }
    let passing = std::fs::read_to_string(&junit).unwrap();
    assert!(passing.contains("failures=\"0\""), "{passing}");
}

#[test]
fn a_bad_case_file_is_one_error_line_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("bad.toml");
    std::fs::write(
        &case,
        "description = \"d\"\n[source]\nkind = \"simulate\"\ngenerator = \"memory/linear_leek\"\nseeds = [1]\n[[quiet]]\ngadget = \"oracle\"\n",
    )
    .unwrap();
    let (out, text) = replay(&[case.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("bad.toml: source.generator: unknown memory kind 'linear_leek'"),
        "{text}"
    );
}

#[test]
fn json_results_carry_case_source_seed_status_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let (out, text) = replay(&[
        scenarios("cases/tuner/flat_stays_quiet.toml")
            .to_str()
            .unwrap(),
        scenarios("cases/oracle/linear_leak.toml").to_str().unwrap(),
        scenarios("must-fail/tuner/too_few_trials.toml")
            .to_str()
            .unwrap(),
        "--run",
        "seed-1$|seed-10001$",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("PASS  tuner/flat_stays_quiet/seed-1 "),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let trials = v["trials"].as_array().unwrap();
    let by_name = |name: &str| {
        trials
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
    };
    assert_eq!(trials.len(), 3, "{v}");

    let leak = by_name("oracle/linear_leak/seed-10001");
    assert_eq!(leak["case"], "oracle/linear_leak");
    assert_eq!(leak["source"], "simulate");
    assert_eq!(leak["seed"], 10001);
    assert_eq!(leak["status"], "pass");
    assert_eq!(leak["must_fail"], false);
    assert!(leak["elapsed_ms"].as_f64().unwrap() > 0.0, "{leak}");
    assert_eq!(leak["checks"][0]["gadget"], "oracle");
    assert_eq!(leak["checks"][0]["polarity"], "fires");
    assert_eq!(leak["checks"][0]["ok"], true);
    assert!(
        leak["checks"][0]["lead_s"].as_f64().unwrap() >= 60.0,
        "{leak}"
    );
    assert_eq!(
        leak["checks"][1],
        serde_json::json!({"gadget": "pathologist", "polarity": "quiet", "ok": true, "lead_s": null})
    );

    let flat = by_name("tuner/flat_stays_quiet/seed-1");
    assert_eq!(flat["source"], "tuner");
    assert_eq!(flat["seed"], 1);
    assert_eq!(
        flat["checks"],
        serde_json::json!([{"gadget": "tuner", "polarity": "quiet", "ok": true, "lead_s": null}])
    );

    let must_fail = by_name("tuner/too_few_trials/seed-1");
    assert_eq!(must_fail["status"], "pass");
    assert_eq!(must_fail["must_fail"], true);
    assert_eq!(must_fail["checks"][0]["ok"], false);
}

#[test]
fn an_unwritable_json_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("missing").join("results.json");
    let (out, text) = replay(&[
        scenarios("cases/tuner/pause_file.toml").to_str().unwrap(),
        "--run",
        "seed-1$",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "qbranch: error: writing the results as JSON to {}: No such file or directory",
            json.display()
        )),
        "{text}"
    );
    // Refused before any trial ran.
    assert!(!text.contains("PASS"), "{text}");
}
