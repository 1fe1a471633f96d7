//! `live toxic`: a real PostgreSQL on loopback under pgbench load (`postgres.rs`), and
//! a toxic session in the middle third of the run: a lock holder (everyone queues
//! behind it) or a CPU-heavy query, ended at two thirds with `pg_terminate_backend`.
//! Throughput before, during and after comes from pgbench's progress lines, which are
//! also recorded in the `logs` table.

use std::time::Duration;

use qb_recorder::now_ns;
use qb_signals::{Frame, LabelRow, Table};

use crate::postgres::{Cluster, Session, ToxicMode};
use crate::{LiveError, LiveOptions, Plan, Step, Workload, after};

#[derive(Debug, Clone)]
pub struct ToxicOptions {
    pub mode: ToxicMode,
    /// pgbench clients.
    pub clients: u32,
}

#[derive(Debug)]
pub struct Toxic {
    opts: ToxicOptions,
    onset: Duration,
    relief: Duration,
    // Drop order: the session, then the cluster.
    session: Option<Session>,
    cluster: Cluster,
    started_ns: Option<i64>,
    onset_ns: Option<i64>,
    relief_ns: Option<i64>,
    backend: Option<(u32, u16)>,
}

impl Toxic {
    pub fn start(opts: &ToxicOptions, live: &LiveOptions) -> Result<Self, LiveError> {
        let cluster = Cluster::start(
            opts.clients,
            live.duration + Duration::from_secs(60),
            &live.cgroup_root,
        )?;
        let onset = live.onset();
        Ok(Toxic {
            opts: opts.clone(),
            onset,
            relief: onset + (live.duration.saturating_sub(onset)) / 2,
            session: None,
            cluster,
            started_ns: None,
            onset_ns: None,
            relief_ns: None,
            backend: None,
        })
    }

    fn start_session(&mut self) -> Result<(), LiveError> {
        let session = self.cluster.open_session(self.opts.mode)?;
        self.backend = Some((session.backend_pid, session.client_port));
        self.session = Some(session);
        self.onset_ns = Some(now_ns());
        Ok(())
    }

    fn end_session(&mut self) -> Result<(), LiveError> {
        if let Some((pid, _)) = self.backend {
            self.cluster.terminate(pid)?;
        }
        self.session = None;
        self.relief_ns = Some(now_ns());
        Ok(())
    }

    /// Mean pgbench tps before the toxic session, during it and after it.
    fn tps(&self) -> [Option<f64>; 3] {
        [
            self.cluster.mean_tps(None, self.onset_ns),
            self.cluster.mean_tps(self.onset_ns, self.relief_ns),
            self.cluster.mean_tps(self.relief_ns, None),
        ]
    }
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
            log_globs: vec![self.cluster.bench_log().display().to_string()],
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
        self.cluster.ensure_alive()?;
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
            target: format!(
                "conn:127.0.0.1:{}-127.0.0.1:{client_port}",
                self.cluster.port()
            ),
            start_ns: onset,
            end_ns: Some(self.relief_ns.unwrap_or(end_ns)),
            attributes: format!(
                r#"{{"flavour":"{}","pid":{pid},"tps_before":{},"tps_during":{},"tps_after":{},"cgroup":"{}"}}"#,
                self.opts.mode.name(),
                f(before),
                f(during),
                f(after),
                self.cluster.cgroup().path()
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
                self.cluster.load_pid()
            ));
        }
        lines
    }
}
