//! Schema v2: every table, every column, with its unit and where it comes from.
//!
//! Counters are stored as the kernel reports them (cumulative); rates are derived by
//! consumers, so a missed tick loses no information. Changing anything here changes the
//! canonical schema text (`signals/schema/v2.txt`) and, for names, types and nullability,
//! the schema hash: see CONTRIBUTING.md, "Add a signal column".

use crate::row::table;
use crate::schema::Table;

table! {
    /// One row per tick: host-wide CPU, load, memory, vmstat and pressure stall information.
    SystemRow => Table::System, {
        /// Time in user mode, all CPUs.
        cpu_user: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Time in user mode at low priority (nice).
        cpu_nice: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Time in kernel mode.
        cpu_system: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Idle time.
        cpu_idle: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Idle while I/O was outstanding.
        cpu_iowait: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Servicing hardware interrupts.
        cpu_irq: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Servicing softirqs.
        cpu_softirq: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Stolen by the hypervisor for other guests.
        cpu_steal: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Running guests (also counted in cpu_user).
        cpu_guest: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Running niced guests (also counted in cpu_nice).
        cpu_guest_nice: u64 = ("ticks (USER_HZ)", "/proc/stat cpu"),
        /// Online CPUs (cpuN lines).
        cpu_count: u32 = ("count", "/proc/stat cpuN"),
        /// Context switches since boot.
        context_switches: u64 = ("count", "/proc/stat ctxt"),
        /// Processes and threads created since boot.
        forks: u64 = ("count", "/proc/stat processes"),
        /// Runnable tasks now.
        procs_running: u32 = ("count", "/proc/stat procs_running"),
        /// Tasks blocked on I/O now.
        procs_blocked: u32 = ("count", "/proc/stat procs_blocked"),
        /// Load average over 1 minute.
        load1: f64 = ("runnable tasks", "/proc/loadavg"),
        /// Load average over 5 minutes.
        load5: f64 = ("runnable tasks", "/proc/loadavg"),
        /// Load average over 15 minutes.
        load15: f64 = ("runnable tasks", "/proc/loadavg"),
        /// Total usable RAM.
        mem_total_bytes: u64 = ("bytes", "/proc/meminfo MemTotal"),
        /// Unused RAM.
        mem_free_bytes: u64 = ("bytes", "/proc/meminfo MemFree"),
        /// Kernel's estimate of memory available without swapping.
        mem_available_bytes: u64 = ("bytes", "/proc/meminfo MemAvailable"),
        /// Block device buffers.
        buffers_bytes: u64 = ("bytes", "/proc/meminfo Buffers"),
        /// Page cache (excluding swap cache).
        cached_bytes: u64 = ("bytes", "/proc/meminfo Cached"),
        /// Page cache on the active LRU list.
        active_file_bytes: u64 = ("bytes", "/proc/meminfo Active(file)"),
        /// Page cache on the inactive LRU list: the first to be reclaimed.
        inactive_file_bytes: u64 = ("bytes", "/proc/meminfo Inactive(file)"),
        /// Anonymous memory on the active LRU list.
        active_anon_bytes: u64 = ("bytes", "/proc/meminfo Active(anon)"),
        /// Anonymous memory on the inactive LRU list.
        inactive_anon_bytes: u64 = ("bytes", "/proc/meminfo Inactive(anon)"),
        /// Shared memory (tmpfs, shm).
        shmem_bytes: u64 = ("bytes", "/proc/meminfo Shmem"),
        /// Kernel slab allocations.
        slab_bytes: u64 = ("bytes", "/proc/meminfo Slab"),
        /// Page tables.
        page_tables_bytes: u64 = ("bytes", "/proc/meminfo PageTables"),
        /// Dirty pages waiting for writeback.
        dirty_bytes: u64 = ("bytes", "/proc/meminfo Dirty"),
        /// Swap space in total (0 without swap).
        swap_total_bytes: u64 = ("bytes", "/proc/meminfo SwapTotal"),
        /// Unused swap space.
        swap_free_bytes: u64 = ("bytes", "/proc/meminfo SwapFree"),
        /// Pages swapped in since boot.
        pswpin: u64 = ("pages", "/proc/vmstat pswpin"),
        /// Pages swapped out since boot.
        pswpout: u64 = ("pages", "/proc/vmstat pswpout"),
        /// Page faults since boot.
        pgfault: u64 = ("count", "/proc/vmstat pgfault"),
        /// Major page faults (needed I/O) since boot.
        pgmajfault: u64 = ("count", "/proc/vmstat pgmajfault"),
        /// Pages scanned by kswapd and direct reclaim since boot.
        pgscan: u64 = ("pages", "/proc/vmstat pgscan_kswapd + pgscan_direct"),
        /// Pages reclaimed by kswapd and direct reclaim since boot.
        pgsteal: u64 = ("pages", "/proc/vmstat pgsteal_kswapd + pgsteal_direct"),
        /// OOM kills since boot.
        oom_kill: u64 = ("count", "/proc/vmstat oom_kill"),
        /// Share of time some task stalled on memory, 10 s average; null without PSI.
        psi_memory_some_avg10: Option<f64> = ("percent", "/proc/pressure/memory some"),
        /// Same, 60 s average.
        psi_memory_some_avg60: Option<f64> = ("percent", "/proc/pressure/memory some"),
        /// Same, 300 s average.
        psi_memory_some_avg300: Option<f64> = ("percent", "/proc/pressure/memory some"),
        /// Total stall time of some task on memory.
        psi_memory_some_total_us: Option<u64> = ("microseconds", "/proc/pressure/memory some"),
        /// Share of time all non-idle tasks stalled on memory, 10 s average.
        psi_memory_full_avg10: Option<f64> = ("percent", "/proc/pressure/memory full"),
        /// Same, 60 s average.
        psi_memory_full_avg60: Option<f64> = ("percent", "/proc/pressure/memory full"),
        /// Same, 300 s average.
        psi_memory_full_avg300: Option<f64> = ("percent", "/proc/pressure/memory full"),
        /// Total stall time of all tasks on memory.
        psi_memory_full_total_us: Option<u64> = ("microseconds", "/proc/pressure/memory full"),
        /// Share of time some task waited for a CPU, 10 s average.
        psi_cpu_some_avg10: Option<f64> = ("percent", "/proc/pressure/cpu some"),
        /// Same, 60 s average.
        psi_cpu_some_avg60: Option<f64> = ("percent", "/proc/pressure/cpu some"),
        /// Same, 300 s average.
        psi_cpu_some_avg300: Option<f64> = ("percent", "/proc/pressure/cpu some"),
        /// Total CPU wait time of some task.
        psi_cpu_some_total_us: Option<u64> = ("microseconds", "/proc/pressure/cpu some"),
        /// Share of time all non-idle tasks waited for a CPU, 10 s average (kernel 5.13+).
        psi_cpu_full_avg10: Option<f64> = ("percent", "/proc/pressure/cpu full"),
        /// Same, 60 s average.
        psi_cpu_full_avg60: Option<f64> = ("percent", "/proc/pressure/cpu full"),
        /// Same, 300 s average.
        psi_cpu_full_avg300: Option<f64> = ("percent", "/proc/pressure/cpu full"),
        /// Total CPU wait time of all tasks.
        psi_cpu_full_total_us: Option<u64> = ("microseconds", "/proc/pressure/cpu full"),
        /// Share of time some task stalled on I/O, 10 s average.
        psi_io_some_avg10: Option<f64> = ("percent", "/proc/pressure/io some"),
        /// Same, 60 s average.
        psi_io_some_avg60: Option<f64> = ("percent", "/proc/pressure/io some"),
        /// Same, 300 s average.
        psi_io_some_avg300: Option<f64> = ("percent", "/proc/pressure/io some"),
        /// Total I/O stall time of some task.
        psi_io_some_total_us: Option<u64> = ("microseconds", "/proc/pressure/io some"),
        /// Share of time all non-idle tasks stalled on I/O, 10 s average.
        psi_io_full_avg10: Option<f64> = ("percent", "/proc/pressure/io full"),
        /// Same, 60 s average.
        psi_io_full_avg60: Option<f64> = ("percent", "/proc/pressure/io full"),
        /// Same, 300 s average.
        psi_io_full_avg300: Option<f64> = ("percent", "/proc/pressure/io full"),
        /// Total I/O stall time of all tasks.
        psi_io_full_total_us: Option<u64> = ("microseconds", "/proc/pressure/io full"),
    }
}

