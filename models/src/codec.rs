//! Little-endian encoding of model payloads: plain numbers and arrays, no framework, so
//! a payload reads the same on every platform and release, and a truncated or garbled
//! one fails with the field it broke on.

use crate::ModelError;

#[derive(Debug, Default)]
pub struct Encoder(Vec<u8>);

impl Encoder {
    pub fn new() -> Self {
        Encoder(Vec::new())
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v.as_bytes());
        self
    }

    /// A length-prefixed array.
    pub fn f32s(&mut self, v: &[f32]) -> &mut Self {
        self.u64(v.len() as u64);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
        self
    }

    pub fn f64s(&mut self, v: &[f64]) -> &mut Self {
        self.u64(v.len() as u64);
        for &x in v {
            self.f64(x);
        }
        self
    }

    pub fn u32s(&mut self, v: &[u32]) -> &mut Self {
        self.u64(v.len() as u64);
        for &x in v {
            self.u32(x);
        }
        self
    }

    pub fn u16s(&mut self, v: &[u16]) -> &mut Self {
        self.u64(v.len() as u64);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads what [`Encoder`] wrote, in the same order; every read names its field.
#[derive(Debug)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, at: 0 }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], ModelError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(ModelError::Corrupt(format!(
                "payload ends inside '{field}' (needs {n} bytes at offset {}, has {})",
                self.at,
                self.bytes.len().saturating_sub(self.at)
            )));
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], ModelError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    pub fn u32(&mut self, field: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    pub fn f64(&mut self, field: &str) -> Result<f64, ModelError> {
        Ok(f64::from_le_bytes(self.array(field)?))
    }

    pub fn str(&mut self, field: &str) -> Result<String, ModelError> {
        let n = self.u32(field)? as usize;
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| ModelError::Corrupt(format!("'{field}' is not UTF-8")))
    }

    fn len(&mut self, field: &str, width: usize) -> Result<usize, ModelError> {
        let n = self.u64(field)?;
        // Refuse a length the payload cannot hold before allocating for it.
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(width as u64) > left {
            return Err(ModelError::Corrupt(format!(
                "'{field}' claims {n} items, the payload holds {left} bytes"
            )));
        }
        Ok(n as usize)
    }

    pub fn f32s(&mut self, field: &str) -> Result<Vec<f32>, ModelError> {
        let n = self.len(field, 4)?;
        (0..n)
            .map(|_| Ok(f32::from_le_bytes(self.array(field)?)))
            .collect()
    }

    pub fn f64s(&mut self, field: &str) -> Result<Vec<f64>, ModelError> {
        let n = self.len(field, 8)?;
        (0..n).map(|_| self.f64(field)).collect()
    }

    pub fn u32s(&mut self, field: &str) -> Result<Vec<u32>, ModelError> {
        let n = self.len(field, 4)?;
        (0..n).map(|_| self.u32(field)).collect()
    }

    pub fn u16s(&mut self, field: &str) -> Result<Vec<u16>, ModelError> {
        let n = self.len(field, 2)?;
        (0..n)
            .map(|_| Ok(u16::from_le_bytes(self.array(field)?)))
            .collect()
    }

    /// Fails unless every byte was read: trailing bytes mean a format mismatch.
    pub fn finish(self) -> Result<(), ModelError> {
        if self.at != self.bytes.len() {
            return Err(ModelError::Corrupt(format!(
                "{} unread bytes at the end of the payload",
                self.bytes.len() - self.at
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_the_field_a_truncation_broke() {
        let mut e = Encoder::new();
        e.u32(7)
            .u64(1 << 40)
            .f64(-0.5)
            .str("λ")
            .f32s(&[1.5, 2.0])
            .f64s(&[3.0])
            .u32s(&[9])
            .u16s(&[3, 65535]);
        let bytes = e.finish();
        let mut d = Decoder::new(&bytes);
        assert_eq!(d.u32("a").unwrap(), 7);
        assert_eq!(d.u64("b").unwrap(), 1 << 40);
        assert_eq!(d.f64("c").unwrap(), -0.5);
        assert_eq!(d.str("d").unwrap(), "λ");
        assert_eq!(d.f32s("e").unwrap(), vec![1.5, 2.0]);
        assert_eq!(d.f64s("f").unwrap(), vec![3.0]);
        assert_eq!(d.u32s("g").unwrap(), vec![9]);
        assert_eq!(d.u16s("h").unwrap(), vec![3, 65535]);
        d.finish().unwrap();

        let mut d = Decoder::new(&bytes[..bytes.len() - 2]);
        d.u32("a").unwrap();
        d.u64("b").unwrap();
        d.f64("c").unwrap();
        d.str("d").unwrap();
        d.f32s("e").unwrap();
        d.f64s("f").unwrap();
        d.u32s("g").unwrap();
        let err = d.u16s("thresholds").unwrap_err().to_string();
        assert!(err.contains("thresholds"), "{err}");

        // A huge claimed length is refused without allocating.
        let mut e = Encoder::new();
        e.u64(u64::MAX);
        let bytes = e.finish();
        assert!(Decoder::new(&bytes).f64s("weights").is_err());
        // Trailing bytes are a mismatch too.
        let mut d = Decoder::new(&[0, 0, 0, 0, 1]);
        d.u32("x").unwrap();
        assert!(d.finish().is_err());
    }
}
