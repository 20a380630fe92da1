//! `tote sim run`: play ToteSys forward in simulated time, one 15-minute tick at a time.
//!
//! The simulated clock starts at the later of the newest timestamp in the database and the
//! clock the simulator last stored (in `tote_sim.clock`, outside the ToteSys schema), so ticks
//! that wrote nothing (nights, weekends) still move time on and runs are reproducible: the
//! simulator never reads the wall clock. Each tick is one transaction.
//!
//! A tick brings what the real business does (orders with their transaction and payment in
//! business hours, new designs, `paid` flipping at 07:55 on the payment date) and, on request,
//! what the real data never showed but a pipeline must survive: order updates, staff renames and
//! department moves, department renames, counterparty and address changes, deletes, and one
//! transaction held open over several ticks so that it commits late with an old `last_updated`.

use std::fmt;
use std::time::Duration;

use chrono::{Duration as Span, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Transaction};
use tote_core::{Error, Result};
use tote_io::pg::{self, Role};

use crate::model::{self, Order, OrderKind};

/// One tick of simulated time.
pub const TICK: Span = Span::minutes(15);
/// How many ticks the late-committing transaction stays open.
pub const LATE_COMMIT_TICKS: u32 = 3;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Number of ticks to play.
    pub ticks: u32,
    /// Real time between ticks (zero: as fast as possible).
    pub interval: Duration,
    /// RNG seed, mixed with the simulated clock so consecutive runs differ yet repeat exactly.
    pub seed: u64,
    /// Volume of new orders and designs, as for the seed (1 ≈ the real database).
    pub scale: f64,
    /// Expected number of changes of each kind per tick (order updates, staff renames, department
    /// moves, department renames, counterparty moves, address changes).
    pub update_rate: f64,
    /// Expected number of deletes per tick: mostly an order with its transaction and payment,
    /// else a design no order uses, an address nothing uses (a new one is added first), or a
    /// deleted design's id coming back with a new design.
    pub delete_rate: f64,
    /// Hold one new order's transaction open for [`LATE_COMMIT_TICKS`] ticks.
    pub late_commit: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            ticks: 4,
            interval: Duration::ZERO,
            seed: 1,
            scale: 1.0,
            update_rate: 0.0,
            delete_rate: 0.0,
            late_commit: false,
        }
    }
}

/// What one tick changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// The tick's simulated window: (from, to].
    pub from: Option<NaiveDateTime>,
    /// End of the window.
    pub to: Option<NaiveDateTime>,
    /// New sales orders.
    pub sales_orders: u32,
    /// New purchase orders.
    pub purchase_orders: u32,
    /// New designs.
    pub designs: u32,
    /// Payments whose `paid` flipped to true.
    pub paid: u32,
    /// Orders whose units, price or dates changed.
    pub order_updates: u32,
    /// Staff renamed.
    pub staff_renames: u32,
    /// Staff moved to another department.
    pub staff_moves: u32,
    /// Departments renamed.
    pub department_renames: u32,
    /// Counterparties moved to another legal address.
    pub counterparty_moves: u32,
    /// Addresses changed.
    pub address_changes: u32,
    /// Rows deleted (an order with its transaction and payment counts once).
    pub deletes: u32,
    /// Deleted ids that came back with a new row.
    pub restores: u32,
    /// The late transaction opened (`Some(stamp)`) in this tick.
    pub late_opened: Option<NaiveDateTime>,
    /// The late transaction committed at the end of this tick.
    pub late_committed: bool,
}

