//! `TraceFeed`: an intake and a concentrator together, filling frames at each tick.

use qb_signals::Frame;

use crate::aggregate::{Concentrator, ConcentratorConfig, ConcentratorStats};
use crate::error::Result;
use crate::intake::{Intake, IntakeConfig, IntakeStats};

/// The daemon's and the recorder's view of traces: start it once, call `fill` per frame.
#[derive(Debug)]
pub struct TraceFeed {
    intake: Intake,
    concentrator: Concentrator,
}

impl TraceFeed {
    pub fn start(intake: IntakeConfig, concentrator: ConcentratorConfig) -> Result<Self> {
        Ok(TraceFeed {
            intake: Intake::start(intake)?,
            concentrator: Concentrator::new(concentrator),
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.intake.local_addr()
    }

    /// Takes the spans that arrived, then puts the closed buckets and the latest
    /// requests into `frame`, stamped with the frame's time.
    pub fn fill(&mut self, frame: &mut Frame) {
        let now = frame.ts_ns;
        let c = &mut self.concentrator;
        self.intake
            .drain(|spans| spans.iter().for_each(|s| c.add(s, now)));
        frame.traces.extend(c.flush_traces(now));
        frame.requests.extend(c.flush_requests(now));
    }

    pub fn intake_stats(&self) -> std::sync::Arc<IntakeStats> {
        self.intake.stats()
    }

    pub fn concentrator_stats(&self) -> ConcentratorStats {
        self.concentrator.stats()
    }

    pub fn queued_spans(&self) -> usize {
        self.intake.queued_spans()
    }
}
