//! `tote verify`: reconcile the warehouse with the source, table by table.
//!
//! For each dimension and fact, both databases are asked for `(natural id, digest of the
//! current values)` ordered by id, and the two streams are merged, so memory stays flat however
//! big the tables are. The source side is the source's current state expressed in Postgres SQL
//! (the same rules as the models: staff ⨝ department with 'Unknown' for a missing location,
//! dates and times split, prices at two places); the warehouse side is schema `current`, the
//! source's current state as the warehouse holds it (each dimension row and each fact's latest
//! version whose source row still exists). Unconstrained numerics are compared by value
//! (`trim_scale`).
//!
//! An id only in the source, only in `current`, or with different values, is a mismatch. Rows
//! deleted at the source are counted from the warehouse's `deletion` table (deletions in force):
//! the warehouse keeps their history, so they are reported, not a mismatch. `dim_date` has no
//! source counterpart; its foreign keys already guarantee that every date a fact uses is there.

use std::cmp::Ordering;

use futures_util::{pin_mut, TryStreamExt};
use serde::Serialize;
use tokio_postgres::Client;

/// One table's reconciliation: the two SQL queries, each yielding `(id bigint, digest text)`
/// ordered by id.
struct Check {
    table: &'static str,
    source: &'static str,
    warehouse: &'static str,
    /// The warehouse table keeps every version (a fact): also count its rows.
    versions: bool,
}

