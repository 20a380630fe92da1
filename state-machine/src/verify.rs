//! `tote verify`: reconcile the warehouse with the source, table by table.
//!
//! For each model with a `<model>.verify.sql` ([`tote_core::models`]), both databases are asked
//! for `(natural id, digest of the current values)` ordered by id, and the two streams are merged,
//! so memory stays flat however big the tables are. The source side is that query: the source's
//! current state expressed in Postgres SQL (the same rules as the model: staff ⨝ department with
//! 'Unknown' for a missing location, dates and times split, prices at two places), its columns
//! named as the warehouse's; the warehouse side is the same columns of schema `current`, the
//! source's current state as the warehouse holds it (each dimension row and each fact's latest
//! version whose source row still exists). Unconstrained numerics are compared by value
//! (`trim_scale`).
//!
//! An id only in the source, only in `current`, or with different values, is a mismatch. Rows
//! deleted at the source are counted from the warehouse's `deletion` table (deletions in force):
//! the warehouse keeps their history, so they are reported, not a mismatch. `dim_date` has no
//! source counterpart (no `dim_date.verify.sql`); its foreign keys already guarantee that every date a fact uses is there.

use std::cmp::Ordering;

use futures_util::{pin_mut, TryStreamExt};
use serde::Serialize;
use tokio_postgres::types::Type;
use tokio_postgres::Client;
use tote_core::models::Model;
use tote_core::tables::quote_ident;

/// One table's reconciliation: the two SQL queries, each yielding `(id bigint, digest text)`
/// ordered by id.
struct Check {
    table: String,
    source: String,
    warehouse: String,
    /// The warehouse table keeps every version (a fact): also count its rows.
    versions: bool,
}

impl Check {
    /// The check of `model`, from its `<model>.verify.sql`; `None` for a model without one.
    ///
    /// The query's columns name the warehouse columns compared, the natural key first. Both sides
    /// digest the same columns in the same order, each side's `ROW(…)::text` through `md5`; an
    /// unconstrained numeric may carry trailing zeros on one side, so numerics are compared by
    /// value (`trim_scale`).
    async fn of(model: &Model, source: &Client, warehouse: &Client) -> tote_core::Result<Option<Check>> {
        let Some(sql) = &model.verify_sql else {
            return Ok(None);
        };
        let sql = sql.trim().trim_end_matches(';');
        let file = format!("{}.verify.sql", model.name);
        let statement = source.prepare(sql).await.map_err(|e| {
            tote_core::Error::config(format!(
                "{file} does not run on the source: {}; fix it (built in, or in TOTE_MODELS)",
                tote_io::pg::describe(&e)
            ))
        })?;
        let columns: Vec<String> = statement.columns().iter().map(|c| c.name().to_string()).collect();
        let key = model.kind.natural_key();
        if columns.first().map(String::as_str) != Some(key) {
            return Err(tote_core::Error::config(format!(
                "{file} must select the natural key {key} first; it selects {}",
                columns.join(", ")
            )));
        }
        if let Some(unknown) = columns.iter().find(|c| !model.columns.contains(c)) {
            return Err(tote_core::Error::config(format!(
                "{file} selects {unknown}, which is not a column of {} ({}.toml); name each column \
                 as the warehouse does",
                model.name, model.name
            )));
        }
        let table = quote_ident(&model.name);
        let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let current = format!("SELECT {} FROM current.{table}", quoted.join(", "));
        let types = warehouse.prepare(&current).await.map_err(|e| {
            tote_core::Error::config(format!(
                "cannot read {} from the warehouse: {}; is the warehouse migrated and loaded (`tote run`)?",
                model.name,
                tote_io::pg::describe(&e)
            ))
        })?;
        let digest = |alias: &str, cast: &str| {
            let values: Vec<String> = quoted
                .iter()
                .zip(types.columns())
                .skip(1)
                .map(|(c, column)| match *column.type_() == Type::NUMERIC {
                    true => format!("trim_scale({alias}.{c}{cast})"),
                    false => format!("{alias}.{c}"),
                })
                .collect();
            format!(
                "SELECT {alias}.{}::bigint, md5(ROW({})::text)",
                quoted[0],
                values.join(", ")
            )
        };
        Ok(Some(Check {
            table: model.name.clone(),
            source: format!("{} FROM ({sql}) AS v ORDER BY 1", digest("v", "::numeric")),
            warehouse: format!("{} FROM ({current}) AS w ORDER BY 1", digest("w", "")),
            versions: model.kind.is_fact(),
        }))
    }
}

/// How many differing ids are listed per table.
const SHOWN: usize = 5;

