//! The `TOTE_*` settings: one contract for the CLI, the Lambdas and the tests.
//!
//! Every setting is an environment variable (the CLI also takes each as a flag, which it turns
//! into the same lookup) with a local default, so `tote` runs with none set. Values are checked
//! once, at start; an invalid one fails with a message naming the variable and what it expects.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::models::Model;
use crate::tables::SOURCE_TABLES;

/// How the landing zone stores ingested rows: a batch [`DataFormat`] (`TOTE_LANDING_FORMAT`).
pub use crate::batch::DataFormat;

/// tote's configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `TOTE_SOURCE_URL`: the ToteSys database (contains a password: never print it).
    pub source_url: Option<String>,
    /// `TOTE_SOURCE_SECRET_ARN`: a Secrets Manager secret holding the source credentials.
    pub source_secret_arn: Option<String>,
    /// `TOTE_WAREHOUSE_URL`: the warehouse database.
    pub warehouse_url: Option<String>,
    /// `TOTE_WAREHOUSE_SECRET_ARN`: a Secrets Manager secret holding the warehouse credentials.
    pub warehouse_secret_arn: Option<String>,
    /// `TOTE_LANDING`: the landing zone (default `.tote/landing`).
    pub landing: String,
    /// `TOTE_PROCESSED`: the processed zone (default `.tote/processed`).
    pub processed: String,
    /// `TOTE_HOME`: local executions, alerts and caches (default `.tote`).
    pub home: PathBuf,
    /// `TOTE_TABLES`: the tables tote may ingest (default: the eleven ToteSys tables).
    pub tables: Vec<String>,
    /// `TOTE_LANDING_FORMAT`: `parquet` (default) or `csv`.
    pub landing_format: DataFormat,
    /// `TOTE_LOOKBACK`: how far below the high-water mark each ingest re-reads (default 10m).
    pub lookback: Duration,
    /// `TOTE_LOAD_BULK_ROWS`: a fact batch of at least this many rows is inserted with its
    /// foreign keys checked set-based instead of by per-row triggers (default 10000; 0 always,
    /// a huge number never); the loader explains the trade-off.
    pub load_bulk_rows: u64,
    /// `TOTE_LOAD_KEY_VALUES`: distinct values of one foreign-key column the loader gathers
    /// from a batch before it lets the warehouse read them back from the rows written instead
    /// (default 100000): bounds the loader's memory whatever the batch size.
    pub load_key_values: usize,
    /// `TOTE_TRANSFORM_MEMORY_MB`: memory the transform's query engine may hold for sorts and
    /// aggregations before it spills them to local disk (default 64): bounds the transform's
    /// memory whatever the size of a run.
    pub transform_memory_mb: usize,
    /// `TOTE_CHUNK_ROWS`: a table read whole (a first read or a full refresh) with more rows than
    /// this is read in primary-key ranges of about this many rows, one invocation each, and
    /// committed as one batch (default 5000000; 0 never chunks). At the ingest's measured rate
    /// of a few hundred thousand rows a second per invocation, a chunk of the default size takes
    /// well under a minute, far inside Lambda's 900 s.
    pub chunk_rows: u64,
    /// `TOTE_MODELS`: a directory of model files replacing or adding to the built-in models
    /// (default: none, the built-in models).
    pub models_dir: Option<PathBuf>,
    /// The star schema: the built-in models with `TOTE_MODELS`'s files, read and checked at start.
    pub models: Vec<Model>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |u: &Option<String>| u.as_deref().map(crate::credentials::redact);
        f.debug_struct("Config")
            .field("source_url", &redacted(&self.source_url))
            .field("source_secret_arn", &self.source_secret_arn)
            .field("warehouse_url", &redacted(&self.warehouse_url))
            .field("warehouse_secret_arn", &self.warehouse_secret_arn)
            .field("landing", &self.landing)
            .field("processed", &self.processed)
            .field("home", &self.home)
            .field("tables", &self.tables)
            .field("landing_format", &self.landing_format)
            .field("lookback", &self.lookback)
            .field("load_bulk_rows", &self.load_bulk_rows)
            .field("load_key_values", &self.load_key_values)
            .field("transform_memory_mb", &self.transform_memory_mb)
            .field("chunk_rows", &self.chunk_rows)
            .field("models_dir", &self.models_dir)
            .finish()
    }
}

