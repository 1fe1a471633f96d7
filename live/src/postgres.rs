//! A real PostgreSQL on loopback, in a scratch directory and cgroup, under pgbench load:
//! the server the toxic-query workloads and the Equalizer's live test run against.
//! Sessions are real `psql` clients driven over their stdin: a lock holder idles in its
//! transaction (the classic culprit), a CPU hog runs a busy loop, and readers pull a
//! large result through a throttle (a legitimate transfer, or a slow client).

use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use qb_recorder::now_ns;

use crate::LiveError;
use crate::cgroup::ScratchCgroup;
use crate::scratch::ScratchDir;
use crate::spawn::Worker;

/// pgbench scale: 200k accounts, initialised in a second or two.
const SCALE: &str = "2";
const DATABASE: &str = "postgres";
/// Reads stdin at most at argv[1] bytes per second: a slow network, in 8 lines.
const THROTTLE: &str = "import sys, time
rate, n, t0 = float(sys.argv[1]), 0, time.monotonic()
while True:
    b = sys.stdin.buffer.read1(16384)
    if not b: break
    n += len(b)
    d = n / rate - (time.monotonic() - t0)
    if d > 0: time.sleep(d)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToxicMode {
    /// `BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE;`, then idle in
    /// the transaction: everyone queues behind it.
    LockHolder,
    /// A PL/pgSQL busy loop burning a core.
    CpuHog,
}

impl ToxicMode {
    pub fn name(self) -> &'static str {
        match self {
            ToxicMode::LockHolder => "lock_holder",
            ToxicMode::CpuHog => "cpu_hog",
        }
    }

    fn statement(self) -> &'static str {
        match self {
            ToxicMode::LockHolder => "BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE;",
            ToxicMode::CpuHog => "DO $$ BEGIN LOOP PERFORM sqrt(random()); END LOOP; END $$;",
        }
    }
}

/// A psql client session: its process and the server's backend for it.
#[derive(Debug)]
pub struct Session {
    pub worker: Worker,
    pub backend_pid: u32,
    /// The client's port: the server-side connection is `<server>-127.0.0.1:<this>`.
    pub client_port: u16,
}

/// The server, its pgbench load and its files. Field order is drop order: the load,
/// the server's cgroup (which kills any backend left), the server, its files.
#[derive(Debug)]
pub struct Cluster {
    pg: Postgres,
    port: u16,
    load: Worker,
    load_started_ns: i64,
    cgroup: ScratchCgroup,
    server: Worker,
    dir: ScratchDir,
}

