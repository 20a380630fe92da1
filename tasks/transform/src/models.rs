//! What the transform makes of the SQL models (declared in `tasks/transform/models/`, read by
//! [`tote_core::models`]): the tables a model can name, and the checks on what it yields.
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

pub use tote_core::models::Model;
use tote_core::tables::SOURCE_TABLES;
use tote_core::{Error, Result};

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

/// Checks that `model`'s SELECT yields exactly the columns its declaration lists (in any order).
pub fn check_columns<'a>(model: &Model, yielded: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let yielded: std::collections::BTreeSet<&str> = yielded.into_iter().collect();
    let declared: std::collections::BTreeSet<&str> = model.columns.iter().map(String::as_str).collect();
    if yielded == declared {
        return Ok(());
    }
    let list = |s: std::collections::BTreeSet<&&str>| s.into_iter().copied().collect::<Vec<_>>().join(", ");
    let extra = list(yielded.difference(&declared).collect());
    let missing = list(declared.difference(&yielded).collect());
    Err(Error::new(
        tote_core::ErrorKind::ModelFailed,
        format!(
            "model {name} yields columns its declaration does not list ({extra}) or lacks declared ones \
             ({missing}); make {name}.sql and {name}.toml agree (built in, or in TOTE_MODELS) and run again",
            name = model.name,
            extra = if extra.is_empty() { "none" } else { &extra },
            missing = if missing.is_empty() { "none" } else { &missing },
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_models_keep_state_only_for_small_tables() {
        let models = tote_core::models::built_in();
        assert_eq!(models.len(), 11);
        assert_eq!(
            current_state_tables(models),
            vec!["address", "counterparty", "department", "staff"]
        );
    }

    #[test]
    fn a_model_yielding_other_columns_than_declared_fails_naming_both_files() {
        let staff = tote_core::models::find(tote_core::models::built_in(), "dim_staff").unwrap();
        let mut columns: Vec<&str> = staff.columns.iter().map(String::as_str).rev().collect();
        check_columns(staff, columns.iter().copied()).unwrap();
        columns.pop();
        columns.push("nickname");
        let message = check_columns(staff, columns).unwrap_err().to_string();
        assert!(
            message.contains("(nickname)") && message.contains("(staff_id)"),
            "{message}"
        );
        assert!(message.contains("dim_staff.sql and dim_staff.toml"), "{message}");
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
