//! The CSV files both sides of a comparison read: a header, numeric columns (an empty
//! cell is a missing value, NaN), and a last column `split` (`training` or
//! `held-out`). Floats are written with `{}`, the shortest text that parses back to
//! the same f64, so Python and Rust see the same numbers.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use crate::TrainError;

pub const TRAINING: &str = "training";
pub const HELD_OUT: &str = "held-out";

/// A numeric table, row-major, each row tagged with its split.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub names: Vec<String>,
    pub values: Vec<f64>,
    pub held_out: Vec<bool>,
}

impl Table {
    pub fn new(names: Vec<String>) -> Self {
        Table {
            names,
            ..Table::default()
        }
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub fn len(&self) -> usize {
        self.held_out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held_out.is_empty()
    }

    /// Appends a row; its length must be the table's width.
    pub fn push(&mut self, row: &[f64], held_out: bool) -> Result<(), TrainError> {
        if row.len() != self.width() {
            return Err(TrainError::NoData(format!(
                "a row of {} values for a table of {} columns",
                row.len(),
                self.width()
            )));
        }
        self.values.extend_from_slice(row);
        self.held_out.push(held_out);
        Ok(())
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width()..(i + 1) * self.width()]
    }

    pub fn column_index(&self, name: &str) -> Result<usize, TrainError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| TrainError::NoData(format!("no column {name} in {:?}", self.names)))
    }

    /// The rows of one split: the first `features` columns, row-major, and the
    /// values of column `target`.
    pub fn split(
        &self,
        held_out: bool,
        features: usize,
        target: &str,
    ) -> Result<(Vec<f64>, Vec<f64>), TrainError> {
        let t = self.column_index(target)?;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in (0..self.len()).filter(|&i| self.held_out[i] == held_out) {
            let row = self.row(i);
            x.extend_from_slice(&row[..features.min(row.len())]);
            y.push(row[t]);
        }
        Ok((x, y))
    }

    pub fn write(&self, path: &Path) -> Result<(), TrainError> {
        let io = |e| TrainError::Io(path.display().to_string(), e);
        let mut w = BufWriter::new(std::fs::File::create(path).map_err(io)?);
        writeln!(w, "{},split", self.names.join(",")).map_err(io)?;
        for i in 0..self.len() {
            for v in self.row(i) {
                if v.is_nan() {
                    write!(w, ",").map_err(io)?;
                } else {
                    write!(w, "{v},").map_err(io)?;
                }
            }
            let split = if self.held_out[i] { HELD_OUT } else { TRAINING };
            writeln!(w, "{split}").map_err(io)?;
        }
        w.flush().map_err(io)
    }

    pub fn read(path: &Path) -> Result<Table, TrainError> {
        let what = path.display().to_string();
        let io = |e| TrainError::Io(what.clone(), e);
        let bad = |line: usize, msg: String| TrainError::NoData(format!("{what}:{line}: {msg}"));
        let file = std::fs::File::open(path).map_err(io)?;
        let mut lines = std::io::BufReader::new(file).lines();
        let header = lines
            .next()
            .ok_or_else(|| bad(1, "empty file".into()))?
            .map_err(io)?;
        let mut names: Vec<String> = header.split(',').map(str::to_string).collect();
        if names.pop().as_deref() != Some("split") {
            return Err(bad(1, "the last column is not `split`".into()));
        }
        let mut t = Table::new(names);
        let mut row = Vec::with_capacity(t.width());
        for (n, line) in lines.enumerate() {
            let line = line.map_err(io)?;
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != t.width() + 1 {
                return Err(bad(
                    n + 2,
                    format!("{} cells, the header has {}", cells.len(), t.width() + 1),
                ));
            }
            row.clear();
            for c in &cells[..t.width()] {
                row.push(if c.is_empty() {
                    f64::NAN
                } else {
                    c.parse::<f64>()
                        .map_err(|e| bad(n + 2, format!("{c:?}: {e}")))?
                });
            }
            let held_out = match cells[t.width()] {
                TRAINING => false,
                HELD_OUT => true,
                other => return Err(bad(n + 2, format!("split {other:?}"))),
            };
            t.push(&row, held_out)?;
        }
        Ok(t)
    }
}

/// One number per line, as the Python side writes its predictions.
pub fn read_numbers(path: &Path) -> Result<Vec<f64>, TrainError> {
    let what = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Io(what.clone(), e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim()
                .parse::<f64>()
                .map_err(|e| TrainError::NoData(format!("{what}:{}: {l:?}: {e}", i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_survives_the_round_trip_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut t = Table::new(vec!["a".into(), "b".into(), "label".into()]);
        t.push(&[0.1 + 0.2, -1e-300, 1.0], false).unwrap();
        t.push(&[f64::NAN, 123_456_789.123_456_78, 0.0], true)
            .unwrap();
        t.write(&path).unwrap();
        let back = Table::read(&path).unwrap();
        assert_eq!(back.names, t.names);
        assert_eq!(back.held_out, t.held_out);
        for (a, b) in back.values.iter().zip(&t.values) {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
        let (x, y) = back.split(true, 2, "label").unwrap();
        assert_eq!(y, vec![0.0]);
        assert_eq!(x[1], 123_456_789.123_456_78);
        assert!(t.push(&[1.0], false).is_err());
    }

    #[test]
    fn a_malformed_file_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,split\n1,training\nx,held-out\n").unwrap();
        let e = Table::read(&path).unwrap_err().to_string();
        assert!(e.contains("t.csv:3"), "{e}");
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(Table::read(&path).is_err());
    }
}
