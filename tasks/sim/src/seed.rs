//! `tote sim seed`: create the ToteSys schema and fill it with a deterministic history.
//!
//! The history covers `days` days up to `end`. Reference tables are as SPEC.md lists them;
//! every weekday brings about 21.5 × scale sales orders, 9 × scale purchase orders and 1 × scale
//! designs between 08:00 and 18:59, each order with its transaction and payment. Rows are
//! streamed to the server with COPY over one connection per large table, and the keys are added
//! afterwards, so the server checks every foreign key once, in bulk.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use futures_util::SinkExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_postgres::{Client, CopyInSink};
use tote_core::progress::{self, Unit};
use tote_core::tables::{quote_ident, SOURCE_TABLES};
use tote_core::{Error, Result};
use tote_io::pg::{self, Role};

use crate::copy_text::CopyText;
use crate::model::{self, Order, OrderKind};
use crate::schema;

/// How to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Multiplies the daily volume of orders and designs (1 ≈ the real database).
    pub scale: f64,
    /// Length of the history in days.
    pub days: u32,
    /// RNG seed: the same options give byte-identical data.
    pub seed: u64,
    /// The moment the history ends (no row is stamped after it).
    pub end: NaiveDateTime,
    /// Drop existing ToteSys tables first instead of refusing.
    pub replace: bool,
}

impl SeedOptions {
    /// A small, fixed history for tests of the stages: `days` of history at `scale`, ending on
    /// Monday 2024-03-04 08:00, so that every test sees the same weekday pattern.
    pub fn fixture(scale: f64, days: u32, seed: u64) -> SeedOptions {
        SeedOptions {
            scale,
            days,
            seed,
            end: NaiveDateTime::parse_from_str("2024-03-04 08:00:00", "%Y-%m-%d %H:%M:%S")
                .expect("a fixed, valid timestamp"),
            replace: false,
        }
    }
}

/// What a seed wrote.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// Rows per table, in [`SOURCE_TABLES`] order.
    pub rows: Vec<(&'static str, u64)>,
    /// Wall time of the whole seed, keys included.
    pub elapsed: Duration,
}