const CHECKS: &[Check] = &[
    Check {
        table: "dim_staff",
        source: "SELECT s.staff_id::bigint, md5(ROW(s.first_name, s.last_name, d.department_name, \
                 COALESCE(d.location, 'Unknown'), s.email_address)::text) \
                 FROM staff s JOIN department d USING (department_id) ORDER BY 1",
        warehouse: "SELECT staff_id::bigint, md5(ROW(first_name, last_name, department_name, location, \
                    email_address)::text) FROM current.dim_staff ORDER BY 1",
        versions: false,
    },
    Check {
        table: "dim_location",
        source: "SELECT address_id::bigint, md5(ROW(address_line_1, address_line_2, district, city, postal_code, \
                 country, phone)::text) FROM address ORDER BY 1",
        warehouse: "SELECT location_id::bigint, md5(ROW(address_line_1, address_line_2, district, city, \
                    postal_code, country, phone)::text) FROM current.dim_location ORDER BY 1",
        versions: false,
    },
    Check {
        table: "dim_currency",
        source: "SELECT currency_id::bigint, md5(currency_code::text) FROM currency ORDER BY 1",
        warehouse: "SELECT currency_id::bigint, md5(currency_code::text) FROM current.dim_currency ORDER BY 1",
        versions: false,
    },
    Check {
        table: "dim_design",
        source: "SELECT design_id::bigint, md5(ROW(design_name, file_location, file_name)::text) FROM design ORDER BY 1",
        warehouse: "SELECT design_id::bigint, md5(ROW(design_name, file_location, file_name)::text) \
                    FROM current.dim_design ORDER BY 1",
        versions: false,
    },
    Check {
        table: "dim_counterparty",
        source: "SELECT c.counterparty_id::bigint, md5(ROW(c.counterparty_legal_name, a.address_line_1, \
                 a.address_line_2, a.district, a.city, a.postal_code, a.country, a.phone)::text) \
                 FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id ORDER BY 1",
        warehouse: "SELECT counterparty_id::bigint, md5(ROW(counterparty_legal_name, \
                    counterparty_legal_address_line_1, counterparty_legal_address_line_2, \
                    counterparty_legal_district, counterparty_legal_city, counterparty_legal_postal_code, \
                    counterparty_legal_country, counterparty_legal_phone_number)::text) \
                    FROM current.dim_counterparty ORDER BY 1",
        versions: false,
    },
    Check {
        table: "dim_payment_type",
        source: "SELECT payment_type_id::bigint, md5(payment_type_name::text) FROM payment_type ORDER BY 1",
        warehouse: "SELECT payment_type_id::bigint, md5(payment_type_name::text) FROM current.dim_payment_type ORDER BY 1",
        versions: false,
    },
    Check {
        table: "dim_transaction",
        source: "SELECT transaction_id::bigint, md5(ROW(transaction_type, sales_order_id, purchase_order_id)::text) \
                 FROM \"transaction\" ORDER BY 1",
        warehouse: "SELECT transaction_id::bigint, md5(ROW(transaction_type, sales_order_id, \
                    purchase_order_id)::text) FROM current.dim_transaction ORDER BY 1",
        versions: false,
    },
    Check {
        table: "fact_sales_order",
        source: "SELECT sales_order_id::bigint, md5(ROW(created_at::date, created_at::time(3), last_updated::date, \
                 last_updated::time(3), staff_id, counterparty_id, units_sold, unit_price::numeric(10,2), \
                 currency_id, design_id, agreed_payment_date::date, agreed_delivery_date::date, \
                 agreed_delivery_location_id)::text) FROM sales_order ORDER BY 1",
        warehouse: "SELECT sales_order_id::bigint, md5(ROW(created_date, created_time, \
                    last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, \
                    currency_id, design_id, agreed_payment_date, agreed_delivery_date, \
                    agreed_delivery_location_id)::text) FROM current.fact_sales_order ORDER BY 1",
        versions: true,
    },
    Check {
        table: "fact_purchase_order",
        source: "SELECT purchase_order_id::bigint, md5(ROW(created_at::date, created_at::time(3), \
                 last_updated::date, last_updated::time(3), staff_id, counterparty_id, item_code, item_quantity, \
                 trim_scale(item_unit_price), currency_id, agreed_delivery_date::date, agreed_payment_date::date, \
                 agreed_delivery_location_id)::text) FROM purchase_order ORDER BY 1",
        warehouse: "SELECT purchase_order_id::bigint, md5(ROW(created_date, \
                    created_time, last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, \
                    item_quantity, trim_scale(item_unit_price), currency_id, agreed_delivery_date, \
                    agreed_payment_date, agreed_delivery_location_id)::text) FROM current.fact_purchase_order \
                    ORDER BY 1",
        versions: true,
    },
    Check {
        table: "fact_payment",
        source: "SELECT payment_id::bigint, md5(ROW(created_at::date, created_at::time(3), last_updated::date, \
                 last_updated::time(3), transaction_id, counterparty_id, trim_scale(payment_amount), currency_id, \
                 payment_type_id, paid, payment_date::date)::text) FROM payment ORDER BY 1",
        warehouse: "SELECT payment_id::bigint, md5(ROW(created_date, created_time, \
                    last_updated_date, last_updated, transaction_id, counterparty_id, trim_scale(payment_amount), \
                    currency_id, payment_type_id, paid, payment_date)::text) FROM current.fact_payment ORDER BY 1",
        versions: true,
    },
];

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

/// Reconciles every table. Stops at the first database error.
pub async fn verify(source: &Client, warehouse: &Client) -> tote_core::Result<Vec<TableReport>> {
    let mut reports = Vec::new();
    for check in CHECKS {
        reports.push(reconcile(source, warehouse, check).await?);
    }
    Ok(reports)
}

async fn reconcile(source: &Client, warehouse: &Client, check: &Check) -> tote_core::Result<TableReport> {
    let failed = |side: &str, e: tokio_postgres::Error| {
        tote_core::Error::config(format!(
            "cannot read {} from the {side}: {}; is the warehouse migrated and loaded (`tote run`)?",
            check.table,
            tote_core::pg::describe(&e)
        ))
    };
    let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
    let left = source
        .query_raw(check.source, no_params)
        .await
        .map_err(|e| failed("source", e))?;
    let right = warehouse
        .query_raw(check.warehouse, no_params)
        .await
        .map_err(|e| failed("warehouse", e))?;
    pin_mut!(left);
    pin_mut!(right);
    let mut report = TableReport {
        table: check.table.to_string(),
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
        let sql = format!(
            "SELECT count(*) FROM {}",
            tote_core::tables::quote_ident(check.table)
        );
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