table! {
    /// One row per process (thread group) per tick.
    ProcessRow => Table::Process, {
        /// Process id (thread group id).
        pid: u32 = ("", "/proc/PID"),
        /// Parent process id.
        ppid: u32 = ("", "/proc/PID/stat field 4"),
        /// Command name, at most 15 bytes.
        comm: String = ("", "/proc/PID/stat field 2"),
        /// FNV-1a 64 of the NUL-separated command line; 0 for kernel threads.
        cmdline_hash: u64 = ("hash", "/proc/PID/cmdline"),
        /// Scheduler state: R running, S sleeping, D uninterruptible, T stopped, t traced, Z zombie, I idle, X dead.
        state: String = ("one letter", "/proc/PID/stat field 3"),
        /// True for kernel threads (PF_KTHREAD): never a target for actions.
        kernel_thread: bool = ("", "/proc/PID/stat field 9 (flags)"),
        /// Real user id.
        uid: u32 = ("", "/proc/PID/status Uid"),
        /// Syscall the main thread is blocked in; -1 when blocked outside a syscall; null when running or unreadable.
        syscall: Option<i32> = ("syscall number (x86_64)", "/proc/PID/syscall"),
        /// Kernel function the main thread sleeps in; read for D-state tasks or when syscall is unreadable.
        wchan: Option<String> = ("symbol", "/proc/PID/wchan"),
        /// CPU time in user mode.
        utime_ticks: u64 = ("ticks (USER_HZ)", "/proc/PID/stat field 14"),
        /// CPU time in kernel mode.
        stime_ticks: u64 = ("ticks (USER_HZ)", "/proc/PID/stat field 15"),
        /// Resident set size.
        rss_bytes: u64 = ("bytes", "/proc/PID/stat field 24 x page size"),
        /// Virtual memory size.
        vms_bytes: u64 = ("bytes", "/proc/PID/stat field 23"),
        /// Swapped-out anonymous memory; null for kernel threads.
        swap_bytes: Option<u64> = ("bytes", "/proc/PID/status VmSwap"),
        /// Minor page faults.
        minflt: u64 = ("count", "/proc/PID/stat field 10"),
        /// Major page faults (needed I/O).
        majflt: u64 = ("count", "/proc/PID/stat field 12"),
        /// Bytes read by read-like syscalls, page cache included; null where not permitted.
        rchar: Option<u64> = ("bytes", "/proc/PID/io rchar"),
        /// Bytes written by write-like syscalls.
        wchar: Option<u64> = ("bytes", "/proc/PID/io wchar"),
        /// Read-like syscalls: a cheap progress counter.
        syscr: Option<u64> = ("count", "/proc/PID/io syscr"),
        /// Write-like syscalls.
        syscw: Option<u64> = ("count", "/proc/PID/io syscw"),
        /// Bytes fetched from storage.
        read_bytes: Option<u64> = ("bytes", "/proc/PID/io read_bytes"),
        /// Bytes sent to storage.
        write_bytes: Option<u64> = ("bytes", "/proc/PID/io write_bytes"),
        /// Voluntary context switches (the task blocked).
        voluntary_ctxt_switches: u64 = ("count", "/proc/PID/status"),
        /// Involuntary context switches (the task was preempted).
        nonvoluntary_ctxt_switches: u64 = ("count", "/proc/PID/status"),
        /// Open file descriptors; null where not permitted.
        fd_count: Option<u32> = ("count", "/proc/PID/fd"),
        /// Threads in the group.
        threads: u32 = ("count", "/proc/PID/stat field 20"),
        /// OOM killer bias: -1000 means never kill.
        oom_score_adj: i32 = ("-1000..1000", "/proc/PID/oom_score_adj"),
        /// Process start time.
        start_time_ns: i64 = ("ns since epoch", "/proc/stat btime + /proc/PID/stat field 22"),
        /// Memory cgroup: the v1 memory controller path, else the v2 path.
        cgroup: String = ("path", "/proc/PID/cgroup"),
        /// Container id parsed from the cgroup path (docker, containerd, CRI-O, podman, kubepods).
        container_id: Option<String> = ("64 hex digits", "/proc/PID/cgroup"),
    }
}