/// Where a database's URL comes from: given whole, or built from a Secrets Manager secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseAddress<'a> {
    /// A `postgres://` URL (it may hold a password: never print it).
    Url(&'a str),
    /// A secret in the RDS shape, by ARN or name.
    Secret {
        /// The secret's ARN or name.
        id: &'a str,
        /// The setting the id came from, for messages.
        variable: &'static str,
        /// The error kind when Secrets Manager does not answer.
        unavailable: ErrorKind,
    },
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (variable name → value), e.g. for tests or flags.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let home = PathBuf::from(get("TOTE_HOME").unwrap_or_else(|| ".tote".to_string()));
        let tables = match get("TOTE_TABLES") {
            None => SOURCE_TABLES.iter().map(|t| t.to_string()).collect(),
            Some(list) => parse_tables(&list)?,
        };
        let landing_format = match get("TOTE_LANDING_FORMAT").as_deref() {
            None | Some("parquet") => DataFormat::Parquet,
            Some("csv") => DataFormat::Csv,
            Some(other) => {
                return Err(Error::config(format!(
                    "TOTE_LANDING_FORMAT={other} is not supported; use parquet or csv"
                )))
            }
        };
        let lookback = match get("TOTE_LOOKBACK") {
            None => Duration::from_secs(600),
            Some(text) => humantime::parse_duration(&text).map_err(|e| {
                Error::config(format!(
                    "TOTE_LOOKBACK={text} is not a duration ({e}); use e.g. 10m, 90s or 1h"
                ))
            })?,
        };
        let load_bulk_rows = parse_count(get("TOTE_LOAD_BULK_ROWS"), "TOTE_LOAD_BULK_ROWS", 10_000)?;
        let load_key_values = parse_count(get("TOTE_LOAD_KEY_VALUES"), "TOTE_LOAD_KEY_VALUES", 100_000)?;
        let transform_memory_mb =
            parse_count(get("TOTE_TRANSFORM_MEMORY_MB"), "TOTE_TRANSFORM_MEMORY_MB", 64)?;
        if transform_memory_mb < 16 {
            return Err(Error::config(format!(
                "TOTE_TRANSFORM_MEMORY_MB={transform_memory_mb} is too small for the transform's sorts; use at least 16"
            )));
        }
        let chunk_rows = parse_count(get("TOTE_CHUNK_ROWS"), "TOTE_CHUNK_ROWS", 5_000_000)?;
        for var in ["TOTE_SOURCE_URL", "TOTE_WAREHOUSE_URL"] {
            if let Some(url) = get(var) {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(Error::config(format!(
                        "{var} must be a postgres:// URL, got {}",
                        crate::credentials::redact(&url)
                    )));
                }
            }
        }
        let models_dir = get("TOTE_MODELS").map(PathBuf::from);
        let models = match &models_dir {
            Some(dir) => crate::models::load(Some(dir))?,
            None => crate::models::built_in().to_vec(),
        };
        Ok(Config {
            source_url: get("TOTE_SOURCE_URL"),
            source_secret_arn: get("TOTE_SOURCE_SECRET_ARN"),
            warehouse_url: get("TOTE_WAREHOUSE_URL"),
            warehouse_secret_arn: get("TOTE_WAREHOUSE_SECRET_ARN"),
            landing: get("TOTE_LANDING").unwrap_or_else(|| home.join("landing").display().to_string()),
            processed: get("TOTE_PROCESSED").unwrap_or_else(|| home.join("processed").display().to_string()),
            home,
            tables,
            landing_format,
            lookback,
            load_bulk_rows,
            load_key_values,
            transform_memory_mb,
            chunk_rows,
            models_dir,
            models,
        })
    }

    /// Where the source database's URL comes from: `TOTE_SOURCE_URL`, else the Secrets Manager
    /// secret `TOTE_SOURCE_SECRET_ARN` (`tote_io::secrets::source_url` reads it); a `Tote.Config`
    /// error saying how to give one when neither is set.
    pub fn source_address(&self) -> Result<DatabaseAddress<'_>> {
        match (&self.source_url, &self.source_secret_arn) {
            (Some(url), _) => Ok(DatabaseAddress::Url(url)),
            (None, Some(arn)) => Ok(DatabaseAddress::Secret {
                id: arn,
                variable: "TOTE_SOURCE_SECRET_ARN",
                unavailable: ErrorKind::SourceUnavailable,
            }),
            (None, None) => Err(Error::config(
                "no source database: set TOTE_SOURCE_URL=postgres://user:password@host:port/dbname \
                 (or --source-url), or TOTE_SOURCE_SECRET_ARN in AWS",
            )),
        }
    }

    /// Where the warehouse's URL comes from: `TOTE_WAREHOUSE_URL`, else the secret
    /// `TOTE_WAREHOUSE_SECRET_ARN`.
    pub fn warehouse_address(&self) -> Result<DatabaseAddress<'_>> {
        match (&self.warehouse_url, &self.warehouse_secret_arn) {
            (Some(url), _) => Ok(DatabaseAddress::Url(url)),
            (None, Some(arn)) => Ok(DatabaseAddress::Secret {
                id: arn,
                variable: "TOTE_WAREHOUSE_SECRET_ARN",
                unavailable: ErrorKind::WarehouseUnavailable,
            }),
            (None, None) => Err(Error::config(
                "no warehouse: set TOTE_WAREHOUSE_URL=postgres://user:password@host:port/dbname \
                 (or --warehouse-url), or TOTE_WAREHOUSE_SECRET_ARN in AWS",
            )),
        }
    }

    /// The lookback as a signed span of source time.
    pub fn lookback_span(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lookback).unwrap_or(chrono::Duration::MAX)
    }
}

