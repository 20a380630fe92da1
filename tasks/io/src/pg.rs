//! Connecting to Postgres without leaking credentials.
//!
//! Connection URLs carry passwords, and driver errors can echo parts of what they were given, so
//! every message built here goes through [`redact`] or [`describe`]. Failures are classified into
//! the stable error kinds: unreachable servers are retryable (`Tote.SourceUnavailable` /
//! `Tote.WarehouseUnavailable`), bad credentials are `Tote.Config`.

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use tote_core::credentials::{password_of, redact};
use tote_core::{Error, ErrorKind, Result};

/// Which database a connection is for; decides the error kind of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The ToteSys OLTP database (read-only use).
    Source,
    /// The star-schema warehouse.
    Warehouse,
}

impl Role {
    fn unavailable(self) -> ErrorKind {
        match self {
            Role::Source => ErrorKind::SourceUnavailable,
            Role::Warehouse => ErrorKind::WarehouseUnavailable,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Role::Source => "source database",
            Role::Warehouse => "warehouse",
        }
    }
}

/// Opens a connection to `url` and drives it on the current Tokio runtime. TLS follows the URL's
/// `sslmode` (see [`crate::tls`]).
pub async fn connect(url: &str, role: Role) -> Result<Client> {
    let (driver_url, mode) = crate::tls::split_url(url, role.describe())?;
    let config: tokio_postgres::Config = driver_url.parse().map_err(|_| {
        Error::config(format!(
            "the {} URL is not a valid Postgres URL ({}); expected postgres://user:password@host:port/dbname",
            role.describe(),
            redact(url)
        ))
    })?;
    let mut config = config;
    if role == Role::Warehouse && config.get_options().is_none() {
        // The star tables live in `public` whoever connects: with the default search path a
        // user named like an existing schema (`tote`, the ledger's) would create and read them
        // there instead. A URL with its own `options=-c search_path=…` chooses another schema.
        config.options("-c search_path=public");
    }
    config.ssl_mode(match mode {
        crate::tls::TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
        crate::tls::TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let client = match crate::tls::client_config(&mode, role.describe())? {
        None => {
            let (client, connection) = config.connect(NoTls).await.map_err(|e| classify(&e, role, url))?;
            tokio::spawn(drive(connection));
            client
        }
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let (client, connection) = config.connect(tls).await.map_err(|e| classify(&e, role, url))?;
            tokio::spawn(drive(connection));
            client
        }
    };
    Ok(client)
}

async fn drive<F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>>(
    connection: F,
) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %describe(&e), "postgres connection closed with an error");
    }
}

/// Maps a driver error to a tote error of the right kind, with the URL's password removed: the
/// one classification of Postgres errors every stage uses.
///
/// - refused credentials, an unknown database, a failed TLS handshake, a missing schema object
///   (`42P01`, `3F000`) or a refused statement (class `42`): `Tote.Config`, with what to check;
/// - a lost connection, a server that is busy, restarting or out of resources (classes `08`, `53`,
///   `57P`), a serialization failure or deadlock (`40001`, `40P01`), a cancelled query (`57014`):
///   the role's `*Unavailable`, which the state machine retries;
/// - anything else, including an error the client raised itself (a value it cannot encode, a
///   reply it does not expect: a retry would fail the same way): `Tote.Internal`.
///
/// The data errors of a load batch (classes `22`, `23`) are the load's to name, as its batch's.
pub fn classify(e: &tokio_postgres::Error, role: Role, url: &str) -> Error {
    let text = describe(e);
    let text = match password_of(url) {
        Some(pw) if !pw.is_empty() => text.replace(&pw, "***"),
        _ => text,
    };
    let Some(code) = e.code() else {
        if is_tls_failure(&text) {
            return Error::config(format!(
                "TLS with the {} at {} failed: {text}; check sslmode and sslrootcert (the server's certificate must \
                 chain to it and name the host you connect to)",
                role.describe(),
                redact(url)
            ));
        }
        if is_connection_failure(e) {
            return Error::new(
                role.unavailable(),
                format!(
                    "cannot reach the {} at {}, or lost the connection: {text}; check that it is running and \
                     reachable (retried)",
                    role.describe(),
                    redact(url)
                ),
            );
        }
        return Error::internal(format!("the {} client failed: {text}", role.describe()));
    };
    classify_server(code, &text, role, url)
}