impl fmt::Display for TickReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(from), Some(to)) = (self.from, self.to) else {
            return f.write_str("tick");
        };
        write!(f, "{} → {}", from.format("%a %Y-%m-%d %H:%M"), to.format("%H:%M"))?;
        let parts = [
            (self.sales_orders, "sales order"),
            (self.purchase_orders, "purchase order"),
            (self.designs, "design"),
            (self.paid, "paid"),
            (self.order_updates, "order update"),
            (self.staff_renames, "staff rename"),
            (self.staff_moves, "staff move"),
            (self.department_renames, "department rename"),
            (self.counterparty_moves, "counterparty move"),
            (self.address_changes, "address change"),
            (self.deletes, "delete"),
            (self.restores, "restore"),
        ];
        let mut any = false;
        for (n, what) in parts {
            if n > 0 {
                let plural = if n > 1 && what != "paid" { "s" } else { "" };
                write!(f, "{} {n} {what}{plural}", if any { "," } else { ":" })?;
                any = true;
            }
        }
        if !any {
            f.write_str(": quiet")?;
        }
        if let Some(at) = self.late_opened {
            write!(
                f,
                "; late transaction opened, stamped {}",
                at.format("%H:%M:%S%.3f")
            )?;
        }
        if self.late_committed {
            f.write_str("; late transaction committed")?;
        }
        Ok(())
    }
}

/// Plays `options.ticks` ticks against the database at `url`, calling `on_tick` after each.
pub async fn run(
    url: &str,
    options: &RunOptions,
    mut on_tick: impl FnMut(&TickReport),
) -> Result<Vec<TickReport>> {
    let mut client = pg::connect(url, Role::Source).await?;
    let err = |e: tokio_postgres::Error| pg::classify(&e, Role::Source, url);
    client
        .batch_execute(crate::schema::SIM_STATE)
        .await
        .map_err(err)?;
    let mut clock = current_clock(&client).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ clock.and_utc().timestamp_millis() as u64);
    let mut late: Option<(Client, u32)> = None;
    let mut reports = Vec::new();
    for tick in 0..options.ticks {
        if tick > 0 && !options.interval.is_zero() {
            tokio::time::sleep(options.interval).await;
        }
        let to = clock + TICK;
        let mut report = TickReport {
            from: Some(clock),
            to: Some(to),
            ..TickReport::default()
        };
        let tx = client.transaction().await.map_err(err)?;
        play_tick(&tx, &mut rng, clock, to, options, &mut report)
            .await
            .map_err(err)?;
        set_clock(&tx, to).await?;
        tx.commit().await.map_err(err)?;

        if options.late_commit
            && late.is_none()
            && !reports.iter().any(|r: &TickReport| r.late_opened.is_some())
        {
            if let Some(at) = business_moment(&mut rng, clock, to) {
                let late_client = pg::connect(url, Role::Source).await?;
                late_client.batch_execute("BEGIN").await.map_err(err)?;
                let max_design = max_id(&late_client, "design").await.map_err(err)?;
                let order = model::sales_order(&mut rng, at, max_design.max(1));
                insert_order(&late_client, &order).await.map_err(err)?;
                report.late_opened = Some(at);
                late = Some((late_client, tick));
            }
        }
        if let Some((late_client, opened)) = &late {
            if tick >= opened + LATE_COMMIT_TICKS || tick + 1 == options.ticks {
                late_client.batch_execute("COMMIT").await.map_err(err)?;
                report.late_committed = true;
                late = None;
            }
        }
        clock = to;
        on_tick(&report);
        reports.push(report);
    }
    Ok(reports)
}

/// The simulated clock: the later of the stored clock and the newest timestamp in the data.
pub async fn current_clock(client: &Client) -> Result<NaiveDateTime> {
    let mut sql = String::from("SELECT max(t) FROM (SELECT now AS t FROM tote_sim.clock");
    for table in tote_core::tables::SOURCE_TABLES {
        sql.push_str(&format!(
            " UNION ALL SELECT max(last_updated) FROM {}",
            tote_core::tables::quote_ident(table)
        ));
    }
    sql.push_str(") AS m");
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| Error::new(tote_core::ErrorKind::SourceUnavailable, pg::describe(&e)))?;
    row.get::<_, Option<NaiveDateTime>>(0)
        .ok_or_else(|| Error::bad_request("the database holds no ToteSys rows: run `tote sim seed` first"))
}

