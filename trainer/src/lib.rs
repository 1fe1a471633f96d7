//! qb-trainer: turns datasets into the models the runtime embeds. For each gadget it
//! replays the standard set through the same feature extractor the daemon runs
//! (qb-models), fits on the training seeds, evaluates on the held-out seeds against the
//! gadget's rule baseline, and writes the artifact, a metrics JSON and the manifest
//! entry.

pub mod anchors;
pub mod archivist;
pub mod curator;
pub mod datasets;
pub mod equalizer;
pub mod eval;
pub mod evaluate;
pub mod lstm;
pub mod oracle;
pub mod pathologist;

use std::path::Path;

use qb_models::artifact::checksum;
use qb_models::{Artifact, ModelEntry, ModelError, ModelManifest};

use crate::datasets::{Entry, Split};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    NoData(String),
    #[error("{0} has no labels: training needs simulated ground truth")]
    NoLabels(String),
    #[error("{0} is not <split>/<family>/<kind>/seed-<n>")]
    Layout(String),
    #[error("seed {0} is in both the training and the held-out split")]
    Leak(u64),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Signals(#[from] qb_signals::Error),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Collects every entry into the training or the held-out accumulator, by its split.
pub(crate) fn by_split<S: Default>(
    entries: &[Entry],
    mut collect: impl FnMut(&Entry, &mut S) -> Result<(), TrainError>,
) -> Result<(S, S), TrainError> {
    let (mut train, mut held_out) = (S::default(), S::default());
    for e in entries {
        let into = match e.split {
            Split::Training => &mut train,
            Split::HeldOut => &mut held_out,
        };
        collect(e, into)?;
    }
    Ok((train, held_out))
}

/// A fitted and evaluated model, ready to be written.
#[derive(Debug)]
pub struct Trained {
    pub name: &'static str,
    pub artifact: Artifact,
    pub training_rows: usize,
    pub held_out_rows: usize,
    pub metrics: serde_json::Value,
    /// Held-out results, one line each.
    pub summary: Vec<String>,
}

/// Writes `<models>/artifacts/<name>.qbm`, `<models>/metrics/<name>.json` and the
/// manifest entry.
pub fn write(
    models: &Path,
    trained: &Trained,
    data: &Path,
    entries: &[Entry],
    feature_set: &str,
) -> Result<(), TrainError> {
    let io = |p: &Path, e| TrainError::Io(p.display().to_string(), e);
    for sub in ["artifacts", "metrics"] {
        let d = models.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    }
    let file = format!("artifacts/{}.qbm", trained.name);
    let bytes = trained.artifact.to_bytes();
    let path = models.join(&file);
    std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
    let metrics = format!("metrics/{}.json", trained.name);
    let mpath = models.join(&metrics);
    let text = serde_json::to_string_pretty(&trained.metrics).unwrap_or_default();
    std::fs::write(&mpath, text + "\n").map_err(|e| io(&mpath, e))?;

    let seeds = |split| {
        let mut s: Vec<u64> = entries
            .iter()
            .filter(|e| e.split == split)
            .map(|e| e.seed)
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let mut manifest = ModelManifest::load(models)?;
    manifest.models.insert(
        trained.name.into(),
        ModelEntry {
            kind: trained.artifact.kind.name().into(),
            file,
            checksum: format!("{:016x}", checksum(&bytes)),
            schema_hash: format!("{:016x}", trained.artifact.schema_hash),
            feature_set: feature_set.into(),
            feature_hash: format!("{:016x}", trained.artifact.feature_hash),
            training_data: data.display().to_string(),
            training_seeds: seeds(Split::Training),
            held_out_seeds: seeds(Split::HeldOut),
            training_rows: trained.training_rows as u64,
            held_out_rows: trained.held_out_rows as u64,
            metrics,
        },
    );
    manifest.save(models)?;
    Ok(())
}
