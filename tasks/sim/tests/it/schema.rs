//! The seeded schema equals SPEC.md §1: column names and order, types, nullability, identity
//! keys, primary and foreign keys, and the `_prisma_migrations` table beside the data.

use crate::it::common::{seeded, small};

/// (column, data type as information_schema spells it, nullable).
type Column = (&'static str, &'static str, bool);

/// Every table's columns in physical order, per SPEC.md §1.
fn spec() -> Vec<(&'static str, Vec<Column>)> {
    const TS: &str = "timestamp without time zone";
    const V: &str = "character varying";
    let stamps = |mut cols: Vec<Column>| {
        cols.push(("created_at", TS, false));
        cols.push(("last_updated", TS, false));
        cols
    };
    vec![
        (
            "address",
            stamps(vec![
                ("address_id", "integer", false),
                ("address_line_1", V, false),
                ("address_line_2", V, true),
                ("district", V, true),
                ("city", V, false),
                ("postal_code", V, false),
                ("country", V, false),
                ("phone", V, false),
            ]),
        ),
        (
            "counterparty",
            stamps(vec![
                ("counterparty_id", "integer", false),
                ("counterparty_legal_name", V, false),
                ("legal_address_id", "integer", false),
                ("commercial_contact", V, true),
                ("delivery_contact", V, true),
            ]),
        ),
        (
            "currency",
            stamps(vec![
                ("currency_id", "integer", false),
                ("currency_code", V, false),
            ]),
        ),
        (
            "department",
            stamps(vec![
                ("department_id", "integer", false),
                ("department_name", V, false),
                ("location", V, true),
                ("manager", V, true),
            ]),
        ),
        (
            "design",
            vec![
                ("design_id", "integer", false),
                ("created_at", TS, false),
                ("design_name", V, false),
                ("file_location", V, false),
                ("file_name", V, false),
                ("last_updated", TS, false),
            ],
        ),
        (
            "staff",
            stamps(vec![
                ("staff_id", "integer", false),
                ("first_name", V, false),
                ("last_name", V, false),
                ("department_id", "integer", false),
                ("email_address", V, false),
            ]),
        ),
        (
            "sales_order",
            vec![
                ("sales_order_id", "integer", false),
                ("created_at", TS, false),
                ("last_updated", TS, false),
                ("design_id", "integer", false),
                ("staff_id", "integer", false),
                ("counterparty_id", "integer", false),
                ("units_sold", "integer", false),
                ("unit_price", "numeric", false),
                ("currency_id", "integer", false),
                ("agreed_delivery_date", V, false),
                ("agreed_payment_date", V, false),
                ("agreed_delivery_location_id", "integer", false),
            ],
        ),
        (
            "purchase_order",
            vec![
                ("purchase_order_id", "integer", false),
                ("created_at", TS, false),
                ("last_updated", TS, false),
                ("staff_id", "integer", false),
                ("counterparty_id", "integer", false),
                ("item_code", V, false),
                ("item_quantity", "integer", false),
                ("item_unit_price", "numeric", false),
                ("currency_id", "integer", false),
                ("agreed_delivery_date", V, false),
                ("agreed_payment_date", V, false),
                ("agreed_delivery_location_id", "integer", false),
            ],
        ),
        (
            "payment_type",
            stamps(vec![
                ("payment_type_id", "integer", false),
                ("payment_type_name", V, false),
            ]),
        ),
        (
            "transaction",
            stamps(vec![
                ("transaction_id", "integer", false),
                ("transaction_type", V, false),
                ("sales_order_id", "integer", true),
                ("purchase_order_id", "integer", true),
            ]),
        ),
        (
            "payment",
            vec![
                ("payment_id", "integer", false),
                ("created_at", TS, false),
                ("last_updated", TS, false),
                ("transaction_id", "integer", false),
                ("counterparty_id", "integer", false),
                ("payment_amount", "numeric", false),
                ("currency_id", "integer", false),
                ("payment_type_id", "integer", false),
                ("paid", "boolean", false),
                ("payment_date", V, false),
                ("company_ac_number", "integer", false),
                ("counterparty_ac_number", "integer", false),
            ],
        ),
    ]
}

