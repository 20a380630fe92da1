//! Integration tests of the shared contract against a real Postgres: TLS modes.

mod tls {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use tote_core::pg::{self, Role};
    use tote_core::private_pg::PrivateCluster;
    use tote_core::ErrorKind;

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
