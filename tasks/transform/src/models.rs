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

/// The eleven models, in warehouse order (dimensions first), from `dir` where it has a file for
/// a model, else built in.
pub fn load(dir: Option<&Path>) -> Result<Vec<Model>> {
    let mut models = Vec::with_capacity(WAREHOUSE_TABLES.len());
    for (name, built_in) in BUILT_IN {
        debug_assert!(WAREHOUSE_TABLES.contains(&name));
        let sql = match dir.map(|d| d.join(format!("{name}.sql"))).filter(|p| p.exists()) {
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| Error::config(format!("TOTE_MODELS: cannot read {}: {e}", path.display())))?,
            None => built_in.to_string(),
        };
        let findings_path = dir
            .map(|d| d.join(format!("{name}.findings.sql")))
            .filter(|p| p.exists());
        let findings_sql =
            match findings_path {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    Error::config(format!("TOTE_MODELS: cannot read {}: {e}", path.display()))
                })?),
                None => BUILT_IN_FINDINGS
                    .iter()
                    .find(|(m, _)| *m == name)
                    .map(|(_, sql)| sql.to_string()),
            };
        models.push(Model {
            name: name.to_string(),
            sql,
            findings_sql,
        });
    }
    Ok(models)
}

/// The source tables whose current state some model names (not just their `__changes`).
pub fn current_state_tables(models: &[Model]) -> Vec<&'static str> {
    SOURCE_TABLES
        .iter()
        .copied()
        .filter(|table| {
            models.iter().any(|m| {
                names_table(&m.sql, table) || m.findings_sql.as_deref().is_some_and(|f| names_table(f, table))
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