/// A whole-number setting `name`: `default` when unset, a `Tote.Config` error naming it when not
/// a number.
fn parse_count<T: std::str::FromStr + std::fmt::Display>(
    value: Option<String>,
    name: &str,
    default: T,
) -> Result<T> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| Error::config(format!("{name}={text} is not a whole number; use e.g. {default}"))),
    }
}

fn parse_tables(list: &str) -> Result<Vec<String>> {
    let mut tables = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !SOURCE_TABLES.contains(&name) {
            return Err(Error::config(format!(
                "TOTE_TABLES names `{name}`, which is not a ToteSys table; choose from {}",
                SOURCE_TABLES.join(", ")
            )));
        }
        if !tables.iter().any(|t| t == name) {
            tables.push(name.to_string());
        }
    }
    if tables.is_empty() {
        return Err(Error::config("TOTE_TABLES is set but names no table"));
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_nothing() {
        let c = config(&[]).unwrap();
        assert_eq!(c.tables.len(), 11);
        assert_eq!(c.landing, ".tote/landing");
        assert_eq!(c.landing_format, DataFormat::Parquet);
        assert_eq!(c.lookback, Duration::from_secs(600));
        assert!(c
            .source_address()
            .unwrap_err()
            .to_string()
            .contains("TOTE_SOURCE_URL"));
        assert!(c
            .warehouse_address()
            .unwrap_err()
            .to_string()
            .contains("TOTE_WAREHOUSE_URL"));
        let given = config(&[("TOTE_SOURCE_SECRET_ARN", "arn:s")]).unwrap();
        assert_eq!(
            given.source_address().unwrap(),
            DatabaseAddress::Secret {
                id: "arn:s",
                variable: "TOTE_SOURCE_SECRET_ARN",
                unavailable: ErrorKind::SourceUnavailable
            }
        );
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (var, value) in [
            ("TOTE_TABLES", "staff,_prisma_migrations"),
            ("TOTE_LANDING_FORMAT", "xml"),
            ("TOTE_LOOKBACK", "ten minutes"),
            ("TOTE_LOAD_BULK_ROWS", "many"),
            ("TOTE_LOAD_KEY_VALUES", "-1"),
            ("TOTE_TRANSFORM_MEMORY_MB", "lots"),
            ("TOTE_TRANSFORM_MEMORY_MB", "8"),
            ("TOTE_SOURCE_URL", "mysql://u:hunter2@h/db"),
            ("TOTE_WAREHOUSE_URL", "redshift://u:hunter2@h/db"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config);
            assert!(err.message().contains(var), "{err}");
            assert!(!err.message().contains("hunter2"), "password leaked: {err}");
        }
    }

    #[test]
    fn debug_output_hides_passwords() {
        let c = config(&[("TOTE_SOURCE_URL", "postgres://u:hunter2@h/db")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
