//! qb-models: what the trainer and the runtime share. Feature extraction (one
//! implementation, so training and serving cannot drift apart), inference for every
//! model kind, the artifact container and the registry of embedded models.
//!
//! No polars and no training framework here: this crate is linked into the daemon.

pub mod arima;
pub mod artifact;
pub mod codec;
pub mod features;
pub mod forest;
pub mod iforest;
pub mod lstm;
pub mod manifest;
pub mod metrics;
pub mod registry;

pub use artifact::{Artifact, ModelKind};
pub use manifest::{ModelEntry, ModelManifest};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("corrupt model: {0}")]
    Corrupt(String),
    #[error("{what}: artifact format {found}, this build reads {expected}")]
    Format {
        what: String,
        found: u16,
        expected: u16,
    },
    #[error("{what}: {field} is {found}, expected {expected}")]
    Mismatch {
        what: String,
        field: String,
        found: String,
        expected: String,
    },
    #[error("{0}")]
    Input(String),
}
