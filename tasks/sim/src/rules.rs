//! The data rules of SPEC.md §1 as SQL, so that a simulated database can be checked after a seed
//! and after any number of ticks.
//!
//! Each rule is a query that counts the rows breaking it; a healthy database scores zero on all.

use tokio_postgres::Client;
use tote_core::{Error, ErrorKind, Result};
use tote_io::pg;

/// One rule and the query counting its violations.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// A short name, e.g. `payment_amount = quantity × price`.
    pub name: &'static str,
    /// `SELECT count(*) …` of the rows that break the rule.
    pub violations_sql: &'static str,
}

/// Every rule the simulator keeps.
pub const RULES: &[Rule] = &[
    Rule {
        name: "sales payment_amount = units_sold × unit_price",
        violations_sql: "SELECT count(*) FROM sales_order s JOIN \"transaction\" t USING (sales_order_id) \
                         JOIN payment p USING (transaction_id) WHERE p.payment_amount <> s.units_sold * s.unit_price",
    },
    Rule {
        name: "purchase payment_amount = item_quantity × item_unit_price",
        violations_sql: "SELECT count(*) FROM purchase_order o JOIN \"transaction\" t USING (purchase_order_id) \
                         JOIN payment p USING (transaction_id) WHERE p.payment_amount <> o.item_quantity * o.item_unit_price",
    },
    Rule {
        name: "every order has exactly one transaction",
        violations_sql: "SELECT (SELECT count(*) FROM sales_order s LEFT JOIN (SELECT sales_order_id, count(*) AS n FROM \"transaction\" \
                                 WHERE sales_order_id IS NOT NULL GROUP BY 1) t USING (sales_order_id) WHERE coalesce(t.n, 0) <> 1) \
                              + (SELECT count(*) FROM purchase_order o LEFT JOIN (SELECT purchase_order_id, count(*) AS n FROM \"transaction\" \
                                 WHERE purchase_order_id IS NOT NULL GROUP BY 1) t USING (purchase_order_id) WHERE coalesce(t.n, 0) <> 1)",
    },
    Rule {
        name: "every transaction has exactly one payment",
        violations_sql: "SELECT count(*) FROM \"transaction\" t LEFT JOIN (SELECT transaction_id, count(*) AS n FROM payment GROUP BY 1) p \
                         USING (transaction_id) WHERE coalesce(p.n, 0) <> 1",
    },
    Rule {
        name: "transaction type matches its order (SALE ↔ sales_order_id, PURCHASE ↔ purchase_order_id)",
        violations_sql: "SELECT count(*) FROM \"transaction\" WHERE NOT ((transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL) \
                         OR (transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL AND sales_order_id IS NULL))",
    },
    Rule {
        name: "transaction and payment share the order's created_at",
        violations_sql: "SELECT count(*) FROM \"transaction\" t JOIN payment p USING (transaction_id) \
                         LEFT JOIN sales_order s USING (sales_order_id) LEFT JOIN purchase_order o USING (purchase_order_id) \
                         WHERE t.created_at <> p.created_at OR t.created_at <> coalesce(s.created_at, o.created_at)",
    },
    Rule {
        name: "payment type is 1 for SALE and 3 for PURCHASE",
        violations_sql: "SELECT count(*) FROM \"transaction\" t JOIN payment p USING (transaction_id) \
                         WHERE p.payment_type_id <> CASE t.transaction_type WHEN 'SALE' THEN 1 ELSE 3 END",
    },
    Rule {
        name: "payment_date = agreed_payment_date; payment currency and counterparty = the order's",
        violations_sql: "SELECT count(*) FROM \"transaction\" t JOIN payment p USING (transaction_id) \
                         LEFT JOIN sales_order s USING (sales_order_id) LEFT JOIN purchase_order o USING (purchase_order_id) \
                         WHERE p.payment_date <> coalesce(s.agreed_payment_date, o.agreed_payment_date) \
                            OR p.currency_id <> coalesce(s.currency_id, o.currency_id) \
                            OR p.counterparty_id <> coalesce(s.counterparty_id, o.counterparty_id)",
    },
    Rule {
        name: "orders and designs arrive on weekdays 08:00–18:59",
        violations_sql: "SELECT (SELECT count(*) FROM sales_order WHERE (extract(isodow FROM created_at) > 5 OR extract(hour FROM created_at) NOT BETWEEN 8 AND 18)) \
                              + (SELECT count(*) FROM purchase_order WHERE (extract(isodow FROM created_at) > 5 OR extract(hour FROM created_at) NOT BETWEEN 8 AND 18)) \
                              + (SELECT count(*) FROM design WHERE design_id > 10 AND (extract(isodow FROM created_at) > 5 OR extract(hour FROM created_at) NOT BETWEEN 8 AND 18))",
    },
    Rule {
        name: "value ranges (units 1,000–100,000, price 2.00–4.00, quantity 1–1,000, item price 3.00–1,000.00, 2 dp)",
        violations_sql: "SELECT (SELECT count(*) FROM sales_order WHERE units_sold NOT BETWEEN 1000 AND 100000 \
                                 OR unit_price NOT BETWEEN 2 AND 4 OR scale(unit_price) <> 2) \
                              + (SELECT count(*) FROM purchase_order WHERE item_quantity NOT BETWEEN 1 AND 1000 \
                                 OR item_unit_price NOT BETWEEN 3 AND 1000 OR scale(item_unit_price) <> 2)",
    },
    Rule {
        name: "agreed dates are 'YYYY-MM-DD', 0–7 days after creation",
        violations_sql: "SELECT (SELECT count(*) FROM sales_order WHERE agreed_delivery_date !~ '^\\d{4}-\\d{2}-\\d{2}$' OR agreed_payment_date !~ '^\\d{4}-\\d{2}-\\d{2}$' \
                                 OR agreed_delivery_date::date - created_at::date NOT BETWEEN 0 AND 7 OR agreed_payment_date::date - created_at::date NOT BETWEEN 0 AND 7) \
                              + (SELECT count(*) FROM purchase_order WHERE agreed_delivery_date !~ '^\\d{4}-\\d{2}-\\d{2}$' OR agreed_payment_date !~ '^\\d{4}-\\d{2}-\\d{2}$' \
                                 OR agreed_delivery_date::date - created_at::date NOT BETWEEN 0 AND 7 OR agreed_payment_date::date - created_at::date NOT BETWEEN 0 AND 7)",
    },
    Rule {
        name: "account numbers have 8 digits",
        violations_sql: "SELECT count(*) FROM payment WHERE company_ac_number NOT BETWEEN 10000000 AND 99999999 \
                         OR counterparty_ac_number NOT BETWEEN 10000000 AND 99999999",
    },
    Rule {
        name: "paid flips at 07:55 on payment_date: paid rows were touched then or later, none is overdue",
        violations_sql: "SELECT count(*) FROM payment, (SELECT max(now) AS clock FROM tote_sim.clock) c \
                         WHERE (paid AND last_updated < payment_date::date + time '07:55') \
                            OR (NOT paid AND payment_date::date + time '07:55' > created_at AND payment_date::date + time '07:55' <= c.clock)",
    },
    Rule {
        name: "last_updated is never before created_at",
        violations_sql: "SELECT (SELECT count(*) FROM address WHERE last_updated < created_at) + (SELECT count(*) FROM counterparty WHERE last_updated < created_at) \
                              + (SELECT count(*) FROM currency WHERE last_updated < created_at) + (SELECT count(*) FROM department WHERE last_updated < created_at) \
                              + (SELECT count(*) FROM design WHERE last_updated < created_at) + (SELECT count(*) FROM staff WHERE last_updated < created_at) \
                              + (SELECT count(*) FROM sales_order WHERE last_updated < created_at) + (SELECT count(*) FROM purchase_order WHERE last_updated < created_at) \
                              + (SELECT count(*) FROM payment_type WHERE last_updated < created_at) + (SELECT count(*) FROM \"transaction\" WHERE last_updated < created_at) \
                              + (SELECT count(*) FROM payment WHERE last_updated < created_at)",
    },
    Rule {
        name: "reference data as in the real database (3 currencies, 4 payment types, 8 departments, no staff in Sales)",
        violations_sql: "SELECT (SELECT count(*) FROM currency WHERE (currency_id, currency_code) NOT IN ((1, 'GBP'), (2, 'USD'), (3, 'EUR'))) \
                              + (SELECT count(*) FROM payment_type WHERE (payment_type_id, payment_type_name) NOT IN \
                                 ((1, 'SALES_RECEIPT'), (2, 'SALES_REFUND'), (3, 'PURCHASE_PAYMENT'), (4, 'PURCHASE_REFUND'))) \
                              + abs((SELECT count(*) FROM department) - 8) + (SELECT count(*) FROM staff WHERE department_id = 1)",
    },
];

/// Counts the violations of every rule; returns the rules that have any, with their counts.
pub async fn check(client: &Client) -> Result<Vec<(&'static str, i64)>> {
    let mut broken = Vec::new();
    for rule in RULES {
        let n: i64 = client
            .query_one(rule.violations_sql, &[])
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("rule `{}` failed to run: {}", rule.name, pg::describe(&e)),
                )
            })?
            .get::<_, Option<i64>>(0)
            .unwrap_or(0);
        if n != 0 {
            broken.push((rule.name, n));
        }
    }
    Ok(broken)
}
