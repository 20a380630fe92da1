//! Stage 3 of tote: processed batches → the Postgres warehouse, exactly once.
//!
//! One call of [`load`]:
//!
//! 1. connects to the warehouse and brings its schema up to date ([`migrations`]);
//! 2. for each model of the requested [`Phase`] (dimensions before facts, as
//!    [`tote_core::models`] orders them), finds the committed processed batches after the last one the
//!    ledger records, and loads them in commit order, so a run that failed earlier is caught up;
//! 3. loads each batch in **one transaction**, with binary COPY (`tote_pgcopy::encode`): a dimension
//!    through a temporary staging table and an upsert that rewrites a row only when a value
//!    changed; a fact straight into its table (falling back to staging and a conflict-skip on
//!    the fact's unique `(natural id, last_updated date, last_updated time)` when a version is
//!    already there); then a row in `tote.load_ledger` — all committed together, or none of it.
//!    A large fact batch has its foreign keys checked set-based ([`keys`]) instead of by the
//!    per-row triggers, which otherwise dominate a first load.
//!
//! A batch already in the ledger is skipped, so loading twice, or retrying after a crash at any
//! point, leaves the warehouse as one load would. Loads of the same model serialise on an
//! advisory lock per model, taken by each batch transaction; the second finds the batch in the
//! ledger and skips it. Loads of different models run at the same time.
//!
//! Identifiers come only from the models' declarations and the warehouse catalog for those
//! tables, and are always quoted; values only travel as parameters or COPY data.

mod deletions;
pub mod freshness;
pub mod keys;
pub mod migrations;

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};
use tote_core::batch::{self, LogEntry, Manifest};
use tote_core::config::Config;
use tote_core::progress::{self, Unit};
use tote_core::tables::quote_ident;
use tote_core::{fault, Error, ErrorKind, Result};
use tote_io::commit_log::CommitLog;
use tote_io::pg::{self, Role};
use tote_io::store::Store;
use tracing::Instrument;

use crate::deletions::Deletions;
use crate::keys::{ForeignKeys, KeyCollector, Written};
use tote_pgcopy::encode::{self as copy_binary, ColumnEncoder, RowEncoder};
use tote_pgcopy::PgType;

/// The load function's events and answers, as the stage contract declares them.
pub use tote_core::event::load::{
    FreshnessRequest, FreshnessResponse, LoadAnswer, LoadEvent, LoadRequest, LoadResponse, Phase, RowCounts,
};

/// How a warehouse table is keyed, as its model declares it.
pub use tote_core::models::{Kind, Model};

/// The models of a phase, in load order.
pub fn models(all: &[Model], phase: Phase) -> impl Iterator<Item = &Model> {
    all.iter().filter(move |m| match phase {
        Phase::All => true,
        Phase::Dimensions => !m.kind.is_fact(),
        Phase::Facts => m.kind.is_fact(),
    })
}

