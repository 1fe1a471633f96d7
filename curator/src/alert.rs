//! Alert records: where PII was found and by which rule, never the value itself.

use serde::Serialize;

use crate::detector::Finding;
use crate::entity::{Category, Entity};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub entity: Entity,
    pub category: Category,
    /// The file (or `-` for stdin) the line came from.
    pub source: String,
    /// 1-based line number in the source.
    pub line: u64,
    /// Byte offset of the value in the (possibly chunked) line.
    pub column: usize,
    pub rule: &'static str,
}

impl Alert {
    pub fn new(finding: &Finding, source: &str, line: u64, chunk_offset: usize) -> Self {
        Alert {
            entity: finding.entity,
            category: finding.entity.category(),
            source: source.to_string(),
            line,
            column: chunk_offset + finding.range.start,
            rule: finding.rule,
        }
    }

    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}