/// Stores the simulated clock.
pub async fn set_clock(client: &impl GenericClient, now: NaiveDateTime) -> Result<()> {
    client
        .execute(
            "INSERT INTO tote_sim.clock (id, now) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET now = excluded.now",
            &[&now],
        )
        .await
        .map(|_| ())
        .map_err(|e| Error::new(tote_core::ErrorKind::SourceUnavailable, pg::describe(&e)))
}

/// A random moment in (from, to] that falls in business hours, if there is one.
fn business_moment(rng: &mut ChaCha8Rng, from: NaiveDateTime, to: NaiveDateTime) -> Option<NaiveDateTime> {
    let (a, b) = business_window(from, to)?;
    Some(model::moment(rng, a, b))
}

/// The part of the window (from, to] inside business hours, as a half-open [a, b).
fn business_window(from: NaiveDateTime, to: NaiveDateTime) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let start = from + Span::milliseconds(1);
    let day = start.date();
    if !model::is_business_time(day.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap())) {
        return None;
    }
    let open = day.and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    let close = day.and_time(NaiveTime::from_hms_opt(19, 0, 0).unwrap());
    let a = start.max(open);
    let b = (to + Span::milliseconds(1)).min(close);
    (b > a).then_some((a, b))
}

/// One tick's changes, in order: new arrivals, payments flipping to paid, the changes the real
/// data never showed, then deletes.
async fn play_tick(
    tx: &Transaction<'_>,
    rng: &mut ChaCha8Rng,
    from: NaiveDateTime,
    to: NaiveDateTime,
    options: &RunOptions,
    report: &mut TickReport,
) -> std::result::Result<(), tokio_postgres::Error> {
    if let Some(window) = business_window(from, to) {
        arrive(tx, rng, window, options.scale, report).await?;
    }
    let tick = Tick { tx, from, to };
    report.paid = flip_paid(&tick).await?;
    change(&tick, rng, options.update_rate, report).await?;
    delete(&tick, rng, options.delete_rate, report).await?;
    Ok(())
}

/// The tick being played: its transaction, and its window of simulated time (from, to].
struct Tick<'a> {
    tx: &'a Transaction<'a>,
    from: NaiveDateTime,
    to: NaiveDateTime,
}

impl Tick<'_> {
    /// A random moment in the tick's window.
    fn moment(&self, rng: &mut ChaCha8Rng) -> NaiveDateTime {
        model::moment(
            rng,
            self.from + Span::milliseconds(1),
            self.to + Span::milliseconds(1),
        )
    }
}

/// The designs, sales orders and purchase orders that arrive in the business hours `[a, b)`, in
/// time order, at `scale`.
async fn arrive(
    tx: &Transaction<'_>,
    rng: &mut ChaCha8Rng,
    (a, b): (NaiveDateTime, NaiveDateTime),
    scale: f64,
    report: &mut TickReport,
) -> std::result::Result<(), tokio_postgres::Error> {
    let share = (b - a).num_milliseconds() as f64 / 39_600_000.0;
    let mut arrivals: Vec<(NaiveDateTime, u8)> = Vec::new();
    for (kind, per_day) in [(0u8, 1.0), (1, 21.5), (2, 9.0)] {
        for _ in 0..model::count(rng, per_day * scale * share) {
            arrivals.push((model::moment(rng, a, b), kind));
        }
    }
    arrivals.sort();
    let mut max_design = max_id(tx, "design").await?;
    for (at, kind) in arrivals {
        match kind {
            0 => {
                max_design = insert_design(tx, &model::design(rng, at)).await?;
                report.designs += 1;
            }
            1 => {
                insert_order(tx, &model::sales_order(rng, at, max_design.max(1))).await?;
                report.sales_orders += 1;
            }
            _ => {
                insert_order(tx, &model::purchase_order(rng, at)).await?;
                report.purchase_orders += 1;
            }
        }
    }
    Ok(())
}

