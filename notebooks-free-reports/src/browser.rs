//! The report as a reader sees it: headless Chromium loads the page from disk, its DOM
//! (as the browser parsed it) must hold every chart, and a screenshot of the top of the
//! page is kept in the run folder. No JavaScript is involved, in the page or the check.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where Chromium is: `QB_CHROMIUM`, else the first of the usual names on PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("QB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// What the browser saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `<svg class="chart">` elements in the parsed DOM.
    pub charts_in_dom: usize,
    /// Chart titles the DOM holds, in order.
    pub titles: Vec<String>,
    pub screenshot: PathBuf,
    pub screenshot_bytes: u64,
}

const TIMEOUT: Duration = Duration::from_secs(90);

fn chromium(bin: &Path, args: &[String]) -> Result<Vec<u8>, String> {
    // A fresh profile each time: a stale lock from an earlier crash must not block us,
    // and nothing of the user's profile is touched. Root needs --no-sandbox. Output
    // goes to files, not pipes: a DOM dump outgrows a pipe's buffer, and a child
    // blocked on a full pipe never exits.
    let scratch = scratch_dir()?;
    let (out_path, err_path) = (scratch.join("stdout"), scratch.join("stderr"));
    let create = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .args(args)
        .stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(format!("{} did not finish in {TIMEOUT:?}", bin.display()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for {}: {e}", bin.display())),
        }
    };
    let stdout = std::fs::read(&out_path).map_err(|e| format!("{}: {e}", out_path.display()));
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    if !status.success() {
        let err = String::from_utf8_lossy(&stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(format!(
            "{} failed ({status}): {}",
            bin.display(),
            tail.join(" | ")
        ));
    }
    stdout
}

/// A fresh folder for one Chromium run: its profile and its output.
fn scratch_dir() -> Result<PathBuf, String> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("qb-chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Loads `html` in headless Chromium: counts the charts in the DOM it parsed and saves
/// a screenshot as `screenshot` (PNG).
pub fn render(bin: &Path, html: &Path, screenshot: &Path) -> Result<Rendered, String> {
    let html = std::fs::canonicalize(html).map_err(|e| format!("{}: {e}", html.display()))?;
    let url = format!("file://{}", html.display());
    let dom = chromium(bin, &["--dump-dom".into(), url.clone()])?;
    let dom = String::from_utf8_lossy(&dom);
    let charts_in_dom = dom.matches("class=\"chart\"").count();
    let titles = dom
        .split("class=\"chart\"")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find("<title>")? + "<title>".len();
            let end = rest[start..].find("</title>")?;
            Some(rest[start..start + end].to_string())
        })
        .collect();
    chromium(
        bin,
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2400".into(),
            url,
        ],
    )?;
    let png = std::fs::read(screenshot)
        .map_err(|e| format!("no screenshot at {}: {e}", screenshot.display()))?;
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(format!("{} is not a PNG", screenshot.display()));
    }
    Ok(Rendered {
        charts_in_dom,
        titles,
        screenshot: screenshot.to_path_buf(),
        screenshot_bytes: png.len() as u64,
    })
}