/// The models a request loads, in load order: its phase's, or the one it names, which must be
/// a model of that phase.
fn requested<'a>(all: &'a [Model], request: &LoadRequest) -> Result<Vec<&'a Model>> {
    let mut phase = models(all, request.phase);
    let Some(name) = &request.model else {
        return Ok(phase.collect());
    };
    match phase.find(|m| &m.name == name) {
        Some(model) => Ok(vec![model]),
        None => Err(Error::new(
            ErrorKind::BadRequest,
            format!(
                "the load request names model {name:?}, which is not a model of phase {}; \
                 name one of: {}",
                request.phase.name(),
                models(all, request.phase)
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// First half of the advisory-lock key (two int4 halves) serialising the loads of one model:
/// "totl"; the second half is `hashtext(model)`. Loads of different models run at the same time
/// (the state machine loads the facts concurrently); two loads of the same model take turns, and
/// the second finds the batch in the ledger. A hash collision only makes two models take turns.
pub const MODEL_LOCK: i32 = 0x746f_746c;

/// COPY data is sent in chunks of about this size, so memory stays bounded.
const CHUNK_BYTES: usize = 1 << 20;

/// Connects to the configured warehouse and applies any pending migrations.
pub async fn connect_and_migrate(config: &Config) -> Result<(Client, Vec<i32>)> {
    let url = tote_io::secrets::warehouse_url(config).await?;
    let mut client = pg::connect(&url, Role::Warehouse).await?;
    let migrated = migrations::migrate(&mut client).await?;
    Ok((client, migrated))
}

/// Handles one event of the load function: a load of a phase or one model ([`load`]) or the
/// freshness alone ([`freshness_now`]). The Lambda binary and the local executor both call it,
/// through [`tote_core::event::respond`].
pub async fn handle(config: &Config, event: LoadEvent) -> Result<LoadAnswer> {
    use tote_core::event::StageEvent;
    let span = tracing::info_span!("load", execution = event.execution().unwrap_or_default());
    async move {
        Ok(match event {
            LoadEvent::Load(request) => LoadAnswer::Load(load(config, &request).await?),
            LoadEvent::Freshness(_) => LoadAnswer::Freshness(freshness_now(config).await?),
        })
    }
    .instrument(span)
    .await
}

/// Measures and emits the pipeline's freshness, loading nothing: the state machine's last step,
/// after every model is loaded. The warehouse must answer (its ledger is what is measured); a
/// source that cannot be asked leaves the figure out, as after a load.
pub async fn freshness_now(config: &Config) -> Result<FreshnessResponse> {
    let processed = Store::open(&config.processed, "TOTE_PROCESSED")?;
    let (client, _) = connect_and_migrate(config).await?;
    Ok(measure_freshness(config, &client, &processed).await)
}

/// Loads every committed processed batch of the requested phase that the ledger does not have.
pub async fn load(config: &Config, request: &LoadRequest) -> Result<LoadResponse> {
    let processed = Store::open(&config.processed, "TOTE_PROCESSED")?;
    let (mut client, migrated) = connect_and_migrate(config).await?;
    let mut response = LoadResponse {
        migrated,
        ..Default::default()
    };
    let mut bulk = Bulk {
        rows: config.load_bulk_rows,
        allowed: None,
        key_values: config.load_key_values,
    };
    // Every star table must exist before anything is loaded (one catalog query): a table dropped
    // after the migration fails the load here, naming it, not after other tables took batches.
    let tables: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    if let Some(row) = client
        .query_opt(
            "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(quote_ident(t)) IS NULL LIMIT 1",
            &[&tables],
        )
        .await
        .map_err(warehouse_error)?
    {
        return Err(missing_table(row.get(0)));
    }
    for declared in requested(&config.models, request)? {
        let model = declared.name.as_str();
        let columns = warehouse_columns(&client, model).await?;
        let foreign_keys = match declared.kind {
            Kind::Fact { .. } => ForeignKeys::of(&client, model).await?,
            Kind::Dimension { .. } => ForeignKeys::default(),
        };
        let log = CommitLog::new(processed.clone(), model);
        let after = last_loaded(&client, &log, model).await?;
        let entries = log.entries_after(after).await?;
        let batches = (!entries.is_empty()).then(|| {
            progress::task(
                &format!("load {model}: batches"),
                Unit::Steps,
                Some(entries.len() as u64),
            )
        });
        for entry in entries {
            let manifest = log.manifest(&entry).await?;
            let target = Target {
                model,
                kind: &declared.kind,
                columns: &columns,
                foreign_keys: &foreign_keys,
            };
            match load_batch(
                &mut client,
                &processed,
                &target,
                &entry,
                &manifest,
                request.execution.as_deref(),
                &mut bulk,
            )
            .await?
            {
                Some(counts) => {
                    tracing::info!(model, batch = %entry.batch_id, seq = entry.seq, ?counts, "batch loaded");
                    tote_core::metrics::emit(
                        "load",
                        &[("Stage", "load"), ("Table", model)],
                        &[
                            ("Rows", (counts.inserted + counts.updated) as f64),
                            ("Batches", 1.0),
                            ("Deletions", counts.deleted as f64),
                            ("Duration", counts.millis as f64),
                        ],
                    );
                    response.batches.push(entry.batch_id.clone());
                    response.rows.entry(model.to_string()).or_default().add(counts);
                }
                None => {
                    tracing::info!(model, batch = %entry.batch_id, "already in the ledger");
                    response.already_loaded += 1;
                }
            }
            if let Some(batches) = &batches {
                batches.advance(1, 0);
            }
        }
    }
    if request.phase != Phase::Dimensions && request.model.is_none() {
        response.freshness = measure_freshness(config, &client, &processed).await;
    }
    Ok(response)
}

/// Measures and emits the pipeline's freshness after a load. A source or landing store that
/// cannot be read leaves it unmeasured (logged): the load itself succeeded, and the freshness
/// alarm treats the missing figure as breaching.
async fn measure_freshness(config: &Config, warehouse: &Client, processed: &Store) -> FreshnessResponse {
    let measured = async {
        let landing = Store::open(&config.landing, "TOTE_LANDING")?;
        let url = tote_io::secrets::source_url(config).await?;
        let source = pg::connect(&url, Role::Source).await?;
        freshness::measure(&source, warehouse, &landing, processed, config).await
    }
    .await;
    match measured {
        Ok(f) => {
            freshness::emit(&f);
            tracing::info!(
                freshness_seconds = f.freshness_seconds,
                "freshness after the load"
            );
            FreshnessResponse {
                freshness_millis: Some(millis(f.freshness_seconds)),
                table_freshness_millis: f
                    .tables
                    .iter()
                    .map(|t| (t.table.clone(), millis(t.freshness_seconds)))
                    .collect(),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "freshness not measured after the load");
            FreshnessResponse::default()
        }
    }
}

/// Seconds as whole milliseconds.
fn millis(seconds: f64) -> u64 {
    (seconds * 1000.0) as u64
}

/// The last processed batch of `model` the ledger records, checked against the processed store,
/// so that a warehouse pointed at a different processed zone fails loudly instead of skipping.
async fn last_loaded(client: &Client, log: &CommitLog, model: &str) -> Result<Option<u64>> {
    let row = client
        .query_opt(
            "SELECT seq, batch_id FROM tote.load_ledger WHERE model = $1 ORDER BY seq DESC LIMIT 1",
            &[&model],
        )
        .await
        .map_err(warehouse_error)?;
    let Some(row) = row else { return Ok(None) };
    let (seq, batch_id): (i64, String) = (row.get(0), row.get(1));
    let seq = seq as u64;
    match log.entry(seq).await? {
        Some(entry) if entry.batch_id == batch_id => Ok(Some(seq)),
        found => Err(Error::config(format!(
            "the warehouse ledger says {model} batch {seq} is {batch_id}, but the processed zone has {}; \
             TOTE_PROCESSED must point at the processed zone this warehouse was loaded from",
            found.map_or("no such batch".to_string(), |e| e.batch_id)
        ))),
    }
}

/// One warehouse column: name, catalog type.
#[derive(Debug, Clone)]
pub struct WarehouseColumn {
    /// Column name.
    pub name: String,
    /// Its type, when the loader can write it.
    pub pg_type: Option<PgType>,
    /// The catalog's type name, for messages.
    pub type_name: String,
}

/// A star table that a migrated warehouse lacks.
fn missing_table(model: &str) -> Error {
    if tote_core::models::find(tote_core::models::built_in(), model).is_none() {
        return Error::config(format!(
            "the warehouse has no table {model}, which model {model} (TOTE_MODELS) declares; create \
             it and its view current.{model} in the warehouse (the columns of {model}.toml), then run again"
        ));
    }
    Error::config(format!(
        "the warehouse has no table {model}, although its migrations are recorded as applied; \
         restore it, or drop the schema tote and the star tables and let tote migrate again"
    ))
}

/// The columns of warehouse table `model`, from the catalog (the allow-list of column names).
pub async fn warehouse_columns(client: &Client, model: &str) -> Result<Vec<WarehouseColumn>> {
    let rows = client
        .query(
            "SELECT a.attname::text, t.typname::text, a.atttypmod \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&quote_ident(model)],
        )
        .await
        .map_err(warehouse_error)?;
    if rows.is_empty() {
        return Err(missing_table(model));
    }
    Ok(rows
        .iter()
        .map(|r| {
            let (name, typname, typmod): (String, String, i32) = (r.get(0), r.get(1), r.get(2));
            WarehouseColumn {
                pg_type: PgType::from_name(&typname, typmod).filter(|t| copy_binary::writes(*t)),
                name,
                type_name: typname,
            }
        })
        .collect())
}

struct Target<'a> {
    model: &'a str,
    kind: &'a Kind,
    columns: &'a [WarehouseColumn],
    foreign_keys: &'a ForeignKeys,
}

/// How a fact batch's foreign keys are enforced, decided per batch by [`load_facts`].
struct Bulk {
    /// `TOTE_LOAD_BULK_ROWS`.
    rows: u64,
    /// Whether the warehouse user may skip the per-row triggers (known after the first try).
    allowed: Option<bool>,
    /// `TOTE_LOAD_KEY_VALUES`.
    key_values: usize,
}

/// Loads one batch in one transaction. `None` when the ledger already has it.
async fn load_batch(
    client: &mut Client,
    store: &Store,
    target: &Target<'_>,
    entry: &LogEntry,
    manifest: &Manifest,
    execution: Option<&str>,
    bulk: &mut Bulk,
) -> Result<Option<RowCounts>> {
    let started = std::time::Instant::now();
    let what = format!("{} batch {} (seq {})", target.model, entry.batch_id, entry.seq);
    let (encoder, columns) = plan_columns(target, manifest, &what)?;
    let batch = Batch {
        store,
        manifest,
        encoder: &encoder,
        columns: &columns,
        what: &what,
    };

    let tx = client.transaction().await.map_err(warehouse_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&MODEL_LOCK, &target.model],
    )
    .await
    .map_err(warehouse_error)?;
    let seen = tx
        .query_opt(
            "SELECT 1 FROM tote.load_ledger WHERE batch_id = $1",
            &[&entry.batch_id],
        )
        .await
        .map_err(warehouse_error)?;
    if seen.is_some() {
        return Ok(None);
    }

    let deletions = Deletions::of(&tx, target, manifest.rows > 0).await?;
    // Whether the rows went through the staging table (which then lives until commit).
    let (mut counts, staged) = match target.kind {
        _ if manifest.rows == 0 => (RowCounts::default(), false),
        Kind::Dimension { .. } => load_dimension(&tx, target, &batch, &deletions).await?,
        Kind::Fact { .. } => load_facts(&tx, target, &batch, bulk).await?,
    };
    let position = (entry.batch_id.as_str(), entry.seq as i64);
    counts.restored = deletions.restore(&tx, target, staged, position).await?;
    counts.deleted = deletions::record(&tx, store, target, manifest, position, &what).await?;
    fault::point("load.after_deletions")?;
    tx.execute(
        "INSERT INTO tote.load_ledger \
         (batch_id, model, seq, rows_staged, rows_inserted, rows_updated, rows_skipped, rows_deleted, execution) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &entry.batch_id,
            &target.model,
            &(entry.seq as i64),
            &(counts.staged as i64),
            &(counts.inserted as i64),
            &(counts.updated as i64),
            &(counts.skipped as i64),
            &(counts.deleted as i64),
            &execution,
        ],
    )
    .await
    .map_err(warehouse_error)?;
    fault::point("load.before_commit")?;
    tx.commit().await.map_err(warehouse_error)?;
    fault::point("load.after_commit")?;
    Ok(Some(RowCounts {
        millis: started.elapsed().as_millis() as u64,
        ..counts
    }))
}

/// One processed batch on its way into a warehouse table.
struct Batch<'a> {
    store: &'a Store,
    manifest: &'a Manifest,
    encoder: &'a RowEncoder,
    /// The quoted warehouse columns, in the batch's column order.
    columns: &'a [String],
    /// "model batch id (seq n)", for messages.
    what: &'a str,
}

