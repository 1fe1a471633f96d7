//! qb-archivist: keeps every log line of the last couple of minutes, per service, in
//! LZ4-compressed ring buffers, forwards a deterministic 1 % sample, and when something
//! goes wrong (an error spike, an OOM kill, a restart, another gadget's decision)
//! forwards the whole window around it: the 90 s before and the 30 s after. Pure logic:
//! time comes only from frames and rows, and nothing here does I/O.

mod archivist;
pub mod config;
mod line;
pub mod novelty;
pub mod ring;
#[doc(hidden)]
pub mod synth;
pub mod trigger;

pub use archivist::{Archivist, FlushEvent, Forwarded, OTHER_SERVICE, Stats, Why, sampled};
pub use config::{ArchivistConfig, ServiceRule};
pub use novelty::{Vocabulary, VocabularyBuilder};
pub use ring::RingStats;
pub use trigger::{Reason, Trigger};

#[derive(Debug, thiserror::Error)]
pub enum ArchivistError {
    #[error("archivist config: {0}")]
    Config(String),
    #[error("archivist vocabulary: {0}")]
    Vocabulary(String),
}
