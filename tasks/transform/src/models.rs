//! The SQL models: one file per warehouse table in `tasks/transform/models/`.
//!
//! The files are compiled into the binary (so a Lambda image carries them), and `TOTE_MODELS`
//! may name a directory whose `<model>.sql` files replace them at run time, so a data engineer
//! can change a model without touching Rust.
//!
//! Inside a model, each source table `T` is available twice:
//!
//! - `T__changes`: every new version of a row since the last transform (one row per
//!   `(primary key, last_updated)`, duplicates already removed);
//! - `T`: the table's current state (the latest version of every row). Naming `T` makes the
//!   transform keep a compacted snapshot of that table, updated each run; the shipped models
//!   name only the small tables (`staff`, `department`, `counterparty`, `address`), so a run's
//!   cost follows the change, not the history.
//!
//! and, for deletions, `T__deletions`: the keys of `T` found deleted by the ingests this run
//! consumes (the key column, named as in `T`; `detected_at`, the source's clock when the ingest
//! no longer saw it; `restored`, true when a later batch of the run holds a version of that key
//! again). A model's `<model>.deletions.sql` selects, from those, the warehouse rows its table
//! loses from the current state: its key column, `detected_at` and `restored`. A model without
//! one (`dim_date`) has no deletions.
//!
//! A function `iso_currency_name(code)` gives a currency's ISO 4217 name.

use std::path::Path;

use tote_core::tables::{SOURCE_TABLES, WAREHOUSE_TABLES};
use tote_core::{Error, Result};

/// A model: the warehouse table it produces, its SQL, and its data-quality findings query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The warehouse table, e.g. `dim_staff`.
    pub name: String,
    /// The model's SQL (one SELECT).
    pub sql: String,
    /// `<model>.findings.sql`, if the model has one: a SELECT of `column_name`, `message` and
    /// `affected_rows`; each row with rows > 0 is a finding recorded in the batch manifest and
    /// logged as a warning.
    pub findings_sql: Option<String>,
    /// `<model>.deletions.sql`, if the model has one: a SELECT of the model's key column,
    /// `detected_at` and `restored`, usually from a `T__deletions` table.
    pub deletions_sql: Option<String>,
}

const BUILT_IN: [(&str, &str); 11] = [
    ("dim_date", include_str!("../models/dim_date.sql")),
    ("dim_staff", include_str!("../models/dim_staff.sql")),
    ("dim_location", include_str!("../models/dim_location.sql")),
    ("dim_currency", include_str!("../models/dim_currency.sql")),
    ("dim_design", include_str!("../models/dim_design.sql")),
    ("dim_counterparty", include_str!("../models/dim_counterparty.sql")),
    ("dim_payment_type", include_str!("../models/dim_payment_type.sql")),
    ("dim_transaction", include_str!("../models/dim_transaction.sql")),
    ("fact_sales_order", include_str!("../models/fact_sales_order.sql")),
    (
        "fact_purchase_order",
        include_str!("../models/fact_purchase_order.sql"),
    ),
    ("fact_payment", include_str!("../models/fact_payment.sql")),
];

const BUILT_IN_FINDINGS: [(&str, &str); 1] =
    [("dim_staff", include_str!("../models/dim_staff.findings.sql"))];

const BUILT_IN_DELETIONS: [(&str, &str); 10] = [
    ("dim_staff", include_str!("../models/dim_staff.deletions.sql")),
    (
        "dim_location",
        include_str!("../models/dim_location.deletions.sql"),
    ),
    (
        "dim_currency",
        include_str!("../models/dim_currency.deletions.sql"),
    ),
    ("dim_design", include_str!("../models/dim_design.deletions.sql")),
    (
        "dim_counterparty",
        include_str!("../models/dim_counterparty.deletions.sql"),
    ),
    (
        "dim_payment_type",
        include_str!("../models/dim_payment_type.deletions.sql"),
    ),
    (
        "dim_transaction",
        include_str!("../models/dim_transaction.deletions.sql"),
    ),
    (
        "fact_sales_order",
        include_str!("../models/fact_sales_order.deletions.sql"),
    ),
    (
        "fact_purchase_order",
        include_str!("../models/fact_purchase_order.deletions.sql"),
    ),
    (
        "fact_payment",
        include_str!("../models/fact_payment.deletions.sql"),
    ),
];

/// The eleven models, in warehouse order (dimensions first), from `dir` where it has a file for
/// a model, else built in.
pub fn load(dir: Option<&Path>) -> Result<Vec<Model>> {
    let mut models = Vec::with_capacity(WAREHOUSE_TABLES.len());
    for (name, built_in) in BUILT_IN {
        debug_assert!(WAREHOUSE_TABLES.contains(&name));
        let sql = companion(dir, name, "sql", &[(name, built_in)])?.expect("built in");
        let findings_sql = companion(dir, name, "findings.sql", &BUILT_IN_FINDINGS)?;
        let deletions_sql = companion(dir, name, "deletions.sql", &BUILT_IN_DELETIONS)?;
        models.push(Model {
            name: name.to_string(),
            sql,
            findings_sql,
            deletions_sql,
        });
    }
    Ok(models)
}

/// The file `<model>.<suffix>` from `dir` where it is there, else the built-in one, if any.
fn companion(
    dir: Option<&Path>,
    model: &str,
    suffix: &str,
    built_in: &[(&str, &str)],
) -> Result<Option<String>> {
    match dir
        .map(|d| d.join(format!("{model}.{suffix}")))
        .filter(|p| p.exists())
    {
        Some(path) => std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| Error::config(format!("TOTE_MODELS: cannot read {}: {e}", path.display()))),
        None => Ok(built_in
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, sql)| sql.to_string())),
    }
}

/// The source tables whose current state some model names (not just their `__changes`).
pub fn current_state_tables(models: &[Model]) -> Vec<&'static str> {
    SOURCE_TABLES
        .iter()
        .copied()
        .filter(|table| {
            models.iter().any(|m| {
                [
                    Some(m.sql.as_str()),
                    m.findings_sql.as_deref(),
                    m.deletions_sql.as_deref(),
                ]
                .into_iter()
                .flatten()
                .any(|sql| names_table(sql, table))
            })
        })
        .collect()
}

/// Whether `sql` names `table` as an identifier (quoted or not), outside comments.
fn names_table(sql: &str, table: &str) -> bool {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|token| token.eq_ignore_ascii_case(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_models_keep_state_only_for_small_tables() {
        let models = load(None).unwrap();
        assert_eq!(models.len(), 11);
        assert_eq!(
            current_state_tables(&models),
            vec!["address", "counterparty", "department", "staff"]
        );
    }

    #[test]
    fn table_names_are_whole_identifiers() {
        assert!(names_table("SELECT * FROM \"transaction\"", "transaction"));
        assert!(!names_table(
            "SELECT transaction_id FROM transaction__changes",
            "transaction"
        ));
        assert!(!names_table(
            "-- reads staff\nSELECT 1 FROM staff__changes",
            "staff"
        ));
    }
}
