//! The registry: the embedded models load and decode; a directory with a corrupt
//! artifact, a manifest whose checksum does not match, or a model of another schema or
//! feature set is refused, and the gadget gets its rule baseline with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use qb_models::arima::Arima;
use qb_models::forest::RandomForest;
use qb_models::iforest::IsolationForest;
use qb_models::lstm::Lstm;
use qb_models::registry::{self, Loaded, Registry, load_or_rule};
use qb_models::{Artifact, ModelManifest};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A copy of the shipped models directory to break things in.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("artifacts")).unwrap();
    std::fs::copy(
        shipped().join("manifest.toml"),
        tmp.path().join("manifest.toml"),
    )
    .unwrap();
    for e in std::fs::read_dir(shipped().join("artifacts")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join("artifacts").join(e.file_name())).unwrap();
    }
    tmp
}

fn reason<M>(l: Loaded<M>) -> String {
    match l {
        Loaded::Model(_) => panic!("expected the rule fallback"),
        Loaded::Rule { reason } => reason,
    }
}

#[test]
fn every_embedded_model_loads_and_decodes() {
    let reg = Registry::embedded().unwrap();
    assert_eq!(reg.origin(), "embedded");
    for (name, status) in reg.status() {
        assert!(status.is_ok(), "{name}: {status:?}");
    }
    assert!(matches!(
        load_or_rule(&reg, &registry::ORACLE_LSTM, Lstm::decode),
        Loaded::Model(_)
    ));
    assert!(matches!(
        load_or_rule(&reg, &registry::ORACLE_ARIMA, Arima::decode),
        Loaded::Model(_)
    ));
    assert!(matches!(
        load_or_rule(&reg, &registry::PATHOLOGIST_FOREST, RandomForest::decode),
        Loaded::Model(_)
    ));
    assert!(matches!(
        load_or_rule(&reg, &registry::EQUALIZER_FOREST, IsolationForest::decode),
        Loaded::Model(_)
    ));
    // The directory the build embedded is the same registry.
    let dir = Registry::from_dir(&shipped()).unwrap();
    assert_eq!(dir.manifest(), reg.manifest());
}

#[test]
fn a_modified_artifact_falls_back_to_the_rule() {
    let tmp = copy();
    let path = tmp.path().join("artifacts/pathologist.qbm");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let reg = Registry::from_dir(tmp.path()).unwrap();
    let r = reason(load_or_rule(
        &reg,
        &registry::PATHOLOGIST_FOREST,
        RandomForest::decode,
    ));
    assert!(r.contains("pathologist") && r.contains("checksum"), "{r}");
    // The others are untouched.
    assert!(matches!(
        load_or_rule(&reg, &registry::ORACLE_LSTM, Lstm::decode),
        Loaded::Model(_)
    ));
}

#[test]
fn a_manifest_checksum_that_does_not_match_falls_back() {
    let tmp = copy();
    let mut m = ModelManifest::load(tmp.path()).unwrap();
    m.models.get_mut("oracle_lstm").unwrap().checksum = "0123456789abcdef".into();
    m.save(tmp.path()).unwrap();
    let reg = Registry::from_dir(tmp.path()).unwrap();
    let r = reason(load_or_rule(&reg, &registry::ORACLE_LSTM, Lstm::decode));
    assert!(
        r.contains("manifest checksum") && r.contains("0123456789abcdef"),
        "{r}"
    );
}

/// Rewrites an artifact with other hashes, and its manifest checksum to match: a
/// well-formed model of another schema or feature set.
fn rewrite(dir: &Path, name: &str, edit: impl Fn(&mut Artifact)) {
    let path = dir.join(format!("artifacts/{name}.qbm"));
    let mut a = Artifact::from_bytes(&std::fs::read(&path).unwrap(), name).unwrap();
    edit(&mut a);
    let bytes = a.to_bytes();
    std::fs::write(&path, &bytes).unwrap();
    let mut m = ModelManifest::load(dir).unwrap();
    m.models.get_mut(name).unwrap().checksum =
        format!("{:016x}", qb_models::artifact::checksum(&bytes));
    m.save(dir).unwrap();
}

#[test]
fn another_schema_or_feature_set_falls_back() {
    let tmp = copy();
    rewrite(tmp.path(), "equalizer", |a| a.schema_hash ^= 1);
    rewrite(tmp.path(), "oracle_arima", |a| a.feature_hash ^= 1);
    rewrite(tmp.path(), "oracle_lstm", |a| {
        a.kind = qb_models::ModelKind::RandomForest
    });
    let reg = Registry::from_dir(tmp.path()).unwrap();
    let r = reason(load_or_rule(
        &reg,
        &registry::EQUALIZER_FOREST,
        IsolationForest::decode,
    ));
    assert!(r.contains("schema hash"), "{r}");
    let r = reason(load_or_rule(&reg, &registry::ORACLE_ARIMA, Arima::decode));
    assert!(r.contains("feature hash"), "{r}");
    let r = reason(load_or_rule(&reg, &registry::ORACLE_LSTM, Lstm::decode));
    assert!(r.contains("kind"), "{r}");
}

#[test]
fn a_payload_that_does_not_decode_falls_back() {
    let tmp = copy();
    rewrite(tmp.path(), "oracle_lstm", |a| a.payload.truncate(10));
    let reg = Registry::from_dir(tmp.path()).unwrap();
    let r = reason(load_or_rule(&reg, &registry::ORACLE_LSTM, Lstm::decode));
    assert!(r.contains("LSTM"), "{r}");
}

#[test]
fn missing_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Registry::from_dir(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("manifest.toml") && e.contains("qbranch train"),
        "{e}"
    );
    let tmp = copy();
    std::fs::remove_file(tmp.path().join("artifacts/equalizer.qbm")).unwrap();
    let reg = Registry::from_dir(tmp.path()).unwrap();
    let r = reason(load_or_rule(
        &reg,
        &registry::EQUALIZER_FOREST,
        IsolationForest::decode,
    ));
    assert!(r.contains("equalizer.qbm"), "{r}");
    std::fs::write(tmp.path().join("manifest.toml"), "models = [").unwrap();
    let e = Registry::from_dir(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("manifest.toml"), "{e}");
}
