//! qb-signals: the signal schema (v2), `Frame`, and the Parquet dataset format.
//!
//! Every table is declared once in [`tables`]: the Rust row struct, the Arrow schema,
//! and the documentation of each column (unit and source) that becomes the committed
//! canonical schema text. Datasets are directories of rolling Parquet segments plus a
//! `manifest.toml`; see [`DatasetWriter`] and [`Dataset`].

mod cell;
mod error;
mod frame;
mod manifest;
mod reader;
pub mod rng;
mod row;
mod schema;
pub mod tables;
mod time;
mod writer;

pub use cell::Cell;
pub use error::{Error, Result};
pub use frame::{Frame, SignalSource};
pub use manifest::{Generator, MANIFEST_FILE, Manifest, Origin, State, TableEntry, TableStatus};
pub use reader::{Dataset, ReplaySource, read_segment};
pub use row::{COMMON_COLUMNS, ColumnSpec, PARTITION_COLUMNS, Row};
pub use schema::{
    Fnv64, SCHEMA_VERSION, Table, canonical_text, compatible_versions, readable_version,
    schema_hash, schema_hash_of,
};
pub use tables::*;
pub use time::{civil_from_days, utc_date};
pub use writer::{DEFAULT_SEGMENT, DatasetWriter, WriterOptions, meta};
