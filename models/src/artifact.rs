//! The artifact container every trained model is stored in:
//!
//! ```text
//! magic "QBMODEL\0" | format u16 | kind u16 | schema_hash u64 | feature_hash u64
//! | payload_len u64 | payload | checksum u64 (FNV-1a of everything before it)
//! ```
//!
//! All little-endian. The schema hash ties a model to the signal schema it was trained
//! on, the feature hash to the exact feature set (names, order, window); a runtime with
//! other hashes refuses the model and falls back to its rule baseline.

use qb_signals::Fnv64;

use crate::ModelError;

pub const MAGIC: [u8; 8] = *b"QBMODEL\0";
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 8 + 2 + 2 + 8 + 8 + 8;

/// What a payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Arima,
    Lstm,
    RandomForest,
    IsolationForest,
    /// Curator's PII pattern library.
    PatternLibrary,
    /// Archivist's TF-IDF vocabulary.
    Vocabulary,
    /// Timekeeper's routine shapes.
    ShapeLibrary,
    /// Multinomial logistic regression over hashed features (the Curator's slow path).
    LogisticRegression,
}

impl ModelKind {
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Arima,
        ModelKind::Lstm,
        ModelKind::RandomForest,
        ModelKind::IsolationForest,
        ModelKind::PatternLibrary,
        ModelKind::Vocabulary,
        ModelKind::ShapeLibrary,
        ModelKind::LogisticRegression,
    ];

    /// Stable on-disk code: never renumber.
    pub fn code(self) -> u16 {
        match self {
            ModelKind::Arima => 1,
            ModelKind::Lstm => 2,
            ModelKind::RandomForest => 3,
            ModelKind::IsolationForest => 4,
            ModelKind::PatternLibrary => 5,
            ModelKind::Vocabulary => 6,
            ModelKind::ShapeLibrary => 7,
            ModelKind::LogisticRegression => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Arima => "arima",
            ModelKind::Lstm => "lstm",
            ModelKind::RandomForest => "random_forest",
            ModelKind::IsolationForest => "isolation_forest",
            ModelKind::PatternLibrary => "pattern_library",
            ModelKind::Vocabulary => "vocabulary",
            ModelKind::ShapeLibrary => "shape_library",
            ModelKind::LogisticRegression => "logistic_regression",
        }
    }

    fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub kind: ModelKind,
    pub schema_hash: u64,
    pub feature_hash: u64,
    pub payload: Vec<u8>,
}

