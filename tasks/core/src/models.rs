//! The star schema, declared once: one model per warehouse table, in `tasks/transform/models/`.
//!
//! A model is a set of files named after its warehouse table:
//!
//! | file | what it says | who reads it |
//! |---|---|---|
//! | `<model>.toml` | the table's kind (dimension or fact), its keys and its columns | every stage |
//! | `<model>.sql` | the SELECT that builds the table from the landing zone (DataFusion SQL) | transform |
//! | `<model>.deletions.sql` | the keys the table loses from the current state (optional) | transform |
//! | `<model>.findings.sql` | data-quality findings (optional) | transform |
//! | `<model>.verify.sql` | the table as the source has it now (Postgres SQL, optional) | `tote verify` |
//!
//! The transform checks that a model's SELECT yields the declared columns; the load merges a
//! batch by the declared kind and keys; `tote verify` compares the columns `<model>.verify.sql`
//! selects (named as the warehouse's, the natural key first) with schema `current`; and a test
//! proves the hand-written migrations create exactly the declared tables. Adding a model is adding
//! its files (and its table to a migration): no Rust changes.
//!
//! The files are compiled in (so a Lambda image carries them); `TOTE_MODELS` may name a directory
//! whose files replace the built-in ones of the same name and may add models.
//!
//! Declared names are identifiers (`[a-z_][a-z0-9_]*`), checked here, and are still quoted
//! wherever they reach SQL.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// How a warehouse table is keyed, which decides how the load merges a batch into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// SCD type 1: one row per natural key, updated in place when a value changed.
    Dimension {
        /// The primary-key column (the source's natural id).
        key: String,
    },
    /// Full history: one row per source version, never updated.
    Fact {
        /// The SERIAL record id the warehouse assigns (not a model column).
        record_id: String,
        /// The columns identifying a version: natural id, last_updated date, last_updated time.
        version: [String; 3],
    },
}

impl Kind {
    /// The column holding the source's natural id: a dimension's key, a fact's first version
    /// column. Deletions and `tote verify` are keyed by it.
    pub fn natural_key(&self) -> &str {
        match self {
            Kind::Dimension { key } => key,
            Kind::Fact { version, .. } => &version[0],
        }
    }

    /// Whether the table keeps every version.
    pub fn is_fact(&self) -> bool {
        matches!(self, Kind::Fact { .. })
    }
}

/// One model: a warehouse table's declaration and its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The warehouse table, e.g. `dim_staff`.
    pub name: String,
    /// Its kind and keys (`<model>.toml`).
    pub kind: Kind,
    /// The columns the model's SELECT yields and the load writes (`<model>.toml`), without a
    /// fact's record id.
    pub columns: Vec<String>,
    /// The model's SQL (one SELECT).
    pub sql: String,
    /// `<model>.findings.sql`, if the model has one: a SELECT of `column_name`, `message` and
    /// `affected_rows`; each row with rows > 0 is a finding recorded in the batch manifest and
    /// logged as a warning.
    pub findings_sql: Option<String>,
    /// `<model>.deletions.sql`, if the model has one: a SELECT of the model's key column,
    /// `detected_at` and `restored`, usually from a `T__deletions` table.
    pub deletions_sql: Option<String>,
    /// `<model>.verify.sql`, if the model has one: a Postgres SELECT over the source of the
    /// natural key and some of the model's columns, named as the warehouse names them.
    pub verify_sql: Option<String>,
}

/// What `<model>.toml` holds.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum Declaration {
    Dimension {
        key: String,
        columns: Vec<String>,
    },
    Fact {
        record_id: String,
        version: [String; 3],
        columns: Vec<String>,
    },
}

/// The files of `tasks/transform/models`, `(file name, contents)`, embedded by `build.rs`.
const BUILT_IN_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/built_in_models.rs"));

/// One model's files, by suffix.
#[derive(Default)]
struct Files {
    declaration: Option<(String, String)>,
    sql: Option<String>,
    findings: Option<String>,
    deletions: Option<String>,
    verify: Option<String>,
}

/// The built-in models (see [`load`] for the order). The set is checked by this module's tests,
/// so it always parses.
pub fn built_in() -> &'static [Model] {
    static BUILT_IN: std::sync::LazyLock<Vec<Model>> =
        std::sync::LazyLock::new(|| load(None).expect("the built-in models are valid"));
    &BUILT_IN
}

