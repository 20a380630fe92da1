//! The commit log that makes a batch visible, and the manifests it points to.
//!
//! A table's (or model's) log is an append-only, gapless sequence of small objects
//! ([`tote_core::layout::log_entry_key`]), each created with create-if-absent semantics: the
//! commit point of every stage. A crash before it leaves invisible garbage, never half a batch;
//! two writers racing for the same sequence number cannot both win.

use tote_core::batch::{LogEntry, Manifest};
use tote_core::layout;
use tote_core::{Error, ErrorKind, Result};

use crate::store::{Created, Store};

/// The append-only commit log of one table or model in one store.
#[derive(Debug, Clone)]
pub struct CommitLog {
    store: Store,
    table: String,
}

impl CommitLog {
    /// The log of `table` in `store`.
    pub fn new(store: Store, table: &str) -> Self {
        CommitLog {
            store,
            table: table.to_string(),
        }
    }

    /// The store the log lives in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn entry_key(&self, seq: u64) -> String {
        layout::log_entry_key(&self.table, seq)
    }

    /// Reads entry `seq`, if committed.
    pub async fn entry(&self, seq: u64) -> Result<Option<LogEntry>> {
        let Some(bytes) = self.store.get(&self.entry_key(seq)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::new(
                ErrorKind::BadBatch,
                format!(
                    "{} in {} is not a valid log entry: {e}",
                    self.entry_key(seq),
                    self.store.location()
                ),
            )
        })
    }

    /// The newest committed entry, found with O(log n) existence checks (the log has no gaps).
    pub async fn last(&self) -> Result<Option<LogEntry>> {
        if !self.store.exists(&self.entry_key(1)).await? {
            return Ok(None);
        }
        // Gallop to a missing seq, then binary-search the boundary.
        let (mut present, mut absent) = (1u64, 2u64);
        while self.store.exists(&self.entry_key(absent)).await? {
            present = absent;
            absent *= 2;
        }
        while absent - present > 1 {
            let mid = present + (absent - present) / 2;
            if self.store.exists(&self.entry_key(mid)).await? {
                present = mid;
            } else {
                absent = mid;
            }
        }
        self.entry(present).await
    }

    /// Every entry after `seq` (all when `None`), in order, by listing from that point.
    pub async fn entries_after(&self, seq: Option<u64>) -> Result<Vec<LogEntry>> {
        let prefix = layout::log_prefix(&self.table);
        let after = seq.map(|s| self.entry_key(s));
        let keys = self.store.list(&prefix, after.as_deref()).await?;
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(bytes) = self.store.get(&key).await? else {
                continue;
            };
            let entry: LogEntry = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    ErrorKind::BadBatch,
                    format!("{key} in {} is not a valid log entry: {e}", self.store.location()),
                )
            })?;
            entries.push(entry);
        }
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// Reads the manifest an entry points to.
    pub async fn manifest(&self, entry: &LogEntry) -> Result<Manifest> {
        read_manifest(&self.store, &entry.manifest).await
    }

    /// Commits `manifest` as entry `seq` (which must be the next one). Returns `false` if another
    /// writer committed that sequence number first: the caller lost the race and must start over.
    pub async fn commit(&self, seq: u64, manifest: &Manifest) -> Result<bool> {
        let entry = LogEntry {
            seq,
            batch_id: manifest.batch_id.clone(),
            manifest: manifest.key(),
            rows: manifest.rows,
        };
        let bytes = serde_json::to_vec_pretty(&entry).map_err(|e| Error::internal(e.to_string()))?;
        Ok(self.store.create(&self.entry_key(seq), bytes.into()).await? == Created::New)
    }
}

/// Writes a manifest (create-if-absent: batch ids are unique, so a clash is a bug).
pub async fn write_manifest(store: &Store, manifest: &Manifest) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| Error::internal(e.to_string()))?;
    match store.create(&manifest.key(), bytes.into()).await? {
        Created::New => Ok(()),
        Created::AlreadyExists => Err(Error::internal(format!(
            "manifest {} already exists",
            manifest.key()
        ))),
    }
}

/// Reads and parses a manifest; a missing or corrupt one is `Tote.BadBatch`.
pub async fn read_manifest(store: &Store, key: &str) -> Result<Manifest> {
    let bytes = store.get(key).await?.ok_or_else(|| {
        Error::new(
            ErrorKind::BadBatch,
            format!("manifest {key} is missing from {}", store.location()),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::BadBatch,
            format!("manifest {key} in {} is corrupt: {e}", store.location()),
        )
    })
}

/// The manifests of every batch committed to `table`'s log in `store`, in commit order.
pub async fn committed_manifests(store: &Store, table: &str) -> Result<Vec<Manifest>> {
    let log = CommitLog::new(store.clone(), table);
    let mut manifests = Vec::new();
    for entry in log.entries_after(None).await? {
        manifests.push(log.manifest(&entry).await?);
    }
    Ok(manifests)
}
