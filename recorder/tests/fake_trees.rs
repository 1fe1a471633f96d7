//! The recorder against fake /proc and /sys/fs/cgroup trees built in temp dirs
//! (as oomd tests its cgroup code): every parser, both cgroup versions, hybrid mode,
//! scopes, and entries that vanish or are garbage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use qb_recorder::{CgroupCollector, CgroupLayout, Recorder, RecorderConfig};
use qb_signals::Table;

fn put(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const STAT: &str = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 1 1 1 0 0\ncpu1 50 3 25 500 10 0 1 2 0 0\n\
intr 1 2 3\nctxt 123456\nbtime 1700000000\nprocesses 999\nprocs_running 3\nprocs_blocked 1\n";

fn pid_stat(pid: u32, comm: &str, state: char, ppid: u32, flags: u64) -> String {
    format!(
        "{pid} ({comm}) {state} {ppid} {pid} {pid} 0 -1 {flags} 120 0 3 0 11 7 0 0 20 0 2 0 500 1048576 256 \
         18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
    )
}

const CONTAINER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn fake_proc(root: &Path) {
    put(root, "stat", STAT);
    put(root, "loadavg", "0.50 0.25 0.10 2/300 4242\n");
    put(
        root,
        "meminfo",
        "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\nCached:          300 kB\n\
         Active(file):    100 kB\nInactive(file):  150 kB\nSwapTotal:         0 kB\nSwapFree:          0 kB\n",
    );
    put(
        root,
        "vmstat",
        "pswpin 1\npswpout 2\npgfault 30\npgmajfault 4\npgscan_kswapd 10\npgscan_direct 5\noom_kill 3\n",
    );
    put(
        root,
        "pressure/memory",
        "some avg10=1.50 avg60=0.50 avg300=0.10 total=1000\nfull avg10=0.50 avg60=0.00 avg300=0.00 total=400\n",
    );
    put(
        root,
        "pressure/cpu",
        "some avg10=3.00 avg60=0.00 avg300=0.00 total=9\n",
    );
    put(
        root,
        "pressure/io",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    );
    put(root, "sys/kernel/hostname", "fakehost\n");

    // pid 1: init, protected later by the gadgets.
    put(root, "1/stat", &pid_stat(1, "init", 'S', 0, 0x400100));
    put(
        root,
        "1/status",
        "Name:\tinit\nUid:\t0\t0\t0\t0\nVmSwap:\t       8 kB\nvoluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t2\n",
    );
    put(
        root,
        "1/io",
        "rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
    );
    put(
        root,
        "1/syscall",
        "232 0x4 0x7ffd 0x1 0xffffffff 0x0 0x0 0x7ffd 0x7f00\n",
    );
    put(root, "1/oom_score_adj", "0\n");
    put(root, "1/cgroup", "4:memory:/\n0::/init.scope\n");
    put(root, "1/cmdline", "/sbin/init\0splash\0");
    put(root, "1/fd/0", "");
    put(root, "1/fd/1", "");

    // pid 2: a kernel thread (PF_KTHREAD), no io, no cmdline.
    put(root, "2/stat", &pid_stat(2, "kthreadd", 'S', 0, 0x00208040));
    put(
        root,
        "2/status",
        "Name:\tkthreadd\nUid:\t0\t0\t0\t0\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t0\n",
    );
    put(root, "2/oom_score_adj", "0\n");
    put(root, "2/cgroup", "4:memory:/\n0::/\n");
    put(root, "2/cmdline", "");
    fs::create_dir_all(root.join("2/fd")).unwrap();

    // pid 100: in a container, uninterruptible sleep with a hostile comm.
    put(
        root,
        "100/stat",
        &pid_stat(100, "my (app)", 'D', 1, 0x400000),
    );
    put(
        root,
        "100/status",
        "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\nVmSwap:\t       0 kB\nvoluntary_ctxt_switches:\t77\nnonvoluntary_ctxt_switches:\t8\n",
    );
    put(
        root,
        "100/syscall",
        "0 0x3 0x7ffd 0x1000 0x0 0x0 0x0 0x7ffd 0x7f00\n",
    );
    put(root, "100/wchan", "io_schedule");
    put(root, "100/oom_score_adj", "-1000\n");
    put(
        root,
        "100/cgroup",
        &format!("4:memory:/docker/{CONTAINER}\n0::/\n"),
    );
    put(root, "100/cmdline", "app\0--serve\0");
    fs::create_dir_all(root.join("100/fd")).unwrap();

    // pid 555 exited between listing and reading: its directory is empty.
    fs::create_dir_all(root.join("555")).unwrap();
    // pid 666 has a garbage stat file.
    put(root, "666/stat", "garbage");
    // Not a pid.
    put(root, "self/stat", "ignored");
}

fn config(proc_root: &Path, cgroup_root: &Path, tables: &[Table]) -> RecorderConfig {
    RecorderConfig {
        proc_root: proc_root.into(),
        cgroup_root: cgroup_root.into(),
        cgroup_scope: None,
        tables: tables.to_vec(),
        ebpf: false,
        ..RecorderConfig::default()
    }
}

#[test]
fn system_row_from_fake_proc() {
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path());
    let mut r = Recorder::new(&config(
        tmp.path(),
        &tmp.path().join("nocg"),
        &[Table::System],
    ))
    .unwrap();
    assert_eq!(r.host(), "fakehost");
    assert!(r.notes().is_empty());
    let s = r.collect(42).system.unwrap();
    assert_eq!(s.ts_ns, 42);
    assert_eq!(
        (
            s.cpu_user,
            s.cpu_nice,
            s.cpu_system,
            s.cpu_idle,
            s.cpu_iowait
        ),
        (100, 5, 50, 1000, 20)
    );
    assert_eq!(
        (s.cpu_irq, s.cpu_softirq, s.cpu_steal, s.cpu_count),
        (1, 2, 3, 2)
    );
    assert_eq!(
        (
            s.context_switches,
            s.forks,
            s.procs_running,
            s.procs_blocked
        ),
        (123456, 999, 3, 1)
    );
    assert_eq!((s.load1, s.load5, s.load15), (0.5, 0.25, 0.1));
    assert_eq!(
        (
            s.mem_total_bytes,
            s.mem_available_bytes,
            s.inactive_file_bytes
        ),
        (1_024_000, 614_400, 153_600)
    );
    assert_eq!(
        (s.pswpin, s.pswpout, s.pgmajfault, s.pgscan, s.oom_kill),
        (1, 2, 4, 15, 3)
    );
    assert_eq!(s.psi_memory_some_avg10, Some(1.5));
    assert_eq!(s.psi_memory_full_total_us, Some(400));
    assert_eq!(s.psi_cpu_some_avg10, Some(3.0));
    assert_eq!(
        s.psi_cpu_full_avg10, None,
        "no cpu full line: null, not zero"
    );
    assert_eq!(s.psi_io_full_avg10, Some(0.0));
}

