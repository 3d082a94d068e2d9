//! Query errors and their mapping to Prometheus' `errorType` and HTTP status, in one place.

/// Everything a query can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: bad PromQL, bad parameter (400 `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The query is valid but failed while running (422 `execution`).
    #[error("{0}")]
    Execution(String),
    /// The query ran past its timeout (503 `timeout`).
    #[error("query timed out in {0}")]
    Timeout(String),
    #[error(transparent)]
    Store(#[from] lookout_store::Error),
}

impl Error {
    /// Prometheus' `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadData(_) => "bad_data",
            Error::Execution(_) | Error::Store(_) => "execution",
            Error::Timeout(_) => "timeout",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadData(_) => 400,
            Error::Execution(_) | Error::Store(_) => 422,
            Error::Timeout(_) => 503,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
