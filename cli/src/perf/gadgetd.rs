//! gadgetd's resident memory: the real binary run for a while on this host (dry run,
//! no metrics endpoint), its /proc/PID/status sampled while it runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::probes::Outcome;
use super::report::Measurement;

pub const GADGETD_RSS: &str = "gadgetd RSS";
pub const GADGETD_PEAK: &str = "gadgetd RSS peak";

const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Past its duration, how long gadgetd may take to stop before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// The `gadgetd` next to the running `qbranch` (cargo and the install put them side by
/// side).
pub fn default_path() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("where qbranch runs from: {e}"))?;
    Ok(exe.with_file_name("gadgetd"))
}

/// Kills and reaps gadgetd however the probe ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// VmRSS and VmHWM of `pid` in kB, None once it is gone.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

/// Runs `gadgetd run --duration D --no-metrics --quiet` and samples its memory every
/// 100 ms: the steady RSS is the median of the second half of the samples (after the
/// models load and the first ticks), the peak the kernel's high-water mark.
pub fn rss(binary: &Path, duration: Duration) -> Outcome {
    if !binary.is_file() {
        return Err(format!(
            "no gadgetd binary at {} (build it with `cargo build -p gadgetd`, or pass --gadgetd PATH)",
            binary.display()
        ));
    }
    let log = tempfile::NamedTempFile::new().map_err(|e| format!("a temporary file: {e}"))?;
    let stderr = log
        .reopen()
        .map_err(|e| format!("{}: {e}", log.path().display()))?;
    let seconds = duration.as_secs().max(1);
    let child = Command::new(binary)
        .args([
            "run",
            "--duration",
            &format!("{seconds}s"),
            "--no-metrics",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let mut running = Running(child);
    let pid = running.0.id();
    let deadline = Instant::now() + Duration::from_secs(seconds) + GRACE;
    let (mut rss_kb, mut peak_kb) = (Vec::new(), 0u64);
    let status = loop {
        if let Some(status) = running
            .0
            .try_wait()
            .map_err(|e| format!("waiting for gadgetd: {e}"))?
        {
            break status;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "gadgetd did not stop within {}s of its {seconds}s duration",
                GRACE.as_secs()
            ));
        }
        if let Some((rss, hwm)) = memory_kb(pid) {
            rss_kb.push(rss);
            peak_kb = peak_kb.max(hwm);
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    if !status.success() {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "gadgetd exited with {status}: {}",
            tail.join(" / ")
        ));
    }
    if rss_kb.len() < 4 {
        return Err(format!(
            "only {} memory samples of gadgetd: it stopped too soon",
            rss_kb.len()
        ));
    }
    let steady: Vec<f64> = rss_kb[rss_kb.len() / 2..]
        .iter()
        .map(|&kb| mb(kb))
        .collect();
    let run = format!(
        "`gadgetd run --duration {seconds}s --no-metrics --quiet` on this host (default \
         config: dry run, embedded models), /proc/PID/status every {} ms; MB = 10^6 bytes",
        SAMPLE_EVERY.as_millis()
    );
    let steady = Measurement::from_samples(
        GADGETD_RSS,
        "MB",
        &steady,
        true,
        format!("VmRSS over the second half of the run; {run}"),
    )
    .ok_or_else(|| "no steady memory samples".to_string())?;
    Ok(vec![
        steady,
        Measurement::single(
            GADGETD_PEAK,
            "MB",
            mb(peak_kb),
            rss_kb.len(),
            true,
            format!("VmHWM (peak resident) at the last sample; {run}"),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_a_reason_not_an_error() {
        let reason = rss(Path::new("/nonexistent/gadgetd"), Duration::from_secs(1))
            .expect_err("no binary there");
        assert!(reason.contains("/nonexistent/gadgetd"), "{reason}");
        assert!(reason.contains("--gadgetd"), "{reason}");
    }

    #[test]
    fn a_failing_daemon_is_skipped_with_its_status() {
        // `false` exits 1 at once, whatever its arguments.
        let reason = rss(Path::new("/bin/false"), Duration::from_secs(1)).expect_err("fails");
        assert!(reason.contains("exited with"), "{reason}");
    }

    #[test]
    fn reads_this_process_memory() {
        let (rss, hwm) = memory_kb(std::process::id()).expect("own status");
        assert!(rss > 0 && hwm >= rss, "{rss} {hwm}");
    }
}