/// Inserts design `d`; its id.
async fn insert_design(
    tx: &Transaction<'_>,
    d: &model::Design,
) -> std::result::Result<i32, tokio_postgres::Error> {
    let row = tx
        .query_one(
            "INSERT INTO design (created_at, design_name, file_location, file_name, last_updated) \
             VALUES ($1, $2, $3, $4, $1) RETURNING design_id",
            &[&d.created_at, &d.name, &d.file_location, &d.file_name],
        )
        .await?;
    Ok(row.get(0))
}

/// Flips payments to paid at 07:55 on their payment date, where that falls in the tick; how many.
async fn flip_paid(tick: &Tick<'_>) -> std::result::Result<u32, tokio_postgres::Error> {
    Ok(tick
        .tx
        .execute(
            "UPDATE payment SET paid = true, last_updated = flip FROM \
               (SELECT payment_id AS id, payment_date::date + time '07:55' AS flip FROM payment WHERE NOT paid) AS f \
             WHERE payment_id = f.id AND f.flip > $1 AND f.flip <= $2 AND f.flip > created_at",
            &[&tick.from, &tick.to],
        )
        .await? as u32)
}

/// What the real data never showed, about `rate` of each kind in the tick: order updates, staff
/// renames and moves, department renames, counterparty moves, address changes.
async fn change(
    tick: &Tick<'_>,
    rng: &mut ChaCha8Rng,
    rate: f64,
    report: &mut TickReport,
) -> std::result::Result<(), tokio_postgres::Error> {
    for _ in 0..model::count(rng, rate) {
        let sale = rng.random_bool(0.5);
        if update_order(tick, rng, sale).await? {
            report.order_updates += 1;
        }
    }
    for _ in 0..model::count(rng, rate) {
        report.staff_renames += rename_staff(tick, rng).await?;
    }
    for _ in 0..model::count(rng, rate) {
        let id = rng.random_range(1..=model::STAFF);
        let department = rng.random_range(2..=model::DEPARTMENTS);
        let at = tick.moment(rng);
        report.staff_moves += set_column(tick.tx, "staff", "department_id", id, &department, at).await?;
    }
    for _ in 0..model::count(rng, rate) {
        let id = rng.random_range(2..=model::DEPARTMENTS);
        let at = tick.moment(rng);
        let base = model::DEPARTMENT_ROWS[id as usize - 1].0;
        let suffix = ["", " & Operations", " Services", " Team"][rng.random_range(0..4)];
        let name = format!("{base}{suffix}");
        report.department_renames +=
            set_column(tick.tx, "department", "department_name", id, &name, at).await?;
    }
    for _ in 0..model::count(rng, rate) {
        let id = rng.random_range(1..=model::COUNTERPARTIES);
        let address = rng.random_range(1..=model::ADDRESSES);
        let at = tick.moment(rng);
        report.counterparty_moves +=
            set_column(tick.tx, "counterparty", "legal_address_id", id, &address, at).await?;
    }
    for _ in 0..model::count(rng, rate) {
        let id = rng.random_range(1..=model::ADDRESSES);
        let a = model::address(rng);
        let at = tick.moment(rng);
        report.address_changes += tick
            .tx
            .execute(
                "UPDATE address SET address_line_1 = $2, phone = $3, last_updated = $4 WHERE address_id = $1",
                &[&id, &a.line_1, &a.phone, &at],
            )
            .await? as u32;
    }
    Ok(())
}

/// Renames a random member of staff in the tick, with the email address that goes
/// with the new name; rows changed.
async fn rename_staff(
    tick: &Tick<'_>,
    rng: &mut ChaCha8Rng,
) -> std::result::Result<u32, tokio_postgres::Error> {
    let id = rng.random_range(1..=model::STAFF);
    let at = tick.moment(rng);
    let last = model::last_name(rng);
    Ok(tick
        .tx
        .execute(
            "UPDATE staff SET last_name = $2, last_updated = $3, \
             email_address = lower(regexp_replace(first_name, '[^[:alnum:]]', '', 'g')) || '.' || \
                             lower(regexp_replace($2, '[^[:alnum:]]', '', 'g')) || '@terrifictotes.com' \
             WHERE staff_id = $1 AND last_name <> $2",
            &[&id, &last, &at],
        )
        .await? as u32)
}