/// A server error (`code`, described by `text`, already free of the password) as tote names it.
fn classify_server(code: &SqlState, text: &str, role: Role, url: &str) -> Error {
    let sqlstate = code.code();
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        return Error::config(format!(
            "the {} refused the credentials for {}: {text}; check the user name and password in the URL or secret",
            role.describe(),
            redact(url)
        ));
    }
    if *code == SqlState::INVALID_CATALOG_NAME {
        return Error::config(format!(
            "the {} at {} has no such database: {text}; check the database name",
            role.describe(),
            redact(url)
        ));
    }
    if ["08", "53", "57P"]
        .iter()
        .any(|class| sqlstate.starts_with(class))
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::QUERY_CANCELED
    {
        return Error::new(
            role.unavailable(),
            format!(
                "the {} is busy or restarting: {text}; retry later",
                role.describe()
            ),
        );
    }
    if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME {
        let fix = match role {
            Role::Warehouse => "run `tote warehouse migrate`",
            Role::Source => "check that the URL names the ToteSys database",
        };
        return Error::config(format!(
            "the {} is missing something tote needs: {text}; {fix}",
            role.describe()
        ));
    }
    if sqlstate.starts_with("42") {
        return Error::config(format!(
            "the {} refused a statement: {text}; check that tote's user has the privileges it needs \
             and that the schema matches tote's migrations",
            role.describe()
        ));
    }
    Error::internal(format!("the {} reported an error: {text}", role.describe()))
}

fn is_tls_failure(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate")
        || t.contains("tls")
        || t.contains("handshake")
        || t.contains("server does not support ssl")
}

/// Whether a driver error without a server error is the connection failing (closed, reset,
/// timed out: worth a retry) rather than the client refusing something itself (a value it cannot
/// encode, an unexpected reply: a bug a retry would repeat).
pub fn is_connection_failure(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A driver error as one line: the server's message and detail when there is one, else the
/// error chain.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            s.push_str(": ");
            s.push_str(detail);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// `url` pointing at database `db` instead of its own.
pub fn with_database(url: &str, db: &str) -> Result<String> {
    let mut u = url::Url::parse(url)
        .map_err(|_| Error::config(format!("not a valid Postgres URL: {}", redact(url))))?;
    u.set_path(&format!("/{db}"));
    Ok(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_map_to_what_the_operator_should_do() {
        let url = "postgres://tote:s3cret@db.example:5432/totesys";
        let kind = |code: SqlState, role: Role| classify_server(&code, "detail", role, url).kind();
        assert_eq!(kind(SqlState::INVALID_PASSWORD, Role::Source), ErrorKind::Config);
        assert_eq!(
            kind(SqlState::INVALID_CATALOG_NAME, Role::Warehouse),
            ErrorKind::Config
        );
        // Connection trouble, a restart, a serialization failure: the retryable "unavailable".
        for code in [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::QUERY_CANCELED,
        ] {
            assert_eq!(
                kind(code.clone(), Role::Source),
                ErrorKind::SourceUnavailable,
                "{code:?}"
            );
            assert_eq!(kind(code, Role::Warehouse), ErrorKind::WarehouseUnavailable);
        }
        let missing = classify_server(&SqlState::UNDEFINED_TABLE, "detail", Role::Warehouse, url);
        assert_eq!(missing.kind(), ErrorKind::Config);
        assert!(
            missing.to_string().contains("tote warehouse migrate"),
            "{missing}"
        );
        assert_eq!(
            kind(SqlState::INSUFFICIENT_PRIVILEGE, Role::Source),
            ErrorKind::Config
        );
        assert_eq!(kind(SqlState::INTERNAL_ERROR, Role::Source), ErrorKind::Internal);
        let refused = classify_server(&SqlState::INVALID_PASSWORD, "detail", Role::Source, url).to_string();
        assert!(
            refused.contains("tote:***@db.example") && !refused.contains("s3cret"),
            "{refused}"
        );
    }

    #[test]
    fn tls_failures_are_told_from_other_client_errors() {
        assert!(is_tls_failure("invalid peer certificate: UnknownIssuer"));
        assert!(is_tls_failure("error performing TLS handshake"));
        assert!(is_tls_failure(
            "server does not support SSL, but SSL was required"
        ));
        assert!(!is_tls_failure("connection refused"));
    }

    #[test]
    fn redact_hides_the_password_only() {
        let r = redact("postgres://tote:s3cr3t@db.example:5432/totesys?sslmode=require");
        assert_eq!(r, "postgres://tote:***@db.example:5432/totesys?sslmode=require");
        assert_eq!(redact("not a url s3cr3t"), "<unparseable URL>");
    }

    #[test]
    fn with_database_replaces_the_path() {
        let u = with_database("postgres://a:b@127.0.0.1:5/postgres?sslmode=disable", "x_1").unwrap();
        assert_eq!(u, "postgres://a:b@127.0.0.1:5/x_1?sslmode=disable");
    }
}
