//! A committed batch's objects, read back and checked against its manifest.
//!
//! Every read checks an object's size and SHA-256 against the manifest before a row is decoded:
//! a missing, truncated or corrupt object is `Tote.BadBatch`, naming it and how to restore it,
//! while an intact object that tote cannot decode is tote's own fault (`Tote.Internal`), which
//! never advises a restore. Rows come back in bounded record batches.

use arrow::array::RecordBatch;
use tote_core::batch::{schema_of, DataFormat, Manifest, ObjectEntry};
use tote_core::{Error, ErrorKind, Result};

use crate::store::{Body, Store};

/// Reads every data object of a committed batch, checking each against its manifest's size and
/// SHA-256: a missing, truncated or corrupt object is `Tote.BadBatch`, naming it.
///
/// Holds the whole batch in memory; a stage that must stay bounded streams with [`read_object`]
/// and [`object_batches`] instead.
pub async fn read_batch(store: &Store, manifest: &Manifest) -> Result<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    for object in &manifest.objects {
        let body = read_object(store, manifest, object).await?;
        for batch in object_batches(store, manifest, object, body)? {
            batches.push(batch?);
        }
    }
    Ok(batches)
}

fn bad_object(store: &Store, manifest: &Manifest, object: &ObjectEntry, why: String) -> Error {
    Error::new(
        ErrorKind::BadBatch,
        format!(
            "object {} of batch {} ({}) in {}: {why}; restore the object (the S3 stores keep earlier versions; \
             the manifest records its size and SHA-256): a committed batch is immutable, and no stage \
             writes it again",
            object.key,
            manifest.batch_id,
            manifest.table,
            store.location()
        ),
    )
}

/// One data object of a batch, as a local file whose size and SHA-256 have been checked against
/// the manifest: a local store's own file, or a remote object downloaded to an anonymous
/// temporary file (removed when dropped). Memory stays at one buffer whatever the object's size,
/// and no row of a corrupt object is ever decoded. With a remote store the stage needs local disk
/// (`TMPDIR`, `/tmp` in Lambda) about the size of its largest object.
pub async fn read_object(store: &Store, manifest: &Manifest, object: &ObjectEntry) -> Result<std::fs::File> {
    use futures_util::StreamExt;
    use sha2::Digest;
    use std::io::{Read, Seek, Write};
    let bad = |why: String| bad_object(store, manifest, object, why);
    let local = |e: std::io::Error| {
        Error::internal(format!(
            "cannot read object {} through a local file: {e}; with a remote store the stage needs \
             local disk (TMPDIR) about the size of its largest object",
            object.key
        ))
    };
    let (mut file, size, digest) = match store
        .open_object(&object.key)
        .await?
        .ok_or_else(|| bad("missing".to_string()))?
    {
        Body::File(file) => tokio::task::spawn_blocking(move || {
            let mut file = file;
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Ok::<_, std::io::Error>((file, size, hasher.finalize()))
        })
        .await
        .map_err(|e| Error::internal(format!("reading object {}: {e}", object.key)).with_source(e))?
        .map_err(local)?,
        Body::Stream(mut stream) => {
            let mut file = tempfile::tempfile().map_err(local)?;
            let mut hasher = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).map_err(local)?;
            }
            (file, size, hasher.finalize())
        }
    };
    if size != object.bytes {
        return Err(bad(format!("{size} bytes, the manifest says {}", object.bytes)));
    }
    let sum = hex::encode(digest);
    if sum != object.sha256 {
        return Err(bad("its checksum does not match the manifest".to_string()));
    }
    file.rewind().map_err(local)?;
    Ok(file)
}

/// Rows per record batch when an object is read back: bounds a reader's memory.
const OBJECT_BATCH_ROWS: usize = 64 * 1024;

/// Record batches decoded lazily from one object; an error names the object.
pub type ObjectBatches<'a> = Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>;

/// The record batches of one data object (from [`read_object`]), decoded lazily in bounded
/// batches of at most 64 Ki rows, so that a reader's memory does not grow with the object.
pub fn object_batches<'a>(
    store: &'a Store,
    manifest: &'a Manifest,
    object: &'a ObjectEntry,
    body: std::fs::File,
) -> Result<ObjectBatches<'a>> {
    match manifest.format {
        DataFormat::Parquet => parquet_object_batches(store, manifest, object, body),
        DataFormat::Csv => {
            let schema =
                schema_of(manifest).map_err(|why| unreadable_object(store, manifest, object, why))?;
            let reader = crate::csv_format::Reader::new(
                std::io::BufReader::with_capacity(1 << 20, body),
                std::sync::Arc::new(schema),
                OBJECT_BATCH_ROWS,
            );
            Ok(decoded(store, manifest, object, "tote's CSV", reader))
        }
    }
}