/// Loads a dimension batch. Into an empty table with no deletion in force (a first load, or a
/// model added later) the batch is copied straight in, inside a savepoint: with nothing there to
/// compare with, staging, the sort per key and the upsert's lookups would be pure overhead (most
/// of a first load's time, docs/benchmarks.md). A batch that repeats a key stops the COPY on the
/// primary key: the savepoint is rolled back and the batch is merged through staging, as every
/// batch into a table with rows is.
///
/// Returns the counts, and whether the batch went through staging.
async fn load_dimension(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    batch: &Batch<'_>,
    deletions: &Deletions,
) -> Result<(RowCounts, bool)> {
    let table = quote_ident(target.model);
    let empty = !deletions.in_force()
        && tx
            .query_one(&format!("SELECT NOT EXISTS (SELECT FROM {table})"), &[])
            .await
            .map_err(warehouse_error)?
            .get::<_, bool>(0);
    if empty {
        let repeats = "the batch repeats a key: merging through staging";
        if let Some(staged) = copy_direct(tx, batch, &table, None, repeats).await? {
            let counts = RowCounts {
                staged,
                inserted: staged,
                ..Default::default()
            };
            return Ok((counts, false));
        }
    }
    Ok((stage_and_merge(tx, target, batch, None).await?, true))
}

