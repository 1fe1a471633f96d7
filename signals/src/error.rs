use std::path::PathBuf;

/// Everything that can go wrong reading or writing signals. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a qbranch recording (no manifest.toml)", path.display())]
    NotARecording { path: PathBuf },
    #[error("{}: invalid manifest: {message}", path.display())]
    BadManifest { path: PathBuf, message: String },
    #[error(
        "{}: schema mismatch: expected schema v{} ({}), found {found}",
        path.display(), crate::SCHEMA_VERSION, crate::schema_hash()
    )]
    SchemaMismatch { path: PathBuf, found: String },
    #[error("{}: unreadable segment: {message}", path.display())]
    BadSegment { path: PathBuf, message: String },
    #[error("{}: {reason}", path.display())]
    OutputDir { path: PathBuf, reason: String },
    /// A live or synthetic source failed in a way it could not skip.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
