//! What may be shown of a database URL: never its password. Shared by the connection
//! ([`crate::pg`]) and its TLS set-up ([`crate::tls`]), both of which name the URL in messages.

/// `url` with its password replaced by `***`, safe to print. Unparseable input is replaced whole.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// The password of `url`, if it has one: what a driver's message must be cleaned of.
pub fn password_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.password().map(|p| p.to_string())
}