/// Loads a fact batch. Fact versions are new in the common case, so the batch is copied
/// straight into the fact table (COPY's multi-row inserts, no staging copy), inside a
/// savepoint. If a version is already present (a re-read version, a batch repeating one), the
/// COPY stops on the unique version key, the savepoint is rolled back, and the batch goes
/// through staging with a conflict-skip instead.
///
/// Foreign keys: a batch of at least `TOTE_LOAD_BULK_ROWS` rows skips the per-row triggers when
/// the user may ([`skip_row_triggers`]) and has its keys checked set-based instead
/// ([`KeyCollector`]); a smaller batch keeps the triggers, so any trigger a DBA added fires.
///
/// Returns the counts, and whether the batch went through staging.
async fn load_facts(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    batch: &Batch<'_>,
    bulk: &mut Bulk,
) -> Result<(RowCounts, bool)> {
    let schema = batch::schema_of(batch.manifest)
        .map_err(|e| Error::new(ErrorKind::BadBatch, format!("{}: {e}", batch.what)))?;
    let collector = KeyCollector::new(target.foreign_keys, &schema, bulk.key_values);
    let set_based = collector.is_some()
        && batch.manifest.rows >= bulk.rows
        && skip_row_triggers(tx, &mut bulk.allowed).await?;
    let mut keys = collector.filter(|_| set_based);

    let table = quote_ident(target.model);
    let Kind::Fact { record_id, .. } = target.kind else {
        unreachable!("load_facts loads facts")
    };
    let record_id = quote_ident(record_id);
    // The rows this batch writes have record ids above this (the warehouse reads back a key
    // column with too many distinct values to gather from them).
    let after: i64 = match &keys {
        Some(_) => tx
            .query_one(
                &format!("SELECT coalesce(max({record_id})::bigint, 0) FROM {table}"),
                &[],
            )
            .await
            .map_err(warehouse_error)?
            .get(0),
        None => 0,
    };
    let present = "some versions are already loaded: merging through staging";
    let (counts, staged) = match copy_direct(tx, batch, &table, keys.as_mut(), present).await? {
        Some(staged) => {
            if let Some(keys) = &keys {
                let written = Written::Fact {
                    table: &table,
                    record_id: &record_id,
                    after,
                };
                keys.check(tx, target.model, &written, batch.what).await?;
            }
            (
                RowCounts {
                    staged,
                    inserted: staged,
                    ..Default::default()
                },
                false,
            )
        }
        None => {
            let mut keys =
                KeyCollector::new(target.foreign_keys, &schema, bulk.key_values).filter(|_| set_based);
            (stage_and_merge(tx, target, batch, keys.as_mut()).await?, true)
        }
    };
    if set_based {
        tx.batch_execute("SET LOCAL session_replication_role = DEFAULT")
            .await
            .map_err(warehouse_error)?;
    }
    Ok((counts, staged))
}

