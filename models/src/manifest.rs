//! `models/manifest.toml`: what each artifact is, what it was trained on, and its
//! checksum, so a registry (or a human) can tell a model's provenance and refuse a file
//! that was changed behind its back.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::artifact::checksum;

pub const MANIFEST: &str = "manifest.toml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    #[serde(default)]
    pub models: BTreeMap<String, ModelEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub kind: String,
    /// Relative to the manifest's directory.
    pub file: String,
    /// FNV-1a 64 of the file, 16 hex digits.
    pub checksum: String,
    pub schema_hash: String,
    pub feature_set: String,
    pub feature_hash: String,
    pub training_data: String,
    pub training_seeds: Vec<u64>,
    pub held_out_seeds: Vec<u64>,
    pub training_rows: u64,
    pub held_out_rows: u64,
    /// Held-out metrics, relative to the manifest's directory.
    pub metrics: String,
}

impl ModelManifest {
    /// Reads `<dir>/manifest.toml`; a missing file is an empty manifest.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(MANIFEST);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ModelError::Corrupt(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ModelError::Input(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes atomically (temp file, then rename).
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join(MANIFEST);
        let io = |e: std::io::Error| ModelError::Input(format!("{}: {e}", path.display()));
        let text = toml::to_string_pretty(self)
            .map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))?;
        let tmp = dir.join(format!(".{MANIFEST}.tmp"));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The bytes of model `name`, after checking them against the recorded checksum.
    pub fn read_verified(&self, dir: &Path, name: &str) -> Result<Vec<u8>, ModelError> {
        let entry = self
            .models
            .get(name)
            .ok_or_else(|| ModelError::Input(format!("no model '{name}' in {MANIFEST}")))?;
        let path = dir.join(&entry.file);
        let bytes = std::fs::read(&path)
            .map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))?;
        let found = format!("{:016x}", checksum(&bytes));
        if found != entry.checksum {
            return Err(ModelError::Mismatch {
                what: path.display().to_string(),
                field: "checksum".into(),
                found,
                expected: entry.checksum.clone(),
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_modified_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ModelManifest::load(dir.path()).unwrap(),
            ModelManifest::default()
        );
        std::fs::write(dir.path().join("m.qbm"), b"model").unwrap();
        let mut m = ModelManifest::default();
        m.models.insert(
            "m".into(),
            ModelEntry {
                kind: "random_forest".into(),
                file: "m.qbm".into(),
                checksum: format!("{:016x}", checksum(b"model")),
                schema_hash: "00".into(),
                feature_set: "f".into(),
                feature_hash: "01".into(),
                training_data: "d".into(),
                training_seeds: vec![1, 2],
                held_out_seeds: vec![10_001],
                training_rows: 3,
                held_out_rows: 1,
                metrics: "m.json".into(),
            },
        );
        m.save(dir.path()).unwrap();
        let back = ModelManifest::load(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.read_verified(dir.path(), "m").unwrap(), b"model");
        std::fs::write(dir.path().join("m.qbm"), b"modeL").unwrap();
        let e = back.read_verified(dir.path(), "m").unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        assert!(back.read_verified(dir.path(), "other").is_err());
        std::fs::write(dir.path().join(MANIFEST), "models = 3").unwrap();
        assert!(ModelManifest::load(dir.path()).is_err());
    }
}