/// The models, built in, with the files of `dir` (`TOTE_MODELS`) replacing or adding to them:
/// dimensions first, then facts (facts reference dimensions), each by name.
pub fn load(dir: Option<&Path>) -> Result<Vec<Model>> {
    let mut files: BTreeMap<String, Files> = BTreeMap::new();
    for (name, contents) in BUILT_IN_FILES {
        add_file(&mut files, name, contents.to_string(), "built-in model")?;
    }
    if let Some(dir) = dir {
        let unreadable =
            |e: std::io::Error| Error::config(format!("TOTE_MODELS: cannot read {}: {e}", dir.display()));
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(unreadable)?
            .collect::<std::io::Result<_>>()
            .map_err(unreadable)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !path.is_file() || !(name.ends_with(".sql") || name.ends_with(".toml")) {
                continue;
            }
            let contents = std::fs::read_to_string(&path).map_err(|e| {
                Error::config(format!("TOTE_MODELS: cannot read {}: {e}", path.display())).with_source(e)
            })?;
            add_file(
                &mut files,
                name,
                contents,
                &format!("TOTE_MODELS {}", dir.display()),
            )?;
        }
    }
    let mut models = files
        .into_iter()
        .map(|(name, files)| model(name, files))
        .collect::<Result<Vec<_>>>()?;
    models.sort_by_key(|m| (m.kind.is_fact(), m.name.clone()));
    Ok(models)
}

/// The model named `name` among `models`.
pub fn find<'a>(models: &'a [Model], name: &str) -> Option<&'a Model> {
    models.iter().find(|m| m.name == name)
}

/// Files one model file under its model, by suffix; a later file replaces an earlier one.
fn add_file(files: &mut BTreeMap<String, Files>, file: &str, contents: String, origin: &str) -> Result<()> {
    let (model, suffix) = file.split_once('.').expect("the name ends in .sql or .toml");
    if !is_identifier(model) {
        return Err(Error::config(format!(
            "{origin}: {file}: a model is named after its warehouse table, in lower case letters, digits and _"
        )));
    }
    let entry = files.entry(model.to_string()).or_default();
    match suffix {
        "toml" => entry.declaration = Some((format!("{origin}: {file}"), contents)),
        "sql" => entry.sql = Some(contents),
        "findings.sql" => entry.findings = Some(contents),
        "deletions.sql" => entry.deletions = Some(contents),
        "verify.sql" => entry.verify = Some(contents),
        _ => {
            return Err(Error::config(format!(
                "{origin}: {file} is not a model file; name it <model>.toml, <model>.sql, \
                 <model>.deletions.sql, <model>.findings.sql or <model>.verify.sql"
            )))
        }
    }
    Ok(())
}