table! {
    /// One row per memory cgroup per tick, cgroup v1 or v2.
    CgroupRow => Table::Cgroup, {
        /// Path relative to the hierarchy root, "/" for the root.
        path: String = ("path", "directory under the hierarchy"),
        /// Hierarchy the memory numbers come from: 1 or 2.
        version: u32 = ("1 | 2", "mount layout"),
        /// Memory charged to the cgroup, page cache included.
        memory_usage_bytes: u64 = ("bytes", "v1 memory.usage_in_bytes, v2 memory.current"),
        /// Hard limit; null when unlimited.
        memory_limit_bytes: Option<u64> = ("bytes", "v1 memory.limit_in_bytes, v2 memory.max"),
        /// Throttling threshold (v2 memory.high, v1 soft limit); null when unset.
        memory_high_bytes: Option<u64> = ("bytes", "v1 memory.soft_limit_in_bytes, v2 memory.high"),
        /// Peak usage; null where the kernel does not report it.
        memory_max_usage_bytes: Option<u64> = ("bytes", "v1 memory.max_usage_in_bytes, v2 memory.peak"),
        /// Anonymous memory.
        anon_bytes: u64 = ("bytes", "memory.stat v1 total_rss, v2 anon"),
        /// Page cache.
        file_bytes: u64 = ("bytes", "memory.stat v1 total_cache, v2 file"),
        /// Page cache on the active LRU list.
        active_file_bytes: u64 = ("bytes", "memory.stat (total_)active_file"),
        /// Page cache on the inactive LRU list.
        inactive_file_bytes: u64 = ("bytes", "memory.stat (total_)inactive_file"),
        /// usage - inactive_file, floored at 0: what the kubelet evicts on.
        working_set_bytes: u64 = ("bytes", "derived"),
        /// Shared memory.
        shmem_bytes: u64 = ("bytes", "memory.stat v1 total_shmem, v2 shmem"),
        /// Swap used; null where not accounted.
        swap_bytes: Option<u64> = ("bytes", "memory.stat v1 total_swap, v2 memory.swap.current"),
        /// Major page faults.
        pgmajfault: u64 = ("count", "memory.stat (total_)pgmajfault"),
        /// Times usage hit the limit (v1 memory.failcnt, v2 memory.events max).
        failcnt: u64 = ("count", "v1 memory.failcnt, v2 memory.events max"),
        /// Times the cgroup went out of memory (v1 memory.oom_control under_oom transitions are not counted; v1 reports oom_kill only).
        oom_events: Option<u64> = ("count", "v2 memory.events oom"),
        /// Processes killed by the OOM killer in this cgroup.
        oom_kill_events: u64 = ("count", "v1 memory.oom_control oom_kill, v2 memory.events oom_kill"),
        /// Share of time some task stalled on memory, 10 s average; v2 only.
        psi_memory_some_avg10: Option<f64> = ("percent", "v2 memory.pressure some"),
        /// Same, 60 s average.
        psi_memory_some_avg60: Option<f64> = ("percent", "v2 memory.pressure some"),
        /// Same, 300 s average.
        psi_memory_some_avg300: Option<f64> = ("percent", "v2 memory.pressure some"),
        /// Total stall time of some task on memory.
        psi_memory_some_total_us: Option<u64> = ("microseconds", "v2 memory.pressure some"),
        /// Share of time all tasks stalled on memory, 10 s average; v2 only.
        psi_memory_full_avg10: Option<f64> = ("percent", "v2 memory.pressure full"),
        /// Total stall time of all tasks on memory.
        psi_memory_full_total_us: Option<u64> = ("microseconds", "v2 memory.pressure full"),
        /// CPU time used by the cgroup; null without a cpu accounting controller at the same path.
        cpu_usage_ns: Option<u64> = ("ns", "v1 cpuacct.usage, v2 cpu.stat usage_usec"),
        /// CFS periods elapsed while a quota was set.
        cpu_periods: Option<u64> = ("count", "cpu.stat nr_periods"),
        /// Periods in which the cgroup was throttled.
        cpu_throttled_periods: Option<u64> = ("count", "cpu.stat nr_throttled"),
        /// Time spent throttled.
        cpu_throttled_ns: Option<u64> = ("ns", "v1 cpu.stat throttled_time, v2 cpu.stat throttled_usec"),
        /// Processes directly in this cgroup.
        procs: u32 = ("count", "cgroup.procs"),
    }
}

