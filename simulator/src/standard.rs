//! The standard sets: every kind of every family over documented seeds, split so that
//! held-out seeds are never seen in training.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qb_signals::Manifest;

use crate::{
    MemoryKind, PiiKind, SimError, StuckKind, ToxicKind, write_memory, write_pii, write_stuck,
    write_toxic,
};

/// Seeds of the training set.
pub const TRAINING_SEEDS: std::ops::RangeInclusive<u64> = 1..=8;
/// Seeds of the held-out evaluation set; disjoint from training by construction.
pub const HELD_OUT_SEEDS: std::ops::RangeInclusive<u64> = 10_001..=10_004;

const MEMORY_RUN: Duration = Duration::from_secs(30 * 60);
const SHORT_RUN: Duration = Duration::from_secs(10 * 60);
const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Training,
    HeldOut,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Training => "training",
            Split::HeldOut => "held-out",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Memory(MemoryKind),
    Stuck(StuckKind),
    Toxic(ToxicKind),
    Pii(PiiKind),
}

/// One dataset of a standard set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardItem {
    pub split: Split,
    pub scenario: Scenario,
    pub seed: u64,
    /// `<root>/<split>/<family>/<kind>/seed-<n>`
    pub dir: PathBuf,
}

impl StandardItem {
    pub fn name(&self) -> String {
        match self.scenario {
            Scenario::Memory(k) => format!("memory/{k}"),
            Scenario::Stuck(k) => format!("stuck/{k}"),
            Scenario::Toxic(k) => format!("toxic/{k}"),
            Scenario::Pii(k) => format!("pii/{k}"),
        }
    }

    pub fn write(&self) -> Result<Manifest, SimError> {
        match self.scenario {
            Scenario::Memory(k) => write_memory(&self.dir, k, self.seed, MEMORY_RUN, INTERVAL),
            Scenario::Stuck(k) => write_stuck(&self.dir, k, self.seed, SHORT_RUN, INTERVAL),
            Scenario::Toxic(k) => write_toxic(&self.dir, k, self.seed, SHORT_RUN, INTERVAL),
            Scenario::Pii(k) => write_pii(&self.dir, k, self.seed, SHORT_RUN, INTERVAL),
        }
    }
}

/// Everything `qbranch simulate standard` writes under `root`, in a stable order.
pub fn standard_plan(root: &Path) -> Vec<StandardItem> {
    let scenarios = MemoryKind::ALL
        .into_iter()
        .map(Scenario::Memory)
        .chain(StuckKind::ALL.into_iter().map(Scenario::Stuck))
        .chain(ToxicKind::ALL.into_iter().map(Scenario::Toxic))
        .chain(PiiKind::ALL.into_iter().map(Scenario::Pii));
    let mut plan = Vec::new();
    for scenario in scenarios {
        for (split, seeds) in [
            (Split::Training, TRAINING_SEEDS),
            (Split::HeldOut, HELD_OUT_SEEDS),
        ] {
            for seed in seeds {
                let mut item = StandardItem {
                    split,
                    scenario,
                    seed,
                    dir: PathBuf::new(),
                };
                item.dir = root
                    .join(split.name())
                    .join(item.name())
                    .join(format!("seed-{seed}"));
                plan.push(item);
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_and_held_out_seeds_never_overlap_and_paths_are_unique() {
        assert!(TRAINING_SEEDS.end() < HELD_OUT_SEEDS.start());
        let plan = standard_plan(Path::new("/d"));
        assert_eq!(
            plan.len(),
            (MemoryKind::ALL.len()
                + StuckKind::ALL.len()
                + ToxicKind::ALL.len()
                + PiiKind::ALL.len())
                * 12
        );
        let mut dirs: Vec<_> = plan.iter().map(|i| i.dir.clone()).collect();
        dirs.sort();
        dirs.dedup();
        assert_eq!(dirs.len(), plan.len());
        assert_eq!(
            plan[0].dir,
            Path::new("/d/training/memory/linear_leak/seed-1")
        );
        assert_eq!(
            plan[plan.len() - 1].dir,
            Path::new("/d/held-out/pii/lookalikes/seed-10004")
        );
        assert!(
            plan.iter()
                .filter(|i| i.split == Split::HeldOut)
                .all(|i| i.seed > 10_000)
        );
    }
}