impl Artifact {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER + self.payload.len() + 8);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&self.kind.code().to_le_bytes());
        b.extend_from_slice(&self.schema_hash.to_le_bytes());
        b.extend_from_slice(&self.feature_hash.to_le_bytes());
        b.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        b.extend_from_slice(&self.payload);
        let sum = checksum(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parses and verifies an artifact; `what` names it in errors (a path, a registry
    /// name).
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, ModelError> {
        let corrupt = |why: String| ModelError::Corrupt(format!("{what}: {why}"));
        if bytes.len() < HEADER + 8 {
            return Err(corrupt(format!(
                "{} bytes is too short for an artifact",
                bytes.len()
            )));
        }
        if bytes[..8] != MAGIC {
            return Err(corrupt("not a qbranch model (bad magic)".into()));
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let format = u16_at(8);
        if format != FORMAT_VERSION {
            return Err(ModelError::Format {
                what: what.into(),
                found: format,
                expected: FORMAT_VERSION,
            });
        }
        let len = u64_at(28);
        if len != (bytes.len() - HEADER - 8) as u64 {
            return Err(corrupt(format!(
                "payload length {len} does not match the file ({} bytes)",
                bytes.len()
            )));
        }
        let end = bytes.len() - 8;
        if checksum(&bytes[..end]) != u64_at(end) {
            return Err(corrupt("checksum mismatch (truncated or modified)".into()));
        }
        let kind = ModelKind::from_code(u16_at(10))
            .ok_or_else(|| corrupt(format!("unknown model kind {}", u16_at(10))))?;
        Ok(Artifact {
            kind,
            schema_hash: u64_at(12),
            feature_hash: u64_at(20),
            payload: bytes[HEADER..end].to_vec(),
        })
    }

    /// Refuses an artifact of another kind, schema or feature set than the caller's.
    pub fn expect(
        &self,
        what: &str,
        kind: ModelKind,
        schema_hash: u64,
        feature_hash: u64,
    ) -> Result<(), ModelError> {
        let mismatch = |field: &str, found: String, expected: String| ModelError::Mismatch {
            what: what.into(),
            field: field.into(),
            found,
            expected,
        };
        if self.kind != kind {
            return Err(mismatch("kind", self.kind.to_string(), kind.to_string()));
        }
        // An artifact trained under an ancestor schema reads the same tables and
        // columns (a version only adds tables), so it stays valid: no retraining.
        if self.schema_hash != schema_hash
            && !(schema_hash == current_schema_hash() && is_ancestor_schema(self.schema_hash))
        {
            return Err(mismatch(
                "schema hash",
                format!("{:016x}", self.schema_hash),
                format!("{schema_hash:016x}"),
            ));
        }
        if self.feature_hash != feature_hash {
            return Err(mismatch(
                "feature hash",
                format!("{:016x}", self.feature_hash),
                format!("{feature_hash:016x}"),
            ));
        }
        Ok(())
    }
}

/// The hash of the signal schema this build reads, as artifacts store it.
pub fn current_schema_hash() -> u64 {
    u64::from_str_radix(&qb_signals::schema_hash(), 16).unwrap_or(0)
}

/// An older schema this build still reads (`qb_signals::compatible_versions`): models
/// trained on it are valid here.
pub fn is_ancestor_schema(hash: u64) -> bool {
    qb_signals::compatible_versions()
        .any(|(_, h)| u64::from_str_radix(&h, 16).is_ok_and(|h| h == hash))
}

pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::new();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Artifact {
        Artifact {
            kind: ModelKind::IsolationForest,
            schema_hash: 0xabcd,
            feature_hash: 0x1234,
            payload: vec![1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn round_trips_and_checks_its_identity() {
        let a = sample();
        let b = Artifact::from_bytes(&a.to_bytes(), "t").unwrap();
        assert_eq!(a, b);
        b.expect("t", ModelKind::IsolationForest, 0xabcd, 0x1234)
            .unwrap();
        let e = b
            .expect("t", ModelKind::IsolationForest, 0xabcd, 0x9999)
            .unwrap_err()
            .to_string();
        assert!(e.contains("feature hash"), "{e}");
        assert!(b.expect("t", ModelKind::Arima, 0xabcd, 0x1234).is_err());
        assert!(
            b.expect("t", ModelKind::IsolationForest, 1, 0x1234)
                .is_err()
        );
    }

    #[test]
    fn artifacts_trained_under_schema_v1_stay_valid_and_unknown_schemas_do_not() {
        let v1 = u64::from_str_radix(&qb_signals::schema_hash_of(1), 16).unwrap();
        assert_ne!(v1, current_schema_hash());
        let old = Artifact {
            schema_hash: v1,
            ..sample()
        };
        old.expect(
            "t",
            ModelKind::IsolationForest,
            current_schema_hash(),
            0x1234,
        )
        .unwrap();
        // Compatibility is this build's: a caller asking for another schema gets exactness.
        assert!(
            old.expect("t", ModelKind::IsolationForest, 0xabcd, 0x1234)
                .is_err()
        );
        let unknown = Artifact {
            schema_hash: 0xdead_beef,
            ..sample()
        };
        let e = unknown
            .expect(
                "t",
                ModelKind::IsolationForest,
                current_schema_hash(),
                0x1234,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("schema hash") && e.contains("00000000deadbeef"),
            "{e}"
        );
    }

    #[test]
    fn every_corruption_is_refused_with_the_reason() {
        let good = sample().to_bytes();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "too short"),
            (good[..good.len() - 1].to_vec(), "payload length"),
            (
                {
                    let mut b = good.clone();
                    b[0] = b'X';
                    b
                },
                "bad magic",
            ),
            (
                {
                    let mut b = good.clone();
                    b[8] = 9;
                    b
                },
                "format",
            ),
            (
                {
                    let mut b = good.clone();
                    b[HEADER] ^= 1;
                    b
                },
                "checksum",
            ),
            (
                {
                    let mut b = good.clone();
                    b.push(0);
                    b
                },
                "payload length",
            ),
        ];
        for (bytes, needle) in cases {
            let e = Artifact::from_bytes(&bytes, "models/x.qbm")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(needle) && e.contains("models/x.qbm"),
                "{needle}: {e}"
            );
        }
        // Every single-byte flip anywhere is caught.
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            assert!(Artifact::from_bytes(&b, "t").is_err(), "flip at {i}");
        }
    }
}