impl Cluster {
    /// initdb, the server on a free loopback port inside a new cgroup under
    /// `cgroup_root`, `pgbench -i`, then `clients` pgbench clients for `run`.
    pub fn start(clients: u32, run: Duration, cgroup_root: &Path) -> Result<Self, LiveError> {
        if clients == 0 || clients > 64 {
            return Err(LiveError::Usage("--clients must be 1 to 64".into()));
        }
        crate::require_root()?;
        let pg = Postgres::find()?;
        let dir = ScratchDir::create("pg")?;
        let data = dir.path().join("data");
        chown(dir.path(), Some(pg.uid), Some(pg.gid)).map_err(|e| LiveError::io(dir.path(), e))?;
        // The server user must reach the scratch directory through /tmp.
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755));
        run_quiet(
            pg.as_server_user("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data),
            "initdb",
        )?;
        let port = free_port()?;
        let cgroup = ScratchCgroup::create(cgroup_root, "postgres")?;
        let mut cmd = pg.as_server_user("postgres");
        cmd.arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=100", "-c", "shared_buffers=64MB"])
            .stderr(Stdio::null());
        // As the postgres user the child cannot join a cgroup itself: we move it, before
        // it has forked any backend (all of them then inherit the cgroup).
        let server = Worker::spawn("PostgreSQL server", cmd, &[])?;
        cgroup.add(server.pid())?;
        wait_ready(&pg, port)?;
        run_quiet(
            pg.tool("pgbench")
                .args(["-i", "-q", "-s", SCALE])
                .args(connection(port))
                .arg(DATABASE),
            "pgbench -i",
        )?;
        let log = std::fs::File::create(dir.path().join("pgbench.log"))
            .map_err(|e| LiveError::io(dir.path().join("pgbench.log"), e))?;
        let mut bench = pg.tool("pgbench");
        bench
            .args(["-c", &clients.to_string(), "-j", "2", "-P", "1"])
            .args(["-T", &run.as_secs().max(1).to_string()])
            .args(connection(port))
            .arg(DATABASE)
            .stderr(log);
        let load = Worker::spawn("pgbench", bench, &[])?;
        Ok(Cluster {
            pg,
            port,
            load,
            load_started_ns: now_ns(),
            cgroup,
            server,
            dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's cgroup: every backend is in it.
    pub fn cgroup(&self) -> &ScratchCgroup {
        &self.cgroup
    }

    pub fn load_pid(&self) -> u32 {
        self.load.pid()
    }

    /// pgbench's progress log, which a recorder can tail.
    pub fn bench_log(&self) -> PathBuf {
        self.dir.path().join("pgbench.log")
    }

    pub fn ensure_alive(&mut self) -> Result<(), LiveError> {
        self.server.ensure_alive()
    }

    fn psql(&self) -> Command {
        let mut cmd = self.pg.tool("psql");
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(connection(self.port))
            .args(["-d", DATABASE]);
        cmd
    }

    /// A psql session that runs `mode`'s statement and stays connected.
    pub fn open_session(&self, mode: ToxicMode) -> Result<Session, LiveError> {
        let mut cmd = self.psql();
        cmd.stderr(Stdio::null());
        let mut worker = Worker::spawn("toxic session", cmd, &[])?;
        worker.send("SELECT pg_backend_pid() || ' ' || inet_client_port();")?;
        let ids = worker.expect("", Duration::from_secs(10))?;
        let mut it = ids.split(' ').filter_map(|v| v.parse::<u32>().ok());
        let (Some(backend_pid), Some(port)) = (it.next(), it.next()) else {
            return Err(LiveError::Worker(format!(
                "psql: no backend pid and port in {ids:?}"
            )));
        };
        worker.send(mode.statement())?;
        Ok(Session {
            worker,
            backend_pid,
            client_port: port as u16,
        })
    }

    /// A client reading `COPY` of `rows` 1 KB rows at most at `bytes_per_s` (python3
    /// throttles the pipe): a large transfer, or at a trickle, a slow client. It runs
    /// in `cgroup`, so dropping that ends the whole pipeline.
    pub fn open_reader(
        &self,
        name: &str,
        rows: u64,
        bytes_per_s: u64,
        cgroup: &ScratchCgroup,
    ) -> Result<Worker, LiveError> {
        let psql = self.psql();
        let mut line: Vec<String> = std::iter::once(psql.get_program())
            .chain(psql.get_args())
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect();
        line.push("-c".into());
        line.push(shell_quote(&format!(
            "COPY (SELECT repeat('x', 1000) FROM generate_series(1, {rows})) TO STDOUT"
        )));
        let script = format!(
            "{} | python3 -c {} {bytes_per_s}",
            line.join(" "),
            shell_quote(THROTTLE)
        );
        let mut sh = Command::new("sh");
        sh.args(["-c", &script]).stderr(Stdio::null());
        Worker::spawn(name, sh, &[cgroup])
    }

    /// `pg_terminate_backend(pid)`, as an operator would.
    pub fn terminate(&self, backend_pid: u32) -> Result<(), LiveError> {
        run_quiet(
            self.psql()
                .arg("-c")
                .arg(format!("SELECT pg_terminate_backend({backend_pid})")),
            "psql pg_terminate_backend",
        )
    }

    /// Mean pgbench tps over (from, to] in wall-clock nanoseconds, from one read of its
    /// progress log (pgbench starts its clock a moment after spawning: close enough at
    /// its 1 s resolution).
    pub fn mean_tps(&self, from_ns: Option<i64>, to_ns: Option<i64>) -> Option<f64> {
        let text = std::fs::read_to_string(self.bench_log()).unwrap_or_default();
        let secs = |t: i64| (t - self.load_started_ns) as f64 / 1e9;
        let (from, to) = (from_ns.map_or(0.0, secs), to_ns.map_or(f64::MAX, secs));
        let w: Vec<f64> = progress(&text)
            .filter(|(t, _)| *t > from + 1.0 && *t <= to)
            .map(|(_, tps)| tps)
            .collect();
        (!w.is_empty()).then(|| w.iter().sum::<f64>() / w.len() as f64)
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Where PostgreSQL's programs are, and who runs the server.
#[derive(Debug)]
struct Postgres {
    bin: PathBuf,
    uid: u32,
    gid: u32,
}

impl Postgres {
    fn find() -> Result<Self, LiveError> {
        Self::find_in(Path::new("/usr/lib/postgresql"))
    }

    /// The newest server under `root` (Debian's layout: `<root>/<major>/bin`).
    fn find_in(root: &Path) -> Result<Self, LiveError> {
        let missing = || {
            LiveError::Unsupported(
                "PostgreSQL is not installed (scripts/setup installs it: postgresql, pgbench)"
                    .into(),
            )
        };
        let mut bins: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(|_| missing())?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("postgres").is_file() && b.join("initdb").is_file())
            .collect();
        // The newest major version: directory names are the version numbers.
        bins.sort_by_key(|b| {
            b.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        let bin = bins.pop().ok_or_else(missing)?;
        // The server refuses to run as root: it runs as the `postgres` user.
        let (uid, gid) = user_ids("postgres").ok_or_else(|| {
            LiveError::Unsupported("no 'postgres' user to run the server as".into())
        })?;
        Ok(Postgres { bin, uid, gid })
    }

    fn tool(&self, name: &str) -> Command {
        let local = self.bin.join(name);
        Command::new(if local.is_file() { local } else { name.into() })
    }

    fn as_server_user(&self, name: &str) -> Command {
        let mut cmd = self.tool(name);
        cmd.uid(self.uid).gid(self.gid);
        cmd
    }
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.split(':').next() == Some(name))?;
    let mut f = line.split(':').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// `progress: 5.0 s, 512.3 tps, lat ...` → (5.0, 512.3)
fn progress(log: &str) -> impl Iterator<Item = (f64, f64)> + '_ {
    log.lines().filter_map(|l| {
        let rest = l.strip_prefix("progress: ")?;
        let mut parts = rest.split(", ");
        let t = parts.next()?.strip_suffix(" s")?.parse().ok()?;
        let tps = parts.next()?.strip_suffix(" tps")?.parse().ok()?;
        Some((t, tps))
    })
}

fn connection(port: u16) -> [String; 6] {
    [
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-U".into(),
        "postgres".into(),
    ]
}

fn run_quiet(cmd: &mut Command, what: &str) -> Result<(), LiveError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LiveError::Spawn(format!("{what}: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(LiveError::Worker(format!(
            "{what} failed ({}): {}",
            out.status,
            err.trim()
        )));
    }
    Ok(())
}

fn free_port() -> Result<u16, LiveError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| LiveError::io("bind 127.0.0.1:0", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LiveError::io("listener address", e))
}

