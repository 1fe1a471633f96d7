/// Everything that can go wrong in qb-traces. Decoding errors say what and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An OTLP/JSON body that is not a valid ExportTraceServiceRequest.
    #[error("OTLP JSON: {0}")]
    Json(String),
    /// An OTLP protobuf body that is not a valid ExportTraceServiceRequest.
    #[error("OTLP protobuf: at byte {offset}: {what}")]
    Proto { offset: usize, what: String },
    /// A bad intake setting (address, limits).
    #[error("traces: {0}")]
    Config(String),
    #[error("traces: cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
