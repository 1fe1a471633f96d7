//! Training the Pathologist end to end on a small standard set written here: artifact,
//! metrics, manifest; and the data mistakes training must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use qb_models::features::PATHOLOGIST;
use qb_models::forest::RandomForest;
use qb_models::{Artifact, ModelKind, ModelManifest};
use qb_simulator::StuckKind;
use qb_trainer::datasets::{self, Split};

const KINDS: [StuckKind; 4] = [
    StuckKind::Deadlock,
    StuckKind::Livelock,
    StuckKind::IdleServer,
    StuckKind::BusyWorker,
];

fn standard(root: &Path, training: &[u64], held_out: &[u64]) {
    for kind in KINDS {
        for (split, seeds) in [("training", training), ("held-out", held_out)] {
            for &seed in seeds {
                let dir = root.join(format!("{split}/stuck/{kind}/seed-{seed}"));
                qb_simulator::write_stuck(
                    &dir,
                    kind,
                    seed,
                    Duration::from_secs(240),
                    Duration::from_secs(1),
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn trains_evaluates_and_writes_a_verifiable_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, models) = (tmp.path().join("data"), tmp.path().join("models"));
    standard(&data, &[1, 2, 3], &[10_001]);
    let entries = datasets::find(&data, "stuck").unwrap();
    assert_eq!(entries.len(), KINDS.len() * 4);
    assert_eq!(
        entries.iter().filter(|e| e.split == Split::HeldOut).count(),
        KINDS.len()
    );

    let trained = qb_trainer::pathologist::train(&entries, &[], 7).unwrap();
    qb_trainer::write(&models, &trained, &data, &entries, "pathologist").unwrap();

    let manifest = ModelManifest::load(&models).unwrap();
    let entry = &manifest.models["pathologist"];
    assert_eq!(
        (entry.training_seeds.clone(), entry.held_out_seeds.clone()),
        (vec![1, 2, 3], vec![10_001])
    );
    let bytes = manifest.read_verified(&models, "pathologist").unwrap();
    let artifact = Artifact::from_bytes(&bytes, "pathologist").unwrap();
    artifact
        .expect(
            "pathologist",
            ModelKind::RandomForest,
            qb_models::artifact::current_schema_hash(),
            PATHOLOGIST.hash(),
        )
        .unwrap();
    let forest = RandomForest::decode(&artifact.payload).unwrap();
    assert_eq!(forest.features(), PATHOLOGIST.len());

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join(&entry.metrics)).unwrap())
            .unwrap();
    let stuck = &metrics["model"]["per_class"][2];
    assert_eq!(stuck["class"], "stuck");
    assert!(stuck["recall"].as_f64().unwrap() > 0.8, "{metrics}");
    assert!(stuck["precision"].as_f64().unwrap() > 0.8, "{metrics}");
    // The same data and seed give the same model, byte for byte.
    let again = qb_trainer::pathologist::train(&entries, &[], 7).unwrap();
    assert_eq!(again.artifact.to_bytes(), artifact.to_bytes());
}

#[test]
fn data_mistakes_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let e = datasets::find(tmp.path(), "stuck").unwrap_err().to_string();
    assert!(e.contains("qbranch simulate standard"), "{e}");

    // The same seed in both splits would leak the evaluation into training.
    standard(tmp.path(), &[1], &[1]);
    let e = datasets::find(tmp.path(), "stuck").unwrap_err().to_string();
    assert!(e.contains("seed 1 is in both"), "{e}");

    // A dataset without labels (a recording) cannot train.
    let tmp = tempfile::tempdir().unwrap();
    standard(tmp.path(), &[1], &[]);
    let dir = tmp.path().join("training/stuck/deadlock/seed-1/labels");
    std::fs::remove_dir_all(&dir).unwrap();
    let entries = datasets::find(tmp.path(), "stuck").unwrap();
    let e = qb_trainer::pathologist::train(&entries, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no labels") || e.contains("labels"), "{e}");

    // Negatives only: not enough positives to learn from.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("training/stuck/idle_server/seed-1");
    qb_simulator::write_stuck(
        &dir,
        StuckKind::IdleServer,
        1,
        Duration::from_secs(240),
        Duration::from_secs(1),
    )
    .unwrap();
    let entries = datasets::find(tmp.path(), "stuck").unwrap();
    let e = qb_trainer::pathologist::train(&entries, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stuck samples"), "{e}");
}
