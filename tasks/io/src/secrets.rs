//! Database credentials from AWS Secrets Manager, in the shape RDS uses.
//!
//! In Lambda the stages get `TOTE_SOURCE_SECRET_ARN` / `TOTE_WAREHOUSE_SECRET_ARN` (an ARN or a
//! secret name) instead of a URL. The secret's string is JSON with `host`, `port`, `username`,
//! `password` and `dbname` (as RDS writes it; `engine` and other fields are ignored), plus
//! optionally `sslmode` (default `require`: RDS certificates chain to the Amazon RDS CA, which is
//! not a public root, so `verify-full` needs `sslrootcert` naming a bundle in the image) and
//! `sslrootcert`. Endpoint, region and credentials come from the usual AWS environment
//! (`AWS_REGION`, `AWS_ENDPOINT_URL`, the Lambda role). Nothing from the secret is ever logged.

use serde::Deserialize;

use tote_core::config::{Config, DatabaseAddress};
use tote_core::{Error, ErrorKind, Result};

#[derive(Deserialize)]
struct RdsSecret {
    host: Option<String>,
    port: Option<serde_json::Value>,
    username: Option<String>,
    password: Option<String>,
    dbname: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

/// The source database URL, as [`Config::source_address`] says where to find it. The URL holds
/// the password: never print it.
pub async fn source_url(config: &Config) -> Result<String> {
    resolve(config.source_address()?).await
}

/// The warehouse URL, as [`Config::warehouse_address`] says where to find it.
pub async fn warehouse_url(config: &Config) -> Result<String> {
    resolve(config.warehouse_address()?).await
}

async fn resolve(address: DatabaseAddress<'_>) -> Result<String> {
    match address {
        DatabaseAddress::Url(url) => Ok(url.to_string()),
        DatabaseAddress::Secret {
            id,
            variable,
            unavailable,
        } => database_url(id, variable, unavailable).await,
    }
}

/// The AWS SDK configuration from the environment, with a rustls (ring) HTTPS client: the same
/// TLS stack as everything else in tote, and no C toolchain needed to build it.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// Reads the secret `secret_id` and builds a Postgres URL from it. `variable` names the setting
/// the id came from, for messages. The URL holds the password: never print it.
pub async fn database_url(secret_id: &str, variable: &str, unavailable: ErrorKind) -> Result<String> {
    let sdk = sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let output = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        let code = e.code().unwrap_or("").to_string();
        let detail = e.message().map(str::to_string).unwrap_or_else(|| e.to_string());
        match code.as_str() {
            "ResourceNotFoundException" => Error::config(format!(
                "{variable}={secret_id}: no such secret; create it or fix the name ({detail})"
            )),
            "AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException" | "InvalidSignatureException" => {
                Error::config(format!("{variable}={secret_id}: access denied; grant secretsmanager:GetSecretValue ({detail})"))
            }
            "DecryptionFailure" | "InvalidRequestException" | "InvalidParameterException" => {
                Error::config(format!("{variable}={secret_id}: the secret cannot be read: {detail}"))
            }
            _ => Error::new(
                unavailable,
                format!("{variable}={secret_id}: Secrets Manager did not answer ({code} {detail}); retry later"),
            ),
        }
    })?;
    let text = output.secret_string().ok_or_else(|| {
        Error::config(format!(
            "{variable}={secret_id}: the secret holds no string; store RDS-style JSON"
        ))
    })?;
    url_from_secret_json(text, &format!("{variable}={secret_id}"))
}

/// Builds a Postgres URL from RDS-style secret JSON. `origin` names the secret, for messages.
pub fn url_from_secret_json(text: &str, origin: &str) -> Result<String> {
    // Never echo the text: it holds the password.
    let secret: RdsSecret = serde_json::from_str(text).map_err(|e| {
        Error::config(format!(
            "{origin}: the secret is not JSON in the RDS shape {{host, port, username, password, dbname}} \
             (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let need = |v: Option<String>, field: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| Error::config(format!("{origin}: the secret has no `{field}`; add it")))
    };
    let host = need(secret.host, "host")?;
    let username = need(secret.username, "username")?;
    let password = need(secret.password, "password")?;
    let dbname = need(secret.dbname, "dbname")?;
    let port = match secret.port {
        None => 5432,
        Some(serde_json::Value::Number(n)) => n.as_u64().filter(|p| *p > 0 && *p < 65536).unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        Some(_) => 0,
    };
    if port == 0 {
        return Err(Error::config(format!(
            "{origin}: the secret's `port` is not a port number"
        )));
    }
    let mut url = url::Url::parse("postgres://placeholder/").expect("static URL");
    let bad = || {
        Error::config(format!(
            "{origin}: the secret's host, username or password cannot form a URL"
        ))
    };
    url.set_host(Some(&host)).map_err(|_| bad())?;
    url.set_port(Some(port as u16)).map_err(|_| bad())?;
    url.set_username(&username).map_err(|_| bad())?;
    url.set_password(Some(&password)).map_err(|_| bad())?;
    url.set_path(&format!("/{dbname}"));
    url.query_pairs_mut()
        .append_pair("sslmode", secret.sslmode.as_deref().unwrap_or("require"));
    if let Some(root) = secret.sslrootcert {
        url.query_pairs_mut().append_pair("sslrootcert", &root);
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_json_becomes_a_url_with_the_password_encoded() {
        let url = url_from_secret_json(
            r#"{"engine":"postgres","host":"db.example","port":5432,"username":"tote","password":"p@ss:w/rd","dbname":"totesys"}"#,
            "TOTE_SOURCE_SECRET_ARN=x",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://tote:p%40ss%3Aw%2Frd@db.example:5432/totesys?sslmode=require"
        );
        let parsed: tokio_postgres::Config =
            crate::tls::split_url(&url, "source").unwrap().0.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"p@ss:w/rd"[..]));
    }

    #[test]
    fn malformed_secrets_name_what_is_missing_and_never_echo_the_text() {
        let err =
            url_from_secret_json(r#"{"host":"h","username":"u","password":"hunter2"}"#, "S").unwrap_err();
        assert!(
            err.message().contains("`dbname`") && !err.message().contains("hunter2"),
            "{err}"
        );
        let err = url_from_secret_json("hunter2 is not json", "S").unwrap_err();
        assert!(
            err.message().contains("RDS shape") && !err.message().contains("hunter2"),
            "{err}"
        );
        let err = url_from_secret_json(
            r#"{"host":"h","port":"x","username":"u","password":"p","dbname":"d"}"#,
            "S",
        );
        assert!(err.unwrap_err().message().contains("port"));
    }
}
