//! Integration tests of tote's I/O against the real services: Postgres (TLS modes, lost
//! connections), Secrets Manager and S3 (moto).

mod tls {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use tote_core::ErrorKind;
    use tote_io::pg::{self, Role};
    use tote_private_pg::PrivateCluster;

    struct Pki {
        ca_pem: String,
        server_cert_pem: String,
        server_key_pem: String,
    }

    /// A private CA and a server certificate it signed, for `names` (IP addresses or DNS names).
    fn pki(names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tote test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let server = params.signed_by(&server_key, &issuer).unwrap();
        Pki {
            ca_pem: ca.pem(),
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    async fn ssl_in_use(url: &str) -> tote_core::Result<bool> {
        let client = pg::connect(url, Role::Warehouse).await?;
        Ok(client
            .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0))
    }

    #[tokio::test]
    async fn verify_full_against_a_self_signed_ca_and_every_other_mode() {
        let cluster = tokio::task::spawn_blocking(PrivateCluster::start_temporary)
            .await
            .unwrap()
            .unwrap();
        let good = pki(&["127.0.0.1"]);
        cluster
            .enable_tls(&good.server_cert_pem, &good.server_key_pem)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &good.ca_pem).unwrap();
        let other_ca = dir.path().join("other-ca.pem");
        std::fs::write(&other_ca, pki(&["127.0.0.1"]).ca_pem).unwrap();
        let base = cluster.url("postgres");

        let verified = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
        assert!(
            ssl_in_use(&verified).await.unwrap(),
            "verify-full connects over TLS"
        );
        assert!(
            ssl_in_use(&format!("{base}?sslmode=require")).await.unwrap(),
            "require encrypts"
        );
        assert!(
            ssl_in_use(&format!("{base}?sslmode=prefer")).await.unwrap(),
            "prefer uses TLS when offered"
        );
        assert!(
            !ssl_in_use(&format!("{base}?sslmode=disable")).await.unwrap(),
            "disable stays plain"
        );

        // A certificate from another CA, or for another host name, is refused under verify-full.
        let wrong_ca = format!("{base}?sslmode=verify-full&sslrootcert={}", other_ca.display());
        let err = ssl_in_use(&wrong_ca).await.expect_err("unknown CA refused");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.message().contains("sslrootcert"), "says what to check: {err}");
        let by_name = verified.replace("127.0.0.1", "localhost");
        let err = ssl_in_use(&by_name)
            .await
            .expect_err("host name not in the certificate refused");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        // Without sslrootcert, verify-full trusts only the public roots: the private CA is refused.
        let err = ssl_in_use(&format!("{base}?sslmode=verify-full"))
            .await
            .expect_err("private CA not public");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        let password = base.split(':').nth(2).unwrap().split('@').next().unwrap();
        assert!(!err.to_string().contains(password), "password leaked: {err}");
    }

    #[tokio::test]
    async fn require_fails_against_a_server_without_tls() {
        // A fresh private cluster has TLS off.
        let cluster = tokio::task::spawn_blocking(PrivateCluster::start_temporary)
            .await
            .unwrap()
            .unwrap();
        let err = ssl_in_use(&format!("{}?sslmode=require", cluster.url("postgres")))
            .await
            .expect_err("no TLS");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
}

/// Credentials from Secrets Manager, against moto's Secrets Manager (started by scripts/test).
mod secrets {
    use std::collections::HashMap;

    use tote_core::config::Config;
    use tote_core::ErrorKind;
    use tote_testkit::postgres::test_database;

