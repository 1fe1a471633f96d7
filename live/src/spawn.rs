//! Starting workload processes: inside scratch cgroups from their first instruction,
//! killed with us if we die, and talking back on stdout one line per event.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use crate::LiveError;
use crate::cgroup::ScratchCgroup;

/// A running workload process. Dropping it kills it.
#[derive(Debug)]
pub struct Worker {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

/// Builds the command that runs [`crate::worker::main`] with the given arguments
/// (`leak rate=...`, `server`).
pub type WorkerLauncher = fn(&[String]) -> Command;

static LAUNCHER: OnceLock<WorkerLauncher> = OnceLock::new();

/// Replaces how workload processes are started, for a program whose `main` cannot
/// dispatch `workload NAME ...` itself (a test harness driving workloads directly).
/// Set once per process, before the first workload starts; returns false (and changes
/// nothing) when one was already set. `qbranch` never sets it.
pub fn set_worker_launcher(launcher: WorkerLauncher) -> bool {
    LAUNCHER.set(launcher).is_ok()
}

/// `qbranch workload ARGS...`: this very binary in worker mode (see [`crate::worker`]),
/// unless a launcher was set.
pub fn worker_command(args: &[String]) -> Result<Command, LiveError> {
    if let Some(launch) = LAUNCHER.get() {
        return Ok(launch(args));
    }
    let exe = std::env::current_exe().map_err(|e| LiveError::io("the qbranch executable", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("workload").args(args);
    Ok(cmd)
}

impl Worker {
    /// Spawns `cmd` inside `cgroups`. The child joins them between fork and exec (by
    /// writing "0" to each `cgroup.procs`) and asks for SIGKILL when its parent dies.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        cgroups: &[&ScratchCgroup],
    ) -> Result<Worker, LiveError> {
        let mut procs = Vec::new();
        for cg in cgroups {
            procs.extend(cg.procs_files()?);
        }
        let fds: Vec<i32> = procs.iter().map(AsRawFd::as_raw_fd).collect();
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        // SAFETY: the closure only makes async-signal-safe system calls on memory the
        // parent allocated before fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &fds {
                    if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| LiveError::Spawn(format!("{name}: {e}")))?;
        drop(procs);
        let (tx, lines) = channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Worker {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line to the worker.
    pub fn send(&mut self, line: &str) -> Result<(), LiveError> {
        let name = &self.name;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| LiveError::Worker(format!("{name}: stdin is closed")))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| LiveError::Worker(format!("{name} stopped listening: {e}")))
    }

    /// Waits for the next line the worker prints starting with `prefix`; returns the rest.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> Result<String, LiveError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(LiveError::Worker(format!(
                        "{}: no '{prefix}' within {timeout:?}",
                        self.name
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string());
                    return Err(LiveError::Worker(format!(
                        "{} exited before '{prefix}' ({})",
                        self.name,
                        status.unwrap_or_else(|e| e.to_string())
                    )));
                }
            }
        }
    }

    /// Every line the worker printed since the last call, without waiting.
    pub fn drain(&mut self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Fails once the worker has exited: for workloads whose process must outlive the
    /// run (a server, a log writer), its death ends the run.
    pub fn ensure_alive(&mut self) -> Result<(), LiveError> {
        match self.exited() {
            Some(status) => Err(LiveError::Worker(format!(
                "the {} died during the run ({status})",
                self.name
            ))),
            None => Ok(()),
        }
    }

    /// The exit status once the worker has exited; None while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        // A frozen child dies only once thawed (its cgroup's drop does that): reap it if
        // it goes in time, never hang on it.
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
