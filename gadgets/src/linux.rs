//! The Linux actuator: signals through a pidfd checked against the frame's start
//! time (a recycled pid is never signalled), cache drops, stack snapshots, and ended
//! connections (a backend terminated the same way, or `SOCK_DESTROY` on the socket the
//! frame saw, checked by inode).

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qb_recorder::connections::{SocketId, destroy_socket};

use crate::executor::{Actuator, StackSnapshot};
use crate::safety::{EndMethod, Target};

#[derive(Debug, Clone)]
pub struct LinuxActuator {
    proc_root: PathBuf,
    boot_ns: i64,
    ns_per_tick: i64,
    /// How long `gdb -batch` may take for the user stacks.
    gdb_timeout: Duration,
}

impl LinuxActuator {
    /// Reads the boot time, as the recorder does, so start times compare exactly.
    pub fn new() -> Result<Self, String> {
        let proc_root = PathBuf::from("/proc");
        let stat = std::fs::read_to_string(proc_root.join("stat"))
            .map_err(|e| format!("/proc/stat: {e}"))?;
        let btime: i64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("/proc/stat: no btime line")?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
        Ok(LinuxActuator {
            proc_root,
            boot_ns: btime * 1_000_000_000,
            ns_per_tick: 1_000_000_000 / hz,
            gdb_timeout: Duration::from_secs(10),
        })
    }

    fn start_time_ns(&self, pid: u32) -> Result<i64, String> {
        let path = self.proc_root.join(format!("{pid}/stat"));
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Fields after the parenthesised comm; starttime is field 22 overall.
        let rest = text
            .rfind(')')
            .map(|i| &text[i + 1..])
            .ok_or_else(|| format!("{}: no comm field", path.display()))?;
        let ticks: i64 = rest
            .split_whitespace()
            .nth(19)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{}: no starttime field", path.display()))?;
        Ok(self.boot_ns + ticks * self.ns_per_tick)
    }

    /// A pidfd for the target, but only if it is still the process the frame saw.
    fn open(&self, target: &Target) -> Result<OwnedFd, String> {
        let pid = target.pid as libc::pid_t;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(format!(
                "pid {pid}: pidfd_open: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // The pidfd pins the pid number, so this read describes the process it refers to.
        let start = self.start_time_ns(target.pid)?;
        if start != target.start_time_ns {
            return Err(format!(
                "pid {pid} is another process now (started at {start}, expected {})",
                target.start_time_ns
            ));
        }
        Ok(fd)
    }

    fn gdb(&self, pid: u32) -> String {
        let child = Command::new("gdb")
            .args([
                "-batch",
                "-nx",
                "-p",
                &pid.to_string(),
                "-ex",
                "thread apply all bt",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return format!("no user stacks: gdb: {e}"),
        };
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if started.elapsed() < self.gdb_timeout => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return format!("no user stacks: gdb took over {:?}", self.gdb_timeout);
                }
            }
        }
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        out
    }
}

impl Actuator for LinuxActuator {
    fn signal(&mut self, target: &Target, signal: i32) -> Result<String, String> {
        let fd = self.open(target)?;
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            return Err(format!(
                "pid {}: pidfd_send_signal({signal}): {}",
                target.pid,
                std::io::Error::last_os_error()
            ));
        }
        Ok(format!("signal {signal} sent to pid {}", target.pid))
    }

    fn drop_caches(&mut self) -> Result<String, String> {
        // 1: the page cache only, the cheapest relief; slab objects stay.
        let path = self.proc_root.join("sys/vm/drop_caches");
        std::fs::write(&path, "1")
            .map(|()| "page cache dropped".to_string())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn end_connection(&mut self, target: &Target) -> Result<String, String> {
        let Some(c) = &target.connection else {
            return Err(format!("pid {}: no connection to end", target.pid));
        };
        match c.method {
            // What `pg_terminate_backend` sends: the backend ends its session cleanly.
            EndMethod::TerminateBackend => self
                .signal(target, libc::SIGTERM)
                .map(|done| format!("{}: backend terminated ({done})", c.name())),
            EndMethod::SockDestroy => {
                let addr = |a: &str, port: u16| {
                    a.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, port))
                        .map_err(|e| format!("{}: address {a:?}: {e}", c.name()))
                };
                let id = SocketId {
                    local: addr(&c.local_addr, c.local_port)?,
                    remote: addr(&c.remote_addr, c.remote_port)?,
                };
                destroy_socket(&id, c.inode)
                    .map(|()| format!("{}: socket {} destroyed", c.name(), c.inode))
                    .map_err(|e| format!("{}: SOCK_DESTROY: {e}", c.name()))
            }
        }
    }

    fn snapshot(&mut self, target: &Target) -> StackSnapshot {
        match self.start_time_ns(target.pid) {
            Ok(start) if start == target.start_time_ns => {}
            found => {
                let why = format!(
                    "pid {} is not the process the frame saw: {found:?}",
                    target.pid
                );
                return StackSnapshot {
                    kernel: why.clone(),
                    user: why,
                };
            }
        }
        let tasks = self.proc_root.join(format!("{}/task", target.pid));
        let kernel = match std::fs::read_dir(&tasks) {
            Ok(dir) => {
                let mut tids: Vec<String> = dir
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect();
                tids.sort();
                tids.iter()
                    .map(|tid| {
                        let stack = std::fs::read_to_string(tasks.join(tid).join("stack"))
                            .unwrap_or_else(|e| format!("unreadable: {e}\n"));
                        format!("thread {tid}:\n{stack}")
                    })
                    .collect()
            }
            Err(e) => format!("{}: {e}", tasks.display()),
        };
        StackSnapshot {
            kernel,
            user: self.gdb(target.pid),
        }
    }
}