fn wait_ready(pg: &Postgres, port: u16) -> Result<(), LiveError> {
    for _ in 0..300 {
        let ok = pg
            .tool("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(LiveError::Worker(
        "PostgreSQL did not accept connections within 30 s".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_postgresql_is_named_with_the_way_to_install_it() {
        let empty = std::env::temp_dir().join(format!("qb-no-pg-{}", std::process::id()));
        let _ = std::fs::create_dir(&empty);
        for root in [empty.as_path(), Path::new("/nonexistent/postgresql")] {
            let err = Postgres::find_in(root).unwrap_err().to_string();
            assert!(
                err.contains("PostgreSQL is not installed (scripts/setup"),
                "{err}"
            );
        }
        let _ = std::fs::remove_dir(&empty);
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        let q = shell_quote("it's");
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {q}")])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"it's");
    }

    #[test]
    fn pgbench_progress_lines_parse() {
        let log = "starting vacuum...end.\nprogress: 1.0 s, 512.3 tps, lat 15.6 ms stddev 3.1, 0 failed\n\
                   progress: 2.0 s, 0.0 tps, lat 0.000 ms stddev 0.000, 0 failed\ngarbage";
        let p: Vec<_> = progress(log).collect();
        assert_eq!(p, vec![(1.0, 512.3), (2.0, 0.0)]);
    }
}
