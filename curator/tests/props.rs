//! Property tests standing in for a fuzzer (cargo fuzz needs a nightly toolchain this
//! project does not require): arbitrary bytes through the stream never panic and keep
//! their line count, and nothing the detector finds survives redaction.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use qb_curator::{RedactConfig, Redactor, redact_stream};

/// Log-like text with PII spliced in, so the properties meet real findings.
fn line() -> impl Strategy<Value = String> {
    let pii = prop::sample::select(vec![
        "4111 1111 1111 1111",
        "SSN: 123-45-6789",
        "call (415) 555-0132",
        "mail jane.doe@example.com",
        "api_key=sk_live_9fQ2xL7pR4mZ8vK1tY6wB3nC",
        "client 203.0.113.54",
        "user \"John Smith\" logged in",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlMTIz",
    ]);
    (".{0,40}", pii, ".{0,40}").prop_map(|(a, p, b)| format!("{a} {p} {b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_keep_their_lines(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let redactor = Redactor::new(RedactConfig::default()).unwrap();
        let mut out = Vec::new();
        let stats = redact_stream(&redactor, &bytes[..], &mut out, "fuzz", |_| {}).unwrap();
        let lines_in = bytes.split(|&b| b == b'\n').count() - usize::from(bytes.ends_with(b"\n") || bytes.is_empty());
        prop_assert_eq!(stats.lines as usize, lines_in);
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), bytes.iter().filter(|&&b| b == b'\n').count());
    }

    #[test]
    fn nothing_found_survives_redaction(text in line()) {
        let redactor = Redactor::new(RedactConfig::default()).unwrap();
        let mut scratch = redactor.scratch();
        let first = redactor.redact(&text, &mut scratch);
        let (redacted, found) = (first.text.to_string(), first.findings.to_vec());
        let mut again = redactor.scratch();
        let second = redactor.redact(&redacted, &mut again);
        prop_assert!(second.findings.is_empty(), "{text:?} -> {redacted:?} still has {:?}", second.findings);
        for f in &found {
            let value = &text[f.range.clone()];
            prop_assert!(!redacted.contains(value), "{value:?} survived in {redacted:?}");
        }
    }
}
