//! Finding the datasets of a standard set: `<root>/<split>/<family>/<kind>/seed-<n>/`,
//! as `qbranch simulate standard` writes them. The split is taken from the path and
//! checked against the seed ranges, so a held-out seed can never slip into training.

use std::path::{Path, PathBuf};

use qb_models::features::Extractor;
use qb_signals::{Dataset, LabelRow, SignalSource};

use crate::TrainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Training,
    HeldOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub split: Split,
    pub family: String,
    pub kind: String,
    pub seed: u64,
    pub dir: PathBuf,
}

impl Entry {
    /// A labelled live recording, evaluated apart from the standard set.
    pub fn live(family: &str, dir: &Path) -> Self {
        Entry {
            split: Split::HeldOut,
            family: family.into(),
            kind: "live".into(),
            seed: 0,
            dir: dir.into(),
        }
    }
}

/// Opens a dataset to train or evaluate on, with its labels; refused when it has none
/// (a recording of a host is not training data).
pub(crate) fn open_labelled(entry: &Entry) -> Result<(Dataset, Vec<LabelRow>), TrainError> {
    let ds = Dataset::open(&entry.dir)?;
    let labels: Vec<LabelRow> = ds.read_table()?;
    if labels.is_empty() {
        return Err(TrainError::NoLabels(entry.dir.display().to_string()));
    }
    Ok((ds, labels))
}

/// Replays `ds` through `extractor` and hands `each` the vectors of every `every`-th
/// tick (1: all of them; neighbouring windows overlap, so a trainer may thin them).
pub(crate) fn replay_vectors<E: Extractor>(
    ds: &Dataset,
    mut extractor: E,
    every: usize,
    mut each: impl FnMut(&[E::Vector]) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let mut vectors = Vec::new();
    let mut replay = ds.replay()?;
    let mut tick = 0usize;
    while let Some(frame) = replay.next_frame()? {
        vectors.clear();
        extractor.observe(&frame, &mut vectors);
        tick += 1;
        if tick.is_multiple_of(every) {
            each(&vectors)?;
        }
    }
    Ok(())
}

/// The family a labelled recording belongs to, read from its labels' kinds; None
/// when no label names one.
pub fn family_of(dir: &Path) -> Result<Option<&'static str>, TrainError> {
    let labels: Vec<LabelRow> = Dataset::open(dir)?.read_table()?;
    Ok(labels.iter().find_map(|l| match l.kind.as_str() {
        "memory_leak" | "memory_negative" => Some("memory"),
        "stuck" | "stuck_negative" => Some("stuck"),
        "toxic_query" | "toxic_negative" => Some("toxic"),
        k if k.starts_with("pii") => Some("pii"),
        _ => None,
    }))
}

/// Every dataset of `family` under `root`, training first, in a stable order.
pub fn find(root: &Path, family: &str) -> Result<Vec<Entry>, TrainError> {
    let mut out = Vec::new();
    for (split, name) in [(Split::Training, "training"), (Split::HeldOut, "held-out")] {
        let fam = root.join(name).join(family);
        let Ok(kinds) = std::fs::read_dir(&fam) else {
            continue;
        };
        let mut kinds: Vec<PathBuf> = kinds.flatten().map(|e| e.path()).collect();
        kinds.sort();
        for kind_dir in kinds {
            let kind = file_name(&kind_dir);
            let mut seeds: Vec<PathBuf> = std::fs::read_dir(&kind_dir)
                .map_err(|e| TrainError::Io(kind_dir.display().to_string(), e))?
                .flatten()
                .map(|e| e.path())
                .collect();
            seeds.sort();
            for dir in seeds {
                let seed = file_name(&dir)
                    .strip_prefix("seed-")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| TrainError::Layout(dir.display().to_string()))?;
                out.push(Entry {
                    split,
                    family: family.into(),
                    kind: kind.clone(),
                    seed,
                    dir,
                });
            }
        }
    }
    let train: Vec<u64> = seeds(&out, Split::Training);
    if let Some(s) = seeds(&out, Split::HeldOut)
        .iter()
        .find(|s| train.contains(s))
    {
        return Err(TrainError::Leak(*s));
    }
    if out.iter().all(|e| e.split != Split::Training) {
        return Err(TrainError::NoData(format!(
            "no {family} training datasets under {} (run `qbranch simulate standard --out {}`)",
            root.display(),
            root.display()
        )));
    }
    Ok(out)
}

fn seeds(entries: &[Entry], split: Split) -> Vec<u64> {
    entries
        .iter()
        .filter(|e| e.split == split)
        .map(|e| e.seed)
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