/// Sets `column` of row `id` of `table` (keyed by `<table>_id`) to `value`, stamped `at`, unless
/// it holds that value already; rows changed.
async fn set_column(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
    id: i32,
    value: &(dyn ToSql + Sync),
    at: NaiveDateTime,
) -> std::result::Result<u32, tokio_postgres::Error> {
    let sql = format!(
        "UPDATE {table} SET {column} = $2, last_updated = $3 WHERE {table}_id = $1 AND {column} <> $2"
    );
    Ok(tx.execute(&sql, &[&id, value, &at]).await? as u32)
}

/// About `rate` deletes in the tick: mostly an order with its transaction and payment, else a
/// design no order uses, an address nothing uses (a new one added first), or a deleted design's
/// id coming back with a new design.
async fn delete(
    tick: &Tick<'_>,
    rng: &mut ChaCha8Rng,
    rate: f64,
    report: &mut TickReport,
) -> std::result::Result<(), tokio_postgres::Error> {
    for _ in 0..model::count(rng, rate) {
        let at = tick.moment(rng);
        let kind = rng.random_range(0..100);
        let deleted = match kind {
            0..60 => {
                let sale = rng.random_bool(0.7);
                delete_order(tick.tx, rng, sale).await?
            }
            60..75 => {
                delete_unused(
                    tick.tx,
                    "design",
                    "NOT EXISTS (SELECT 1 FROM sales_order o WHERE o.design_id = t.design_id)",
                )
                .await?
            }
            75..85 => {
                insert_address(tick.tx, &model::address(rng), at).await?;
                report.address_changes += 1;
                delete_unused(
                    tick.tx,
                    "address",
                    "t.address_id < (SELECT max(address_id) FROM address) \
                     AND NOT EXISTS (SELECT 1 FROM counterparty c WHERE c.legal_address_id = t.address_id) \
                     AND NOT EXISTS (SELECT 1 FROM sales_order o WHERE o.agreed_delivery_location_id = t.address_id) \
                     AND NOT EXISTS (SELECT 1 FROM purchase_order o WHERE o.agreed_delivery_location_id = t.address_id)",
                )
                .await?
            }
            _ => {
                if restore_design(tick.tx, at).await? {
                    report.restores += 1;
                }
                false
            }
        };
        if deleted {
            report.deletes += 1;
        }
    }
    Ok(())
}