/// Copies the batch straight into `table` inside a savepoint, for the loads where every row is
/// expected to be new. Returns the rows copied, or `None` when a row collided with one already
/// there (the unique key stops the COPY): the savepoint is rolled back, leaving the transaction
/// as it was, and `merging` says in the log why the batch goes through staging instead.
async fn copy_direct(
    tx: &Transaction<'_>,
    batch: &Batch<'_>,
    table: &str,
    keys: Option<&mut KeyCollector<'_>>,
    merging: &str,
) -> Result<Option<u64>> {
    tx.batch_execute("SAVEPOINT tote_direct")
        .await
        .map_err(warehouse_error)?;
    match copy_rows(tx, batch, table, keys).await {
        Ok(copied) => {
            fault::point("load.after_copy")?;
            Ok(Some(copied))
        }
        Err(CopyFailure::Db(e)) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT tote_direct")
                .await
                .map_err(warehouse_error)?;
            tracing::info!(batch = batch.what, "{merging}");
            Ok(None)
        }
        Err(CopyFailure::Db(e)) => Err(batch_error(&e, batch.what)),
        Err(CopyFailure::Tote(e)) => Err(e),
    }
}

/// Copies the batch into a temporary staging table, then merges it into the target: a
/// dimension upsert, or a fact insert that skips versions already present.
async fn stage_and_merge(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    batch: &Batch<'_>,
    mut keys: Option<&mut KeyCollector<'_>>,
) -> Result<RowCounts> {
    let column_list = batch.columns.join(", ");
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE tote_stage ON COMMIT DROP AS SELECT {column_list} FROM {} WITH NO DATA; \
         ALTER TABLE tote_stage ADD COLUMN tote_row BIGINT GENERATED ALWAYS AS IDENTITY",
        quote_ident(target.model)
    ))
    .await
    .map_err(warehouse_error)?;
    let staged = match copy_rows(tx, batch, "tote_stage", keys.as_deref_mut()).await {
        Ok(staged) => staged,
        Err(CopyFailure::Db(e)) => return Err(batch_error(&e, batch.what)),
        Err(CopyFailure::Tote(e)) => return Err(e),
    };
    fault::point("load.after_copy")?;
    if let Some(keys) = keys {
        keys.check(tx, target.model, &Written::Stage, batch.what).await?;
    }
    let (inserted, updated) = merge(tx, target, batch.columns)
        .await
        .map_err(|e| batch_error(&e, batch.what))?;
    Ok(RowCounts {
        staged,
        inserted,
        updated,
        skipped: staged - inserted - updated,
        ..Default::default()
    })
}