/// The record batches of one Parquet object of a batch (from [`read_object`]): a data object of a
/// Parquet batch, or a side object (its key set or its deletions, Parquet whatever the batch's
/// own format), decoded lazily in bounded batches of at most 64 Ki rows.
pub fn parquet_object_batches<'a>(
    store: &'a Store,
    manifest: &'a Manifest,
    object: &'a ObjectEntry,
    body: std::fs::File,
) -> Result<ObjectBatches<'a>> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .and_then(|b| b.with_batch_size(OBJECT_BATCH_ROWS).build())
        .map_err(|e| unreadable_object(store, manifest, object, format!("not readable as Parquet: {e}")))?;
    Ok(decoded(store, manifest, object, "Parquet", reader))
}

/// `reader`'s batches, each decoding error told as [`unreadable_object`]: the body's size and
/// SHA-256 matched the manifest ([`read_object`]), so the bytes are the ones tote wrote, and
/// restoring the object would not help.
fn decoded<'a, E: std::fmt::Display>(
    store: &'a Store,
    manifest: &'a Manifest,
    object: &'a ObjectEntry,
    format: &'static str,
    reader: impl Iterator<Item = std::result::Result<RecordBatch, E>> + Send + 'a,
) -> ObjectBatches<'a> {
    Box::new(reader.map(move |batch| {
        batch
            .map_err(|e| unreadable_object(store, manifest, object, format!("not readable as {format}: {e}")))
    }))
}

/// Every deletion a batch records, read whole (deletions are few next to versions).
pub async fn read_deletions(store: &Store, manifest: &Manifest) -> Result<Vec<RecordBatch>> {
    let Some(object) = &manifest.deletions else {
        return Ok(Vec::new());
    };
    let body = read_object(store, manifest, object).await?;
    parquet_object_batches(store, manifest, object, body)?.collect()
}

/// An object whose bytes match its manifest but that tote cannot decode: a fault in tote (a
/// reader that disagrees with the writer of its own format), never the object's damage.
fn unreadable_object(store: &Store, manifest: &Manifest, object: &ObjectEntry, why: String) -> Error {
    Error::internal(format!(
        "object {} of batch {} ({}) in {}: {why}. Its size and SHA-256 match the manifest, so it is \
         exactly what tote wrote and is not damaged: do not restore it. This is a fault in tote's reader \
         of its own format; report it with this message",
        object.key,
        manifest.batch_id,
        manifest.table,
        store.location()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use sha2::Digest;
    use tote_core::batch::{ColumnSpec, Stage};

    /// An object whose size and SHA-256 match its manifest is exactly what tote wrote: if tote
    /// then cannot decode it, the error is tote's own (`Tote.Internal`) and does not tell the user to
    /// restore an object that is not damaged.
    #[tokio::test]
    async fn an_intact_object_tote_cannot_decode_is_its_own_fault_not_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().display().to_string(), "TOTE_LANDING").unwrap();
        let body = bytes::Bytes::from_static(b"\"design_id\",\"design_name\"\n1,\"unclosed\n");
        let key = "design/b1/part-00000.csv";
        store.create(key, body.clone()).await.unwrap();
        let object = ObjectEntry {
            key: key.to_string(),
            rows: 1,
            bytes: body.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&body)),
        };
        let manifest = Manifest {
            batch_id: "b1".to_string(),
            stage: Stage::Ingest,
            table: "design".to_string(),
            execution: None,
            written_at: Utc::now(),
            format: DataFormat::Csv,
            rows: 1,
            schema: vec![
                ColumnSpec {
                    name: "design_id".to_string(),
                    source_type: "int4".to_string(),
                    arrow_type: "Int32".to_string(),
                    nullable: false,
                },
                ColumnSpec {
                    name: "design_name".to_string(),
                    source_type: "varchar".to_string(),
                    arrow_type: "Utf8".to_string(),
                    nullable: false,
                },
            ],
            cursor: None,
            full_refresh: false,
            objects: vec![object.clone()],
            inputs: vec![],
            findings: vec![],
            keys: None,
            deletions: None,
        };
        let file = read_object(&store, &manifest, &object).await.unwrap();
        let err = object_batches(&store, &manifest, &object, file)
            .unwrap()
            .find_map(|b| b.err())
            .expect("an unclosed quote is an error");
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        let message = err.to_string();
        assert!(message.contains("not damaged: do not restore it"), "{message}");
        assert!(message.contains("a quoted value is not closed"), "{message}");
    }
}