impl SeedReport {
    /// All rows written.
    pub fn total_rows(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    /// Rows per second over the whole seed.
    pub fn rows_per_second(&self) -> f64 {
        self.total_rows() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Designs that exist before the history starts, so the first orders have something to sell.
const INITIAL_DESIGNS: i32 = 10;
/// Flush a table's COPY buffer to the server once it holds this many bytes.
const FLUSH_BYTES: usize = 1 << 20;

const BIG_TABLES: [&str; 5] = [
    "design",
    "sales_order",
    "purchase_order",
    "transaction",
    "payment",
];

/// Creates the ToteSys schema in the database at `url` and fills it. Refuses a database that
/// already has ToteSys tables unless `options.replace` is set.
pub async fn seed(url: &str, options: &SeedOptions) -> Result<SeedReport> {
    if !(options.scale > 0.0 && options.scale.is_finite()) {
        return Err(Error::config(format!(
            "--scale must be a positive number, got {}",
            options.scale
        )));
    }
    let started = Instant::now();
    let client = pg::connect(url, Role::Source).await?;
    prepare_schema(&client, url, options.replace).await?;

    let history_start = options.end.date() - chrono::Duration::days(options.days as i64);
    let ref_time = model::reference_time(history_start);
    let mut rows = BTreeMap::new();

    // Reference tables: tiny, one COPY each on the main connection.
    let mut ref_rng = ChaCha8Rng::seed_from_u64(options.seed);
    for (table, text) in reference_rows(&mut ref_rng, ref_time) {
        rows.insert(table, text.rows());
        copy_all(&client, table, text, url).await?;
    }
    rows.extend(copy_history(url, options, history_start, ref_time).await?);
    finish(&client, url, options.end).await?;

    Ok(SeedReport {
        rows: SOURCE_TABLES
            .iter()
            .map(|t| (*t, rows.get(t).copied().unwrap_or(0)))
            .collect(),
        elapsed: started.elapsed(),
    })
}

/// One large table's open COPY, on a connection of its own.
type HistoryCopy = (Client, Pin<Box<CopyInSink<bytes::Bytes>>>);

/// The history from `history_start` (whose reference rows are stamped `ref_time`) to
/// `options.end`, streamed into one COPY per large table; the rows of each, in [`BIG_TABLES`]
/// order.
async fn copy_history(
    url: &str,
    options: &SeedOptions,
    history_start: NaiveDate,
    ref_time: NaiveDateTime,
) -> Result<Vec<(&'static str, u64)>> {
    let mut sinks = open_copies(url).await?;
    let mut writer = HistoryWriter::new();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(1);
    for i in 0..INITIAL_DESIGNS {
        let at = ref_time + chrono::Duration::milliseconds(i as i64);
        writer.design(model::design(&mut rng, at));
    }
    let days = progress::task(
        "seed: days of history",
        Unit::Steps,
        Some(((options.end.date() - history_start).num_days() + 1) as u64),
    );
    let tables: Vec<_> = BIG_TABLES
        .iter()
        .map(|t| progress::task(&format!("seed {t}"), Unit::Rows, None))
        .collect();
    let mut sent = [0u64; BIG_TABLES.len()];
    let mut day = history_start;
    while day <= options.end.date() {
        writer.day(&mut rng, day, options);
        for (i, buf) in writer.buffers.iter_mut().enumerate() {
            if buf.len() >= FLUSH_BYTES {
                flush(buf, &mut sinks[i].1, &tables[i], &mut sent[i], url).await?;
            }
        }
        days.advance(1, 0);
        day = day.succ_opt().expect("date in range");
    }
    drop(days);
    let mut rows = Vec::new();
    for (i, buf) in writer.buffers.iter_mut().enumerate() {
        if !buf.is_empty() {
            flush(buf, &mut sinks[i].1, &tables[i], &mut sent[i], url).await?;
        }
        rows.push((BIG_TABLES[i], buf.rows()));
    }
    drop(tables);
    for (_, sink) in &mut sinks {
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| pg::classify(&e, Role::Source, url))?;
    }
    Ok(rows)
}

/// One connection and one open COPY per large table, in [`BIG_TABLES`] order.
async fn open_copies(url: &str) -> Result<Vec<HistoryCopy>> {
    let mut sinks = Vec::new();
    for table in BIG_TABLES {
        let conn = pg::connect(url, Role::Source).await?;
        let sql = format!("COPY {} FROM STDIN", quote_ident(table));
        let sink = conn
            .copy_in(&sql)
            .await
            .map_err(|e| pg::classify(&e, Role::Source, url))?;
        sinks.push((conn, Box::pin(sink)));
    }
    Ok(sinks)
}

/// Sends what `buf` holds to `sink`, advancing `progress` by the rows written since `sent`.
async fn flush(
    buf: &mut CopyText,
    sink: &mut Pin<Box<CopyInSink<bytes::Bytes>>>,
    progress: &progress::Task,
    sent: &mut u64,
    url: &str,
) -> Result<()> {
    let data = buf.take();
    progress.advance(buf.rows() - *sent, data.len() as u64);
    *sent = buf.rows();
    send(sink, data, url).await
}

/// Keys, identity sequences, statistics, and the simulated clock, set to `end`.
async fn finish(client: &Client, url: &str, end: NaiveDateTime) -> Result<()> {
    let mut finish = String::from(schema::KEYS);
    for table in SOURCE_TABLES {
        let t = quote_ident(table);
        let id = quote_ident(&format!("{table}_id"));
        finish.push_str(&format!(
            "SELECT setval(pg_get_serial_sequence('{}', '{table}_id'), coalesce((SELECT max({id}) FROM {t}), 0) + 1, false);\n",
            t.replace('\'', "''")
        ));
    }
    finish.push_str("ANALYZE;\n");
    client
        .batch_execute(&finish)
        .await
        .map_err(|e| pg::classify(&e, Role::Source, url))?;
    crate::run::set_clock(client, end).await
}

async fn prepare_schema(client: &Client, url: &str, replace: bool) -> Result<()> {
    let existing: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)",
            &[&SOURCE_TABLES.iter().chain(["_prisma_migrations"].iter()).map(|s| s.to_string()).collect::<Vec<_>>()],
        )
        .await
        .map_err(|e| pg::classify(&e, Role::Source, url))?
        .get(0);
    if existing > 0 && !replace {
        return Err(Error::bad_request(format!(
            "the database at {} already has {existing} ToteSys tables; pass --replace to drop them and seed again",
            tote_core::credentials::redact(url)
        )));
    }
    let mut sql = String::from("BEGIN;\n");
    for table in SOURCE_TABLES.iter().rev().chain(["_prisma_migrations"].iter()) {
        sql.push_str(&format!("DROP TABLE IF EXISTS {} CASCADE;\n", quote_ident(table)));
    }
    sql.push_str("DROP SCHEMA IF EXISTS tote_sim CASCADE;\n");
    sql.push_str(schema::TABLES);
    sql.push_str(schema::SIM_STATE);
    sql.push_str("COMMIT;\n");
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| pg::classify(&e, Role::Source, url))
}

