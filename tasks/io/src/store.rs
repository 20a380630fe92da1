//! Object stores: the landing and processed zones, on a local directory or on S3.
//!
//! A [`Store`] is an `object_store` handle plus a key prefix, opened from the configuration's
//! location string: a plain path or `file://…` (local, created on first use) or
//! `s3://bucket/prefix` (credentials, region and an optional `AWS_ENDPOINT_URL` from the
//! environment). Keys given to a store are relative to its prefix.
//!
//! Objects are immutable: small objects (manifests, log entries) are written with
//! [`Store::create`], which refuses to replace an existing object (local exclusive create, S3
//! `If-None-Match: *`); data objects get keys that embed a fresh batch id and are streamed with a
//! multipart [`Store::writer`].

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use tote_core::{Error, ErrorKind, Result};

/// An object store and the prefix tote's keys live under.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("location", &self.location).finish()
    }
}

/// An object opened by [`Store::open_object`].
pub enum Body {
    /// A local store's file, positioned at its start.
    File(std::fs::File),
    /// A remote store's bytes, in the chunks it delivers them.
    Stream(futures_util::stream::BoxStream<'static, Result<Bytes>>),
}

/// The outcome of a create-if-absent write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object did not exist and now holds the bytes given.
    New,
    /// An object already had that key; nothing was written.
    AlreadyExists,
}

impl Store {
    /// Opens the store at `location` (`/path`, `relative/path`, `file:///path` or
    /// `s3://bucket/prefix`). `variable` names the setting it came from, for error messages.
    pub fn open(location: &str, variable: &str) -> Result<Store> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::config(format!(
                    "{variable}={location} names no bucket; use s3://bucket/prefix"
                )));
            }
            let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Ok(endpoint) =
                std::env::var("AWS_ENDPOINT_URL_S3").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            {
                builder = builder
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            let s3 = builder.build().map_err(|e| {
                Error::config(format!("{variable}={location}: cannot open the S3 bucket: {e}")).with_source(e)
            })?;
            return Ok(Store {
                inner: Arc::new(s3),
                prefix: Path::from(prefix),
                location: location.to_string(),
            });
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(Error::config(format!(
                "{variable}={location}: unsupported scheme; use a path, file:///path or s3://bucket/prefix"
            )));
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        if path.is_empty() {
            return Err(Error::config(format!(
                "{variable} is empty; give a directory or s3://bucket/prefix"
            )));
        }
        std::fs::create_dir_all(path).map_err(|e| {
            Error::config(format!("{variable}={location}: cannot create it: {e}")).with_source(e)
        })?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
            .map_err(|e| Error::config(format!("{variable}={location}: {e}")).with_source(e))?;
        Ok(Store {
            inner: Arc::new(fs),
            prefix: Path::default(),
            location: location.to_string(),
        })
    }

    /// Where this store points, as configured (no credentials are ever part of it).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The full object path of a key relative to this store.
    pub fn path(&self, key: &str) -> Path {
        let mut full = self.prefix.clone();
        for part in key.split('/').filter(|p| !p.is_empty()) {
            full = full.clone().join(part);
        }
        full
    }

    /// Writes `bytes` at `key` only if no object has that key yet.
    pub async fn create(&self, key: &str, bytes: Bytes) -> Result<Created> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&self.path(key), PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(Created::New),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Created::AlreadyExists),
            Err(e) => Err(self.error("write", key, e)),
        }
    }

    /// Reads the object at `key`; `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(&self.path(key)).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.error("read", key, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read", key, e)),
        }
    }

    /// Opens the object at `key` for reading without holding it in memory: a local store's file
    /// itself, or a remote store's byte stream; `None` when there is none.
    pub async fn open_object(&self, key: &str) -> Result<Option<Body>> {
        match self.inner.get(&self.path(key)).await {
            Ok(result) => Ok(Some(match result.payload {
                object_store::GetResultPayload::File(file, _) => Body::File(file),
                object_store::GetResultPayload::Stream(stream) => {
                    let (store, key) = (self.clone(), key.to_string());
                    Body::Stream(Box::pin(stream.map_err(move |e| store.error("read", &key, e))))
                }
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read", key, e)),
        }
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("inspect", key, e)),
        }
    }

    /// Keys (relative to the store) under `prefix` that sort after `after`, in order.
    pub async fn list(&self, prefix: &str, after: Option<&str>) -> Result<Vec<String>> {
        let full = self.path(prefix);
        let stream = match after {
            Some(after) => self.inner.list_with_offset(Some(&full), &self.path(after)),
            None => self.inner.list(Some(&full)),
        };
        let metas: Vec<_> = stream
            .try_collect()
            .await
            .map_err(|e| self.error("list", prefix, e))?;
        let strip = if self.prefix.as_ref().is_empty() {
            0
        } else {
            self.prefix.as_ref().len() + 1
        };
        let mut keys: Vec<String> = metas
            .into_iter()
            .map(|m| m.location.as_ref()[strip..].to_string())
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// A streaming writer for a (possibly large) data object at `key`: multipart on S3, buffered
    /// in bounded memory. The object appears only when the writer is shut down successfully.
    pub fn writer(&self, key: &str) -> BufWriter {
        BufWriter::with_capacity(Arc::clone(&self.inner), self.path(key), 8 << 20)
    }

    fn error(&self, action: &str, key: &str, e: object_store::Error) -> Error {
        let kind = match e {
            object_store::Error::NotFound { .. } => ErrorKind::BadBatch,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, format!("cannot {action} {key} in {}: {e}", self.location)).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_location_names_its_variable_and_the_accepted_forms() {
        for (location, expect) in [
            ("ftp://host/landing", "unsupported scheme"),
            ("gs://bucket/landing", "unsupported scheme"),
            ("s3:///landing", "names no bucket"),
        ] {
            let err = Store::open(location, "TOTE_LANDING").expect_err(location);
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            assert!(err.message().contains("TOTE_LANDING"), "{err}");
            assert!(err.message().contains(expect), "{location}: {err}");
        }
    }
}