#[test]
fn missing_psi_degrades_columns_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path());
    fs::remove_dir_all(tmp.path().join("pressure")).unwrap();
    let mut r = Recorder::new(&config(tmp.path(), tmp.path(), &[Table::System])).unwrap();
    assert!(r.notes()[&Table::System].contains("PSI unavailable"));
    let s = r.collect(1).system.unwrap();
    assert_eq!(s.psi_memory_some_avg10, None);
    assert_eq!(s.mem_total_bytes, 1_024_000);
}

#[test]
fn a_missing_proc_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Recorder::new(&config(
        &tmp.path().join("noproc"),
        tmp.path(),
        &[Table::System],
    ))
    .unwrap_err();
    assert!(err.to_string().contains("noproc/stat"), "{err}");
}

#[test]
fn process_rows_from_fake_proc_skip_and_count_vanished_entries() {
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path());
    let mut r = Recorder::new(&config(tmp.path(), tmp.path(), &[Table::Process])).unwrap();
    let frame = r.collect(7);
    let pids: Vec<u32> = frame.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [1, 2, 100]);
    let stats = r.stats().processes;
    assert_eq!((stats.rows, stats.vanished, stats.unreadable), (3, 1, 1));

    let init = &frame.processes[0];
    assert_eq!(
        (
            init.comm.as_str(),
            init.state.as_str(),
            init.ppid,
            init.kernel_thread
        ),
        ("init", "S", 0, false)
    );
    assert_eq!(
        (
            init.utime_ticks,
            init.stime_ticks,
            init.threads,
            init.minflt,
            init.majflt
        ),
        (11, 7, 2, 120, 3)
    );
    assert_eq!(init.rss_bytes, 256 * 4096);
    assert_eq!(init.vms_bytes, 1_048_576);
    assert_eq!(init.swap_bytes, Some(8192));
    assert_eq!(
        (
            init.voluntary_ctxt_switches,
            init.nonvoluntary_ctxt_switches
        ),
        (10, 2)
    );
    assert_eq!(
        (init.rchar, init.syscr, init.read_bytes),
        (Some(100), Some(3), Some(4096))
    );
    assert_eq!(init.syscall, Some(232));
    assert_eq!(
        init.wchan, None,
        "wchan only for D state or unreadable syscall"
    );
    assert_eq!(init.fd_count, Some(2));
    assert_eq!(init.cgroup, "/");
    assert_eq!(init.container_id, None);
    assert_ne!(init.cmdline_hash, 0);
    // btime 1700000000 s + 500 ticks at 100 Hz.
    assert_eq!(init.start_time_ns, 1_700_000_005_000_000_000);

    let kthread = &frame.processes[1];
    assert!(kthread.kernel_thread);
    assert_eq!(kthread.cmdline_hash, 0);
    assert_eq!(
        (kthread.rchar, kthread.swap_bytes),
        (None, None),
        "unreadable io stays null"
    );

    let app = &frame.processes[2];
    assert_eq!(app.comm, "my (app)");
    assert_eq!(app.state, "D");
    assert_eq!(app.uid, 1000);
    assert_eq!(app.syscall, Some(0));
    assert_eq!(app.wchan.as_deref(), Some("io_schedule"));
    assert_eq!(app.oom_score_adj, -1000);
    assert_eq!(app.cgroup, format!("/docker/{CONTAINER}"));
    assert_eq!(app.container_id.as_deref(), Some(CONTAINER));
    assert_eq!(app.fd_count, Some(0));
}

