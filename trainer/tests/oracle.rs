//! Training the Oracle end to end on a small memory set written here: both artifacts,
//! their metrics and manifest entries, the evaluation against the rules; and the data
//! mistakes training must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use qb_models::lstm::Lstm;
use qb_models::registry::{self, Registry};
use qb_simulator::MemoryKind;
use qb_trainer::TrainError;
use qb_trainer::datasets;
use qb_trainer::lstm::LstmParams;

const RUN: Duration = Duration::from_secs(20 * 60);

fn write(root: &Path, split: &str, kind: MemoryKind, seed: u64) {
    let dir = root.join(format!("{split}/memory/{kind}/seed-{seed}"));
    qb_simulator::write_memory(&dir, kind, seed, RUN, Duration::from_secs(1)).unwrap();
}

fn small_set(root: &Path) {
    for kind in [MemoryKind::LinearLeak, MemoryKind::StableSawtooth] {
        for seed in [1, 2, 3] {
            write(root, "training", kind, seed);
        }
        write(root, "held-out", kind, 10_001);
    }
}

fn quick() -> LstmParams {
    LstmParams {
        epochs: 3,
        hidden: 16,
        ..LstmParams::default()
    }
}

#[test]
fn trains_both_models_scores_every_detector_and_writes_loadable_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, models) = (tmp.path().join("data"), tmp.path().join("models"));
    small_set(&data);
    let entries = datasets::find(&data, "memory").unwrap();
    let mut messages = Vec::new();
    let trained =
        qb_trainer::oracle::train(&entries, &[], quick(), &mut |m| messages.push(m)).unwrap();
    assert!(
        messages.iter().any(|m| m.starts_with("LSTM epoch 3/3")),
        "{messages:?}"
    );
    let names: Vec<&str> = trained.iter().map(|t| t.name).collect();
    assert_eq!(names, ["oracle_lstm", "oracle_arima"]);
    for t in &trained {
        qb_trainer::write(&models, t, &data, &entries, "oracle").unwrap();
    }

    // Every detector was scored on the held-out leak and negatives.
    let m = &trained[0].metrics["evaluation"]["held_out"];
    let detectors: Vec<&str> = m
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["detector"].as_str().unwrap())
        .collect();
    assert_eq!(
        detectors,
        [
            "lstm",
            "lstm_p85",
            "arima",
            "arima_p85",
            "spec_rule",
            "systemd_oomd",
            "earlyoom"
        ]
    );
    for d in m.as_array().unwrap() {
        assert_eq!(d["leaks"], 1, "{d}");
        assert!(d["negative_cgroups"].as_u64().unwrap() >= 4, "{d}");
    }
    // A linear leak into a limit is what ARIMA forecasts: it must see it coming a
    // minute ahead. (The tiny LSTM is not held to a number here.)
    let arima = &m[2];
    assert_eq!(arima["caught"], 1, "{arima}");
    assert!(arima["lead_s"]["min"].as_f64().unwrap() >= 60.0, "{arima}");

    // Both artifacts load through a registry of the written directory.
    let reg = Registry::from_dir(&models).unwrap();
    let lstm = reg.artifact(&registry::ORACLE_LSTM).unwrap();
    let lstm = Lstm::decode(&lstm.payload).unwrap();
    assert_eq!(
        (lstm.features(), lstm.hidden(), lstm.horizon_s()),
        (18, 16, 180.0)
    );
    let arima = reg.artifact(&registry::ORACLE_ARIMA).unwrap();
    qb_models::arima::Arima::decode(&arima.payload).unwrap();
    assert!(models.join("metrics/oracle_lstm.json").is_file());
}

#[test]
fn refuses_a_set_without_enough_leaks() {
    let tmp = tempfile::tempdir().unwrap();
    for seed in [1, 2, 3] {
        write(tmp.path(), "training", MemoryKind::StableSawtooth, seed);
    }
    write(tmp.path(), "training", MemoryKind::LinearLeak, 1);
    let entries = datasets::find(tmp.path(), "memory").unwrap();
    let e = qb_trainer::oracle::train(&entries, &[], quick(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, TrainError::NoData(_))
            && e.to_string().contains("only 1 training trajectories"),
        "{e}"
    );
}

#[test]
fn refuses_a_dataset_without_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("training/memory/linear_leak/seed-1");
    qb_simulator::write_memory(
        &dir,
        MemoryKind::LinearLeak,
        1,
        Duration::from_secs(60),
        Duration::from_secs(1),
    )
    .unwrap();
    // Drop the labels: a recording of a host is not training data.
    std::fs::remove_dir_all(dir.join("labels")).unwrap();
    let entries = datasets::find(tmp.path(), "memory").unwrap();
    let e = qb_trainer::oracle::train(&entries, &[], quick(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
}

#[test]
fn refuses_a_dataset_of_another_schema() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "training", MemoryKind::LinearLeak, 1);
    let manifest = tmp
        .path()
        .join("training/memory/linear_leak/seed-1/manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let hash = qb_signals::schema_hash();
    assert!(text.contains(&hash));
    std::fs::write(&manifest, text.replace(&hash, "00000000deadbeef")).unwrap();
    let entries = datasets::find(tmp.path(), "memory").unwrap();
    let e = qb_trainer::oracle::train(&entries, &[], quick(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("schema mismatch"), "{e}");
}