/// (table, column, referenced table) for every foreign key in SPEC.md §1.
const FOREIGN_KEYS: &[(&str, &str, &str)] = &[
    ("counterparty", "legal_address_id", "address"),
    ("staff", "department_id", "department"),
    ("sales_order", "design_id", "design"),
    ("sales_order", "staff_id", "staff"),
    ("sales_order", "counterparty_id", "counterparty"),
    ("sales_order", "currency_id", "currency"),
    ("sales_order", "agreed_delivery_location_id", "address"),
    ("purchase_order", "staff_id", "staff"),
    ("purchase_order", "counterparty_id", "counterparty"),
    ("purchase_order", "currency_id", "currency"),
    ("purchase_order", "agreed_delivery_location_id", "address"),
    ("transaction", "sales_order_id", "sales_order"),
    ("transaction", "purchase_order_id", "purchase_order"),
    ("payment", "transaction_id", "transaction"),
    ("payment", "counterparty_id", "counterparty"),
    ("payment", "currency_id", "currency"),
    ("payment", "payment_type_id", "payment_type"),
];

#[tokio::test]
async fn columns_keys_and_types_equal_the_spec() {
    let (_db, client) = seeded(&small(1)).await;
    for (table, columns) in spec() {
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text, is_nullable = 'YES', datetime_precision, \
                        character_maximum_length, is_identity = 'YES', identity_generation::text \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .await
            .unwrap();
        let actual: Vec<(String, String, bool)> =
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
        let expected: Vec<(String, String, bool)> = columns
            .iter()
            .map(|(c, t, n)| (c.to_string(), t.to_string(), *n))
            .collect();
        assert_eq!(actual, expected, "columns of {table}");
        for r in &rows {
            let column: String = r.get(0);
            let data_type: String = r.get(1);
            if data_type.starts_with("timestamp") {
                assert_eq!(
                    r.get::<_, Option<i32>>(3),
                    Some(3),
                    "{table}.{column} must be TIMESTAMP(3)"
                );
            }
            if column == format!("{table}_id") {
                assert!(r.get::<_, bool>(5), "{table}.{column} must be an identity column");
                assert_eq!(
                    r.get::<_, Option<String>>(6).as_deref(),
                    Some("BY DEFAULT"),
                    "{table}.{column}"
                );
            }
            if column == "currency_code" {
                assert_eq!(r.get::<_, Option<i32>>(4), Some(3), "currency_code is VARCHAR(3)");
            }
        }
        let pk: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = format('public.%I', $1::text)::regclass AND i.indisprimary",
                &[&table],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(pk, vec![format!("{table}_id")], "primary key of {table}");
    }

    let mut fks: Vec<(String, String, String)> = client
        .query(
            "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text \
             FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND c.convalidated",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let unquote = |s: String| s.trim_matches('"').to_string();
            (unquote(r.get(0)), r.get(1), unquote(r.get(2)))
        })
        .collect();
    fks.sort();
    let mut expected: Vec<(String, String, String)> = FOREIGN_KEYS
        .iter()
        .map(|(t, c, r)| (t.to_string(), c.to_string(), r.to_string()))
        .collect();
    expected.sort();
    assert_eq!(fks, expected, "foreign keys (validated)");

    let public_tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut expected_tables: Vec<String> = tote_core::tables::SOURCE_TABLES
        .iter()
        .map(|s| s.to_string())
        .chain(["_prisma_migrations".to_string()])
        .collect();
    expected_tables.sort();
    assert_eq!(
        public_tables, expected_tables,
        "exactly the ToteSys tables and _prisma_migrations"
    );
    let migrations: i64 = client
        .query_one("SELECT count(*) FROM _prisma_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        migrations > 0,
        "_prisma_migrations holds a row, like the real database"
    );
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let (_db, client) = seeded(&small(1)).await;
    let err = client
        .execute(
            "UPDATE sales_order SET design_id = 999999 WHERE sales_order_id = 1",
            &[],
        )
        .await
        .expect_err("a dangling design_id must be refused");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
}

#[tokio::test]
async fn seeding_over_an_existing_totesys_is_refused_without_replace() {
    let (db, _client) = seeded(&small(1)).await;
    let err = tote_sim::seed(db.url(), &small(1))
        .await
        .expect_err("second seed refused");
    assert_eq!(err.kind(), tote_core::ErrorKind::BadRequest);
    assert!(err.message().contains("--replace"), "{err}");
    let mut again = small(1);
    again.replace = true;
    tote_sim::seed(db.url(), &again)
        .await
        .expect("--replace re-seeds");
}
