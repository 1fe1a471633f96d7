//! Scratch cgroups: created for one live run, in every hierarchy the run needs (memory,
//! and cpu, freezer and the unified tree for PSI where they exist), and removed with
//! everything in them when dropped, whatever ended the run.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qb_recorder::CgroupLayout;

use crate::LiveError;

/// Name prefix of every scratch cgroup; the owner's pid follows, so leftovers of a
/// killed run can be recognised and swept.
const PREFIX: &str = "qbranch-live-";

#[derive(Debug)]
pub struct ScratchCgroup {
    /// Relative path, as the recorder reports it (`/qbranch-live-<pid>-<name>`).
    path: String,
    memory: PathBuf,
    version: u32,
    cpu: Option<PathBuf>,
    /// v1 cpuacct when mounted apart from cpu: the recorder's CPU usage comes from it.
    cpuacct: Option<PathBuf>,
    freezer: Option<PathBuf>,
    /// The unified tree of a hybrid host: per-cgroup PSI lives there.
    unified: Option<PathBuf>,
}

impl ScratchCgroup {
    /// Creates `/qbranch-live-<our pid>-<name>` under the memory hierarchy of `root`
    /// (and the cpu, freezer and unified hierarchies of a v1 host).
    pub fn create(root: &Path, name: &str) -> Result<Self, LiveError> {
        let layout = CgroupLayout::detect(root);
        let Some((hierarchy, version)) = layout.memory_hierarchy() else {
            return Err(LiveError::Unsupported(format!(
                "needs a memory cgroup: none under {}",
                root.display()
            )));
        };
        let leaf = format!("{PREFIX}{}-{name}", std::process::id());
        let mut cg = ScratchCgroup {
            path: format!("/{leaf}"),
            memory: hierarchy.join(&leaf),
            version,
            cpu: None,
            cpuacct: None,
            freezer: None,
            unified: None,
        };
        if version == 2 {
            // Controllers must be enabled for children; harmless when they already are.
            let _ = fs::write(hierarchy.join("cgroup.subtree_control"), "+memory +cpu");
        }
        make_dir(&cg.memory)?;
        if version == 1 {
            // Optional hierarchies: without them the run loses a knob, not its point.
            cg.cpuacct = layout
                .v1_cpuacct
                .filter(|p| Some(p) != layout.v1_cpu.as_ref())
                .map(|p| p.join(&leaf))
                .filter(|p| make_dir(p).is_ok());
            cg.cpu = layout
                .v1_cpu
                .map(|p| p.join(&leaf))
                .filter(|p| make_dir(p).is_ok());
            // The v1 freezer root has no freezer.state; its mount is recognised by name.
            cg.freezer = Some(root.join("freezer"))
                .filter(|f| f.join("cgroup.procs").exists())
                .map(|f| f.join(&leaf))
                .filter(|p| make_dir(p).is_ok());
            cg.unified = layout
                .v2
                .map(|p| p.join(&leaf))
                .filter(|p| make_dir(p).is_ok());
        }
        Ok(cg)
    }

    /// The path the recorder reports for this cgroup.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Hard memory limit; with no swap the OOM killer fires when usage reaches it.
    pub fn set_memory_limit(&self, bytes: u64) -> Result<(), LiveError> {
        if self.version == 1 {
            write(
                &self.memory.join("memory.limit_in_bytes"),
                &bytes.to_string(),
            )
        } else {
            // A swap allowance would stretch the leak past the limit; none is given.
            let _ = fs::write(self.memory.join("memory.swap.max"), "0");
            write(&self.memory.join("memory.max"), &bytes.to_string())
        }
    }

