//! Where the last batch left off, and what this read may write again.
//!
//! The table's last committed batch ([`Previous`]) holds the cursor an incremental read continues
//! from: the high-water mark `(last_updated, primary key)`, the source's clock at that read, and
//! the versions seen within the lookback window below the mark. A read starts `lookback` below the
//! earlier of the mark and that clock ([`read_from`]), in the source's own time, so a transaction
//! that commits late with an old `last_updated` is still read; the versions the previous batch
//! already holds are dropped ([`keep_unseen`]), so a quiet table writes nothing. As this read
//! streams, [`Window`] keeps its own mark and the versions the next read will see again.

use std::borrow::Cow;
use std::collections::HashSet;

use arrow::array::{BooleanArray, RecordBatch};
use chrono::{DateTime, NaiveDateTime};
use tote_core::batch::{Cursor, Manifest};
use tote_core::{Error, Result};
use tote_io::commit_log::CommitLog;
use tote_io::store::Store;

use tote_pgcopy::decode::RowKey;

/// Where the table's last landing batch left off.
pub(crate) struct Previous {
    /// The table's commit log.
    pub(crate) log: CommitLog,
    /// The log position this ingest commits to.
    pub(crate) next_seq: u64,
    /// The last batch's manifest (its schema, key set and cursor).
    pub(crate) manifest: Option<Manifest>,
    /// The cursor an incremental read continues from (`None` for a first read or a full refresh).
    pub(crate) cursor: Option<Cursor>,
}

impl Previous {
    /// Reads the table's log and its last batch's manifest; a `full_refresh` continues from no
    /// cursor.
    pub(crate) async fn read(landing: &Store, table: &str, full_refresh: bool) -> Result<Previous> {
        let log = CommitLog::new(landing.clone(), table);
        let last = log.last().await?;
        let manifest = match &last {
            Some(entry) => Some(log.manifest(entry).await?),
            None => None,
        };
        let cursor = match full_refresh {
            true => None,
            false => manifest.as_ref().and_then(|m| m.cursor.clone()),
        };
        Ok(Previous {
            next_seq: last.as_ref().map_or(1, |e| e.seq + 1),
            log,
            manifest,
            cursor,
        })
    }

