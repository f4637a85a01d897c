//! The HTTP(S) client: the receiver's URL checked, TLS (a CA file, a client certificate) and a
//! bearer token read at start, so a mistake in any of them fails before tracer attaches.

use std::{
    collections::HashSet,
    io::Read as _,
    path::{Path, PathBuf},
    time::Duration,
};

use thiserror::Error;
use ureq::{
    Agent,
    http::Uri,
    tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig},
};

use super::batch::{Batch, CONTENT_TYPE};

/// The longest one request may take, connection included: a receiver that hangs is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("--webhook {url:?} is not a URL: give one such as https://collector:8443/events")]
    BadUrl { url: String },
    #[error("--webhook {url:?}: the scheme must be http or https")]
    BadScheme { url: String },
    #[error("cannot read {flag} {path:?}: check the path and its permissions")]
    Read {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{flag} {path:?} holds no PEM {what}: give a PEM file (-----BEGIN {pem}-----)")]
    NoPem {
        flag: &'static str,
        path: PathBuf,
        what: &'static str,
        pem: &'static str,
    },
    #[error("--webhook-token-file {path:?} is empty: write the bearer token into it")]
    EmptyToken { path: PathBuf },
    #[error(
        "--webhook-client-key {key:?} is not the key of --webhook-client-cert {cert:?}: give the \
         key the certificate was made for"
    )]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{flag} is for an https receiver: --webhook {url:?} is plain http")]
    TlsOverHttp { flag: &'static str, url: String },
}

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx: the receiver has the events.
    Accepted,
    /// A status that retrying will not change (4xx, or a 3xx redirect tracer does not follow).
    Refused,
    /// A 5xx, a timeout or a connection that failed: worth another try.
    Retry(String),
}

pub struct ClientSettings<'a> {
    pub url: &'a str,
    pub ca_file: Option<&'a Path>,
    pub client_cert: Option<(&'a Path, &'a Path)>,
    pub token_file: Option<&'a Path>,
}

pub struct Client {
    agent: Agent,
    url: String,
    authorization: Option<String>,
    /// Statuses already explained in the log: each is explained once.
    explained: HashSet<u16>,
}

