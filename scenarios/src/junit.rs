//! JUnit XML for CI dashboards, written by hand: one `testsuite` per case, one
//! `testcase` per trial; failures as `failure`, skips and known failures as `skipped`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::runner::{Status, TrialResult};

/// Text safe in an XML attribute or element: markup escaped, characters XML 1.0 cannot
/// carry at all (most control characters) dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The suite (`<area>/<name>`) and the test (`seed-N`) of a trial name.
fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('/').unwrap_or(("", name))
}

pub fn render(results: &[TrialResult]) -> String {
    let mut suites: BTreeMap<&str, Vec<&TrialResult>> = BTreeMap::new();
    for r in results {
        suites.entry(split(&r.name).0).or_default().push(r);
    }
    let count =
        |rs: &[&TrialResult], s: &[Status]| rs.iter().filter(|r| s.contains(&r.status)).count();
    let all: Vec<&TrialResult> = results.iter().collect();
    let time = |rs: &[&TrialResult]| rs.iter().map(|r| r.elapsed.as_secs_f64()).sum::<f64>();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // Writing to a String cannot fail.
    let _ = writeln!(
        xml,
        "<testsuites name=\"qbranch replay\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        all.len(),
        count(&all, &[Status::Fail]),
        count(&all, &[Status::Skip, Status::Known]),
        time(&all)
    );
    for (suite, rs) in &suites {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            escape(suite),
            rs.len(),
            count(rs, &[Status::Fail]),
            count(rs, &[Status::Skip, Status::Known]),
            time(rs)
        );
        for r in rs {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(split(&r.name).1),
                escape(suite),
                r.elapsed.as_secs_f64()
            );
            let first_line = r.message.lines().next().unwrap_or_default();
            match r.status {
                Status::Pass => {
                    let _ = writeln!(
                        xml,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        escape(&r.message)
                    );
                }
                Status::Fail => {
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>",
                        escape(first_line),
                        escape(&r.message)
                    );
                }
                Status::Skip | Status::Known => {
                    let _ = writeln!(
                        xml,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(first_line)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(name: &str, status: Status, message: &str) -> TrialResult {
        TrialResult {
            name: name.into(),
            case: split(name).0.into(),
            source: crate::SourceKind::Simulate,
            seed: None,
            must_fail: false,
            status,
            message: message.into(),
            elapsed: Duration::from_millis(1500),
            checks: Vec::new(),
        }
    }

    #[test]
    fn suites_cases_and_escaping() {
        let xml = render(&[
            result("oracle/a/seed-1", Status::Pass, "ok"),
            result(
                "oracle/a/seed-2",
                Status::Fail,
                "wanted <p >= 0.85> & \"more\"\u{1}\nline 2",
            ),
            result("pathologist/b/live", Status::Skip, "skipped: live"),
        ]);
        assert!(xml.starts_with("<?xml version=\"1.0\""));
        assert!(xml.contains(
            "<testsuites name=\"qbranch replay\" tests=\"3\" failures=\"1\" skipped=\"1\""
        ));
        assert!(xml.contains("<testsuite name=\"oracle/a\" tests=\"2\" failures=\"1\""));
        assert!(xml.contains("<testcase name=\"seed-2\" classname=\"oracle/a\" time=\"1.500\""));
        assert!(xml.contains("message=\"wanted &lt;p &gt;= 0.85&gt; &amp; &quot;more&quot;\""));
        assert!(!xml.contains('\u{1}'));
        assert!(xml.contains("<skipped message=\"skipped: live\"/>"));
        assert_eq!(
            xml.matches("<testsuite ").count(),
            xml.matches("</testsuite>").count()
        );
        assert_eq!(
            xml.matches("<testcase ").count(),
            xml.matches("</testcase>").count()
        );
    }
}
