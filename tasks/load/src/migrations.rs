//! Versioned, idempotent migrations of the warehouse schema.
//!
//! Each migration is an SQL file in `tasks/load/migrations/`, compiled in. [`migrate`] applies the
//! ones a warehouse has not seen, in order, in one transaction under an advisory lock, and records
//! each (version, name, SHA-256 of its SQL) in `tote.schema_migrations`. Running it again does
//! nothing; two loaders racing on a new warehouse serialise on the lock; a recorded migration
//! whose SQL has since changed is refused, because the warehouse no longer matches the code.

use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use tote_core::{Error, ErrorKind, Result};

use crate::warehouse_error;

/// One migration: a version (applied in ascending order), a name, and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in ascending order; never reused.
    pub version: i32,
    /// A short name, for people.
    pub name: &'static str,
    /// The SQL, run as one batch inside the migration transaction.
    pub sql: &'static str,
}

/// Every migration, oldest first. Append only: an applied migration must never change.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "star_schema",
        sql: include_str!("../migrations/0001_star_schema.sql"),
    },
    Migration {
        version: 2,
        name: "deletions",
        sql: include_str!("../migrations/0002_deletions.sql"),
    },
];

/// Advisory-lock key (two int4 halves) serialising migrations: "tote" and 1.
const LOCK: (i32, i32) = (0x746f_7465, 1);

/// Brings the warehouse schema up to date. Returns the versions applied by this call (empty when
/// it was already current).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>> {
    let tx = client.transaction().await.map_err(warehouse_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK.0, &LOCK.1])
        .await
        .map_err(warehouse_error)?;
    // Only a new warehouse needs the DDL, so a loader without CREATE rights runs against a
    // warehouse its owner has migrated (`tote warehouse migrate`).
    let known: bool = tx
        .query_one("SELECT to_regclass('tote.schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(warehouse_error)?
        .get(0);
    if !known {
        tx.batch_execute(
            "CREATE SCHEMA IF NOT EXISTS tote;
         CREATE TABLE IF NOT EXISTS tote.schema_migrations (
             version     INT PRIMARY KEY,
             name        TEXT NOT NULL,
             sha256      TEXT NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         );",
        )
        .await
        .map_err(warehouse_error)?;
    }
    let applied = tx
        .query(
            "SELECT version, name, sha256 FROM tote.schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(warehouse_error)?;
    let mut done = Vec::new();
    for row in &applied {
        let (version, name, sha): (i32, String, String) = (row.get(0), row.get(1), row.get(2));
        match MIGRATIONS.iter().find(|m| m.version == version) {
            Some(m) if checksum(m.sql) == sha => done.push(version),
            Some(m) => {
                return Err(Error::config(format!(
                    "warehouse migration {version} ({}) was applied from different SQL than this \
                     build of tote has; the warehouse and the code disagree: restore \
                     tasks/load/migrations/ to the applied version, or add a new migration instead \
                     of editing an applied one",
                    m.name
                )))
            }
            None => {
                return Err(Error::config(format!(
                    "the warehouse has migration {version} ({name}), which this build of tote does \
                     not know; it was migrated by a newer tote: upgrade tote"
                )))
            }
        }
    }
    let mut newly = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tx.batch_execute(m.sql).await.map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "warehouse migration {} ({}) failed: {}; the warehouse was left as it was",
                    m.version,
                    m.name,
                    tote_io::pg::describe(&e)
                ),
            )
        })?;
        tx.execute(
            "INSERT INTO tote.schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &checksum(m.sql)],
        )
        .await
        .map_err(warehouse_error)?;
        newly.push(m.version);
    }
    tx.commit().await.map_err(warehouse_error)?;
    if !newly.is_empty() {
        tracing::info!(versions = ?newly, "warehouse migrated");
    }
    Ok(newly)
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_without_reuse() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        assert_eq!(MIGRATIONS[0].version, 1);
    }

    /// The `current` view a model's declaration calls for: every row of a dimension whose key
    /// is not deleted (every row, for one that cannot be deleted: no `deletions.sql`), the
    /// latest version of each fact whose natural id is not deleted.
    fn expected_view(model: &tote_core::models::Model) -> String {
        use tote_core::models::Kind;
        let name = &model.name;
        let not_deleted = |alias: &str, key: &str| {
            format!(
                "WHERE NOT EXISTS ( SELECT 1 FROM deletion x WHERE x.star_table = '{name}' \
                 AND x.natural_id = {alias}.{key} AND x.restored_by IS NULL )"
            )
        };
        match &model.kind {
            Kind::Dimension { .. } if model.deletions_sql.is_none() => {
                format!("CREATE VIEW current.{name} AS SELECT d.* FROM {name} d;")
            }
            Kind::Dimension { key } => format!(
                "CREATE VIEW current.{name} AS SELECT d.* FROM {name} d {};",
                not_deleted("d", key)
            ),
            Kind::Fact { record_id, version } => format!(
                "CREATE VIEW current.{name} AS SELECT DISTINCT ON (f.{id}) f.* FROM {name} f {} \
                 ORDER BY f.{id}, f.{} DESC, f.{} DESC, f.{record_id} DESC;",
                not_deleted("f", &version[0]),
                version[1],
                version[2],
                id = version[0],
            ),
        }
    }

    /// The views of schema `current` restate each star table's keys; this holds them to the
    /// models' declarations, so a key or version column changed in a `<model>.toml` without a
    /// migration that redefines its view fails here.
    #[test]
    fn every_current_view_follows_its_models_declaration() {
        let sql: String = MIGRATIONS.iter().map(|m| m.sql).collect::<Vec<_>>().join("\n");
        let code: String = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        let normalised = code.split_whitespace().collect::<Vec<_>>().join(" ");
        let views: Vec<&str> = normalised
            .split("CREATE VIEW current.")
            .skip(1)
            .map(|rest| rest.split(' ').next().unwrap_or_default())
            .collect();
        let models = tote_core::models::built_in();
        let mut declared: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        let mut found = views.clone();
        declared.sort_unstable();
        found.sort_unstable();
        assert_eq!(found, declared, "one current view per star table");
        for model in models {
            let expected = expected_view(model);
            assert!(
                normalised.contains(&expected),
                "current.{} does not follow its declaration; expected:\n{expected}",
                model.name
            );
        }
    }
}