#[test]
fn exec_is_noticed_through_comm_and_cmdline_is_rehashed() {
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path());
    let mut r = Recorder::new(&config(tmp.path(), tmp.path(), &[Table::Process])).unwrap();
    let before = r.collect(1).processes[2].cmdline_hash;
    put(
        tmp.path(),
        "100/stat",
        &pid_stat(100, "other", 'R', 1, 0x400000),
    );
    put(tmp.path(), "100/cmdline", "other\0");
    let after = r.collect(2).processes[2].cmdline_hash;
    assert_ne!(before, after);
}

fn fake_cgroup_v1(root: &Path) {
    let mem = root.join("memory");
    for (rel, usage, limit) in [
        ("", 5_000_000u64, "9223372036854771712"),
        ("app", 3_000_000, "268435456"),
    ] {
        let d = mem.join(rel);
        put(&d, "memory.usage_in_bytes", &format!("{usage}\n"));
        put(&d, "memory.limit_in_bytes", &format!("{limit}\n"));
        put(&d, "memory.soft_limit_in_bytes", "9223372036854771712\n");
        put(&d, "memory.max_usage_in_bytes", &format!("{}\n", usage + 1));
        put(&d, "memory.failcnt", "4\n");
        put(
            &d,
            "memory.stat",
            "cache 1\nrss 2\ntotal_cache 1000000\ntotal_rss 1500000\ntotal_shmem 10\ntotal_active_file 400000\n\
             total_inactive_file 600000\ntotal_pgmajfault 9\n",
        );
        put(
            &d,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        put(&d, "cgroup.procs", "100\n101\n");
    }
    put(
        root,
        "cpu,cpuacct/app/cpu.stat",
        "nr_periods 10\nnr_throttled 3\nthrottled_time 5000\n",
    );
    put(root, "cpu,cpuacct/app/cpuacct.usage", "123456789\n");
    put(
        root,
        "cpu,cpuacct/cpu.stat",
        "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    );
    put(root, "cpu,cpuacct/cpuacct.usage", "999\n");
    put(root, "unified/cgroup.controllers", "\n");
    put(
        root,
        "unified/app/memory.pressure",
        "some avg10=12.00 avg60=3.00 avg300=1.00 total=777\nfull avg10=6.00 avg60=0 avg300=0 total=55\n",
    );
}

#[test]
fn cgroup_v1_hybrid_tree() {
    let tmp = tempfile::tempdir().unwrap();
    fake_cgroup_v1(tmp.path());
    let layout = CgroupLayout::detect(tmp.path());
    assert_eq!(layout.memory_hierarchy().unwrap().1, 1);
    assert!(layout.describe().contains("hybrid"));
    let mut c = CgroupCollector::new(tmp.path(), None).unwrap();
    let mut rows = Vec::new();
    let stats = c.collect(9, &mut rows);
    assert_eq!(stats.rows, 2);
    let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/", "/app"]);

    let root = &rows[0];
    assert_eq!(root.memory_limit_bytes, None, "v1 'unlimited' is null");
    assert_eq!(root.psi_memory_some_avg10, None, "no PSI for the v1 root");
    assert_eq!(root.cpu_usage_ns, Some(999));

    let app = &rows[1];
    assert_eq!(app.version, 1);
    assert_eq!(app.memory_usage_bytes, 3_000_000);
    assert_eq!(app.memory_limit_bytes, Some(268_435_456));
    assert_eq!(app.memory_high_bytes, None);
    assert_eq!(app.memory_max_usage_bytes, Some(3_000_001));
    assert_eq!(
        (app.anon_bytes, app.file_bytes, app.shmem_bytes),
        (1_500_000, 1_000_000, 10)
    );
    assert_eq!(
        (app.active_file_bytes, app.inactive_file_bytes),
        (400_000, 600_000)
    );
    assert_eq!(app.working_set_bytes, 2_400_000);
    assert_eq!(
        (
            app.failcnt,
            app.oom_kill_events,
            app.oom_events,
            app.pgmajfault
        ),
        (4, 2, None, 9)
    );
    assert_eq!(app.swap_bytes, None, "no swap accounting: null");
    assert_eq!(
        (
            app.cpu_periods,
            app.cpu_throttled_periods,
            app.cpu_throttled_ns
        ),
        (Some(10), Some(3), Some(5000))
    );
    assert_eq!(app.cpu_usage_ns, Some(123_456_789));
    assert_eq!(
        app.psi_memory_some_avg10,
        Some(12.0),
        "PSI from the unified tree"
    );
    assert_eq!(app.psi_memory_full_total_us, Some(55));
    assert_eq!(app.procs, 2);
}

fn fake_cgroup_v2(root: &Path) {
    put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    put(root, "cgroup.procs", "1\n");
    for (rel, max) in [
        ("system.slice", "max"),
        ("system.slice/app.service", "536870912"),
    ] {
        let d = root.join(rel);
        put(&d, "memory.current", "4000000\n");
        put(&d, "memory.max", &format!("{max}\n"));
        put(&d, "memory.high", "max\n");
        put(&d, "memory.peak", "4100000\n");
        put(
            &d,
            "memory.stat",
            "anon 2500000\nfile 1400000\nactive_file 900000\ninactive_file 500000\nshmem 7\npgmajfault 11\n",
        );
        put(&d, "memory.swap.current", "0\n");
        put(
            &d,
            "memory.events",
            "low 0\nhigh 0\nmax 6\noom 2\noom_kill 1\n",
        );
        put(
            &d,
            "memory.pressure",
            "some avg10=40.00 avg60=20.00 avg300=5.00 total=99\nfull avg10=30.00 avg60=10.00 avg300=2.00 total=77\n",
        );
        put(
            &d,
            "cpu.stat",
            "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 8\nnr_throttled 2\nthrottled_usec 300\n",
        );
        put(&d, "cgroup.procs", "200\n");
    }
}

#[test]
fn cgroup_v2_tree() {
    let tmp = tempfile::tempdir().unwrap();
    fake_cgroup_v2(tmp.path());
    let mut c = CgroupCollector::new(tmp.path(), None).unwrap();
    let mut rows = Vec::new();
    let stats = c.collect(9, &mut rows);
    assert_eq!(
        (stats.rows, stats.vanished),
        (2, 0),
        "the v2 root has no memory.current and is not counted"
    );
    let app = rows
        .iter()
        .find(|r| r.path == "/system.slice/app.service")
        .unwrap();
    assert_eq!(app.version, 2);
    assert_eq!(app.memory_usage_bytes, 4_000_000);
    assert_eq!(app.memory_limit_bytes, Some(536_870_912));
    assert_eq!(app.memory_high_bytes, None);
    assert_eq!(app.memory_max_usage_bytes, Some(4_100_000));
    assert_eq!(
        (app.anon_bytes, app.file_bytes, app.inactive_file_bytes),
        (2_500_000, 1_400_000, 500_000)
    );
    assert_eq!(app.working_set_bytes, 3_500_000);
    assert_eq!(
        (app.failcnt, app.oom_events, app.oom_kill_events),
        (6, Some(2), 1)
    );
    assert_eq!(app.swap_bytes, Some(0));
    assert_eq!(app.cpu_usage_ns, Some(2_000_000));
    assert_eq!(app.cpu_throttled_ns, Some(300_000));
    assert_eq!(app.psi_memory_some_avg10, Some(40.0));
    assert_eq!(app.psi_memory_full_avg10, Some(30.0));
    let slice = rows.iter().find(|r| r.path == "/system.slice").unwrap();
    assert_eq!(slice.memory_limit_bytes, None, "'max' is null");
}

#[test]
fn cgroup_scope_limits_the_walk_and_must_exist() {
    let tmp = tempfile::tempdir().unwrap();
    fake_cgroup_v2(tmp.path());
    let mut c = CgroupCollector::new(tmp.path(), Some("/system.slice/app.service")).unwrap();
    let mut rows = Vec::new();
    c.collect(1, &mut rows);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].path, "/system.slice/app.service");

    let err = CgroupCollector::new(tmp.path(), Some("/nope")).unwrap_err();
    assert!(
        err.to_string().contains("cgroup /nope not found under"),
        "{err}"
    );
    let err = Recorder::new(&RecorderConfig {
        cgroup_scope: Some("/nope".into()),
        ..config(Path::new("/proc"), tmp.path(), &[Table::Cgroup])
    })
    .unwrap_err();
    assert!(err.to_string().contains("/nope"), "{err}");
}