    /// Points the AWS SDK at moto; panics with how to get one when it is not running.
    fn use_moto() {
        let url = std::env::var("TOTE_TEST_MOTO")
            .expect("TOTE_TEST_MOTO is not set: run scripts/test, which starts moto_server");
        // Process-wide, but nextest runs every test in a process of its own.
        std::env::set_var("AWS_ENDPOINT_URL", url);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "eu-west-2");
    }

    async fn put_secret(name: &str, value: &str) -> String {
        let sdk = tote_io::secrets::sdk_config().await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string()
    }

    fn config_with_secret(arn: &str) -> Config {
        config_with(&[("TOTE_SOURCE_SECRET_ARN", arn.to_string())])
    }

    /// The secret RDS would store for `db`: host, port, username, password, dbname.
    fn rds_secret(db: &tote_testkit::postgres::TestDatabase) -> serde_json::Value {
        let url = url::Url::parse(db.url()).unwrap();
        serde_json::json!({
            "engine": "postgres", "host": url.host_str().unwrap(), "port": url.port().unwrap(),
            "username": url.username(), "password": url.password().unwrap(),
            "dbname": db.name(), "sslmode": "disable"
        })
    }

    /// The database a connection to `url` lands in.
    async fn connected_database(url: &str, role: tote_io::pg::Role) -> String {
        let client = tote_io::pg::connect(url, role).await.unwrap();
        client
            .query_one("SELECT current_database()::text", &[])
            .await
            .unwrap()
            .get(0)
    }

    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}-{}", std::process::id(), rand_suffix())
    }

    fn rand_suffix() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    #[tokio::test]
    async fn an_rds_shaped_secret_connects_and_bad_ones_say_what_is_wrong() {
        use_moto();
        let db = test_database().await.unwrap();
        let secret = rds_secret(&db);
        let arn = put_secret(&unique("tote/source"), &secret.to_string()).await;
        let resolved = tote_io::secrets::source_url(&config_with_secret(&arn))
            .await
            .unwrap();
        assert_eq!(
            connected_database(&resolved, tote_io::pg::Role::Source).await,
            db.name()
        );

        // A secret that does not exist.
        let err = tote_io::secrets::source_url(&config_with_secret("tote/no-such-secret"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.message().contains("no such secret"), "{err}");

        // A secret missing a field, and one with the wrong password.
        let arn = put_secret(
            &unique("tote/partial"),
            r#"{"host": "127.0.0.1", "username": "u", "password": "hunter2"}"#,
        )
        .await;
        let err = tote_io::secrets::source_url(&config_with_secret(&arn))
            .await
            .unwrap_err();
        assert!(
            err.message().contains("`dbname`") && !err.message().contains("hunter2"),
            "{err}"
        );
        let mut wrong = secret.clone();
        wrong["password"] = "not-the-password-4711".into();
        let arn = put_secret(&unique("tote/wrong"), &wrong.to_string()).await;
        let resolved = tote_io::secrets::source_url(&config_with_secret(&arn))
            .await
            .unwrap();
        let err = tote_io::pg::connect(&resolved, tote_io::pg::Role::Source)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(
            !err.to_string().contains("not-the-password-4711"),
            "password leaked: {err}"
        );
    }

    fn config_with(vars: &[(&str, String)]) -> Config {
        let vars: HashMap<&str, String> = vars.iter().cloned().collect();
        Config::from_lookup(|n| vars.get(n).cloned()).unwrap()
    }

    /// The warehouse's secret: it resolves and connects; a missing one and one that holds binary
    /// instead of a string are configuration errors naming `TOTE_WAREHOUSE_SECRET_ARN`.
    #[tokio::test]
    async fn the_warehouse_secret_resolves_and_bad_ones_name_their_variable() {
        use_moto();
        let db = test_database().await.unwrap();
        let secret = rds_secret(&db);
        let password = secret["password"].as_str().unwrap().to_string();
        let arn = put_secret(&unique("tote/warehouse"), &secret.to_string()).await;
        let resolved = tote_io::secrets::warehouse_url(&config_with(&[("TOTE_WAREHOUSE_SECRET_ARN", arn)]))
            .await
            .unwrap();
        assert_eq!(
            connected_database(&resolved, tote_io::pg::Role::Warehouse).await,
            db.name()
        );

        let err = tote_io::secrets::warehouse_url(&config_with(&[(
            "TOTE_WAREHOUSE_SECRET_ARN",
            "tote/no-such-warehouse".into(),
        )]))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(
            err.message()
                .starts_with("TOTE_WAREHOUSE_SECRET_ARN=tote/no-such-warehouse: no such secret"),
            "{err}"
        );

        let sdk = tote_io::secrets::sdk_config().await;
        let binary = aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(unique("tote/binary"))
            .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(secret.to_string()))
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
        let err = tote_io::secrets::warehouse_url(&config_with(&[("TOTE_WAREHOUSE_SECRET_ARN", binary)]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.message().contains("holds no string"), "{err}");
        assert!(!err.message().contains(&password), "{err}");
    }

    /// Secrets Manager not answering (nothing listens at the endpoint) is the stage's retryable
    /// "unavailable" error, for each database, after the SDK's own retries.
    #[tokio::test]
    async fn secrets_manager_not_answering_is_retryable() {
        use_moto();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
        let err =
            tote_io::secrets::source_url(&config_with(&[("TOTE_SOURCE_SECRET_ARN", "tote/source".into())]))
                .await
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SourceUnavailable, "{err}");
        assert!(err.message().contains("Secrets Manager did not answer"), "{err}");
        let err = tote_io::secrets::warehouse_url(&config_with(&[(
            "TOTE_WAREHOUSE_SECRET_ARN",
            "tote/warehouse".into(),
        )]))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WarehouseUnavailable, "{err}");
        assert!(
            err.message()
                .starts_with("TOTE_WAREHOUSE_SECRET_ARN=tote/warehouse: "),
            "{err}"
        );
    }
}

/// The object-store layer on the S3 protocol (moto, started by scripts/test): create-if-absent,
/// multipart upload of a large object, listing past 1,000 keys, and the commit log on top.
mod s3 {
    use bytes::Bytes;
    use tokio::io::AsyncWriteExt;
    use tote_io::commit_log::CommitLog;
    use tote_io::store::{Created, Store};
    use tote_testkit::moto::bucket as moto_bucket;