/// One table's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    /// The warehouse table.
    pub table: String,
    /// Current rows in the source.
    pub source_rows: u64,
    /// Rows (ids) in the warehouse's current state (schema `current`).
    pub warehouse_rows: u64,
    /// All fact versions in the warehouse (facts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<u64>,
    /// Ids whose current values agree.
    pub matching: u64,
    /// Ids in the source the warehouse lacks.
    pub missing: u64,
    /// Ids whose current values differ.
    pub differing: u64,
    /// Ids in the warehouse's current state the source no longer has (a deletion not yet loaded).
    pub extra: u64,
    /// Ids deleted at the source that the warehouse records as deleted (history kept).
    pub deleted_at_source: u64,
    /// The first few problems, e.g. `missing 42`, `differs 7`.
    pub examples: Vec<String>,
}

impl TableReport {
    /// Whether the table reconciles.
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.differing == 0 && self.extra == 0
    }
}

/// Reconciles every model that has a `<model>.verify.sql`. Stops at the first database error.
pub async fn verify(
    source: &Client,
    warehouse: &Client,
    models: &[Model],
) -> tote_core::Result<Vec<TableReport>> {
    let mut reports = Vec::new();
    for model in models {
        if let Some(check) = Check::of(model, source, warehouse).await? {
            reports.push(reconcile(source, warehouse, &check).await?);
        }
    }
    Ok(reports)
}

async fn reconcile(source: &Client, warehouse: &Client, check: &Check) -> tote_core::Result<TableReport> {
    let failed = |side: &str, e: tokio_postgres::Error| {
        tote_core::Error::config(format!(
            "cannot read {} from the {side}: {}; is the warehouse migrated and loaded (`tote run`)?",
            check.table,
            tote_io::pg::describe(&e)
        ))
    };
    let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
    let left = source
        .query_raw(&check.source, no_params)
        .await
        .map_err(|e| failed("source", e))?;
    let right = warehouse
        .query_raw(&check.warehouse, no_params)
        .await
        .map_err(|e| failed("warehouse", e))?;
    pin_mut!(left);
    pin_mut!(right);
    let mut report = TableReport {
        table: check.table.clone(),
        ..Default::default()
    };
    let next = |row: Option<tokio_postgres::Row>| row.map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
    let mut l = next(left.try_next().await.map_err(|e| failed("source", e))?);
    let mut r = next(right.try_next().await.map_err(|e| failed("warehouse", e))?);
    loop {
        // Which side is behind: Less = an id only the source has, Greater = only the warehouse.
        let step = match (&l, &r) {
            (None, None) => break,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        match (step, &l, &r) {
            (Ordering::Equal, Some((id, a)), Some((_, b))) => {
                report.source_rows += 1;
                report.warehouse_rows += 1;
                if a == b {
                    report.matching += 1;
                } else {
                    report.differing += 1;
                    if report.examples.len() < SHOWN {
                        report.examples.push(format!("id {id} differs"));
                    }
                }
            }
            (Ordering::Less, Some((id, _)), _) => {
                report.source_rows += 1;
                report.missing += 1;
                if report.examples.len() < SHOWN {
                    report.examples.push(format!("id {id} missing"));
                }
            }
            (_, _, Some((id, _))) => {
                report.warehouse_rows += 1;
                report.extra += 1;
                if report.examples.len() < SHOWN {
                    report.examples.push(format!("id {id} deleted at the source"));
                }
            }
            _ => unreachable!("one side has a row"),
        }
        if step != Ordering::Greater {
            l = next(left.try_next().await.map_err(|e| failed("source", e))?);
        }
        if step != Ordering::Less {
            r = next(right.try_next().await.map_err(|e| failed("warehouse", e))?);
        }
    }
    let deleted: i64 = warehouse
        .query_one(
            "SELECT count(*) FROM deletion WHERE star_table = $1 AND restored_by IS NULL",
            &[&check.table],
        )
        .await
        .map_err(|e| failed("warehouse", e))?
        .get(0);
    report.deleted_at_source = deleted as u64;
    if check.versions {
        let sql = format!("SELECT count(*) FROM {}", quote_ident(&check.table));
        let n: i64 = warehouse
            .query_one(&sql, &[])
            .await
            .map_err(|e| failed("warehouse", e))?
            .get(0);
        report.versions = Some(n as u64);
    }
    Ok(report)
}

/// The reports as a table for a terminal.
pub fn render(reports: &[TableReport]) -> String {
    let mut out = format!(
        "  {:<22}{:>10}{:>11}{:>10}{:>9}{:>9}{:>9}{:>9}  {}\n",
        "table", "source", "current", "versions", "missing", "differ", "extra", "deleted", "verdict"
    );
    for r in reports {
        out.push_str(&format!(
            "  {:<22}{:>10}{:>11}{:>10}{:>9}{:>9}{:>9}{:>9}  {}\n",
            r.table,
            r.source_rows,
            r.warehouse_rows,
            r.versions.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            r.missing,
            r.differing,
            r.extra,
            r.deleted_at_source,
            if r.ok() {
                "ok".to_string()
            } else {
                format!("MISMATCH: {}", r.examples.join(", "))
            }
        ));
    }
    out
}
