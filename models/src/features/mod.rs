//! Feature extraction, shared by the trainer and the runtime. Each gadget's features
//! are a [`FeatureSet`]: names in a fixed order and the window they are computed over.
//! Its hash goes into every artifact trained on it, so a model never meets features it
//! was not trained on.

use qb_signals::Fnv64;

pub mod curator;
pub mod equalizer;
pub mod oracle;
pub mod pathologist;
mod window;

pub use curator::{CURATOR, ContextClassifier};

/// The Archivist's TF-IDF vocabulary: its tokenizer (`qb_archivist::novelty::tokens`)
/// is the feature set; a vocabulary from another tokenizer is refused.
pub const ARCHIVIST: FeatureSet = FeatureSet {
    name: "archivist",
    names: &["tokens_v1_masked_numbers_hex_ips"],
    window: 0,
};
pub use equalizer::{EQUALIZER, EQUALIZER_LEN, EqualizerExtractor, EqualizerVector, zscores};
pub use oracle::{ORACLE, ORACLE_LEN, OracleExtractor, OracleVector};
pub use pathologist::{PATHOLOGIST, PATHOLOGIST_LEN, PathologistExtractor, PathologistVector};
pub use window::{Histories, slope_r2};

/// A streaming feature extractor: frames in, vectors out. The trainer (replaying
/// Parquet) and the daemon (live frames) drive the same implementations.
pub trait Extractor {
    type Vector;
    /// Adds one frame; pushes a vector for every target whose window is full.
    fn observe(&mut self, frame: &qb_signals::Frame, out: &mut Vec<Self::Vector>);
}

/// The identity of a feature vector: names, order and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureSet {
    pub name: &'static str,
    pub names: &'static [&'static str],
    /// Ticks of history each vector summarises.
    pub window: usize,
}

impl FeatureSet {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn hash(&self) -> u64 {
        let mut h = Fnv64::new();
        h.write(self.name.as_bytes());
        h.write(&(self.window as u64).to_le_bytes());
        for n in self.names {
            h.write(&[0]);
            h.write(n.as_bytes());
        }
        h.finish()
    }
}

/// Rejects NaN and infinite values, naming the feature: a model must never see them.
pub fn check_finite(set: &FeatureSet, values: &[f64]) -> Result<(), crate::ModelError> {
    if values.len() != set.len() {
        return Err(crate::ModelError::Input(format!(
            "{}: {} values for {} features",
            set.name,
            values.len(),
            set.len()
        )));
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(crate::ModelError::Input(format!(
            "{}: feature '{}' is {}",
            set.name, set.names[i], values[i]
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FeatureSet = FeatureSet {
        name: "t",
        names: &["a", "b"],
        window: 30,
    };

    #[test]
    fn the_hash_changes_with_names_order_and_window() {
        let swapped = FeatureSet {
            names: &["b", "a"],
            ..A
        };
        let longer = FeatureSet { window: 60, ..A };
        let joined = FeatureSet {
            names: &["ab"],
            ..A
        };
        let hashes = [A.hash(), swapped.hash(), longer.hash(), joined.hash()];
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                assert_ne!(hashes[i], hashes[j]);
            }
        }
        assert_eq!(A.hash(), A.hash());
    }

    #[test]
    fn non_finite_values_are_named() {
        assert!(check_finite(&A, &[1.0, 2.0]).is_ok());
        let e = check_finite(&A, &[1.0, f64::NAN]).unwrap_err().to_string();
        assert!(e.contains("'b'") && e.contains("NaN"), "{e}");
        assert!(check_finite(&A, &[f64::INFINITY, 0.0]).is_err());
        assert!(check_finite(&A, &[1.0]).is_err());
    }
}