    #[tokio::test]
    async fn create_if_absent_multipart_and_long_listings_work_on_s3() {
        let bucket = moto_bucket("tote-store");
        let store = Store::open(&format!("s3://{bucket}/landing"), "TOTE_LANDING").unwrap();

        // Create-if-absent: the second writer of a key loses and nothing is overwritten.
        assert_eq!(
            store
                .create("t/_log/1.json", Bytes::from_static(b"first"))
                .await
                .unwrap(),
            Created::New
        );
        assert_eq!(
            store
                .create("t/_log/1.json", Bytes::from_static(b"second"))
                .await
                .unwrap(),
            Created::AlreadyExists
        );
        assert_eq!(&store.get("t/_log/1.json").await.unwrap().unwrap()[..], b"first");
        assert_eq!(store.get("t/missing").await.unwrap(), None);

        // A 20 MiB object goes up in parts and comes back byte for byte.
        let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut writer = store.writer("t/big/part-00000.parquet");
        for chunk in big.chunks(3 * 1024 * 1024) {
            writer.put(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        writer.shutdown().await.unwrap();
        assert_eq!(
            store
                .get("t/big/part-00000.parquet")
                .await
                .unwrap()
                .unwrap()
                .len(),
            big.len()
        );
        assert!(store.get("t/big/part-00000.parquet").await.unwrap().unwrap() == big);

        // Listing past 1,000 keys (S3 pages at 1,000), whole and from an offset.
        for i in 0..1_100 {
            store
                .create(&format!("many/k{i:05}"), Bytes::from_static(b"x"))
                .await
                .unwrap();
        }
        let all = store.list("many/", None).await.unwrap();
        assert_eq!(all.len(), 1_100);
        assert_eq!(all[0], "many/k00000");
        let after = store.list("many/", Some("many/k01049")).await.unwrap();
        assert_eq!(after.len(), 50);
        assert_eq!(after[0], "many/k01050");
    }

    #[tokio::test]
    async fn the_commit_log_finds_its_last_entry_and_refuses_a_second_commit_on_s3() {
        let bucket = moto_bucket("tote-log");
        let store = Store::open(&format!("s3://{bucket}"), "TOTE_LANDING").unwrap();
        let log = CommitLog::new(store.clone(), "staff");
        assert_eq!(log.last().await.unwrap(), None);
        for seq in 1..=37 {
            let manifest = tote_core::batch::Manifest {
                batch_id: format!("b{seq}"),
                stage: tote_core::batch::Stage::Ingest,
                table: "staff".into(),
                execution: None,
                written_at: chrono::Utc::now(),
                format: tote_core::batch::DataFormat::Parquet,
                rows: seq,
                schema: vec![],
                cursor: None,
                full_refresh: false,
                objects: vec![],
                inputs: vec![],
                findings: vec![],
                keys: None,
                deletions: None,
            };
            assert!(
                log.commit(seq, &manifest).await.unwrap(),
                "seq {seq} commits once"
            );
            assert!(
                !log.commit(seq, &manifest).await.unwrap(),
                "seq {seq} cannot commit twice"
            );
        }
        assert_eq!(log.last().await.unwrap().unwrap().seq, 37);
        assert_eq!(log.entries_after(Some(30)).await.unwrap().len(), 7);
    }
}

mod connection {
    use tote_io::pg::{self, Role};
    use tote_testkit::postgres::test_database;

    /// A driver error tote's retry decision hangs on: a connection that is gone is a connection
    /// failure (retried), a value the client itself refuses to send is not (a retry would fail the
    /// same way).
    #[tokio::test]
    async fn a_lost_connection_is_told_apart_from_an_error_the_client_raises_itself() {
        let db = test_database().await.unwrap();
        let client = pg::connect(db.url(), Role::Warehouse).await.unwrap();
        let refused = client
            .query("SELECT $1::int", &[&"not an int"])
            .await
            .expect_err("a &str cannot be sent as int4");
        assert!(refused.as_db_error().is_none(), "raised by the client: {refused}");
        assert!(!pg::is_connection_failure(&refused), "{refused}");

        let killer = pg::connect(db.url(), Role::Warehouse).await.unwrap();
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        // With a timeout, it returns once the backend has exited.
        let gone: bool = killer
            .query_one("SELECT pg_terminate_backend($1, $2)", &[&pid, &10_000i64])
            .await
            .unwrap()
            .get(0);
        assert!(gone);
        // The first query may still read the server's FATAL message (57P01); the next one meets
        // the closed connection.
        let mut lost = None;
        for _ in 0..3 {
            match client.query_one("SELECT 1", &[]).await {
                Err(e) if e.as_db_error().is_none() => {
                    lost = Some(e);
                    break;
                }
                Err(_) => {} // the FATAL message: the close comes with the next query
                Ok(_) => panic!("the backend was terminated"),
            }
        }
        let lost = lost.expect("the client reports the closed connection within three queries");
        assert!(pg::is_connection_failure(&lost), "{lost}");
    }
}
