//! Everything that can go wrong loading or running a case. Each variant names the file,
//! and the key where there is one.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML itself, or a key serde refused (unknown, wrong type, missing).
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A key that parsed but makes no sense (an unknown generator, a window that ends
    /// before it starts, ...).
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// The source could not be built or read (a simulator refusal, a bad recording).
    #[error("{}: source: {message}", path.display())]
    Source { path: PathBuf, message: String },
    #[error("the embedded models: {0}")]
    Registry(String),
}

impl ScenarioError {
    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ScenarioError::Invalid {
            path: path.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;
