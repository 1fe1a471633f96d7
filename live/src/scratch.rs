//! Scratch directories of a live run (`/tmp/qbranch-live-<pid>-<name>`): removed when
//! dropped; leftovers of a killed run are swept by the next one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::LiveError;

const PREFIX: &str = "qbranch-live-";

#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn create(name: &str) -> Result<Self, LiveError> {
        let path = std::env::temp_dir().join(format!("{PREFIX}{}-{name}", std::process::id()));
        // A leftover of ours with the same name can only be from this very process.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).map_err(|e| LiveError::io(&path, e))?;
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!(
                "qbranch: warning: could not remove {}: {e}",
                self.path.display()
            );
        }
    }
}

/// Removes scratch directories whose owning process is gone. Returns how many.
pub fn sweep_stale() -> usize {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| crate::cgroup::owner_gone(&e.file_name().to_string_lossy()))
        .filter(|e| fs::remove_dir_all(e.path()).is_ok())
        .count()
}
