//! The ODDS outlier benchmarks of the isolation forest paper (`shared/data/odds/`), shared
//! by `tests/odds.rs` and `examples/odds.rs`: the paper's table and a reader for the
//! files (NumPy `.npz` archives and one CSV). Dev-only: the zip reader never reaches the
//! library.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

/// One benchmark: its file, the paper's name, the paper's iForest AUC (ICDM 2008,
/// table 3: 100 trees, subsample 256) and scikit-learn 1.9.1's on the same file
/// (`IsolationForest(n_estimators=100, max_samples=256)`, mean over `random_state`
/// 0..10, measured for models/README.md).
#[derive(Debug, Clone, Copy)]
pub struct Bench {
    pub file: &'static str,
    pub name: &'static str,
    pub paper_auc: f64,
    pub sklearn_auc: f64,
}

const fn b(file: &'static str, name: &'static str, paper_auc: f64, sklearn_auc: f64) -> Bench {
    Bench {
        file,
        name,
        paper_auc,
        sklearn_auc,
    }
}

pub const TABLE: [Bench; 11] = [
    b("16_http.npz", "Http", 1.00, 0.9996),
    b("10_cover.npz", "ForestCover", 0.88, 0.8774),
    b("34_smtp.npz", "Smtp", 0.88, 0.9043),
    b("32_shuttle.npz", "Shuttle", 1.00, 0.9970),
    b("23_mammography.npz", "Mammography", 0.86, 0.8615),
    b("2_annthyroid.npz", "Annthyroid", 0.82, 0.8184),
    b("30_satellite.npz", "Satellite", 0.71, 0.7008),
    b("29_Pima.npz", "Pima", 0.67, 0.6707),
    b("4_breastw.npz", "Breastw", 0.99, 0.9873),
    b("arrhythmia.csv", "Arrhythmia", 0.80, 0.8090),
    b("18_Ionosphere.npz", "Ionosphere", 0.85, 0.8461),
];

pub fn bench(name: &str) -> Bench {
    match TABLE.iter().find(|b| b.name == name) {
        Some(b) => *b,
        None => panic!("no benchmark named {name}"),
    }
}

/// `shared/data/odds` beside the repository (`<repo>/../shared/data/odds`).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/odds")
}

/// A loaded data set: `x` row-major, `rows x dims`; `y` true for an anomaly.
#[derive(Debug)]
pub struct Data {
    pub rows: usize,
    pub dims: usize,
    pub x: Vec<f64>,
    pub y: Vec<bool>,
}

pub fn load(dir: &Path, file: &str) -> Result<Data, String> {
    let path = dir.join(file);
    let what = path.display().to_string();
    let data = if file.ends_with(".csv") {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{what}: {e}"))?;
        read_csv(&text).map_err(|e| format!("{what}: {e}"))?
    } else {
        read_npz(&path).map_err(|e| format!("{what}: {e}"))?
    };
    if data.y.len() != data.rows {
        return Err(format!(
            "{what}: {} labels for {} rows",
            data.y.len(),
            data.rows
        ));
    }
    Ok(data)
}

/// A header line, then numbers; the label (0 or 1) is the last column.
fn read_csv(text: &str) -> Result<Data, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("empty file")?;
    let width = header.split(',').count();
    if width < 2 {
        return Err("needs at least a feature and a label column".into());
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let vals = line
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|e| format!("line {}: {v:?}: {e}", i + 2))
            })
            .collect::<Result<Vec<f64>, String>>()?;
        if vals.len() != width {
            return Err(format!(
                "line {}: {} fields, header has {width}",
                i + 2,
                vals.len()
            ));
        }
        x.extend_from_slice(&vals[..width - 1]);
        y.push(vals[width - 1] != 0.0);
    }
    Ok(Data {
        rows: y.len(),
        dims: width - 1,
        x,
        y,
    })
}