/// Inserts address `a`, created at `at`.
async fn insert_address(
    tx: &Transaction<'_>,
    a: &model::Address,
    at: NaiveDateTime,
) -> std::result::Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO address (address_line_1, address_line_2, district, city, postal_code, country, phone, \
         created_at, last_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        &[
            &a.line_1,
            &a.line_2,
            &a.district,
            &a.city,
            &a.postal_code,
            &a.country,
            &a.phone,
            &at,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes the newest row of `table` (alias `t` in `unused`) that `unused` allows.
async fn delete_unused(
    tx: &Transaction<'_>,
    table: &str,
    unused: &str,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let id = tote_core::tables::quote_ident(&format!("{table}_id"));
    let table = tote_core::tables::quote_ident(table);
    let sql = format!(
        "DELETE FROM {table} WHERE {id} = (SELECT t.{id} FROM {table} t WHERE {unused} ORDER BY t.{id} DESC LIMIT 1)"
    );
    Ok(tx.execute(&sql, &[]).await? > 0)
}

/// Brings a deleted design id back: a new design under the newest design id no row has.
/// Nothing when no id below the newest is free.
async fn restore_design(
    tx: &Transaction<'_>,
    at: NaiveDateTime,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let n = tx
        .execute(
            "INSERT INTO design (design_id, created_at, design_name, file_location, file_name, last_updated) \
             SELECT d.design_id - 1, $1, 'Restored', '/usr/share', 'restored-' || (d.design_id - 1) || '.json', $1 \
             FROM design d \
             WHERE d.design_id > 1 AND NOT EXISTS (SELECT 1 FROM design g WHERE g.design_id = d.design_id - 1) \
             ORDER BY d.design_id DESC LIMIT 1",
            &[&at],
        )
        .await?;
    Ok(n > 0)
}

async fn max_id(client: &impl GenericClient, table: &str) -> std::result::Result<i32, tokio_postgres::Error> {
    let sql = format!(
        "SELECT coalesce(max({}), 0) FROM {}",
        tote_core::tables::quote_ident(&format!("{table}_id")),
        tote_core::tables::quote_ident(table)
    );
    Ok(client.query_one(&sql, &[]).await?.get(0))
}

/// Inserts an order with its transaction and payment (unpaid: it was just created).
async fn insert_order(
    client: &impl GenericClient,
    o: &Order,
) -> std::result::Result<(), tokio_postgres::Error> {
    let price = model::money(o.unit_price_pence);
    let delivery = o.delivery_date.format("%Y-%m-%d").to_string();
    let payment = o.payment_date.format("%Y-%m-%d").to_string();
    // The columns a sales and a purchase order end with, after their own four: $5 to $10.
    let terms: [&(dyn ToSql + Sync); 6] = [
        &o.quantity,
        &price,
        &o.currency_id,
        &delivery,
        &payment,
        &o.location_id,
    ];
    let (sales_id, purchase_id): (Option<i32>, Option<i32>) = match &o.kind {
        OrderKind::Sale { design_id } => {
            let own: [&(dyn ToSql + Sync); 4] = [&o.created_at, design_id, &o.staff_id, &o.counterparty_id];
            let row = client
                .query_one(
                    // The design, or the nearest one below it when it was deleted.
                    "INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, \
                     unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) \
                     VALUES ($1, $1, (SELECT coalesce(max(design_id), (SELECT min(design_id) FROM design)) FROM design \
                     WHERE design_id <= $2), $3, $4, $5, $6::text::numeric, $7, $8, $9, $10) RETURNING sales_order_id",
                    &[&own[..], &terms].concat(),
                )
                .await?;
            (Some(row.get(0)), None)
        }
        OrderKind::Purchase { item_code } => {
            let own: [&(dyn ToSql + Sync); 4] = [&o.created_at, &o.staff_id, &o.counterparty_id, item_code];
            let row = client
                .query_one(
                    "INSERT INTO purchase_order (created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, \
                     item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) \
                     VALUES ($1, $1, $2, $3, $4, $5, $6::text::numeric, $7, $8, $9, $10) RETURNING purchase_order_id",
                    &[&own[..], &terms].concat(),
                )
                .await?;
            (None, Some(row.get(0)))
        }
    };
    let txn: i32 = client
        .query_one(
            "INSERT INTO \"transaction\" (transaction_type, sales_order_id, purchase_order_id, created_at, last_updated) \
             VALUES ($1, $2, $3, $4, $4) RETURNING transaction_id",
            &[&o.transaction_type(), &sales_id, &purchase_id, &o.created_at],
        )
        .await?
        .get(0);
    let amount = model::money(o.amount_pence());
    client
        .execute(
            "INSERT INTO payment (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id, \
             payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number) \
             VALUES ($1, $1, $2, $3, $4::text::numeric, $5, $6, false, $7, $8, $9)",
            &[
                &o.created_at,
                &txn,
                &o.counterparty_id,
                &amount,
                &o.currency_id,
                &o.payment_type_id(),
                &payment,
                &o.company_ac,
                &o.counterparty_ac,
            ],
        )
        .await?;
    Ok(())
}

/// Changes the quantity, price and agreed dates of a random order whose payment is still unpaid,
/// keeping payment_amount = quantity × price and payment_date = agreed_payment_date.
async fn update_order(
    tick: &Tick<'_>,
    rng: &mut ChaCha8Rng,
    sale: bool,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let Tick { tx, from, to } = *tick;
    let (table, id_col, qty_col, price_col, fk) = if sale {
        (
            "sales_order",
            "sales_order_id",
            "units_sold",
            "unit_price",
            "sales_order_id",
        )
    } else {
        (
            "purchase_order",
            "purchase_order_id",
            "item_quantity",
            "item_unit_price",
            "purchase_order_id",
        )
    };
    let candidates_sql = format!(
        "SELECT o.{id_col}, o.created_at, p.payment_id FROM {table} o \
         JOIN \"transaction\" t ON t.{fk} = o.{id_col} JOIN payment p ON p.transaction_id = t.transaction_id \
         WHERE NOT p.paid AND o.last_updated <= $1 ORDER BY o.{id_col} DESC LIMIT 50"
    );
    let rows = tx.query(&candidates_sql, &[&from]).await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let row = &rows[rng.random_range(0..rows.len())];
    let (id, created_at, payment_id): (i32, NaiveDateTime, i32) = (row.get(0), row.get(1), row.get(2));
    let at = tick.moment(rng);
    let quantity = model::quantity(rng, sale);
    let price = model::unit_price_pence(rng, sale);
    let (mut delivery, mut payment) = model::agreed_dates(rng, created_at.date());
    // A payment date whose 07:55 flip is already in the past would leave a payment unpaid that
    // should have been paid: move it to the earliest day still ahead.
    let earliest: NaiveDate = (to + Span::minutes(5)).date() + Span::days(1);
    let latest = created_at.date() + Span::days(7);
    if payment < earliest {
        if earliest > latest {
            // No legal payment date is still ahead: change quantity and price only.
            let row = tx
                .query_one(
                    &format!(
                        "SELECT agreed_delivery_date, agreed_payment_date FROM {table} WHERE {id_col} = $1"
                    ),
                    &[&id],
                )
                .await?;
            delivery = NaiveDate::parse_from_str(row.get::<_, &str>(0), "%Y-%m-%d").unwrap_or(delivery);
            payment = NaiveDate::parse_from_str(row.get::<_, &str>(1), "%Y-%m-%d").unwrap_or(payment);
        } else {
            payment = earliest;
        }
    }
    let price_text = model::money(price);
    let amount = model::money(quantity as i64 * price);
    let delivery = delivery.format("%Y-%m-%d").to_string();
    let payment = payment.format("%Y-%m-%d").to_string();
    tx.execute(
        &format!(
            "UPDATE {table} SET {qty_col} = $2, {price_col} = $3::text::numeric, agreed_delivery_date = $4, \
             agreed_payment_date = $5, last_updated = $6 WHERE {id_col} = $1"
        ),
        &[&id, &quantity, &price_text, &delivery, &payment, &at],
    )
    .await?;
    tx.execute(
        "UPDATE payment SET payment_amount = $2::text::numeric, payment_date = $3, last_updated = $4 WHERE payment_id = $1",
        &[&payment_id, &amount, &payment, &at],
    )
    .await?;
    Ok(true)
}

/// Deletes a random recent order with its transaction and payment.
async fn delete_order(
    tx: &Transaction<'_>,
    rng: &mut ChaCha8Rng,
    sale: bool,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let (table, id_col) = if sale {
        ("sales_order", "sales_order_id")
    } else {
        ("purchase_order", "purchase_order_id")
    };
    let rows = tx
        .query(
            &format!("SELECT {id_col} FROM {table} ORDER BY {id_col} DESC LIMIT 200"),
            &[],
        )
        .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let id: i32 = rows[rng.random_range(0..rows.len())].get(0);
    tx.execute(
        &format!(
            "DELETE FROM payment WHERE transaction_id IN (SELECT transaction_id FROM \"transaction\" WHERE {id_col} = $1)"
        ),
        &[&id],
    )
    .await?;
    tx.execute(
        &format!("DELETE FROM \"transaction\" WHERE {id_col} = $1"),
        &[&id],
    )
    .await?;
    Ok(tx
        .execute(&format!("DELETE FROM {table} WHERE {id_col} = $1"), &[&id])
        .await?
        > 0)
}
