//! The pause file, re-pointable on reload.
//!
//! qb-gadgets' guard keeps the `PauseSwitch` it was built with: `Engine::reconfigure`
//! swaps the policy but not the switch, so a `PauseFile` would keep watching the old
//! `pause_file` after a SIGHUP. This switch shares its path with the daemon, which
//! updates it on every reload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use qb_gadgets::{PauseFile, PauseSwitch};

#[derive(Debug, Clone)]
pub struct ReloadablePause {
    path: Arc<Mutex<PathBuf>>,
}

impl ReloadablePause {
    pub fn new(path: PathBuf) -> Self {
        ReloadablePause {
            path: Arc::new(Mutex::new(path)),
        }
    }

    pub fn set_path(&self, path: PathBuf) {
        *self
            .path
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = path;
    }
}

impl PauseSwitch for ReloadablePause {
    fn paused(&self) -> Option<String> {
        let path = self
            .path
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Same semantics as the library's file: missing is "not paused", an unreadable
        // path fails closed.
        PauseFile::new(path).paused()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_new_path_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&b, b"").unwrap();
        let switch = ReloadablePause::new(a);
        let engine_side = switch.clone();
        assert_eq!(engine_side.paused(), None);
        switch.set_path(b);
        assert!(engine_side.paused().is_some_and(|e| e.contains("exists")));
    }
}
