//! qb-scenarios: work in progress (issue 6).
