//! Errors with stable names.
//!
//! Step Functions matches a failed Lambda on its `errorType`, so every error tote raises carries
//! one of a small, fixed set of names ([`ErrorKind::name`]). The message says what went wrong and
//! what to do about it, and never contains a password (see [`crate::credentials::redact`]).

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

    /// The kind whose stable name is `name`; `None` for any other name (Step Functions' own
    /// `States.*`, a Lambda service error).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How `tasks/core/stages.json` declares this kind (it lists them in [`ErrorKind::ALL`] order).
    fn spec(self) -> &'static crate::event::ErrorSpec {
        let position = ErrorKind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is in ALL");
        &crate::event::declaration().errors[position]
    }

    /// Whether a retry of the same request may succeed (the state machine retries these), as
    /// `stages.json` declares it.
    pub fn is_retryable(self) -> bool {
        self.spec().retryable
    }

    /// What recovers an execution that failed with this kind, as `stages.json` declares it.
    pub fn recovery(self) -> crate::event::Recovery {
        self.spec().recovery
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error that caused a tote [`Error`], kept for its chain ([`std::error::Error::source`]):
/// shared, so that an [`Error`] stays cheap to clone.
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A tote error: a stable [`ErrorKind`], a message for a person, and the error that caused it
/// when there is one (an arrow, DataFusion, object-store or Postgres error), which
/// [`std::error::Error::source`] returns so that `tote --verbose` can show the whole chain.
///
/// Two errors are equal when their kind and message are: the cause is detail, not identity.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Cause>,
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for Error {}

impl Error {
    /// An error of `kind` with a message that says what happened and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// This error, caused by `source`. The message should still say what happened on its own:
    /// the cause is shown only when asked for (`tote --verbose`, [`Error::chain`]).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// This error, caused by an already shared `source`.
    pub fn with_cause(mut self, source: Cause) -> Self {
        self.source = Some(source);
        self
    }

    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The causes of this error, nearest first (not this error itself).
    pub fn chain(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        let mut next = std::error::Error::source(self);
        std::iter::from_fn(move || {
            let current = next?;
            next = current.source();
            Some(current)
        })
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

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The result type of every tote library function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Io(std::io::Error);
    impl fmt::Display for Io {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot read the object")
        }
    }
    impl std::error::Error for Io {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_keeps_its_cause_chain_and_its_name_and_message_as_they_were() {
        let e = Error::new(ErrorKind::BadBatch, "batch b1 is missing part-00000.parquet").with_source(Io(
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
        assert_eq!(
            e.to_string(),
            "Tote.BadBatch: batch b1 is missing part-00000.parquet"
        );
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        assert_eq!(chain, ["cannot read the object", "no such file"]);
        assert_eq!(
            e,
            Error::new(ErrorKind::BadBatch, "batch b1 is missing part-00000.parquet"),
            "the cause is not part of equality"
        );
        assert_eq!(e.clone().chain().count(), 2, "a clone shares the cause");
    }
}