    /// Caps CPU at `cores` (e.g. 0.05 = 5 % of one core), to slow a workload down.
    pub fn set_cpu_quota(&self, cores: f64) -> Result<(), LiveError> {
        let period = 100_000u64;
        let quota = ((cores * period as f64) as u64).max(1_000);
        match (self.version, &self.cpu) {
            (2, _) => write(&self.memory.join("cpu.max"), &format!("{quota} {period}")),
            (_, Some(cpu)) => {
                write(&cpu.join("cpu.cfs_period_us"), &period.to_string())?;
                write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())
            }
            _ => Err(LiveError::Unsupported(
                "needs the cpu cgroup controller to slow the workload down".into(),
            )),
        }
    }

    /// Freezes (or thaws) every task in the cgroup. Frozen v1 tasks sit in D state in
    /// `__refrigerator`, which is what `live dstate` wants.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), LiveError> {
        match (self.version, &self.freezer) {
            (2, _) => write(
                &self.memory.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
            ),
            (_, Some(f)) => write(
                &f.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            _ => Err(LiveError::Unsupported(
                "needs the freezer cgroup controller".into(),
            )),
        }
    }

    /// `cgroup.procs` of every hierarchy, opened for writing: a child writes "0" to each
    /// between fork and exec to join the cgroup before it runs any code of its own.
    pub fn procs_files(&self) -> Result<Vec<File>, LiveError> {
        self.dirs()
            .map(|d| {
                let p = d.join("cgroup.procs");
                OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map_err(|e| LiveError::io(&p, e))
            })
            .collect()
    }

    /// Moves `pid` (and the threads it will fork) into every hierarchy of the cgroup.
    pub fn add(&self, pid: u32) -> Result<(), LiveError> {
        self.dirs()
            .try_for_each(|d| write(&d.join("cgroup.procs"), &pid.to_string()))
    }

    /// Pids in the cgroup (memory hierarchy), empty when it cannot be read.
    pub fn pids(&self) -> Vec<u32> {
        pids(&self.memory)
    }

    /// OOM kills inside the cgroup so far, where the kernel reports them.
    pub fn oom_kills(&self) -> Option<u64> {
        let (file, key) = if self.version == 1 {
            ("memory.oom_control", "oom_kill")
        } else {
            ("memory.events", "oom_kill")
        };
        let text = fs::read_to_string(self.memory.join(file)).ok()?;
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    /// Memory charged to the cgroup now.
    pub fn memory_usage(&self) -> Option<u64> {
        let file = if self.version == 1 {
            "memory.usage_in_bytes"
        } else {
            "memory.current"
        };
        fs::read_to_string(self.memory.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.memory)
            .chain(self.cpu.iter())
            .chain(self.cpuacct.iter())
            .chain(self.freezer.iter())
            .chain(self.unified.iter())
    }
}

impl Drop for ScratchCgroup {
    fn drop(&mut self) {
        let _ = self.set_frozen(false);
        let dirs: Vec<PathBuf> = self.dirs().cloned().collect();
        for problem in remove_all(&dirs) {
            tracing::warn!("{problem}");
            eprintln!("qbranch: warning: {problem}");
        }
    }
}

/// Kills every task in `dirs` and removes them, retrying for a few seconds while the
/// kernel reaps the tasks. Returns what could not be removed.
fn remove_all(dirs: &[PathBuf]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        for d in dirs {
            for pid in pids(d) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        let left: Vec<&PathBuf> = dirs
            .iter()
            .filter(|d| d.exists() && fs::remove_dir(d).is_err())
            .collect();
        if left.is_empty() {
            return Vec::new();
        }
        if Instant::now() >= deadline {
            return left
                .iter()
                .map(|d| format!("cgroup {} could not be removed", d.display()))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `name` is a scratch name (`qbranch-live-<pid>-...`) whose owner has exited.
pub(crate) fn owner_gone(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes scratch cgroups left behind by runs whose owner is gone (killed with
/// SIGKILL, or a crashed machine's leftovers). Returns how many were swept.
pub fn sweep_stale(root: &Path) -> usize {
    let layout = CgroupLayout::detect(root);
    let hierarchies = [
        layout.v1_memory,
        layout.v1_cpu,
        layout.v1_cpuacct,
        Some(root.join("freezer")),
        layout.v2,
    ];
    let mut stale = Vec::new();
    for h in hierarchies.into_iter().flatten() {
        let Ok(entries) = fs::read_dir(&h) else {
            continue;
        };
        for e in entries.flatten() {
            if owner_gone(&e.file_name().to_string_lossy()) {
                stale.push(e.path());
            }
        }
    }
    // Thaw first: frozen tasks cannot die.
    for d in &stale {
        let _ = fs::write(d.join("freezer.state"), "THAWED");
        let _ = fs::write(d.join("cgroup.freeze"), "0");
    }
    let problems = remove_all(&stale);
    stale.len() - problems.len()
}

fn pids(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn make_dir(p: &Path) -> Result<(), LiveError> {
    fs::create_dir(p).map_err(|e| LiveError::io(p, e))
}

fn write(p: &Path, value: &str) -> Result<(), LiveError> {
    fs::write(p, value).map_err(|e| LiveError::io(p, e))
}
