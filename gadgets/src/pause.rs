//! The operator's brake: while the pause file exists, the guard authorises nothing.
//!
//! The check sits behind `PauseSwitch` so tests (and the scenario runner) can flip it
//! without touching the filesystem.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether actions are paused; `Some(evidence)` when they are.
pub trait PauseSwitch {
    fn paused(&self) -> Option<String>;
}

/// The pause file on disk (`Policy::pause_file`). A missing file or a missing parent
/// directory (no `/run/qbranch`) is "not paused"; any other error reading it (permission,
/// a parent that is a file) fails closed, as paused, naming the error.
#[derive(Debug, Clone)]
pub struct PauseFile {
    pub path: PathBuf,
}

impl PauseFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PauseFile { path: path.into() }
    }
}

impl PauseSwitch for PauseFile {
    fn paused(&self) -> Option<String> {
        match self.path.try_exists() {
            Ok(false) => None,
            Ok(true) => Some(format!("pause file {} exists", self.path.display())),
            Err(e) => Some(format!(
                "pause file {} unreadable ({e}): failing closed",
                self.path.display()
            )),
        }
    }
}

/// A switch held in memory; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct ManualPause(Arc<AtomicBool>);

impl ManualPause {
    pub fn set(&self, paused: bool) {
        self.0.store(paused, Ordering::SeqCst);
    }
}

impl PauseSwitch for ManualPause {
    fn paused(&self) -> Option<String> {
        self.0
            .load(Ordering::SeqCst)
            .then(|| "paused by switch".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_is_not_paused() {
        let p = PauseFile::new("/nonexistent-qbranch-test-dir/run/qbranch/pause");
        assert_eq!(p.paused(), None);
    }

    #[test]
    fn an_existing_file_pauses_and_a_file_as_parent_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pause");
        let p = PauseFile::new(&file);
        assert_eq!(p.paused(), None);
        std::fs::write(&file, b"").unwrap();
        assert!(p.paused().unwrap().contains("exists"));
        let below_file = PauseFile::new(file.join("pause"));
        assert!(below_file.paused().unwrap().contains("failing closed"));
    }

    #[test]
    fn manual_switch_clones_share_state() {
        let a = ManualPause::default();
        let b = a.clone();
        assert_eq!(b.paused(), None);
        a.set(true);
        assert!(b.paused().is_some());
    }
}