async fn copy_all(client: &Client, table: &str, mut text: CopyText, url: &str) -> Result<()> {
    let sql = format!("COPY {} FROM STDIN", quote_ident(table));
    let sink = client
        .copy_in(&sql)
        .await
        .map_err(|e| pg::classify(&e, Role::Source, url))?;
    let mut sink = Box::pin(sink);
    send(&mut sink, text.take(), url).await?;
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| pg::classify(&e, Role::Source, url))?;
    Ok(())
}

async fn send(sink: &mut Pin<Box<CopyInSink<bytes::Bytes>>>, data: bytes::Bytes, url: &str) -> Result<()> {
    sink.send(data)
        .await
        .map_err(|e| pg::classify(&e, Role::Source, url))
}

/// The reference tables' rows, in dependency order.
fn reference_rows(rng: &mut ChaCha8Rng, at: NaiveDateTime) -> Vec<(&'static str, CopyText)> {
    let address = reference_table(
        at,
        (1..=model::ADDRESSES).map(|id| (id, model::address(rng))),
        |row, a| {
            row.text(&a.line_1)
                .opt_text(a.line_2.as_deref())
                .opt_text(a.district.as_deref())
                .text(&a.city)
                .text(&a.postal_code)
                .text(&a.country)
                .text(&a.phone);
        },
    );
    let counterparty = reference_table(
        at,
        (1..=model::COUNTERPARTIES).map(|id| (id, model::counterparty(rng, id))),
        |row, c| {
            row.text(&c.legal_name)
                .int(c.legal_address_id as i64)
                .opt_text(c.commercial_contact.as_deref())
                .opt_text(c.delivery_contact.as_deref());
        },
    );
    let currency = reference_table(at, numbered(model::CURRENCY_CODES), |row, code| {
        row.text(code);
    });
    let department = reference_table(
        at,
        numbered(model::DEPARTMENT_ROWS),
        |row, (name, location, manager)| {
            row.text(name).text(location).text(manager);
        },
    );
    let staff = reference_table(
        at,
        (1..=model::STAFF).map(|id| (id, model::staff(rng, id))),
        |row, s| {
            row.text(&s.first_name)
                .text(&s.last_name)
                .int(s.department_id as i64)
                .text(&s.email);
        },
    );
    let payment_type = reference_table(at, numbered(model::PAYMENT_TYPES), |row, name| {
        row.text(name);
    });
    vec![
        ("address", address),
        ("counterparty", counterparty),
        ("currency", currency),
        ("department", department),
        ("staff", staff),
        ("payment_type", payment_type),
    ]
}

/// `rows` numbered from 1, as a reference table's ids.
fn numbered<T>(rows: impl IntoIterator<Item = T>) -> impl Iterator<Item = (i32, T)> {
    (1..).zip(rows)
}

/// A reference table: per `(id, row)`, the id, the columns `columns` writes for the row, then
/// `created_at` and `last_updated`, both `at`.
fn reference_table<T>(
    at: NaiveDateTime,
    rows: impl IntoIterator<Item = (i32, T)>,
    mut columns: impl FnMut(&mut CopyText, T),
) -> CopyText {
    let mut text = CopyText::new();
    for (id, row) in rows {
        text.int(id as i64);
        columns(&mut text, row);
        text.ts(at).ts(at);
        text.end_row();
    }
    text
}

/// Writes the history, day by day, into one COPY buffer per large table (in [`BIG_TABLES`] order).
struct HistoryWriter {
    buffers: Vec<CopyText>,
    next_design: i32,
    next_sales: i32,
    next_purchase: i32,
    next_transaction: i32,
}

enum Arrival {
    Design,
    Sale,
    Purchase,
}

impl HistoryWriter {
    fn new() -> Self {
        HistoryWriter {
            buffers: (0..BIG_TABLES.len()).map(|_| CopyText::new()).collect(),
            next_design: 1,
            next_sales: 1,
            next_purchase: 1,
            next_transaction: 1,
        }
    }

    fn design(&mut self, d: model::Design) {
        let buf = &mut self.buffers[0];
        buf.int(self.next_design as i64)
            .ts(d.created_at)
            .text(&d.name)
            .text(&d.file_location)
            .text(&d.file_name)
            .ts(d.created_at);
        buf.end_row();
        self.next_design += 1;
    }

