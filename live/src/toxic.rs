//! `live toxic`: a real PostgreSQL on loopback under pgbench load, and a toxic session
//! in the middle third of the run: a lock holder (everyone queues behind it) or a
//! CPU-heavy query. Throughput before, during and after comes from pgbench's progress
//! lines, which are also recorded in the `logs` table.

use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use qb_recorder::now_ns;
use qb_signals::{Frame, LabelRow, Table};

use crate::cgroup::ScratchCgroup;
use crate::scratch::ScratchDir;
use crate::spawn::Worker;
use crate::{LiveError, LiveOptions, Plan, Step, Workload, after};

/// pgbench scale: 200k accounts, initialised in a second or two.
const SCALE: &str = "2";
const DATABASE: &str = "postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToxicMode {
    /// `LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE`, then idle in the transaction.
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
            ToxicMode::LockHolder => {
                "BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(86400);"
            }
            ToxicMode::CpuHog => "DO $$ BEGIN LOOP PERFORM sqrt(random()); END LOOP; END $$;",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToxicOptions {
    pub mode: ToxicMode,
    /// pgbench clients.
    pub clients: u32,
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

#[derive(Debug)]
pub struct Toxic {
    opts: ToxicOptions,
    onset: Duration,
    relief: Duration,
    pg: Postgres,
    port: u16,
    // Drop order: load and toxic session, then the server's cgroup, then its files.
    load: Worker,
    session: Option<Worker>,
    cgroup: ScratchCgroup,
    server: Worker,
    dir: ScratchDir,
    started_ns: Option<i64>,
    onset_ns: Option<i64>,
    relief_ns: Option<i64>,
    backend: Option<(u32, u16)>,
}

impl Toxic {
    pub fn start(opts: &ToxicOptions, live: &LiveOptions) -> Result<Self, LiveError> {
        if opts.clients == 0 || opts.clients > 64 {
            return Err(LiveError::Usage("--clients must be 1 to 64".into()));
        }
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
        let cgroup = ScratchCgroup::create(&live.cgroup_root, "postgres")?;
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
            .args(["-c", &opts.clients.to_string(), "-j", "2", "-P", "1"])
            .args(["-T", &(live.duration.as_secs() + 60).to_string()])
            .args(connection(port))
            .arg(DATABASE)
            .stderr(log);
        let load = Worker::spawn("pgbench", bench, &[])?;
        let onset = live.onset();
        Ok(Toxic {
            opts: opts.clone(),
            onset,
            relief: onset + (live.duration.saturating_sub(onset)) / 2,
            pg,
            port,
            load,
            session: None,
            cgroup,
            server,
            dir,
            started_ns: None,
            onset_ns: None,
            relief_ns: None,
            backend: None,
        })
    }

    fn psql(&self) -> Command {
        let mut cmd = self.pg.tool("psql");
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(connection(self.port))
            .args(["-d", DATABASE]);
        cmd
    }

    fn start_session(&mut self) -> Result<(), LiveError> {
        let mut cmd = self.psql();
        cmd.args([
            "-c",
            "SELECT pg_backend_pid() || ' ' || inet_client_port()",
            "-c",
            self.opts.mode.statement(),
        ])
        .stderr(Stdio::null());
        let mut session = Worker::spawn("toxic session", cmd, &[])?;
        let ids = session.expect("", Duration::from_secs(10))?;
        let mut it = ids.split(' ').filter_map(|v| v.parse::<u32>().ok());
        self.backend = it.next().zip(it.next().map(|p| p as u16));
        self.session = Some(session);
        self.onset_ns = Some(now_ns());
        Ok(())
    }

    fn end_session(&mut self) -> Result<(), LiveError> {
        if let Some((pid, _)) = self.backend {
            run_quiet(
                self.psql()
                    .arg("-c")
                    .arg(format!("SELECT pg_terminate_backend({pid})")),
                "psql pg_terminate_backend",
            )?;
        }
        self.session = None;
        self.relief_ns = Some(now_ns());
        Ok(())
    }

    /// Mean pgbench tps before the toxic session, during it and after it, from one read
    /// of pgbench's progress log.
    fn tps(&self) -> [Option<f64>; 3] {
        let text = std::fs::read_to_string(self.dir.path().join("pgbench.log")).unwrap_or_default();
        let Some(start) = self.started_ns else {
            return [None; 3];
        };
        // pgbench starts its clock a moment before our first tick; close enough at 1 s.
        let secs = |t: Option<i64>| t.map(|t| (t - start) as f64 / 1e9);
        let samples: Vec<(f64, f64)> = progress(&text).collect();
        let mean = |from: Option<i64>, to: Option<i64>| {
            let (from, to) = (secs(from).unwrap_or(0.0), secs(to).unwrap_or(f64::MAX));
            let w: Vec<f64> = samples
                .iter()
                .filter(|(t, _)| *t > from + 1.0 && *t <= to)
                .map(|(_, tps)| *tps)
                .collect();
            (!w.is_empty()).then(|| w.iter().sum::<f64>() / w.len() as f64)
        };
        [
            mean(None, self.onset_ns),
            mean(self.onset_ns, self.relief_ns),
            mean(self.relief_ns, None),
        ]
    }
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

impl Workload for Toxic {
    fn plan(&self) -> Plan {
        Plan {
            tables: vec![
                Table::System,
                Table::Process,
                Table::Cgroup,
                Table::Connections,
                Table::Logs,
            ],
            log_globs: vec![self.dir.path().join("pgbench.log").display().to_string()],
        }
    }

    fn tick(&mut self, frame: &Frame) -> Result<Step, LiveError> {
        self.started_ns.get_or_insert(frame.ts_ns);
        let elapsed = after(self.started_ns, frame.ts_ns);
        if self.onset_ns.is_none() && elapsed >= self.onset {
            self.start_session()?;
        } else if self.onset_ns.is_some() && self.relief_ns.is_none() && elapsed >= self.relief {
            self.end_session()?;
        }
        self.server.ensure_alive()?;
        Ok(Step::Continue)
    }

    fn labels(&self, end_ns: i64) -> Vec<LabelRow> {
        let (Some(onset), Some((pid, client_port))) = (self.onset_ns, self.backend) else {
            return Vec::new();
        };
        let f = |v: Option<f64>| v.map_or("null".into(), |v| format!("{v:.1}"));
        let [before, during, after] = self.tps();
        vec![LabelRow {
            ts_ns: onset,
            kind: "toxic_query".into(),
            target: format!("conn:127.0.0.1:{}-127.0.0.1:{client_port}", self.port),
            start_ns: onset,
            end_ns: Some(self.relief_ns.unwrap_or(end_ns)),
            attributes: format!(
                r#"{{"flavour":"{}","pid":{pid},"tps_before":{},"tps_during":{},"tps_after":{},"cgroup":"{}"}}"#,
                self.opts.mode.name(),
                f(before),
                f(during),
                f(after),
                self.cgroup.path()
            ),
        }]
    }

    fn summary(&self) -> Vec<String> {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        let [before, during, after] = self.tps();
        let mut lines = vec![format!(
            "pgbench tps: {} before, {} during the {} session, {} after",
            f(before),
            f(during),
            self.opts.mode.name(),
            f(after),
        )];
        if let Some((pid, port)) = self.backend {
            lines.push(format!(
                "toxic backend pid {pid}, client port {port}, load pid {}",
                self.load.pid()
            ));
        }
        lines
    }
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
    fn pgbench_progress_lines_parse() {
        let log = "starting vacuum...end.\nprogress: 1.0 s, 512.3 tps, lat 15.6 ms stddev 3.1, 0 failed\n\
                   progress: 2.0 s, 0.0 tps, lat 0.000 ms stddev 0.000, 0 failed\ngarbage";
        let p: Vec<_> = progress(log).collect();
        assert_eq!(p, vec![(1.0, 512.3), (2.0, 0.0)]);
    }
}
