//! Arbitrary bytes through the redactor, line by line as the stream does it (invalid
//! UTF-8 replaced first): no panic, and nothing the detector finds in a redacted line
//! (every category is redacted by default). Scratch space lives across runs, as it does
//! in the pipeline, so the lazy DFA is not rebuilt for every input.
#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qb_curator::{Detector, Finding, LineScratch, RedactConfig, Redactor, Scratch};

struct Fixture {
    redactor: Redactor,
    detector: Detector,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        redactor: Redactor::new(RedactConfig::default()).expect("the fast path builds"),
        detector: Detector::new().expect("the fast path builds"),
    })
}

thread_local! {
    static SCRATCH: RefCell<Option<(LineScratch, Scratch, Vec<Finding>)>> =
        const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    SCRATCH.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (line_scratch, scratch, found) = cell.get_or_insert_with(|| {
            (f.redactor.scratch(), f.detector.scratch(), Vec::new())
        });
        for raw in data.split(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(raw);
            let redacted = f.redactor.redact(&line, line_scratch);
            let text = redacted.text.into_owned();
            assert!(!text.contains('\n'));
            f.detector.detect(&text, scratch, found);
            assert!(found.is_empty(), "PII survived redaction: {found:?} in {text:?}");
        }
    });
});