    /// Everything that arrives on `day` before `options.end`.
    fn day(&mut self, rng: &mut ChaCha8Rng, day: chrono::NaiveDate, options: &SeedOptions) {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return;
        }
        let open = day.and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        let close = day
            .and_time(NaiveTime::from_hms_opt(19, 0, 0).unwrap())
            .min(options.end);
        if close <= open {
            return;
        }
        let mut arrivals: Vec<(NaiveDateTime, Arrival)> = Vec::new();
        let base: [u32; 3] = [
            rng.random_range(0..=2),
            rng.random_range(19..=24),
            rng.random_range(7..=11),
        ];
        let designs = model::count(rng, base[0] as f64 * options.scale);
        let sales = model::count(rng, base[1] as f64 * options.scale);
        let purchases = model::count(rng, base[2] as f64 * options.scale);
        // A day cut short by `end` keeps its pro-rata share.
        let share = (close - open).num_milliseconds() as f64 / 39_600_000.0;
        let keep = |n: usize| (n as f64 * share).round() as usize;
        for _ in 0..keep(designs) {
            arrivals.push((model::moment(rng, open, close), Arrival::Design));
        }
        for _ in 0..keep(sales) {
            arrivals.push((model::moment(rng, open, close), Arrival::Sale));
        }
        for _ in 0..keep(purchases) {
            arrivals.push((model::moment(rng, open, close), Arrival::Purchase));
        }
        arrivals.sort_by_key(|(t, _)| *t);
        for (at, arrival) in arrivals {
            match arrival {
                Arrival::Design => self.design(model::design(rng, at)),
                Arrival::Sale => {
                    let order = model::sales_order(rng, at, self.next_design - 1);
                    self.order(&order, options.end);
                }
                Arrival::Purchase => {
                    let order = model::purchase_order(rng, at);
                    self.order(&order, options.end);
                }
            }
        }
    }

    fn order(&mut self, o: &Order, end: NaiveDateTime) {
        let at = o.created_at;
        let (sales_id, purchase_id) = match &o.kind {
            OrderKind::Sale { design_id } => {
                let id = self.next_sales;
                self.next_sales += 1;
                let buf = &mut self.buffers[1];
                buf.int(id as i64)
                    .ts(at)
                    .ts(at)
                    .int(*design_id as i64)
                    .int(o.staff_id as i64)
                    .int(o.counterparty_id as i64);
                terms(buf, o);
                buf.end_row();
                (Some(id), None)
            }
            OrderKind::Purchase { item_code } => {
                let id = self.next_purchase;
                self.next_purchase += 1;
                let buf = &mut self.buffers[2];
                buf.int(id as i64)
                    .ts(at)
                    .ts(at)
                    .int(o.staff_id as i64)
                    .int(o.counterparty_id as i64)
                    .text(item_code);
                terms(buf, o);
                buf.end_row();
                (None, Some(id))
            }
        };
        let txn = self.next_transaction;
        self.next_transaction += 1;
        let buf = &mut self.buffers[3];
        buf.int(txn as i64).text(o.transaction_type());
        match sales_id {
            Some(id) => buf.int(id as i64),
            None => buf.opt_text(None),
        };
        match purchase_id {
            Some(id) => buf.int(id as i64),
            None => buf.opt_text(None),
        };
        buf.ts(at).ts(at);
        buf.end_row();
        // The payment shares the transaction's id sequence one-to-one.
        let (paid, last_updated) = match o.paid_at() {
            Some(paid_at) if paid_at <= end => (true, paid_at),
            _ => (false, at),
        };
        let buf = &mut self.buffers[4];
        buf.int(txn as i64)
            .ts(at)
            .ts(last_updated)
            .int(txn as i64)
            .int(o.counterparty_id as i64)
            .text(&model::money(o.amount_pence()))
            .int(o.currency_id as i64)
            .int(o.payment_type_id() as i64)
            .bool(paid)
            .date(o.payment_date)
            .int(o.company_ac as i64)
            .int(o.counterparty_ac as i64);
        buf.end_row();
    }
}

/// The columns a sales and a purchase order end with, after their own: the quantity, the unit
/// price, the currency, the agreed dates and the delivery location.
fn terms(buf: &mut CopyText, o: &Order) {
    buf.int(o.quantity as i64)
        .text(&model::money(o.unit_price_pence))
        .int(o.currency_id as i64)
        .date(o.delivery_date)
        .date(o.payment_date)
        .int(o.location_id as i64);
}