#[test]
fn a_cgroup_removed_mid_walk_is_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    fake_cgroup_v2(tmp.path());
    // A directory without memory files: what a removed cgroup looks like mid-read.
    fs::create_dir_all(tmp.path().join("system.slice/gone.service")).unwrap();
    let mut c = CgroupCollector::new(tmp.path(), None).unwrap();
    let mut rows = Vec::new();
    let stats = c.collect(1, &mut rows);
    assert_eq!((stats.rows, stats.vanished), (2, 1));
}

#[test]
fn no_memory_hierarchy_makes_the_table_unavailable_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path());
    let mut r = Recorder::new(&config(
        tmp.path(),
        &tmp.path().join("empty"),
        &[Table::System, Table::Cgroup],
    ))
    .unwrap();
    assert!(r.unavailable()[&Table::Cgroup].contains("no memory cgroup hierarchy"));
    assert!(r.methods().contains_key(&Table::System));
    assert!(r.collect(1).cgroups.is_empty());
}

#[test]
fn traces_tables_need_an_intake_and_fill_frames_from_posted_spans() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    fake_proc(tmp.path());
    let tables = [Table::Traces, Table::Requests];
    let r = Recorder::new(&config(tmp.path(), tmp.path(), &tables)).unwrap();
    assert!(r.unavailable()[&Table::Traces].contains("--traces-listen"));
    assert!(r.traces_addr().is_none());

    let mut r = Recorder::new(&RecorderConfig {
        traces: Some(qb_traces::IntakeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        }),
        ..config(tmp.path(), tmp.path(), &tables)
    })
    .unwrap();
    let addr = r.traces_addr().unwrap();
    assert!(r.methods()[&Table::Requests].contains(&addr.to_string()));
    let t0: i64 = 1_800_000_000_000_000_000;
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}}]}},
        "scopeSpans":[{{"spans":[{{"name":"GET /x","kind":2,"startTimeUnixNano":"{}","endTimeUnixNano":"{t0}",
        "attributes":[{{"key":"client.address","value":{{"stringValue":"127.0.0.1"}}}},
        {{"key":"client.port","value":{{"intValue":"40000"}}}}]}}]}}]}}]}}"#,
        t0 - 5_000_000
    );
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let frame = r.collect(t0);
    assert_eq!(frame.requests.len(), 1);
    assert_eq!(frame.requests[0].duration_ns, 5_000_000);
    let later = r.collect(t0 + 30_000_000_000);
    assert_eq!(later.traces.len(), 1);
    assert_eq!(
        (later.traces[0].service.as_str(), later.traces[0].hits),
        ("api", 1)
    );
    assert_eq!(r.stats().traces.spans, 1);
}
