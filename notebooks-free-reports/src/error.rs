use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid results file: {message}", path.display())]
    Json { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, ReportError>;