table! {
    /// Syscalls per process per tick interval.
    SyscallRow => Table::Syscalls, {
        /// Process id (thread group id).
        pid: u32 = ("", "bpf_get_current_pid_tgid() >> 32, or /proc/PID/task/*/syscall"),
        /// Syscall number (x86_64 table).
        syscall_nr: u32 = ("", "raw_syscalls:sys_enter id"),
        /// Calls entered during the interval ending at ts_ns (eBPF), or sampled hits (fallback).
        count: u64 = ("count per interval", "eBPF map drained each tick"),
    }
}

table! {
    /// TCP sockets, listening ones included, per tick.
    ConnectionRow => Table::Connections, {
        /// Owning process; null when no process holds the socket inode (or not permitted).
        pid: Option<u32> = ("", "/proc/PID/fd socket:[inode]"),
        /// Socket inode.
        inode: u64 = ("", "inet_diag idiag_inode"),
        /// 4 or 6.
        family: u32 = ("", "inet_diag idiag_family"),
        /// TCP state: ESTABLISHED, LISTEN, TIME_WAIT, ...
        state: String = ("", "inet_diag idiag_state"),
        /// Local address.
        local_addr: String = ("IP", "inet_diag id.src"),
        /// Local port.
        local_port: u32 = ("", "inet_diag id.sport"),
        /// Remote address.
        remote_addr: String = ("IP", "inet_diag id.dst"),
        /// Remote port.
        remote_port: u32 = ("", "inet_diag id.dport"),
        /// Unread bytes (for LISTEN: the accept backlog in connections).
        rx_queue: u32 = ("bytes | connections", "inet_diag idiag_rqueue"),
        /// Unsent or unacknowledged bytes (for LISTEN: the backlog limit).
        tx_queue: u32 = ("bytes | connections", "inet_diag idiag_wqueue"),
        /// Smoothed round-trip time.
        rtt_us: Option<u32> = ("microseconds", "tcp_info tcpi_rtt"),
        /// Round-trip time variance.
        rttvar_us: Option<u32> = ("microseconds", "tcp_info tcpi_rttvar"),
        /// Retransmissions of the segment at the head of the queue.
        retransmits: Option<u32> = ("count", "tcp_info tcpi_retransmits"),
        /// Retransmitted segments over the connection's life.
        total_retrans: Option<u32> = ("count", "tcp_info tcpi_total_retrans"),
        /// Bytes acknowledged by the peer.
        bytes_acked: Option<u64> = ("bytes", "tcp_info tcpi_bytes_acked"),
        /// Bytes received.
        bytes_received: Option<u64> = ("bytes", "tcp_info tcpi_bytes_received"),
        /// Time since the last data was received.
        last_data_recv_ms: Option<u32> = ("ms", "tcp_info tcpi_last_data_recv"),
        /// Time since the socket was first seen by the recorder.
        age_ms: Option<u64> = ("ms", "recorder"),
        /// Time since the last data was sent: with `last_data_recv_ms`, who spoke last
        /// (a request still unanswered, or an answered one and an idle peer). Since v2.
        last_data_sent_ms: Option<u32> = ("ms", "tcp_info tcpi_last_data_sent", since 2),
    }
}