impl Client {
    pub fn new(settings: &ClientSettings<'_>) -> Result<Self, ClientError> {
        let url = settings.url;
        let uri: Uri = url
            .parse()
            .map_err(|_| ClientError::BadUrl { url: url.into() })?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(ClientError::BadScheme { url: url.into() }),
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err(ClientError::BadUrl { url: url.into() });
        }
        let mut tls = TlsConfig::builder();
        if let Some(path) = settings.ca_file {
            require_https(https, "--webhook-ca-file", url)?;
            let certs = certificates("--webhook-ca-file", path)?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let Some((cert, key)) = settings.client_cert {
            require_https(https, "--webhook-client-cert", url)?;
            let chain = certificates("--webhook-client-cert", cert)?;
            let private = private_key(key)?;
            check_key_matches(&chain, &private).map_err(|source| ClientError::KeyMismatch {
                cert: cert.into(),
                key: key.into(),
                source,
            })?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, private)));
        }
        let authorization = settings
            .token_file
            .map(|path| {
                let token = read("--webhook-token-file", path)?;
                let token = String::from_utf8_lossy(&token).trim().to_owned();
                if token.is_empty() {
                    return Err(ClientError::EmptyToken { path: path.into() });
                }
                Ok(format!("Bearer {token}"))
            })
            .transpose()?;
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .max_redirects(0)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Self {
            agent,
            url: url.into(),
            authorization,
            explained: HashSet::new(),
        })
    }

    /// POSTs `batch` once.
    pub fn post(&mut self, batch: &Batch) -> Outcome {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", CONTENT_TYPE);
        if batch.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        match request.send(&batch.body[..]) {
            Ok(mut response) => {
                // Read to the end, so the connection can carry the next batch.
                let mut sink = Vec::new();
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(64 * 1024)
                    .read_to_end(&mut sink);
                let status = response.status().as_u16();
                match status {
                    200..=299 => Outcome::Accepted,
                    500..=599 => Outcome::Retry(format!("the receiver answered {status}")),
                    _ => {
                        self.explain(status);
                        Outcome::Refused
                    }
                }
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    fn explain(&mut self, status: u16) {
        if !self.explained.insert(status) {
            return;
        }
        let what = match status {
            401 | 403 => "check --webhook-token-file and the client certificate",
            404 | 405 => "check the path of the --webhook URL",
            413 => "lower --webhook-batch-max-size",
            415 => "the receiver must take application/x-ndjson (and gzip with --webhook-gzip)",
            300..=399 => "give the --webhook URL the redirect points to",
            _ => "check the receiver's log for why it refused the batch",
        };
        tracing::warn!(
            "the webhook receiver refused a batch with status {status}: its events are counted \
             as unwritten and such batches are not retried; {what}"
        );
    }
}

fn require_https(https: bool, flag: &'static str, url: &str) -> Result<(), ClientError> {
    if https {
        Ok(())
    } else {
        Err(ClientError::TlsOverHttp {
            flag,
            url: url.into(),
        })
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        flag,
        path: path.into(),
        source,
    })
}

fn certificates(flag: &'static str, path: &Path) -> Result<Vec<Certificate<'static>>, ClientError> {
    let pem = read(flag, path)?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(ClientError::NoPem {
            flag,
            path: path.into(),
            what: "certificate",
            pem: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// A key that is not the certificate's would only fail at the first handshake, as a send to
/// retry; rustls (ureq's TLS, with ring as ureq has it) tells now.
fn check_key_matches(
    chain: &[Certificate<'static>],
    key: &PrivateKey<'static>,
) -> Result<(), rustls::Error> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // The DER tells its own format (PKCS#1, SEC1 or PKCS#8).
    let key = PrivateKeyDer::try_from(key.der().to_vec())
        .map_err(|_| rustls::Error::General("unknown private key format".into()))?;
    let chain = chain
        .iter()
        .map(|cert| CertificateDer::from(cert.der().to_vec()))
        .collect();
    rustls::sign::CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map(drop)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, ClientError> {
    const FLAG: &str = "--webhook-client-key";
    let pem = read(FLAG, path)?;
    ureq::tls::parse_pem(&pem)
        .find_map(|item| match item {
            Ok(PemItem::PrivateKey(key)) => Some(key),
            _ => None,
        })
        .ok_or_else(|| ClientError::NoPem {
            flag: FLAG,
            path: path.into(),
            what: "private key",
            pem: "PRIVATE KEY",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> ClientSettings<'_> {
        ClientSettings {
            url,
            ca_file: None,
            client_cert: None,
            token_file: None,
        }
    }

    #[test]
    fn bad_urls_and_files_fail_with_what_to_do() {
        let err = |s: &ClientSettings<'_>| Client::new(s).err().expect("an error").to_string();
        assert!(err(&settings("collector:8443")).contains("scheme"));
        assert!(err(&settings("not a url")).contains("is not a URL"));
        assert!(err(&settings("ftp://host/")).contains("http or https"));
        let missing = Path::new("/nonexistent/ca.pem");
        let e = err(&ClientSettings {
            ca_file: Some(missing),
            ..settings("https://host/")
        });
        assert!(e.contains("cannot read --webhook-ca-file"), "{e}");
        let e = err(&ClientSettings {
            ca_file: Some(missing),
            ..settings("http://host/")
        });
        assert!(e.contains("plain http"), "{e}");
        let dir = std::env::temp_dir().join(format!("tracer-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let e = err(&ClientSettings {
            ca_file: Some(&not_pem),
            ..settings("https://host/")
        });
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let token = dir.join("token");
        std::fs::write(&token, "\n").unwrap();
        let e = err(&ClientSettings {
            token_file: Some(&token),
            ..settings("http://host/")
        });
        assert!(e.contains("is empty"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Client::new(&settings("http://127.0.0.1:9/events")).is_ok());
    }
}