/// Matches the batch's columns to the warehouse table's: the same names (the fact's record id
/// aside), compatible types. Returns the row encoder and the quoted column names, in the batch's
/// column order.
fn plan_columns(target: &Target<'_>, manifest: &Manifest, what: &str) -> Result<(RowEncoder, Vec<String>)> {
    let bad = |why: String| Error::new(ErrorKind::BadBatch, format!("{what}: {why}"));
    let schema = batch::schema_of(manifest).map_err(bad)?;
    let record_id = match target.kind {
        Kind::Fact { record_id, .. } => Some(record_id.as_str()),
        Kind::Dimension { .. } => None,
    };
    let mut encoders = Vec::new();
    let mut names = Vec::new();
    for field in schema.fields() {
        let column = target
            .columns
            .iter()
            .find(|c| &c.name == field.name() && Some(c.name.as_str()) != record_id)
            .ok_or_else(|| {
                bad(format!(
                    "the batch has a column {} that the warehouse table does not; add a warehouse \
                     migration for it, or remove it from the model",
                    field.name()
                ))
            })?;
        let pg_type = column.pg_type.as_ref().ok_or_else(|| {
            bad(format!(
                "warehouse column {}.{} has type {}, which the loader cannot write",
                target.model, column.name, column.type_name
            ))
        })?;
        encoders.push(ColumnEncoder::new(&column.name, field.data_type(), pg_type).map_err(|e| bad(e.0))?);
        names.push(quote_ident(&column.name));
    }
    for column in target.columns {
        if Some(column.name.as_str()) != record_id
            && !schema.fields().iter().any(|f| f.name() == &column.name)
        {
            return Err(bad(format!(
                "the batch lacks warehouse column {}; the model must emit every column of {}",
                column.name, target.model
            )));
        }
    }
    Ok((RowEncoder::new(encoders), names))
}