table! {
    /// Log lines as they were read, one row per line.
    LogRow => Table::Logs, {
        /// File the line came from.
        source: String = ("path", "tailed file"),
        /// Byte offset of the line in the file at the time it was read.
        offset: u64 = ("bytes", "tailer"),
        /// Writing process where known (syslog tag, JSON pid).
        pid: Option<u32> = ("", "parsed from the line"),
        /// Normalised level: trace, debug, info, warn, error, fatal; null when unknown.
        level: Option<String> = ("", "parsed from the line"),
        /// The line without its terminating newline.
        line: String = ("UTF-8, invalid bytes replaced", "tailed file"),
        /// The line was longer than the tailer's limit and was cut there.
        truncated: bool = ("", "tailer"),
    }
}

table! {
    /// Trace statistics: one row per (service, resource, status) per closed 10 s bucket.
    TraceRow => Table::Traces, {
        /// Service that emitted the spans (resource attribute service.name).
        service: String = ("", "OTLP resource service.name"),
        /// Operation: `METHOD route` for HTTP spans (e.g. `GET /api/users`), else the span name.
        resource: String = ("", "OTLP span name, http.request.method + http.route"),
        /// `ok` or `error` (span status ERROR, or HTTP status >= 500).
        status: String = ("", "OTLP span status, http.response.status_code"),
        /// Start of the bucket the spans ended in.
        bucket_ns: i64 = ("ns since epoch", "concentrator (end time floored to the bucket)"),
        /// Spans in the bucket.
        hits: u64 = ("count", "concentrator"),
        /// Spans of the bucket that were errors (equal to hits for status `error`).
        errors: u64 = ("count", "concentrator"),
        /// Sum of the spans' durations.
        duration_sum_ns: u64 = ("ns", "concentrator"),
        /// Median duration, DDSketch (1 % relative accuracy).
        p50_ns: u64 = ("ns", "DDSketch"),
        /// 90th percentile duration, DDSketch (1 % relative accuracy).
        p90_ns: u64 = ("ns", "DDSketch"),
        /// 99th percentile duration, DDSketch (1 % relative accuracy).
        p99_ns: u64 = ("ns", "DDSketch"),
        /// Longest duration seen (exact).
        max_ns: u64 = ("ns", "concentrator"),
    }
}