/// Builds one model from its files, checking the declaration.
fn model(name: String, files: Files) -> Result<Model> {
    let Some((origin, declaration)) = files.declaration else {
        return Err(Error::config(format!(
            "model {name} has SQL but no {name}.toml declaring its kind, keys and columns; add one \
             (see tasks/transform/models/dim_staff.toml)"
        )));
    };
    let Some(sql) = files.sql else {
        return Err(Error::config(format!(
            "{origin} declares model {name} but there is no {name}.sql to build it; add one"
        )));
    };
    let invalid = |why: String| Error::config(format!("{origin} is not a valid model declaration: {why}"));
    let declaration: Declaration =
        toml::from_str(&declaration).map_err(|e| invalid(e.message().to_string()))?;
    let (kind, columns) = match declaration {
        Declaration::Dimension { key, columns } => (Kind::Dimension { key }, columns),
        Declaration::Fact {
            record_id,
            version,
            columns,
        } => (Kind::Fact { record_id, version }, columns),
    };
    if columns.is_empty() {
        return Err(invalid("columns is empty".into()));
    }
    for column in &columns {
        if !is_identifier(column) {
            return Err(invalid(format!(
                "column {column:?} is not a lower-case identifier"
            )));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(invalid(format!("column {twice} is listed twice")));
    }
    let keys: Vec<&String> = match &kind {
        Kind::Dimension { key } => vec![key],
        Kind::Fact { version, .. } => version.iter().collect(),
    };
    if let Some(key) = keys.iter().find(|k| !columns.contains(k)) {
        return Err(invalid(format!("key column {key} is not one of its columns")));
    }
    if let Kind::Fact { record_id, .. } = &kind {
        if !is_identifier(record_id) || columns.contains(record_id) {
            return Err(invalid(format!(
                "record_id {record_id} must be an identifier the warehouse assigns, not one of the columns"
            )));
        }
    }
    Ok(Model {
        name,
        kind,
        columns,
        sql,
        findings_sql: files.findings,
        deletions_sql: files.deletions,
        verify_sql: files.verify,
    })
}

/// Whether `name` is a lower-case SQL identifier: `[a-z_][a-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_star_schema_is_eleven_tables_dimensions_first() {
        let names: Vec<&str> = built_in().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dim_counterparty",
                "dim_currency",
                "dim_date",
                "dim_design",
                "dim_location",
                "dim_payment_type",
                "dim_staff",
                "dim_transaction",
                "fact_payment",
                "fact_purchase_order",
                "fact_sales_order",
            ]
        );
        let payment = find(built_in(), "fact_payment").unwrap();
        assert_eq!(payment.kind.natural_key(), "payment_id");
        assert!(payment.verify_sql.is_some() && payment.deletions_sql.is_some());
        let date = find(built_in(), "dim_date").unwrap();
        assert_eq!(
            date.kind,
            Kind::Dimension {
                key: "date_id".into()
            }
        );
        assert!(date.deletions_sql.is_none() && date.verify_sql.is_none());
    }

    #[test]
    fn a_directory_replaces_and_adds_models() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dim_staff.sql"), "SELECT 1 AS staff_id").unwrap();
        std::fs::write(
            dir.path().join("dim_team.toml"),
            "kind = \"dimension\"\nkey = \"team_id\"\ncolumns = [\"team_id\", \"team_name\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("dim_team.sql"),
            "SELECT 1 AS team_id, 'a' AS team_name",
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "not a model").unwrap();
        let models = load(Some(dir.path())).unwrap();
        assert_eq!(models.len(), 12);
        let staff = find(&models, "dim_staff").unwrap();
        assert_eq!(staff.sql, "SELECT 1 AS staff_id");
        assert_eq!(staff.columns, find(built_in(), "dim_staff").unwrap().columns);
        assert_eq!(
            find(&models, "dim_team").unwrap().columns,
            ["team_id", "team_name"]
        );
        // Dimensions (by name) before facts.
        assert_eq!(models.iter().position(|m| m.name == "dim_team"), Some(7));
    }

    #[test]
    fn a_bad_declaration_is_refused_naming_the_file_and_the_fault() {
        let cases = [
            ("kind = \"dimension\"\nkey = \"x_id\"\ncolumns = [\"name\"]\n", "key column x_id is not one of its columns"),
            ("kind = \"cube\"\ncolumns = [\"x_id\"]\n", "unknown variant `cube`"),
            ("kind = \"dimension\"\nkey = \"x_id\"\ncolumns = [\"x_id\", \"x_id\"]\n", "column x_id is listed twice"),
            (
                "kind = \"fact\"\nrecord_id = \"x_id\"\nversion = [\"x_id\", \"d\", \"t\"]\ncolumns = [\"x_id\", \"d\", \"t\"]\n",
                "record_id x_id must be an identifier the warehouse assigns",
            ),
            ("kind = \"dimension\"\nkey = \"x_id\"\ncolumns = [\"X-Id\"]\n", "is not a lower-case identifier"),
        ];
        for (declaration, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("dim_x.toml"), declaration).unwrap();
            std::fs::write(dir.path().join("dim_x.sql"), "SELECT 1").unwrap();
            let message = load(Some(dir.path())).unwrap_err().to_string();
            assert!(
                message.contains("dim_x.toml") && message.contains(expected),
                "{message}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dim_x.sql"), "SELECT 1").unwrap();
        let message = load(Some(dir.path())).unwrap_err().to_string();
        assert!(message.contains("no dim_x.toml"), "{message}");
        std::fs::write(dir.path().join("dim_x.extra.sql"), "SELECT 1").unwrap();
        let message = load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            message.contains("dim_x.extra.sql is not a model file"),
            "{message}"
        );
    }
}
