//! The independent oracle: the expected star schema computed with plain SQL in Postgres directly
//! from the ToteSys tables, and a canonical text form of rows so both sides compare exactly.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use tokio_postgres::Client;

/// Expected rows of each dimension, from the source's current state (key = first column).
pub const DIMENSIONS: &[(&str, &str)] = &[
    ("dim_staff", "SELECT s.staff_id, s.first_name, s.last_name, d.department_name, COALESCE(d.location, 'Unknown'), s.email_address \
                   FROM staff s JOIN department d USING (department_id)"),
    ("dim_location", "SELECT address_id, address_line_1, address_line_2, district, city, postal_code, country, phone FROM address"),
    ("dim_currency", "SELECT currency_id, currency_code, CASE currency_code WHEN 'GBP' THEN 'Pound Sterling' \
                      WHEN 'USD' THEN 'US Dollar' WHEN 'EUR' THEN 'Euro' END FROM currency"),
    ("dim_design", "SELECT design_id, design_name, file_location, file_name FROM design"),
    ("dim_counterparty", "SELECT c.counterparty_id, c.counterparty_legal_name, a.address_line_1, a.address_line_2, a.district, a.city, \
                          a.postal_code, a.country, a.phone FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id"),
    ("dim_payment_type", "SELECT payment_type_id, payment_type_name FROM payment_type"),
    ("dim_transaction", "SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id FROM \"transaction\""),
];

/// Expected fact rows for the versions the source holds now (natural id, last_updated first).
pub const FACTS: &[(&str, &str)] = &[
    ("fact_sales_order", "SELECT sales_order_id, created_at::date, created_at::time(3), last_updated::date, last_updated::time(3), \
                          staff_id, counterparty_id, units_sold, unit_price::numeric(10,2), currency_id, design_id, \
                          agreed_payment_date::date, agreed_delivery_date::date, agreed_delivery_location_id FROM sales_order"),
    ("fact_purchase_order", "SELECT purchase_order_id, created_at::date, created_at::time(3), last_updated::date, last_updated::time(3), \
                             staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, \
                             agreed_delivery_date::date, agreed_payment_date::date, agreed_delivery_location_id FROM purchase_order"),
    ("fact_payment", "SELECT payment_id, created_at::date, created_at::time(3), last_updated::date, last_updated::time(3), \
                      transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date::date FROM payment"),
];

/// dim_date for the dates in table `oracle_dates(d)`, as Postgres computes it.
pub const DIM_DATE: &str = "SELECT d, extract(year FROM d)::int, extract(month FROM d)::int, extract(day FROM d)::int, \
                            extract(isodow FROM d)::int, trim(to_char(d, 'Day')), trim(to_char(d, 'Month')), extract(quarter FROM d)::int \
                            FROM oracle_dates";

/// Date columns of each fact row of [`FACTS`] (by position).
pub fn fact_dates(fact: &str) -> &'static [usize] {
    match fact {
        "fact_payment" => &[1, 3, 11],
        _ => &[1, 3, 11, 12],
    }
}

/// The expected dim_date, computed by Postgres on `client`, for every date the fact rows
/// (per fact, as [`FACTS`] yields them) reference.
pub async fn expected_dim_date(
    client: &Client,
    facts: &BTreeMap<&str, BTreeSet<Vec<String>>>,
) -> BTreeSet<Vec<String>> {
    client
        .batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS oracle_dates (d date PRIMARY KEY); TRUNCATE oracle_dates",
        )
        .await
        .unwrap();
    for (fact, rows) in facts {
        for row in rows {
            for i in fact_dates(fact) {
                client
                    .execute(
                        "INSERT INTO oracle_dates VALUES ($1::text::date) ON CONFLICT DO NOTHING",
                        &[&row[*i]],
                    )
                    .await
                    .unwrap();
            }
        }
    }
    as_set(pg_rows(client, DIM_DATE).await, "oracle dim_date")
}

/// A value in canonical text: numbers without trailing fractional zeros, booleans as true/false,
/// times without trailing zero fractions, NULL as ∅.
pub fn canonical(value: Option<&str>) -> String {
    let Some(v) = value else { return "∅".to_string() };
    match v {
        "t" => return "true".to_string(),
        "f" => return "false".to_string(),
        _ => {}
    }
    let numeric = v.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-') && v.contains('.');
    let time = v.len() > 8 && v.as_bytes()[2] == b':' && v.as_bytes()[5] == b':';
    if numeric || time {
        return v.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    v.to_string()
}

/// Rows from Postgres as canonical text (the text protocol: each type's own output function).
pub async fn pg_rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("oracle query failed: {e}\n{sql}"));
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| canonical(r.get(i))).collect())
            }
            _ => None,
        })
        .collect()
}

/// Rows of Arrow batches as canonical text.
pub fn arrow_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("\u{0}");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| {
                        let s = f.value(row).to_string();
                        if s == "\u{0}" {
                            canonical(None)
                        } else {
                            canonical(Some(&s))
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

/// The final state of a dimension from its batches in commit order: the last row per key.
pub fn last_per_key(rows: Vec<Vec<String>>) -> BTreeMap<String, Vec<String>> {
    rows.into_iter().map(|r| (r[0].clone(), r)).collect()
}

/// Rows as a set, failing on duplicates.
pub fn as_set(rows: Vec<Vec<String>>, what: &str) -> BTreeSet<Vec<String>> {
    let mut set = BTreeSet::new();
    for r in rows {
        assert!(set.insert(r.clone()), "{what}: duplicate row {r:?}");
    }
    set
}
