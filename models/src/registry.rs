//! Where the runtime gets its models: the ones compiled into the binary
//! (`include_bytes!` of `models/artifacts/*.qbm` and `models/manifest.toml`), or a
//! directory the trainer wrote (`gadgetd --models DIR`). Every load is checked against
//! the manifest's checksum, then the artifact's own checksum, kind, schema hash and
//! feature hash. [`load_or_rule`] turns any failure into the gadget's rule baseline
//! with a warning naming the reason: a bad model never stops the daemon, nor is it
//! ever used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::artifact::{checksum, current_schema_hash};
use crate::features::{ARCHIVIST, CURATOR, EQUALIZER, FeatureSet, ORACLE, PATHOLOGIST};
use crate::{Artifact, ModelError, ModelKind, ModelManifest};

/// A model a gadget expects: its manifest name, kind and feature set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: &'static str,
    pub kind: ModelKind,
    pub features: FeatureSet,
}

pub const ORACLE_LSTM: ModelSpec = ModelSpec {
    name: "oracle_lstm",
    kind: ModelKind::Lstm,
    features: ORACLE,
};
pub const ORACLE_ARIMA: ModelSpec = ModelSpec {
    name: "oracle_arima",
    kind: ModelKind::Arima,
    features: ORACLE,
};
pub const PATHOLOGIST_FOREST: ModelSpec = ModelSpec {
    name: "pathologist",
    kind: ModelKind::RandomForest,
    features: PATHOLOGIST,
};
pub const EQUALIZER_FOREST: ModelSpec = ModelSpec {
    name: "equalizer",
    kind: ModelKind::IsolationForest,
    features: EQUALIZER,
};

/// The Curator's slow-path context classifier (`features::curator`).
pub const CURATOR_CLASSIFIER: ModelSpec = ModelSpec {
    name: "curator",
    kind: ModelKind::LogisticRegression,
    features: CURATOR,
};

pub const ARCHIVIST_VOCABULARY: ModelSpec = ModelSpec {
    name: "archivist",
    kind: ModelKind::Vocabulary,
    features: ARCHIVIST,
};

pub const SPECS: [ModelSpec; 6] = [
    ORACLE_LSTM,
    ORACLE_ARIMA,
    PATHOLOGIST_FOREST,
    EQUALIZER_FOREST,
    CURATOR_CLASSIFIER,
    ARCHIVIST_VOCABULARY,
];

const EMBEDDED_MANIFEST: &str = include_str!("../manifest.toml");
const EMBEDDED: [(&str, &[u8]); 6] = [
    (
        "artifacts/oracle_lstm.qbm",
        include_bytes!("../artifacts/oracle_lstm.qbm"),
    ),
    (
        "artifacts/oracle_arima.qbm",
        include_bytes!("../artifacts/oracle_arima.qbm"),
    ),
    (
        "artifacts/pathologist.qbm",
        include_bytes!("../artifacts/pathologist.qbm"),
    ),
    (
        "artifacts/equalizer.qbm",
        include_bytes!("../artifacts/equalizer.qbm"),
    ),
    (
        "artifacts/curator.qbm",
        include_bytes!("../artifacts/curator.qbm"),
    ),
    (
        "artifacts/archivist.qbm",
        include_bytes!("../artifacts/archivist.qbm"),
    ),
];

#[derive(Debug, Clone)]
enum Source {
    Embedded,
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Registry {
    manifest: ModelManifest,
    source: Source,
}

impl Registry {
    /// The models this binary was built with.
    pub fn embedded() -> Result<Self, ModelError> {
        let manifest = toml::from_str(EMBEDDED_MANIFEST)
            .map_err(|e| ModelError::Corrupt(format!("embedded manifest.toml: {e}")))?;
        Ok(Registry {
            manifest,
            source: Source::Embedded,
        })
    }

    /// The models under `dir` (its `manifest.toml` and the files it names).
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        if !dir.join(crate::manifest::MANIFEST).is_file() {
            return Err(ModelError::Input(format!(
                "{}: no {} (train with `qbranch train all --models {}`)",
                dir.display(),
                crate::manifest::MANIFEST,
                dir.display()
            )));
        }
        Ok(Registry {
            manifest: ModelManifest::load(dir)?,
            source: Source::Dir(dir.into()),
        })
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// Where the models come from, for logs.
    pub fn origin(&self) -> String {
        match &self.source {
            Source::Embedded => "embedded".into(),
            Source::Dir(d) => d.display().to_string(),
        }
    }

    fn bytes(&self, file: &str) -> Result<Vec<u8>, ModelError> {
        match &self.source {
            Source::Embedded => EMBEDDED
                .iter()
                .find(|(f, _)| *f == file)
                .map(|(_, b)| b.to_vec())
                .ok_or_else(|| ModelError::Input(format!("{file} is not embedded in this build"))),
            Source::Dir(d) => {
                let p = d.join(file);
                std::fs::read(&p).map_err(|e| ModelError::Input(format!("{}: {e}", p.display())))
            }
        }
    }

    /// The verified artifact of `spec`: present in the manifest, bytes matching the
    /// manifest's checksum, a valid container of the expected kind, schema and features.
    pub fn artifact(&self, spec: &ModelSpec) -> Result<Artifact, ModelError> {
        let what = format!("{} ({})", spec.name, self.origin());
        let entry = self
            .manifest
            .models
            .get(spec.name)
            .ok_or_else(|| ModelError::Input(format!("{what}: not in the manifest")))?;
        let bytes = self.bytes(&entry.file)?;
        let found = format!("{:016x}", checksum(&bytes));
        if found != entry.checksum {
            return Err(ModelError::Mismatch {
                what,
                field: "manifest checksum".into(),
                found,
                expected: entry.checksum.clone(),
            });
        }
        let artifact = Artifact::from_bytes(&bytes, &what)?;
        artifact.expect(
            &what,
            spec.kind,
            current_schema_hash(),
            spec.features.hash(),
        )?;
        Ok(artifact)
    }

    /// Every expected model with its manifest entry and whether it loads (for
    /// `gadgetd models`).
    pub fn status(&self) -> BTreeMap<&'static str, Result<(), String>> {
        SPECS
            .iter()
            .map(|s| {
                (
                    s.name,
                    self.artifact(s).map(|_| ()).map_err(|e| e.to_string()),
                )
            })
            .collect()
    }
}

/// A gadget's model, or its rule baseline and why.
#[derive(Debug)]
pub enum Loaded<M> {
    Model(M),
    Rule { reason: String },
}

impl<M> Loaded<M> {
    pub fn model(&self) -> Option<&M> {
        match self {
            Loaded::Model(m) => Some(m),
            Loaded::Rule { .. } => None,
        }
    }

    /// `model`, or `rule: <why the model was not used>`.
    pub fn describe(&self) -> String {
        match self {
            Loaded::Model(_) => "model".to_string(),
            Loaded::Rule { reason } => format!("rule: {reason}"),
        }
    }
}

/// Loads and decodes `spec`'s model; on any failure warns and returns the rule
/// baseline with the reason.
pub fn load_or_rule<M>(
    registry: &Registry,
    spec: &ModelSpec,
    decode: impl FnOnce(&[u8]) -> Result<M, ModelError>,
) -> Loaded<M> {
    match registry.artifact(spec).and_then(|a| decode(&a.payload)) {
        Ok(m) => Loaded::Model(m),
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(model = spec.name, %reason, "model unusable: falling back to the rule baseline");
            Loaded::Rule { reason }
        }
    }
}
