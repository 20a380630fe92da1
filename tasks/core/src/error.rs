//! Errors with stable names.
//!
//! Step Functions matches a failed Lambda on its `errorType`, so every error tote raises carries
//! one of a small, fixed set of names ([`ErrorKind::name`]). The message says what went wrong and
//! what to do about it, and never contains a password (see [`crate::pg::redact`]).

use std::fmt;

/// The stable classes of failure. Their names are part of tote's public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The source database cannot be reached right now; retrying later may succeed.
    SourceUnavailable,
    /// The warehouse cannot be reached right now; retrying later may succeed.
    WarehouseUnavailable,
    /// A source table's columns changed in a way the pipeline cannot accept by itself.
    SchemaDrift,
    /// The request (execution input, table name, …) is invalid; retrying will not help.
    BadRequest,
    /// Configuration (an environment variable, a flag, a secret) is missing or invalid.
    Config,
    /// A transform model failed to plan or execute.
    ModelFailed,
    /// A committed batch is corrupt or refers to an object that is missing.
    BadBatch,
    /// A fact refers to a dimension key the warehouse does not have.
    MissingDimension,
    /// Another execution is doing the same stage's work right now (two executions overlapping);
    /// retrying once it has finished succeeds.
    Busy,
    /// Anything else: a bug or an unexpected state. Not retried.
    Internal,
}

impl ErrorKind {
    /// Every kind, for whatever must list them all (the state machine's Retry clauses are
    /// checked against [`ErrorKind::is_retryable`] with it).
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::SourceUnavailable,
        ErrorKind::WarehouseUnavailable,
        ErrorKind::SchemaDrift,
        ErrorKind::BadRequest,
        ErrorKind::Config,
        ErrorKind::ModelFailed,
        ErrorKind::BadBatch,
        ErrorKind::MissingDimension,
        ErrorKind::Busy,
        ErrorKind::Internal,
    ];

    /// The stable name, e.g. `Tote.SourceUnavailable`: the Lambda `errorType` and the name the
    /// state machine's Retry and Catch clauses match.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::SourceUnavailable => "Tote.SourceUnavailable",
            ErrorKind::WarehouseUnavailable => "Tote.WarehouseUnavailable",
            ErrorKind::SchemaDrift => "Tote.SchemaDrift",
            ErrorKind::BadRequest => "Tote.BadRequest",
            ErrorKind::Config => "Tote.Config",
            ErrorKind::ModelFailed => "Tote.ModelFailed",
            ErrorKind::BadBatch => "Tote.BadBatch",
            ErrorKind::MissingDimension => "Tote.MissingDimension",
            ErrorKind::Busy => "Tote.Busy",
            ErrorKind::Internal => "Tote.Internal",
        }
    }

    /// Whether a retry of the same request may succeed (the state machine retries these).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::SourceUnavailable | ErrorKind::WarehouseUnavailable | ErrorKind::Busy
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tote error: a stable [`ErrorKind`] and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with a message that says what happened and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// Shorthand for [`ErrorKind::BadRequest`].
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadRequest, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of every tote library function.
pub type Result<T, E = Error> = std::result::Result<T, E>;