/// Why a COPY did not complete: the warehouse refused it (the caller decides what that means),
/// or the batch itself is unreadable or unencodable.
enum CopyFailure {
    Db(tokio_postgres::Error),
    Tote(Error),
}

/// Streams the batch's objects into `table` (quoted) with binary COPY, a bounded chunk at a time,
/// showing every record batch to `keys`. Returns the rows copied.
async fn copy_rows(
    tx: &Transaction<'_>,
    batch: &Batch<'_>,
    table: &str,
    mut keys: Option<&mut KeyCollector<'_>>,
) -> std::result::Result<u64, CopyFailure> {
    let sink = tx
        .copy_in::<_, bytes::Bytes>(&format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            batch.columns.join(", ")
        ))
        .await
        .map_err(CopyFailure::Db)?;
    futures_util::pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
    buf.extend_from_slice(copy_binary::HEADER);
    let (store, manifest) = (batch.store, batch.manifest);
    for object in &manifest.objects {
        let body = tote_io::objects::read_object(store, manifest, object)
            .await
            .map_err(CopyFailure::Tote)?;
        for record_batch in
            tote_io::objects::object_batches(store, manifest, object, body).map_err(CopyFailure::Tote)?
        {
            let record_batch = record_batch.map_err(CopyFailure::Tote)?;
            if let Some(keys) = keys.as_deref_mut() {
                keys.observe(&record_batch);
            }
            // Encode in slices so a chunk stays near CHUNK_BYTES whatever the batch size.
            let mut offset = 0;
            while offset < record_batch.num_rows() {
                let len = 8192.min(record_batch.num_rows() - offset);
                batch
                    .encoder
                    .encode(&record_batch.slice(offset, len), &mut buf)
                    .map_err(|e| {
                        CopyFailure::Tote(Error::new(
                            ErrorKind::BadBatch,
                            format!(
                                "{}: {}; fix the model, then re-run the transform",
                                batch.what, e.0
                            ),
                        ))
                    })?;
                offset += len;
                if buf.len() >= CHUNK_BYTES {
                    sink.send(buf.split().freeze()).await.map_err(CopyFailure::Db)?;
                }
            }
        }
    }
    fault::point("load.during_copy").map_err(CopyFailure::Tote)?;
    buf.extend_from_slice(copy_binary::TRAILER);
    sink.send(buf.split().freeze()).await.map_err(CopyFailure::Db)?;
    sink.as_mut().finish().await.map_err(CopyFailure::Db)
}