table! {
    /// The latest completed request per client endpoint, as seen in server spans; at most
    /// one row per (service, client address, client port) per tick.
    RequestRow => Table::Requests, {
        /// Service that served the request (resource attribute service.name).
        service: String = ("", "OTLP resource service.name"),
        /// Client address.
        client_addr: String = ("IP", "client.address, network.peer.address, net.peer.ip"),
        /// Client port.
        client_port: u32 = ("", "client.port, network.peer.port, net.peer.port"),
        /// Port the request was served on; null when the span does not say.
        server_port: Option<u32> = ("", "server.port, net.host.port"),
        /// Request method (GET, POST, ...); null when not an HTTP span.
        method: Option<String> = ("", "http.request.method, http.method"),
        /// Request path or route; null when unknown.
        path: Option<String> = ("", "url.path, http.target (query cut), http.route"),
        /// The request's duration.
        duration_ns: u64 = ("ns", "span end - start"),
        /// The request failed (span status ERROR, or HTTP status >= 500).
        error: bool = ("", "OTLP span status, http.response.status_code"),
    }
}

table! {
    /// Ground truth written by the simulator; gadgets never see it.
    LabelRow => Table::Labels, {
        /// What happened: memory_leak, deadlock, toxic_query, pii, ... (issue-defined vocabulary).
        kind: String = ("", "generator"),
        /// What it happened to: a pid, a cgroup path, a connection 4-tuple, a log source.
        target: String = ("", "generator"),
        /// Start of the labelled episode.
        start_ns: i64 = ("ns since epoch", "generator"),
        /// End of the episode; null when open-ended.
        end_ns: Option<i64> = ("ns since epoch", "generator"),
        /// Further attributes as a JSON object (byte spans, flavour, OOM time, ...).
        attributes: String = ("JSON", "generator"),
    }
}
