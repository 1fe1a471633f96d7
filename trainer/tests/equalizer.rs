//! Training the Equalizer end to end on a small standard set written here: artifact,
//! metrics, manifest; and the data mistakes training must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use qb_models::features::EQUALIZER;
use qb_models::iforest::IsolationForest;
use qb_models::{Artifact, ModelKind, ModelManifest};
use qb_simulator::ToxicKind;
use qb_trainer::datasets::{self, Split};

const RUN: Duration = Duration::from_secs(240);

fn write(root: &Path, split: &str, kind: ToxicKind, seed: u64) {
    let dir = root.join(format!("{split}/toxic/{kind}/seed-{seed}"));
    qb_simulator::write_toxic(&dir, kind, seed, RUN, Duration::from_secs(1)).unwrap();
}

fn standard(root: &Path, training: &[u64], held_out: &[u64]) {
    for kind in ToxicKind::ALL {
        for (split, seeds) in [("training", training), ("held-out", held_out)] {
            for &seed in seeds {
                write(root, split, kind, seed);
            }
        }
    }
}

#[test]
fn trains_evaluates_and_writes_a_verifiable_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, models) = (tmp.path().join("data"), tmp.path().join("models"));
    standard(&data, &[1, 2, 3], &[10_001, 10_002]);
    let entries = datasets::find(&data, "toxic").unwrap();
    assert_eq!(entries.len(), ToxicKind::ALL.len() * 5);
    assert_eq!(
        entries.iter().filter(|e| e.split == Split::HeldOut).count(),
        ToxicKind::ALL.len() * 2
    );

    let trained = qb_trainer::equalizer::train(&entries, &[], 7).unwrap();
    qb_trainer::write(&models, &trained, &data, &entries, "equalizer").unwrap();

    let manifest = ModelManifest::load(&models).unwrap();
    let entry = &manifest.models["equalizer"];
    assert_eq!(
        (entry.training_seeds.clone(), entry.held_out_seeds.clone()),
        (vec![1, 2, 3], vec![10_001, 10_002])
    );
    assert_eq!(entry.kind, "isolation_forest");
    let bytes = manifest.read_verified(&models, "equalizer").unwrap();
    let artifact = Artifact::from_bytes(&bytes, "equalizer").unwrap();
    artifact
        .expect(
            "equalizer",
            ModelKind::IsolationForest,
            qb_models::artifact::current_schema_hash(),
            EQUALIZER.hash(),
        )
        .unwrap();
    let forest = IsolationForest::decode(&artifact.payload).unwrap();
    assert_eq!(
        (forest.dims(), forest.trees(), forest.subsample()),
        (EQUALIZER.len(), 100, 256)
    );

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join(&entry.metrics)).unwrap())
            .unwrap();
    let threshold = metrics["operating_threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0, "{metrics}");
    assert!(
        metrics["held_out_toxic_rows"].as_u64().unwrap() > 20,
        "{metrics}"
    );
    let auc = metrics["model"]["auc"].as_f64().unwrap();
    assert!(
        metrics["rule_baseline"]["auc"].as_f64().is_some(),
        "{metrics}"
    );
    // A label join that missed the toxic connection (or its time) would leave the
    // positives scored like everyone else, near 0.5.
    assert!(auc > 0.85, "held-out AUC {auc}: {metrics}");
    // The CPU hog is the one the features can single out: nearly perfectly ranked.
    let hog = &metrics["per_kind"]["cpu_hog"]["detectors"]["model_operating"];
    assert!(
        hog["auc_against_all_normal"].as_f64().unwrap() > 0.95,
        "{metrics}"
    );
    for kind in ["large_download", "slow_client", "normal_mix"] {
        let fpr = &metrics["per_kind"][kind]["detectors"]["model_operating"]["fpr"];
        assert!(fpr.as_f64().is_some(), "{kind}: {metrics}");
    }
    assert!(trained.summary.iter().any(|l| l.contains("AUC")));
    // The same data and seed give the same model, byte for byte.
    let again = qb_trainer::equalizer::train(&entries, &[], 7).unwrap();
    assert_eq!(again.artifact.to_bytes(), artifact.to_bytes());

    // split_vectors (models/compare/) hands out exactly the vectors training used: the
    // same rows, the same forest from them, the same held-out AUC.
    let (tr, ho) = qb_trainer::equalizer::split_vectors(&entries).unwrap();
    assert_eq!(
        (tr.toxic.len(), ho.toxic.len()),
        (trained.training_rows, trained.held_out_rows)
    );
    assert_eq!(tr.x.len(), tr.toxic.len() * EQUALIZER.len());
    let refit = IsolationForest::fit(
        &tr.x,
        EQUALIZER.len(),
        qb_models::iforest::IForestParams {
            trees: 100,
            subsample: 256,
            seed: 7,
        },
    )
    .unwrap();
    assert_eq!(refit.encode(), artifact.payload);
    let scores: Vec<f64> =
        ho.x.chunks_exact(EQUALIZER.len())
            .map(|r| refit.score(r))
            .collect();
    // Within an ulp: the metrics' AUC went through JSON.
    let again_auc = qb_models::metrics::roc_auc(&scores, &ho.toxic).unwrap();
    assert!((again_auc - auc).abs() < 1e-12, "{again_auc} vs {auc}");
}

#[test]
fn data_mistakes_are_refused_with_the_reason() {
    // A dataset without labels (a recording) cannot train.
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "training", ToxicKind::CpuHog, 1);
    let dir = tmp.path().join("training/toxic/cpu_hog/seed-1/labels");
    std::fs::remove_dir_all(&dir).unwrap();
    let entries = datasets::find(tmp.path(), "toxic").unwrap();
    let e = qb_trainer::equalizer::train(&entries, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no labels"), "{e}");

    // Negatives only: nothing toxic to choose an operating point on.
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "training", ToxicKind::LargeDownload, 1);
    write(tmp.path(), "training", ToxicKind::NormalMix, 1);
    let entries = datasets::find(tmp.path(), "toxic").unwrap();
    let e = qb_trainer::equalizer::train(&entries, &[], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("only 0 toxic samples"), "{e}");
}