/// Turns the per-row triggers off for the rest of the transaction (they are turned back on
/// after the fact insert), so the foreign keys are checked set-based instead. Per-row
/// foreign-key triggers, one per key per row, are most of a first load's or a catch-up's time
/// (docs/benchmarks.md). A trigger that must fire on bulk loads too needs `ENABLE ALWAYS`.
///
/// Only when the warehouse user may: `SET session_replication_role` needs a superuser, RDS's
/// `rds_superuser`, or on Postgres 15+ `GRANT SET ON PARAMETER session_replication_role TO
/// <user>`. `allowed` remembers the answer for the rest of the load; without the privilege facts
/// load through the triggers, correct but slower, and the load says so once.
async fn skip_row_triggers(tx: &Transaction<'_>, allowed: &mut Option<bool>) -> Result<bool> {
    if *allowed == Some(false) {
        return Ok(false);
    }
    tx.batch_execute("SAVEPOINT tote_bulk")
        .await
        .map_err(warehouse_error)?;
    match tx
        .batch_execute("SET LOCAL session_replication_role = replica")
        .await
    {
        Ok(()) => {
            *allowed = Some(true);
            Ok(true)
        }
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT tote_bulk")
                .await
                .map_err(warehouse_error)?;
            tracing::warn!(
                "the warehouse user may not set session_replication_role, so large fact batches \
                 load through per-row foreign-key triggers (several times slower); to allow the \
                 set-based path, GRANT SET ON PARAMETER session_replication_role TO the user"
            );
            *allowed = Some(false);
            Ok(false)
        }
        Err(e) => Err(warehouse_error(e)),
    }
}

/// Merges `tote_stage` into the target table. Returns (inserted, updated).
async fn merge(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    columns: &[String],
) -> std::result::Result<(u64, u64), tokio_postgres::Error> {
    let table = quote_ident(target.model);
    let column_list = columns.join(", ");
    match target.kind {
        Kind::Dimension { key } => {
            let key = quote_ident(key);
            let others: Vec<&String> = columns.iter().filter(|c| **c != key).collect();
            let set = others
                .iter()
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let old = others
                .iter()
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let new = others
                .iter()
                .map(|c| format!("EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            // The last row per key wins when a batch repeats a key.
            let sql = format!(
                "WITH latest AS ( \
                     SELECT DISTINCT ON ({key}) {column_list} FROM tote_stage ORDER BY {key}, tote_row DESC \
                 ), merged AS ( \
                     INSERT INTO {table} AS t ({column_list}) SELECT {column_list} FROM latest \
                     ON CONFLICT ({key}) DO UPDATE SET {set} \
                     WHERE ROW({old}) IS DISTINCT FROM ROW({new}) \
                     RETURNING (xmax = 0) AS inserted \
                 ) \
                 SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
            );
            let row = tx.query_one(&sql, &[]).await?;
            let (inserted, updated): (i64, i64) = (row.get(0), row.get(1));
            Ok((inserted as u64, updated as u64))
        }
        Kind::Fact { version, .. } => {
            let version = version
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO {table} ({column_list}) SELECT {column_list} FROM tote_stage \
                 ON CONFLICT ({version}) DO NOTHING"
            );
            let inserted = tx.execute(&sql, &[]).await?;
            Ok((inserted, 0))
        }
    }
}

/// A driver error during a batch's statements, classified: a missing dimension key, data the
/// warehouse refuses, or the warehouse going away.
fn batch_error(e: &tokio_postgres::Error, what: &str) -> Error {
    let Some(db) = e.as_db_error() else {
        return warehouse_error(e);
    };
    let detail = pg::describe(e);
    if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
        return Error::new(
            ErrorKind::MissingDimension,
            format!(
                "{what}: a fact refers to a dimension key the warehouse does not have: {detail}; nothing \
                 of this batch was written. Load the dimensions first (phase \"dimensions\"), or check the \
                 transform's batches of that dimension"
            ),
        );
    }
    let class = &db.code().code()[..2];
    if class == "22" || class == "23" {
        return Error::new(
            ErrorKind::BadBatch,
            format!(
                "{what}: the warehouse refused the data: {detail}; nothing of this batch was written. Fix \
                 the model (see the batch's findings), then re-run the transform"
            ),
        );
    }
    warehouse_error(e)
}

/// A warehouse error outside a batch's data: lost connection, busy server, missing schema
/// ([`pg::classify`], the one classification of Postgres errors).
pub(crate) fn warehouse_error<E: std::borrow::Borrow<tokio_postgres::Error>>(e: E) -> Error {
    pg::classify(e.borrow(), Role::Warehouse, "")
}
