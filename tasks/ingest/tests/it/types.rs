//! Exact round trips of every supported type, NULL versus empty string, unicode, quotes and
//! newlines; read back by independent readers (pyarrow for Parquet, Postgres for CSV); and clear
//! errors for values or types that cannot be represented.

use std::collections::BTreeMap;

use futures_util::SinkExt;
use tote_core::ErrorKind;

use crate::it::common::Fixture;

const COLUMNS: &[&str] = &[
    "address_id",
    "small",
    "big",
    "flag",
    "real4",
    "dbl",
    "amount",
    "price",
    "label",
    "code",
    "fixed",
    "day",
    "at_time",
    "stamp",
    "stamp_tz",
    "id_uuid",
    "doc",
    "docb",
    "blob",
    "created_at",
    "last_updated",
];

async fn typed_fixture() -> Fixture {
    let f = Fixture::empty().await;
    let long = "ß".repeat(50_000);
    f.client
        .batch_execute(&format!(
            "SET timezone = 'UTC';
             CREATE TABLE address (
                address_id INT PRIMARY KEY, small SMALLINT, big BIGINT, flag BOOLEAN, real4 REAL, dbl DOUBLE PRECISION,
                amount NUMERIC, price NUMERIC(10,2), label TEXT, code VARCHAR(10), fixed CHAR(3), day DATE,
                at_time TIME, stamp TIMESTAMP(3), stamp_tz TIMESTAMPTZ, id_uuid UUID, doc JSON, docb JSONB, blob BYTEA,
                created_at TIMESTAMP(3) NOT NULL, last_updated TIMESTAMP(3) NOT NULL);
             INSERT INTO address VALUES
              (1, -32768, 9223372036854775807, true, 1.5, 0.1, 12345678901234567.0123456789, 2.50,
               E'He said \"hi\",\\nthen left; Democratic People''s Republic of Korea ☃ 🚀', '', 'ab',
               '2024-02-29', '23:59:59.999999', '2024-03-04 10:11:12.345', '2024-03-04 10:11:12.345678+02',
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{\"a\": [1, 2.5, \"x\"]}}', '{{\"b\": null, \"é\": true}}',
               '\\x00ff10', '2024-01-01 00:00:00', '2024-01-01 00:00:00.001'),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, '2024-01-01', '2024-01-01 00:00:00.002'),
              (3, 0, -1, false, -0.25, -1e300, -0.0000000001, -99999999.99, E'tab\\there, back\\\\slash, comma', 'x',
               'z', '1970-01-01', '00:00:00', '1999-12-31 23:59:59.999', '1900-01-01 00:00:00+00',
               '00000000-0000-0000-0000-000000000000', '[]', '[]', '\\x', '2024-01-01', '2024-01-01 00:00:00.003'),
              (4, 1, 1, true, 0, 0, 0, 0, '{long}', '\"', '\"\"\"', '0001-01-01', '12:00', '2262-04-11 23:47:16.854',
               '2262-04-11 23:47:16.854+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'null', 'null', '\\x5c22',
               '2024-01-01', '2024-01-01 00:00:00.004');"
        ))
        .await
        .unwrap();
    f
}