fn read_npz(path: &Path) -> Result<Data, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let mut member = |name: &str| -> Result<Vec<u8>, String> {
        let mut m = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let mut b = Vec::new();
        m.read_to_end(&mut b).map_err(|e| format!("{name}: {e}"))?;
        Ok(b)
    };
    let x = npy(&member("X.npy")?).map_err(|e| format!("X.npy: {e}"))?;
    let y = npy(&member("y.npy")?).map_err(|e| format!("y.npy: {e}"))?;
    let (rows, dims) = match x.shape[..] {
        [r, d] => (r, d),
        _ => return Err(format!("X.npy has shape {:?}, expected 2-D", x.shape)),
    };
    if y.values.len() != rows {
        return Err(format!(
            "y.npy has {} values for {rows} rows",
            y.values.len()
        ));
    }
    let y = y.values.iter().map(|&v| v != 0.0).collect();
    Ok(Data {
        rows,
        dims,
        x: x.values,
        y,
    })
}

/// A 1-D or 2-D `.npy` array of a plain numeric dtype, widened to f64, row-major.
#[derive(Debug)]
pub struct Npy {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// Parses a `.npy` file (format 1.0 to 3.0), transposing a Fortran-order array.
pub fn npy(b: &[u8]) -> Result<Npy, String> {
    let (fortran, mut a) = Npy::parse(b)?;
    if fortran && a.shape.len() == 2 {
        let (rows, dims) = (a.shape[0], a.shape[1]);
        // Column-major on disk.
        let mut t = vec![0.0; rows * dims];
        for j in 0..dims {
            for i in 0..rows {
                t[i * dims + j] = a.values[j * rows + i];
            }
        }
        a.values = t;
    }
    Ok(a)
}

impl Npy {
    /// The array as stored, and whether it is in Fortran order.
    fn parse(b: &[u8]) -> Result<(bool, Npy), String> {
        if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
            return Err("not a .npy array (bad magic)".into());
        }
        // Format 1.0 has a u16 header length, 2.0 and 3.0 a u32.
        let (len, start) = match b[6] {
            1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
            2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
            v => return Err(format!("unsupported .npy version {v}")),
        };
        let header = b
            .get(start..start + len)
            .ok_or("header runs past the end")?;
        let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
        let descr = dict_value(header, "descr")?.trim_matches(|c| c == '\'' || c == '"');
        let fortran_order = match dict_value(header, "fortran_order")? {
            "True" => true,
            "False" => false,
            v => return Err(format!("fortran_order {v}")),
        };
        let shape = dict_value(header, "shape")?
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>().map_err(|e| format!("shape {s}: {e}")))
            .collect::<Result<Vec<usize>, String>>()?;
        let count: usize = shape.iter().product();
        let (order, kind, size) = {
            let mut c = descr.chars();
            let order = c.next().ok_or("empty descr")?;
            let kind = c.next().ok_or("short descr")?;
            let size: usize = c.as_str().parse().map_err(|_| format!("descr {descr}"))?;
            (order, kind, size)
        };
        if order == '>' && size > 1 {
            return Err(format!("big-endian dtype {descr} is not supported"));
        }
        let data = &b[start + len..];
        if data.len() != count * size {
            return Err(format!(
                "{} data bytes for shape {shape:?} of {descr}",
                data.len()
            ));
        }
        let conv: fn(&[u8]) -> f64 = match (kind, size) {
            ('f', 8) => |c| f64::from_le_bytes(c.try_into().unwrap_or_default()),
            ('f', 4) => |c| f32::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            ('i', 1) => |c| c[0] as i8 as f64,
            ('i', 2) => |c| i16::from_le_bytes([c[0], c[1]]) as f64,
            ('i', 4) => |c| i32::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            ('i', 8) => |c| i64::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            ('u', 1) | ('b', 1) => |c| c[0] as f64,
            ('u', 2) => |c| u16::from_le_bytes([c[0], c[1]]) as f64,
            ('u', 4) => |c| u32::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            ('u', 8) => |c| u64::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
            _ => return Err(format!("unsupported dtype {descr}")),
        };
        let values = data.chunks_exact(size).map(conv).collect();
        if shape.len() > 2 {
            return Err(format!("{}-D arrays are not supported", shape.len()));
        }
        Ok((fortran_order, Npy { shape, values }))
    }
}

/// The text of `'key': value` in the header's Python dict literal, up to the next key
/// (values here are a string, a bool or a tuple, none holding a `':`).
fn dict_value<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    let pat = format!("'{key}':");
    let at = header
        .find(&pat)
        .ok_or_else(|| format!("header lacks '{key}'"))?
        + pat.len();
    let rest = header[at..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(|| format!("header's '{key}' has no end"))?;
    Ok(rest[..end].trim())
}
