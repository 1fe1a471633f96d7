//! The recorder on this host for real: its own process, and a memory cgroup created
//! for the test (v1 in a hybrid hierarchy as in CI, or v2). Skips with a reason where
//! the host cannot do it (not Linux root, no memory cgroup).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use qb_recorder::{CgroupLayout, Recorder, RecorderConfig};
use qb_signals::Table;

fn skip(reason: &str) {
    eprintln!("skipped: {reason}");
}

#[test]
fn records_this_process_and_host() {
    if !Path::new("/proc/self/stat").exists() {
        return skip("no /proc");
    }
    let mut r = Recorder::new(&RecorderConfig {
        tables: vec![Table::System, Table::Process],
        ..Default::default()
    })
    .unwrap();
    let frame = r.collect(qb_recorder::now_ns());
    let me = frame
        .processes
        .iter()
        .find(|p| p.pid == std::process::id())
        .expect("own pid recorded");
    assert!(me.rss_bytes > 0 && me.threads >= 1 && !me.kernel_thread);
    assert!(me.fd_count.is_some_and(|n| n >= 3));
    let expected_comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(me.comm, expected_comm.trim());
    assert!(
        frame.processes.iter().any(|p| p.kernel_thread),
        "kernel threads are flagged"
    );
    let sys = frame.system.unwrap();
    assert!(sys.mem_total_bytes > sys.mem_available_bytes && sys.cpu_count >= 1);
}

/// A cgroup made for the test and removed afterwards, holding one `sleep`.
struct TestCgroup {
    dir: PathBuf,
    child: Child,
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_real_memory_cgroup_with_a_limit_is_recorded() {
    let root = Path::new("/sys/fs/cgroup");
    let layout = CgroupLayout::detect(root);
    let Some((hierarchy, version)) = layout.memory_hierarchy() else {
        return skip("no memory cgroup hierarchy on this host");
    };
    let name = format!("qbranch-live-{}", std::process::id());
    let dir = hierarchy.join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        return skip(&format!(
            "cannot create {} ({e}); needs root",
            dir.display()
        ));
    }
    let limit_file = if version == 1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    std::fs::write(dir.join(limit_file), "67108864").unwrap();
    // Join the cgroup before exec, so sleep's pages are charged to it.
    let procs = dir.join("cgroup.procs");
    let child = Command::new("sh")
        .args([
            "-c",
            &format!("echo $$ > {} && exec sleep 30", procs.display()),
        ])
        .spawn()
        .unwrap();
    let cg = TestCgroup { dir, child };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string("/proc/".to_string() + &cg.child.id().to_string() + "/comm")
        .map_or(true, |c| c.trim() != "sleep")
    {
        assert!(std::time::Instant::now() < deadline, "sleep did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let mut r = Recorder::new(&RecorderConfig {
        tables: vec![Table::Process, Table::Cgroup],
        cgroup_scope: Some(format!("/{name}")),
        ..Default::default()
    })
    .unwrap();
    let frame = r.collect(qb_recorder::now_ns());
    assert_eq!(
        frame.cgroups.len(),
        1,
        "the scope holds exactly the test cgroup"
    );
    let row = &frame.cgroups[0];
    assert_eq!(row.path, format!("/{name}"));
    assert_eq!(row.version, version);
    assert_eq!(row.memory_limit_bytes, Some(64 << 20));
    assert_eq!(row.procs, 1);
    assert!(row.memory_usage_bytes > 0 && row.memory_usage_bytes < 64 << 20);
    assert!(row.working_set_bytes <= row.memory_usage_bytes);
    let sleeper = frame
        .processes
        .iter()
        .find(|p| p.pid == cg.child.id())
        .expect("sleep recorded");
    assert_eq!(
        sleeper.cgroup,
        format!("/{name}"),
        "process rows name the cgroup they moved into"
    );
    assert_eq!(sleeper.comm, "sleep");
    assert_eq!(sleeper.state, "S");
    assert_eq!(
        sleeper.syscall,
        Some(libc::SYS_clock_nanosleep as i32),
        "blocked syscall is read"
    );
}