#[tokio::test]
async fn parquet_round_trips_every_type_exactly_as_an_independent_reader_sees_it() {
    let f = typed_fixture().await;
    let r = f.ingest("address").await.unwrap();
    assert_eq!(r.rows, 4);
    let manifest = f.manifests("address").await.pop().unwrap();
    let types: BTreeMap<&str, &str> = manifest
        .schema
        .iter()
        .map(|c| (c.name.as_str(), c.arrow_type.as_str()))
        .collect();
    assert_eq!(types["amount"], "Decimal128(38, 10)");
    assert_eq!(types["price"], "Decimal128(10, 2)");
    assert_eq!(types["stamp"], "Timestamp(µs)");
    assert!(types["stamp_tz"].contains("UTC"), "{}", types["stamp_tz"]);

    // What Postgres prints for each value, in key order.
    f.client.batch_execute("SET timezone = 'UTC'").await.unwrap();
    let mut expected = serde_json::Map::new();
    for column in COLUMNS {
        // The type's own output function (a `::text` cast would strip char(n) padding).
        let sql = format!("SELECT CASE WHEN {column} IS NULL THEN NULL ELSE format('%s', {column}) END FROM address ORDER BY address_id");
        let texts: Vec<Option<String>> = f
            .client
            .query(&sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        expected.insert(column.to_string(), serde_json::to_value(texts).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("object.parquet");
    let bytes = f.store().get(&manifest.objects[0].key).await.unwrap().unwrap();
    std::fs::write(&parquet, &bytes).unwrap();
    let expected_path = dir.path().join("expected.json");
    let doc = serde_json::json!({"key": "address_id", "columns": expected});
    std::fs::write(&expected_path, serde_json::to_vec(&doc).unwrap()).unwrap();

    let python = std::env::var("TOTE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/parquet_check.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&parquet)
        .arg(&expected_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e}; scripts/test installs pyarrow and sets TOTE_TEST_PYTHON")
        });
    assert!(
        out.status.success(),
        "pyarrow disagrees with Postgres (or is missing: scripts/test installs it and sets TOTE_TEST_PYTHON):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The manifest's checksum is the object's.
    use sha2::Digest;
    let sum: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sum, manifest.objects[0].sha256);
    assert_eq!(bytes.len() as u64, manifest.objects[0].bytes);
}

#[tokio::test]
async fn csv_keeps_null_and_empty_apart_and_postgres_reads_it_back_identically() {
    let mut f = typed_fixture().await;
    f.extra.insert("TOTE_LANDING_FORMAT", "csv".into());
    f.ingest("address").await.unwrap();
    let manifest = f.manifests("address").await.pop().unwrap();
    assert_eq!(manifest.format, tote_core::batch::DataFormat::Csv);
    let csv = f.store().get(&manifest.objects[0].key).await.unwrap().unwrap();
    let text = String::from_utf8(csv.to_vec()).unwrap();
    assert!(
        text.starts_with("\"address_id\",\"small\""),
        "header first: {}",
        &text[..40]
    );

    // Postgres' own CSV reader is the independent reader: unquoted empty = NULL, "" = empty string.
    f.client
        .batch_execute("CREATE TABLE address_copy (LIKE address)")
        .await
        .unwrap();
    let sink = f
        .client
        .copy_in("COPY address_copy FROM STDIN (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    futures_util::pin_mut!(sink);
    sink.send(csv).await.unwrap();
    sink.finish().await.unwrap();
    let cols = COLUMNS.iter().map(|c| {
        if c.starts_with("doc") {
            format!("{c}::jsonb")
        } else {
            c.to_string()
        }
    });
    let cols: Vec<String> = cols.collect();
    let diff = format!(
        "SELECT count(*) FROM ((SELECT {0} FROM address EXCEPT SELECT {0} FROM address_copy) \
         UNION ALL (SELECT {0} FROM address_copy EXCEPT SELECT {0} FROM address)) d",
        cols.join(", ")
    );
    let differing: i64 = f.client.query_one(&diff, &[]).await.unwrap().get(0);
    assert_eq!(differing, 0, "CSV round trip changed rows");
    let (empty, null): (i64, i64) = {
        let r = f
            .client
            .query_one("SELECT count(*) FILTER (WHERE code = ''), count(*) FILTER (WHERE code IS NULL) FROM address_copy", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((empty, null), (1, 1), "the empty string and NULL stay distinct");
}

#[tokio::test]
async fn a_numeric_that_cannot_be_stored_exactly_fails_naming_the_column() {
    let f = Fixture::empty().await;
    f.client
        .batch_execute(
            "CREATE TABLE currency (currency_id INT PRIMARY KEY, rate NUMERIC, created_at TIMESTAMP(3) NOT NULL, \
               last_updated TIMESTAMP(3) NOT NULL); \
             INSERT INTO currency VALUES (1, 0.000000000000000000000000000000000000001, '2024-01-01', '2024-01-01')",
        )
        .await
        .unwrap();
    let err = f
        .ingest("currency")
        .await
        .expect_err("39 fractional digits do not fit a 128-bit decimal");
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert!(err.message().contains("currency.rate"), "{err}");
    assert!(err.message().contains("without rounding"), "{err}");
    assert!(f.manifests("currency").await.is_empty(), "nothing committed");
}

#[tokio::test]
async fn an_unsupported_type_fails_naming_table_column_and_type() {
    let f = Fixture::empty().await;
    f.client
        .batch_execute(
            "CREATE TABLE design (design_id INT PRIMARY KEY, took INTERVAL, created_at TIMESTAMP(3) NOT NULL, \
               last_updated TIMESTAMP(3) NOT NULL)",
        )
        .await
        .unwrap();
    let err = f.ingest("design").await.expect_err("interval is not supported");
    assert!(
        err.message().contains("design.took") && err.message().contains("interval"),
        "{err}"
    );
}

/// An unconstrained `numeric` column takes the largest scale of its values in the read. The
/// read samples the window's first rows for it; a value further on with more places makes the
/// read start again at that scale, so every value lands exactly and nothing of the first try
/// is committed.
#[tokio::test]
async fn a_numeric_column_takes_the_largest_scale_even_beyond_the_sampled_rows() {
    use arrow::array::AsArray;
    let f = Fixture::empty().await;
    f.client
        .batch_execute(
            "CREATE TABLE currency (currency_id INT PRIMARY KEY, rate NUMERIC NOT NULL, fee NUMERIC, \
               created_at TIMESTAMP(3) NOT NULL, last_updated TIMESTAMP(3) NOT NULL); \
             INSERT INTO currency SELECT g, g * 0.01, g * 0.001, '2024-01-01', '2024-01-01' FROM generate_series(1, 5000) g; \
             INSERT INTO currency VALUES (5001, 1.23456, NULL, '2024-01-01', '2024-01-01')",
        )
        .await
        .unwrap();
    let r = f.ingest("currency").await.unwrap();
    assert_eq!(r.rows, 5001);
    let manifests = f.manifests("currency").await;
    assert_eq!(manifests.len(), 1, "one batch: the first try is not committed");
    let scale_of = |name: &str| {
        manifests[0]
            .schema
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .arrow_type
            .clone()
    };
    assert_eq!(scale_of("rate"), "Decimal128(38, 5)", "past the sample");
    assert_eq!(
        scale_of("fee"),
        "Decimal128(38, 3)",
        "as sampled, kept on the second read"
    );
    let mut read: Vec<(i64, String)> = f
        .read_batch(&manifests[0])
        .await
        .iter()
        .flat_map(|b| {
            let ids = arrow::compute::cast(
                b.column_by_name("currency_id").unwrap(),
                &arrow::datatypes::DataType::Int64,
            )
            .unwrap();
            let ids = ids.as_primitive::<arrow::datatypes::Int64Type>().clone();
            let rates = b
                .column_by_name("rate")
                .unwrap()
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .clone();
            (0..b.num_rows())
                .map(|i| (ids.value(i), rates.value_as_string(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    let expected: Vec<(i64, String)> = f
        .client
        .query(
            "SELECT currency_id::int8, round(rate, 5)::text FROM currency ORDER BY currency_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    read.sort();
    assert_eq!(read, expected, "every value exact at 5 places");
}