    /// The versions the previous read saw within its window: those this read drops when it
    /// reads them again.
    pub(crate) fn seen(&self) -> HashSet<RowKey> {
        self.cursor
            .as_ref()
            .map(|c| {
                c.recent
                    .iter()
                    .map(|(pk, lu)| (*pk, lu.and_utc().timestamp_micros()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The window this read observes, from the previous cursor on: it keeps the versions within
    /// `lookback` below the earlier of its mark and `clock` (the source's clock at this read, or
    /// a chunk's mark).
    pub(crate) fn window(&self, lookback: chrono::Duration, clock: NaiveDateTime) -> Window {
        Window::new(
            lookback.num_microseconds().unwrap_or(i64::MAX),
            self.cursor.as_ref(),
            clock.and_utc().timestamp_micros(),
        )
    }
}

/// Where an incremental read starts: `lookback` below the earlier of the previous read's
/// high-water mark and the source's clock at that read (a row dated in the future by a clock
/// that ran ahead must not lift the start past rows written once it was set right). `None`, the
/// whole table, for a first read, a full refresh, or when the source's clock now reads earlier
/// than at the previous read: it jumped back (a correction, a daylight-saving change in a
/// non-UTC zone), so rows written since may be dated anywhere below the mark. Versions re-read
/// that way are harmless downstream (the transform and the load skip versions they have).
pub(crate) fn read_from(
    table: &str,
    previous: Option<&Cursor>,
    clock: NaiveDateTime,
    lookback: chrono::Duration,
) -> Option<NaiveDateTime> {
    let previous = previous?;
    let (high, _) = previous.high_water?;
    match previous.source_clock {
        Some(then) if clock < then => {
            tracing::warn!(
                table,
                %then,
                now = %clock,
                "the source's clock reads earlier than at the last read (it jumped back); \
                 re-reading the whole table so that no row dated before the jump is missed"
            );
            None
        }
        Some(then) => Some(high.min(then) - lookback),
        None => Some(high - lookback),
    }
}

/// The rows of `batch` dated at or below `until` (µs), with their cursor keys.
pub(crate) fn at_or_below(
    batch: RecordBatch,
    keys: &[RowKey],
    until: i64,
) -> Result<(RecordBatch, Cow<'_, [RowKey]>)> {
    if keys.iter().all(|k| k.1 <= until) {
        return Ok((batch, Cow::Borrowed(keys)));
    }
    let mask: BooleanArray = keys.iter().map(|k| Some(k.1 <= until)).collect();
    let rows = arrow::compute::filter_record_batch(&batch, &mask)
        .map_err(|e| Error::internal(format!("cannot filter rows: {e}")).with_source(e))?;
    let kept = keys.iter().copied().filter(|k| k.1 <= until).collect();
    Ok((rows, Cow::Owned(kept)))
}

/// Drops the rows whose `(primary key, last_updated)` the previous batch already holds.
pub(crate) fn keep_unseen(
    batch: RecordBatch,
    keys: &[RowKey],
    seen: &HashSet<RowKey>,
) -> Result<RecordBatch> {
    if seen.is_empty() || !keys.iter().any(|k| seen.contains(k)) {
        return Ok(batch);
    }
    let mask: BooleanArray = keys.iter().map(|k| Some(!seen.contains(k))).collect();
    arrow::compute::filter_record_batch(&batch, &mask)
        .map_err(|e| Error::internal(format!("cannot filter rows: {e}")).with_source(e))
}

/// Rows dated after the source's own clock are read again from the clock, so nothing is missed;
/// but a time-zone mismatch makes every read re-read that much, which the operator should fix.
pub(crate) fn warn_if_ahead_of_the_clock(
    table: &str,
    high_water: Option<(NaiveDateTime, i64)>,
    clock: NaiveDateTime,
) {
    if let Some((lu, _)) = high_water.filter(|(lu, _)| *lu > clock + chrono::Duration::minutes(1)) {
        tracing::warn!(
            table,
            ahead_seconds = (lu - clock).num_seconds(),
            "{table} has rows dated after the source's own clock; tote reads again from the clock, so nothing \
             is missed, but if the application writes UTC while tote's session uses another time zone, \
             every read re-reads that much: set TimeZone = 'UTC' for tote's user (ALTER ROLE … SET TimeZone)"
        );
    }
}

/// Tracks the high-water mark and the keys within the lookback window below it, in bounded
/// memory: keys that fall out of the window as the mark rises are pruned.
pub(crate) struct Window {
    lookback_us: i64,
    clock: i64,
    high: Option<RowKey>,
    recent: Vec<RowKey>,
}

impl Window {
    /// `clock`: the source's clock at this read (µs); the window ends at the earlier of it and
    /// the high-water mark, as the next read's start does ([`read_from`]).
    pub(crate) fn new(lookback_us: i64, previous: Option<&Cursor>, clock: i64) -> Window {
        let mut w = Window {
            lookback_us,
            clock,
            high: None,
            recent: Vec::new(),
        };
        if let Some(c) = previous {
            w.high = c.high_water.map(|(lu, pk)| (pk, lu.and_utc().timestamp_micros()));
            for (pk, lu) in &c.recent {
                w.recent.push((*pk, lu.and_utc().timestamp_micros()));
            }
        }
        w
    }

    /// Takes in a version this read saw: it may raise the mark, and the next read sees it again
    /// while it is within the lookback below the mark.
    pub(crate) fn observe(&mut self, key: RowKey) {
        let (pk, lu) = key;
        if self.high.is_none_or(|(hpk, hlu)| (lu, pk) > (hlu, hpk)) {
            self.high = Some(key);
        }
        self.recent.push(key);
        if self.recent.len() > 4096 && self.recent.len().is_power_of_two() {
            self.prune();
        }
    }

    fn prune(&mut self) {
        if let Some((_, hlu)) = self.high {
            let floor = hlu.min(self.clock).saturating_sub(self.lookback_us);
            self.recent.retain(|(_, lu)| *lu >= floor);
        }
        self.recent.sort_unstable();
        self.recent.dedup();
    }

    /// The high-water mark `(last_updated, primary key)`.
    pub(crate) fn high_water(&self) -> Option<(NaiveDateTime, i64)> {
        self.high.map(|(pk, lu)| (micros_to_naive(lu), pk))
    }

    /// The versions within the lookback window below the mark, each once, ascending.
    pub(crate) fn recent(mut self) -> Vec<(i64, NaiveDateTime)> {
        self.prune();
        self.recent
            .into_iter()
            .map(|(pk, lu)| (pk, micros_to_naive(lu)))
            .collect()
    }

    /// The cursor the next read continues from: this read's start (`since`), its mark and its
    /// window's versions, and the clock it was measured against (`source_clock`).
    pub(crate) fn cursor(self, since: Option<NaiveDateTime>, source_clock: NaiveDateTime) -> Cursor {
        Cursor {
            since,
            high_water: self.high_water(),
            recent: self.recent(),
            source_clock: Some(source_clock),
        }
    }
}

fn micros_to_naive(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn cursor(high: &str, clock: Option<&str>) -> Cursor {
        Cursor {
            since: None,
            high_water: Some((at(high), 7)),
            recent: vec![],
            source_clock: clock.map(at),
        }
    }

    #[test]
    fn a_read_starts_the_lookback_below_the_earlier_of_the_mark_and_the_clock() {
        let lookback = chrono::Duration::minutes(10);
        let now = at("2026-12-02 12:00:00");
        assert_eq!(
            read_from("t", None, now, lookback),
            None,
            "a first read reads everything"
        );
        let previous = cursor("2026-12-02 11:00:00", Some("2026-12-02 11:30:00"));
        assert_eq!(
            read_from("t", Some(&previous), now, lookback),
            Some(at("2026-12-02 10:50:00"))
        );
        // A row dated ahead of the clock does not lift the start past the clock.
        let ahead = cursor("2026-12-02 13:00:00", Some("2026-12-02 11:30:00"));
        assert_eq!(
            read_from("t", Some(&ahead), now, lookback),
            Some(at("2026-12-02 11:20:00"))
        );
        // The clock jumped back since the last read: the whole table again.
        let later = cursor("2026-12-02 11:00:00", Some("2026-12-02 12:30:00"));
        assert_eq!(read_from("t", Some(&later), now, lookback), None);
        // A cursor from before the clock was recorded.
        let old = cursor("2026-12-02 11:00:00", None);
        assert_eq!(
            read_from("t", Some(&old), now, lookback),
            Some(at("2026-12-02 10:50:00"))
        );
    }

    #[test]
    fn the_window_keeps_the_high_water_mark_and_only_the_versions_the_next_read_sees_again() {
        let us = |text: &str| at(text).and_utc().timestamp_micros();
        let lookback = chrono::Duration::minutes(10).num_microseconds().unwrap();
        let mut window = Window::new(lookback, None, us("2026-12-02 12:00:00"));
        window.observe((1, us("2026-12-02 11:00:00")));
        window.observe((2, us("2026-12-02 11:55:00")));
        window.observe((3, us("2026-12-02 11:55:00")));
        window.observe((2, us("2026-12-02 11:55:00")));
        assert_eq!(window.high_water(), Some((at("2026-12-02 11:55:00"), 3)));
        // Versions at or above (mark - lookback) are remembered once; older ones are not.
        assert_eq!(
            window.recent(),
            vec![(2, at("2026-12-02 11:55:00")), (3, at("2026-12-02 11:55:00"))]
        );
    }

    #[test]
    fn versions_the_previous_read_saw_are_not_written_again() {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "id",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let ids = Int64Array::from(vec![1, 2, 3]);
        let batch = RecordBatch::try_new(schema, vec![std::sync::Arc::new(ids)]).unwrap();
        let keys = [(1, 10), (2, 20), (3, 30)];
        let seen: HashSet<RowKey> = [(2, 20), (3, 31)].into();
        let kept = keep_unseen(batch.clone(), &keys, &seen).unwrap();
        let column = kept.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(column.values(), &[1, 3], "only (2, 20) was seen");
        assert_eq!(keep_unseen(batch, &keys, &HashSet::new()).unwrap().num_rows(), 3);
    }
}
